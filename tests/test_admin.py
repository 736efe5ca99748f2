"""Administration pages: organisations, providers, contracts, service points, users and plugins."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pytest
from flask import current_app
from sqlalchemy import func, select

from portal.admin import services
from portal.auth.models import User
from portal.extensions import db
from portal.orgs.models import Contract, Organisation, Provider, ServicePoint
from portal.types import utcnow
from portal.workorders import services as orders
from tests import factories

NEW_PASSWORD = "a-new-long-password"


def log_order(organisation, clerk) -> str:
    """A phone report logged by a provider's clerk; its order number."""
    new = orders.NewOrder(organisation=organisation, summary="屏幕无显示", device=None, channel="phone",
                          severity="urgent" if organisation.standard == "police_kiosk" else "general",
                          reported_at=utcnow())
    with current_app.test_request_context():
        order = orders.create_order(new, clerk)
        db.session.commit()
    return order.number


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def field_error(html: str, field: str) -> bool:
    """Whether the page marks the field invalid and shows a message right after it."""
    match = re.search(rf'<(?:input|select|textarea)\b[^>]*\bid="{field}"[^>]*>', html)
    if match is None or "is-invalid" not in match.group(0):
        return False
    return 'class="invalid-feedback' in html[match.end():].split('class="mb-3', 1)[0]


@pytest.fixture
def admin(client, auth, world):
    """A client signed in as the deployment admin."""
    auth.login("admin")
    return client


def organisation_data(**changes) -> dict:
    data = {"code": "NKU", "name": "南开大学信息化办公室", "standard": "campus_card",
            "contact_name": "王老师", "contact_phone": "022-23500000", "contact_email": "card@nankai.edu.cn",
            "address": "天津市南开区卫津路94号", "active": "y"}
    return {**data, **changes}


def provider_data(**changes) -> dict:
    data = {"code": "PROV-C", "name": "海河运维有限公司", "licence_number": "91120000MA05",
            "contact_name": "李工", "contact_phone": "13800000000", "address": "天津市河西区", "active": "y"}
    return {**data, **changes}


def contract_data(world, **changes) -> dict:
    data = {"number": "HT-2026-009", "organisation_id": world.police.id, "provider_id": world.prov_b.id,
            "standard": "", "starts_on": "2026-02-01", "ends_on": "2027-01-31", "far_arrival_hours": "8",
            "remote_response_hours": "", "notes": "远郊派出所"}
    return {**data, **changes}


def service_point_data(world, **changes) -> dict:
    data = {"code": "SP-09", "name": "河西网点", "address": "天津市河西区友谊路", "phone": "022-88888888",
            "organisation_id": world.police.id, "provider_id": world.prov_a.id}
    return {**data, **changes}


def user_data(**changes) -> dict:
    data = {"username": "engineer2", "display_name": "张工", "role": "engineer", "organisation_id": "",
            "provider_id": "", "email": "zhang@example.cn", "phone": "13900000000", "active": "y",
            "password": "long-enough-password"}
    return {**data, **changes}


def edit_user_data(user: User, **changes) -> dict:
    """The edit form as the page would post it for ``user``, with some values changed."""
    data = {"username": user.username, "display_name": user.display_name, "role": user.role,
            "organisation_id": user.organisation_id or "", "provider_id": user.provider_id or "",
            "email": user.email, "phone": user.phone, "password": ""}
    if user.active:
        data["active"] = "y"
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


# ------------------------------------------------------------------------------------------------------
# Index and lists
# ------------------------------------------------------------------------------------------------------


def test_index_links_each_resource_with_its_count(admin):
    html = admin.get("/admin/").get_data(as_text=True)
    expected = {"organisations": 3, "providers": 2, "contracts": 3, "service_points": 1, "users": 7}
    for name, number in expected.items():
        assert re.search(rf'id="admin-{name}".*?data-count="{number}"', html, re.S), name
    assert 'href="/admin/plugins"' in html


@pytest.mark.parametrize("path", ["/admin/organisations/", "/admin/providers/", "/admin/contracts/",
                                  "/admin/service-points/", "/admin/users/"])
def test_every_list_renders(admin, path):
    response = admin.get(path)
    assert response.status_code == 200
    assert 'id="results"' in response.get_data(as_text=True)


def test_search_returns_only_matching_rows_as_a_fragment(admin, world):
    response = admin.get("/admin/organisations/?q=ccnu", headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert "<html" not in html
    assert f'id="organisations-{world.campus.id}"' in html
    assert f'id="organisations-{world.police.id}"' not in html
    assert "HX-Request" in response.headers["Vary"]


def test_search_is_a_plain_get_without_javascript(admin, world):
    html = admin.get("/admin/users/?q=requester").get_data(as_text=True)
    assert "<html" in html
    assert f'id="users-{world.requester.id}"' in html
    assert f'id="users-{world.other_requester.id}"' in html
    assert f'id="users-{world.clerk.id}"' not in html


def test_search_treats_wildcards_as_text(admin, world):
    html = admin.get("/admin/organisations/?q=%25").get_data(as_text=True)
    assert 'data-total="0"' in html


def test_list_pages_through_records(admin, app, world):
    app.config["PORTAL_PAGE_SIZE"] = 2
    first = admin.get("/admin/users/").get_data(as_text=True)
    assert first.count('<tr id="users-') == 2
    assert 'hx-push-url="true"' in first and "page=2" in first
    last = admin.get("/admin/users/?page=4", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert last.count('<tr id="users-') == 1
    assert "<html" not in last


# ------------------------------------------------------------------------------------------------------
# Organisations
# ------------------------------------------------------------------------------------------------------


def test_create_organisation(admin):
    response = admin.post("/admin/organisations/new", data=organisation_data())
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/admin/organisations/")
    org = db.session.scalar(select(Organisation).where(Organisation.code == "NKU"))
    assert (org.name, org.standard, org.contact_email, org.active) == (
        "南开大学信息化办公室", "campus_card", "card@nankai.edu.cn", True)


def test_organisation_validation_errors_save_nothing_and_keep_input(admin):
    before = count(Organisation)
    response = admin.post("/admin/organisations/new",
                          data=organisation_data(name="", contact_email="not-an-email", standard="no_such"))
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    for field in ("name", "contact_email", "standard"):
        assert field_error(html, field), field
    assert 'value="NKU"' in html and "天津市南开区卫津路94号" in html
    assert count(Organisation) == before


def test_organisation_code_must_be_unique(admin, world):
    before = count(Organisation)
    response = admin.post("/admin/organisations/new", data=organisation_data(code="TJPSB"))
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert field_error(html, "code")
    assert "南开大学信息化办公室" in html
    assert count(Organisation) == before


def test_organisation_unique_message_in_english(admin, world):
    admin.get("/lang/en")
    html = admin.post("/admin/organisations/new", data=organisation_data(code="TJPSB")).get_data(as_text=True)
    assert "This value is already in use." in html


def test_organisation_standard_must_be_enabled(app_factory, world):
    app = app_factory(PORTAL_PLUGINS=["police_kiosk"])
    client = app.test_client()
    client.post("/login", data={"username": "admin", "password": factories.PASSWORD})
    form = client.get("/admin/organisations/new").get_data(as_text=True)
    assert 'value="police_kiosk"' in form and 'value="campus_card"' not in form
    response = client.post("/admin/organisations/new", data=organisation_data())
    assert response.status_code == 200
    assert field_error(response.get_data(as_text=True), "standard")
    assert db.session.scalar(select(Organisation).where(Organisation.code == "NKU")) is None


def test_edit_organisation(admin, world):
    data = organisation_data(code="TJPSB", name="天津市公安局和平分局（新）", standard="police_kiosk",
                             active=None)
    response = admin.post(f"/admin/organisations/{world.police.id}", data=data)
    assert response.status_code == 302
    db.session.refresh(world.police)
    assert world.police.name == "天津市公安局和平分局（新）"
    assert world.police.active is False


def test_edit_form_shows_current_values(admin, world):
    html = admin.get(f"/admin/organisations/{world.campus.id}").get_data(as_text=True)
    assert 'value="CCNU"' in html
    assert re.search(r'<option selected value="campus_card"|<option value="campus_card" selected', html)


def test_editing_an_unknown_record_is_404(admin, world):
    assert admin.get("/admin/organisations/999999").status_code == 404


def test_organisation_with_devices_is_not_deleted(admin, world):
    response = admin.post(f"/admin/organisations/{world.police.id}/delete")
    assert response.status_code == 302
    assert db.session.get(Organisation, world.police.id) is not None
    page = admin.get(response.headers["Location"]).get_data(as_text=True)
    assert 'class="alert alert-danger"' in page
    assert 'id="blockers"' in page


def test_unused_organisation_is_deleted(admin, world):
    lonely = factories.organisation("EMPTY", "空单位")
    html = admin.get(f"/admin/organisations/{lonely.id}").get_data(as_text=True)
    assert f'action="/admin/organisations/{lonely.id}/delete"' in html and "hx-confirm" in html
    response = admin.post(f"/admin/organisations/{lonely.id}/delete")
    assert response.headers["Location"].endswith("/admin/organisations/")
    db.session.expire_all()
    assert db.session.get(Organisation, lonely.id) is None


# ------------------------------------------------------------------------------------------------------
# Providers
# ------------------------------------------------------------------------------------------------------


def test_create_and_edit_provider(admin, world):
    assert admin.post("/admin/providers/new", data=provider_data()).status_code == 302
    provider = db.session.scalar(select(Provider).where(Provider.code == "PROV-C"))
    assert provider.licence_number == "91120000MA05"
    renamed = provider_data(name="海河运维（天津）有限公司")
    response = admin.post(f"/admin/providers/{provider.id}", data=renamed)
    assert response.status_code == 302
    db.session.refresh(provider)
    assert provider.name == "海河运维（天津）有限公司"


def test_provider_errors_save_nothing(admin, world):
    before = count(Provider)
    response = admin.post("/admin/providers/new", data=provider_data(code="", name="x" * 201))
    html = response.get_data(as_text=True)
    assert field_error(html, "code") and field_error(html, "name")
    assert count(Provider) == before


def test_provider_code_must_be_unique_on_edit(admin, world):
    response = admin.post(f"/admin/providers/{world.prov_b.id}", data=provider_data(code="PROV-A"))
    assert field_error(response.get_data(as_text=True), "code")
    db.session.expire_all()
    assert db.session.get(Provider, world.prov_b.id).code == "PROV-B"


def test_provider_with_contracts_is_not_deleted_but_an_unused_one_is(admin, world):
    admin.post(f"/admin/providers/{world.prov_b.id}/delete")
    assert db.session.get(Provider, world.prov_b.id) is not None
    spare = factories.provider("SPARE", "备用公司")
    admin.post(f"/admin/providers/{spare.id}/delete")
    db.session.expire_all()
    assert db.session.get(Provider, spare.id) is None


# ------------------------------------------------------------------------------------------------------
# Contracts
# ------------------------------------------------------------------------------------------------------


def test_create_contract_defaults_to_the_organisations_standard(admin, world):
    assert admin.post("/admin/contracts/new", data=contract_data(world)).status_code == 302
    contract = db.session.scalar(select(Contract).where(Contract.number == "HT-2026-009"))
    assert contract.standard == "police_kiosk"
    assert contract.far_arrival_hours == Decimal("8")
    assert contract.remote_response_hours is None
    assert (contract.starts_on, contract.ends_on) == (date(2026, 2, 1), date(2027, 1, 31))


def test_contract_far_arrival_may_be_left_per_contract(admin, world):
    data = contract_data(world, far_arrival_hours="", standard="campus_card", organisation_id=world.campus.id)
    assert admin.post("/admin/contracts/new", data=data).status_code == 302
    contract = db.session.scalar(select(Contract).where(Contract.number == "HT-2026-009"))
    assert contract.far_arrival_hours is None and contract.standard == "campus_card"


@pytest.mark.parametrize(("changes", "field"), [
    ({"ends_on": "2026-01-31"}, "ends_on"),
    ({"far_arrival_hours": "0"}, "far_arrival_hours"),
    ({"remote_response_hours": "-1"}, "remote_response_hours"),
    ({"far_arrival_hours": "soon"}, "far_arrival_hours"),
    ({"starts_on": ""}, "starts_on"),
    ({"standard": "no_such"}, "standard"),
    ({"organisation_id": ""}, "organisation_id"),
    ({"provider_id": "999999"}, "provider_id"),
    ({"number": "HT-2026-001"}, "number"),
])
def test_contract_errors_save_nothing(admin, world, changes, field):
    before = count(Contract)
    response = admin.post("/admin/contracts/new", data=contract_data(world, **changes))
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert field_error(html, field)
    assert "远郊派出所" in html
    assert count(Contract) == before


def test_contract_needs_an_enabled_standard_when_the_organisation_has_none(admin, world):
    retired = factories.organisation("OLD", "旧标准单位", standard="retired_standard")
    response = admin.post("/admin/contracts/new", data=contract_data(world, organisation_id=retired.id))
    assert field_error(response.get_data(as_text=True), "standard")
    assert db.session.scalar(select(Contract).where(Contract.number == "HT-2026-009")) is None


def test_edit_and_delete_contract(admin, world):
    contract = db.session.scalar(select(Contract).where(Contract.number == "HT-2026-003"))
    data = contract_data(world, number="HT-2026-003", organisation_id=world.other.id,
                         far_arrival_hours="12.5", standard="police_kiosk")
    assert admin.post(f"/admin/contracts/{contract.id}", data=data).status_code == 302
    db.session.refresh(contract)
    assert contract.far_arrival_hours == Decimal("12.5")
    assert admin.post(f"/admin/contracts/{contract.id}/delete").status_code == 302
    db.session.expire_all()
    assert db.session.get(Contract, contract.id) is None


def test_contract_with_work_orders_is_not_deleted(admin, world):
    log_order(world.other, world.other_clerk)
    contract = db.session.scalar(select(Contract).where(Contract.number == "HT-2026-003"))
    admin.get("/lang/en")
    page = admin.get(f"/admin/contracts/{contract.id}").get_data(as_text=True)
    assert "work orders: 1" in page and f"/admin/contracts/{contract.id}/delete" not in page
    response = admin.post(f"/admin/contracts/{contract.id}/delete")
    assert response.headers["Location"].endswith(f"/admin/contracts/{contract.id}")
    db.session.expire_all()
    assert db.session.get(Contract, contract.id) is not None
    assert "work orders: 1" in admin.get(response.headers["Location"]).get_data(as_text=True)


def test_a_check_violation_from_the_database_becomes_a_field_message(app, world):
    contract = Contract(number="HT-X", organisation_id=world.police.id, provider_id=world.prov_a.id,
                        standard="police_kiosk", starts_on=date(2026, 5, 1), ends_on=date(2026, 4, 1))
    errors = services.commit(contract)
    assert list(errors) == ["ends_on"]
    assert db.session.scalar(select(Contract).where(Contract.number == "HT-X")) is None
    user = User(username="both", role="auditor", organisation_id=world.police.id, provider_id=world.prov_a.id)
    assert list(services.save_user(user, {}, "long-enough-password")) == ["provider_id"]
    assert db.session.scalar(select(User).where(User.username == "both")) is None


# ------------------------------------------------------------------------------------------------------
# Service points
# ------------------------------------------------------------------------------------------------------


def test_create_and_edit_service_point(admin, world):
    response = admin.post("/admin/service-points/new", data=service_point_data(world, provider_id=""))
    assert response.status_code == 302
    point = db.session.scalar(select(ServicePoint).where(ServicePoint.code == "SP-09"))
    assert point.provider_id is None and point.organisation_id == world.police.id
    response = admin.post(f"/admin/service-points/{point.id}", data=service_point_data(world, phone="022-1"))
    assert response.status_code == 302
    db.session.refresh(point)
    assert (point.phone, point.provider_id) == ("022-1", world.prov_a.id)


def test_service_point_errors_save_nothing(admin, world):
    before = count(ServicePoint)
    for changes, field in (({"code": "SP-01"}, "code"), ({"organisation_id": ""}, "organisation_id"),
                           ({"code": "SP 09"}, "code")):
        response = admin.post("/admin/service-points/new", data=service_point_data(world, **changes))
        html = response.get_data(as_text=True)
        assert field_error(html, field), changes
        assert "河西网点" in html
    assert count(ServicePoint) == before


def test_service_point_used_by_devices_is_not_deleted(admin, world):
    admin.post(f"/admin/service-points/{world.point.id}/delete")
    assert db.session.get(ServicePoint, world.point.id) is not None
    free = factories.service_point("SP-FREE", world.campus)
    admin.post(f"/admin/service-points/{free.id}/delete")
    db.session.expire_all()
    assert db.session.get(ServicePoint, free.id) is None


# ------------------------------------------------------------------------------------------------------
# Users
# ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("role", "employer"), [
    ("engineer", "provider"), ("clerk", "provider"), ("requester", "organisation"),
    ("auditor", "organisation"), ("auditor", "provider"), ("auditor", None), ("admin", None),
])
def test_create_user_of_each_role(admin, auth, world, role, employer):
    data = user_data(role=role, provider_id=world.prov_b.id if employer == "provider" else "",
                     organisation_id=world.other.id if employer == "organisation" else "")
    assert admin.post("/admin/users/new", data=data).status_code == 302
    user = db.session.scalar(select(User).where(User.username == "engineer2"))
    assert user.role == role and user.active
    assert user.provider_id == (world.prov_b.id if employer == "provider" else None)
    assert user.organisation_id == (world.other.id if employer == "organisation" else None)
    auth.logout()
    assert auth.login("engineer2", "long-enough-password").status_code == 302


@pytest.mark.parametrize(("changes", "fields"), [
    ({"role": "engineer"}, ["provider_id"]),
    ({"role": "clerk", "organisation_id": "ORG"}, ["provider_id", "organisation_id"]),
    ({"role": "requester"}, ["organisation_id"]),
    ({"role": "requester", "provider_id": "PROV"}, ["organisation_id", "provider_id"]),
    ({"role": "admin", "organisation_id": "ORG"}, ["organisation_id"]),
    ({"role": "admin", "provider_id": "PROV"}, ["provider_id"]),
    ({"role": "auditor", "organisation_id": "ORG", "provider_id": "PROV"}, ["provider_id"]),
    ({"role": "overlord"}, ["role"]),
    ({"role": "auditor", "password": "short"}, ["password"]),
    ({"role": "auditor", "password": ""}, ["password"]),
    ({"role": "auditor", "username": "clerk"}, ["username"]),
    ({"role": "auditor", "username": "two words"}, ["username"]),
])
def test_user_errors_save_nothing(admin, world, changes, fields):
    ids = {"ORG": world.police.id, "PROV": world.prov_a.id}
    changes = {key: ids.get(value, value) for key, value in changes.items()}
    before = count(User)
    response = admin.post("/admin/users/new", data=user_data(**changes))
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    for field in fields:
        assert field_error(html, field), field
    assert "zhang@example.cn" in html
    assert count(User) == before


def test_edit_user_keeps_password_unless_a_new_one_is_set(admin, auth, world):
    clerk = world.clerk
    response = admin.post(f"/admin/users/{clerk.id}", data=edit_user_data(clerk, display_name="柜员小王"))
    assert response.status_code == 302
    db.session.refresh(clerk)
    assert clerk.display_name == "柜员小王" and clerk.check_password(factories.PASSWORD)
    admin.post(f"/admin/users/{clerk.id}", data=edit_user_data(clerk, password=NEW_PASSWORD))
    db.session.refresh(clerk)
    assert clerk.check_password(NEW_PASSWORD)


def test_edit_user_refuses_a_short_new_password(admin, world):
    data = edit_user_data(world.clerk, password="short")
    response = admin.post(f"/admin/users/{world.clerk.id}", data=data)
    assert field_error(response.get_data(as_text=True), "password")
    db.session.refresh(world.clerk)
    assert world.clerk.check_password(factories.PASSWORD)


def test_moving_a_user_to_a_role_without_employer_is_refused(admin, world):
    data = edit_user_data(world.requester, role="admin")
    response = admin.post(f"/admin/users/{world.requester.id}", data=data)
    assert field_error(response.get_data(as_text=True), "organisation_id")
    db.session.refresh(world.requester)
    assert world.requester.role == "requester"


def test_deactivating_a_user_ends_their_sessions(admin, world):
    version = world.engineer.session_version
    data = edit_user_data(world.engineer, active=None)
    response = admin.post(f"/admin/users/{world.engineer.id}", data=data)
    assert response.status_code == 302
    db.session.refresh(world.engineer)
    assert world.engineer.active is False
    assert world.engineer.session_version > version


def test_admin_cannot_deactivate_or_demote_themselves(admin, world):
    me = world.admin
    for changes, field in (({"active": None}, "active"), ({"role": "auditor"}, "role")):
        response = admin.post(f"/admin/users/{me.id}", data=edit_user_data(me, **changes))
        assert field_error(response.get_data(as_text=True), field)
    db.session.refresh(me)
    assert me.active and me.role == "admin"


def test_users_are_never_deleted(admin, world):
    assert admin.post(f"/admin/users/{world.clerk.id}/delete").status_code in (404, 405)
    assert 'id="delete"' not in admin.get(f"/admin/users/{world.clerk.id}").get_data(as_text=True)
    assert db.session.get(User, world.clerk.id) is not None


# ------------------------------------------------------------------------------------------------------
# Plugins
# ------------------------------------------------------------------------------------------------------


def test_plugin_page_lists_every_installed_plugin(admin, app):
    from portal.plugins import registry

    html = admin.get("/admin/plugins").get_data(as_text=True)
    assert "PORTAL_PLUGINS" in html
    plugins = registry()
    for plugin in plugins.installed.values():
        section = html.split(f'id="plugin-{plugin.name}"', 1)[1].split("</section>", 1)[0]
        assert plugin.info.version in section and plugin.source in section
        assert 'data-enabled="true"' in section
        for hook in plugin.hooks:
            assert f"<code class=\"me-2 d-inline-block\">{hook}</code>" in section
    for standard in plugins.standards.values():
        for row in standard.severities:
            assert f'id="severity-{standard.id}-{row.id}"' in html
    for plugin_name, form_id in plugins.forms:
        assert f'id="form-{plugin_name}-{form_id}"' in html


def test_plugin_page_shows_disabled_plugins_without_their_data(app_factory, world):
    import plugins.campus_card as campus

    app = app_factory(PORTAL_PLUGINS=["police_kiosk"])
    client = app.test_client()
    client.post("/login", data={"username": "admin", "password": factories.PASSWORD})
    html = client.get("/admin/plugins").get_data(as_text=True)
    section = html.split('id="plugin-campus_card"', 1)[1].split("</section>", 1)[0]
    assert 'data-enabled="false"' in section
    assert "<code>police_kiosk</code>" in html
    for standard in campus.portal_standards():
        assert f'id="standard-{standard.id}"' not in html
    assert 'id="plugin-police_kiosk"' in html
