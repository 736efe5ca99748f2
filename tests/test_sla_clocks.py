"""Every clock of both standards' tables at and around its boundaries (pure engine, no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

import plugins.campus_card as campus_plugin
import plugins.police_kiosk as police_plugin
from portal.sla.engine import BREACHED, MET, RUNNING, Extension, Interval, OrderFacts, compute_clocks

POLICE = police_plugin.portal_standards()[0]
CAMPUS = campus_plugin.portal_standards()[0]
T0 = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)


def h(value) -> timedelta:
    return timedelta(hours=float(value))


def police(severity="urgent", distance="10", **extra) -> OrderFacts:
    return OrderFacts(severity=severity, reported_at=T0 - timedelta(minutes=7), accepted_at=T0,
                      distance_km=Decimal(distance), **extra)


def campus(severity="general", **extra) -> OrderFacts:
    return OrderFacts(severity=severity, reported_at=T0, **extra)


@pytest.mark.parametrize(("severity", "repair_hours"), [("urgent", 2), ("medium", 4), ("minor", 8)])
def test_police_repair_clock_by_severity(severity, repair_hours):
    due = T0 + h(repair_hours)
    assert compute_clocks(POLICE, police(severity), due - SECOND)["repair"].state == RUNNING
    assert compute_clocks(POLICE, police(severity), due)["repair"].due == due
    assert compute_clocks(POLICE, police(severity), due + SECOND)["repair"].state == BREACHED
    on_time = police(severity, resolved_at=due)
    late = police(severity, resolved_at=due + SECOND)
    assert compute_clocks(POLICE, on_time, due + h(1))["repair"].state == MET
    assert compute_clocks(POLICE, late, due + h(1))["repair"].state == BREACHED


def test_police_clocks_run_from_acceptance_not_report():
    clocks = compute_clocks(POLICE, police(), T0)
    assert clocks["response"].start == T0
    assert clocks["response"].due == T0 + h("0.5")
    assert clocks["arrival"].due == T0 + h(2)


def test_police_response_met_by_respond_step_at_the_boundary():
    due = T0 + h("0.5")
    assert compute_clocks(POLICE, police(responded_at=due), due)["response"].state == MET
    assert compute_clocks(POLICE, police(responded_at=due + SECOND), due + SECOND)["response"].state == BREACHED
    assert compute_clocks(POLICE, police(), due + SECOND)["response"].state == BREACHED


@pytest.mark.parametrize(
    ("distance", "far_hours", "expected"),
    [("99.99", None, 2), ("0", None, 2), ("100", "6", 6), ("100", None, None), ("250", "8", 8)],
)
def test_police_arrival_by_distance(distance, far_hours, expected):
    facts = police(distance=distance, far_arrival_hours=Decimal(far_hours) if far_hours else None)
    clock = compute_clocks(POLICE, facts, T0)["arrival"]
    assert clock.due == (T0 + h(expected) if expected else None)
    if expected is None:
        assert clock.state is None and clock.note == "per_contract"


def test_police_remote_order_has_no_arrival_clock():
    assert compute_clocks(POLICE, police(remote=True), T0)["arrival"].due is None


def test_police_contract_can_override_remote_response():
    facts = police(remote_response_hours=Decimal("1"))
    assert compute_clocks(POLICE, facts, T0)["response"].due == T0 + h(1)


def test_police_has_no_factory_clock():
    facts = police(factory_out_at=T0 + h(1))
    assert compute_clocks(POLICE, facts, T0 + h(2))["factory"].due is None


@pytest.mark.parametrize(
    ("severity", "response", "repair"),
    [("general", 1, 12), ("larger", "0.5", 24), ("major", "0.5", 48), ("severe", "0.5", 72), ("special", "0.5", None)],
)
def test_campus_targets_run_from_the_report(severity, response, repair):
    clocks = compute_clocks(CAMPUS, campus(severity), T0)
    assert clocks["response"].due == T0 + h(response)
    assert clocks["arrival"].due == clocks["response"].due
    assert clocks["repair"].due == (T0 + h(repair) if repair else None)


def test_campus_response_means_arrival_on_site():
    due = T0 + h(1)
    responded_only = campus(responded_at=T0 + h("0.1"))
    assert compute_clocks(CAMPUS, responded_only, due + SECOND)["response"].state == BREACHED
    arrived = campus(arrived_at=due)
    assert compute_clocks(CAMPUS, arrived, due + SECOND)["response"].state == MET
    assert compute_clocks(CAMPUS, campus(arrived_at=due + SECOND), due + h(1))["response"].state == BREACHED


def test_campus_factory_return_is_due_in_ten_days():
    out = T0 + h(2)
    facts = campus(factory_out_at=out)
    clock = compute_clocks(CAMPUS, facts, out)["factory"]
    assert clock.due == out + timedelta(days=10)
    back_on_time = campus(factory_out_at=out, factory_back_at=out + timedelta(days=10))
    assert compute_clocks(CAMPUS, back_on_time, out + timedelta(days=11))["factory"].state == MET
    late = compute_clocks(CAMPUS, facts, out + timedelta(days=10) + SECOND)["factory"]
    assert late.state == BREACHED


def test_time_at_the_factory_does_not_count_against_the_repair_clock():
    out, back = T0 + h(1), T0 + h(1) + timedelta(days=3)
    facts = campus(factory_out_at=out, factory_back_at=back)
    assert compute_clocks(CAMPUS, facts, back)["repair"].due == T0 + h(12) + timedelta(days=3)


def test_a_pause_stops_running_clocks_and_moves_their_deadline():
    pause = Interval(T0 + h("0.25"), T0 + h("1.25"))
    clocks = compute_clocks(POLICE, police(pauses=(pause,)), T0 + h(2))
    assert clocks["response"].due == T0 + h("1.5")
    assert clocks["repair"].due == T0 + h(3)


def test_a_pause_does_not_move_a_clock_already_met():
    facts = police(responded_at=T0 + h("0.2"), pauses=(Interval(T0 + h("0.25"), T0 + h("1.25")),))
    assert compute_clocks(POLICE, facts, T0 + h(2))["response"].due == T0 + h("0.5")


def test_an_open_pause_keeps_the_clock_running_not_breached():
    facts = police(pauses=(Interval(T0 + h(1), None),))
    clock = compute_clocks(POLICE, facts, T0 + h(5))["repair"]
    assert clock.paused and clock.state == RUNNING
    assert clock.due == T0 + h(2) + h(4)


def test_an_extension_moves_the_deadline_of_running_clocks_only():
    facts = police(responded_at=T0 + h("0.2"), extensions=(Extension(T0 + h(1), Decimal("3")),))
    clocks = compute_clocks(POLICE, facts, T0 + h(2))
    assert clocks["repair"].due == T0 + h(5)
    assert clocks["response"].due == T0 + h("0.5")


def test_warning_mark_is_at_eighty_percent():
    clock = compute_clocks(POLICE, police("minor"), T0)["repair"]
    assert clock.warn_at == T0 + h("6.4")
