"""DB12/T 1060—2021 as data: the severity table (PK-5.1 Table 1, PK-5.2 Table 2), the distance threshold
and the terminal kinds. A deployment edits these tables, never the code that reads them."""

from __future__ import annotations

from decimal import Decimal

from flask_babel import lazy_gettext as _l

from portal.specs import CORE_SERVICE_TYPES, Severity, Standard

NAME = "police_kiosk"
CODE = "DB12/T 1060—2021"

# PK-5.1, Table 1: on-site arrival is due within 2 h below this distance (km from the terminal to its
# service point); at this distance or more it is "per contract" (Contract.far_arrival_hours).
FAR_DISTANCE_KM = Decimal("100")

# PK-5.1, Table 1: remote response ≤ 0.5 h (or per contract); on-site arrival ≤ 2 h under FAR_DISTANCE_KM.
RESPONSE_HOURS = Decimal("0.5")
ARRIVAL_HOURS = Decimal("2")

# PK-5.2, Table 2: hardware repair time by severity (the mean time to repair per severity).
SEVERITIES = (
    Severity(
        "urgent", _l("Urgent"), 1,
        _l("The terminal can no longer be used."),
        RESPONSE_HOURS, ARRIVAL_HOURS, Decimal("2"), "PK-5.2", "紧急",
    ),
    Severity(
        "medium", _l("Medium"), 2,
        _l("The terminal still works, but a problem affects its normal operation, e.g. the printer fails, "
           "the screen is blurred or the ID-card reader does not read cards."),
        RESPONSE_HOURS, ARRIVAL_HOURS, Decimal("4"), "PK-5.2", "中等",
    ),
    Severity(
        "minor", _l("Minor"), 3,
        _l("The terminal works normally with a slight problem that does not affect use, e.g. its lights "
           "have dimmed."),
        RESPONSE_HOURS, ARRIVAL_HOURS, Decimal("8"), "PK-5.2", "一般",
    ),
)

# The kinds of police self-service terminal, as the requester's archive names them (PK-7.6).
DEVICE_KINDS = (
    "自助办证机",
    "自助签注机",
    "自助缴款机",
    "自助拍照机",
    "出入境自助终端",
    "交管自助终端",
    "户政自助终端",
    "自助查询机",
)

STANDARD = Standard(
    id=NAME,
    code=CODE,
    title=_l("Police self-service terminal O&M"),
    severities=SEVERITIES,
    device_kinds=DEVICE_KINDS,
    manual_severity=True,
    clock_basis="accepted",
    notes=_l("Service hours 7×24, holidays included. In mountain areas, emergencies and force majeure a "
             "deadline may be extended with the requester's approval. A terminal that cannot be repaired "
             "in time gets a spare unit."),
    far_distance_km=FAR_DISTANCE_KM,
    factory_hours=None,
    response_met_by="respond",
    follow_up_required=True,
    service_types=CORE_SERVICE_TYPES,
    # A fault alarm from the monitoring system (PK-7.2 d) is taken as "terminal unusable" until a person has
    # looked: the fastest clocks run, and the desk may lower the severity with a reason.
    alarm_severity="urgent",
)
