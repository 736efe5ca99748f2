"""Small builders for test data, committed through the ORM (so the audit trail sees them)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from types import SimpleNamespace

from portal.auth.models import User
from portal.devices.models import Device
from portal.extensions import db
from portal.orgs.models import Contract, Organisation, Provider, ServicePoint

PASSWORD = "correct-horse-battery"


def save(*records):
    """Add and commit records; return the first."""
    db.session.add_all(records)
    db.session.commit()
    return records[0]


def organisation(code: str, name: str, standard: str = "police_kiosk") -> Organisation:
    return save(Organisation(code=code, name=name, standard=standard))


def provider(code: str, name: str) -> Provider:
    return save(Provider(code=code, name=name))


def contract(number: str, org: Organisation, prov: Provider, **extra) -> Contract:
    extra.setdefault("standard", org.standard)
    return save(Contract(number=number, organisation=org, provider=prov, starts_on=date(2026, 1, 1), **extra))


def service_point(code: str, org: Organisation, prov: Provider | None = None) -> ServicePoint:
    return save(ServicePoint(code=code, name=f"网点 {code}", organisation=org, provider=prov))


def user(username: str, role: str, org: Organisation | None = None, prov: Provider | None = None,
         **extra) -> User:
    account = User(username=username, role=role, organisation=org, provider=prov, **extra)
    account.set_password(PASSWORD)
    return save(account)


def device(code: str, org: Organisation, **extra) -> Device:
    extra.setdefault("model", "ZD-100")
    extra.setdefault("kind", "自助办证机")
    extra.setdefault("address", "天津市和平区南京路1号")
    extra.setdefault("distance_km", Decimal("12.5"))
    return save(Device(code=code, organisation=org, **extra))


def world() -> SimpleNamespace:
    """Two organisations served by provider A, a third served by provider B, one user per role."""
    police = organisation("TJPSB", "天津市公安局和平分局")
    campus = organisation("CCNU", "华中师范大学信息化办公室", "campus_card")
    other = organisation("OTHER", "其他公安分局")
    prov_a = provider("PROV-A", "津安运维服务有限公司")
    prov_b = provider("PROV-B", "另一家运维公司")
    contract("HT-2026-001", police, prov_a, far_arrival_hours=Decimal("6"))
    contract("HT-2026-002", campus, prov_a)
    contract("HT-2026-003", other, prov_b)
    point = service_point("SP-01", police, prov_a)
    return SimpleNamespace(
        police=police, campus=campus, other=other, prov_a=prov_a, prov_b=prov_b, point=point,
        admin=user("admin", "admin"),
        clerk=user("clerk", "clerk", prov=prov_a),
        engineer=user("engineer", "engineer", prov=prov_a),
        requester=user("requester", "requester", org=police),
        auditor=user("auditor", "auditor", org=police),
        other_requester=user("other_requester", "requester", org=other),
        other_clerk=user("other_clerk", "clerk", prov=prov_b),
        police_device=device("PK-0001", police, service_point=point),
        campus_device=device("CC-0001", campus, kind="POS收费机"),
        other_device=device("OT-0001", other),
    )
