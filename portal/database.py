"""Engine settings: SQLite in WAL mode with a busy timeout and foreign keys on."""

from __future__ import annotations

import sqlite3
from functools import wraps

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from portal.extensions import db

SQLITE_BUSY_TIMEOUT_MS = 10_000


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record) -> None:
    """Every new SQLite connection: WAL journal, busy timeout, foreign keys enforced."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()


def configure_engine(app: Flask) -> None:
    """Give SQLite a connect timeout matching the busy timeout (the pragmas run on connect)."""
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    if uri.startswith("sqlite"):
        options = app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {})
        options.setdefault("connect_args", {}).setdefault("timeout", SQLITE_BUSY_TIMEOUT_MS / 1000)


def is_postgres(session) -> bool:
    """Whether the session's database is PostgreSQL."""
    return session.get_bind().dialect.name == "postgresql"


def rows(statement, params: dict | None = None) -> list:
    """The rows of a prebuilt column statement (no entities), run on the session's connection and
    transaction as Core runs it: the ORM's execution path adds about 0.1 ms a statement on pages that read
    on every visit (the desk's queue and choices) and gives such statements nothing."""
    return db.session.connection().execute(statement, params or {}).all()


READ_ONLY = "read_only"


class ReadOnlyRequest(RuntimeError):
    """A flush in a request its view declared read-only (``reads_only``)."""


def reads_only(view):
    """View decorator for a page that only reads: its statements, the signed-in user's included, run on a
    connection in autocommit, so the page sends no BEGIN and no ROLLBACK (on the desk's queue, two of its
    eight round trips to the database: each statement there sees its own snapshot anyway). A flush during
    such a request is refused (``ReadOnlyRequest``), since nothing would make its writes atomic. When the
    session has already begun or holds changes (a CLI command, a test's session) the view runs as usual."""
    @wraps(view)
    def wrapped(*args, **kwargs):
        session = db.session()
        if session.in_transaction() or session.new or session.dirty or session.deleted:
            return view(*args, **kwargs)
        session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        session.info[READ_ONLY] = True
        try:
            return view(*args, **kwargs)
        finally:
            session.info.pop(READ_ONLY, None)

    return wrapped


@event.listens_for(Session, "before_flush")
def _refuse_flush_when_read_only(session: Session, flush_context, instances) -> None:
    if session.info.get(READ_ONLY) and (session.new or session.dirty or session.deleted):
        raise ReadOnlyRequest("a read-only view changed the database")
