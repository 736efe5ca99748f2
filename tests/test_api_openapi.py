"""The OpenAPI document at /api/v1/openapi.json: public, valid JSON, and describing every route of the API."""

from __future__ import annotations

import json
import re

import pytest

from tests.test_api_support import ApiClient, with_api


@pytest.fixture
def api(app, world):
    """An API client on the test app, with the shared world of organisations, users and devices."""
    return ApiClient(with_api(app))

IGNORED_METHODS = {"HEAD", "OPTIONS"}
ERROR_REF = {"$ref": "#/components/schemas/Error"}


def document(api) -> dict:
    response = api.get("/api/v1/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    return json.loads(response.get_data(as_text=True))


def api_routes(app) -> set[tuple[str, str]]:
    """(OpenAPI path, method) of every route of the api blueprint."""
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("api."):
            path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule.removeprefix("/api/v1"))
            routes.update((path, method.lower()) for method in rule.methods - IGNORED_METHODS)
    return routes


def refs(node):
    """Every $ref in a JSON document."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def test_the_document_is_public_and_lists_every_route(api, app):
    spec = document(api)
    assert spec["openapi"].startswith("3.1")
    assert spec["servers"][0]["url"].endswith("/api/v1")
    described = {(path, method) for path, operations in spec["paths"].items() for method in operations}
    assert described == api_routes(app)


def test_every_reference_resolves_and_every_operation_answers_errors_in_one_shape(api):
    spec = document(api)
    schemas = spec["components"]["schemas"]
    for reference in refs(spec):
        assert reference.startswith("#/components/schemas/") and reference.split("/")[-1] in schemas
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            assert operation["operationId"] and operation["summary"], (path, method)
            for status, answer in operation["responses"].items():
                if int(status) >= 400:
                    assert answer["content"]["application/json"]["schema"] == ERROR_REF
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path":
                    assert "{" + parameter["name"] + "}" in path


def test_request_schemas_match_what_the_api_accepts(api):
    schemas = document(api)["components"]["schemas"]
    order = schemas["NewWorkOrder"]
    assert order["required"] == ["org", "summary"]
    assert order["properties"]["reported_at"]["format"] == "date-time"
    assert set(schemas["Alarm"]["required"]) == {"device", "code", "message", "raised_at"}
    assert "resolve" in schemas["NewEvent"]["properties"]["type"]["enum"]
    assert set(schemas["WorkOrder"]["properties"]["due"]["properties"]) == {"response", "arrival", "repair",
                                                                              "factory"}


def test_the_documented_shape_matches_a_real_answer(api):
    schemas = document(api)["components"]["schemas"]
    response = api.post("/api/v1/work-orders", "clerk", {"org": "TJPSB", "summary": "x", "severity": "minor"})
    assert set(response.get_json()) == set(schemas["WorkOrder"]["properties"])
    error = api.post("/api/v1/work-orders", "clerk", {}).get_json()
    assert set(error["error"]) == set(schemas["Error"]["properties"]["error"]["properties"])
