"""Bearer-token authentication and permission checks for the JSON API.

The API never reads the sign-in session (it is exempt from CSRF, so a cookie must not authenticate it): each
request names its user with ``Authorization: Bearer <token>``, and that user is what ``current_user``, the
organisation scoping and the audit trail see for the rest of the request.
"""

from __future__ import annotations

from functools import wraps

from flask import current_app, g, request
from flask_babel import gettext as _
from flask_login import current_user

from portal.api import tokens
from portal.api.schemas import ApiError

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="portal"'}


def presented_token() -> str | None:
    """The token in the Authorization header, or None when there is no bearer token."""
    scheme, _sep, value = (request.headers.get("Authorization") or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def unauthorized(message: str) -> ApiError:
    """A 401 with the bearer challenge."""
    return ApiError(401, "unauthorized", message, headers=CHALLENGE)


def authenticate() -> None:
    """Make the token's user the request's user; 401 when the token is missing, unknown or revoked."""
    raw = presented_token()
    if raw is None:
        raise unauthorized(_("Send an API token in the header: Authorization: Bearer <token>."))
    token = tokens.resolve(raw)
    if token is None:
        raise unauthorized(_("The API token is unknown or revoked, or its user is deactivated."))
    tokens.touch(token)
    # The same call login_user() makes for the request, without writing a session cookie.
    current_app.login_manager._update_request_context_with_user(token.user)
    g.pop("visible_org_ids", None)


def require(permission: str):
    """View decorator: the token's user holds ``permission`` (else 403)."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            check(permission)
            return view(*args, **kwargs)

        return wrapped

    return decorator


def check(permission: str) -> None:
    """403 unless the request's user holds ``permission``."""
    if not current_user.can(permission):
        raise ApiError(403, "forbidden", _("Your role does not allow this (%(permission)s).",
                                           permission=permission))
