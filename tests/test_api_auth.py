"""Bearer tokens on the JSON API: who gets in, who is refused, and errors always in the API's JSON shape."""

from __future__ import annotations

import hashlib

import pytest

from portal.api import tokens
from portal.extensions import db
from portal.workorders.models import ApiToken
from tests.test_api_support import ApiClient, assert_error, with_api


@pytest.fixture
def api(app, world):
    """An API client on the test app, with the shared world of organisations, users and devices."""
    return ApiClient(with_api(app))

DEVICE = "/api/v1/devices/PK-0001"


def test_a_valid_token_is_answered_and_its_use_recorded(api, world):
    response = api.get(DEVICE, "clerk")
    assert response.status_code == 200
    assert response.get_json()["code"] == "PK-0001"
    assert response.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in response.headers  # the API never starts a session
    token = db.session.scalar(db.select(ApiToken))
    db.session.refresh(token)
    assert token.last_used_at is not None


def test_no_token_is_401_with_a_bearer_challenge(api):
    response = api.get(DEVICE)
    assert_error(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_malformed_and_unknown_tokens_are_401(api):
    for header in ("Token abc", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer pt_not-a-token"):
        assert_error(api.get(DEVICE, headers={"Authorization": header}), 401, "unauthorized")


def test_a_revoked_token_is_401(api, world):
    raw = api.token("clerk")
    assert api.get(DEVICE, "clerk").status_code == 200
    tokens.revoke(tokens.resolve(raw))
    db.session.commit()
    assert_error(api.get(DEVICE, "clerk"), 401, "unauthorized")


def test_a_deactivated_users_token_is_401(api, world):
    api.token("clerk")
    world.clerk.active = False
    db.session.commit()
    assert_error(api.get(DEVICE, "clerk"), 401, "unauthorized")


def test_only_the_sha256_of_a_token_is_stored(api, world):
    raw = api.token("engineer")
    stored = db.session.scalar(db.select(ApiToken))
    assert stored.token_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in (stored.prefix, stored.name, stored.token_hash)
    assert raw.startswith(stored.prefix)


def test_a_signed_in_browser_session_does_not_authenticate_the_api(api, world):
    browser = api.client
    signed_in = browser.post("/login", data={"username": "clerk", "password": "correct-horse-battery"})
    assert signed_in.status_code == 302
    assert_error(browser.get(DEVICE), 401, "unauthorized")


def test_a_role_without_the_permission_is_403(api, world):
    assert_error(api.post("/api/v1/devices", "requester", {"code": "X-1", "org": "TJPSB"}), 403, "forbidden")
    organisation = {"code": "N", "name": "N", "standard": "police_kiosk"}
    assert_error(api.post("/api/v1/organisations", "clerk", organisation), 403, "forbidden")
    order = {"org": "TJPSB", "summary": "x"}
    assert_error(api.post("/api/v1/work-orders", "auditor", order), 403, "forbidden")


def test_malformed_json_and_non_objects_are_400(api, world):
    headers = {"Content-Type": "application/json"}
    bad = api.call("POST", "/api/v1/work-orders", "clerk", data="{not json", headers=headers)
    assert_error(bad, 400, "malformed_json")
    for body in ("[1, 2]", '"text"', "null", ""):
        response = api.call("POST", "/api/v1/work-orders", "clerk", data=body, headers=headers)
        assert response.status_code == 400
        assert response.get_json()["error"]["code"] in ("not_an_object", "malformed_json")


def test_unknown_paths_and_wrong_methods_inside_the_api_are_json(api, world):
    assert_error(api.get("/api/v1/no-such-thing", "clerk"), 404, "not_found")
    assert_error(api.get("/api/v1/no-such-thing"), 404, "not_found")
    wrong_method = api.get("/api/v1/alarms", "clerk")
    assert_error(wrong_method, 405, "method_not_allowed")
    assert "POST" in wrong_method.headers["Allow"]
    assert_error(api.call("DELETE", "/api/v1/work-orders", "clerk"), 405, "method_not_allowed")
    # Pages outside the API keep their HTML error pages.
    page = api.client.get("/no-such-page")
    assert page.status_code == 404 and not page.is_json


def test_an_unexpected_failure_is_a_json_500(app_factory, monkeypatch):
    from tests import factories

    app = with_api(app_factory(TESTING=False))
    with app.app_context():
        factories.world()
        client = ApiClient(app)
        client.token("clerk")

        def broken(*args, **kwargs):
            raise RuntimeError("the disk is on fire")

        monkeypatch.setattr("portal.api.views.visible_device", broken)
        response = client.get(DEVICE, "clerk")
        db.session.remove()
    error = assert_error(response, 500, "internal_error")
    assert "fire" not in error["message"]


def test_the_api_needs_no_csrf_token_when_forms_do(app_factory):
    from tests import factories

    app = with_api(app_factory(WTF_CSRF_ENABLED=True))
    with app.app_context():
        factories.world()
        client = ApiClient(app)
        response = client.post("/api/v1/devices", "clerk", {"code": "PK-0100", "org": "TJPSB"})
        form_post = client.client.post("/login", data={"username": "clerk", "password": "x"})
        db.session.remove()
    assert response.status_code == 201, response.get_json()
    assert form_post.status_code == 400  # the sign-in form still demands its CSRF token
