"""Writing and verifying the hash-chained audit trail."""

from __future__ import annotations

import contextvars
import hashlib
import json
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import insert, inspect, select, text
from sqlalchemy.exc import DBAPIError

from portal.audit.models import AuditEvent
from portal.types import utcnow

GENESIS = "0" * 64
ADVISORY_LOCK_KEY = 7_100_100  # serialises chain appends on PostgreSQL
APPEND_BATCH = 1000
ALWAYS_EXCLUDED = frozenset({"updated_at"})
STAMPS = frozenset({"at", "actor_id", "actor_name"})
JSON_SCALARS = frozenset({str, int, bool, float, type(None)})
_audited_by_model: dict[type, tuple[str, ...]] = {}

Actor = tuple[int | None, str]
_actor: contextvars.ContextVar[Actor | None] = contextvars.ContextVar("audit_actor", default=None)


@contextmanager
def acting_as(name: str, user_id: int | None = None):
    """Attribute the changes made inside the block to ``name`` (CLI commands, jobs, public pages)."""
    token = _actor.set((user_id, name))
    try:
        yield
    finally:
        _actor.reset(token)


def current_actor() -> tuple[int | None, str]:
    """Who is changing things: the explicit actor, else the signed-in user, else 'system'."""
    explicit = _actor.get()
    if explicit is not None:
        return explicit
    from flask import has_request_context
    from flask_login import current_user

    if has_request_context() and current_user and current_user.is_authenticated:
        return current_user.id, current_user.username
    if has_request_context():
        return None, "anonymous"
    return None, "system"


def plain(value):
    """A JSON-safe, canonical form of a column value."""
    if type(value) in JSON_SCALARS:
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def audited_columns(obj) -> tuple[str, ...]:
    """The column attributes of a record that the trail records (worked out once per model)."""
    model = type(obj)
    keys = _audited_by_model.get(model)
    if keys is None:
        excluded = ALWAYS_EXCLUDED | set(getattr(obj, "__audit_exclude__", ()))
        keys = tuple(attr.key for attr in inspect(obj).mapper.column_attrs if attr.key not in excluded)
        _audited_by_model[model] = keys
    return keys


def snapshot(obj) -> dict:
    """The record's current audited values (read from its loaded state, loading only what is not)."""
    loaded = inspect(obj).dict
    return {key: plain(loaded[key] if key in loaded else getattr(obj, key)) for key in audited_columns(obj)}


def snapshot_before(obj, connection) -> dict:
    """The record's audited values as stored, before its pending changes.

    A value set on an expired attribute (the usual case after a commit) leaves the session without the
    old value, so those are read from the row itself, which the pending UPDATE has not touched yet.
    """
    state = inspect(obj)
    values, unknown = {}, []
    for key in audited_columns(obj):
        history = state.attrs[key].load_history()
        if history.deleted:
            values[key] = plain(history.deleted[0])
        elif history.unchanged:
            values[key] = plain(history.unchanged[0])
        elif history.added:
            unknown.append(key)
        else:
            values[key] = plain(getattr(obj, key))
    if unknown:
        values.update(stored_values(obj, unknown, connection))
    return values


def stored_values(obj, keys: list[str], connection) -> dict:
    """The values of some attributes of a persistent record as its row holds them now."""
    state = inspect(obj)
    mapper = state.mapper
    columns = [mapper.column_attrs[key].columns[0] for key in keys]
    where = [column == value for column, value in zip(mapper.primary_key, state.identity, strict=True)]
    row = connection.execute(select(*columns).where(*where)).one()
    return {key: plain(value) for key, value in zip(keys, row, strict=True)}


def canonical(value) -> str:
    """The canonical JSON of a value: keys sorted, no spaces, non-ASCII kept."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def event_hash(fields: dict) -> str:
    """SHA-256 over the canonical JSON of an event's fields (prev_hash included)."""
    return hashlib.sha256(canonical(fields).encode("utf-8")).hexdigest()


def hash_halves(fields: dict) -> tuple[str, str]:
    """The canonical JSON of an event's fields cut where prev_hash's value goes: SHA-256 over
    ``prefix + prev_hash + suffix`` is ``event_hash`` of the fields with that prev_hash."""
    members = [(key, f"{canonical(key)}:{canonical(value)}") for key, value in sorted(fields.items())
               if key != "prev_hash"]
    prefix = "{" + "".join(member + "," for key, member in members if key < "prev_hash") + '"prev_hash":"'
    suffix = '"' + "".join("," + member for key, member in members if key > "prev_hash") + "}"
    return prefix, suffix


def hashed_fields(event) -> dict:
    """The fields of a stored event that its hash covers."""
    return {
        "at": plain(event.at),
        "actor_id": event.actor_id,
        "actor_name": event.actor_name,
        "action": event.action,
        "table_name": event.table_name,
        "record_id": event.record_id,
        "organisation_id": event.organisation_id,
        "before": event.before,
        "after": event.after,
        "prev_hash": event.prev_hash,
    }


def last_hash(connection) -> str:
    """The hash of the newest event, after taking the append lock on PostgreSQL."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
    newest = connection.execute(select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)).scalar()
    return newest or GENESIS


def stamped(change: dict) -> dict:
    """A change with when and by whom it was made (kept when the change already says)."""
    if change.keys() >= STAMPS:
        return change
    actor_id, actor_name = current_actor()
    return {"at": utcnow(), "actor_id": actor_id, "actor_name": actor_name, **change}


def append(connection, changes: list[dict]) -> None:
    """Append events for ``changes`` (action, table_name, record_id, organisation_id, before, after, and
    optionally at, actor_id, actor_name), hashed here, holding the append lock until the commit."""
    if not changes:
        return
    prev = last_hash(connection)
    rows = []
    for change in changes:
        row = {**stamped(change), "prev_hash": prev}
        row["hash"] = event_hash({**row, "at": plain(row["at"])})
        rows.append(row)
        prev = row["hash"]
    # One executemany: rows are inserted (and numbered) in the order of the chain.
    for start in range(0, len(rows), APPEND_BATCH):
        connection.execute(insert(AuditEvent.__table__), rows[start:start + APPEND_BATCH])


# The next link, chained in the server: each INSERT reads the newest hash with a snapshot taken after the
# lock was granted, and sees the rows inserted before it in the same transaction.
CHAINED_INSERT = """
INSERT INTO audit_event (at, actor_id, actor_name, action, table_name, record_id, organisation_id,
                         before, after, prev_hash, hash)
SELECT %(at)s, %(actor_id)s, %(actor_name)s, %(action)s, %(table_name)s, %(record_id)s, %(organisation_id)s,
       %(before)s::json, %(after)s::json, head.hash,
       encode(sha256(convert_to(%(prefix)s::text || head.hash || %(suffix)s::text, 'UTF8')), 'hex')
FROM (SELECT coalesce((SELECT hash FROM audit_event ORDER BY id DESC LIMIT 1), %(genesis)s::text) AS hash) AS head
"""


def chained_row(change: dict) -> dict:
    """The parameters of CHAINED_INSERT for one stamped change."""
    row = stamped(change)
    prefix, suffix = hash_halves({**row, "at": plain(row["at"]), "prev_hash": None})
    return {**row, "before": json.dumps(row["before"]), "after": json.dumps(row["after"]), "prefix": prefix,
            "suffix": suffix, "genesis": GENESIS}


def append_and_commit(dbapi_connection, changes: list[dict]) -> None:
    """PostgreSQL: take the append lock, append the events and commit, in one round trip.

    The lock is held from the moment it is granted until the commit, as the chain needs (the next writer
    must see this event committed, or never). Sending all three at once keeps that span to the server's own
    work: no waiting for this process to be scheduled again while every other writer queues on the lock.
    """
    rows = [chained_row(change) for change in changes]
    try:
        with dbapi_connection.pipeline(), dbapi_connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%(key)s)", {"key": ADVISORY_LOCK_KEY})
            cursor.executemany(CHAINED_INSERT, rows)
            dbapi_connection.commit()
    except dbapi_connection.Error as error:  # raised as SQLAlchemy raises what the driver reports
        raise DBAPIError.instance(CHAINED_INSERT, rows, error, type(dbapi_connection).Error, ismulti=True) from error


@dataclass(frozen=True)
class ChainReport:
    """The outcome of a verification: events checked and the first bad one, if any."""

    checked: int
    first_bad_id: int | None = None
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.first_bad_id is None


def verify_chain(session) -> ChainReport:
    """Walk the trail in order; name the first event whose link or contents do not match."""
    in_order = select(AuditEvent).order_by(AuditEvent.id).execution_options(yield_per=1000)
    with session.scalars(in_order) as events:  # closes the server-side cursor when the walk stops early
        return walk_chain(events)


def walk_chain(events) -> ChainReport:
    """Check events, oldest first: each must link to the hash before it and match its own hash."""
    prev = GENESIS
    checked = 0
    for event in events:
        if event.prev_hash != prev:
            return ChainReport(checked, event.id, "link broken: the event before it was removed or altered")
        if event_hash(hashed_fields(event)) != event.hash:
            return ChainReport(checked, event.id, "contents altered after it was written")
        prev = event.hash
        checked += 1
    return ChainReport(checked)
