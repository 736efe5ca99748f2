"""The connection pool: a connection that lay idle is checked before use and replaced when it was dropped; one
given back moments ago is used without a check (portal.database.ping_when_idle)."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from portal.extensions import db as _db


def session_connection():
    """The DBAPI connection under the session's current connection."""
    return _db.session.connection().connection.dbapi_connection


def backend_pid() -> int:
    return _db.session.execute(text("SELECT pg_backend_pid()")).scalar_one()


@pytest.fixture
def pooled_app(app_factory):
    """Build an app with this ping window and push its context; the session and context go at the end."""
    contexts = []

    def make(idle_seconds: float):
        app = app_factory(PORTAL_DB_PING_IDLE_SECONDS=idle_seconds)
        contexts.append(app.app_context())
        contexts[-1].push()
        return app

    yield make
    for context in reversed(contexts):
        _db.session.remove()
        context.pop()


def test_a_connection_closed_while_idle_is_replaced_before_a_request_uses_it(pooled_app, backend):
    app = pooled_app(0.05)
    first = session_connection()
    _db.session.remove()
    first.close()  # as a server or a firewall drops an idle connection
    time.sleep(0.1)
    assert _db.session.execute(text("SELECT 1")).scalar_one() == 1
    assert session_connection() is not first
    assert app.test_client().get("/login").status_code == 200


def test_the_setting_comes_from_the_environment(monkeypatch):
    from portal import config

    monkeypatch.setenv("PORTAL_DB_PING_IDLE_SECONDS", "2.5")
    assert config.build()["PORTAL_DB_PING_IDLE_SECONDS"] == 2.5
    monkeypatch.delenv("PORTAL_DB_PING_IDLE_SECONDS")
    assert config.build()["PORTAL_DB_PING_IDLE_SECONDS"] == 1.0


def terminate(database_url: str, pid: int) -> None:
    """End a backend from another connection, as a database restart or an administrator would."""
    engine = create_engine(database_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with engine.connect() as connection:
        connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    engine.dispose()


@pytest.mark.postgres_only  # a server-side disconnect needs a server
def test_a_postgresql_backend_ended_while_idle_is_replaced(pooled_app, backend, database_url):
    pooled_app(0.05)
    pid = backend_pid()
    _db.session.remove()
    terminate(database_url, pid)
    time.sleep(0.1)
    assert backend_pid() != pid


@pytest.mark.postgres_only
def test_within_the_window_a_connection_is_used_unchecked_and_a_dropped_one_fails_once(
        pooled_app, backend, database_url):
    pooled_app(3600)
    pid = backend_pid()
    _db.session.remove()
    terminate(database_url, pid)
    with pytest.raises(DBAPIError) as failure:
        backend_pid()
    assert failure.value.connection_invalidated
    _db.session.remove()
    assert backend_pid() != pid  # the pool replaced it
