"""The device archive (PK-7.6): terminals, their public fault reports and bulk imports."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, CheckConstraint, Date, ForeignKey, Index, Integer, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.audit.models import Auditable
from portal.auth.models import User
from portal.extensions import db
from portal.orgs.models import Organisation, ServicePoint
from portal.types import UTCDateTime, utcnow

DEVICE_STATUSES = {
    "in_service": _l("In service"),
    "faulty": _l("Faulty"),
    "under_repair": _l("Under repair"),
    "spare": _l("Spare unit"),
    "retired": _l("Retired"),
}
STATUS_LIST = ", ".join(f"'{status}'" for status in DEVICE_STATUSES)


class Device(Auditable, db.Model):
    """A self-service terminal and its archive entry."""

    __tablename__ = "device"
    __table_args__ = (
        CheckConstraint(f"status IN ({STATUS_LIST})", name="status"),
        CheckConstraint("distance_km IS NULL OR distance_km >= 0", name="distance_non_negative"),
        Index("ix_device_org_code", "organisation_id", "code"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(60), unique=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    service_point_id: Mapped[int | None] = mapped_column(ForeignKey("service_point.id"), index=True)
    model: Mapped[str] = mapped_column(String(120), default="")
    serial_number: Mapped[str] = mapped_column(String(120), default="", index=True)
    kind: Mapped[str] = mapped_column(String(60), default="", index=True)
    owning_unit: Mapped[str] = mapped_column(String(200), default="")
    address: Mapped[str] = mapped_column(String(300), default="")
    distance_km: Mapped[Decimal | None] = mapped_column(Numeric(8, 2))
    maintainer_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="in_service", index=True)
    installed_on: Mapped[date | None] = mapped_column(Date)
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    organisation: Mapped[Organisation] = relationship()
    service_point: Mapped[ServicePoint | None] = relationship()
    maintainer: Mapped[User | None] = relationship()

    @property
    def status_label(self) -> str:
        """The status in the user's language."""
        return str(DEVICE_STATUSES.get(self.status, self.status))

    def __str__(self) -> str:
        return self.code


class FaultReport(Auditable, db.Model):
    """A fault reported by anyone through the device's QR code (PK-7.2 c)."""

    __tablename__ = "fault_report"

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("device.id"), index=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    channel: Mapped[str] = mapped_column(String(20), default="qr")
    description: Mapped[str] = mapped_column(Text)
    contact_name: Mapped[str] = mapped_column(String(80), default="")
    contact_phone: Mapped[str] = mapped_column(String(40), default="")
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)

    device: Mapped[Device] = relationship()


class ImportJob(db.Model):
    """A bulk device import: its progress and, when rows are bad, the report of each bad row."""

    __tablename__ = "import_job"
    __table_args__ = (CheckConstraint("status IN ('pending', 'running', 'done', 'failed')", name="status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    filename: Mapped[str] = mapped_column(String(255))
    stored_path: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(10), default="pending")
    total_rows: Mapped[int] = mapped_column(Integer, default=0)
    processed_rows: Mapped[int] = mapped_column(Integer, default=0)
    created_count: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[list | None] = mapped_column(JSON)
    message: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    organisation: Mapped[Organisation] = relationship()
