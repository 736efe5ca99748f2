"""Flask-Login wiring: sessions end at once when a user is deactivated or their password changes."""

from __future__ import annotations

from functools import wraps

from flask import abort
from flask_babel import lazy_gettext as _l
from flask_login import LoginManager, current_user, login_required

from portal.extensions import db


def load_user(session_id: str):
    """Resolve 'id:version' to an active user whose session version still matches."""
    from portal.auth.models import User

    user_id, _sep, version = session_id.partition(":")
    if not user_id.isdigit() or not version.isdigit():
        return None
    user = db.session.get(User, int(user_id))
    if user is None or not user.active or user.session_version != int(version):
        return None
    return user


def configure(manager: LoginManager) -> None:
    """Set the loader and the sign-in page."""
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
