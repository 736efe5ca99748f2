"""The desk's forms and the words it shows for steps, events and clocks."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, RadioField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import Length, Optional

from portal.devices.services import PUBLIC_ACTOR
from portal.sla.sweep import ACTOR as SWEEP_ACTOR
from portal.workorders.models import CHANNELS, SERVICE_TYPES, STEP_LABELS  # noqa: F401 (re-exported)
from portal.workorders.services import STEPS

EVENT_LABELS = {
    "report": _l("Reported"),
    "accept": _l("Accepted"),
    "respond": _l("Responded"),
    "arrive": _l("Arrived on site"),
    "resolve": _l("Resolved"),
    "follow_up": _l("Followed up"),
    "close": _l("Closed"),
    "pause": _l("Paused"),
    "resume": _l("Resumed"),
    "extend": _l("Deadline extended"),
    "spare_provided": _l("Spare unit provided"),
    "factory_out": _l("Sent to the factory"),
    "factory_back": _l("Back from the factory"),
    "reopen": _l("Reopened"),
    "assign": _l("Assigned"),
    "severity": _l("Severity changed"),
    "breach": _l("Deadline breached"),
}
# Who did a step when no person did (the sweep, a QR code report): the names the timeline shows for them.
ACTOR_LABELS = {
    SWEEP_ACTOR: _l("System"),
    PUBLIC_ACTOR: _l("QR code report"),
}
CLOCK_LABELS = {
    "response": _l("Response"),
    "arrival": _l("Arrival on site"),
    "repair": _l("Repair"),
    "factory": _l("Return from the factory"),
}
CLOCK_STATE_LABELS = {
    "running": _l("Running"),
    "met": _l("Met"),
    "breached": _l("Breached"),
    "paused": _l("Paused"),
    "none": _l("Not applicable"),
    "not_started": _l("Not started"),
    "per_contract": _l("Per contract"),
    "remote": _l("Remote service"),
}
MAIN_STEPS = ("accept", "respond", "arrive", "resolve", "follow_up", "close")
STEP_INPUTS = {
    "pause": ("reason",),
    "extend": ("hours", "approved_by", "reason"),
    "reopen": ("reason",),
    "assign": ("assignee",),
}


def choices(pairs, blank=None) -> list[SelectChoice]:
    """Select choices from (value, label) pairs, with an optional first blank choice."""
    found = [SelectChoice(value="", label=blank)] if blank is not None else []
    return found + [SelectChoice(value=str(value), label=label) for value, label in pairs]


class QuickLogForm(FlaskForm):
    """A phone report logged by the desk in one go. The lifecycle service validates the order's facts;
    this form only checks that choices are among those offered."""

    device_query = StringField(_l("Device code or address"), validators=[Optional(), Length(max=300)],
                               description=_l("Type part of the code or the address and pick the device."))
    device_id = HiddenField()
    organisation = SelectField(_l("Organisation"), validate_choice=False)
    service_type = SelectField(_l("Service type"), default="repair",
                               choices=choices(SERVICE_TYPES.items()))
    channel = SelectField(_l("Channel"), default="phone", choices=choices(CHANNELS.items()))
    summary = StringField(_l("Summary"), validators=[Length(max=200)])
    description = TextAreaField(_l("Description"), validators=[Length(max=5000)])
    affected_terminals = StringField(_l("Affected terminals"), validators=[Length(max=10)],
                                     render_kw={"inputmode": "numeric"})
    affected_cardholders = StringField(_l("Affected cardholders"), validators=[Length(max=10)],
                                       render_kw={"inputmode": "numeric"})
    cause = SelectField(_l("Cause"), default="", validate_choice=False)
    severity = SelectField(_l("Severity"), default="", validate_choice=False,
                           description=_l("Leave on automatic when the standard classifies from the facts."))
    mode = RadioField(_l("Service"), default="onsite",
                      choices=choices([("onsite", _l("On site")), ("remote", _l("Remote"))]))

    FIELD_OF_ERROR = {"device": "device_query", "organisation": "organisation"}

    def fill(self, organisations, standards) -> None:
        """Offer the visible organisations and every enabled standard's severities and causes."""
        self.organisation.choices = choices(((org.id, org.name) for org in organisations), _l("Choose…"))
        self.severity.choices = [SelectChoice(value="", label=str(_l("Automatic")))] + [
            SelectChoice(value=row.id, label=str(row.label), optgroup=str(standard.title))
            for standard in standards for row in standard.severities
        ]
        self.cause.choices = [SelectChoice(value="", label=str(_l("Not given")))] + [
            SelectChoice(value=cause_id, label=str(label), optgroup=str(standard.title))
            for standard in standards for cause_id, label in standard.causes
        ]

    def add_errors(self, errors: dict) -> list[str]:
        """Put the lifecycle's field errors next to their fields; return those that have no field."""
        left = []
        for name, message in errors.items():
            target = getattr(self, self.FIELD_OF_ERROR.get(name, name), None)
            if target is None or name == "reported_at":
                left.append(message)
            else:
                target.errors = [*target.errors, message]
        return left


class SeverityForm(FlaskForm):
    """A person changes an order's severity, with the reason (recorded on the timeline)."""

    severity = SelectField(_l("New severity"), validate_choice=False)
    reason = StringField(_l("Reason"), validators=[Length(max=500)])

    def fill(self, standard) -> None:
        """Offer the severities of the order's standard."""
        self.severity.choices = choices((row.id, row.label) for row in standard.severities)


def step_allowed(order, name: str, standard) -> bool:
    """Whether the order's status and facts allow a step (the buttons the page offers)."""
    allowed = STEPS[name].allowed_from
    if name == "close" and standard is not None and standard.follow_up_required:
        allowed = ("followed_up",)
    at_factory = order.factory_out_at is not None and order.factory_back_at is None
    rules = {
        "factory_out": standard is not None and standard.factory_hours is not None and not at_factory,
        "factory_back": at_factory,
        "spare_provided": order.spare_provided_at is None,
    }
    return order.status in allowed and rules.get(name, True)


def allowed_steps(order, standard, user) -> list[str]:
    """The steps the user may take on the order now; dispatching (assign) is the desk's."""
    if not user.can("order.step"):
        return []
    names = [name for name in STEPS if step_allowed(order, name, standard)]
    return [name for name in names if name != "assign" or user.can("order.manage")]
