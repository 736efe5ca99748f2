"""Submissions of the forms that plugins declare as data."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.audit.models import Auditable
from portal.auth.models import User
from portal.extensions import db
from portal.orgs.models import Organisation
from portal.types import UTCDateTime, utcnow


class FormSubmission(Auditable, db.Model):
    """One filled-in plugin form: the plugin, the form id and the validated values."""

    __tablename__ = "form_submission"
    __table_args__ = (Index("ix_form_submission_form", "plugin", "form_id", "submitted_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    plugin: Mapped[str] = mapped_column(String(60))
    form_id: Mapped[str] = mapped_column(String(60))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    device_id: Mapped[int | None] = mapped_column(ForeignKey("device.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    data: Mapped[dict] = mapped_column(JSON)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    organisation: Mapped[Organisation] = relationship()
    user: Mapped[User | None] = relationship()
