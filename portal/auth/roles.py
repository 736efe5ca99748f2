"""Roles and the permissions each one holds."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

ADMIN, CLERK, ENGINEER, REQUESTER, AUDITOR = "admin", "clerk", "engineer", "requester", "auditor"
ROLES = (ADMIN, CLERK, ENGINEER, REQUESTER, AUDITOR)
PROVIDER_ROLES = (CLERK, ENGINEER)
ORGANISATION_ROLES = (REQUESTER,)

ROLE_LABELS = {
    ADMIN: _l("Administrator"),
    CLERK: _l("Service desk clerk"),
    ENGINEER: _l("Engineer"),
    REQUESTER: _l("Requester"),
    AUDITOR: _l("Auditor"),
}

ORDER_ALL = {"order.view", "order.create", "order.step", "order.manage"}

PERMISSIONS: dict[str, frozenset[str]] = {
    ADMIN: frozenset(
        {"admin", "device.view", "device.edit", "device.import", "audit.view", "form.submit", "form.view",
         "api.token", *ORDER_ALL}
    ),
    CLERK: frozenset(
        {"device.view", "device.edit", "device.import", "form.submit", "form.view", "api.token", *ORDER_ALL}
    ),
    ENGINEER: frozenset({"device.view", "form.submit", "form.view", "api.token", "order.view", "order.step"}),
    REQUESTER: frozenset({"device.view", "form.submit", "form.view", "api.token", "order.view", "order.create"}),
    AUDITOR: frozenset({"device.view", "audit.view", "form.view", "order.view"}),
}


def can(role: str, permission: str) -> bool:
    """Whether a role holds a permission."""
    return permission in PERMISSIONS.get(role, frozenset())
