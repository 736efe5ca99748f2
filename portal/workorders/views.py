"""The clerk's desk: the queue, quick logging, the order page with its steps, my orders, the SLA dashboard."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import NamedTuple

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    get_template_attribute,
    make_response,
    redirect,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from jinja2_fragments.flask import render_block, render_blocks
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from portal.auth.models import User
from portal.auth.scoping import can_see
from portal.auth.session import permission_required
from portal.database import reads_only
from portal.devices.models import Device
from portal.extensions import db
from portal.i18n import plain_labels, translated_once
from portal.orgs.models import Contract, Organisation
from portal.plugins import registry
from portal.templating import escape_text
from portal.types import utcnow
from portal.web import render, wants_fragment
from portal.workorders import charts, queries, services
from portal.workorders.forms import (
    ACTOR_LABELS,
    CLOCK_LABELS,
    CLOCK_STATE_LABELS,
    EVENT_LABELS,
    MAIN_STEPS,
    STEP_INPUTS,
    STEP_LABELS,
    QuickLogForm,
    SeverityForm,
    allowed_steps,
)
from portal.workorders.models import (
    CHANNELS,
    CLOCK_NAMES,
    SERVICE_TYPES,
    STATUSES,
    WorkOrder,
    WorkOrderEvent,
    format_number,
    parse_number,
)
from portal.workorders.queries import Cursor, QueueFilters
from portal.workorders.services import IllegalStep, WorkflowError, standard_of

bp = Blueprint("workorders", __name__, url_prefix="/orders")

LEFT = _l("%(time)s left")
OVERDUE = _l("%(time)s overdue")
SEVERITY_TONES = ("danger", "warning", "info")


# ----------------------------------------------------------------------------------------------------------
# Template helpers
# ----------------------------------------------------------------------------------------------------------


def duration(seconds: int) -> str:
    """Seconds as H:MM:SS (hours unbounded), the same format ``static/js/clocks.js`` writes."""
    seconds = abs(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def countdown(due: datetime, now: datetime, words: dict | None = None) -> str:
    """Time left until a deadline, or past it, in words (``words``: ``desk_words()``, when at hand)."""
    left = math.floor((due - now).total_seconds())
    words = words or desk_words()
    return words["countdown_left" if left >= 0 else "countdown_overdue"].format(time=duration(left))


def iso(value: datetime | None) -> str:
    """An instant as ISO 8601 in UTC, for ``data-due`` attributes."""
    return value.astimezone(UTC).isoformat() if value else ""


def desk_words() -> dict:
    """The desk's label tables and the countdown's two phrases (with a ``{time}`` slot, as
    ``static/js/clocks.js`` fills them) in the current language."""
    return translated_once("desk", lambda: {
        "status_labels": plain_labels(STATUSES), "step_labels": plain_labels(STEP_LABELS),
        "event_labels": plain_labels(EVENT_LABELS), "clock_labels": plain_labels(CLOCK_LABELS),
        "actor_labels": plain_labels(ACTOR_LABELS),
        "clock_state_labels": plain_labels(CLOCK_STATE_LABELS),
        "channel_labels": plain_labels(CHANNELS),
        "service_type_labels": plain_labels(SERVICE_TYPES),
        "countdown_left": str(LEFT % {"time": "{time}"}), "countdown_overdue": str(OVERDUE % {"time": "{time}"}),
    })


def severity_badges() -> dict[str, dict[str, tuple[str, str]]]:
    """Per enabled standard, each severity of its table as (label, Bootstrap colour): the most severe row
    danger, then warning, then info."""
    def badges(standard) -> dict[str, tuple[str, str]]:
        ranked = sorted(standard.severities, key=lambda row: row.rank)
        return {row.id: (str(row.label), SEVERITY_TONES[min(position, 2)]) for position, row in enumerate(ranked)}

    return translated_once("severities", lambda: {
        standard_id: badges(standard) for standard_id, standard in registry().standards.items()})


def severity_label(standard_id: str, severity_id: str | None) -> str:
    """A severity's label in its standard's table (the id when the standard is not enabled)."""
    badge = severity_badges().get(standard_id, {}).get(severity_id)
    return badge[0] if badge else (severity_id or "")


def order_links():
    """``number → URL of the order's page``, with ``url_for`` called once: a page of rows links to each."""
    slot = "__number__"
    link = url_for("workorders.detail", number=slot)
    return lambda number: link.replace(slot, number)


def row_badges() -> dict:
    """A queue row's badges, rendered once per language (``_badges.html``): ``severity`` by (standard,
    severity or None) for each enabled standard's table, ``status`` by status, ``flags`` by (breached,
    spare unit due). A page of rows then prints them instead of rendering them row by row."""
    def build() -> dict:
        severity = get_template_attribute("workorders/_badges.html", "severity")
        status = get_template_attribute("workorders/_badges.html", "status")
        flags = get_template_attribute("workorders/_badges.html", "flags")
        labels, tables = desk_words()["status_labels"], severity_badges()
        by_severity = {(standard_id, None): severity(None, "", "") for standard_id in tables}
        by_severity.update({(standard_id, code): severity(code, label, tone)
                            for standard_id, table in tables.items() for code, (label, tone) in table.items()})
        return {"severity": by_severity, "status": {code: status(code, labels[code]) for code in labels},
                "flags": {(breached, spare): flags(breached, spare)
                          for breached in (False, True) for spare in (False, True)}}

    return translated_once("row_badges", build)


class DeskRow(NamedTuple):
    """A queue row as the page prints it (the template unpacks it). Its texts are HTML already: the
    template prints the rows with autoescaping off."""

    id: int
    number: str
    link: str
    organisation: str
    device: str  # its code, or a dash
    summary: str
    clock: str  # the nearest running clock's name, or ""
    due: str  # its deadline, ISO 8601, or ""
    severity: Markup
    status: Markup
    flags: Markup
    clock_label: str
    countdown: str
    overdue: bool


def desk_rows(items: list, now: datetime) -> list[DeskRow]:
    """The queue's rows (``queries.QUEUE_COLUMNS``) as the page prints them. A row's values, badges, words
    and link are looked up and escaped here, once, rather than by the template: each attribute read, call
    or escape in a template costs several of Python's own, and a page of 25 rows made about 800 of them."""
    badges, words, link = row_badges(), desk_words(), order_links()
    severities, statuses, flags = badges["severity"], badges["status"], badges["flags"]
    clock_labels = translated_once("desk_clock_labels_html", lambda: {
        clock: escape_text(label) for clock, label in words["clock_labels"].items()})
    rows, new_row = [], tuple.__new__
    for order in items:
        severity = severities.get((order.standard, order.severity))
        if severity is None:  # a standard no longer enabled, or a code its table does not have
            severity = get_template_attribute("workorders/_badges.html", "severity")(
                order.severity, order.severity or "", "secondary")
        clock, due = order.clock, order.next_due
        number = format_number(order.id)
        rows.append(new_row(DeskRow, (  # as DeskRow(…) makes it, without a Python call
            order.id, number, escape_text(link(number)), escape_text(order.organisation_name),
            escape_text(order.device_code or "—"), escape_text(order.summary), clock or "",
            due.isoformat() if due else "",  # a UTCDateTime column: in UTC already, as iso() gives it
            severity, statuses[order.status], flags[(order.breached, order.spare_unit_due)],
            clock_labels[clock] if clock else "", escape_text(countdown(due, now, words)) if clock else "",
            bool(clock) and due < now)))
    return rows


def clock_state(clock) -> str:
    """The badge of a clock: running, paused, met, breached, or why it has no deadline."""
    if clock.due is None:
        if clock.note in ("per_contract", "remote"):
            return clock.note
        return "not_started" if clock.start is None and clock.target_hours is not None else "none"
    return "paused" if clock.state == "running" and clock.paused else clock.state


@bp.context_processor
def desk_helpers() -> dict:
    """Labels and helpers every desk template uses."""
    words = desk_words()
    return {
        **words, "main_steps": MAIN_STEPS, "step_inputs": STEP_INPUTS,
        "severity_badges": severity_badges(), "severity_label": severity_label, "clock_state": clock_state,
        "countdown": partial(countdown, words=words), "iso": iso,
        "clocks_for": services.clocks_of, "steps_for": steps_for,
        "time_zone": current_app.config["PORTAL_TIMEZONE"],
    }


def steps_for(order: WorkOrder) -> list[str]:
    """The steps the current user may take on an order now."""
    return allowed_steps(order, standard_of(order), current_user)


def enabled_standards() -> list:
    """Every enabled standard, by id."""
    return [registry().standards[code] for code in sorted(registry().standards)]


def fragment_response(body: str, status: int = 200):
    """A response for an htmx-only endpoint."""
    response = make_response(body, status)
    response.headers.add("Vary", "HX-Request")
    return response


# ----------------------------------------------------------------------------------------------------------
# The queue
# ----------------------------------------------------------------------------------------------------------


def filter_choices() -> dict:
    """What the queue's filters offer: statuses, severities, organisations and engineers (only the whole
    page shows the filters; an htmx swap of the results needs none of it)."""
    if wants_fragment():
        return {}
    severities = translated_once("severity_choices", lambda: [
        (row.id, f"{row.label} ({standard.code})") for standard in enabled_standards() for row in standard.severities])
    return {
        "statuses": desk_words()["status_labels"],
        "severities": severities,
        "organisations": [(organisation.id, organisation.name) for organisation in queries.visible_organisations()],
        "engineers": [(engineer.id, engineer.name) for engineer in queries.visible_engineers()],
    }


@bp.route("/")
@reads_only
@permission_required("order.view")
def queue():
    """The clerk's desk: open orders by nearest deadline, filtered, one keyset page at a time."""
    filters = QueueFilters.from_args(request.args)
    after = Cursor.parse(request.args.get("after"))
    page = queries.queue_page(filters, current_user, after, current_app.config["PORTAL_PAGE_SIZE"])
    return render("workorders/queue.html", "results", page=page, rows=desk_rows(page.items, utcnow()),
                  filters=filters, **filter_choices())


@bp.route("/mine")
@permission_required("order.view")
def mine():
    """The engineer's view: my open orders as cards with big step buttons, for a phone."""
    return render("workorders/mine.html", orders=queries.my_orders(current_user), now=utcnow())


# ----------------------------------------------------------------------------------------------------------
# Quick logging
# ----------------------------------------------------------------------------------------------------------


def quick_log_form(formdata=None) -> QuickLogForm:
    """The quick-logging form with the user's organisations and the enabled standards' choices."""
    form = QuickLogForm(formdata=formdata) if formdata is not None else QuickLogForm()
    form.fill(queries.visible_organisations(), enabled_standards())
    return form


def visible_device(raw: str | None) -> Device | None:
    """A device the user may see, by id as typed in a form, or None."""
    raw = (raw or "").strip()
    if not raw.isdigit():
        return None
    device = db.session.get(Device, int(raw))
    return device if device is not None and can_see(device.organisation_id) else None


def visible_organisation(raw: str | None) -> Organisation | None:
    """An organisation the user may see, by id as typed in a form, or None."""
    raw = (raw or "").strip()
    organisation = db.session.get(Organisation, int(raw)) if raw.isdigit() else None
    return organisation if organisation is not None and can_see(organisation.id) else None


def chosen_organisation(form: QuickLogForm, device: Device | None) -> Organisation | None:
    """The organisation chosen in the form, else the device's."""
    return visible_organisation(form.organisation.data) or (device.organisation if device else None)


@dataclass(frozen=True)
class Classification:
    """What the standard's rule says about the facts typed so far."""

    organisation: Organisation | None
    standard: object
    decision: object
    errors: dict


def classification_of(form: QuickLogForm) -> Classification:
    """The governing standard's severity decision for the form's organisation and facts."""
    device = visible_device(form.device_id.data)
    organisation = chosen_organisation(form, device)
    standard = standard_of(organisation) if organisation else None
    if standard is None:
        return Classification(organisation, None, None, {})
    errors: dict = {}
    terminals = services.count(form.affected_terminals.data, "affected_terminals", errors)
    cardholders = services.count(form.affected_cardholders.data, "affected_cardholders", errors)
    cause = form.cause.data or None
    decision = None if errors else services.classify(standard, terminals, cardholders, cause)
    return Classification(organisation, standard, decision, errors)


def new_context(form: QuickLogForm, matches=None, errors=()) -> dict:
    """What the quick-logging page shows: the form, the chosen device, matches and the classification."""
    return {"form": form, "device": visible_device(form.device_id.data), "matches": matches,
            "classification": classification_of(form), "general_errors": list(errors)}


def pick_device(form: QuickLogForm, raw: str | None) -> None:
    """Choose (or, with an empty id, drop) the form's device; its organisation is preselected."""
    device = visible_device(raw)
    form.device_id.data = str(device.id) if device else ""
    if device is not None:
        form.organisation.data = str(device.organisation_id)
        form.device_query.data = device.code


def picker_response(form: QuickLogForm):
    """The device picker after a pick, with the classification for the device's organisation (htmx),
    or the whole page."""
    context = new_context(form)
    if not wants_fragment():
        return render("workorders/new.html", **context)
    return fragment_response(render_blocks("workorders/new.html", ["device_picker", "classification"],
                                           oob=True, **context))


def device_for(form: QuickLogForm) -> Device | None:
    """The picked device, or the visible device whose code was typed in full."""
    return visible_device(form.device_id.data) or queries.device_by_code(form.device_query.data)


def order_from(form: QuickLogForm) -> services.NewOrder | None:
    """The new order's fields from the form; None (with an error on the form) without an organisation.
    A typed code that finds no device is marked on the form too."""
    device = device_for(form)
    if device is None and (form.device_query.data or "").strip():
        form.device_query.errors = [_("No device of yours has this code; pick one from the list.")]
    organisation = chosen_organisation(form, device)
    if organisation is None:
        form.organisation.errors = [_("Choose the organisation, or pick a device.")]
        return None
    return services.NewOrder(
        organisation=organisation, summary=form.summary.data or "", device=device,
        service_type=form.service_type.data, channel=form.channel.data,
        description=form.description.data or "",
        severity=form.severity.data or None, affected_terminals=form.affected_terminals.data or None,
        affected_cardholders=form.affected_cardholders.data or None, cause=form.cause.data or None,
        remote=form.mode.data == "remote",
    )


def log_order(form: QuickLogForm):
    """Create the order; on refusal put the errors on the form and return (None, errors without a field)."""
    new = order_from(form)
    if new is None:
        return None, []
    try:
        if form.device_query.errors:  # still check the other fields, so every mistake shows at once
            services.validate_new(new, utcnow())
            return None, []
        order = services.create_order(new, current_user)
    except WorkflowError as error:
        db.session.rollback()
        left = form.add_errors(error.fields)
        return None, left if left or error.fields else [error.message]
    db.session.commit()
    return order, []


@bp.route("/new", methods=["GET", "POST"])
@permission_required("order.create")
def new():
    """Quick logging of a phone report: find the device as you type, then one form for the facts."""
    form = quick_log_form()
    if "pick" in request.values:
        pick_device(form, request.values.get("pick"))
        return picker_response(form)
    if request.method == "GET" and request.args.get("device"):
        pick_device(form, str(getattr(queries.device_by_code(request.args["device"]), "id", "")))
    if request.method == "POST" and "find" in request.form:
        matches = queries.find_devices(form.device_query.data)
        return render("workorders/new.html", **new_context(form, matches))
    errors: list[str] = []
    if request.method == "POST" and form.validate():
        order, errors = log_order(form)
        if order is not None:
            flash(_("Work order %(number)s logged.", number=order.number), "success")
            return redirect(url_for("workorders.detail", number=order.number))
    matches = queries.find_devices(form.device_query.data) if form.device_query.errors else None
    return render("workorders/new.html", **new_context(form, matches, errors))


@bp.route("/devices")
@permission_required("order.create")
def device_lookup():
    """Up to ten visible devices whose code or address contains what was typed (an htmx fragment)."""
    typed = request.args.get("q", request.args.get("device_query", ""))
    return fragment_response(render_block("workorders/new.html", "device_matches",
                                          matches=queries.find_devices(typed), typed=typed))


@bp.route("/classify")
@permission_required("order.create")
def classify():
    """The standard's severity for the facts typed so far, with the reason (an htmx fragment)."""
    form = quick_log_form(request.args)
    return fragment_response(render_block("workorders/new.html", "classification",
                                          classification=classification_of(form), form=form))


# ----------------------------------------------------------------------------------------------------------
# The order page and its steps
# ----------------------------------------------------------------------------------------------------------


def load_order(number: str) -> WorkOrder:
    """The order with this number if the user may see it, else 404; what its page shows of the
    organisation, device, assignee, contract and provider comes in the same statement, its timeline with
    who took each step in one more."""
    order_id = parse_number(number)
    if order_id is None:
        abort(404)
    options = (joinedload(WorkOrder.organisation), joinedload(WorkOrder.device), joinedload(WorkOrder.assignee),
               joinedload(WorkOrder.contract).joinedload(Contract.provider),
               selectinload(WorkOrder.events).joinedload(WorkOrderEvent.actor))
    order = db.session.get(WorkOrder, order_id, options=options)
    if order is None or not can_see(order.organisation_id):
        abort(404)
    return order


def may_change_severity(order: WorkOrder, standard) -> bool:
    """Whether the user may set the severity of this open order by hand (where the standard allows it)."""
    return current_user.can("order.manage") and standard is not None and standard.manual_severity \
        and order.is_open


def refused(order: WorkOrder, status: int, error: WorkflowError, **extra):
    """The order's section again, with the reason a request was refused."""
    return order_response(order, status, message=error.message, message_code=error.code,
                          message_tone="danger", **extra)


def order_context(order: WorkOrder, **extra) -> dict:
    """What the order page shows: the order, its clocks now, the steps allowed and the forms."""
    now = utcnow()
    standard = standard_of(order)
    steps = allowed_steps(order, standard, current_user)
    severity_form = extra.pop("severity_form", None)
    if may_change_severity(order, standard):
        severity_form = severity_form or SeverityForm(formdata=None, severity=order.severity)
        severity_form.fill(standard)
    else:
        severity_form = None
    context = {
        "order": order, "standard": standard, "now": now, "clocks": services.clocks_of(order, now),
        "clock_names": CLOCK_NAMES, "steps": steps, "severity_form": severity_form,
        "engineers": queries.provider_engineers(order) if "assign" in steps else [],
        "message": None, "message_code": "", "message_tone": "success", "error_step": None,
        "field_errors": {}, "values": {},
    }
    context.update(extra)
    return context


def order_response(order: WorkOrder, status: int = 200, **extra):
    """The order's section (htmx), the engineer's card for that order, or the whole page."""
    if request.form.get("view") == "card" and wants_fragment():
        body = render_block("workorders/mine.html", "card", **order_context(order, **extra))
        return fragment_response(body, status)
    return render("workorders/detail.html", "order", status=status, **order_context(order, **extra))


@bp.route("/<number>")
@reads_only
@permission_required("order.view")
def detail(number: str):
    """One order: its facts, live clocks, the steps allowed now and its timeline."""
    return render("workorders/detail.html", "order", **order_context(load_order(number)))


def user_named(username: str | None) -> User | None:
    """The user with this username, or None."""
    username = (username or "").strip()
    return db.session.scalar(select(User).where(User.username == username)) if username else None


def step_values(step: str, form) -> dict:
    """The inputs a step takes, from the posted form (the lifecycle validates them)."""
    values = {"reason": form.get("reason", "")}
    if step == "extend":
        values.update(hours=form.get("hours", ""), approved_by=user_named(form.get("approved_by")))
    if step == "assign":
        raw = form.get("assignee", "")
        values["assignee"] = db.session.get(User, int(raw)) if raw.isdigit() else None
    return values


def step_done(order: WorkOrder, step: str):
    """After a recorded step: the updated section in place, or back to the page with a message."""
    message = _("Recorded: %(step)s.", step=STEP_LABELS[step])
    if not wants_fragment():
        flash(message, "success")
        return redirect(url_for("workorders.detail", number=order.number))
    return order_response(order, message=message, message_code="recorded")


@bp.route("/<number>/steps/<step>", methods=["POST"], endpoint="step")
@permission_required("order.step")
def take_step(number: str, step: str):
    """Take one step on an order; an illegal step answers 409 with the reason, bad input 422."""
    order = load_order(number)
    if step not in STEP_LABELS:
        abort(404)
    if step == "assign" and not current_user.can("order.manage"):
        abort(403)
    try:
        services.apply_step(order, step, current_user, note=request.form.get("note", ""),
                            **step_values(step, request.form))
    except IllegalStep as error:
        db.session.rollback()
        return refused(order, 409, error)
    except WorkflowError as error:
        db.session.rollback()
        return refused(order, 422, error, error_step=step, field_errors=error.fields, values=request.form)
    db.session.commit()
    return step_done(order, step)


@bp.route("/<number>/severity", methods=["POST"])
@permission_required("order.manage")
def severity(number: str):
    """Change an order's severity with a reason: its deadlines are recomputed."""
    order = load_order(number)
    form = SeverityForm()
    try:
        services.change_severity(order, form.severity.data or "", form.reason.data or "", current_user)
    except WorkflowError as error:
        db.session.rollback()
        for name, message in error.fields.items():
            getattr(form, name).errors = [message]
        return refused(order, 422, error, severity_form=form)
    db.session.commit()
    message = _("Severity changed; the deadlines are recomputed.")
    if not wants_fragment():
        flash(message, "success")
        return redirect(url_for("workorders.detail", number=order.number))
    return order_response(order, message=message, message_code="severity_changed")


# ----------------------------------------------------------------------------------------------------------
# The SLA dashboard
# ----------------------------------------------------------------------------------------------------------


def visible_standards() -> list:
    """The enabled standards governing an organisation the user may see."""
    codes = {organisation.standard for organisation in queries.visible_organisations()}
    return [registry().standards[code] for code in sorted(codes) if code in registry().standards]


def mttr_charts(standards, table: queries.MttrTable) -> dict:
    """One SVG chart per (standard, severity): MTTR per month against the table's repair target."""
    found = {}
    for standard in standards:
        for row in standard.severities:
            points = table.series(standard.id, row.id)
            title = _("Mean time to repair, %(severity)s (hours)", severity=row.label)
            found[(standard.id, row.id)] = charts.bar_chart(title, points, row.repair_hours)
    return found


@bp.route("/dashboard")
@permission_required("order.view")
def dashboard():
    """Open orders by severity, clocks at risk, breaches this month and MTTR against the targets."""
    now = utcnow()
    months = queries.months_until(now, current_app.config["PORTAL_TIMEZONE"], queries.MTTR_MONTHS)
    standards = visible_standards()
    this_month = months[-1]
    risk_total, risks = queries.clocks_at_risk(now)
    breaches = queries.breaches_between(this_month.start, this_month.end, now)
    mttr = queries.mttr_by_month(months)
    return render(
        "workorders/dashboard.html", now=now, standards=standards, open_counts=queries.open_by_severity(),
        risk_total=risk_total, risks=risks, breaches=breaches, this_month=this_month, months=months,
        mttr=mttr, charts=mttr_charts(standards, mttr),
    )
