"""Engine settings: SQLite in WAL mode with a busy timeout and foreign keys on."""

from __future__ import annotations

import sqlite3

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine

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


def rows(session, statement, params: dict | None = None) -> list:
    """The rows of a prebuilt column statement (no entities), run on the session's connection and
    transaction as Core runs it: the ORM's execution path adds about 0.1 ms a statement on pages that read
    on every visit (the desk's queue and choices) and gives such statements nothing."""
    return session.connection().execute(statement, params or {}).all()
