"""The device archive (PK-7.6): list, filters, detail, history, create/edit/delete, scoping and QR codes."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from portal.audit.models import AuditEvent
from portal.devices import qr
from portal.devices.models import Device, FaultReport
from tests import factories


def switch_user(auth, username: str) -> None:
    """Sign out and in again as someone else."""
    auth.logout()
    auth.login(username)


def count_devices(db) -> int:
    return db.session.scalar(select(func.count()).select_from(Device))


def device_codes(html: str) -> list[str]:
    """The codes listed in the results table, in order."""
    return re.findall(r'data-code="([^"]+)"', html)


def valid_form(world, **changes) -> dict:
    data = {
        "organisation_id": world.police.id, "code": "PK-0100", "model": "ZD-200", "serial_number": "SN-1",
        "kind": "自助办证机", "status": "in_service", "owning_unit": "和平分局出入境",
        "address": "南京路100号",
        "service_point_id": world.point.id, "maintainer_id": world.engineer.id, "distance_km": "8.5",
        "installed_on": "2025-03-01", "notes": "二楼大厅",
    }
    data.update(changes)
    return data


@pytest.fixture
def many_devices(world):
    """28 more police devices (30 police devices in all) for paging."""
    for number in range(2, 30):
        status = "faulty" if number % 10 == 0 else "in_service"
        factories.device(f"PK-{number:04d}", world.police, status=status)
    return world


# --------------------------------------------------------------------------------------------------------
# The list
# --------------------------------------------------------------------------------------------------------


def test_list_shows_only_visible_organisations(client, auth, world):
    auth.login("requester")
    html = client.get("/devices/").get_data(as_text=True)
    assert device_codes(html) == ["PK-0001"]

    switch_user(auth, "clerk")
    html = client.get("/devices/").get_data(as_text=True)
    assert device_codes(html) == ["CC-0001", "PK-0001"]
    assert "OT-0001" not in html


def test_search_matches_code_serial_model_address_and_owning_unit(client, auth, world):
    factories.device("PK-0002", world.police, serial_number="SN-778899", model="ZX-9", address="卫津路5号",
                     owning_unit="治安支队")
    auth.login("clerk")
    for term in ("0002", "778899", "zx-9", "卫津路", "治安"):
        html = client.get("/devices/", query_string={"q": term}).get_data(as_text=True)
        assert device_codes(html) == ["PK-0002"], term


def test_search_treats_percent_and_underscore_literally(client, auth, world):
    auth.login("clerk")
    html = client.get("/devices/", query_string={"q": "%"}).get_data(as_text=True)
    assert device_codes(html) == []


def test_htmx_search_returns_only_the_results_fragment(client, auth, world):
    auth.login("clerk")
    response = client.get("/devices/", query_string={"q": "CC-"}, headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<html" not in html
    assert html.lstrip().startswith('<div id="device-results"')
    assert device_codes(html) == ["CC-0001"]
    assert "HX-Request" in response.headers["Vary"]


def test_filters_in_the_url_render_the_same_view_on_a_full_load(client, auth, many_devices):
    auth.login("clerk")
    html = client.get("/devices/?status=faulty&q=PK&sort=-code").get_data(as_text=True)
    assert "<html" in html
    assert device_codes(html) == ["PK-0020", "PK-0010"]
    assert re.search(r'<option value="faulty" selected>', html)
    assert 'id="device-search" name="q" value="PK"' in html
    assert re.search(r'<option value="-code" selected>', html)


def test_filters_by_kind_service_point_organisation_and_maintainer(client, auth, world):
    factories.device("PK-0002", world.police, maintainer=world.engineer, kind="自助签注机")
    auth.login("admin")

    def codes(**args):
        return device_codes(client.get("/devices/", query_string=args).get_data(as_text=True))

    assert codes(kind="POS收费机") == ["CC-0001"]
    assert codes(service_point=world.point.id) == ["PK-0001"]
    assert codes(organisation=world.other.id) == ["OT-0001"]
    assert codes(maintainer=world.engineer.id) == ["PK-0002"]
    assert codes(status="nonsense") == ["CC-0001", "OT-0001", "PK-0001", "PK-0002"]


def test_organisation_filter_only_for_users_seeing_several(client, auth, world):
    auth.login("requester")
    assert 'id="organisation-filter"' not in client.get("/devices/").get_data(as_text=True)
    switch_user(auth, "clerk")
    html = client.get("/devices/").get_data(as_text=True)
    assert 'id="organisation-filter"' in html
    assert world.other.name not in html


def test_paging_keeps_the_filters(client, auth, many_devices):
    auth.login("requester")
    first = client.get("/devices/?q=PK").get_data(as_text=True)
    assert len(device_codes(first)) == 25
    assert 'data-count="29"' in first
    assert "?q=PK&amp;page=2" in first
    second = client.get("/devices/?q=PK&page=2", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in second
    assert device_codes(second) == ["PK-0026", "PK-0027", "PK-0028", "PK-0029"]
    beyond = client.get("/devices/?q=PK&page=99").get_data(as_text=True)
    assert device_codes(beyond) == device_codes(second)


def test_new_and_import_buttons_follow_permissions(client, auth, world):
    auth.login("requester")
    html = client.get("/devices/").get_data(as_text=True)
    assert 'id="new-device"' not in html and 'id="import-devices"' not in html
    switch_user(auth, "clerk")
    html = client.get("/devices/").get_data(as_text=True)
    assert 'id="new-device"' in html and 'id="import-devices"' in html


def test_list_needs_sign_in(client, world):
    response = client.get("/devices/")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


# --------------------------------------------------------------------------------------------------------
# Detail, history and scoping
# --------------------------------------------------------------------------------------------------------


def test_detail_shows_the_archive_fields_qr_and_history(client, auth, world, db):
    device = world.police_device
    device.serial_number = "SN-42"
    device.owning_unit = "出入境管理支队"
    device.maintainer = world.engineer
    db.session.commit()
    auth.login("requester")
    client.get("/lang/en")
    html = client.get(f"/devices/{device.id}").get_data(as_text=True)
    for value in ("PK-0001", "ZD-100", "SN-42", "自助办证机", "出入境管理支队", "天津市和平区南京路1号",
                  "SP-01", "12.50", "engineer", "In service"):
        assert value in html, value
    assert '<svg viewBox=' in html and 'id="device-qr-code"' in html
    assert 'id="download-qr"' in html
    history = html.split('id="device-history"')[1]
    assert history.count('class="history-entry"') == 2
    assert 'data-action="update"' in history and 'data-action="create"' in history
    assert "SN-42" in history


def test_requester_sees_no_edit_or_delete_buttons(client, auth, world):
    auth.login("requester")
    html = client.get(f"/devices/{world.police_device.id}").get_data(as_text=True)
    assert 'id="edit-device"' not in html and 'id="delete-device"' not in html


@pytest.mark.parametrize("path", ["/devices/{id}", "/devices/{id}/edit", "/devices/{id}/qr.svg"])
def test_another_organisations_device_is_not_found(client, auth, world, path):
    auth.login("clerk")
    assert client.get(path.format(id=world.other_device.id)).status_code == 404
    assert client.get(path.format(id=99999)).status_code == 404


def test_another_organisations_device_cannot_be_changed_or_deleted(client, auth, world, db):
    auth.login("clerk")
    other = world.other_device
    assert client.post(f"/devices/{other.id}/edit", data=valid_form(world, code="X")).status_code == 404
    assert client.post(f"/devices/{other.id}/delete").status_code == 404
    db.session.expire_all()
    assert db.session.get(Device, other.id).code == "OT-0001"


# --------------------------------------------------------------------------------------------------------
# Create, edit, delete
# --------------------------------------------------------------------------------------------------------


def test_create_device_saves_every_field_and_audits_it(client, auth, world, db):
    auth.login("clerk")
    response = client.post("/devices/new", data=valid_form(world))
    assert response.status_code == 302
    device = db.session.scalar(select(Device).where(Device.code == "PK-0100"))
    assert response.headers["Location"].endswith(f"/devices/{device.id}")
    assert (device.organisation_id, device.service_point_id, device.maintainer_id) == (
        world.police.id, world.point.id, world.engineer.id)
    assert device.distance_km == Decimal("8.50")
    assert device.installed_on.isoformat() == "2025-03-01"
    assert (device.model, device.serial_number, device.owning_unit, device.notes) == (
        "ZD-200", "SN-1", "和平分局出入境", "二楼大厅")
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.table_name == "device",
                                                       AuditEvent.record_id == str(device.id)))
    assert (event.action, event.actor_name) == ("create", "clerk")


def test_create_form_offers_only_visible_orgs_their_points_and_engineers(client, auth, world):
    factories.service_point("SP-OTHER", world.other)
    factories.user("other_engineer", "engineer", prov=world.prov_b)
    auth.login("clerk")
    html = client.get("/devices/new").get_data(as_text=True)
    assert world.police.name in html and world.campus.name in html
    assert world.other.name not in html
    fields = client.get("/devices/form-fields", query_string={"organisation_id": world.police.id}).get_data(
        as_text=True)
    assert "SP-01" in fields and "(engineer)" in fields
    assert "SP-OTHER" not in fields and "other_engineer" not in fields
    refused = client.get("/devices/form-fields", query_string={"organisation_id": world.other.id}).get_data(
        as_text=True)
    assert "SP-OTHER" not in refused and "other_engineer" not in refused


def test_invalid_device_shows_field_errors_keeps_input_and_saves_nothing(client, auth, world, db):
    auth.login("clerk")
    client.get("/lang/en")
    before = count_devices(db)
    data = valid_form(world, code="", distance_km="-3", installed_on="2025-13-45", model="M" * 121,
                      owning_unit="保留的单位")
    response = client.post("/devices/new", data=data)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert count_devices(db) == before
    assert "Enter the device code." in html
    assert "Enter a distance from 0 to 999999.99 km." in html
    assert 'id="installed_on-errors"' in html
    assert 'id="model-errors"' in html
    assert "保留的单位" in html and 'value="-3"' in html


def test_code_must_be_unique_across_organisations(client, auth, world, db):
    auth.login("clerk")
    client.get("/lang/en")
    response = client.post("/devices/new", data=valid_form(world, code="OT-0001"))
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Code already used" in html
    assert db.session.scalar(select(func.count()).select_from(Device).where(Device.code == "OT-0001")) == 1


def test_code_may_not_hold_characters_that_break_its_url(client, auth, world, db):
    auth.login("clerk")
    response = client.post("/devices/new", data=valid_form(world, code="A/B 1"))
    assert 'id="code-errors"' in response.get_data(as_text=True)
    assert db.session.scalar(select(Device).where(Device.code == "A/B 1")) is None


def test_service_point_and_maintainer_must_belong_to_the_organisation(client, auth, world, db):
    other_point = factories.service_point("SP-OTHER", world.other)
    stranger = factories.user("other_engineer", "engineer", prov=world.prov_b)
    auth.login("admin")
    html = client.post("/devices/new", data=valid_form(world, service_point_id=other_point.id,
                                                       maintainer_id=stranger.id)).get_data(as_text=True)
    assert 'id="service_point_id-errors"' in html and 'id="maintainer_id-errors"' in html
    assert db.session.scalar(select(Device).where(Device.code == "PK-0100")) is None


def test_organisation_must_be_visible(client, auth, world, db):
    auth.login("clerk")
    data = valid_form(world, organisation_id=world.other.id, service_point_id="", maintainer_id="")
    html = client.post("/devices/new", data=data).get_data(as_text=True)
    assert 'id="organisation_id-errors"' in html
    assert db.session.scalar(select(Device).where(Device.code == "PK-0100")) is None


def test_organisation_fields_fragment_follows_the_chosen_organisation(client, auth, world):
    factories.service_point("SP-CC", world.campus)
    auth.login("clerk")
    response = client.get("/devices/form-fields", query_string={"organisation_id": world.campus.id},
                          headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert "<html" not in html
    assert 'id="org-fields"' in html
    assert "SP-CC" in html and "SP-01" not in html
    assert 'id="device-kind-suggestions"' in html


def test_kind_suggestions_come_from_the_governing_standard(client, auth, world):
    auth.login("clerk")
    html = client.get("/devices/form-fields", query_string={"organisation_id": world.campus.id}).get_data(
        as_text=True)
    suggestions = html.split('id="device-kind-suggestions"')[1].split("</datalist>")[0]
    assert '<option value="圈存机">' in suggestions and "POS收费机" in suggestions


def test_without_the_standards_plugin_there_are_no_suggestions_but_the_form_works(app_factory, world, db):
    app = app_factory(PORTAL_PLUGINS=["police_kiosk"])
    client = app.test_client()
    client.post("/login", data={"username": "clerk", "password": factories.PASSWORD})
    html = client.get("/devices/form-fields", query_string={"organisation_id": world.campus.id}).get_data(
        as_text=True)
    assert "<option" not in html.split('id="device-kind-suggestions"')[1].split("</datalist>")[0]
    response = client.post("/devices/new", data=valid_form(world, organisation_id=world.campus.id,
                                                           service_point_id="", code="CC-0100"))
    assert response.status_code == 302
    assert db.session.scalar(select(Device.organisation_id).where(Device.code == "CC-0100")) == world.campus.id


def test_edit_changes_the_device_and_the_history_shows_it(client, auth, world, db):
    device = world.police_device
    auth.login("clerk")
    form = client.get(f"/devices/{device.id}/edit").get_data(as_text=True)
    assert 'value="PK-0001"' in form
    response = client.post(f"/devices/{device.id}/edit",
                           data=valid_form(world, code="PK-0001", status="faulty", distance_km="120"))
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Device, device.id).status == "faulty"
    client.get("/lang/en")
    html = client.get(f"/devices/{device.id}").get_data(as_text=True)
    history = html.split('id="device-history"')[1]
    assert "<del>In service</del> → Faulty" in history
    assert "<del>12.50</del> → 120.00" in history


def test_edit_keeps_own_code_but_refuses_another_devices(client, auth, world, db):
    auth.login("clerk")
    device = world.police_device
    response = client.post(f"/devices/{device.id}/edit", data=valid_form(world, code="CC-0001"))
    html = response.get_data(as_text=True)
    assert 'id="code-errors"' in html
    db.session.expire_all()
    assert db.session.get(Device, device.id).code == "PK-0001"


@pytest.mark.parametrize("method,path", [("get", "/devices/new"), ("post", "/devices/new"),
                                         ("get", "/devices/{id}/edit"), ("post", "/devices/{id}/delete")])
def test_requester_cannot_create_edit_or_delete(client, auth, world, db, method, path):
    auth.login("requester")
    before = count_devices(db)
    response = getattr(client, method)(path.format(id=world.police_device.id), data=valid_form(world))
    assert response.status_code == 403
    assert count_devices(db) == before


def test_delete_removes_the_device(client, auth, world, db):
    auth.login("clerk")
    device_id = world.police_device.id
    html = client.get(f"/devices/{device_id}").get_data(as_text=True)
    assert 'hx-confirm="' in html
    response = client.post(f"/devices/{device_id}/delete")
    assert response.status_code == 302
    assert db.session.get(Device, device_id) is None
    actions = db.session.scalars(select(AuditEvent.action).where(
        AuditEvent.table_name == "device", AuditEvent.record_id == str(device_id))).all()
    assert "delete" in actions


def test_device_with_fault_reports_is_not_deleted(client, auth, world, db):
    device = world.police_device
    factories.save(FaultReport(device_id=device.id, organisation_id=device.organisation_id,
                               description="黑屏"))
    auth.login("clerk")
    response = client.post(f"/devices/{device.id}/delete")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/devices/{device.id}")
    db.session.expire_all()
    assert db.session.get(Device, device.id) is not None


# --------------------------------------------------------------------------------------------------------
# QR codes and labels
# --------------------------------------------------------------------------------------------------------


def test_report_url_uses_the_configured_base_url(app_factory, world):
    app = app_factory(PORTAL_BASE_URL="https://portal.example.cn")
    with app.test_request_context():
        assert qr.report_url("PK-0001") == "https://portal.example.cn/r/PK-0001"


def test_report_url_falls_back_to_this_host(app):
    with app.test_request_context(base_url="http://10.0.0.5:5000"):
        assert qr.report_url("PK 7") == "http://10.0.0.5:5000/r/PK%207"


def test_qr_svg_is_made_by_segno_from_the_report_url(app):
    import segno

    url = "https://portal.example.cn/r/PK-0001"
    with app.test_request_context():
        inline = qr.svg_inline(url, title="PK-0001")
        document = qr.svg_document(url, title="PK-0001")
    expected = segno.make(url, error="m", micro=False)
    assert str(inline) == expected.svg_inline(omitsize=True, light="white", title="PK-0001", desc=url)
    assert inline.startswith("<svg") and f"<desc>{url}</desc>" in inline
    assert document.startswith(b"<?xml") and f"<desc>{url}</desc>".encode() in document
    other = segno.make(url + "x", error="m", micro=False).svg_inline(omitsize=True, light="white")
    assert _path(str(inline)) != _path(other)


def _path(svg: str) -> str:
    return re.search(r'class="qrline"[^>]* d="([^"]+)"', svg).group(1)


def test_qr_route_returns_the_svg_of_the_public_report_url(app, client, auth, world):
    app.config["PORTAL_BASE_URL"] = "https://portal.example.cn"
    auth.login("requester")
    response = client.get(f"/devices/{world.police_device.id}/qr.svg")
    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    assert "PK-0001.svg" in response.headers["Content-Disposition"]
    url = "https://portal.example.cn/r/PK-0001"
    with app.test_request_context():
        assert response.data == qr.svg_document(url, title="PK-0001")
    detail = client.get(f"/devices/{world.police_device.id}").get_data(as_text=True)
    assert _path(detail) == _path(response.data.decode())
    assert url in detail


def test_labels_page_prints_the_filtered_devices(client, auth, many_devices):
    auth.login("requester")
    html = client.get("/devices/labels?status=faulty").get_data(as_text=True)
    assert html.count('class="card h-100 qr-label"') == 2
    assert html.count("<svg") == 2
    assert "PK-0010" in html and "PK-0020" in html and "PK-0003" not in html
    index = client.get("/devices/?status=faulty").get_data(as_text=True)
    assert "/devices/labels?status=faulty" in index
