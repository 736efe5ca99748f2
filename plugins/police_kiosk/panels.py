"""The police kiosk plugin's home-page panels, built from the visible organisations' data only."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from flask import url_for
from flask_babel import gettext as _
from sqlalchemy import func, select

from plugins.police_kiosk.formspecs import FEEDBACK_TYPES, PROBLEM_FEEDBACK
from plugins.police_kiosk.tables import FAR_DISTANCE_KM, NAME
from portal.devices.models import Device
from portal.extensions import db
from portal.forms.models import FormSubmission
from portal.orgs.models import Contract, Organisation
from portal.specs import DashboardPanel
from portal.types import utcnow

FEEDBACK_DAYS = 30


def police_organisation_ids(organisation_ids) -> list[int]:
    """The police-kiosk organisations among those visible (None: all)."""
    statement = select(Organisation.id).where(Organisation.standard == NAME)
    if organisation_ids is not None:
        statement = statement.where(Organisation.id.in_(organisation_ids or [-1]))
    return list(db.session.scalars(statement))


def far_kiosk_counts(organisation_ids: list[int]) -> tuple[int, int]:
    """Kiosks in use at FAR_DISTANCE_KM or more from their service point, and how many of them lie with
    organisations whose contract sets no on-site deadline for them."""
    far = (select(func.count()).select_from(Device)
           .where(Device.organisation_id.in_(organisation_ids), Device.status != "retired",
                  Device.distance_km >= FAR_DISTANCE_KM))
    agreed = select(Contract.organisation_id).where(Contract.standard == NAME,
                                                    Contract.far_arrival_hours.is_not(None))
    total = db.session.scalar(far)
    without_deadline = db.session.scalar(far.where(Device.organisation_id.not_in(agreed)))
    return total, without_deadline


def far_kiosks_panel(organisation_ids: list[int]) -> DashboardPanel:
    """PK-5.1: kiosks whose on-site arrival is 'per contract', not the 2 h of Table 1."""
    total, without_deadline = far_kiosk_counts(organisation_ids)
    rows = (
        (_("Kiosks %(km)s km or more from their service point", km=FAR_DISTANCE_KM), str(total)),
        (_("… of them with no on-site deadline in the contract"), str(without_deadline)),
    )
    return DashboardPanel("police-far-kiosks", _("On-site arrival per contract"), rows, clause="PK-5.1")


def recent_feedback_types(organisation_ids: list[int]) -> Counter:
    """Problem feedback received in the last FEEDBACK_DAYS days, counted by type."""
    since = utcnow() - timedelta(days=FEEDBACK_DAYS)
    statement = select(FormSubmission.data).where(
        FormSubmission.plugin == NAME, FormSubmission.form_id == PROBLEM_FEEDBACK.id,
        FormSubmission.organisation_id.in_(organisation_ids), FormSubmission.submitted_at >= since)
    return Counter(data.get("feedback_type") for data in db.session.scalars(statement))


def feedback_panel(organisation_ids: list[int]) -> DashboardPanel:
    """PK-7.5: problems the desk received lately, by type."""
    by_type = recent_feedback_types(organisation_ids)
    rows = ((_("Received in the last %(days)s days", days=FEEDBACK_DAYS), str(sum(by_type.values()))),)
    rows += tuple((str(label), str(by_type.get(type_id, 0))) for type_id, label in FEEDBACK_TYPES)
    link = url_for("forms.submissions", plugin=NAME, form_id=PROBLEM_FEEDBACK.id)
    return DashboardPanel("police-feedback", _("Problem feedback"), rows, _("All problem feedback"), link,
                          "PK-7.5")


def panels(user, organisation_ids) -> list[DashboardPanel]:
    """The panels this user may see, for the police-kiosk organisations among the visible ones."""
    police_ids = police_organisation_ids(organisation_ids)
    if not police_ids:
        return []
    built = []
    if user.can("device.view"):
        built.append(far_kiosks_panel(police_ids))
    if user.can("form.view"):
        built.append(feedback_panel(police_ids))
    return built
