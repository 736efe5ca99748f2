"""Small builders for test data, committed through the ORM (so the audit trail sees them)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from functools import cache
from types import SimpleNamespace

from werkzeug.security import generate_password_hash

from portal.auth.models import User
from portal.devices.models import Device
from portal.extensions import db
from portal.orgs.models import Contract, Organisation, Provider, ServicePoint

PASSWORD = "correct-horse-battery"


@cache
def password_hash(password: str) -> str:
    """The scrypt hash of a test password, computed once per run (scrypt is slow by design)."""
    return generate_password_hash(password, method="scrypt")


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
    account = User(username=username, role=role, organisation=org, provider=prov,
                   password_hash=password_hash(PASSWORD), **extra)
    return save(account)


def device(code: str, org: Organisation, **extra) -> Device:
    extra.setdefault("model", "ZD-100")
    extra.setdefault("kind", "自助办证机")
    extra.setdefault("address", "天津市和平区南京路1号")
    extra.setdefault("distance_km", Decimal("12.5"))
    return save(Device(code=code, organisation=org, **extra))


def world() -> SimpleNamespace:
    """Two organisations served by provider A, a third served by provider B, one user per role (one commit)."""
    police = Organisation(code="TJPSB", name="天津市公安局和平分局", standard="police_kiosk")
    campus = Organisation(code="CCNU", name="华中师范大学信息化办公室", standard="campus_card")
    other = Organisation(code="OTHER", name="其他公安分局", standard="police_kiosk")
    prov_a = Provider(code="PROV-A", name="津安运维服务有限公司")
    prov_b = Provider(code="PROV-B", name="另一家运维公司")
    contracts = [
        Contract(number="HT-2026-001", organisation=police, provider=prov_a, standard="police_kiosk",
                 starts_on=date(2026, 1, 1), far_arrival_hours=Decimal("6")),
        Contract(number="HT-2026-002", organisation=campus, provider=prov_a, standard="campus_card",
                 starts_on=date(2026, 1, 1)),
        Contract(number="HT-2026-003", organisation=other, provider=prov_b, standard="police_kiosk",
                 starts_on=date(2026, 1, 1)),
    ]
    point = ServicePoint(code="SP-01", name="网点 SP-01", organisation=police, provider=prov_a)

    def account(username, role, org=None, prov=None):
        return User(username=username, role=role, organisation=org, provider=prov,
                    password_hash=password_hash(PASSWORD))

    def kiosk(code, org, **extra):
        values = {"model": "ZD-100", "kind": "自助办证机", "address": "天津市和平区南京路1号",
                  "distance_km": Decimal("12.5"), **extra}
        return Device(code=code, organisation=org, **values)

    people = SimpleNamespace(
        admin=account("admin", "admin"),
        clerk=account("clerk", "clerk", prov=prov_a),
        engineer=account("engineer", "engineer", prov=prov_a),
        requester=account("requester", "requester", org=police),
        auditor=account("auditor", "auditor", org=police),
        other_requester=account("other_requester", "requester", org=other),
        other_clerk=account("other_clerk", "clerk", prov=prov_b),
        police_device=kiosk("PK-0001", police, service_point=point),
        campus_device=kiosk("CC-0001", campus, kind="POS收费机"),
        other_device=kiosk("OT-0001", other),
    )
    db.session.add_all([police, campus, other, prov_a, prov_b, *contracts, point, *vars(people).values()])
    db.session.commit()
    return SimpleNamespace(police=police, campus=campus, other=other, prov_a=prov_a, prov_b=prov_b, point=point,
                           **vars(people))
