"""The campus-card O&M quality specification as data: the severity table with its targets (CC-2, CC-4.2),
the counting rule's bounds (the CC-2 decision), the causes that make a fault special, and the terminal
kinds. A deployment edits these tables, never the code that reads them."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from portal.specs import CORE_SERVICE_TYPES, Severity, SpecError, Standard

NAME = "campus_card"
CODE = "校园一卡通基础运维外包服务质量规范"

# CC-4.2: return-to-factory repair within 10 days.
FACTORY_HOURS = Decimal("240")

# CC-3: abnormal account handling (系统异常账务处理) is a service type of its own.
SERVICE_TYPES = (*CORE_SERVICE_TYPES, "abnormal_account")


@dataclass(frozen=True)
class Band:
    """One class of a count scale: the severity and the smallest count that falls in it."""

    severity: str
    lowest: int


@dataclass(frozen=True)
class SeverityRules:
    """The CC-2 rule as data: one count scale for terminals, one for cardholders, and the causes that make
    a fault special whatever the counts. Each scale lists its bands from the lowest count up."""

    terminals: tuple[Band, ...]
    cardholders: tuple[Band, ...]
    special_causes: tuple[str, ...]
    special_severity: str = "special"

    def validate(self, standard: Standard) -> None:
        """Refuse scales that do not start at 1 or rise, and severities the table lacks."""
        for scale in (self.terminals, self.cardholders):
            lows = [band.lowest for band in scale]
            if not lows or lows[0] != 1 or lows != sorted(set(lows)):
                raise SpecError(f"{standard.id}: count bands must start at 1 and rise strictly")
            for band in scale:
                standard.severity(band.severity)
        standard.severity(self.special_severity)


# The CC-2 decision: 以上/以下 include the number itself, and a value two ranges share goes to the less
# severe class. Terminals 1–5 general, 6–10 larger, 11–49 major, ≥ 50 severe; cardholders 1 general,
# 2–100 larger, 101–999 major, ≥ 1000 severe.
SEVERITY_RULES = SeverityRules(
    terminals=(Band("general", 1), Band("larger", 6), Band("major", 11), Band("severe", 50)),
    cardholders=(Band("general", 1), Band("larger", 2), Band("major", 101), Band("severe", 1000)),
    special_causes=("bank", "backbone_fibre", "third_party"),
)

# CC-2 special faults: causes outside the contracted service.
CAUSES = (
    ("bank", _l("Bank side")),
    ("backbone_fibre", _l("Backbone fibre line")),
    ("third_party", _l("Third-party system")),
)


def range_text(scale: tuple[Band, ...], severity: str) -> str:
    """The counts a severity covers on a scale, e.g. '6–10', '1' or '50 or more' ('' when absent)."""
    for index, band in enumerate(scale):
        if band.severity != severity:
            continue
        if index + 1 == len(scale):
            return _("%(lowest)s or more", lowest=band.lowest)
        highest = scale[index + 1].lowest - 1
        return str(band.lowest) if highest == band.lowest else f"{band.lowest}–{highest}"
    return ""


class LazyRange:
    """A severity's count range on a scale, rendered when shown (in the reader's language, from the
    current rules, so descriptions follow edited bounds)."""

    def __init__(self, scale: tuple[Band, ...], severity: str):
        self.scale, self.severity = scale, severity

    def __str__(self) -> str:
        return range_text(self.scale, self.severity)


def count_description(severity: str):
    """The description of a count class, from the rules' bounds."""
    return _l("Affected terminals: %(terminals)s; or affected cardholders: %(cardholders)s.",
              terminals=LazyRange(SEVERITY_RULES.terminals, severity),
              cardholders=LazyRange(SEVERITY_RULES.cardholders, severity))


# CC-4.2: response (arrival on site, CC-2r) and repair targets per class, both from the report.
SEVERITIES = (
    Severity("severe", _l("Severe"), 1, count_description("severe"),
             Decimal("0.5"), Decimal("0.5"), Decimal("72"), "CC-4.2", "严重"),
    Severity("major", _l("Major"), 2, count_description("major"),
             Decimal("0.5"), Decimal("0.5"), Decimal("48"), "CC-4.2", "大"),
    Severity("larger", _l("Larger"), 3, count_description("larger"),
             Decimal("0.5"), Decimal("0.5"), Decimal("24"), "CC-4.2", "较大"),
    Severity("general", _l("General"), 4,
             _l("Affected terminals: %(terminals)s; or one card with a non-physical fault.",
                terminals=LazyRange(SEVERITY_RULES.terminals, "general")),
             Decimal("1"), Decimal("1"), Decimal("12"), "CC-4.2", "一般"),
    Severity("special", _l("Special"), 5,
             _l("Caused by the bank side, the backbone fibre or a third-party system, outside the contract; "
                "no repair target, tracked with the third party."),
             Decimal("0.5"), Decimal("0.5"), None, "CC-4.2", "特殊"),
)

# The campus-card system's equipment (CC scope: terminals, dedicated network, servers).
DEVICE_KINDS = (
    "POS收费机",
    "圈存机",
    "业务机",
    "自助服务终端",
    "门禁终端",
    "网络设备",
    "服务器",
)

STANDARD = Standard(
    id=NAME,
    code=CODE,
    title=_l("Campus card O&M"),
    severities=SEVERITIES,
    device_kinds=DEVICE_KINDS,
    manual_severity=True,
    clock_basis="reported",
    notes=_l("Severity follows from the affected terminals or cardholders (the more severe of the two), "
             "or is special by cause; a person chooses when neither count is known. Rank 1 is the most "
             "severe; special sits outside the count scale."),
    far_distance_km=None,
    factory_hours=FACTORY_HOURS,
    response_met_by="arrive",
    follow_up_required=True,
    service_types=SERVICE_TYPES,
    alarm_severity=None,
    causes=CAUSES,
)

SEVERITY_RULES.validate(STANDARD)
