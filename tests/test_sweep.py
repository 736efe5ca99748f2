"""The breach sweep: overdue clocks breached with a timeline event, escalations queued, re-runs inert."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

import portal.sla.sweep as sweep_module
from portal.extensions import db
from portal.hookspecs import hookimpl
from portal.plugins import registry
from portal.sla.sweep import sweep
from portal.types import utcnow
from portal.workorders.models import CLOCK_NAMES, Notification, WorkOrder, WorkOrderEvent
from portal.workorders.services import NewOrder, apply_step, create_order

HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)


def log_order(app, world, ago: timedelta, org="police", severity="urgent", assignee=None, **extra) -> int:
    """A phone report the desk logged ``ago`` (accepted at once); its id."""
    with app.test_request_context():
        organisation = getattr(world, org)
        device = world.police_device if org == "police" else world.campus_device
        order = create_order(NewOrder(organisation=organisation, summary="Screen dark", device=device,
                                      severity=severity, reported_at=utcnow() - ago, **extra), world.clerk)
        if assignee is not None:
            apply_step(order, "assign", world.clerk, at=order.reported_at, assignee=assignee)
        db.session.commit()
        return order.id


def step(app, world, order_id: int, name: str, at, **values) -> None:
    """Record a step on an order as the clerk."""
    with app.test_request_context():
        order = db.session.get(WorkOrder, order_id)
        apply_step(order, name, world.clerk, at=at, **values)
        db.session.commit()


def fresh(order_id: int) -> WorkOrder:
    """The order as stored now (after SQL the ORM did not see)."""
    db.session.expire_all()
    return db.session.get(WorkOrder, order_id)


def breach_events(order_id: int) -> list[WorkOrderEvent]:
    statement = select(WorkOrderEvent).where(WorkOrderEvent.work_order_id == order_id,
                                             WorkOrderEvent.type == "breach")
    return list(db.session.scalars(statement.order_by(WorkOrderEvent.id)))


def queued() -> set[tuple]:
    """(order id, clock, kind, recipient username, channel) of every notification."""
    rows = db.session.scalars(select(Notification))
    return {(n.work_order_id, n.clock, n.kind, n.recipient.username, n.channel) for n in rows}


def give_contacts(world, *usernames, phone=False) -> None:
    """Give users an e-mail address (and a phone number)."""
    for username in usernames:
        user = getattr(world, username)
        user.email = f"{username}@example.org"
        user.phone = "13800000000" if phone else ""
    db.session.commit()


def snapshot() -> tuple:
    """Everything the sweep may write: row counts and every order's clock columns."""
    columns = [WorkOrder.id, WorkOrder.next_due, WorkOrder.breached, WorkOrder.updated_at,
               *(getattr(WorkOrder, f"state_{name}") for name in CLOCK_NAMES)]
    return (
        db.session.scalar(select(func.count()).select_from(WorkOrderEvent)),
        db.session.scalar(select(func.count()).select_from(Notification)),
        db.session.execute(select(*columns).order_by(WorkOrder.id)).all(),
    )


class SmsGateway:
    """A deployment's SMS gateway, as a plugin."""

    @hookimpl
    def portal_send_sms(self, phone, message):
        return "queued"


def test_overdue_clock_is_breached_with_an_event_on_the_timeline(app, world):
    order_id = log_order(app, world, ago=HOUR)  # police urgent: response due after 0.5 h
    result = sweep()
    order = fresh(order_id)
    assert (result.breaches, result.orders) == (1, 1)
    assert (order.state_response, order.state_arrival, order.state_repair) == \
        ("breached", "running", "running")
    assert order.breached is True
    [event] = breach_events(order_id)
    assert event.data == {"clock": "response"}
    assert event.at == order.due_response
    assert event.actor_name == "system"


def test_next_due_moves_to_the_earliest_clock_still_running(app, world):
    order_id = log_order(app, world, ago=HOUR)
    sweep()
    order = fresh(order_id)
    assert order.next_due == min(order.due_arrival, order.due_repair)
    sweep(utcnow() + 3 * HOUR)
    order = fresh(order_id)
    assert (order.state_arrival, order.state_repair) == ("breached", "breached")
    assert order.next_due is None
    assert [event.data["clock"] for event in breach_events(order_id)] == ["response", "arrival", "repair"]


def test_a_rerun_changes_nothing(app, world):
    give_contacts(world, "engineer", "clerk", "requester")
    log_order(app, world, ago=HOUR, assignee=world.engineer)
    log_order(app, world, ago=25 * MINUTE, assignee=world.engineer)
    now = utcnow()
    first = sweep(now)
    assert first.breaches == 1 and first.notifications > 0
    before = snapshot()
    again = sweep(now)
    later = sweep(now + MINUTE)
    assert (again.breaches, again.orders, again.notifications) == (0, 0, 0)
    assert (later.breaches, later.orders, later.notifications) == (0, 0, 0)
    assert snapshot() == before


def test_breach_escalates_to_assignee_desk_and_requesters(app, world):
    give_contacts(world, "engineer", "clerk", "other_clerk", "requester", "other_requester", "auditor",
                  "admin")
    order_id = log_order(app, world, ago=HOUR, assignee=world.engineer)
    result = sweep()
    assert result.breach_notifications == 3
    assert queued() == {
        (order_id, "response", "breach", "engineer", "email"),
        (order_id, "response", "breach", "clerk", "email"),
        (order_id, "response", "breach", "requester", "email"),
    }
    assert {n.status for n in db.session.scalars(select(Notification))} == {"pending"}


def test_users_without_address_or_inactive_get_nothing(app, world):
    give_contacts(world, "clerk", "requester")
    world.requester.active = False
    db.session.commit()
    order_id = log_order(app, world, ago=HOUR, assignee=world.engineer)
    sweep()
    assert queued() == {(order_id, "response", "breach", "clerk", "email")}


def test_sms_rows_only_when_a_gateway_is_installed(app, world):
    give_contacts(world, "clerk", "requester", phone=True)
    first = log_order(app, world, ago=HOUR)
    sweep()
    assert {row[4] for row in queued()} == {"email"}
    registry().pm.register(SmsGateway(), name="test-sms-gateway")
    second = log_order(app, world, ago=HOUR)
    sweep()
    assert {row[3:] for row in queued() if row[0] == second} == {
        ("clerk", "email"), ("clerk", "sms"), ("requester", "email"), ("requester", "sms"),
    }
    assert {row[4] for row in queued() if row[0] == first} == {"email"}


def test_warning_at_80_percent_goes_to_the_assignee_once(app, world):
    give_contacts(world, "engineer", "clerk", "requester")
    order_id = log_order(app, world, ago=25 * MINUTE, assignee=world.engineer)  # response warns at 24 min
    log_order(app, world, ago=25 * MINUTE)  # nobody assigned: nobody warned
    result = sweep()
    assert (result.breaches, result.warning_notifications) == (0, 1)
    assert queued() == {(order_id, "response", "warning", "engineer", "email")}
    assert fresh(order_id).state_response == "running"
    assert sweep().notifications == 0


def test_a_clock_before_its_80_percent_mark_is_quiet(app, world):
    give_contacts(world, "engineer")
    log_order(app, world, ago=20 * MINUTE, assignee=world.engineer)
    assert sweep().notifications == 0
    assert queued() == set()


def test_paused_order_is_not_breached(app, world):
    order_id = log_order(app, world, ago=10 * MINUTE)
    step(app, world, order_id, "pause", at=utcnow() - 5 * MINUTE, reason="Waiting for the station to open")
    result = sweep(utcnow() + 12 * HOUR)
    assert result.breaches == 0
    order = fresh(order_id)
    assert order.state_response == "running" and not order.breached
    assert breach_events(order_id) == []


def test_met_clocks_and_closed_orders_are_left_alone(app, world):
    order_id = log_order(app, world, ago=20 * MINUTE)
    step(app, world, order_id, "respond", at=utcnow() - 10 * MINUTE)
    result = sweep(utcnow() + 3 * HOUR)
    order = fresh(order_id)
    assert result.breaches == 2
    assert (order.state_response, order.state_arrival, order.state_repair) == ("met", "breached", "breached")


def test_repair_clock_stands_still_while_the_device_is_at_the_factory(app, world):
    order_id = log_order(app, world, ago=2 * HOUR, org="campus", severity="general")  # repair 12 h
    step(app, world, order_id, "arrive", at=utcnow() - 90 * MINUTE)
    step(app, world, order_id, "factory_out", at=utcnow() - 80 * MINUTE)
    result = sweep(utcnow() + 11 * HOUR)
    order = fresh(order_id)
    assert result.breaches == 0
    assert (order.state_response, order.state_repair, order.state_factory) == ("met", "running", "running")


def test_an_order_logged_after_its_deadline_is_breached_by_the_sweep(app, world):
    """A clock already overdue when a step recomputes it stays running until the sweep records it."""
    order_id = log_order(app, world, ago=3 * HOUR)
    order = fresh(order_id)
    assert order.state_response == "running" and order.next_due < utcnow()
    assert sweep().breaches == 3
    step(app, world, order_id, "respond", at=utcnow())
    order = fresh(order_id)
    assert order.state_response == "breached"  # answered late: stays breached
    assert (order.state_arrival, order.state_repair) == ("breached", "breached")
    assert sweep().breaches == 0


def test_many_orders_in_one_pass(app, world):
    ids = [log_order(app, world, ago=HOUR + index * MINUTE) for index in range(30)]
    result = sweep()
    assert (result.breaches, result.orders) == (30, 30)
    assert db.session.scalar(select(func.count()).select_from(WorkOrderEvent).where(
        WorkOrderEvent.type == "breach")) == 30
    assert {fresh(order_id).state_response for order_id in ids} == {"breached"}


def test_the_deadline_itself_is_not_yet_a_breach(app, world):
    order_id = log_order(app, world, ago=10 * MINUTE)
    due = fresh(order_id).due_response
    assert due == fresh(order_id).reported_at + HOUR / 2
    assert sweep(due).breaches == 0
    assert sweep(due + timedelta(microseconds=1)).breaches == 1


def test_a_pause_after_a_breach_does_not_undo_it_nor_record_it_twice(app, world):
    order_id = log_order(app, world, ago=HOUR)
    assert sweep().breaches == 1
    step(app, world, order_id, "pause", at=utcnow() - MINUTE, reason="Station closed for the night")
    assert fresh(order_id).state_response == "breached"
    step(app, world, order_id, "resume", at=utcnow())
    order = fresh(order_id)
    assert order.state_response == "breached" and order.breached
    assert sweep().breaches == 0
    assert len(breach_events(order_id)) == 1


def test_an_extension_past_the_breach_lets_the_clock_run_again(app, world):
    order_id = log_order(app, world, ago=HOUR)
    sweep()
    step(app, world, order_id, "extend", at=utcnow(), reason="Mountain road closed", hours="2",
         approved_by=world.requester)
    order = fresh(order_id)
    assert order.state_response == "running" and order.due_response > utcnow()
    assert order.next_due == order.due_response
    assert sweep().breaches == 0


def test_a_clock_breached_again_after_an_extension_is_recorded_but_not_notified_twice(app, world):
    give_contacts(world, "engineer", "clerk", "requester")
    order_id = log_order(app, world, ago=HOUR, assignee=world.engineer)
    assert sweep().breach_notifications == 3
    step(app, world, order_id, "extend", at=utcnow(), reason="Mountain road closed", hours="1",
         approved_by=world.requester)
    due = fresh(order_id).due_response
    again = sweep(due + MINUTE)
    assert (again.breaches, again.breach_notifications) == (1, 0)
    assert [event.data["clock"] for event in breach_events(order_id)] == ["response", "response"]
    assert fresh(order_id).state_response == "breached"
    assert len([row for row in queued() if row[1] == "response" and row[2] == "breach"]) == 3


def test_an_assignee_who_is_also_on_the_desk_is_notified_once(app, world):
    give_contacts(world, "engineer", "clerk", "requester")
    order_id = log_order(app, world, ago=HOUR, assignee=world.engineer)
    world.engineer.role = "clerk"  # moved to the provider's desk while the order is still assigned to him
    db.session.commit()
    assert sweep().breach_notifications == 3
    assert queued() == {
        (order_id, "response", "breach", "engineer", "email"),
        (order_id, "response", "breach", "clerk", "email"),
        (order_id, "response", "breach", "requester", "email"),
    }


@pytest.mark.postgres_only
def test_a_sweep_that_raced_another_runs_again_and_records_nothing_twice(app, world, backend, monkeypatch):
    """A sweep whose snapshot predates the commit of a sweep that held the lock before it meets that sweep's
    notifications, rolls back and runs again: the job does not fail and no breach is recorded twice."""
    give_contacts(world, "engineer", "clerk", "requester")
    order_id = log_order(app, world, ago=HOUR, assignee=world.engineer)
    now = utcnow()
    take_lock, rival = sweep_module.take_lock, {}

    def lock_after_a_rival_sweep(connection):
        if "result" not in rival:
            rival["result"] = None
            connection.execute(text("SELECT 1"))  # this sweep's snapshot, before the rival commits
            rival["result"] = sweep(now)
        return take_lock(connection)

    monkeypatch.setattr(sweep_module, "take_lock", lock_after_a_rival_sweep)
    late = sweep(now)
    assert (rival["result"].breaches, rival["result"].breach_notifications) == (1, 3)
    assert (late.breaches, late.orders, late.notifications) == (0, 0, 0)
    assert len(breach_events(order_id)) == 1
    assert len(queued()) == 3


@pytest.mark.postgres_only
def test_the_sweep_runs_without_jit_compilation(app, world, backend, monkeypatch):
    """Compiling the sweep's large statements would cost more than running them once the open orders grow."""
    settings = []
    run_statements = sweep_module.run_statements

    def recording(connection, now, channels):
        settings.append(connection.execute(text("SHOW jit")).scalar_one())
        return run_statements(connection, now, channels)

    monkeypatch.setattr(sweep_module, "run_statements", recording)
    sweep()
    assert settings == ["off"]
    assert db.session.execute(text("SHOW jit")).scalar_one() == "on"  # only the sweep's transaction
