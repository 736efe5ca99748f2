"""The campus card plugin's home-page panel, built from the visible organisations' data only."""

from __future__ import annotations

from flask import url_for
from flask_babel import gettext as _
from sqlalchemy import select

from plugins.campus_card.formspecs import CHECK_SLOTS, MONITORING_CHECK
from plugins.campus_card.tables import NAME
from portal.extensions import db
from portal.forms.models import FormSubmission
from portal.forms.services import local_today, start_of_local_day
from portal.orgs.models import Organisation
from portal.specs import DashboardPanel


def campus_organisations(organisation_ids) -> list[Organisation]:
    """The active campus-card organisations among those visible (None: all), by name."""
    statement = (select(Organisation).where(Organisation.standard == NAME, Organisation.active.is_(True))
                 .order_by(Organisation.name))
    if organisation_ids is not None:
        statement = statement.where(Organisation.id.in_(organisation_ids or [-1]))
    return list(db.session.scalars(statement))


def todays_checks(organisation_ids: list[int]) -> dict[tuple[int, str], bool]:
    """Today's recorded checks per (organisation, slot): True when every one found the system normal."""
    today = local_today()
    statement = select(FormSubmission.organisation_id, FormSubmission.data).where(
        FormSubmission.plugin == NAME, FormSubmission.form_id == MONITORING_CHECK.id,
        FormSubmission.organisation_id.in_(organisation_ids),
        FormSubmission.submitted_at >= start_of_local_day(today))
    checks: dict[tuple[int, str], bool] = {}
    for organisation_id, data in db.session.execute(statement):
        if data.get("check_date") == today.isoformat():
            key = (organisation_id, data.get("check_slot"))
            checks[key] = checks.get(key, True) and data.get("system_normal") == "yes"
    return checks


def check_state(checks: dict, organisation_id: int, slot: str) -> str:
    """Whether a slot's check is done today, and whether it found a fault."""
    if (organisation_id, slot) not in checks:
        return _("Not done yet")
    return _("Done") if checks[(organisation_id, slot)] else _("Done, fault found")


def monitoring_panel(organisations: list[Organisation]) -> DashboardPanel:
    """CC-4.3: today's 09:00 and 15:00 monitoring-system checks, per organisation."""
    checks = todays_checks([org.id for org in organisations])
    rows = tuple(
        (slot if len(organisations) == 1 else f"{org.name} · {slot}", check_state(checks, org.id, slot))
        for org in organisations for slot, _label in CHECK_SLOTS
    )
    link = url_for("forms.submissions", plugin=NAME, form_id=MONITORING_CHECK.id)
    return DashboardPanel("campus-monitoring", _("Today's monitoring checks"), rows, _("All checks"), link,
                          "CC-4.3")


def panels(user, organisation_ids) -> list[DashboardPanel]:
    """The monitoring panel, for users who may see forms and some campus-card organisation."""
    organisations = campus_organisations(organisation_ids)
    if not organisations or not user.can("form.view"):
        return []
    return [monitoring_panel(organisations)]
