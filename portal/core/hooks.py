"""The core's contributions, registered as an internal plugin like any other."""

from __future__ import annotations

from flask import url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from portal.devices.models import DEVICE_STATUSES, Device
from portal.extensions import db
from portal.hookspecs import hookimpl
from portal.specs import DashboardPanel, MenuItem

# The same for everyone (the core drops what a user lacks the permission for); built once.
CORE_MENU = (
    MenuItem(_l("Service desk"), "workorders.queue", "order.view", order=5),
    MenuItem(_l("My orders"), "workorders.mine", "order.step", order=6),
    MenuItem(_l("Report a fault"), "workorders.new", "order.create", order=7),
    MenuItem(_l("SLA dashboard"), "workorders.dashboard", "order.view", order=8),
    MenuItem(_l("Devices"), "devices.index", "device.view", order=10),
    MenuItem(_l("Forms"), "forms.index", "form.view", order=20),
    MenuItem(_l("Audit trail"), "audit.index", "audit.view", order=80),
    MenuItem(_l("Administration"), "admin.index", "admin", order=90),
    MenuItem(_l("API tokens"), "tokens.index", "api.token", order=95, section="account"),
)


@hookimpl
def portal_menu_items(user):
    """The core's navigation: devices, forms, audit trail and administration."""
    return list(CORE_MENU)


@hookimpl
def portal_dashboard_panels(user, organisation_ids):
    """Devices by status in the organisations the user may see."""
    if not user.can("device.view"):
        return []
    statement = select(Device.status, func.count()).group_by(Device.status)
    if organisation_ids is not None:
        statement = statement.where(Device.organisation_id.in_(organisation_ids or [-1]))
    counts = dict(db.session.execute(statement).all())
    rows = tuple((str(label), str(counts.get(status, 0))) for status, label in DEVICE_STATUSES.items())
    return [DashboardPanel("devices", _("Device archive"), rows, _("Open the archive"),
                           url_for("devices.index"), "PK-7.6")]
