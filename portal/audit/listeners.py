"""Session hooks that turn every flush of auditable records into audit events."""

from __future__ import annotations

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from portal.audit import services
from portal.audit.models import AuditEvent

PENDING = "audit_pending"


class AppendOnlyError(RuntimeError):
    """Raised when code tries to change or delete an audit event."""


def _is_audited(obj) -> bool:
    return getattr(obj, "__audit__", False)


def _record_id(obj) -> str:
    identity = inspect(obj).identity
    return ",".join(str(part) for part in identity) if identity else ""


def before_flush(session: Session, flush_context, instances) -> None:
    """Remember what is about to change, with the values before the change."""
    if any(isinstance(obj, AuditEvent) for obj in (*session.dirty, *session.deleted)):
        raise AppendOnlyError("audit events are append-only")
    pending = session.info.setdefault(PENDING, [])
    pending.extend(("create", obj, None) for obj in session.new if _is_audited(obj))
    pending.extend(
        ("update", obj, services.snapshot_before(obj))
        for obj in session.dirty
        if _is_audited(obj) and session.is_modified(obj, include_collections=False)
    )
    pending.extend(("delete", obj, services.snapshot(obj)) for obj in session.deleted if _is_audited(obj))


def _change(action: str, obj, before: dict | None) -> dict | None:
    """The event fields for one change; None for an update that touched no audited value."""
    after = None if action == "delete" else services.snapshot(obj)
    if action == "update":
        changed = [key for key in after if after[key] != before.get(key)]
        if not changed:
            return None
        before = {key: before.get(key) for key in changed}
        after = {key: after[key] for key in changed}
    values = after or before
    return {
        "action": action,
        "table_name": obj.__tablename__,
        "record_id": _record_id(obj),
        "organisation_id": values.get("organisation_id") if values else None,
        "before": before,
        "after": after,
    }


def after_flush(session: Session, flush_context) -> None:
    """Write the remembered changes as chained events in the same transaction."""
    pending = session.info.pop(PENDING, [])
    changes = [change for action, obj, before in pending if (change := _change(action, obj, before))]
    for change in changes:
        if change["table_name"] == "organisation" and change["organisation_id"] is None:
            change["organisation_id"] = int(change["record_id"]) if change["record_id"].isdigit() else None
    services.append(session.connection(), changes)


def after_soft_rollback(session: Session, previous_transaction) -> None:
    """Forget changes of a flush that failed."""
    session.info.pop(PENDING, None)


def install() -> None:
    """Attach the hooks to every ORM session (idempotent)."""
    for name, handler in (("before_flush", before_flush), ("after_flush", after_flush),
                          ("after_soft_rollback", after_soft_rollback)):
        if not event.contains(Session, name, handler):
            event.listen(Session, name, handler)
