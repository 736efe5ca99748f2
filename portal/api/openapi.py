"""The OpenAPI 3.1 document of the JSON API, built from data: the operations table below and the request
field specs in ``portal.api.schemas`` (the same specs that validate request bodies)."""

from __future__ import annotations

from dataclasses import dataclass

from portal import __version__
from portal.api import schemas
from portal.workorders.models import STATUSES

NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
NULLABLE_STRING = {"type": ["string", "null"]}
NULLABLE_INTEGER = {"type": ["integer", "null"]}
STRING = {"type": "string"}
CLOCK_STATE = {"type": ["string", "null"], "enum": ["running", "met", "breached", None]}
ERROR_TEXT = {
    400: "Malformed JSON, a body that is not an object, or a missing header.",
    401: "No bearer token, or an unknown or revoked token, or its user is deactivated.",
    403: "The token's role lacks the permission.",
    404: "No such record, or it belongs to an organisation the user may not see.",
    409: "A duplicate code, or a step the order's status does not allow.",
    422: "Validation failed; `error.fields` has a message per field.",
}


@dataclass(frozen=True)
class Operation:
    """One endpoint: how it is called, what it needs and what it answers."""

    method: str
    path: str
    operation_id: str
    summary: str
    permission: str | None
    success: tuple[int, str, str]
    errors: tuple[int, ...]
    body: tuple[schemas.Field, ...] | None = None
    body_name: str = ""
    parameters: tuple[dict, ...] = ()


def path_parameter(name: str, description: str) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": STRING, "description": description}


def query_parameter(name: str, description: str, schema: dict | None = None) -> dict:
    return {"name": name, "in": "query", "required": False, "schema": schema or STRING,
            "description": description}


NUMBER = path_parameter("number", "The work order's number, e.g. WO00000042.")
IDEMPOTENCY = {
    "name": "Idempotency-Key", "in": "header", "required": True, "schema": {**STRING, "maxLength": 200},
    "description": "Unique per alarm; a repeat with the same key and body replays the first answer.",
}

OPERATIONS = (
    Operation("post", "/organisations", "createOrganisation", "Add an organisation (admin only).", "admin",
              (201, "Organisation", "The organisation."), (400, 401, 403, 409, 422),
              schemas.ORGANISATION, "NewOrganisation"),
    Operation("post", "/devices", "createDevice", "Add a device to the archive.", "device.edit",
              (201, "Device", "The device."), (400, 401, 403, 409, 422), schemas.DEVICE, "NewDevice"),
    Operation("get", "/devices/{code}", "getDevice", "One device.", "device.view",
              (200, "Device", "The device."), (401, 403, 404),
              parameters=(path_parameter("code", "The device's code."),)),
    Operation("post", "/work-orders", "createWorkOrder",
              "Log a work order; its SLA deadlines are computed at once.", "order.create",
              (201, "WorkOrder", "The new order."), (400, 401, 403, 422), schemas.WORK_ORDER, "NewWorkOrder"),
    Operation("get", "/work-orders", "listWorkOrders",
              "Visible orders, nearest deadline first (next_due nulls last, then id), keyset-paged.",
              "order.view", (200, "WorkOrderPage", "One page of orders."), (401, 403, 422),
              parameters=(
                  query_parameter("status", "Comma-separated statuses, or `open`.",
                                  {"type": "string", "examples": ["open", ",".join(STATUSES)]}),
                  query_parameter("severity", "A severity id."),
                  query_parameter("org", "An organisation code."),
                  query_parameter("device", "A device code."),
                  query_parameter("breached", "true: only orders with a breached clock; false: none.",
                                  {"type": "boolean"}),
                  query_parameter("cursor", "The `next_cursor` of the previous page."),
                  query_parameter("limit", "Page size, 1–200 (default 50).",
                                  {"type": "integer", "minimum": 1, "maximum": 200}),
              )),
    Operation("get", "/work-orders/{number}", "getWorkOrder", "One work order with its timeline.",
              "order.view", (200, "WorkOrderDetail", "The order."), (401, 403, 404), parameters=(NUMBER,)),
    Operation("post", "/work-orders/{number}/events", "addWorkOrderEvent",
              "Take a step on an order; answers the updated order.",
              "order.step (assign: order.manage; extend: also a requester)",
              (200, "WorkOrderDetail", "The updated order."), (400, 401, 403, 404, 409, 422),
              schemas.EVENT, "NewEvent", (NUMBER,)),
    Operation("post", "/alarms", "raiseAlarm",
              "A monitoring alarm (PK-7.2): opens an order (201) or attaches to the device's open order for "
              "the same code (200, `attached: true`). Idempotent per Idempotency-Key.", "order.create",
              (201, "AlarmResult", "A new order was opened (200 when attached to an open one)."),
              (400, 401, 403, 422), schemas.ALARM, "Alarm", (IDEMPOTENCY,)),
    Operation("get", "/openapi.json", "getOpenApi", "This document (no token needed).", None,
              (200, "", "The OpenAPI document."), ()),
)


def field_schema(spec: schemas.Field) -> dict:
    """The JSON Schema of one request field."""
    schema: dict = {
        "string": {"type": "string"}, "integer": {"type": "integer"},
        "number": {"type": "number"}, "boolean": {"type": "boolean"},
        "datetime": {"type": "string", "format": "date-time"},
    }[spec.type]
    schema = dict(schema)
    if spec.max_length is not None:
        schema["maxLength"] = spec.max_length
    if spec.minimum is not None:
        schema["minimum"] = spec.minimum
    if spec.enum:
        schema["enum"] = list(spec.enum)
    if not spec.required:
        schema["type"] = [schema["type"], "null"]
        if spec.enum:
            schema["enum"].append(None)
    if spec.description:
        schema["description"] = spec.description
    return schema


def body_schema(fields: tuple[schemas.Field, ...]) -> dict:
    """The JSON Schema of a request body."""
    return {
        "type": "object",
        "additionalProperties": False,
        "required": [spec.name for spec in fields if spec.required],
        "properties": {spec.name: field_schema(spec) for spec in fields},
    }


def obj(properties: dict, required: bool = True) -> dict:
    """An object schema whose listed properties are all present."""
    schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(properties)
    return schema


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def array_of(name: str) -> dict:
    return {"type": "array", "items": ref(name)}


WORK_ORDER = obj({
    "number": STRING, "org": STRING, "device": NULLABLE_STRING, "service_type": STRING, "channel": STRING,
    "summary": STRING, "description": STRING, "status": {"type": "string", "enum": list(STATUSES)},
    "severity": NULLABLE_STRING, "severity_reason": STRING,
    "affected_terminals": NULLABLE_INTEGER, "affected_cardholders": NULLABLE_INTEGER,
    "cause": NULLABLE_STRING, "remote": {"type": "boolean"}, "alarm_code": NULLABLE_STRING,
    "assignee": NULLABLE_STRING, "reported_at": {"type": "string", "format": "date-time"},
    "accepted_at": NULLABLE_TIME, "responded_at": NULLABLE_TIME, "arrived_at": NULLABLE_TIME,
    "resolved_at": NULLABLE_TIME, "closed_at": NULLABLE_TIME,
    "due": {**obj({name: NULLABLE_TIME for name in schemas.CLOCKS}),
            "description": "Deadline per clock, in the deployment's time zone; null: does not apply."},
    "sla": {**obj({name: CLOCK_STATE for name in schemas.SLA_CLOCKS}),
            "description": "State per clock; null: the clock does not apply."},
    "breached": {"type": "boolean"}, "next_due": NULLABLE_TIME,
    "url": {"type": "string", "format": "uri", "description": "The order's page in the portal."},
})
COMPONENTS = {
    "Error": obj({"error": obj({
        "code": STRING, "message": STRING,
        "fields": {"type": "object", "additionalProperties": STRING},
    })}),
    "Organisation": obj({"code": STRING, "name": STRING, "standard": STRING}),
    "Device": obj({
        "code": STRING, "org": STRING, "model": STRING, "serial": STRING, "kind": STRING, "address": STRING,
        "distance_km": {"type": ["number", "null"]}, "status": STRING,
    }),
    "WorkOrder": WORK_ORDER,
    "Event": obj({
        "type": STRING, "at": {"type": "string", "format": "date-time"}, "actor": STRING,
        "from_status": NULLABLE_STRING, "to_status": NULLABLE_STRING, "note": STRING, "reason": STRING,
        "hours": {"type": ["number", "null"]}, "approved_by": NULLABLE_STRING,
    }),
    "WorkOrderDetail": {"allOf": [ref("WorkOrder"), obj({"events": array_of("Event")})]},
    "WorkOrderPage": obj({"items": array_of("WorkOrder"), "next_cursor": NULLABLE_STRING}),
    "AlarmResult": {"allOf": [ref("WorkOrder"), obj({"attached": {"type": "boolean"}})]},
}


def json_content(schema: dict) -> dict:
    return {"application/json": {"schema": schema}}


def operation_object(operation: Operation) -> dict:
    """The OpenAPI operation object of one endpoint."""
    status, schema_name, text = operation.success
    success = {"description": text}
    if schema_name:
        success["content"] = json_content(ref(schema_name))
    responses = {str(status): success}
    for code in operation.errors:
        responses[str(code)] = {"description": ERROR_TEXT[code], "content": json_content(ref("Error"))}
    result = {"operationId": operation.operation_id, "summary": operation.summary, "responses": responses}
    if operation.permission:
        result["description"] = f"Permission: {operation.permission}."
    else:
        result["security"] = []
    if operation.parameters:
        result["parameters"] = list(operation.parameters)
    if operation.body is not None:
        result["requestBody"] = {"required": True, "content": json_content(ref(operation.body_name))}
    return result


def document(server_url: str) -> dict:
    """The whole OpenAPI 3.1 document, with ``server_url`` (…/api/v1) as its server."""
    paths: dict = {}
    for operation in OPERATIONS:
        paths.setdefault(operation.path, {})[operation.method] = operation_object(operation)
    bodies = {op.body_name: body_schema(op.body) for op in OPERATIONS if op.body is not None}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "O&M Service Portal API", "version": __version__,
            "description": "Work orders with SLA clocks for self-service terminals. Times are ISO 8601 with "
                           "offset. Errors: {\"error\": {\"code\", \"message\", \"fields\"}}.",
        },
        "servers": [{"url": server_url}],
        "security": [{"bearerAuth": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer",
                                               "description": "A token from /account/tokens or "
                                                              "`portal tokens create --username U`."}},
            "schemas": {**COMPONENTS, **bodies},
        },
    }
