"""The audit trail: append-only, hash-chained events."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db
from portal.types import UTCDateTime, utcnow


class Auditable:
    """Mixin: every insert, update and delete of the model writes an AuditEvent."""

    __audit__ = True


class AuditEvent(db.Model):
    """One change to one record: who, when, what, and the values before and after."""

    __tablename__ = "audit_event"
    __table_args__ = (
        Index("ix_audit_event_table_record", "table_name", "record_id"),
        Index("ix_audit_event_org_at", "organisation_id", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(Integer, index=True)
    actor_name: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(10), index=True)
    table_name: Mapped[str] = mapped_column(String(60))
    record_id: Mapped[str] = mapped_column(String(60))
    organisation_id: Mapped[int | None] = mapped_column(Integer)
    before: Mapped[dict | None] = mapped_column(JSON)
    after: Mapped[dict | None] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
