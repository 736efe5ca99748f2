"""The CC-2 severity rule: the class of a campus-card fault from its counts and cause, read from the
plugin's table data (``tables.SEVERITY_RULES``), with a reason a person can check."""

from __future__ import annotations

from flask_babel import gettext as _

from plugins.campus_card.tables import CAUSES, SEVERITY_RULES, STANDARD, Band, SeverityRules, range_text
from portal.specs import SeverityDecision, Standard


def count_of(value) -> int | None:
    """A count from the facts; None, zero or less means the count is not given."""
    if value is None or value == "":
        return None
    count = int(value)
    return count if count > 0 else None


def band_for(count: int, scale: tuple[Band, ...]) -> Band:
    """The band a positive count falls in: the last one whose lowest count it reaches."""
    return [band for band in scale if count >= band.lowest][-1]


def cause_label(cause: str) -> str:
    """A cause id in the reader's language."""
    return str(dict(CAUSES).get(cause, cause))


def count_reason(count: int, scale: tuple[Band, ...], kind: str, standard: Standard) -> tuple[Band, str]:
    """The band of one count and the words that explain it."""
    band = band_for(count, scale)
    label = standard.severity(band.severity).label
    covered = range_text(scale, band.severity)
    if kind == "terminals":
        text = _("%(count)s affected terminals: %(severity)s, for %(range)s terminals",
                 count=count, severity=label, range=covered)
    else:
        text = _("%(count)s affected cardholders: %(severity)s, for %(range)s cardholders",
                 count=count, severity=label, range=covered)
    return band, text


def counted(facts: dict, rules: SeverityRules, standard: Standard) -> list[tuple[Band, str]]:
    """The band and the explaining words of each count the facts give (terminals first)."""
    scales = (("terminals", facts.get("affected_terminals"), rules.terminals),
              ("cardholders", facts.get("affected_cardholders"), rules.cardholders))
    return [count_reason(count, scale, kind, standard)
            for kind, raw, scale in scales if (count := count_of(raw)) is not None]


def classify(facts: dict, rules: SeverityRules = SEVERITY_RULES,
             standard: Standard = STANDARD) -> SeverityDecision | None:
    """Special by cause; else the more severe class of the counts given; None when neither is given."""
    cause = facts.get("cause")
    if cause in rules.special_causes:
        reason = _("Cause: %(cause)s. %(severity)s, whatever the counts (CC-2).", cause=cause_label(cause),
                   severity=standard.severity(rules.special_severity).label)
        return SeverityDecision(rules.special_severity, reason)
    found = counted(facts, rules, standard)
    if not found:
        return None
    if len(found) == 1:
        band, text = found[0]
        return SeverityDecision(band.severity, _("%(rule)s (CC-2).", rule=text))
    band = min((band for band, _text in found), key=lambda band: standard.severity(band.severity).rank)
    reason = _("%(first)s; %(second)s. The more severe class, %(severity)s, applies (CC-2).",
               first=found[0][1], second=found[1][1], severity=standard.severity(band.severity).label)
    return SeverityDecision(band.severity, reason)
