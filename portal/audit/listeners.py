"""Session hooks that turn every flush of auditable records into audit events."""

from __future__ import annotations

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from portal.audit import services
from portal.audit.models import AuditEvent

PENDING = "audit_pending"  # changes seen by before_flush, not yet flushed
QUEUED = "audit_queued"  # (transaction, change) flushed, appended when the transaction commits


class AppendOnlyError(RuntimeError):
    """Raised when code tries to change or delete an audit event."""


def _is_audited(obj) -> bool:
    return getattr(obj, "__audit__", False)


def _record_id(obj) -> str:
    """The record's primary key as text (read from the instance: new records have no identity key yet)."""
    key = inspect(obj).mapper.primary_key_from_instance(obj)
    return ",".join(str(part) for part in key if part is not None)


def before_flush(session: Session, flush_context, instances) -> None:
    """Remember what is about to change, with the values before the change."""
    if any(isinstance(obj, AuditEvent) for obj in (*session.dirty, *session.deleted)):
        raise AppendOnlyError("audit events are append-only")
    pending = session.info.setdefault(PENDING, [])
    pending.extend(("create", obj, None) for obj in session.new if _is_audited(obj))
    updated = [obj for obj in session.dirty
               if _is_audited(obj) and session.is_modified(obj, include_collections=False)]
    if updated:
        connection = session.connection()
        pending.extend(("update", obj, services.snapshot_before(obj, connection)) for obj in updated)
    pending.extend(("delete", obj, services.snapshot(obj)) for obj in session.deleted if _is_audited(obj))


def _organisation_of(obj, record_id: str, values: dict) -> int | None:
    """The organisation an event belongs to (an organisation belongs to itself), from the full record."""
    if obj.__tablename__ == "organisation":
        return int(record_id) if record_id.isdigit() else None
    return values.get("organisation_id")


def _change(action: str, obj, before: dict | None) -> dict | None:
    """The event fields for one change; None for an update that touched no audited value."""
    after = None if action == "delete" else services.snapshot(obj)
    record_id = _record_id(obj)
    # Scope by the whole record: an update's before/after keep only the changed fields.
    organisation_id = _organisation_of(obj, record_id, after or before or {})
    if action == "update":
        changed = [key for key in after if after[key] != before.get(key)]
        if not changed:
            return None
        before = {key: before.get(key) for key in changed}
        after = {key: after[key] for key in changed}
    return {
        "action": action,
        "table_name": obj.__tablename__,
        "record_id": record_id,
        "organisation_id": organisation_id,
        "before": before,
        "after": after,
    }


def _queue(session: Session, changes: list[dict]) -> None:
    """Queue changes in the session's innermost transaction, for its commit to append."""
    if changes:
        tag = session.get_nested_transaction() or session.get_transaction()
        session.info.setdefault(QUEUED, []).extend((tag, change) for change in changes)


def after_flush(session: Session, flush_context) -> None:
    """Queue the remembered changes, stamped with their time and actor, for the commit to append."""
    pending = session.info.pop(PENDING, [])
    _queue(session, [services.stamped(change) for action, obj, before in pending
                     if (change := _change(action, obj, before))])


def record_inserted(session: Session, obj) -> None:
    """Queue the creation of a record stored by an INSERT statement, which no flush sees
    (``portal.database.insert_new``)."""
    if _is_audited(obj):
        _queue(session, [services.stamped(_change("create", obj, None))])


def before_commit(session: Session) -> None:
    """Append the transaction's queued changes to the chain as it commits (not at a savepoint's release).

    Appending at the commit rather than at each flush keeps the chain's lock from being held while the
    rest of the transaction runs. On PostgreSQL the append and the commit go to the server together.
    """
    if session.in_nested_transaction():
        return
    session.flush()
    changes = [change for _tag, change in session.info.get(QUEUED, [])]
    if not changes:
        return
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        services.append_and_commit(connection.connection.driver_connection, changes)
    else:
        services.append(connection, changes)
    session.info.pop(QUEUED, None)


def within(transaction, ended) -> bool:
    """Whether ``transaction`` is ``ended`` or one of the transactions nested in it."""
    while transaction is not None:
        if transaction is ended:
            return True
        transaction = transaction.parent
    return False


def after_soft_rollback(session: Session, previous_transaction) -> None:
    """Forget the changes of a flush that failed, and those queued in the transaction rolled back."""
    session.info.pop(PENDING, None)
    queued = session.info.get(QUEUED)
    if queued:
        queued[:] = [(tag, change) for tag, change in queued if not within(tag, previous_transaction)]


def after_transaction_end(session: Session, transaction) -> None:
    """Nothing queued outlives its database transaction, however it ended (appended, rolled back, closed)."""
    if transaction.parent is None:
        session.info.pop(QUEUED, None)


def install() -> None:
    """Attach the hooks to every ORM session (idempotent)."""
    for name, handler in (("before_flush", before_flush), ("after_flush", after_flush),
                          ("before_commit", before_commit), ("after_transaction_end", after_transaction_end),
                          ("after_soft_rollback", after_soft_rollback)):
        if not event.contains(Session, name, handler):
            event.listen(Session, name, handler)
