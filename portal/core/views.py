"""The signed-in home page."""

from __future__ import annotations

from flask import Blueprint, redirect, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from portal.auth.scoping import visible_organisation_ids
from portal.plugins import run_hook
from portal.web import render

bp = Blueprint("core", __name__)

CAPABILITIES = {
    "admin": _l("Manage organisations, providers, contracts, service points, users and plugins."),
    "device.edit": _l("Add and edit devices in the archive."),
    "device.import": _l("Import devices from CSV or Excel files."),
    "device.view": _l("Browse the device archive and print device QR codes."),
    "form.submit": _l("Fill in the forms of your service standard."),
    "audit.view": _l("Review the audit trail of every change."),
    "api.token": _l("Create API tokens for the mobile app and integrations."),
}


@bp.route("/")
def home():
    """The home page: what the user's role can do and the dashboard panels of the enabled plugins."""
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    abilities = [text for permission, text in CAPABILITIES.items() if current_user.can(permission)]
    panels = run_hook("portal_dashboard_panels", user=current_user,
                      organisation_ids=visible_organisation_ids())
    return render("core/home.html", abilities=abilities, panels=panels)


@bp.route("/healthz")
def health():
    """A liveness probe for load balancers."""
    return {"status": "ok"}
