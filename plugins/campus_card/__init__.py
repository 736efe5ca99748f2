"""Campus card (校园一卡通) basic O&M outsourcing service quality specification: the standard as portal data.

Severity follows the CC-2 counting rule (``severity.classify``) from the bounds in ``tables.py``.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from plugins.campus_card import formspecs, panels, severity
from plugins.campus_card.tables import NAME, STANDARD
from portal.forms.services import form_menu_items
from portal.hookspecs import hookimpl
from portal.specs import PluginInfo

VERSION = "1.0.0"


@hookimpl
def portal_plugin_info():
    """Who this plugin is."""
    return PluginInfo(
        NAME, _l("Campus card (university O&M specification)"), VERSION,
        _l("Severity rule and SLA table, equipment kinds and the daily monitoring-check form of a "
           "university's campus-card O&M outsourcing quality specification."),
    )


@hookimpl
def portal_standards():
    """The campus-card standard with its severity table (CC-2, CC-4.2)."""
    return [STANDARD]


@hookimpl
def portal_form_specs():
    """The daily monitoring-system check (CC-4.3, CC-4.3r)."""
    return list(formspecs.FORMS)


@hookimpl
def portal_menu_items(user):
    """A link to the monitoring check for those who may fill it."""
    return form_menu_items(user, NAME, {formspecs.MONITORING_CHECK.id: _l("Monitoring check")}, order=31)


@hookimpl
def portal_dashboard_panels(user, organisation_ids):
    """Today's monitoring checks (CC-4.3) of the visible campus-card organisations."""
    return panels.panels(user, organisation_ids)


@hookimpl
def portal_classify_severity(standard, facts):
    """The CC-2 class of a campus-card fault; None for other standards or when a person must choose."""
    if standard != NAME:
        return None
    return severity.classify(facts)
