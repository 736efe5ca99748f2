"""API tokens for people: the /account/tokens page and the ``portal tokens`` commands."""

from __future__ import annotations

import re

import pytest

from portal.extensions import db
from portal.workorders.models import ApiToken
from tests.test_api_support import ApiClient, assert_error, with_api


@pytest.fixture
def api(app, world):
    """An API client on the test app, with the shared world of organisations, users and devices."""
    return ApiClient(with_api(app))

PAGE = "/account/tokens"
DEVICE = "/api/v1/devices/PK-0001"


def created_token(response) -> str:
    """The token shown once on the page after creating it."""
    found = re.search(r'id="new-token-value"[^>]*value="(pt_[^"]+)"', response.get_data(as_text=True))
    assert found, response.get_data(as_text=True)
    return found.group(1)


def signed_in(api, username="clerk"):
    browser = api.client
    browser.post("/login", data={"username": username, "password": "correct-horse-battery"})
    return browser


def bearer(raw: str) -> dict:
    return {"Authorization": f"Bearer {raw}"}


def test_creating_a_token_shows_it_once_and_it_works(api):
    browser = signed_in(api)
    assert 'id="no-tokens"' in browser.get(PAGE).get_data(as_text=True)
    response = browser.post(PAGE, data={"name": "monitoring system"})
    assert response.status_code == 200
    raw = created_token(response)
    assert browser.get(DEVICE, headers=bearer(raw)).status_code == 200
    again = browser.get(PAGE).get_data(as_text=True)
    assert raw not in again
    assert "monitoring system" in again and raw[:10] in again


def test_a_token_without_a_name_is_refused_and_nothing_is_created(api):
    browser = signed_in(api)
    response = browser.post(PAGE, data={"name": "   "})
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "is-invalid" in page and 'id="new-token-value"' not in page
    assert db.session.scalar(db.select(db.func.count()).select_from(ApiToken)) == 0


def test_revoking_with_htmx_swaps_the_list_and_the_token_stops_working(api, world):
    browser = signed_in(api)
    raw = created_token(browser.post(PAGE, data={"name": "phone"}))
    token = db.session.scalar(db.select(ApiToken))
    response = browser.post(f"{PAGE}/{token.id}/revoke", headers={"HX-Request": "true"})
    fragment = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<html" not in fragment and 'id="token-list"' in fragment
    assert "text-bg-secondary" in fragment  # the revoked badge
    assert_error(browser.get(DEVICE, headers=bearer(raw)), 401, "unauthorized")


def test_revoking_without_javascript_redirects_back(api):
    browser = signed_in(api)
    browser.post(PAGE, data={"name": "phone"})
    token = db.session.scalar(db.select(ApiToken))
    response = browser.post(f"{PAGE}/{token.id}/revoke")
    assert response.status_code == 302 and response.headers["Location"].endswith(PAGE)
    db.session.refresh(token)
    assert token.revoked_at is not None


def test_another_users_token_cannot_be_revoked(api):
    api.token("engineer")
    token = db.session.scalar(db.select(ApiToken))
    browser = signed_in(api, "clerk")
    assert browser.post(f"{PAGE}/{token.id}/revoke").status_code == 404
    db.session.refresh(token)
    assert token.revoked_at is None


def test_the_page_needs_sign_in_and_the_permission(api):
    assert api.client.get(PAGE).status_code == 302
    browser = signed_in(api, "auditor")
    assert browser.get(PAGE).status_code == 403


def test_cli_prints_the_new_token_alone_on_its_last_line(app, world):
    runner = with_api(app).test_cli_runner()
    result = runner.invoke(args=["tokens", "create", "--username", "engineer", "--name", "monitoring"])
    assert result.exit_code == 0, result.output
    raw = result.output.strip().splitlines()[-1]
    assert re.fullmatch(r"pt_[A-Za-z0-9_-]{40,}", raw)
    response = app.test_client().get(DEVICE, headers=bearer(raw))
    assert response.status_code == 200
    listed = runner.invoke(args=["tokens", "list", "--username", "engineer"])
    assert "monitoring" in listed.output and raw not in listed.output


def test_cli_refuses_an_unknown_or_deactivated_user_with_exit_2(app, world):
    runner = with_api(app).test_cli_runner()
    unknown = runner.invoke(args=["tokens", "create", "--username", "nobody"])
    assert unknown.exit_code == 2
    assert "no user with username 'nobody'" in unknown.output.strip().splitlines()[-1]
    world.engineer.active = False
    db.session.commit()
    inactive = runner.invoke(args=["tokens", "create", "--username", "engineer"])
    assert inactive.exit_code == 2 and "deactivated" in inactive.output
    assert db.session.scalar(db.select(db.func.count()).select_from(ApiToken)) == 0


def test_cli_revoke_stops_the_token(app, world):
    runner = with_api(app).test_cli_runner()
    raw = runner.invoke(args=["tokens", "create", "--username", "clerk"]).output.strip().splitlines()[-1]
    token = db.session.scalar(db.select(ApiToken))
    result = runner.invoke(args=["tokens", "revoke", str(token.id)])
    assert result.exit_code == 0 and "revoked" in result.output
    assert app.test_client().get(DEVICE, headers=bearer(raw)).status_code == 401
