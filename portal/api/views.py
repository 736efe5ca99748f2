"""The JSON API v1: organisations, devices, work orders and their steps, monitoring alarms.

Every answer is JSON; every error is ``{"error": {"code", "message", "fields"}}``. Requests authenticate with
a bearer token (see ``portal.api.auth``) and see only what the token's user may see: another organisation's
order or device is answered 404, as if it did not exist.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from functools import lru_cache

from flask import Blueprint, Response, abort, current_app, jsonify, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import and_, bindparam, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.attributes import set_committed_value
from werkzeug.exceptions import HTTPException
from werkzeug.routing import BuildError, RequestRedirect

from portal.api import auth, schemas
from portal.api.openapi import document
from portal.api.schemas import ApiError, error_body, invalid
from portal.auth.models import User
from portal.auth.roles import REQUESTER
from portal.auth.scoping import can_see, scoped
from portal.database import entity_columns, loaded, rows
from portal.devices.models import Device
from portal.extensions import csrf, db
from portal.orgs.models import Contract, Organisation
from portal.plugins import registry
from portal.types import utcnow
from portal.workorders.models import OPEN_STATUSES, IdempotencyKey, WorkOrder, parse_number
from portal.workorders.services import (
    MAX_FUTURE,
    IllegalStep,
    NewOrder,
    WorkflowError,
    add_event,
    apply_step,
    create_order,
)

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)

PUBLIC_ENDPOINTS = frozenset({"api.openapi"})
ALARM_SCOPE = "alarms"
IDEMPOTENCY_HEADER = "Idempotency-Key"
STEP_PERMISSIONS = {"assign": "order.manage"}
HTTP_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
    409: "conflict", 413: "too_large", 415: "unsupported_media_type", 422: "invalid",
    429: "too_many_requests", 500: "internal_error",
}


# ---------------------------------------------------------------- authentication and errors


@bp.before_request
def authenticate_request():
    """Every endpoint except the OpenAPI document needs a bearer token."""
    if request.endpoint not in PUBLIC_ENDPOINTS:
        auth.authenticate()


@bp.after_request
def no_store(response: Response) -> Response:
    """API answers are per user and per moment: never cached."""
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def error_response(status: int, code: str, message: str, fields: dict | None = None,
                   headers: dict | None = None) -> Response:
    """An error in the API's one shape; nothing half-done is kept."""
    db.session.rollback()
    response = jsonify(error_body(code, message, fields))
    response.status_code = status
    response.headers.update(headers or {})
    return response


@bp.errorhandler(ApiError)
def handle_api_error(error: ApiError):
    """A refusal raised by the API itself."""
    return error_response(error.status, error.code, error.message, error.fields, error.headers)


@bp.errorhandler(HTTPException)
def handle_http_error(error: HTTPException):
    """404, 405 and any other HTTP error inside /api/v1, as JSON."""
    status = error.code or 500
    allowed = getattr(error, "valid_methods", None)
    headers = {"Allow": ", ".join(allowed)} if allowed else {}
    return error_response(status, HTTP_CODES.get(status, "http_error"), http_message(status), headers=headers)


@bp.errorhandler(Exception)
def handle_unexpected(error: Exception):
    """An unexpected failure: logged, answered 500 in JSON (re-raised while testing or debugging)."""
    if current_app.testing or current_app.debug:
        raise error
    current_app.logger.exception("unhandled error in the API", exc_info=error)
    return error_response(500, "internal_error", http_message(500))


def http_message(status: int) -> str:
    """A short explanation of an HTTP error."""
    messages = {
        404: _("There is no such resource, or it is not visible to you."),
        405: _("This resource does not accept that method."),
        413: _("The request body is too large."),
        429: _("Too many requests in a short time; retry later."),
        500: _("The portal hit an error. It has been logged; please retry."),
    }
    return messages.get(status, _("The request could not be handled."))


def unrouted_as_json():
    """App-level hook: a path under /api/v1 that matches no route (404/405) is answered in JSON too."""
    failure = request.routing_exception
    if failure is None or isinstance(failure, RequestRedirect) or not is_api_path(request.path):
        return None
    return handle_http_error(failure)


def is_api_path(path: str) -> bool:
    """Whether a path belongs to this API."""
    return path == bp.url_prefix or path.startswith(bp.url_prefix + "/")


# ---------------------------------------------------------------- helpers shared by the endpoints


def body() -> dict:
    """The request's JSON object (400 when it is not one)."""
    return schemas.parse_json(request.get_data(cache=True))


def actor() -> User:
    """The token's user."""
    return current_user._get_current_object()


def commit_or_conflict(field: str, message: str) -> None:
    """Commit; a unique-constraint race becomes a 409 on ``field``."""
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise ApiError(409, "duplicate", message, {field: message}) from None


def run_workflow(func, *args, renamed: dict | None = None, **kwargs):
    """Call a work-order service; IllegalStep → 409, other WorkflowError → 422 (field names as sent)."""
    try:
        return func(*args, **kwargs)
    except IllegalStep as error:
        raise ApiError(409, error.code, error.message, error.fields) from None
    except WorkflowError as error:
        fields = {(renamed or {}).get(name, name): text for name, text in error.fields.items()}
        raise ApiError(422, error.code, error.message, fields) from None


def visible_organisation(code: str, with_contracts: bool = False) -> Organisation | None:
    """An organisation by code, if the user may see it (its contracts loaded in the same read when asked)."""
    statement = select(Organisation).where(Organisation.code == code)
    if with_contracts:
        statement = statement.options(joinedload(Organisation.contracts))
    organisation = db.session.scalars(statement).unique().one_or_none()
    return organisation if organisation is not None and can_see(organisation.id) else None


def visible_device(code: str, lock: bool = False) -> Device | None:
    """A device by code, if the user may see it (row-locked on PostgreSQL when ``lock``)."""
    statement = select(Device).where(Device.code == code)
    device = db.session.scalar(statement.with_for_update() if lock else statement)
    return device if device is not None and can_see(device.organisation_id) else None


def visible_order(number: str, lock: bool = False) -> WorkOrder:
    """The order with this number if the user may see it, else 404 (row-locked when ``lock``)."""
    order_id = parse_number(number)
    order = db.session.get(WorkOrder, order_id, with_for_update=lock) if order_id else None
    if order is None or not can_see(order.organisation_id):
        abort(404)
    return order


def user_named(username: str | None, field: str, errors: dict) -> User | None:
    """The user with this username; records an error on ``field`` when there is none."""
    if not username:
        return None
    user = db.session.scalar(select(User).where(User.username == username))
    if user is None:
        errors[field] = _("There is no user with this username.")
    return user


def order_url(order: WorkOrder) -> str:
    """The absolute address of the order's page in the portal."""
    try:
        path = url_for("workorders.detail", number=order.number)[len(request.script_root):]
    except BuildError:
        path = "/orders/" + order.number
    base = current_app.config.get("PORTAL_BASE_URL") or request.url_root.rstrip("/")
    return base + path


def order_view(order: WorkOrder, now: datetime | None = None, timeline: bool = False) -> dict:
    """The order's JSON body (with its timeline when asked)."""
    data = schemas.order_json(order, order_url(order), now or utcnow())
    if timeline:
        data["events"] = [schemas.event_json(event) for event in order.events]
    return data


# ---------------------------------------------------------------- the OpenAPI document


@bp.get("/openapi.json")
def openapi():
    """The OpenAPI 3.1 document of this API (public)."""
    return jsonify(document(request.url_root.rstrip("/") + bp.url_prefix))


# ---------------------------------------------------------------- organisations and devices


@bp.post("/organisations")
@auth.require("admin")
def create_organisation():
    """Add an organisation governed by an enabled standard (admin)."""
    values = schemas.parse(body(), schemas.ORGANISATION)
    if registry().standard(values["standard"]) is None:
        raise invalid({"standard": _("No enabled standard has this id.")})
    duplicate = _("An organisation with this code exists.")
    if db.session.scalar(select(Organisation.id).where(Organisation.code == values["code"])) is not None:
        raise ApiError(409, "duplicate", duplicate, {"code": duplicate})
    organisation = Organisation(code=values["code"], name=values["name"], standard=values["standard"])
    db.session.add(organisation)
    commit_or_conflict("code", duplicate)
    return jsonify(schemas.organisation_json(organisation)), 201


@bp.post("/devices")
@auth.require("device.edit")
def create_device():
    """Add a device to the archive of an organisation the user may see."""
    values = schemas.parse(body(), schemas.DEVICE)
    organisation = visible_organisation(values["org"])
    if organisation is None:
        raise invalid({"org": _("No organisation with this code is visible to you.")})
    duplicate = _("A device with this code exists.")
    if db.session.scalar(select(Device.id).where(Device.code == values["code"])) is not None:
        raise ApiError(409, "duplicate", duplicate, {"code": duplicate})
    device = Device(
        code=values["code"], organisation=organisation, model=values.get("model", ""),
        serial_number=values.get("serial", ""), kind=values.get("kind", ""),
        address=values.get("address", ""), distance_km=values.get("distance_km"),
    )
    db.session.add(device)
    commit_or_conflict("code", duplicate)
    return jsonify(schemas.device_json(device)), 201, {"Location": url_for(".get_device", code=device.code)}


@bp.get("/devices/<code>")
@auth.require("device.view")
def get_device(code: str):
    """One device of the archive."""
    device = visible_device(code)
    if device is None:
        abort(404)
    return jsonify(schemas.device_json(device))


# ---------------------------------------------------------------- work orders


def default_channel(user: User) -> str:
    """Where an API order comes from when the body does not say: the mobile app for requesters, else the
    provider's own system."""
    return "app" if user.role == REQUESTER else "system"


@lru_cache(maxsize=1)
def order_subjects_select():
    """An organisation by code with each of its contracts, and a device by code (built once: composing a
    statement and working out its cache key cost more than running it): the organisation's columns, the
    device's (none when no device has the code), the contract's (none when it has no contract), a row per
    contract."""
    return (select(*entity_columns(Organisation), *entity_columns(Device), *entity_columns(Contract))
            .select_from(Organisation)
            .outerjoin(Device, Device.code == bindparam("device_code"))
            .outerjoin(Contract, Contract.organisation_id == Organisation.id)
            .where(Organisation.code == bindparam("org_code")))


def order_subjects(org_code: str, device_code: str | None) -> tuple[Organisation | None, Device | None]:
    """The organisation (with its contracts, for create_order to pick one) and the device of a new order,
    read together and made from the rows (``database.loaded``: order creation is the API's hottest write,
    and the ORM's loading cost more than the statement); each None when there is none or the user may not
    see it."""
    if device_code is None:
        return visible_organisation(org_code, with_contracts=True), None
    found = rows(order_subjects_select(), {"org_code": org_code, "device_code": device_code})
    if not found:
        return None, visible_device(device_code)
    device_at = len(entity_columns(Organisation))
    contract_at = device_at + len(entity_columns(Device))
    organisation = loaded(Organisation, found[0][:device_at])
    set_committed_value(organisation, "contracts", [loaded(Contract, row[contract_at:]) for row in found
                                                    if row[contract_at] is not None])
    device = loaded(Device, found[0][device_at:contract_at]) if found[0][device_at] is not None else None
    return (organisation if can_see(organisation.id) else None,
            device if device is not None and can_see(device.organisation_id) else None)


def new_order(values: dict, user: User) -> NewOrder:
    """A NewOrder from a parsed body; 422 when the organisation or device is not visible."""
    errors: dict = {}
    organisation, device = order_subjects(values["org"], values.get("device"))
    if organisation is None:
        errors["org"] = _("No organisation with this code is visible to you.")
    if "device" in values and device is None:
        errors["device"] = _("No device with this code is visible to you.")
    if errors:
        raise invalid(errors)
    return NewOrder(
        organisation=organisation, summary=values["summary"], device=device,
        service_type=values.get("service_type"), channel=values.get("channel") or default_channel(user),
        description=values.get("description", ""), severity=values.get("severity"),
        affected_terminals=values.get("affected_terminals"),
        affected_cardholders=values.get("affected_cardholders"), cause=values.get("cause"),
        remote=values.get("remote", False), reported_at=values.get("reported_at"),
    )


@bp.post("/work-orders")
@auth.require("order.create")
def create_work_order():
    """Log a work order; its deadlines start at once."""
    now = utcnow()
    new = new_order(schemas.parse(body(), schemas.WORK_ORDER), actor())
    order = run_workflow(create_order, new, actor(), now)
    # Built from the flushed order: after the commit it is expired, and reading it costs three reloads.
    answer, location = order_view(order, now), url_for(".get_work_order", number=order.number)
    db.session.commit()
    return jsonify(answer), 201, {"Location": location}


@bp.get("/work-orders/<number>")
@auth.require("order.view")
def get_work_order(number: str):
    """One work order with its timeline."""
    return jsonify(order_view(visible_order(number), timeline=True))


def queue_statement(args, now: datetime):
    """The visible orders matching the query's filters, in queue order (nearest deadline first)."""
    statement = scoped(select(WorkOrder), WorkOrder.organisation_id)
    statuses = schemas.parse_statuses(args.get("status"))
    if statuses:
        statement = statement.where(WorkOrder.status.in_(statuses))
    if args.get("severity"):
        statement = statement.where(WorkOrder.severity == args["severity"])
    for name, lookup, column in (("org", visible_organisation, WorkOrder.organisation_id),
                                 ("device", visible_device, WorkOrder.device_id)):
        if args.get(name):
            record = lookup(args[name])
            if record is None:
                raise invalid({name: _("Nothing with this code is visible to you.")})
            statement = statement.where(column == record.id)
    breached = schemas.parse_flag(args.get("breached"), "breached")
    late = or_(WorkOrder.breached.is_(True), WorkOrder.next_due < now)
    if breached is not None:
        statement = statement.where(late if breached else ~late)
    return statement


def after_cursor(statement, cursor: str):
    """Keyset condition: only orders after the cursor's (next_due nulls last, id)."""
    due, order_id = schemas.decode_cursor(cursor)
    if due is None:
        return statement.where(WorkOrder.next_due.is_(None), WorkOrder.id > order_id)
    return statement.where(or_(
        WorkOrder.next_due > due,
        and_(WorkOrder.next_due == due, WorkOrder.id > order_id),
        WorkOrder.next_due.is_(None),
    ))


@bp.get("/work-orders")
@auth.require("order.view")
def list_work_orders():
    """Visible work orders, nearest deadline first, a page at a time (keyset cursor)."""
    now = utcnow()
    limit = schemas.parse_limit(request.args.get("limit"))
    statement = queue_statement(request.args, now)
    if request.args.get("cursor"):
        statement = after_cursor(statement, request.args["cursor"])
    statement = statement.options(
        joinedload(WorkOrder.organisation, innerjoin=True), joinedload(WorkOrder.device),
        joinedload(WorkOrder.assignee),
    ).order_by(WorkOrder.next_due.asc().nulls_last(), WorkOrder.id.asc()).limit(limit + 1)
    orders = list(db.session.scalars(statement))
    page, more = orders[:limit], len(orders) > limit
    next_cursor = schemas.encode_cursor(page[-1].next_due, page[-1].id) if more else None
    return jsonify({"items": [order_view(order, now) for order in page], "next_cursor": next_cursor})


def may_take(user: User, step: str) -> bool:
    """Whether the user may take a step: steps need order.step, assigning needs order.manage, and a
    requester-side user may grant an extension (PK-5.1)."""
    if step == "extend" and user.role == REQUESTER:
        return True
    return user.can(STEP_PERMISSIONS.get(step, "order.step"))


@bp.post("/work-orders/<number>/events")
@auth.require("order.view")
def add_work_order_event(number: str):
    """Take a step on an order (accept, respond, arrive, resolve, … ); answers the updated order."""
    values = schemas.parse(body(), schemas.EVENT)
    order = visible_order(number, lock=True)
    if not may_take(actor(), values["type"]):
        raise ApiError(403, "forbidden", _("Your role does not allow this step."))
    errors: dict = {}
    people = {"approved_by": user_named(values.get("approved_by"), "approved_by", errors),
              "assignee": user_named(values.get("assignee"), "assignee", errors)}
    if errors:
        raise invalid(errors)
    now = utcnow()
    run_workflow(apply_step, order, values["type"], actor(), at=values.get("at"), note=values.get("note", ""),
                 now=now, reason=values.get("reason", ""), hours=values.get("hours"), **people)
    db.session.commit()
    return jsonify(order_view(order, now, timeline=True))


# ---------------------------------------------------------------- monitoring alarms (PK-7.2)


def idempotency_key() -> str:
    """The request's Idempotency-Key header (400 when missing or too long)."""
    key = (request.headers.get(IDEMPOTENCY_HEADER) or "").strip()
    if not key or len(key) > 200:
        message = _("Send an Idempotency-Key header of 1 to 200 characters, unique per alarm.")
        raise ApiError(400, "idempotency_key_required", message, {IDEMPOTENCY_HEADER: message})
    return key


def fingerprint(payload: dict) -> str:
    """A hash of the body's content, to tell a true repeat from a reused key."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def replay(user_id: int, key: str, request_hash: str) -> Response | None:
    """The first answer given for this key, or None when the key is new; 422 when the body differs."""
    record = db.session.scalar(select(IdempotencyKey).where(
        IdempotencyKey.user_id == user_id, IdempotencyKey.scope == ALARM_SCOPE, IdempotencyKey.key == key))
    if record is None:
        return None
    if record.request_hash != request_hash:
        message = _("This Idempotency-Key was already used for a different alarm; use a new key.")
        raise ApiError(422, "idempotency_key_reused", message, {IDEMPOTENCY_HEADER: message})
    response = jsonify(record.body)
    response.status_code = record.status_code
    response.headers["Idempotent-Replayed"] = "true"
    return response


def claim(user_id: int, key: str, request_hash: str) -> IdempotencyKey | Response:
    """Insert the key before doing the work: a concurrent twin waits on the unique constraint, then
    replays this request's answer."""
    record = IdempotencyKey(user_id=user_id, scope=ALARM_SCOPE, key=key, request_hash=request_hash,
                            status_code=0, body={})
    db.session.add(record)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        answer = replay(user_id, key, request_hash)
        if answer is None:
            raise ApiError(409, "conflict", _("The same alarm is being processed; retry.")) from None
        return answer
    return record


def open_alarm_order(device: Device, code: str) -> WorkOrder | None:
    """The open order raised by this device's alarm code, if any."""
    statement = (
        select(WorkOrder)
        .where(WorkOrder.device_id == device.id, WorkOrder.alarm_code == code,
               WorkOrder.status.in_(OPEN_STATUSES))
        .order_by(WorkOrder.id.desc())
    )
    return db.session.scalars(statement).first()


def alarm_summary(message: str) -> str:
    """The first line of the alarm message, cut to fit a summary."""
    first = message.splitlines()[0].strip() if message.strip() else message
    return first if len(first) <= 200 else first[:199] + "…"


def handle_alarm(values: dict, user: User, now: datetime) -> tuple[WorkOrder, bool]:
    """Attach the alarm to the device's open order for its code, or open one; (order, created)."""
    device = visible_device(values["device"], lock=True)
    if device is None:
        raise invalid({"device": _("No device with this code is visible to you.")})
    if values["raised_at"] > now + MAX_FUTURE:
        raise invalid({"raised_at": _("The alarm time cannot be in the future.")})
    order = open_alarm_order(device, values["code"])
    if order is not None:
        add_event(order, "alarm", min(values["raised_at"], now), user, from_status=order.status,
                  to_status=order.status, note=values["message"],
                  data={"code": values["code"], "raised_at": values["raised_at"].isoformat()})
        db.session.flush()
        return order, False
    new = NewOrder(
        organisation=device.organisation, device=device, channel="monitoring",
        summary=alarm_summary(values["message"]), description=values["message"], alarm_code=values["code"],
        reported_at=values["raised_at"], affected_terminals=1, severity=values.get("severity"),
    )
    renamed = {"reported_at": "raised_at", "summary": "message"}
    order = run_workflow(create_order, new, user, now, renamed=renamed)
    return order, True


@bp.post("/alarms")
@auth.require("order.create")
def raise_alarm():
    """A monitoring system's fault alarm: opens a work order or attaches to the open one; idempotent."""
    key = idempotency_key()
    payload = body()
    request_hash = fingerprint(payload)
    user = actor()
    earlier = replay(user.id, key, request_hash)
    if earlier is not None:
        return earlier
    values = schemas.parse(payload, schemas.ALARM)
    record = claim(user.id, key, request_hash)
    if isinstance(record, Response):
        return record
    now = utcnow()
    order, created = handle_alarm(values, user, now)
    status = 201 if created else 200
    answer = {**order_view(order, now), "attached": not created}
    record.status_code, record.body = status, answer
    db.session.commit()
    return jsonify(answer), status
