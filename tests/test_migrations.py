"""The Alembic history builds exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError


def schema_diff(db) -> list:
    """What autogenerate would change to make the migrated database match the models."""
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, db.metadata)


def release_connections(db) -> None:
    """End the test's own session and pooled connections so DDL does not wait on them."""
    db.session.remove()
    db.engine.dispose()


def test_the_migrated_schema_matches_the_models(db):
    assert schema_diff(db) == []


def test_every_model_table_is_migrated(db):
    tables = set(inspect(db.engine).get_table_names())
    assert {"organisation", "provider", "contract", "service_point", "user_account", "device",
            "fault_report", "import_job", "form_submission", "audit_event"} <= set(db.metadata.tables)
    assert set(db.metadata.tables) <= tables
    assert "alembic_version" in tables


def test_downgrade_to_base_and_upgrade_again(db):
    release_connections(db)
    downgrade(revision="base")
    assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}

    upgrade()
    assert schema_diff(db) == []
    with db.engine.connect() as connection:
        head = connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    assert head


def test_the_append_only_guard_is_back_after_a_downgrade_and_upgrade(db):
    release_connections(db)
    downgrade(revision="base")
    upgrade()
    with db.engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO audit_event (at, actor_name, action, table_name, record_id, prev_hash, hash) "
            "VALUES (CURRENT_TIMESTAMP, 'test', 'create', 'device', '1', :zero, :one)"
        ), {"zero": "0" * 64, "one": "1" * 64})
    for statement in ("UPDATE audit_event SET actor_name = 'mallory'", "DELETE FROM audit_event"):
        with db.engine.connect() as connection, pytest.raises(DBAPIError, match="append-only"):
            connection.execute(text(statement))
