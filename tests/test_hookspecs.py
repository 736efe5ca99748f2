"""The hook contract cannot drift: every hook is documented in its docstring and in docs/plugins.md, and
exercised by at least one test (Datasette's rule)."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from portal import hookspecs

ROOT = Path(__file__).resolve().parent.parent
HOOKS = {name: function for name, function in inspect.getmembers(hookspecs, inspect.isfunction)
         if hasattr(function, f"{hookspecs.PROJECT}_spec")}


def arguments(function) -> list[str]:
    """The hook's argument names."""
    return list(inspect.signature(function).parameters)


def test_the_module_declares_hooks():
    expected = {"portal_plugin_info", "portal_standards", "portal_form_specs", "portal_classify_severity"}
    assert expected <= set(HOOKS)


@pytest.mark.parametrize("name", sorted(HOOKS))
def test_hook_names_carry_the_project_prefix(name):
    assert re.fullmatch(r"portal_[a-z_]+", name)


@pytest.mark.parametrize("name", sorted(HOOKS))
def test_docstring_documents_every_argument_and_the_return(name):
    doc = inspect.getdoc(HOOKS[name]) or ""
    assert doc.splitlines()[0].strip(), "a first line saying who calls the hook and when"
    assert ":return:" in doc
    for argument in arguments(HOOKS[name]):
        assert f":param {argument}:" in doc, argument


@pytest.mark.parametrize("name", sorted(HOOKS))
def test_firstresult_hooks_say_so(name):
    options = getattr(HOOKS[name], f"{hookspecs.PROJECT}_spec")
    doc = " ".join((inspect.getdoc(HOOKS[name]) or "").split())
    assert ("Stops at first non-None result" in doc) == bool(options.get("firstresult"))


def other_test_files() -> list[Path]:
    """Every test module under tests/ and plugins/*/tests, except this one."""
    found = list((ROOT / "tests").rglob("test_*.py")) + list(ROOT.glob("plugins/*/tests/**/test_*.py"))
    return [path for path in found if path.resolve() != Path(__file__).resolve()]


@pytest.mark.parametrize("name", sorted(HOOKS))
def test_every_hook_is_exercised_by_a_test(name):
    mentioned = [path for path in other_test_files() if name in path.read_text(encoding="utf-8")]
    assert mentioned, f"no test mentions {name}"


@pytest.mark.parametrize("name", sorted(HOOKS))
def test_every_hook_is_in_the_reference_with_its_signature(name):
    reference = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
    signature = f"{name}({', '.join(arguments(HOOKS[name]))})"
    assert f"### `{signature}`" in reference, f"docs/plugins.md lacks a '### `{signature}`' heading"
