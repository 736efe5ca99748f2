"""The police kiosk plugin's forms, as data the core renders, validates and stores."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from plugins.police_kiosk.tables import SEVERITIES
from portal.specs import FieldSpec, FormSpec

# PK-7.5: the three types of problem the problem-collection desk receives.
FEEDBACK_TYPES = (
    ("service", _l("Service: quality, level of service, policy")),
    ("business", _l("Business: business process, maintenance level")),
    ("fault", _l("Fault: spare parts, fault handling")),
)

# PK-7.2 request channels, and problems forwarded by another department (PK-7.5).
CHANNELS = (
    ("phone", _l("Phone")),
    ("web", _l("Web page")),
    ("email", _l("E-mail")),
    ("qr", _l("WeChat / QR code on the device")),
    ("sms", _l("SMS from the monitoring system")),
    ("app", _l("Mobile app")),
    ("system", _l("The provider's online system")),
    ("forwarded", _l("Forwarded by another department")),
)

PROBLEM_FEEDBACK = FormSpec(
    id="problem_feedback",
    title=_l("Problem feedback"),
    description=_l("The problem-collection desk records every problem the requester raises, from any "
                   "channel or forwarded by another department, and chases it within the time its urgency "
                   "sets."),
    clauses=("PK-7.5", "PK-7.2"),
    submit_label=_l("Record the problem"),
    fields=(
        FieldSpec("feedback_type", _l("Type of problem"), "choice", required=True, choices=FEEDBACK_TYPES),
        FieldSpec("urgency", _l("Urgency"), "choice", required=True,
                  choices=tuple((row.id, row.label) for row in SEVERITIES),
                  help=_l("Sets the time within which the desk chases the problem.")),
        FieldSpec("description", _l("Description"), "textarea", required=True, max_length=2000),
        FieldSpec("device", _l("Terminal concerned"), "device",
                  help=_l("The terminal's code, when the problem concerns one.")),
        FieldSpec("reporter_name", _l("Raised by"), "text", required=True, max_length=80),
        FieldSpec("reporter_contact", _l("Contact"), "text", required=True, max_length=120,
                  help=_l("Phone number or e-mail, so the desk can report back.")),
        FieldSpec("channel", _l("Received via"), "choice", required=True, choices=CHANNELS, default="phone"),
    ),
)

FORMS = (PROBLEM_FEEDBACK,)
