# The O&M service portal. `make help` lists the targets.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
WORKERS ?= 2
PYTEST_ARGS ?=

.DEFAULT_GOAL := help

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 14

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

install: $(VENV)/.installed translations ## Create .venv and install the portal

translations: $(VENV)/.installed ## Compile the message catalogues (.po -> .mo)
	$(BIN)/pybabel compile --use-fuzzy --statistics -d portal/translations 2>&1 | grep -v '^$$' || true

extract: $(VENV)/.installed ## Re-extract messages and update the zh_CN catalogue
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext --no-location --sort-output -o portal/translations/messages.pot .
	$(BIN)/pybabel update --no-fuzzy-matching --ignore-obsolete -i portal/translations/messages.pot -d portal/translations

migrate: install ## Migrate the configured database (embedded SQLite by default)
	$(BIN)/portal db upgrade

demo: migrate ## Load the demo data unless the database already has organisations
	$(BIN)/portal demo --if-empty

run: demo ## Install, migrate, load the demo on first start and serve on http://$(HOST):$(PORT)
	@echo "Serving the portal on http://$(HOST):$(PORT)  (Ctrl-C stops it)"
	$(BIN)/portal serve --host $(HOST) --port $(PORT) --workers $(WORKERS)

test: $(VENV)/.installed-dev translations ## Run the whole test suite (PostgreSQL too when PORTAL_TEST_DATABASE_URL is set)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev ## Lint with ruff
	$(BIN)/ruff check portal plugins tests bench

bench: $(VENV)/.installed-dev ## Benchmark on PostgreSQL: builds portal_bench if missing (needs wrk; 8-16 min)
	$(BIN)/python bench/run.py --build-if-missing

bench-db: $(VENV)/.installed-dev ## Rebuild the benchmark database portal_bench (1,000,000 orders)
	$(BIN)/python bench/build_db.py

clean: ## Remove the virtual environment and caches (keeps the instance folder)
	rm -rf $(VENV) .pytest_cache .ruff_cache test-artifacts

.PHONY: help install translations extract migrate demo run test lint bench bench-db clean
