"""An example third-party plugin: a satisfaction survey taken on the follow-up visit (PK-5.3, PK-7.4).

It contributes no standard, so its form is offered for every organisation the user may see. It writes no
view and no template: the portal renders, validates and stores the form from the spec below.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from portal.hookspecs import hookimpl
from portal.specs import FieldSpec, FormSpec, MenuItem, PluginInfo

NAME = "visit_survey"

SURVEY = FormSpec(
    id="satisfaction",
    title=_l("Follow-up visit survey"),
    description=_l("How satisfied the requester was with the service, asked on the follow-up visit."),
    clauses=("PK-5.3", "PK-7.4"),
    fields=(
        FieldSpec("score", _l("Satisfaction (1 to 5)"), "integer", required=True, min=1, max=5),
        FieldSpec("work_confirmed", _l("The requester confirmed the work and the device's state"), "boolean"),
        FieldSpec("comments", _l("Comments"), "textarea", max_length=1000),
    ),
)


@hookimpl
def portal_plugin_info():
    """Who this plugin is."""
    return PluginInfo(NAME, _l("Follow-up visit survey"), "1.0.0", _l("An example plugin."))


@hookimpl
def portal_form_specs():
    """The survey form."""
    return [SURVEY]


@hookimpl
def portal_menu_items(user):
    """A link to the survey for those who may submit forms."""
    return [MenuItem(_l("Visit survey"), "forms.fill", "form.submit", {"plugin": NAME, "form_id": SURVEY.id},
                     order=60)]
