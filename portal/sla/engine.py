"""The SLA engine: pure functions from a work order's facts and a standard's table to clocks.

Nothing here touches the database or Flask. A clock runs from its start (acceptance or report, per the
standard's ``clock_basis``) for the target hours of the order's severity, plus the time the order was
paused while the clock ran, plus approved extensions granted while it ran. It is ``met`` when the step
that stops it happened by the deadline, ``breached`` when it happened late or has not happened by now.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

RUNNING, MET, BREACHED = "running", "met", "breached"
CLOCKS = ("response", "arrival", "repair", "factory")
WARN_FRACTION = Decimal("0.8")


@dataclass(frozen=True)
class Interval:
    """A pause: from ``start`` until ``end`` (None while still paused)."""

    start: datetime
    end: datetime | None = None


@dataclass(frozen=True)
class Extension:
    """An approved extension of ``hours``, granted at ``at``, to the clocks running then."""

    at: datetime
    hours: Decimal


@dataclass(frozen=True)
class OrderFacts:
    """What the engine needs to know about a work order."""

    severity: str | None
    reported_at: datetime
    accepted_at: datetime | None = None
    responded_at: datetime | None = None
    arrived_at: datetime | None = None
    resolved_at: datetime | None = None
    factory_out_at: datetime | None = None
    factory_back_at: datetime | None = None
    remote: bool = False
    distance_km: Decimal | None = None
    far_arrival_hours: Decimal | None = None
    remote_response_hours: Decimal | None = None
    pauses: tuple[Interval, ...] = ()
    extensions: tuple[Extension, ...] = ()


@dataclass(frozen=True)
class Clock:
    """One SLA clock of one order."""

    name: str
    start: datetime | None
    due: datetime | None
    met_at: datetime | None
    state: str | None
    paused: bool = False
    target_hours: Decimal | None = None
    note: str = ""

    @property
    def applies(self) -> bool:
        """Whether this clock has a deadline for this order."""
        return self.due is not None

    @property
    def warn_at(self) -> datetime | None:
        """When 80% of the clock's time is used."""
        if self.start is None or self.due is None:
            return None
        return self.start + (self.due - self.start) * float(WARN_FRACTION)

    def remaining(self, now: datetime) -> timedelta | None:
        """Time left (negative when overdue) for a running clock."""
        return None if self.due is None or self.met_at is not None else self.due - now


@dataclass(frozen=True)
class Targets:
    """Hours per clock for one order (None: the clock has no deadline)."""

    response: Decimal | None
    arrival: Decimal | None
    repair: Decimal | None
    factory: Decimal | None
    notes: dict = field(default_factory=dict)


def hours(value: Decimal | None) -> timedelta | None:
    """Hours as a timedelta."""
    return None if value is None else timedelta(seconds=float(value) * 3600)


def targets_for(table, facts: OrderFacts) -> Targets:
    """The target hours of each clock, from the standard's table and the order's facts."""
    row = table.severity(facts.severity) if facts.severity else None
    response = facts.remote_response_hours or (row.response_hours if row else None)
    notes = {}
    arrival = row.arrival_hours if row else None
    if table.far_distance_km is not None and facts.distance_km is not None \
            and facts.distance_km >= table.far_distance_km:
        arrival = facts.far_arrival_hours
        notes["arrival"] = "per_contract"
    if facts.remote and table.clock_basis == "accepted":
        arrival = None
        notes["arrival"] = "remote"
    if table.response_met_by == "arrive":
        response = arrival
    repair = row.repair_hours if row else None
    return Targets(response, arrival, repair, table.factory_hours, notes)


def paused_during(pauses, start: datetime, stop: datetime | None, now: datetime) -> timedelta:
    """How long the order was paused between a clock's start and its stop (or now)."""
    end_of_clock = stop or now
    total = timedelta()
    for pause in pauses:
        begin = max(pause.start, start)
        end = min(pause.end or now, end_of_clock)
        if end > begin:
            total += end - begin
    return total


def extended_during(extensions, start: datetime, stop: datetime | None) -> Decimal:
    """Hours of the extensions granted while a clock ran."""
    return sum((e.hours for e in extensions if e.at >= start and (stop is None or e.at <= stop)), Decimal(0))


def make_clock(name, start, target, stop, facts: OrderFacts, now: datetime, note="") -> Clock:
    """A clock from its start, target hours and the moment the step that stops it happened."""
    paused = any(p.end is None for p in facts.pauses) and stop is None
    if start is None or target is None:
        return Clock(name, start, None, stop, None, paused, target, note)
    extra = paused_during(facts.pauses, start, stop, now)
    due = start + hours(target + extended_during(facts.extensions, start, stop)) + extra
    if stop is not None:
        state = MET if stop <= due else BREACHED
    else:
        state = BREACHED if now > due and not paused else RUNNING
    return Clock(name, start, due, stop, state, paused, target, note)


def repair_facts(facts: OrderFacts) -> OrderFacts:
    """The facts the repair clock sees: time at the factory counts as paused, since the factory clock
    (CC-4.2, 10 days) governs that stretch instead."""
    if facts.factory_out_at is None:
        return facts
    away = Interval(facts.factory_out_at, facts.factory_back_at)
    return OrderFacts(**{**facts.__dict__, "pauses": (*facts.pauses, away)})


def compute_clocks(table, facts: OrderFacts, now: datetime) -> dict[str, Clock]:
    """All four clocks of an order at ``now``."""
    target = targets_for(table, facts)
    start = facts.reported_at if table.clock_basis == "reported" else facts.accepted_at
    response_stop = facts.arrived_at if table.response_met_by == "arrive" else facts.responded_at
    notes = target.notes
    return {
        "response": make_clock("response", start, target.response, response_stop, facts, now,
                               notes.get("arrival", "") if table.response_met_by == "arrive" else ""),
        "arrival": make_clock("arrival", start, target.arrival, facts.arrived_at, facts, now,
                              notes.get("arrival", "")),
        "repair": make_clock("repair", start, target.repair, facts.resolved_at, repair_facts(facts), now),
        "factory": make_clock("factory", facts.factory_out_at,
                              target.factory if facts.factory_out_at else None,
                              facts.factory_back_at, facts, now),
    }
