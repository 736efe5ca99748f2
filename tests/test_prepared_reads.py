"""Prepared reads (``portal.database.rows``): on PostgreSQL a prebuilt column statement runs on the driver's
cursor, with the rows, names, types and errors Core gives; Core runs it wherever it gives more (a listener
on the statements, SQLite's positional parameters)."""

from __future__ import annotations

from datetime import UTC, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import bindparam, event, exc, func, select, text

from portal.auth.scoping import _user_with_organisations_select
from portal.database import prepared_read, rows
from portal.devices.models import Device
from portal.extensions import db
from portal.workorders import queries
from tests.test_workorder_pages import log


def core_rows(statement, params: dict) -> list:
    """The statement's rows as Core's execution gives them."""
    return db.session.connection().execute(statement, params).all()


def queue_statement():
    """The desk's first queue statement for a user who sees some organisations."""
    return queries.queue_select(queries.QueueShape("some", "", False, False, False, "", "", "due_first"))


def test_rows_are_the_rows_core_gives(app, world, backend):
    for minutes in range(3):  # reported a minute apart, the newest now
        log(world, minutes_ago=minutes, summary=f"Screen {minutes}")
    queue = queue_statement()
    params = {"scope": [world.police.id, world.campus.id], "limit": 10}
    found = rows(queue, params)
    assert [tuple(row) for row in found] == [tuple(row) for row in core_rows(queue, params)]
    assert [row.summary for row in found] == ["Screen 2", "Screen 1", "Screen 0"]
    first = found[0]
    assert first.next_due.utcoffset() == timedelta(0) and first.next_due.tzinfo is UTC
    assert (first.clock, first.breached, first.spare_unit_due) == ("response", False, False)
    assert first.organisation_name == world.police.name and first.device_code is None

    user = _user_with_organisations_select()
    assert [tuple(row) for row in rows(user, {"user_id": world.clerk.id})] == \
        [tuple(row) for row in core_rows(user, {"user_id": world.clerk.id})]
    # the statement's own bound values (the queue's 'running' tests) and the caller's, converted by their
    # types (the cursor as an aware instant) reach the database
    after = {**params, "cursor_due": found[0].next_due, "cursor_id": found[0].id}
    later = queries.queue_select(queries.QueueShape("some", "", False, False, False, "", "", "due_after"))
    assert [row.id for row in rows(later, after)] == [row.id for row in found[1:]]


def test_columns_converted_by_the_driver_s_type_come_as_core_gives_them(app, world, backend):
    """A numeric column's conversion depends on the type the database reports (Core asks the driver's
    description); a timestamp comes aware, in UTC."""
    statement = select(Device.code, Device.distance_km, Device.created_at).order_by(Device.code)
    found = rows(statement)
    assert [tuple(row) for row in found] == [tuple(row) for row in core_rows(statement, {})]
    assert found[0].distance_km == Decimal("12.5") and isinstance(found[0].distance_km, Decimal)
    assert found[0].created_at.tzinfo is UTC


def test_postgresql_reads_go_to_the_driver_and_sqlite_reads_to_core(app, backend):
    connection = db.session.connection()
    prepared = prepared_read(queue_statement(), connection)
    assert (prepared is not None) == (backend == "postgresql")
    if prepared is not None:
        assert prepared is prepared_read(queue_statement(), connection)  # compiled once
        assert "%(scope)s" in prepared.sql and prepared.constants["state_response_1"] == "running"


def test_a_listener_on_the_statements_sees_every_read(app, world):
    """Tests counting statements and bench/capture.py listen on the engine: the reads go through Core."""
    sent, scope = [], [world.police.id]

    def record(conn, cursor, statement, parameters, context, executemany):
        sent.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        rows(queue_statement(), {"scope": scope, "limit": 5})
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    assert len(sent) == 1 and "FROM work_order" in sent[0]


def test_a_missing_value_is_refused_before_anything_runs(app, backend):
    with pytest.raises(exc.SQLAlchemyError, match="A value is required for bind parameter 'limit'"):
        rows(queue_statement(), {"scope": []})


@pytest.mark.postgres_only
def test_a_database_error_is_core_s_error_and_the_session_goes_on(app, backend):
    with pytest.raises(exc.DataError, match="LIMIT must not be negative"):
        rows(queue_statement(), {"scope": [], "limit": -1})
    db.session.rollback()
    assert rows(select(bindparam("x")), {"x": 1}) == [(1,)]


@pytest.mark.postgres_only
def test_a_dropped_connection_is_replaced(app, backend):
    """A connection the server dropped fails the read that meets it as a disconnect (the pool's connection
    invalidated), and the next read after the rollback runs on a new one."""
    read = select(func.pg_backend_pid())
    [(pid,)] = rows(read)
    with db.engine.connect() as other:
        other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    with pytest.raises(exc.OperationalError) as raised:
        rows(read)
    assert raised.value.connection_invalidated
    db.session.rollback()
    [(new_pid,)] = rows(read)
    assert new_pid != pid
