"""The demo command: a police bureau with its kiosks, a university with its card terminals, every role."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from portal.auth.models import User
from portal.auth.roles import ROLES
from portal.devices.models import DEVICE_STATUSES, Device
from portal.orgs.models import Contract, Organisation, Provider, ServicePoint
from portal.plugins import registry

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


def test_demo_kiosks_belong_to_police_stations_and_are_mostly_near_a_service_point(runner, db):
    runner.invoke(args=["demo"])

    kiosks = devices_of(db, "TJGA")
    assert all(kiosk.owning_unit.endswith("派出所") for kiosk in kiosks)
    assert all(kiosk.address.startswith("天津市") for kiosk in kiosks)
    far = [kiosk for kiosk in kiosks if kiosk.distance_km >= 100]
    assert 1 <= len(far) <= 15
    assert all("蓟州区" in kiosk.address for kiosk in far)
    assert all(kiosk.service_point is not None and kiosk.maintainer.role == "engineer" for kiosk in kiosks)
    contract = db.session.scalar(select(Contract).where(Contract.standard == "police_kiosk"))
    assert contract.far_arrival_hours == 6
    assert {kiosk.kind for kiosk in kiosks} <= set(registry().standard("police_kiosk").device_kinds)


def test_demo_card_terminals_cover_every_kind_and_building(runner, db):
    runner.invoke(args=["demo"])

    terminals = devices_of(db, "CCNU-IT")
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
