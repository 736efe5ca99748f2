"""The logic behind plugin forms: which forms a user may fill, for which organisations, and the
submissions they store. No Flask request in here; organisation scoping goes through ``portal.auth.scoping``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import format_datetime
from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from portal.auth.scoping import scoped, visible_organisations
from portal.devices.models import Device
from portal.extensions import db
from portal.forms import builder
from portal.forms.models import FormSubmission
from portal.plugins import InstalledPlugin, registry
from portal.specs import FieldSpec, FormSpec, MenuItem

DEVICE_SUGGESTIONS = 500


# --- time in the deployment's zone ------------------------------------------------------------------------


def local_zone() -> ZoneInfo:
    """The deployment's time zone (PORTAL_TIMEZONE)."""
    return ZoneInfo(current_app.config["PORTAL_TIMEZONE"])


def local_now() -> datetime:
    """The current time in the deployment's zone."""
    return datetime.now(local_zone())


def local_today() -> date:
    """Today's date in the deployment's zone (a FieldSpec default can be this function)."""
    return local_now().date()


def start_of_local_day(day: date) -> datetime:
    """The instant a local calendar day starts, timezone-aware."""
    return datetime.combine(day, time.min, tzinfo=local_zone())


# --- which forms, for whom --------------------------------------------------------------------------------


def get_spec(plugin: str, form_id: str) -> FormSpec | None:
    """An enabled plugin's form spec, or None (unknown, or the plugin is disabled)."""
    return registry().forms.get((plugin, form_id))


def plugin_standard_ids(plugin: str) -> frozenset[str]:
    """The ids of the standards a plugin contributes (empty when it contributes none)."""
    for impl in registry().hook.portal_standards.get_hookimpls():
        if impl.plugin_name == plugin:
            return frozenset(standard.id for standard in impl.function() or ())
    return frozenset()


def may_fill(user, spec: FormSpec) -> bool:
    """Whether the user's role may fill the form (it holds form.submit and is one of the spec's roles)."""
    return user.can("form.submit") and user.role in spec.roles


def eligible_organisations(spec: FormSpec) -> list:
    """The active organisations the current user may see that the form's plugin governs (every visible
    one when the plugin contributes no standard), as ``scoping.visible_organisations`` rows."""
    standards = plugin_standard_ids(spec.plugin)
    return [organisation for organisation in visible_organisations()
            if not standards or organisation.standard in standards]


def form_menu_items(user, plugin: str, labels: dict[str, str], order: int = 50) -> list[MenuItem]:
    """Menu links to a plugin's forms, only for users who may fill them for some organisation."""
    items = []
    for form_id, label in labels.items():
        spec = get_spec(plugin, form_id)
        if spec is not None and may_fill(user, spec) and eligible_organisations(spec):
            items.append(MenuItem(label, "forms.fill", "form.submit", {"plugin": plugin, "form_id": form_id},
                                  order))
    return items


@dataclass(frozen=True)
class FormEntry:
    """A form on the forms page: its spec, whether the user may fill it and how many submissions they see."""

    spec: FormSpec
    fillable: bool
    submissions: int


@dataclass(frozen=True)
class FormGroup:
    """The forms of one plugin."""

    plugin: InstalledPlugin
    forms: list[FormEntry]


def submission_counts() -> dict[tuple[str, str], int]:
    """Visible submissions per (plugin, form id)."""
    statement = select(FormSubmission.plugin, FormSubmission.form_id, func.count()).group_by(
        FormSubmission.plugin, FormSubmission.form_id)
    rows = db.session.execute(scoped(statement, FormSubmission.organisation_id)).all()
    return {(plugin, form_id): count for plugin, form_id, count in rows}


def form_groups(user) -> list[FormGroup]:
    """The enabled plugins' forms used by an organisation the user may see, grouped by plugin."""
    counts = submission_counts()
    groups = []
    for name, plugin in registry().installed.items():
        specs = [spec for (owner, _form_id), spec in registry().forms.items() if owner == name]
        entries = [FormEntry(spec, may_fill(user, spec), counts.get((name, spec.id), 0))
                   for spec in specs if eligible_organisations(spec)]
        if entries:
            groups.append(FormGroup(plugin, entries))
    return groups


# --- building and storing --------------------------------------------------------------------------------


def find_visible_device(code: str) -> Device | None:
    """The device with this code, when the current user may see it."""
    return db.session.scalar(scoped(select(Device).where(Device.code == code), Device.organisation_id))


def device_suggestions(organisations: list) -> list[str]:
    """Codes of the organisations' devices in use, offered as suggestions in device fields."""
    organisation_ids = [org.id for org in organisations] or [-1]
    statement = (select(Device.code)
                 .where(Device.organisation_id.in_(organisation_ids), Device.status != "retired")
                 .order_by(Device.code).limit(DEVICE_SUGGESTIONS))
    return list(db.session.scalars(scoped(statement, Device.organisation_id)))


def make_form(spec: FormSpec, organisations: list, **kwargs) -> builder.SpecForm:
    """The spec's form with the organisation choices and the device lookup of the current user."""
    form_class = builder.form_class(spec)
    return form_class(organisations=[(org.id, org.name) for org in organisations],
                      find_device=find_visible_device, **kwargs)


def save_submission(form: builder.SpecForm, user) -> FormSubmission:
    """Store a validated form as a FormSubmission (the audit trail records it)."""
    device = builder.first_device(form)
    submission = FormSubmission(
        plugin=form.spec.plugin, form_id=form.spec.id, organisation_id=form.organisation.data,
        device_id=device.id if device else None, user_id=user.id,
        data=builder.form_data(form, local_zone()),
    )
    db.session.add(submission)
    db.session.commit()
    return submission


# --- reading submissions ----------------------------------------------------------------------------------


def submissions_statement(spec: FormSpec):
    """The visible submissions of a form, newest first."""
    statement = (select(FormSubmission)
                 .where(FormSubmission.plugin == spec.plugin, FormSubmission.form_id == spec.id)
                 .options(joinedload(FormSubmission.organisation), joinedload(FormSubmission.user))
                 .order_by(FormSubmission.submitted_at.desc(), FormSubmission.id.desc()))
    return scoped(statement, FormSubmission.organisation_id)


def get_submission(spec: FormSpec, submission_id: int) -> FormSubmission | None:
    """One visible submission of this form, or None (another organisation's, another form's, or none)."""
    statement = submissions_statement(spec).where(FormSubmission.id == submission_id)
    return db.session.scalar(statement)


def display_value(spec: FieldSpec, value) -> str:
    """A stored value as a person reads it: choice labels, yes/no, local times; '—' when empty."""
    if value is None or value == "":
        return "—"
    if spec.type == "choice":
        return str(dict(spec.choices).get(value, value))
    if spec.type == "boolean":
        return _("Yes") if value else _("No")
    if spec.type == "datetime":
        return format_datetime(datetime.fromisoformat(value), "yyyy-MM-dd HH:mm")
    return str(value)


def display_rows(spec: FormSpec, data: dict) -> list[tuple[str, str]]:
    """(label, value) for every field of the spec, then any stored key the spec no longer declares."""
    rows = [(str(field.label), display_value(field, data.get(field.name))) for field in spec.fields]
    declared = {field.name for field in spec.fields}
    rows += [(key, "—" if value in (None, "") else str(value)) for key, value in data.items()
             if key not in declared]
    return rows


def summary_fields(spec: FormSpec, count: int = 3) -> tuple[FieldSpec, ...]:
    """The first fields of a spec, shown as columns of the submissions list."""
    return spec.fields[:count]
