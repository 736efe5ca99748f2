"""Shared fixtures, loaded for every test folder by the root conftest.py. Every database test runs on
SQLite and, when PORTAL_TEST_DATABASE_URL is set, on PostgreSQL too (in a database this run creates and drops)."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path

import pytest
from flask import g

_INSTANCE = Path(tempfile.mkdtemp(prefix="portal-test-instance-"))
os.environ["PORTAL_INSTANCE_PATH"] = str(_INSTANCE)
os.environ.pop("PORTAL_DATABASE_URL", None)
os.environ.pop("PORTAL_PLUGINS", None)

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.pool import NullPool  # noqa: E402

from portal import create_app  # noqa: E402
from portal.extensions import db as _db  # noqa: E402
from tests import factories  # noqa: E402

PG_SERVER_URL = os.environ.get("PORTAL_TEST_DATABASE_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_SERVER_URL else [])
if os.environ.get("PORTAL_REQUIRE_SERVICES") == "1" and not PG_SERVER_URL:
    raise pytest.UsageError("PORTAL_REQUIRE_SERVICES=1 but PORTAL_TEST_DATABASE_URL is not set")
TEST_SETTINGS = {"TESTING": True, "WTF_CSRF_ENABLED": False, "PORTAL_LOGIN_LIMIT": "1000 per minute"}


def migrate(url: str) -> None:
    """Build the schema from empty with the project's Alembic history."""
    from flask_migrate import upgrade

    app = create_app({**TEST_SETTINGS, "SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        upgrade()
        _db.engine.dispose()


class SqliteTemplate:
    """A migrated SQLite file; each test gets its own copy."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.template = folder / "template.db"
        migrate(f"sqlite:///{self.template}")

    def fresh_url(self) -> str:
        target = self.folder / f"{uuid.uuid4().hex}.db"
        shutil.copyfile(self.template, target)
        return f"sqlite:///{target}"

    def reset(self, url: str) -> None:
        Path(make_url(url).database).unlink(missing_ok=True)

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


class PostgresDatabase:
    """A database created for this run, migrated once, truncated after each test."""

    def __init__(self, server_url: str):
        self.name = f"portal_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        self.server = create_engine(make_url(server_url), isolation_level="AUTOCOMMIT")
        with self.server.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{self.name}"'))
            # Tests commit often and need no durability: do not wait for the WAL flush on commit.
            connection.execute(text(f'ALTER DATABASE "{self.name}" SET synchronous_commit TO off'))
        self.url = make_url(server_url).set(database=self.name).render_as_string(hide_password=False)
        migrate(self.url)
        engine = create_engine(self.url)
        with engine.connect() as connection:
            tables = connection.execute(text(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename != 'alembic_version'"
            )).scalars().all()
        engine.dispose()
        self.tables = tables
        self.engine = None

    def fresh_url(self) -> str:
        return self.url

    def reset(self, url: str) -> None:
        """Empty every table. DELETE on these small tables is much cheaper than TRUNCATE; the replica
        role skips triggers (foreign keys, the audit trail's append-only guard) for this cleanup only."""
        self.engine = self.engine or create_engine(url, poolclass=NullPool)
        with self.engine.begin() as connection:
            connection.execute(text("SET LOCAL session_replication_role = replica"))
            for table in self.tables:
                connection.execute(text(f'DELETE FROM "{table}"'))

    def close(self) -> None:
        if self.engine is not None:
            self.engine.dispose()
        with self.server.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        self.server.dispose()


def pytest_collection_modifyitems(config, items):
    """Tests marked ``postgres_only`` (concurrent writers, snapshots, column lengths: what SQLite does not
    have) are collected for the PostgreSQL backend alone, not run and skipped on SQLite."""
    sqlite_only_copies = [item for item in items if item.get_closest_marker("postgres_only")
                          and getattr(item, "callspec", None) and item.callspec.params.get("backend") == "sqlite"]
    if sqlite_only_copies:
        config.hook.pytest_deselected(items=sqlite_only_copies)
        items[:] = [item for item in items if item not in sqlite_only_copies]


@pytest.fixture(scope="session")
def databases(tmp_path_factory):
    """One prepared database per backend for the whole run."""
    prepared = {"sqlite": SqliteTemplate(tmp_path_factory.mktemp("sqlite"))}
    if PG_SERVER_URL:
        prepared["postgresql"] = PostgresDatabase(PG_SERVER_URL)
    yield prepared
    for database in prepared.values():
        database.close()


@pytest.fixture(params=BACKENDS)
def backend(request):
    """The database backend this test runs on."""
    return request.param


@pytest.fixture
def database_url(databases, backend):
    """A clean, migrated database for one test."""
    database = databases[backend]
    url = database.fresh_url()
    yield url
    database.reset(url)


def fresh_request_globals() -> None:
    """Start each test request with an empty ``g``, as in production. The test's own app context stays
    pushed (for db.session), and Flask reuses it for requests, so without this the signed-in user and the
    organisation scope cached on ``g`` would leak from one request (and user) to the next."""
    g.__dict__.clear()


@pytest.fixture
def app_factory(database_url):
    """Build apps on this test's database with extra settings (e.g. CSRF on)."""
    built = []

    def make(**overrides):
        app = create_app({**TEST_SETTINGS, "SQLALCHEMY_DATABASE_URI": database_url, **overrides})
        app.before_request_funcs.setdefault(None, []).insert(0, fresh_request_globals)
        built.append(app)
        return app

    yield make
    for app in built:
        with app.app_context():
            _db.session.remove()
            _db.engine.dispose()


@pytest.fixture
def app(app_factory):
    """The portal on a clean database, with an app context pushed."""
    app = app_factory()
    with app.app_context():
        yield app
        _db.session.remove()


@pytest.fixture
def portal(app_factory, world):
    """The portal as a browser meets it: each request in its own app context, so nothing is cached in
    ``g`` between requests (the ``app`` fixture keeps one context pushed for the whole test)."""
    return app_factory()


@pytest.fixture
def db(app):
    """The SQLAlchemy extension, bound to the test app."""
    return _db


@pytest.fixture
def client(app):
    """A test client."""
    return app.test_client()


@pytest.fixture
def runner(app):
    """A CLI runner for the app's commands."""
    return app.test_cli_runner()


@pytest.fixture
def world(app):
    """Two organisations (one per standard), a provider holding both contracts, and one user per role."""
    return factories.world()


class AuthActions:
    """Sign in and out through the real sign-in form."""

    def __init__(self, client):
        self.client = client

    def login(self, username: str, password: str = factories.PASSWORD):
        return self.client.post("/login", data={"username": username, "password": password})

    def logout(self):
        return self.client.post("/logout")


@pytest.fixture
def auth(client):
    """The sign-in helper."""
    return AuthActions(client)
