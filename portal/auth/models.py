"""Users of the portal."""

from __future__ import annotations

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from portal.audit.models import Auditable
from portal.auth.roles import ROLES, can
from portal.extensions import db
from portal.orgs.models import Organisation, Provider
from portal.types import UTCDateTime, utcnow

ROLE_LIST = ", ".join(f"'{role}'" for role in ROLES)


class User(Auditable, UserMixin, db.Model):
    """A person who signs in: deployment admin, provider staff or organisation staff."""

    __tablename__ = "user_account"
    __table_args__ = (
        CheckConstraint(f"role IN ({ROLE_LIST})", name="role"),
        CheckConstraint("NOT (organisation_id IS NOT NULL AND provider_id IS NOT NULL)", name="one_employer"),
    )
    __audit_exclude__ = ("password_hash", "session_version", "last_login_at", "locale")

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    display_name: Mapped[str] = mapped_column(String(120), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20), index=True)
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id"), index=True)
    provider_id: Mapped[int | None] = mapped_column(ForeignKey("provider.id"), index=True)
    email: Mapped[str] = mapped_column(String(120), default="")
    phone: Mapped[str] = mapped_column(String(40), default="")
    active: Mapped[bool] = mapped_column(default=True)
    locale: Mapped[str | None] = mapped_column(String(10))
    session_version: Mapped[int] = mapped_column(default=1)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    organisation: Mapped[Organisation | None] = relationship()
    provider: Mapped[Provider | None] = relationship()

    def set_password(self, password: str) -> None:
        """Hash and store a new password; sessions signed in with the old one end."""
        self.password_hash = generate_password_hash(password, method="scrypt")
        self.session_version = (self.session_version or 0) + 1

    def check_password(self, password: str) -> bool:
        """Whether the password matches the stored hash."""
        return check_password_hash(self.password_hash, password)

    @property
    def is_active(self) -> bool:  # Flask-Login reads this
        return self.active

    def get_id(self) -> str:
        """The session identity: id and session version, so a reset ends old sessions."""
        return f"{self.id}:{self.session_version}"

    def can(self, permission: str) -> bool:
        """Whether the user's role holds a permission."""
        return can(self.role, permission)

    @property
    def name(self) -> str:
        """The name shown in the UI."""
        return self.display_name or self.username

    def __str__(self) -> str:
        return self.name
