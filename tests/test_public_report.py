"""The public fault-report page behind every device's QR code (PK-7.2 c): no sign-in, phone-sized."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from portal.audit.models import AuditEvent
from portal.devices.models import FaultReport


def report_count(db) -> int:
    return db.session.scalar(select(func.count()).select_from(FaultReport))


def test_page_shows_code_kind_and_address_only(client, world, db):
    device = world.police_device
    device.serial_number = "SN-SECRET-1"
    device.owning_unit = "内部单位"
    device.notes = "内部备注"
    db.session.commit()
    response = client.get("/r/PK-0001")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "PK-0001" in html and "自助办证机" in html and "天津市和平区南京路1号" in html
    for internal in ("ZD-100", "SN-SECRET-1", "内部单位", "内部备注", world.police.name, "SP-01", "12.5"):
        assert internal not in html, internal
    assert 'name="viewport" content="width=device-width, initial-scale=1"' in html
    assert 'id="fault-report-form"' in html
    assert 'id="main-nav"' not in html


def test_report_is_recorded_for_the_device_and_attributed_to_the_qr_channel(client, world, db):
    response = client.post("/r/PK-0001", data={"description": "屏幕黑屏，无法办理业务",
                                               "contact_name": "王先生", "contact_phone": "138 0013 8000"})
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/r/PK-0001/thanks")
    report = db.session.scalar(select(FaultReport))
    assert (report.device_id, report.organisation_id, report.channel) == (
        world.police_device.id, world.police.id, "qr")
    assert (report.description, report.contact_name, report.contact_phone) == (
        "屏幕黑屏，无法办理业务", "王先生", "13800138000")
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.table_name == "fault_report"))
    assert event.actor_name == "public:qr"
    thanks = client.get(response.headers["Location"])
    assert thanks.status_code == 200 and 'id="report-thanks"' in thanks.get_data(as_text=True)


def test_contact_details_are_optional_and_landlines_accepted(client, world, db):
    assert client.post("/r/PK-0001", data={"description": "打印机卡纸"}).status_code == 302
    assert client.post("/r/PK-0001", data={"description": "读卡器不读", "contact_phone": "022-2345 6789"}
                       ).status_code == 302
    assert report_count(db) == 2


def test_bad_report_shows_field_errors_keeps_input_and_records_nothing(client, world, db):
    client.get("/lang/en")
    response = client.post("/r/PK-0001", data={"description": "", "contact_name": "李女士",
                                                "contact_phone": "12345"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Please describe the fault." in html
    assert 'id="contact_phone-errors"' in html
    assert 'value="李女士"' in html and 'value="12345"' in html
    too_long = client.post("/r/PK-0001", data={"description": "坏" * 2001}).get_data(as_text=True)
    assert 'id="description-errors"' in too_long
    assert "坏" * 2001 in too_long
    assert report_count(db) == 0


def test_unknown_code_is_a_404_page(client, world):
    for path in ("/r/NOPE-1", "/r/NOPE-1/thanks"):
        response = client.get(path)
        assert response.status_code == 404
        assert 'id="unknown-device"' in response.get_data(as_text=True)
    assert client.post("/r/NOPE-1", data={"description": "x"}).status_code == 404


def test_signed_in_staff_see_the_report_on_the_device_page(client, auth, world):
    client.post("/r/PK-0001", data={"description": "触摸屏失灵", "contact_phone": "13900001111"})
    auth.login("requester")
    html = client.get(f"/devices/{world.police_device.id}").get_data(as_text=True)
    reports = html.split('id="fault-reports"')[1].split('id="device-history"')[0]
    assert "触摸屏失灵" in reports and "13900001111" in reports


def test_reports_are_rate_limited_per_address(client, world, db):
    for _attempt in range(10):
        assert client.post("/r/PK-0001", data={"description": "故障"}).status_code == 302
    assert client.post("/r/PK-0001", data={"description": "故障"}).status_code == 429
    assert client.get("/r/PK-0001").status_code == 200
    assert report_count(db) == 10


def test_report_form_carries_and_checks_a_csrf_token(app_factory, world):
    app = app_factory(WTF_CSRF_ENABLED=True)
    client = app.test_client()
    with app.app_context():
        html = client.get("/r/PK-0001").get_data(as_text=True)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
        assert client.post("/r/PK-0001", data={"description": "无令牌"}).status_code == 400
        accepted = client.post("/r/PK-0001", data={"description": "有令牌", "csrf_token": token})
        assert accepted.status_code == 302
