"""Police self-service terminal O&M, DB12/T 1060—2021 (Tianjin): the standard as portal data.

Severity is chosen by a person from Table 2's descriptions (the standard gives no counting rule), so this
plugin does not implement ``portal_classify_severity``.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from plugins.police_kiosk import formspecs, panels
from plugins.police_kiosk.tables import NAME, STANDARD
from portal.forms.services import form_menu_items
from portal.hookspecs import hookimpl
from portal.specs import PluginInfo

VERSION = "1.0.0"


@hookimpl
def portal_plugin_info():
    """Who this plugin is."""
    return PluginInfo(
        NAME, _l("Police self-service terminals (DB12/T 1060—2021)"), VERSION,
        _l("Severity and SLA table, terminal kinds and the problem-collection form of the Tianjin police "
           "self-service terminal O&M specification."),
    )


@hookimpl
def portal_standards():
    """The DB12/T 1060—2021 standard with its severity table (PK-5.1, PK-5.2)."""
    return [STANDARD]


@hookimpl
def portal_form_specs():
    """The problem-feedback form (PK-7.5)."""
    return list(formspecs.FORMS)


@hookimpl
def portal_menu_items(user):
    """A link to the problem-feedback form for those who may fill it."""
    return form_menu_items(user, NAME, {formspecs.PROBLEM_FEEDBACK.id: _l("Problem feedback")}, order=30)


@hookimpl
def portal_dashboard_panels(user, organisation_ids):
    """Far kiosks (PK-5.1) and recent problem feedback (PK-7.5) of the visible police organisations."""
    return panels.panels(user, organisation_ids)
