"""Device archive logic (PK-7.6): list filters, form choices, saving, history and public fault reports.

Nothing here reads the Flask request; views pass plain values in and scope the statements they run.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from flask_babel import lazy_gettext as _l
from sqlalchemy import exists, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from portal.audit.models import AuditEvent
from portal.audit.services import acting_as
from portal.auth.models import User
from portal.auth.roles import ENGINEER
from portal.devices.models import DEVICE_STATUSES, Device, FaultReport, ImportJob
from portal.extensions import db
from portal.orgs.models import Contract, Organisation, ServicePoint

PUBLIC_ACTOR = "public:qr"
SEARCH_COLUMNS = (Device.code, Device.serial_number, Device.model, Device.address, Device.owning_unit)
SORTS = {"code": (Device.code.asc(),), "-code": (Device.code.desc(),)}
SORT_LABELS = {"code": _l("Code A→Z"), "-code": _l("Code Z→A")}
EDITABLE_FIELDS = ("organisation_id", "code", "model", "serial_number", "kind", "owning_unit", "address",
                   "service_point_id", "distance_km", "maintainer_id", "status", "installed_on", "notes")
FIELD_LABELS = {
    "code": _l("Code"),
    "organisation_id": _l("Organisation"),
    "model": _l("Model"),
    "serial_number": _l("Serial number"),
    "kind": _l("Kind"),
    "owning_unit": _l("Owning unit"),
    "address": _l("Installation address"),
    "service_point_id": _l("Service point"),
    "distance_km": _l("Distance (km)"),
    "maintainer_id": _l("Maintainer"),
    "status": _l("Status"),
    "installed_on": _l("Installed on"),
    "notes": _l("Notes"),
}
ACTION_LABELS = {"create": _l("Created"), "update": _l("Changed"), "delete": _l("Deleted")}


def _positive_int(raw: str | None) -> int | None:
    """An id from the query string; anything else is no filter."""
    return int(raw) if raw and raw.isdigit() and int(raw) > 0 else None


@dataclass(frozen=True)
class DeviceFilters:
    """The list page's search, filters and sort order, as carried in the URL."""

    q: str = ""
    status: str = ""
    kind: str = ""
    service_point: int | None = None
    organisation: int | None = None
    maintainer: int | None = None
    sort: str = "code"

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> DeviceFilters:
        """Read the filters from query arguments, ignoring values that make no sense."""
        status = args.get("status", "")
        sort = args.get("sort", "code")
        return cls(
            q=args.get("q", "").strip()[:100],
            status=status if status in DEVICE_STATUSES else "",
            kind=args.get("kind", "").strip()[:60],
            service_point=_positive_int(args.get("service_point")),
            organisation=_positive_int(args.get("organisation")),
            maintainer=_positive_int(args.get("maintainer")),
            sort=sort if sort in SORTS else "code",
        )

    def statement(self):
        """The (unscoped) select of matching devices in sort order."""
        statement = select(Device).options(selectinload(Device.organisation),
                                           selectinload(Device.service_point),
                                           selectinload(Device.maintainer))
        if self.q:
            statement = statement.where(or_(*(column.icontains(self.q, autoescape=True)
                                              for column in SEARCH_COLUMNS)))
        conditions = ((self.status, Device.status), (self.kind, Device.kind),
                      (self.service_point, Device.service_point_id),
                      (self.organisation, Device.organisation_id), (self.maintainer, Device.maintainer_id))
        for value, column in conditions:
            if value:
                statement = statement.where(column == value)
        return statement.order_by(*SORTS[self.sort], Device.id)


def organisations_statement():
    """Every organisation by name (views scope it to the visible ones)."""
    return select(Organisation).order_by(Organisation.name)


def service_points_statement(organisation_id: int | None = None):
    """Service points by code, optionally of one organisation."""
    statement = select(ServicePoint).order_by(ServicePoint.code)
    if organisation_id is not None:
        statement = statement.where(ServicePoint.organisation_id == organisation_id)
    return statement


def kinds_statement():
    """The distinct non-empty device kinds."""
    return select(Device.kind).where(Device.kind != "").distinct().order_by(Device.kind)


def maintainers_of(device_ids_statement) -> list[User]:
    """The users who maintain any device of a (scoped) select of device ids."""
    statement = select(User).where(User.id.in_(device_ids_statement)).order_by(User.username)
    return list(db.session.scalars(statement))


def eligible_maintainers(organisation_id: int | None) -> list[User]:
    """Active engineers of the providers holding a contract with the organisation."""
    if organisation_id is None:
        return []
    providers = select(Contract.provider_id).where(Contract.organisation_id == organisation_id)
    statement = (select(User)
                 .where(User.role == ENGINEER, User.active.is_(True), User.provider_id.in_(providers))
                 .order_by(User.username))
    return list(db.session.scalars(statement))


def code_in_use(code: str, exclude_id: int | None = None) -> bool:
    """Whether another device already has this code (codes are unique across the whole portal)."""
    condition = Device.code == code
    if exclude_id is not None:
        condition = condition & (Device.id != exclude_id)
    return bool(db.session.scalar(select(exists().where(condition))))


def save_device(device: Device, values: dict) -> bool:
    """Apply form values and commit; False (and nothing saved) when the code was taken meanwhile."""
    for name in EDITABLE_FIELDS:
        setattr(device, name, values[name])
    db.session.add(device)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return False
    return True


def has_fault_reports(device: Device) -> bool:
    """Whether fault reports point at the device (it then cannot be deleted)."""
    return bool(db.session.scalar(select(exists().where(FaultReport.device_id == device.id))))


def delete_device(device: Device) -> bool:
    """Delete a device; False (nothing changed) when other records still refer to it."""
    if has_fault_reports(device):
        return False
    db.session.delete(device)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return False
    return True


# ----------------------------------------------------------------------------------------------------------
# History: audit events and QR fault reports
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One field of one audit event, with readable values."""

    label: str
    before: str
    after: str


@dataclass(frozen=True)
class HistoryEntry:
    """One audit event of a device: who changed what, and when."""

    at: datetime
    actor: str
    action: str
    changes: list[Change] = field(default_factory=list)

    @property
    def action_label(self) -> str:
        return str(ACTION_LABELS.get(self.action, self.action))


def _names(model, ids: Iterable[int]) -> dict[int, str]:
    """Readable names of records by id, loaded in one query."""
    wanted = {value for value in ids if isinstance(value, int)}
    if not wanted:
        return {}
    records = db.session.scalars(select(model).where(model.id.in_(wanted)))
    return {record.id: str(record) for record in records}


class _ValueNames:
    """Turns stored audit values into what a person reads (names instead of ids, status labels)."""

    def __init__(self, events: list[AuditEvent]):
        values = [v for event in events for v in (event.before or {}, event.after or {})]
        self.lookups = {
            "organisation_id": _names(Organisation, (v.get("organisation_id") for v in values)),
            "service_point_id": _names(ServicePoint, (v.get("service_point_id") for v in values)),
            "maintainer_id": _names(User, (v.get("maintainer_id") for v in values)),
        }

    def __call__(self, key: str, value) -> str:
        if value is None or value == "":
            return ""
        if key in self.lookups:
            return self.lookups[key].get(value, f"#{value}")
        if key == "status":
            return str(DEVICE_STATUSES.get(value, value))
        if key == "distance_km":
            return _two_decimals(value)
        return str(value)


def _two_decimals(value) -> str:
    """A stored number as shown in the archive (12.5 and 12.50 read the same)."""
    try:
        return f"{Decimal(str(value)):.2f}"
    except InvalidOperation:
        return str(value)


def _changes(event: AuditEvent, names: _ValueNames) -> list[Change]:
    """The archive fields an event touched, in form order."""
    before, after = event.before or {}, event.after or {}
    keys = [key for key in FIELD_LABELS if key in before or key in after]
    changes = [Change(str(FIELD_LABELS[key]), names(key, before.get(key)), names(key, after.get(key)))
               for key in keys]
    return [change for change in changes if change.before or change.after]


def history(device_id: int) -> list[HistoryEntry]:
    """The device's audit events, newest first."""
    events = list(db.session.scalars(
        select(AuditEvent)
        .where(AuditEvent.table_name == Device.__tablename__, AuditEvent.record_id == str(device_id))
        .order_by(AuditEvent.id.desc())
    ))
    names = _ValueNames(events)
    return [HistoryEntry(event.at, event.actor_name, event.action, _changes(event, names))
            for event in events]


def fault_reports(device_id: int) -> list[FaultReport]:
    """The QR fault reports of a device, newest first."""
    statement = (select(FaultReport).where(FaultReport.device_id == device_id)
                 .order_by(FaultReport.reported_at.desc(), FaultReport.id.desc()))
    return list(db.session.scalars(statement))


# ----------------------------------------------------------------------------------------------------------
# Public fault reports (PK-7.2 c)
# ----------------------------------------------------------------------------------------------------------


def device_by_code(code: str) -> Device | None:
    """The device with this code, whatever its organisation (the public page is not scoped)."""
    return db.session.scalar(select(Device).where(Device.code == code))


def report_fault(device: Device, description: str, contact_name: str, contact_phone: str) -> FaultReport:
    """Record a fault reported through the device's QR code, attributed to the public channel."""
    report = FaultReport(device_id=device.id, organisation_id=device.organisation_id, channel="qr",
                         description=description, contact_name=contact_name, contact_phone=contact_phone)
    with acting_as(PUBLIC_ACTOR):
        db.session.add(report)
        db.session.commit()
    return report


# ----------------------------------------------------------------------------------------------------------
# Imports
# ----------------------------------------------------------------------------------------------------------


def start_import(organisation_id: int, user_id: int, filename: str, data: bytes, uploads: Path) -> ImportJob:
    """Store an uploaded file under ``uploads`` and create its pending import job."""
    uploads.mkdir(parents=True, exist_ok=True)
    stored = uploads / f"{uuid.uuid4().hex}{Path(filename).suffix.lower()}"
    stored.write_bytes(data)
    job = ImportJob(organisation_id=organisation_id, user_id=user_id, filename=filename[-255:],
                    stored_path=str(stored), status="pending")
    db.session.add(job)
    db.session.commit()
    return job
