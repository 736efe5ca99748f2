"""The campus card plugin's forms, as data the core renders, validates and stores."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from portal.forms.services import local_now, local_today
from portal.specs import FieldSpec, FormSpec

# CC-4.3: the monitoring system is checked twice a day.
CHECK_SLOTS = (("09:00", "09:00"), ("15:00", "15:00"))
YES_NO = (("yes", _l("Yes")), ("no", _l("No")))


def current_slot() -> str:
    """The check due now: 09:00 in the morning, 15:00 from noon on (the form's default)."""
    return CHECK_SLOTS[0][0] if local_now().hour < 12 else CHECK_SLOTS[1][0]


MONITORING_CHECK = FormSpec(
    id="monitoring_check",
    title=_l("Monitoring system check"),
    description=_l("The campus-card monitoring system is checked every day at 09:00 and 15:00; each check "
                   "is recorded here and any fault is handled at once."),
    clauses=("CC-4.3", "CC-4.3r"),
    roles=("admin", "clerk", "engineer"),
    submit_label=_l("Record the check"),
    fields=(
        FieldSpec("check_date", _l("Date"), "date", required=True, default=local_today),
        FieldSpec("check_slot", _l("Check"), "choice", required=True, choices=CHECK_SLOTS,
                  default=current_slot),
        FieldSpec("system_normal", _l("Is the system running normally?"), "choice", required=True,
                  choices=YES_NO),
        FieldSpec("pos_uploaded", _l("Has the POS data been uploaded?"), "choice", required=True,
                  choices=YES_NO,
                  help=_l("Whether the charging terminals' data reached the server (CC-4.3r).")),
        FieldSpec("offline_terminals", _l("Terminals shown offline"), "integer", min=0, max=100000),
        FieldSpec("faults_found", _l("Faults found"), "textarea", max_length=2000),
        FieldSpec("action_taken", _l("Action taken"), "textarea", max_length=2000,
                  help=_l("Faults found are handled at once (CC-4.3).")),
    ),
)

FORMS = (MONITORING_CHECK,)
