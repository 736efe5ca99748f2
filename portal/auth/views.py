"""Sign-in, sign-out and the language switch."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import select

from portal.auth.forms import LoginForm
from portal.auth.models import User
from portal.auth.scoping import forget_visible
from portal.extensions import db, limiter
from portal.types import utcnow
from portal.web import render

bp = Blueprint("auth", __name__)
bp.before_app_request(forget_visible)


def _login_limit() -> str:
    return current_app.config["PORTAL_LOGIN_LIMIT"]


def _username_key() -> str:
    return "login-user:" + (request.form.get("username") or "").strip().lower()


def _failed(response) -> bool:
    """Only failed sign-ins count against the limit (a success redirects)."""
    return response.status_code != 302


def safe_next(target: str | None) -> str:
    """A local path to go back to, never another site."""
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return url_for("core.home")


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"], deduct_when=_failed)
@limiter.limit(_login_limit, methods=["POST"], key_func=_username_key, deduct_when=_failed)
def login():
    """Show the sign-in form; on success start a session that expires after the configured hours."""
    if current_user.is_authenticated:
        return redirect(url_for("core.home"))
    form = LoginForm()
    if form.validate_on_submit():
        user = db.session.scalar(select(User).where(User.username == form.username.data.strip()))
        if user is not None and user.check_password(form.password.data) and user.active:
            session.permanent = True
            login_user(user)
            user.last_login_at = utcnow()
            db.session.commit()
            return redirect(safe_next(request.args.get("next")))
        form.password.errors.append(_("Wrong username or password, or the account is deactivated."))
    return render("auth/login.html", form=form)


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    """End the session."""
    logout_user()
    session.pop("visible_org_ids", None)
    flash(_("You have signed out."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/lang/<locale>")
def set_language(locale: str):
    """Switch the interface language and remember it for a signed-in user."""
    if locale not in current_app.config["PORTAL_LOCALES"]:
        return redirect(safe_next(request.args.get("next")))
    session["locale"] = locale
    if current_user.is_authenticated and current_user.locale != locale:
        current_user.locale = locale
        db.session.commit()
    return redirect(safe_next(request.args.get("next")))
