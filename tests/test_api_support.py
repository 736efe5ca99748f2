"""Helpers shared by the test_api_* modules (this module holds no tests): registering the API on a test app,
a client that calls it with a bearer token per user, and assertions on the API's answers."""

from __future__ import annotations

from datetime import datetime, timedelta

from portal import api as portal_api
from portal.api import tokens
from portal.auth.models import User
from portal.extensions import db
from portal.types import utcnow


def with_api(app):
    """The app with the API blueprints and CLI group (registered here until the app factory does it)."""
    if "api" not in app.blueprints:
        portal_api.register(app)
    return app


class ApiClient:
    """Calls /api/v1 as a named user, through the Flask test client."""

    def __init__(self, app):
        self.app = app
        self.client = app.test_client()
        self.raw_tokens: dict[str, str] = {}

    def token(self, username: str) -> str:
        """A live token of the user (created on first use)."""
        if username not in self.raw_tokens:
            user = db.session.scalar(db.select(User).where(User.username == username))
            _token, raw = tokens.issue(user, "tests")
            db.session.commit()
            self.raw_tokens[username] = raw
        return self.raw_tokens[username]

    def call(self, method: str, path: str, username: str | None = None, json=None, headers=None, **kwargs):
        """One request; ``username`` None sends no token."""
        sent = dict(headers or {})
        if username is not None:
            sent["Authorization"] = f"Bearer {self.token(username)}"
        return self.client.open(path, method=method, json=json, headers=sent, **kwargs)

    def get(self, path: str, username: str | None = None, **kwargs):
        return self.call("GET", path, username, **kwargs)

    def post(self, path: str, username: str | None = None, json=None, **kwargs):
        return self.call("POST", path, username, json=json, **kwargs)


def when(value: str) -> datetime:
    """An API time back to an aware datetime."""
    moment = datetime.fromisoformat(value)
    assert moment.tzinfo is not None, value
    return moment


def hours_between(start: str, end: str) -> float:
    """Hours from one API time to another."""
    return (when(end) - when(start)) / timedelta(hours=1)


def ago(**delta) -> str:
    """An ISO time some while before now."""
    return (utcnow() - timedelta(**delta)).isoformat()


def assert_error(response, status: int, code: str | None = None, fields: tuple[str, ...] = ()):
    """The response is an API error of this status (and code), naming these fields."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert set(error) == {"code", "message", "fields"}
    assert error["message"]
    if code is not None:
        assert error["code"] == code, error
    for name in fields:
        assert error["fields"].get(name), error
    return error
