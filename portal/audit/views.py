"""The audit trail pages: browse and filter events, inspect one, verify the chain."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import Blueprint, current_app, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import DateField, SearchField, SelectField, StringField
from wtforms.validators import Length, Optional, ValidationError

from portal.audit.models import AuditEvent
from portal.audit.services import verify_chain
from portal.auth.scoping import get_visible_or_404, scoped
from portal.auth.session import permission_required
from portal.extensions import db
from portal.orgs.models import Organisation
from portal.pagination import page_number, paginate
from portal.web import render, wants_fragment

bp = Blueprint("audit", __name__, url_prefix="/audit")

ACTIONS = {"create": _l("Created"), "update": _l("Changed"), "delete": _l("Deleted")}
RECORD_TYPES = {
    "organisation": _l("Organisation"),
    "provider": _l("Provider"),
    "contract": _l("Contract"),
    "service_point": _l("Service point"),
    "user_account": _l("User"),
    "device": _l("Device"),
    "fault_report": _l("Fault report"),
    "form_submission": _l("Form submission"),
    "work_order": _l("Work order"),
    "api_token": _l("API token"),
}
# Record types with a page of their own: table -> (endpoint, name of the id argument).
RECORD_PAGES = {"device": ("devices.detail", "device_id")}
COMPACT_FIELDS = 4
COMPACT_VALUE_CHARS = 60


def strip(value):
    """Surrounding spaces typed into a filter mean nothing."""
    return value.strip() if isinstance(value, str) else value


class TrailFilterForm(FlaskForm):
    """The trail's filters, read from the query string so a filtered view can be bookmarked."""

    class Meta:
        csrf = False

    table = SelectField(_l("Record type"), validators=[Optional()], validate_choice=False)
    action = SelectField(_l("Action"), validators=[Optional()], validate_choice=False)
    actor = SearchField(_l("Actor"), filters=[strip], validators=[Optional(), Length(max=80)])
    record = StringField(_l("Record id"), filters=[strip], validators=[Optional(), Length(max=60)])
    date_from = DateField(_l("From"), validators=[Optional()])
    date_to = DateField(_l("To"), validators=[Optional()])

    def validate_date_to(self, field) -> None:
        """The end of the period may not lie before its start."""
        if field.data and self.date_from.data and field.data < self.date_from.data:
            raise ValidationError(_("The end date is before the start date."))


@dataclass(frozen=True)
class FieldChange:
    """One field of an event: its value before and after (None when the side does not exist)."""

    name: str
    before: object
    after: object

    @property
    def changed(self) -> bool:
        return self.before != self.after


def audited_tables() -> list[str]:
    """Every table the trail records: the core's in a fixed order, then those of plugins by name."""
    found = {mapper.local_table.name for mapper in db.Model.registry.mappers
             if getattr(mapper.class_, "__audit__", False)}
    return [table for table in RECORD_TYPES if table in found] + sorted(found - set(RECORD_TYPES))


def record_type_label(table: str) -> str:
    """The record type in the user's language (the table name for types the core does not know)."""
    return str(RECORD_TYPES.get(table, table))


def filter_form(args) -> TrailFilterForm:
    """The filter form bound to the query string, with its choices filled in."""
    form = TrailFilterForm(formdata=args)
    form.table.choices = [("", _("All record types"))] + [(t, record_type_label(t)) for t in audited_tables()]
    form.action.choices = [("", _("All actions"))] + [(key, str(label)) for key, label in ACTIONS.items()]
    return form


def local_day_start(day: date, zone: ZoneInfo) -> datetime:
    """The instant (UTC) at which a calendar day begins in the deployment's time zone."""
    return datetime.combine(day, time.min, tzinfo=zone).astimezone(UTC)


def trail_statement(filters: dict, zone: ZoneInfo):
    """Events matching the filters (table, action, actor, record, date_from, date_to), newest first."""
    statement = select(AuditEvent).order_by(AuditEvent.id.desc())
    if filters.get("table"):
        statement = statement.where(AuditEvent.table_name == filters["table"])
    if filters.get("action"):
        statement = statement.where(AuditEvent.action == filters["action"])
    if filters.get("actor"):
        pattern = filters["actor"].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        statement = statement.where(AuditEvent.actor_name.ilike(f"%{pattern}%", escape="\\"))
    if filters.get("record"):
        statement = statement.where(AuditEvent.record_id == filters["record"])
    if filters.get("date_from"):
        statement = statement.where(AuditEvent.at >= local_day_start(filters["date_from"], zone))
    if filters.get("date_to"):
        day_after = filters["date_to"] + timedelta(days=1)
        statement = statement.where(AuditEvent.at < local_day_start(day_after, zone))
    return statement


def visible(statement):
    """Only events of organisations the user may see; events of no organisation only for those who see all."""
    return scoped(statement, AuditEvent.organisation_id)


def field_changes(event: AuditEvent) -> list[FieldChange]:
    """Every field the event recorded, with its before and after values."""
    before, after = event.before or {}, event.after or {}
    names = list(after) + [name for name in before if name not in after]
    return [FieldChange(name, before.get(name), after.get(name)) for name in names]


def has_value(value) -> bool:
    """Whether a recorded value says something (not missing, not an empty text)."""
    return value is not None and value != ""


def compact_changes(event: AuditEvent) -> tuple[list[FieldChange], int]:
    """The few fields worth a glance in a row (non-empty ones of a create or delete), and how many more."""
    changes = [change for change in field_changes(event) if change.name != "id" and (
        event.action == "update" or has_value(change.before) or has_value(change.after))]
    return changes[:COMPACT_FIELDS], max(0, len(changes) - COMPACT_FIELDS)


def shown_value(value, limit: int | None = None) -> str:
    """A value as text: '∅' for none, JSON for empty text, booleans and structures, cut to ``limit``."""
    if value is None:
        return "∅"
    quoted = value == "" or isinstance(value, bool | dict | list)
    text = json.dumps(value, ensure_ascii=False) if quoted else str(value)
    if limit and len(text) > limit:
        return text[: limit - 1] + "…"
    return text


def record_url(event: AuditEvent) -> str | None:
    """The page of the event's record, when the record type has one and the event did not delete it."""
    page = RECORD_PAGES.get(event.table_name)
    if page is None or event.action == "delete" or page[0] not in current_app.view_functions:
        return None
    endpoint, argument = page
    return url_for(endpoint, **{argument: int(event.record_id)}) if event.record_id.isdigit() else None


def timezone() -> ZoneInfo:
    """The deployment's time zone, in which dates are entered and times shown."""
    return ZoneInfo(current_app.config["PORTAL_TIMEZONE"])


def trail_context(args) -> dict:
    """The filter form and one page of the visible, filtered trail."""
    form = filter_form(args)
    valid = form.validate()
    filters = form.data if valid else {}
    statement = visible(trail_statement(filters, timezone()))
    page = paginate(statement, page_number(args.get("page")), current_app.config["PORTAL_PAGE_SIZE"])
    return {"form": form, "page": page, "filtered": valid and any(filters.values()), "invalid": not valid}


def page_helpers() -> dict:
    """Functions the templates use to show events."""
    return {"compact_changes": compact_changes, "field_changes": field_changes, "shown_value": shown_value,
            "record_url": record_url, "record_type_label": record_type_label, "actions": ACTIONS,
            "value_chars": COMPACT_VALUE_CHARS, "fragment": wants_fragment()}


@bp.route("/")
@permission_required("audit.view")
def index():
    """The audit trail, newest first, filtered by record type, action, actor, record and dates."""
    return render("audit/index.html", block="trail", **trail_context(request.args), **page_helpers())


@bp.route("/events/<int:event_id>")
@permission_required("audit.view")
def event(event_id: int):
    """One event with every recorded value before and after, and its place in the hash chain."""
    shown = get_visible_or_404(AuditEvent, event_id)
    organisation = db.session.get(Organisation, shown.organisation_id) if shown.organisation_id else None
    return render("audit/event.html", event=shown, organisation=organisation, **page_helpers())


@bp.route("/verify", methods=["POST"])
@permission_required("audit.view")
def verify():
    """Verify the whole hash chain and show whether it is intact or where it was altered."""
    return render("audit/verify.html", block="verify_result", report=verify_chain(db.session))
