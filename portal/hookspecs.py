"""Every hook a portal plugin can implement, in one place.

Plugins implement hooks with ``@hookimpl`` (``from portal.hookspecs import hookimpl``). Registration hooks
return plain data (``portal.specs``) and have no side effects; the core calls them when it needs the data
and turns it into pages, clocks and jobs. Arguments may be added in later versions, never renamed.
"""

from __future__ import annotations

import pluggy

PROJECT = "portal"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# --------------------------------------------------------------------------------------------------------
# Registration: who the plugin is and what data it contributes
# --------------------------------------------------------------------------------------------------------


@hookspec
def portal_plugin_info():
    """Called by the plugin manager when it loads a plugin and by the admin plugin page.

    :return: a ``PluginInfo`` with the plugin's name (its key in ``PORTAL_PLUGINS``), title and version.
    """


@hookspec
def portal_standards():
    """Called when the core needs the standards a contract can be governed by (contract forms, SLA
    clocks, the severity pages). Each plugin contributes the standard it implements.

    :return: a list of ``Standard``, each with its severity table and device kinds.
    """


@hookspec
def portal_form_specs():
    """Called when the forms page is built and when a form is shown or submitted. The core turns each
    spec into a WTForms form, an htmx page and stored submissions: no view needed in the plugin.

    :return: a list of ``FormSpec``.
    """


@hookspec
def portal_menu_items(user):
    """Called while rendering the navigation for a signed-in user, once for each user, role, language and
    set of organisations the user may see: the core keeps the items and shows them again until one of
    those changes, so they may depend on nothing else.

    :param user: the signed-in ``User``.
    :return: a list of ``MenuItem``; the core drops those whose permission the user lacks.
    """


@hookspec
def portal_dashboard_panels(user, organisation_ids):
    """Called while rendering a signed-in user's home page.

    :param user: the signed-in ``User``.
    :param organisation_ids: the ids of the organisations the user may see, or None for all.
    :return: a list of ``DashboardPanel`` built from those organisations' data only.
    """


# --------------------------------------------------------------------------------------------------------
# Classification: single answers
# --------------------------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def portal_classify_severity(standard, facts):
    """Called when a fault is logged or its facts change, to give it a severity by the standard's rule.
    Stops at first non-None result.

    :param standard: the id of the governing standard (e.g. ``campus_card``).
    :param facts: a dict with ``affected_terminals``, ``affected_cardholders`` (ints or None) and
        ``cause`` (a cause id or None).
    :return: a ``SeverityDecision`` (severity id and reason), or None when this plugin does not
        classify that standard or the facts leave the choice to a person.
    """


# --------------------------------------------------------------------------------------------------------
# Notifications
# --------------------------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def portal_send_sms(phone, message):
    """Called by the notification job (``notify.dispatch``) for each pending SMS notification: a clock
    at 80% for the assignee, or a breach for the assignee, the provider's desk and the organisation's
    requester contact. A deployment's SMS gateway implements it. Stops at first non-None result.

    :param phone: the recipient's phone number as stored on the user (e.g. ``13800000000``).
    :param message: the text to send, already in the recipient's language.
    :return: a delivery reference (e.g. the gateway's message id; any non-None value) when this plugin
        sent the message, or None to leave it to another plugin. Raise to report a failed send: the
        notification is retried and its error recorded.
    """
