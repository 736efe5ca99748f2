"""Work orders, their timeline events, API tokens, idempotency keys and notifications."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.audit.models import Auditable
from portal.auth.models import User
from portal.devices.models import Device
from portal.extensions import db
from portal.orgs.models import Contract, Organisation
from portal.types import UTCDateTime, utcnow

STATUSES = {
    "reported": _l("Reported"),
    "accepted": _l("Accepted"),
    "responded": _l("Responded"),
    "on_site": _l("On site"),
    "paused": _l("Paused"),
    "resolved": _l("Resolved"),
    "followed_up": _l("Followed up"),
    "closed": _l("Closed"),
}
OPEN_STATUSES = ("reported", "accepted", "responded", "on_site", "paused")
CHANNELS = {
    "phone": _l("Phone"),
    "web": _l("Web page"),
    "email": _l("E-mail"),
    "qr": _l("QR code on the device"),
    "sms": _l("SMS"),
    "app": _l("Mobile app"),
    "system": _l("Provider's online system"),
    "monitoring": _l("Monitoring system alarm"),
}
SERVICE_TYPES = {
    "repair": _l("Repair"),
    "installation": _l("Installation"),
    "relocation": _l("Relocation"),
    "preventive_maintenance": _l("Preventive maintenance"),
    "upgrade": _l("Upgrade"),
    "training": _l("Training"),
    "emergency_support": _l("Emergency support"),
    "abnormal_account": _l("Abnormal account handling"),
}
STEP_LABELS = {
    "accept": _l("Accept"),
    "respond": _l("Responded"),
    "arrive": _l("Arrived on site"),
    "resolve": _l("Resolved"),
    "follow_up": _l("Follow-up visit done"),
    "close": _l("Close"),
    "pause": _l("Pause"),
    "resume": _l("Resume"),
    "extend": _l("Extend the deadline"),
    "spare_provided": _l("Spare unit provided"),
    "factory_out": _l("Sent to the factory"),
    "factory_back": _l("Back from the factory"),
    "reopen": _l("Reopen"),
    "assign": _l("Assign"),
}
CLOCK_NAMES = ("response", "arrival", "repair", "factory")
CLOCK_STATES = ("running", "met", "breached")


def _in(column: str, values) -> str:
    """SQL text ``column IN ('a', 'b')`` for a check constraint or partial index."""
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


# Open orders without a running deadline (paused, or every clock stopped): the desk queue's last keyset read.
OPEN_UNDUE = text(f"next_due IS NULL AND {_in('status', OPEN_STATUSES)}")


def _clock_state_checks():
    return tuple(
        CheckConstraint(f"state_{name} IS NULL OR {_in(f'state_{name}', CLOCK_STATES)}", name=f"state_{name}")
        for name in CLOCK_NAMES
    )


class WorkOrder(Auditable, db.Model):
    """A fault or service request and where it stands against the governing standard's clocks."""

    __tablename__ = "work_order"
    __table_args__ = (
        CheckConstraint(_in("status", STATUSES), name="status"),
        CheckConstraint(_in("channel", CHANNELS), name="channel"),
        CheckConstraint(_in("service_type", SERVICE_TYPES), name="service_type"),
        CheckConstraint("affected_terminals IS NULL OR affected_terminals >= 0", name="terminals"),
        CheckConstraint("affected_cardholders IS NULL OR affected_cardholders >= 0", name="cardholders"),
        *_clock_state_checks(),
        Index("ix_work_order_queue", "next_due", "id"),
        Index("ix_work_order_org_queue", "organisation_id", "next_due", "id"),
        Index("ix_work_order_device_alarm", "device_id", "alarm_code"),
        Index("ix_work_order_resolved", "standard", "resolved_at"),
        Index("ix_work_order_open_undue", "id", postgresql_where=OPEN_UNDUE, sqlite_where=OPEN_UNDUE),
        {"sqlite_autoincrement": True},
    )
    __audit_exclude__ = ("warn_response", "warn_arrival", "warn_repair", "warn_factory", "next_due")

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    contract_id: Mapped[int | None] = mapped_column(ForeignKey("contract.id"))
    device_id: Mapped[int | None] = mapped_column(ForeignKey("device.id"), index=True)
    standard: Mapped[str] = mapped_column(String(60))
    service_type: Mapped[str] = mapped_column(String(30), default="repair")
    channel: Mapped[str] = mapped_column(String(20), default="phone")
    summary: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    severity: Mapped[str | None] = mapped_column(String(20), index=True)
    severity_reason: Mapped[str] = mapped_column(String(300), default="")
    severity_manual: Mapped[bool] = mapped_column(Boolean, default=False)
    affected_terminals: Mapped[int | None] = mapped_column(Integer)
    affected_cardholders: Mapped[int | None] = mapped_column(Integer)
    cause: Mapped[str | None] = mapped_column(String(40))
    remote: Mapped[bool] = mapped_column(Boolean, default=False)
    alarm_code: Mapped[str | None] = mapped_column(String(60))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="reported", index=True)
    status_before_pause: Mapped[str | None] = mapped_column(String(20))
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    arrived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    followed_up_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    spare_provided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    factory_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    factory_back_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    due_response: Mapped[datetime | None] = mapped_column(UTCDateTime)
    due_arrival: Mapped[datetime | None] = mapped_column(UTCDateTime)
    due_repair: Mapped[datetime | None] = mapped_column(UTCDateTime)
    due_factory: Mapped[datetime | None] = mapped_column(UTCDateTime)
    state_response: Mapped[str | None] = mapped_column(String(10))
    state_arrival: Mapped[str | None] = mapped_column(String(10))
    state_repair: Mapped[str | None] = mapped_column(String(10))
    state_factory: Mapped[str | None] = mapped_column(String(10))
    warn_response: Mapped[datetime | None] = mapped_column(UTCDateTime)
    warn_arrival: Mapped[datetime | None] = mapped_column(UTCDateTime)
    warn_repair: Mapped[datetime | None] = mapped_column(UTCDateTime)
    warn_factory: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_due: Mapped[datetime | None] = mapped_column(UTCDateTime)
    breached: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    repair_seconds: Mapped[int | None] = mapped_column(Integer)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    organisation: Mapped[Organisation] = relationship()
    contract: Mapped[Contract | None] = relationship()
    device: Mapped[Device | None] = relationship()
    assignee: Mapped[User | None] = relationship(foreign_keys=[assignee_id])
    events: Mapped[list[WorkOrderEvent]] = relationship(
        back_populates="work_order", order_by="WorkOrderEvent.id", cascade="all, delete-orphan"
    )

    @property
    def number(self) -> str:
        """The order's number: unique, never reused (the primary key's sequence)."""
        return format_number(self.id)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def spare_unit_due(self) -> bool:
        """Past the repair deadline and no spare unit provided (PK-5.2)."""
        return self.state_repair == "breached" and self.resolved_at is None and self.spare_provided_at is None

    def __str__(self) -> str:
        return self.number


NUMBER_PREFIX = "WO"


def format_number(order_id: int | None) -> str:
    """WO00000042 for id 42."""
    return f"{NUMBER_PREFIX}{order_id:08d}" if order_id else ""


def parse_number(number: str) -> int | None:
    """The id inside a work-order number, or None when it is not one."""
    digits = number[len(NUMBER_PREFIX):] if number.upper().startswith(NUMBER_PREFIX) else ""
    return int(digits) if digits.isdigit() and len(digits) <= 12 else None


class WorkOrderEvent(db.Model):
    """One step on an order's timeline (the audit trail records the order's changes as well)."""

    __tablename__ = "work_order_event"
    __table_args__ = (Index("ix_work_order_event_order", "work_order_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    work_order_id: Mapped[int] = mapped_column(ForeignKey("work_order.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    actor_name: Mapped[str] = mapped_column(String(80), default="")
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str | None] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(Text, default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    hours: Mapped[Decimal | None] = mapped_column(Numeric(8, 2))
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    data: Mapped[dict | None] = mapped_column(JSON)

    work_order: Mapped[WorkOrder] = relationship(back_populates="events")
    actor: Mapped[User | None] = relationship(foreign_keys=[actor_id])
    approved_by: Mapped[User | None] = relationship(foreign_keys=[approved_by_id])


class ApiToken(Auditable, db.Model):
    """A bearer token for the JSON API; only its SHA-256 is stored."""

    __tablename__ = "api_token"
    __audit_exclude__ = ("token_hash", "last_used_at")

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    name: Mapped[str] = mapped_column(String(80), default="")
    prefix: Mapped[str] = mapped_column(String(12))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()


class IdempotencyKey(db.Model):
    """The first answer to a request sent with an Idempotency-Key, replayed for repeats."""

    __tablename__ = "idempotency_key"
    __table_args__ = (UniqueConstraint("user_id", "scope", "key", name="uq_idempotency_key_user_scope_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    scope: Mapped[str] = mapped_column(String(40))
    key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    body: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Notification(db.Model):
    """A message owed to someone about an order's clock; unique per order, clock, kind and recipient."""

    __tablename__ = "notification"
    __table_args__ = (
        UniqueConstraint("work_order_id", "clock", "kind", "recipient_id", "channel", name="uq_notification_once"),
        CheckConstraint("status IN ('pending', 'sending', 'sent', 'failed')", name="status"),
        CheckConstraint("kind IN ('warning', 'breach')", name="kind"),
        Index("ix_notification_status", "status", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    work_order_id: Mapped[int] = mapped_column(ForeignKey("work_order.id", ondelete="CASCADE"), index=True)
    clock: Mapped[str] = mapped_column(String(10))
    kind: Mapped[str] = mapped_column(String(10))
    recipient_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    channel: Mapped[str] = mapped_column(String(10), default="email")
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    work_order: Mapped[WorkOrder] = relationship()
    recipient: Mapped[User] = relationship()
