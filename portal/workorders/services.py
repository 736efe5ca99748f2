"""The work-order lifecycle: creation, steps, severity and clocks. No Flask request in here."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from flask_babel import gettext as _
from sqlalchemy import inspect
from sqlalchemy.orm.attributes import set_committed_value

from portal.auth.roles import ADMIN, CLERK, ENGINEER, REQUESTER
from portal.database import insert_new, insert_rows
from portal.devices.models import Device
from portal.extensions import db
from portal.orgs.models import Contract, Organisation
from portal.plugins import registry
from portal.sla import engine
from portal.types import utcnow
from portal.workorders.models import (
    CHANNELS,
    CLOCK_NAMES,
    OPEN_STATUSES,
    SERVICE_TYPES,
    STATUSES,
    STEP_LABELS,
    WorkOrder,
    WorkOrderEvent,
)

ACTIVE = ("accepted", "responded", "on_site")
MAX_FUTURE = timedelta(minutes=5)


class WorkflowError(Exception):
    """A request the lifecycle refuses: ``code`` for machines, ``message`` for people, ``fields`` per field."""

    def __init__(self, code: str, message: str, fields: dict | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.fields = fields or {}


class IllegalStep(WorkflowError):
    """A step that the order's current status does not allow (HTTP 409)."""


@dataclass(frozen=True)
class Step:
    """A lifecycle step: the statuses it may start from and the status it leads to (None: unchanged)."""

    allowed_from: tuple[str, ...]
    to: str | None


STEPS = {
    "accept": Step(("reported",), "accepted"),
    "respond": Step(("accepted",), "responded"),
    "arrive": Step(("accepted", "responded"), "on_site"),
    "resolve": Step(("responded", "on_site"), "resolved"),
    "follow_up": Step(("resolved",), "followed_up"),
    "close": Step(("resolved", "followed_up"), "closed"),
    "pause": Step(ACTIVE, "paused"),
    "resume": Step(("paused",), None),
    "extend": Step(ACTIVE, None),
    "spare_provided": Step(ACTIVE, None),
    "factory_out": Step(("responded", "on_site"), None),
    "factory_back": Step(("responded", "on_site"), None),
    "reopen": Step(("resolved", "followed_up", "closed"), "accepted"),
    "assign": Step(("reported", *ACTIVE, "paused"), None),
}
STEP_TIMESTAMP = {
    "accept": "accepted_at", "respond": "responded_at", "arrive": "arrived_at", "resolve": "resolved_at",
    "follow_up": "followed_up_at", "close": "closed_at", "spare_provided": "spare_provided_at",
    "factory_out": "factory_out_at", "factory_back": "factory_back_at",
}


@dataclass
class NewOrder:
    """The fields of a work order as a person or a system gives them (strings allowed; validated here)."""

    organisation: Organisation
    summary: str
    device: Device | None = None
    service_type: str | None = None
    channel: str | None = None
    description: str = ""
    severity: str | None = None
    affected_terminals: object = None
    affected_cardholders: object = None
    cause: str | None = None
    remote: bool = False
    reported_at: datetime | None = None
    alarm_code: str | None = None
    errors: dict = field(default_factory=dict)


def standard_of(order_or_org):
    """The enabled Standard governing an order or organisation (None when its plugin is disabled)."""
    return registry().standard(order_or_org.standard)


def active_contract(organisation: Organisation, on: date | None = None) -> Contract | None:
    """The organisation's contract in force on a day (the newest when several are), chosen among its
    contracts (read unless the caller loaded them with the organisation)."""
    on = on or date.today()
    in_force = [contract for contract in organisation.contracts
                if contract.starts_on <= on and (contract.ends_on is None or contract.ends_on >= on)]
    return max(in_force, key=lambda contract: (contract.starts_on, contract.id), default=None)


def count(value, name: str, errors: dict) -> int | None:
    """A non-negative whole number or None; records an error for anything else."""
    if value in (None, ""):
        return None
    try:
        number = int(str(value).strip())
    except ValueError:
        number = -1
    if number < 0 or isinstance(value, bool | float):
        errors[name] = _("Enter a whole number of 0 or more.")
        return None
    return number


def classify(standard, terminals: int | None, cardholders: int | None, cause: str | None):
    """The plugin's severity decision for these facts (None: a person chooses)."""
    facts = {"affected_terminals": terminals, "affected_cardholders": cardholders, "cause": cause or None}
    return registry().hook.portal_classify_severity(standard=standard.id, facts=facts)


def decide_severity(standard, new: NewOrder, terminals, cardholders) -> tuple[str | None, str, bool]:
    """Severity, reason and whether a person chose it; records an error when none can be had."""
    decision = classify(standard, terminals, cardholders, new.cause)
    if new.severity:
        if new.severity not in {row.id for row in standard.severities}:
            new.errors["severity"] = _("Unknown severity for this standard.")
            return None, "", True
        if decision is not None and decision.severity != new.severity and not standard.manual_severity:
            new.errors["severity"] = _("This standard computes the severity; it cannot be chosen by hand.")
            return None, "", True
        if decision is None or decision.severity != new.severity:
            return new.severity, _("Chosen by a person."), True
    if decision is not None:
        return decision.severity, decision.reason, False
    if new.alarm_code and standard.alarm_severity:
        return standard.alarm_severity, _("Default severity for monitoring alarms; please confirm."), False
    new.errors["severity"] = _("Choose a severity: the facts given do not decide it.")
    return None, "", True


def validate_new(new: NewOrder, now: datetime):
    """Check a new order's fields; return (standard, counts) or raise WorkflowError with field errors."""
    errors = new.errors
    standard = standard_of(new.organisation)
    if standard is None:
        raise WorkflowError("standard_disabled", _("The standard governing this organisation is not enabled."))
    summary = (new.summary or "").strip()
    if not summary:
        errors["summary"] = _("A summary is required.")
    elif len(summary) > 200:
        errors["summary"] = _("At most 200 characters.")
    new.summary = summary
    new.service_type = new.service_type or "repair"
    if new.service_type not in SERVICE_TYPES or new.service_type not in standard.service_types:
        errors["service_type"] = _("This service type is not offered under this standard.")
    new.channel = new.channel or "phone"
    if new.channel not in CHANNELS:
        errors["channel"] = _("Unknown channel.")
    if new.device is not None and new.device.organisation_id != new.organisation.id:
        errors["device"] = _("This device belongs to another organisation.")
    if new.reported_at is not None and new.reported_at > now + MAX_FUTURE:
        errors["reported_at"] = _("The report time cannot be in the future.")
    terminals = count(new.affected_terminals, "affected_terminals", errors)
    cardholders = count(new.affected_cardholders, "affected_cardholders", errors)
    if not errors:
        severity = decide_severity(standard, new, terminals, cardholders)
    if errors:
        raise WorkflowError("invalid", _("Please correct the marked fields."), dict(errors))
    return standard, terminals, cardholders, severity


def accepted_on_creation(new: NewOrder, actor) -> bool:
    """Orders the desk or a system logs are accepted when logged; a requester's waits for the desk."""
    if actor is None:
        return new.channel in ("monitoring", "system")
    return actor.role in (ADMIN, CLERK, ENGINEER)


def create_order(new: NewOrder, actor, now: datetime | None = None) -> WorkOrder:
    """Validate and log a new order, start its clocks; raises WorkflowError listing bad fields."""
    now = now or utcnow()
    standard, terminals, cardholders, (severity, reason, manual) = validate_new(new, now)
    reported_at = new.reported_at or now
    contract = active_contract(new.organisation, reported_at.date())
    order = WorkOrder(
        standard=standard.id,
        service_type=new.service_type, channel=new.channel, summary=new.summary,
        description=(new.description or "").strip(), severity=severity, severity_reason=reason,
        severity_manual=manual, affected_terminals=terminals, affected_cardholders=cardholders,
        cause=(new.cause or None), remote=bool(new.remote), alarm_code=new.alarm_code,
        status="reported", reported_at=reported_at, created_by_id=getattr(actor, "id", None),
    )
    subjects = {"organisation": new.organisation, "contract": contract, "device": new.device}
    stored_first([record for record in subjects.values() if record is not None])
    for name, record in subjects.items():
        setattr(order, f"{name}_id", record.id if record is not None else None)
    events = [new_event("report", reported_at, actor, to_status="reported", note=order.description)]
    if accepted_on_creation(new, actor):
        order.status, order.accepted_at = "accepted", reported_at
        events.append(new_event("accept", reported_at, actor, from_status="reported", to_status="accepted"))
    recompute(order, now, order_facts(order, new.device, contract))
    insert_new(order)
    for event in events:
        event.work_order_id = order.id
    insert_rows(events)
    for name, record in subjects.items():
        set_committed_value(order, name, record)
    return order


def stored_first(records: list) -> None:
    """Store the records not stored yet (an organisation or device made in the same transaction), so that
    a new order can refer to them by key."""
    unsaved = [record for record in records if inspect(record).key is None]
    if unsaved:
        db.session.add_all(unsaved)
        db.session.flush()


def new_event(event_type: str, at: datetime, actor, **values) -> WorkOrderEvent:
    """A step for an order's timeline, by whom and when."""
    return WorkOrderEvent(type=event_type, at=at, actor_id=getattr(actor, "id", None),
                          actor_name=getattr(actor, "username", None) or str(actor or "system"), **values)


def add_event(order: WorkOrder, event_type: str, at: datetime, actor, **values) -> WorkOrderEvent:
    """Append a step to the order's timeline."""
    event = new_event(event_type, at, actor, **values)
    order.events.append(event)
    return event


def last_event_time(order: WorkOrder) -> datetime:
    """The time of the order's latest step."""
    return max((event.at for event in order.events), default=order.reported_at)


def check_time(order: WorkOrder, at: datetime | None, now: datetime) -> datetime:
    """A step's time: given or now, never before the previous step nor in the future."""
    at = at or now
    if at > now + MAX_FUTURE:
        raise WorkflowError("invalid", _("A step cannot be dated in the future."),
                            {"at": _("A step cannot be dated in the future.")})
    if at < last_event_time(order):
        raise WorkflowError("invalid", _("A step cannot be dated before the previous step."),
                            {"at": _("A step cannot be dated before the previous step.")})
    return at


def check_allowed(order: WorkOrder, step_name: str, standard) -> Step:
    """The step, if the order's status allows it; IllegalStep otherwise."""
    step = STEPS.get(step_name)
    if step is None:
        raise WorkflowError("invalid", _("Unknown step."), {"type": _("Unknown step.")})
    allowed = step.allowed_from
    if step_name == "close" and standard is not None and standard.follow_up_required:
        allowed = ("followed_up",)
    if order.status not in allowed:
        raise IllegalStep("illegal_step", _("The step “%(step)s” is not allowed while the order is %(status)s.",
                                            step=STEP_LABELS[step_name], status=STATUSES[order.status]))
    return step


def decimal_hours(value) -> Decimal | None:
    """Positive hours as a Decimal, or None."""
    try:
        hours = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return hours if hours.is_finite() and 0 < hours <= 24 * 365 else None


def requester_approver(order: WorkOrder, actor, approved_by):
    """The requester-side user approving an extension (PK-5.1): the actor when requester-side, else approved_by."""
    for person in (actor, approved_by):
        if person is not None and person.role == REQUESTER and person.organisation_id == order.organisation_id:
            return person
    return None


def check_step_rules(order: WorkOrder, step_name: str, values: dict, actor) -> dict:
    """Per-step rules beyond the status (reasons, hours, approvals, factory state); extra event values."""
    reason = (values.get("reason") or "").strip()
    if step_name in ("pause", "extend", "reopen") and not reason:
        raise WorkflowError("invalid", _("A reason is required."), {"reason": _("A reason is required.")})
    extra: dict = {"reason": reason}
    if step_name == "extend":
        hours = decimal_hours(values.get("hours"))
        if hours is None:
            raise WorkflowError("invalid", _("Give the extension in hours (more than 0)."),
                                {"hours": _("Give the extension in hours (more than 0).")})
        approver = requester_approver(order, actor, values.get("approved_by"))
        if approver is None:
            raise WorkflowError("invalid", _("An extension needs the approval of a requester-side user."),
                                {"approved_by": _("An extension needs the approval of a requester-side user.")})
        extra.update(hours=hours, approved_by_id=approver.id)
    if step_name == "factory_out" and order.factory_out_at is not None and order.factory_back_at is None:
        raise IllegalStep("illegal_step", _("The device is already at the factory."))
    if step_name == "factory_back" and (order.factory_out_at is None or order.factory_back_at is not None):
        raise IllegalStep("illegal_step", _("The device was not sent to the factory."))
    if step_name == "spare_provided" and order.spare_provided_at is not None:
        raise IllegalStep("illegal_step", _("A spare unit was already provided."))
    if step_name == "assign":
        extra["data"] = {"assignee": check_assignee(order, values.get("assignee"))}
    return extra


def check_assignee(order: WorkOrder, assignee) -> int:
    """PK-4.1: only the contracted provider's own engineers may take an order (no subcontracting)."""
    provider_id = order.contract.provider_id if order.contract else None
    if assignee is None or assignee.role != ENGINEER or not assignee.active or \
            provider_id is None or assignee.provider_id != provider_id:
        raise WorkflowError("invalid", _("Assign the order to an engineer of the contracted provider."),
                            {"assignee": _("Assign the order to an engineer of the contracted provider.")})
    return assignee.id


def apply_step(order: WorkOrder, step_name: str, actor, at: datetime | None = None, note: str = "",
               now: datetime | None = None, **values) -> WorkOrderEvent:
    """Move an order one step (or record a side step); raises IllegalStep or WorkflowError."""
    now = now or utcnow()
    standard = standard_of(order)
    step = check_allowed(order, step_name, standard)
    at = check_time(order, at, now)
    extra = check_step_rules(order, step_name, values, actor)
    from_status = order.status
    to_status = transition(order, step_name, step, at, extra)
    event = add_event(order, step_name, at, actor, from_status=from_status, to_status=to_status,
                      note=(note or "").strip(), **extra)
    recompute(order, now)
    return event


def transition(order: WorkOrder, step_name: str, step: Step, at: datetime, extra: dict) -> str:
    """Change the order's status and timestamps for a step; return the new status."""
    if step_name in STEP_TIMESTAMP:
        setattr(order, STEP_TIMESTAMP[step_name], at)
    if step_name == "pause":
        order.status_before_pause, order.paused_at = order.status, at
    elif step_name == "resume":
        order.status, order.paused_at = order.status_before_pause or "accepted", None
        order.status_before_pause = None
        return order.status
    elif step_name == "reopen":
        order.resolved_at = order.followed_up_at = order.closed_at = None
        order.repair_seconds = None
    elif step_name == "assign":
        order.assignee_id = extra["data"]["assignee"]
    if step_name == "factory_out":
        order.factory_back_at = None
    order.status = step.to or order.status
    return order.status


def change_severity(order: WorkOrder, severity: str, reason: str, actor, now: datetime | None = None):
    """A person changes the severity: deadlines are recomputed and the change is on the timeline."""
    standard = standard_of(order)
    now = now or utcnow()
    if standard is None or severity not in {row.id for row in standard.severities}:
        raise WorkflowError("invalid", _("Unknown severity for this standard."),
                            {"severity": _("Unknown severity for this standard.")})
    if not standard.manual_severity:
        raise WorkflowError("invalid", _("This standard computes the severity; it cannot be chosen by hand."))
    if not (reason or "").strip():
        raise WorkflowError("invalid", _("A reason is required."), {"reason": _("A reason is required.")})
    previous = order.severity
    order.severity, order.severity_reason, order.severity_manual = severity, reason.strip(), True
    add_event(order, "severity", now, actor, from_status=order.status, to_status=order.status,
              reason=reason.strip(), data={"from": previous, "to": severity})
    recompute(order, now)


def facts_of(order: WorkOrder) -> engine.OrderFacts:
    """The engine's view of an order: its times, distance, contract figures, pauses and extensions."""
    return order_facts(order, order.device, order.contract)


def order_facts(order: WorkOrder, device: Device | None, contract: Contract | None) -> engine.OrderFacts:
    """The engine's view of an order with this device and contract (given: a new order has only their keys)."""
    pauses, open_pause = [], None
    extensions = []
    for event in order.events:
        if event.type == "pause":
            open_pause = event.at
        elif event.type == "resume" and open_pause is not None:
            pauses.append(engine.Interval(open_pause, event.at))
            open_pause = None
        elif event.type == "extend" and event.hours is not None:
            extensions.append(engine.Extension(event.at, Decimal(event.hours)))
    if open_pause is not None:
        pauses.append(engine.Interval(open_pause, None))
    return engine.OrderFacts(
        severity=order.severity, reported_at=order.reported_at, accepted_at=order.accepted_at,
        responded_at=order.responded_at, arrived_at=order.arrived_at, resolved_at=order.resolved_at,
        factory_out_at=order.factory_out_at, factory_back_at=order.factory_back_at, remote=order.remote,
        distance_km=device.distance_km if device else None,
        far_arrival_hours=contract.far_arrival_hours if contract else None,
        remote_response_hours=contract.remote_response_hours if contract else None,
        pauses=tuple(pauses), extensions=tuple(extensions),
    )


def clocks_of(order: WorkOrder, now: datetime | None = None,
              facts: engine.OrderFacts | None = None) -> dict[str, engine.Clock]:
    """The order's four clocks now, from its facts unless given (empty when its standard is not enabled)."""
    standard = standard_of(order)
    if standard is None:
        return {}
    return engine.compute_clocks(standard, facts or facts_of(order), now or utcnow())


def stored_state(order: WorkOrder, name: str, clock: engine.Clock | None, now: datetime) -> str | None:
    """The state to store for a clock. One that has not stopped is ``running`` until the sweep
    (``portal.sla.sweep``) marks it breached, records the breach on the timeline and escalates it; once
    marked it stays ``breached`` while its deadline is past (a pause does not undo a missed deadline, an
    extension that moves the deadline ahead does)."""
    if clock is None or clock.met_at is not None or clock.due is None:
        return clock.state if clock else None
    if getattr(order, f"state_{name}") == engine.BREACHED and clock.due <= now:
        return engine.BREACHED
    return engine.RUNNING


def recompute(order: WorkOrder, now: datetime, facts: engine.OrderFacts | None = None) -> None:
    """Store deadlines, states, 80% marks, the nearest deadline and the breach flag on the order (from its
    facts unless given)."""
    facts = facts or facts_of(order)
    clocks = clocks_of(order, now, facts)
    running = []
    for name in CLOCK_NAMES:
        clock = clocks.get(name)
        state = stored_state(order, name, clock, now)
        setattr(order, f"due_{name}", clock.due if clock else None)
        setattr(order, f"state_{name}", state)
        setattr(order, f"warn_{name}", clock.warn_at if clock else None)
        if state == engine.RUNNING and not clock.paused:
            running.append(clock.due)
    order.next_due = min(running) if running and order.status in OPEN_STATUSES else None
    order.breached = any(getattr(order, f"state_{name}") == engine.BREACHED for name in CLOCK_NAMES)
    repair = clocks.get("repair")
    if order.resolved_at and repair and repair.start:
        away = engine.paused_during(engine.repair_facts(facts).pauses, repair.start,
                                    order.resolved_at, now)
        order.repair_seconds = int((order.resolved_at - repair.start - away).total_seconds())
