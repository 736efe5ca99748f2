"""Engine settings: SQLite in WAL mode with a busy timeout and foreign keys on."""

from __future__ import annotations

import sqlite3
import time
from collections import namedtuple
from functools import cache, lru_cache, wraps

from flask import Flask
from sqlalchemy import JSON, event, exc, insert, inspect, null
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, make_transient, make_transient_to_detached

from portal.audit.listeners import record_inserted, within
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


def ping_when_idle(engine: Engine, idle_seconds: float) -> None:
    """Check a pooled connection before use only when it has lain idle in the pool longer than
    ``idle_seconds``; one given back moments ago is used as it is (HikariCP's "alive bypass window").

    SQLAlchemy's ``pool_pre_ping`` pings on every checkout: one more round trip to the database for every
    request of a busy portal, about 2–3% of an API creation's rate under load. A connection the server or a
    firewall dropped while it was idle is still caught, closed and replaced before a request uses it; one
    dropped within the window (a restart of the database under load) fails the statement that meets it, and
    SQLAlchemy then replaces every connection of the pool."""

    @event.listens_for(engine, "checkin")
    def _given_back(dbapi_connection, connection_record) -> None:
        connection_record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _taken(dbapi_connection, connection_record, connection_proxy) -> None:
        idle_since = connection_record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since <= idle_seconds:
            return  # new (just connected) or used moments ago
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            if not engine.dialect.is_disconnect(error, dbapi_connection, None):
                raise
            alive = False
        if not alive:
            raise exc.DisconnectionError("the pooled connection was closed while idle")  # the pool reconnects


def is_postgres(session) -> bool:
    """Whether the session's database is PostgreSQL."""
    return session.get_bind().dialect.name == "postgresql"


def rows(statement, params: dict | None = None) -> list:
    """The rows of a prebuilt column statement (no entities), run on the session's connection and
    transaction. The ORM's execution path adds about 0.1 ms a statement on pages that read on every visit
    (the desk's queue, the signed-in user, the choices) and gives such statements nothing; Core's adds about
    as much again (its cache look-up, parameters and result set-up) to a statement compiled long ago, so a
    statement ``PreparedRead`` can run goes straight to the driver's cursor. Each row is a tuple whose
    items are also reachable by the columns' names."""
    connection = db.session.connection()
    prepared = prepared_read(statement, connection)
    if prepared is None:
        return connection.execute(statement, params or {}).all()
    return prepared.run(connection, params or {})


class PreparedRead:
    """A select compiled once for a driver with named parameters (psycopg's ``%(name)s``), with what Core
    would do around it each time worked out once: the parameter conversions of its types, the conversions
    of its result columns (``UTCDateTime``'s aware datetimes), a row type naming its columns. Runs on the
    driver's cursor of the Connection's own DB-API connection, so in its transaction or autocommit.

    Core's path is kept wherever it gives something this does not: a listener on the engine's or
    connection's statements (tests counting statements, bench/capture.py), echo, expanding ``IN`` lists,
    escaped parameter names, a driver with positional parameters (SQLite)."""

    def __init__(self, statement, compiled, dialect) -> None:
        self.sql = compiled.string
        binds = [(name, compiled.binds[name]) for name in compiled.params]
        self.constants = {name: convert(bind.type, dialect, bind.value) for name, bind in binds if not bind.required}
        self.inputs = [(name, bind.type._cached_bind_processor(dialect)) for name, bind in binds if bind.required]
        self.types = [column.type for column in statement.selected_columns]
        self.results: list | None = None  # the columns' conversions, from the driver's first description
        self.row_type = namedtuple("Row", statement.selected_columns.keys(), rename=True)

    def conversions(self, dialect, description) -> list:
        """``(index, conversion)`` for each result column whose type converts what the driver gives (as
        Core works them out: from the column's type and the driver's type code)."""
        return [(index, process) for index, process in
                ((index, type_._cached_result_processor(dialect, column.type_code))
                 for index, (type_, column) in enumerate(zip(self.types, description, strict=True)))
                if process is not None]

    def run(self, connection, params: dict) -> list:
        """The statement's rows for these parameter values."""
        values = self.constants.copy()
        for name, process in self.inputs:
            try:
                value = params[name]
            except KeyError:
                raise exc.InvalidRequestError(f"A value is required for bind parameter {name!r}") from None
            values[name] = value if process is None else process(value)
        cursor = connection.connection.cursor()
        try:
            cursor.execute(self.sql, values)
            found = cursor.fetchall()
            if self.results is None:
                self.results = self.conversions(connection.dialect, cursor.description)
        except connection.dialect.loaded_dbapi.Error as error:  # raised as Core raises it
            dropped = connection.dialect.is_disconnect(error, connection.connection.dbapi_connection, cursor)
            if dropped:
                connection.invalidate(error)
            raise exc.DBAPIError.instance(self.sql, values, error, connection.dialect.loaded_dbapi.Error,
                                          dialect=connection.dialect, connection_invalidated=dropped) from error
        finally:
            cursor.close()
        new_row, results = tuple.__new__, self.results
        if not results:
            return [new_row(self.row_type, row) for row in found]
        converted = []
        for row in found:
            row = list(row)
            for index, process in results:
                row[index] = process(row[index])
            converted.append(new_row(self.row_type, row))
        return converted


def convert(type_, dialect, value):
    """A value as the driver is given it for a column of ``type_``."""
    process = type_._cached_bind_processor(dialect)
    return value if process is None else process(value)


PREPARED_READS_SIZE = 1024
_prepared_reads: dict = {}  # (statement, dialect) → its PreparedRead, or None where Core must run it
_UNSEEN = object()


def prepared_read(statement, connection) -> PreparedRead | None:
    """The statement's ``PreparedRead`` for the connection's dialect (compiled on first use), or None where
    Core's path must run it."""
    dialect = connection.dialect
    if connection._has_events or connection.engine._has_events or connection._echo \
            or dialect.paramstyle != "pyformat":
        return None
    key = (statement, dialect)
    known = _prepared_reads.get(key, _UNSEEN)
    if known is not _UNSEEN:
        return known
    compiled = statement.compile(dialect=dialect)
    usable = not (compiled.literal_execute_params or compiled.post_compile_params or compiled.escaped_bind_names
                  or any(compiled.binds[name].callable is not None for name in compiled.params))
    if len(_prepared_reads) >= PREPARED_READS_SIZE:
        _prepared_reads.clear()
    prepared = _prepared_reads[key] = PreparedRead(statement, compiled, dialect) if usable else None
    return prepared


@cache
def entity_columns(model) -> tuple:
    """A model's columns, in mapper order: the start of a Core statement whose rows ``loaded`` makes into
    entities."""
    return tuple(attr.class_attribute for attr in inspect(model).column_attrs)


@cache
def _entity_shape(model) -> tuple:
    """What ``loaded`` needs of a model, worked out once: its mapper, its columns' attribute names in mapper
    order, and the positions of its primary key among them."""
    mapper = inspect(model)
    keys = tuple(attr.key for attr in mapper.column_attrs)
    return mapper, keys, tuple(keys.index(mapper.get_property_by_column(column).key) for column in mapper.primary_key)


def loaded(model, row):
    """An entity of ``model`` from a Core row that starts with ``entity_columns(model)``, in the session as the
    ORM's loading would leave it (persistent, no changes, relationships read on first use); the session's own
    when it already holds that row. Loading an entity through the ORM costs about as much again as the
    statement, and every signed-in page reads its user."""
    mapper, keys, key_positions = _entity_shape(model)
    session = db.session()
    present = session.identity_map.get(mapper.identity_key_from_primary_key([row[index] for index in key_positions]))
    if present is not None:
        return present
    entity = mapper.class_manager.new_instance()
    inspect(entity).dict.update(zip(keys, row, strict=False))
    make_transient_to_detached(entity)
    session.add(entity)
    return entity


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


def column_values(record) -> tuple[dict, list]:
    """What an INSERT of a new record stores: each column's value when set, else its default worked out here
    as the flush would; and the columns left to the database (a generated key, a server default).

    A JSON column never set is SQL NULL, as the flush leaves it, not JSON ``null``."""
    state = inspect(record)
    values, left = {}, []
    for attr in state.mapper.column_attrs:
        column = attr.columns[0]
        if attr.key in state.dict:
            values[column.key] = state.dict[attr.key]
        elif column.default is not None and (column.default.is_scalar or column.default.is_callable):
            values[column.key] = state.dict[attr.key] = (
                column.default.arg if column.default.is_scalar else column.default.arg(None))
        elif column.primary_key or column.server_default is not None or column.default is not None:
            left.append(attr)
        else:
            state.dict[attr.key] = None
            values[column.key] = null() if isinstance(column.type, JSON) else None
    return values, left


def insert_new(record) -> None:
    """Store a new record with one INSERT … RETURNING what the database gives it, and keep it in the session
    as the flush would have: every column loaded, its audit event queued for the commit.

    The unit of work's flush of a new work order with its first events costs about twice these statements
    (it works out the order of the INSERTs and each relationship's meaning, which the keys already say), and
    order creation is the API's hottest write. The record's relationships are not stored with it: set them
    by key; they are left unloaded (read on first use) for the caller to set once it is stored."""
    session = ready_to_insert()
    values, left = column_values(record)
    statement = insert_returning(inspect(record).mapper.local_table, tuple(attr.columns[0] for attr in left))
    returned = session.connection().execute(statement, values).one()
    state = inspect(record)
    for attr, value in zip(left, returned, strict=True):
        state.dict[attr.key] = value
    for relationship in state.mapper.relationships:
        state.dict.pop(relationship.key, None)
    make_transient_to_detached(record)
    session.add(record)
    session.info.setdefault(INSERTED, []).append((session.get_nested_transaction() or session.get_transaction(),
                                                  record))
    record_inserted(session, record)


INSERTED = "inserted_new"  # (transaction, record) stored by insert_new in the session's current transaction


@event.listens_for(Session, "after_transaction_create")
def _forget_inserted_before(session: Session, transaction) -> None:
    if transaction.parent is None:
        session.info.pop(INSERTED, None)


@event.listens_for(Session, "after_soft_rollback")
def _unstore_inserted(session: Session, previous_transaction) -> None:
    """A rollback takes back the records insert_new stored in the rolled-back transaction: out of the
    session, transient again, as it does with flushed ones (the session cannot know them as new)."""
    inserted = session.info.get(INSERTED)
    if not inserted:
        return
    kept = []
    for transaction, record in inserted:
        if within(transaction, previous_transaction):
            if record in session:
                session.expunge(record)
            make_transient(record)
        else:
            kept.append((transaction, record))
    inserted[:] = kept


def ready_to_insert() -> Session:
    """The session, once an INSERT of new records may run on its connection: refused in a read-only view,
    and what is pending stored first, as ``session.execute`` would do (its autoflush)."""
    session = db.session()
    if session.info.get(READ_ONLY):
        raise ReadOnlyRequest("a read-only view changed the database")
    if session.autoflush:
        session.flush()
    return session


@lru_cache(maxsize=256)
def insert_returning(table, returned: tuple):
    """``INSERT INTO table …``, with ``RETURNING returned`` when any, built once (composing it and working
    out its cache key cost about a tenth of a creation) and run on the session's connection as Core runs it."""
    statement = insert(table)
    return statement.returning(*returned) if returned else statement


def insert_rows(records: list) -> None:
    """Store new records of one model with a single INSERT of many rows; they stay out of the session (for
    rows nothing reads back in the same request, such as a new order's first events)."""
    if records:
        session = ready_to_insert()
        rows = [column_values(record)[0] for record in records]
        session.connection().execute(insert_returning(inspect(records[0]).mapper.local_table, ()), rows)
