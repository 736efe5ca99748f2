"""Flask-Login wiring: sessions end at once when a user is deactivated or their password changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import wraps

from flask import Flask, abort
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask_babel import lazy_gettext as _l
from flask_login import LoginManager, current_user, login_required
from itsdangerous import BadSignature


def load_user(session_id: str):
    """Resolve 'id:version' to an active user whose session version still matches."""
    from portal.auth.scoping import forget_visible, user_with_organisations

    user_id, _sep, version = session_id.partition(":")
    if not user_id.isdigit() or not version.isdigit():
        return None
    user = user_with_organisations(int(user_id))
    if user is None or not user.active or user.session_version != int(version):
        forget_visible()
        return None
    return user


RENEW_AFTER = timedelta(minutes=1)


class SignedSession(SecureCookieSession):
    """A session from the signed cookie, knowing when the cookie was signed (None: a new session)."""

    signed_at: datetime | None = None


class IdleTimeoutSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, whose lifetime (``PORTAL_SESSION_HOURS``) counts from the last
    request: the cookie of an unchanged session is signed and sent again once it is a minute old (a tenth
    of the lifetime when that is shorter), not on every request as Flask does, so that a page does not
    pay for signing and sending a cookie that says what the browser's already says."""

    session_class = SignedSession

    def __init__(self) -> None:
        self._serializer: tuple[tuple, object] | None = None

    def get_signing_serializer(self, app: Flask):
        """Flask's serializer, made once for the app's keys (Flask makes one for each request that opens or
        saves a session); made again when the secret key or its fallbacks change."""
        keys = (app.secret_key, tuple(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        cached = self._serializer
        if cached is None or cached[0] != keys:
            self._serializer = cached = (keys, super().get_signing_serializer(app))
        return cached[1]

    def open_session(self, app: Flask, request) -> SignedSession | None:
        if not app.secret_key:
            return None
        value = request.cookies.get(self.get_cookie_name(app))
        if not value:
            return self.session_class()
        serializer = self.get_signing_serializer(app)
        try:
            data, signed_at = serializer.loads(value, max_age=int(app.permanent_session_lifetime.total_seconds()),
                                               return_timestamp=True)
        except BadSignature:
            return self.session_class()
        session = self.session_class(data)
        session.signed_at = signed_at
        return session

    def should_set_cookie(self, app: Flask, session) -> bool:
        if session.modified:
            return True
        if not (session.permanent and app.config["SESSION_REFRESH_EACH_REQUEST"]):
            return False
        signed_at = getattr(session, "signed_at", None)
        renew_after = min(RENEW_AFTER, app.permanent_session_lifetime / 10)
        return signed_at is None or datetime.now(UTC) - signed_at >= renew_after


def configure(app: Flask, manager: LoginManager) -> None:
    """Set the session cookies' handling, the loader and the sign-in page."""
    app.session_interface = IdleTimeoutSessionInterface()
    manager.user_loader(load_user)
    manager.login_view = "auth.login"
    manager.login_message = _l("Please sign in to continue.")
    manager.login_message_category = "info"
    manager.session_protection = "basic"


def permission_required(permission: str):
    """View decorator: signed in, and the role holds ``permission`` (else 403)."""

    def decorator(view):
        @wraps(view)
        @login_required
        def wrapped(*args, **kwargs):
            if not current_user.can(permission):
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator
