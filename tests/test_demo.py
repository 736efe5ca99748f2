"""The demo command: a police bureau with its kiosks, a university with its card terminals, every role, and
six months of work orders played through the lifecycle.

Loading the demo takes seconds, so the tests of how its records are generated read ``build_demo``'s
unsaved records; the others load it through the command.
"""

from __future__ import annotations

import random
import re
from datetime import date, timedelta

from flask import g
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from portal.auth.models import User
from portal.auth.roles import ROLES
from portal.demo import SEED, build_demo
from portal.devices.models import DEVICE_STATUSES, Device
from portal.orgs.models import Contract, Organisation, Provider, ServicePoint
from portal.plugins import registry
from portal.types import utcnow
from portal.workorders.models import CLOCK_NAMES, OPEN_STATUSES, WorkOrder

SIGN_IN_LINE = re.compile(r"^\s+(\S+)\s+(admin|clerk|engineer|requester|auditor)\s+(demo-\S+)\s+\S+", re.M)


def count(db, model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def devices_of(db, org_code: str) -> list[Device]:
    organisation = db.session.scalar(select(Organisation).where(Organisation.code == org_code))
    return list(db.session.scalars(select(Device).where(Device.organisation_id == organisation.id)))


def test_demo_loads_a_police_bureau_and_a_university_with_unique_codes(runner, db):
    result = runner.invoke(args=["demo"])

    assert result.exit_code == 0, result.output
    organisations = {org.code: org for org in db.session.scalars(select(Organisation))}
    assert {org.standard for org in organisations.values()} == {"police_kiosk", "campus_card"}
    assert count(db, Provider) == 2
    assert count(db, Contract) == 2
    police, campus = devices_of(db, "TJGA"), devices_of(db, "CCNU-IT")
    assert len(police) == 200
    assert 480 <= len(campus) <= 520
    for column in (Device.code, Organisation.code, Provider.code, ServicePoint.code, User.username):
        values = list(db.session.scalars(select(column)))
        assert len(values) == len(set(values)), column


def built() -> dict[str, list]:
    """The demo's records as ``portal demo`` builds them, unsaved."""
    return build_demo(random.Random(SEED), date.today())


def test_demo_kiosks_belong_to_police_stations_and_are_mostly_near_a_service_point(app):
    records = built()

    kiosks = records["police_devices"]
    assert all(kiosk.owning_unit.endswith("派出所") for kiosk in kiosks)
    assert all(kiosk.address.startswith("天津市") for kiosk in kiosks)
    far = [kiosk for kiosk in kiosks if kiosk.distance_km >= 100]
    assert 1 <= len(far) <= 15
    assert all("蓟州区" in kiosk.address for kiosk in far)
    assert all(kiosk.service_point is not None and kiosk.maintainer.role == "engineer" for kiosk in kiosks)
    contract = next(c for c in records["contracts"] if c.standard == "police_kiosk")
    assert contract.far_arrival_hours == 6
    assert {kiosk.kind for kiosk in kiosks} <= set(registry().standard("police_kiosk").device_kinds)


def test_demo_card_terminals_cover_every_kind_and_building(app):
    terminals = built()["campus_devices"]
    assert {t.kind for t in terminals} == {"POS收费机", "圈存机", "业务机", "网络设备"}
    assert any("食堂" in t.owning_unit or "餐厅" in t.owning_unit for t in terminals if t.kind == "POS收费机")
    assert any("图书馆" in t.owning_unit for t in terminals)
    assert any("宿舍" in t.owning_unit for t in terminals)
    statuses = [t.status for t in terminals]
    assert set(statuses) <= set(DEVICE_STATUSES)
    assert statuses.count("in_service") > 0.8 * len(statuses)


def test_demo_prints_a_sign_in_for_every_role_that_works(runner, db):
    result = runner.invoke(args=["demo"])

    sign_ins = SIGN_IN_LINE.findall(result.output)
    assert {role for _, role, _ in sign_ins} == set(ROLES)
    for username, role, password in sign_ins:
        user = db.session.scalar(select(User).where(User.username == username))
        assert user.role == role and user.active
        assert user.check_password(password)
        assert len(password) >= 10
        assert re.search(r"[\u4e00-\u9fff]", user.display_name)
    employed = db.session.scalars(select(User).where(User.role.in_(("clerk", "engineer"))))
    assert all(user.provider_id is not None for user in employed)
    staff = db.session.scalars(select(User).where(User.role.in_(("requester", "auditor"))))
    assert all(user.organisation_id is not None for user in staff)


def test_demo_if_empty_loads_once(runner, db):
    first = runner.invoke(args=["demo", "--if-empty"])
    devices = count(db, Device)
    second = runner.invoke(args=["demo", "--if-empty"])

    assert first.exit_code == 0 and second.exit_code == 0
    assert "demo not loaded" in second.output
    assert "demo-admin" in second.output
    assert count(db, Device) == devices
    assert count(db, Organisation) == 2


def test_demo_if_empty_leaves_an_existing_deployment_alone(runner, db, world):
    result = runner.invoke(args=["demo", "--if-empty"])

    assert result.exit_code == 0
    assert "demo not loaded" in result.output
    assert "demo-admin" not in result.output
    assert count(db, Organisation) == 3


def test_demo_twice_without_if_empty_refuses_and_changes_nothing(runner, db):
    runner.invoke(args=["demo"])
    devices = count(db, Device)

    result = runner.invoke(args=["demo"])

    assert result.exit_code != 0
    assert "already loaded" in result.output
    assert count(db, Device) == devices


def test_demo_is_recorded_in_an_intact_audit_trail(runner, db):
    runner.invoke(args=["demo"])

    result = runner.invoke(args=["audit", "verify"])

    assert result.exit_code == 0, result.output
    assert "intact" in result.output


def test_demo_contracts_cover_the_six_months_of_orders_whatever_the_day(app):
    for today in (date(2026, 11, 23), date(2027, 3, 1), date(2031, 9, 2)):
        for contract in build_demo(random.Random(SEED), today)["contracts"]:
            assert contract.starts_on <= today - timedelta(days=200)
            assert contract.ends_on >= today


# ----------------------------------------------------------------------------------------------------------
# Work orders
# ----------------------------------------------------------------------------------------------------------


def all_orders(db) -> list[WorkOrder]:
    statement = select(WorkOrder).options(selectinload(WorkOrder.events)).order_by(WorkOrder.id)
    return list(db.session.scalars(statement))


def steps_of(order: WorkOrder) -> list[str]:
    return [event.type for event in order.events]


def test_demo_work_orders_closed_over_six_months_with_the_side_steps(runner, db):
    result = runner.invoke(args=["demo"])

    assert result.exit_code == 0, result.output
    now = utcnow()
    orders = all_orders(db)
    closed = [order for order in orders if order.status == "closed"]
    still_open = [order for order in orders if order.status in OPEN_STATUSES]
    assert 140 <= len(closed) <= 160
    assert 20 <= len(still_open) <= 30
    assert f"({len(still_open)} open, {len(closed)} closed)" in result.output
    assert {order.standard for order in closed} == {order.standard for order in still_open} \
        == {"police_kiosk", "campus_card"}
    assert min(order.reported_at for order in closed) < now - timedelta(days=120)
    for order in closed:
        steps = steps_of(order)
        assert steps[0] == "report" and steps[-2:] == ["follow_up", "close"]
        assert order.repair_seconds is not None and order.resolved_at < order.closed_at < now
        assert ("respond" in steps) == (order.standard == "police_kiosk")
        assert "arrive" in steps or order.remote
    late = [order for order in closed if order.state_repair == "breached"]
    assert 0 < len(late) < len(closed) / 4  # mostly met, some late
    assert_side_steps(orders)


def assert_side_steps(orders: list[WorkOrder]) -> None:
    """Pauses, approved extensions, spare units, factory repairs, CC-2 classes, channels and services."""
    police = [order for order in orders if order.standard == "police_kiosk"]
    campus = [order for order in orders if order.standard == "campus_card"]
    extensions = [(order, event) for order in orders for event in order.events if event.type == "extend"]
    assert extensions
    for order, event in extensions:  # PK-5.1: agreed with the requester
        assert event.approved_by.role == "requester"
        assert event.approved_by.organisation_id == order.organisation_id
        assert event.reason and event.hours > 0
    assert any(order.spare_provided_at is not None for order in police if order.status == "closed")
    assert any(order.factory_back_at is not None and order.status == "closed" for order in campus)  # CC-4.2
    assert all(order.factory_out_at is None for order in police)
    assert any({"pause", "resume"} <= set(steps_of(order)) and order.status == "closed" for order in orders)
    assert {"general", "larger", "major", "severe", "special"} <= {order.severity for order in campus}
    special = [order for order in campus if order.severity == "special"]
    assert len(special) == 1 and special[0].cause == "bank"
    counted = [order for order in campus if order.affected_terminals or order.affected_cardholders]
    assert counted and not any(order.severity_manual for order in counted)  # CC-2 decided them
    assert any("severity" in steps_of(order) and order.channel == "monitoring" for order in police)
    assert len({order.channel for order in orders}) >= 6
    assert len({order.service_type for order in orders}) >= 4
    assert "abnormal_account" in {order.service_type for order in campus}


def test_demo_open_orders_are_assigned_and_some_are_at_risk_breached_or_paused(runner, db):
    runner.invoke(args=["demo"])

    now = utcnow()
    still_open = [order for order in all_orders(db) if order.status in OPEN_STATUSES]
    waiting = [order for order in still_open if order.status == "reported"]
    assert waiting and all(order.channel in ("web", "app", "qr") for order in waiting)
    for order in still_open:
        assert order.assignee is not None or order.status == "reported"
        if order.assignee is not None:  # PK-4.1: the contracted provider's own engineers only
            assert order.assignee.role == "engineer"
            assert order.assignee.provider_id == order.contract.provider_id
    breached = [order for order in still_open if order.breached]
    assert breached
    for order in breached:
        marked = [event.data["clock"] for event in order.events if event.type == "breach"]
        assert {name for name in CLOCK_NAMES if getattr(order, f"state_{name}") == "breached"} <= set(marked)
    assert [order.status for order in still_open].count("paused") >= 1
    at_risk = [order for order in still_open for name in CLOCK_NAMES
               if order.status != "paused" and getattr(order, f"state_{name}") == "running"
               and getattr(order, f"warn_{name}") <= now < getattr(order, f"due_{name}")]
    assert at_risk
    assert any(order.spare_unit_due for order in still_open)  # PK-5.2: past the repair deadline, no spare


def test_demo_dashboard_shows_mttr_per_severity_for_both_standards(runner, client, db):
    runner.invoke(args=["demo"])
    g.pop("visible_org_ids", None)
    client.post("/login", data={"username": "admin", "password": "demo-admin"})

    page = client.get("/orders/dashboard").get_data(as_text=True)

    cells = re.findall(r'id="mttr-(\w+)-(\w+)-(\d{4}-\d{2})" data-count="(\d+)"', page)
    repaired = {(standard, severity) for standard, severity, _month, number in cells if int(number)}
    assert {("police_kiosk", name) for name in ("urgent", "medium", "minor")} <= repaired
    assert {("campus_card", name) for name in ("general", "larger", "major")} <= repaired
    police_months = {month for standard, _severity, month, number in cells
                     if standard == "police_kiosk" and int(number)}
    assert len(police_months) >= 5
    open_counts = re.findall(r'id="open-(\w+)-\w+" data-count="(\d+)"', page)
    assert {standard for standard, number in open_counts if int(number)} == {"police_kiosk", "campus_card"}
