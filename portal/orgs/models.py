"""Organisations (service requesters), providers, their contracts and service points."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date, ForeignKey, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.audit.models import Auditable
from portal.extensions import db
from portal.types import UTCDateTime, utcnow


class Organisation(Auditable, db.Model):
    """A service requester, e.g. a police bureau or a university's information office."""

    __tablename__ = "organisation"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    standard: Mapped[str] = mapped_column(String(60), index=True)
    contact_name: Mapped[str] = mapped_column(String(80), default="")
    contact_phone: Mapped[str] = mapped_column(String(40), default="")
    contact_email: Mapped[str] = mapped_column(String(120), default="")
    address: Mapped[str] = mapped_column(String(300), default="")
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    contracts: Mapped[list[Contract]] = relationship(back_populates="organisation")

    @property
    def organisation_id(self) -> int:
        """Organisations scope to themselves (used by the audit trail and scoping)."""
        return self.id

    def __str__(self) -> str:
        return self.name


class Provider(Auditable, db.Model):
    """An O&M service provider: the manufacturer, a third party or the requester itself (PK-4.1)."""

    __tablename__ = "provider"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    licence_number: Mapped[str] = mapped_column(String(60), default="")
    contact_name: Mapped[str] = mapped_column(String(80), default="")
    contact_phone: Mapped[str] = mapped_column(String(40), default="")
    address: Mapped[str] = mapped_column(String(300), default="")
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    contracts: Mapped[list[Contract]] = relationship(back_populates="provider")

    def __str__(self) -> str:
        return self.name


class Contract(Auditable, db.Model):
    """An O&M contract between an organisation and a provider, governed by one standard (plugin)."""

    __tablename__ = "contract"
    __table_args__ = (
        CheckConstraint("ends_on IS NULL OR ends_on >= starts_on", name="period"),
        CheckConstraint("far_arrival_hours IS NULL OR far_arrival_hours > 0", name="far_arrival_positive"),
        CheckConstraint(
            "remote_response_hours IS NULL OR remote_response_hours > 0", name="remote_response_positive"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(60), unique=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("provider.id"), index=True)
    standard: Mapped[str] = mapped_column(String(60))
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date | None] = mapped_column(Date)
    far_arrival_hours: Mapped[Decimal | None] = mapped_column(Numeric(6, 2))
    remote_response_hours: Mapped[Decimal | None] = mapped_column(Numeric(6, 2))
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    organisation: Mapped[Organisation] = relationship(back_populates="contracts")
    provider: Mapped[Provider] = relationship(back_populates="contracts")

    def __str__(self) -> str:
        return self.number


class ServicePoint(Auditable, db.Model):
    """A provider's local service point (服务网点) from which on-site distances are measured."""

    __tablename__ = "service_point"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(300), default="")
    phone: Mapped[str] = mapped_column(String(40), default="")
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    provider_id: Mapped[int | None] = mapped_column(ForeignKey("provider.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    organisation: Mapped[Organisation] = relationship()
    provider: Mapped[Provider | None] = relationship()

    def __str__(self) -> str:
        return self.name
