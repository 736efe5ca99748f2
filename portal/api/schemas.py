"""The JSON API's request bodies and responses: field specs (also the OpenAPI schemas), parsing and shapes.

A body is parsed against a tuple of :class:`Field` specs into plain Python values; anything that does not fit
is reported per field in one :class:`ApiError` (422). The same specs build the request schemas of the
OpenAPI document, so the document and the validation cannot drift apart.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import current_app
from flask_babel import gettext as _

from portal.workorders.models import CHANNELS, SERVICE_TYPES, STATUSES
from portal.workorders.services import STEPS

FIELD_TYPES = ("string", "integer", "number", "boolean", "datetime")


class ApiError(Exception):
    """A refusal: HTTP status, a code for machines, a message for people and a message per field."""

    def __init__(self, status: int, code: str, message: str, fields: dict | None = None,
                 headers: dict | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields or {}
        self.headers = headers or {}


def error_body(code: str, message: str, fields: dict | None = None) -> dict:
    """The one shape of every API error."""
    return {"error": {"code": code, "message": str(message),
                      "fields": {name: str(text) for name, text in (fields or {}).items()}}}


def invalid(fields: dict) -> ApiError:
    """A 422 listing the fields that need correcting."""
    return ApiError(422, "invalid", _("Please correct the fields listed."), fields)


@dataclass(frozen=True)
class Field:
    """One member of a request body: its JSON type, whether it must be given, and its limits."""

    name: str
    type: str = "string"
    required: bool = False
    max_length: int | None = None
    minimum: int | None = None
    enum: tuple[str, ...] = ()
    description: str = ""


ORGANISATION = (
    Field("code", required=True, max_length=40, description="Unique code of the organisation."),
    Field("name", required=True, max_length=200),
    Field("standard", required=True, max_length=60, description="Id of an enabled service standard."),
)
DEVICE = (
    Field("code", required=True, max_length=60, description="Unique code of the terminal."),
    Field("org", required=True, max_length=40, description="Code of the owning organisation."),
    Field("model", max_length=120),
    Field("serial", max_length=120, description="Serial number."),
    Field("kind", max_length=60, description="Kind of terminal."),
    Field("address", max_length=300, description="Installation address."),
    Field("distance_km", "number", minimum=0, description="Distance to its service point in km."),
)
WORK_ORDER = (
    Field("org", required=True, max_length=40, description="Code of the organisation."),
    Field("device", max_length=60, description="Code of the device; omit for faults of many terminals."),
    Field("service_type", max_length=30, enum=tuple(SERVICE_TYPES), description="Default: repair."),
    Field("channel", max_length=20, enum=tuple(CHANNELS),
          description="Default: app for requesters, system for provider staff."),
    Field("summary", required=True, max_length=200),
    Field("description", max_length=10000),
    Field("severity", max_length=20, description="Severity id; omitted: classified by the standard."),
    Field("affected_terminals", "integer", minimum=0),
    Field("affected_cardholders", "integer", minimum=0),
    Field("cause", max_length=40, description="Cause id of the standard (e.g. for the special class)."),
    Field("remote", "boolean", description="Handled by remote maintenance."),
    Field("reported_at", "datetime", description="When the fault was reported; default: now."),
)
EVENT = (
    Field("type", required=True, max_length=20, enum=tuple(STEPS), description="The step to take."),
    Field("at", "datetime", description="When the step happened; default: now."),
    Field("note", max_length=10000),
    Field("hours", "number", minimum=0, description="Extension in hours (extend)."),
    Field("reason", max_length=2000, description="Required for pause, extend and reopen."),
    Field("approved_by", max_length=80, description="Username of the requester-side approver (extend)."),
    Field("assignee", max_length=80, description="Username of the engineer (assign)."),
)
ALARM = (
    Field("device", required=True, max_length=60, description="Code of the device raising the alarm."),
    Field("code", required=True, max_length=60, description="The monitoring system's alarm code."),
    Field("message", required=True, max_length=10000),
    Field("raised_at", "datetime", required=True, description="When the alarm was raised."),
    Field("severity", max_length=20,
          description="Severity id, for standards that neither classify alarms nor give them a default."),
)


def parse_json(raw: bytes) -> dict:
    """The body as a JSON object; 400 when it is not JSON or not an object."""
    try:
        body = json.loads(raw)
    except ValueError as error:
        message = _("The body is not valid JSON: %(reason)s", reason=str(error))
        raise ApiError(400, "malformed_json", message) from None
    if not isinstance(body, dict):
        raise ApiError(400, "not_an_object", _("The body must be a JSON object."))
    return body


def parse(body: dict, fields: tuple[Field, ...]) -> dict:
    """The body's values by field name (absent or null optional fields left out); 422 on any bad field."""
    known = {spec.name: spec for spec in fields}
    errors = {name: _("Unknown field.") for name in body if name not in known}
    values = {}
    for spec in fields:
        raw = body.get(spec.name)
        if raw is None or (spec.type == "string" and isinstance(raw, str) and not raw.strip()):
            if spec.required:
                errors[spec.name] = _("This field is required.")
            continue
        try:
            values[spec.name] = convert(spec, raw)
        except ValueError as error:
            errors[spec.name] = str(error)
    if errors:
        raise invalid(errors)
    return values


def convert(spec: Field, raw):
    """One value converted to its Python type; ValueError with a message for people."""
    converter = {"string": to_string, "integer": to_integer, "number": to_decimal, "boolean": to_boolean,
                 "datetime": to_datetime}[spec.type]
    value = converter(raw)
    if spec.max_length is not None and len(value) > spec.max_length:
        raise ValueError(_("At most %(count)s characters.", count=spec.max_length))
    if spec.minimum is not None and value < spec.minimum:
        raise ValueError(_("Must be %(minimum)s or more.", minimum=spec.minimum))
    if spec.enum and value not in spec.enum:
        raise ValueError(_("Choose one of: %(choices)s.", choices=", ".join(spec.enum)))
    return value


def to_string(raw) -> str:
    """A JSON string, trimmed."""
    if not isinstance(raw, str):
        raise ValueError(_("Must be a string."))
    return raw.strip()


def to_integer(raw) -> int:
    """A JSON whole number."""
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise ValueError(_("Must be a whole number."))
    return raw


def to_decimal(raw) -> Decimal:
    """A JSON number (or a number written as a string), finite, as a Decimal."""
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise ValueError(_("Must be a number."))
    if isinstance(raw, float) and not math.isfinite(raw):
        raise ValueError(_("Must be a number."))
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation:
        raise ValueError(_("Must be a number.")) from None
    if not value.is_finite() or abs(value) >= 10**6:
        raise ValueError(_("Must be a number below one million."))
    return value


def to_boolean(raw) -> bool:
    """A JSON true or false."""
    if not isinstance(raw, bool):
        raise ValueError(_("Must be true or false."))
    return raw


def to_datetime(raw) -> datetime:
    """An ISO 8601 date and time with a UTC offset, as an aware datetime in UTC."""
    if not isinstance(raw, str):
        raise ValueError(_("Must be an ISO 8601 date and time with offset, e.g. 2026-03-01T09:30:00+08:00."))
    try:
        value = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise ValueError(
            _("Must be an ISO 8601 date and time with offset, e.g. 2026-03-01T09:30:00+08:00.")
        ) from None
    if value.tzinfo is None:
        raise ValueError(_("Give the UTC offset too, e.g. +08:00 or Z."))
    return value.astimezone(UTC)


def parse_flag(raw: str | None, name: str) -> bool | None:
    """A true/false query parameter; 422 for anything else."""
    if raw in (None, ""):
        return None
    if raw.lower() in ("true", "1", "yes"):
        return True
    if raw.lower() in ("false", "0", "no"):
        return False
    raise invalid({name: _("Must be true or false.")})


def parse_statuses(raw: str | None) -> tuple[str, ...]:
    """A comma-separated list of statuses ('open' for every open one); 422 for an unknown status."""
    from portal.workorders.models import OPEN_STATUSES

    wanted: list[str] = []
    for name in (part.strip() for part in (raw or "").split(",") if part.strip()):
        if name == "open":
            wanted.extend(OPEN_STATUSES)
        elif name in STATUSES:
            wanted.append(name)
        else:
            raise invalid({"status": _("Choose from: open, %(choices)s.", choices=", ".join(STATUSES))})
    return tuple(dict.fromkeys(wanted))


def parse_limit(raw: str | None, default: int = 50, maximum: int = 200) -> int:
    """The page size: 1 to ``maximum``."""
    if raw in (None, ""):
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= maximum:
        raise invalid({"limit": _("A whole number from 1 to %(maximum)s.", maximum=maximum)})
    return int(raw)


def encode_cursor(next_due: datetime | None, order_id: int) -> str:
    """An opaque cursor for the position after an order in the queue."""
    key = [next_due.astimezone(UTC).isoformat() if next_due else None, order_id]
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")


def decode_cursor(raw: str) -> tuple[datetime | None, int]:
    """The (next_due, id) key inside a cursor; 422 when it was not made by this API."""
    try:
        padded = raw + "=" * (-len(raw) % 4)
        due, order_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if isinstance(order_id, bool) or not isinstance(order_id, int):
            raise ValueError
        return (datetime.fromisoformat(due).astimezone(UTC) if due is not None else None), order_id
    except (ValueError, TypeError, binascii.Error):
        raise invalid({"cursor": _("This cursor was not given by this API.")}) from None


@lru_cache(maxsize=8)
def _zone(name: str):
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def iso(value: datetime | None) -> str | None:
    """An instant as ISO 8601 in the deployment's time zone (PORTAL_TIMEZONE), with its offset."""
    if value is None:
        return None
    return value.astimezone(_zone(current_app.config.get("PORTAL_TIMEZONE") or "UTC")).isoformat()


def number(value: Decimal | None) -> float | int | None:
    """A Decimal as a JSON number."""
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)


def organisation_json(organisation) -> dict:
    """An organisation as the API shows it."""
    return {"code": organisation.code, "name": organisation.name, "standard": organisation.standard}


def device_json(device) -> dict:
    """A device as the API shows it."""
    return {
        "code": device.code, "org": device.organisation.code, "model": device.model,
        "serial": device.serial_number, "kind": device.kind, "address": device.address,
        "distance_km": number(device.distance_km), "status": device.status,
    }


CLOCKS = ("response", "arrival", "repair", "factory")
SLA_CLOCKS = ("response", "arrival", "repair")


def clock_state(order, name: str, now: datetime) -> str | None:
    """A clock's state as of now: a running clock past its deadline (not paused) counts as breached."""
    state = getattr(order, f"state_{name}")
    due = getattr(order, f"due_{name}")
    if state == "running" and due is not None and due < now and order.status != "paused":
        return "breached"
    return state


def order_json(order, url: str, now: datetime) -> dict:
    """A work order as the API shows it: facts, times, deadlines (null: not applicable) and clock states."""
    return {
        "number": order.number,
        "org": order.organisation.code,
        "device": order.device.code if order.device else None,
        "service_type": order.service_type,
        "channel": order.channel,
        "summary": order.summary,
        "description": order.description,
        "status": order.status,
        "severity": order.severity,
        "severity_reason": order.severity_reason,
        "affected_terminals": order.affected_terminals,
        "affected_cardholders": order.affected_cardholders,
        "cause": order.cause,
        "remote": order.remote,
        "alarm_code": order.alarm_code,
        "assignee": order.assignee.username if order.assignee else None,
        "reported_at": iso(order.reported_at),
        "accepted_at": iso(order.accepted_at),
        "responded_at": iso(order.responded_at),
        "arrived_at": iso(order.arrived_at),
        "resolved_at": iso(order.resolved_at),
        "closed_at": iso(order.closed_at),
        "due": {name: iso(getattr(order, f"due_{name}")) for name in CLOCKS},
        "sla": {name: clock_state(order, name, now) for name in SLA_CLOCKS},
        "breached": any(clock_state(order, name, now) == "breached" for name in CLOCKS),
        "next_due": iso(order.next_due),
        "url": url,
    }


def event_json(event) -> dict:
    """One step of an order's timeline."""
    return {
        "type": event.type, "at": iso(event.at), "actor": event.actor_name, "from_status": event.from_status,
        "to_status": event.to_status, "note": event.note, "reason": event.reason,
        "hours": number(event.hours),
        "approved_by": event.approved_by.username if event.approved_by else None,
    }
