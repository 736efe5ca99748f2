"""Logging a work order through the service: what is stored, and what the returned order already holds."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import event, func, inspect, select

from portal.audit.models import AuditEvent
from portal.audit.services import acting_as, snapshot
from portal.devices.models import Device
from portal.extensions import db
from portal.orgs.models import Contract, Organisation
from portal.types import utcnow
from portal.workorders.models import WorkOrder, WorkOrderEvent
from portal.workorders.services import NewOrder, create_order


def statements_during(func):
    """Run ``func``; return its result and the SQL statements it sent."""
    sent = []

    def record(conn, cursor, statement, parameters, context, executemany):
        sent.append(statement)

    engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        return func(), sent
    finally:
        event.remove(engine, "before_cursor_execute", record)


def stored(order_id: int) -> WorkOrder:
    """The order as read back from the database."""
    db.session.expire_all()
    return db.session.get(WorkOrder, order_id)


def test_a_new_order_holds_its_organisation_contract_and_device_without_reading_them(app, world):
    with app.test_request_context():
        new = NewOrder(organisation=world.police, summary="Screen dark", device=world.police_device,
                       severity="urgent")
        contract = world.police.contracts[0]
        order = create_order(new, world.clerk)
        order_read, sent = statements_during(lambda: (order.organisation, order.contract, order.device))
        assert order_read == (world.police, contract, world.police_device) and sent == []
        assert order.due_arrival is not None  # the device's distance reached the clocks
        db.session.commit()
        again = stored(order.id)
        assert (again.organisation_id, again.contract_id, again.device_id) == \
            (world.police.id, contract.id, world.police_device.id)
        assert [(e.type, e.work_order_id) for e in again.events] == [("report", again.id), ("accept", again.id)]


def test_an_order_for_an_organisation_and_device_not_stored_yet_stores_them_first(app, world):
    with app.test_request_context():
        organisation = Organisation(code="NEW", name="新分局", standard="police_kiosk")
        contract = Contract(number="HT-NEW", organisation=organisation, provider=world.prov_a,
                            standard="police_kiosk", starts_on=utcnow().date(), far_arrival_hours=Decimal("9"))
        device = Device(code="PK-NEW", organisation=organisation, model="ZD-100", kind="自助办证机",
                        distance_km=Decimal("150"))
        db.session.add_all([organisation, contract, device])
        new = NewOrder(organisation=organisation, summary="Screen dark", device=device, severity="urgent")
        order = create_order(new, world.clerk)
        db.session.commit()
        again = stored(order.id)
        assert (again.organisation.code, again.contract.number, again.device.code) == ("NEW", "HT-NEW", "PK-NEW")
        assert (again.due_arrival - again.accepted_at).total_seconds() == 9 * 3600


def test_an_order_without_a_device_or_contract_stores_neither(app, world):
    with app.test_request_context():
        bare = Organisation(code="BARE", name="无合同分局", standard="police_kiosk")
        db.session.add(bare)
        db.session.commit()
        order = create_order(NewOrder(organisation=bare, summary="Screen dark", severity="urgent"), world.clerk)
        assert (order.contract, order.device) == (None, None)
        db.session.commit()
        again = stored(order.id)
        assert (again.organisation_id, again.contract_id, again.device_id) == (bare.id, None, None)


def test_the_returned_order_holds_every_column_as_stored_and_reads_nothing_back(app, world):
    """The order goes in by one INSERT statement, not the flush: the object must still be what a read
    would give, so that the answer and the audit event describe the stored row."""
    with app.test_request_context():
        new = NewOrder(organisation=world.police, summary="Screen dark", device=world.police_device,
                       severity="urgent")
        order = create_order(new, world.clerk)
        columns = [attr.key for attr in inspect(WorkOrder).column_attrs]
        held, sent = statements_during(lambda: {key: getattr(order, key) for key in columns})
        assert sent == [] and held["id"] and held["created_at"] and held["breached"] is False
        assert order in db.session and not db.session.dirty and not db.session.new
        db.session.commit()
        again = stored(order.id)
        assert {key: getattr(again, key) for key in columns} == held


def test_a_new_orders_audit_event_is_the_whole_stored_record(app, world):
    with app.test_request_context(), acting_as("clerk", world.clerk.id):
        order = create_order(NewOrder(organisation=world.police, summary="Screen dark", severity="minor"),
                             world.clerk)
        db.session.commit()
        event = db.session.scalars(select(AuditEvent).where(
            AuditEvent.table_name == "work_order", AuditEvent.record_id == str(order.id))).one()
        assert (event.action, event.actor_id, event.organisation_id) == ("create", world.clerk.id, world.police.id)
        assert event.after == snapshot(stored(order.id))


def test_the_first_events_store_no_json_where_none_was_given(app, world):
    """An unset JSON column is SQL NULL (as the flush leaves it), not the JSON text null."""
    with app.test_request_context():
        order = create_order(NewOrder(organisation=world.police, summary="Screen dark", severity="minor"),
                             world.clerk)
        db.session.commit()
        nulls = db.session.scalar(select(func.count()).select_from(WorkOrderEvent).where(
            WorkOrderEvent.work_order_id == order.id, WorkOrderEvent.data.is_(None)))
        assert nulls == 2


def test_an_order_created_then_rolled_back_is_gone_from_the_session_and_the_trail(app, world):
    """SQLite gives the next order the rolled-back one's id: the session must not still hold the first."""
    with app.test_request_context():
        gone = create_order(NewOrder(organisation=world.police, summary="Gone", severity="minor"), world.clerk)
        db.session.rollback()
        assert gone not in db.session and inspect(gone).transient
        kept = create_order(NewOrder(organisation=world.police, summary="Kept", severity="minor"), world.clerk)
        db.session.commit()
        trail = db.session.scalars(select(AuditEvent).where(AuditEvent.table_name == "work_order")).all()
        assert [(event.record_id, event.after["summary"]) for event in trail] == [(str(kept.id), "Kept")]
        assert db.session.scalars(select(WorkOrder.summary)).all() == ["Kept"]


def test_a_savepoint_rolled_back_takes_back_only_its_own_order(app, world):
    with app.test_request_context():
        kept = create_order(NewOrder(organisation=world.police, summary="Kept", severity="minor"), world.clerk)
        savepoint = db.session.begin_nested()
        gone = create_order(NewOrder(organisation=world.police, summary="Gone", severity="minor"), world.clerk)
        savepoint.rollback()
        assert kept in db.session and gone not in db.session
        db.session.commit()
        assert db.session.scalars(select(WorkOrder.summary)).all() == ["Kept"]
