"""Device import from CSV and Excel: every row validated, bad rows reported by line, all or nothing."""

from __future__ import annotations

import csv
import io
import re
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import func, select

from portal.audit.models import AuditEvent
from portal.devices import importer
from portal.devices.models import Device, ImportJob
from tests import factories

CHINESE_HEADER = ["编号", "型号", "序列号", "类型", "使用单位", "安装地址", "服务网点", "距离(km)",
                  "维护人员", "状态", "安装日期", "备注"]


def csv_bytes(rows: list[list], encoding: str = "utf-8-sig") -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue().encode(encoding)


def xlsx_bytes(rows: list[list]) -> bytes:
    workbook = openpyxl.Workbook()
    for row in rows:
        workbook.active.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def upload(client, organisation_id, data: bytes, filename: str, htmx: bool = True):
    headers = {"HX-Request": "true"} if htmx else {}
    return client.post("/devices/import", headers=headers, content_type="multipart/form-data",
                       data={"organisation_id": str(organisation_id), "file": (io.BytesIO(data), filename)})


def device_count(db) -> int:
    return db.session.scalar(select(func.count()).select_from(Device))


def job_count(db) -> int:
    return db.session.scalar(select(func.count()).select_from(ImportJob))


def uploads_folder(app) -> Path:
    return Path(app.instance_path) / "uploads"


@pytest.fixture
def clerk(app, client, auth, world):
    """A signed-in clerk; jobs run at once (the server runs them on its thread pool)."""
    app.config["PORTAL_JOBS_EAGER"] = True
    auth.login("clerk")
    client.get("/lang/en")
    return world


# --------------------------------------------------------------------------------------------------------
# Good files
# --------------------------------------------------------------------------------------------------------


def test_good_csv_with_chinese_headers_imports_every_device(client, clerk, db):
    world = clerk
    rows = [CHINESE_HEADER,
            ["PK-1001", "ZD-300", "SN-1", "自助办证机", "出入境支队", "南京路2号", "SP-01", "3.5", "engineer",
             "faulty", "2024-05-06", "一楼"],
            ["PK-1002", "", "", "", "", "南京路3号", "", "", "", "", "", ""]]
    response = upload(client, world.police.id, csv_bytes(rows), "设备.csv")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<html" not in html
    assert 'id="import-result" class="mt-3" data-status="done" data-created="2"' in html
    assert 'id="import-progress" max="2" value="2"' in html
    assert "hx-trigger" not in html.split('id="import-job"')[1]
    assert "2 devices imported." in html
    first = db.session.scalar(select(Device).where(Device.code == "PK-1001"))
    assert (first.organisation_id, first.model, first.serial_number, first.kind, first.owning_unit) == (
        world.police.id, "ZD-300", "SN-1", "自助办证机", "出入境支队")
    assert (first.service_point_id, first.maintainer_id, first.status) == (
        world.point.id, world.engineer.id, "faulty")
    assert (first.distance_km, first.installed_on, first.notes) == (Decimal("3.50"), date(2024, 5, 6), "一楼")
    second = db.session.scalar(select(Device).where(Device.code == "PK-1002"))
    assert (second.status, second.service_point_id, second.distance_km) == ("in_service", None, None)
    events = db.session.scalars(select(AuditEvent).where(
        AuditEvent.table_name == "device", AuditEvent.action == "create",
        AuditEvent.record_id.in_([str(first.id), str(second.id)])))
    assert sorted(event.actor_name for event in events) == ["clerk", "clerk"]
    job = db.session.scalar(select(ImportJob))
    assert (job.status, job.total_rows, job.processed_rows, job.created_count) == ("done", 2, 2, 2)
    assert not Path(job.stored_path).exists()


def test_good_xlsx_with_english_headers_and_excel_types(client, clerk, db):
    world = clerk
    rows = [["code", "model", "kind", "address", "distance_km", "installed_on", "status", "serial_number"],
            ["CC-2001", "POS-9", "POS收费机", "一食堂", 0.5, datetime(2023, 9, 1), "spare", 123456],
            [None, None, None, None, None, None, None, None],
            [3002, "POS-9", "POS收费机", "二食堂", 2, "2023-09-02", "", None]]
    response = upload(client, world.campus.id, xlsx_bytes(rows), "terminals.xlsx")
    assert 'data-status="done" data-created="2"' in response.get_data(as_text=True)
    first = db.session.scalar(select(Device).where(Device.code == "CC-2001"))
    assert (first.organisation_id, first.distance_km, first.installed_on) == (
        world.campus.id, Decimal("0.50"), date(2023, 9, 1))
    assert (first.status, first.serial_number) == ("spare", "123456")
    assert db.session.scalar(select(Device.installed_on).where(Device.code == "3002")) == date(2023, 9, 2)


def test_gbk_csv_from_chinese_excel(client, clerk, db):
    rows = [CHINESE_HEADER[:6],
            ["PK-3001", "ZD-1", "SN-9", "自助签注机", "和平分局", "天津市和平区滨江道8号"]]
    response = upload(client, clerk.police.id, csv_bytes(rows, "gbk"), "gbk.csv")
    assert 'data-status="done"' in response.get_data(as_text=True)
    device = db.session.scalar(select(Device).where(Device.code == "PK-3001"))
    assert (device.kind, device.address) == ("自助签注机", "天津市和平区滨江道8号")


def test_utf8_without_bom_and_fullwidth_brackets(client, clerk, db):
    rows = [["编号", "距离（km）", "安装日期"], ["PK-4001", "101", "2024/1/5"]]
    response = upload(client, clerk.police.id, csv_bytes(rows, "utf-8"), "plain.csv")
    assert 'data-status="done"' in response.get_data(as_text=True)
    device = db.session.scalar(select(Device).where(Device.code == "PK-4001"))
    assert (device.distance_km, device.installed_on) == (Decimal("101.00"), date(2024, 1, 5))


def test_status_may_be_given_by_its_chinese_or_english_label(client, clerk, db):
    rows = [["编号", "状态"], ["PK-4101", "故障"], ["PK-4102", "Under repair"], ["PK-4103", "备机"]]
    response = upload(client, clerk.police.id, csv_bytes(rows), "status.csv")
    assert 'data-created="3"' in response.get_data(as_text=True)
    statuses = dict(db.session.execute(select(Device.code, Device.status).where(Device.code.like("PK-41%"))).all())
    assert statuses == {"PK-4101": "faulty", "PK-4102": "under_repair", "PK-4103": "spare"}


def test_without_javascript_the_upload_redirects_to_the_job_page(client, clerk, db):
    rows = [["code"], ["PK-5001"]]
    response = upload(client, clerk.police.id, csv_bytes(rows), "a.csv", htmx=False)
    assert response.status_code == 302
    job = db.session.scalar(select(ImportJob))
    assert response.headers["Location"].endswith(f"/devices/import/{job.id}")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "<html" in page and 'id="import-result"' in page and 'id="import-form"' in page


# --------------------------------------------------------------------------------------------------------
# Bad rows: every one reported, nothing imported
# --------------------------------------------------------------------------------------------------------


def test_bad_rows_are_each_reported_by_line_and_nothing_is_imported(client, clerk, db):
    world = clerk
    before = device_count(db)
    rows = [["code", "kind", "service_point", "distance_km", "maintainer", "status", "installed_on", "model"],
            ["PK-6001", "办证机", "SP-01", "1", "engineer", "in_service", "2024-01-01", "ok"],  # line 2 fine
            ["", "x", "", "", "", "", "", ""],                                               # line 3
            ["PK-6001", "", "", "", "", "", "", ""],                                         # line 4
            ["OT-0001", "", "", "", "", "", "", ""],                                         # line 5
            ["PK-6005", "", "SP-NONE", "-1", "nobody", "broken", "2024-02-30", "M" * 121],   # line 6
            ["", "", "", "", "", "", "", ""],                                                # line 7 blank
            ["PK-6008", "", "", "abc", "", "", "05/06/2024", ""]]                            # line 8
    response = upload(client, world.police.id, csv_bytes(rows), "bad.csv")
    html = response.get_data(as_text=True)
    assert 'data-status="failed"' in html
    assert device_count(db) == before
    assert db.session.scalar(select(Device).where(Device.code == "PK-6001")) is None
    row_pattern = r'<tr class="import-error" data-line="(\d+)"><td>\d+</td><td>([^<]*)</td><td>([^<]*)</td>'
    reported = re.findall(row_pattern, html)
    by_line = {}
    for line, column, message in reported:
        by_line.setdefault(int(line), []).append((column, message))
    assert sorted(by_line) == [3, 4, 5, 6, 8]
    assert by_line[3] == [("code", "A code is required.")]
    assert by_line[4] == [("code", "The same code as line 2.")]
    assert by_line[5] == [("code", "Code already used by another device.")]
    assert {column for column, _message in by_line[6]} == {
        "service_point", "distance_km", "maintainer", "status", "installed_on", "model"}
    assert ("service_point", "No service point with code SP-NONE in this organisation.") in by_line[6]
    assert ("maintainer", "No engineer with username nobody serves this organisation.") in by_line[6]
    assert {column for column, _message in by_line[8]} == {"distance_km", "installed_on"}
    assert "11 problems found" in html
    job = db.session.scalar(select(ImportJob))
    assert (job.status, job.created_count, job.total_rows, job.processed_rows) == ("failed", 0, 6, 6)


def test_engineer_of_a_provider_without_a_contract_is_refused(client, clerk, db):
    factories.user("b_engineer", "engineer", prov=clerk.prov_b)
    rows = [["编号", "维护人员"], ["PK-7001", "b_engineer"]]
    html = upload(client, clerk.police.id, csv_bytes(rows), "m.csv").get_data(as_text=True)
    assert 'data-line="2"' in html and 'data-status="failed"' in html
    assert db.session.scalar(select(Device).where(Device.code == "PK-7001")) is None


# --------------------------------------------------------------------------------------------------------
# Unusable files: a message in the form, nothing stored
# --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("filename,data,message", [
    ("devices.xls", b"whatever", "Only .csv and .xlsx files can be imported."),
    ("devices.txt", b"code\nPK-1\n", "Only .csv and .xlsx files can be imported."),
    ("empty.csv", b"", "The file is empty"),
    ("header-only.csv", "编号,型号\n".encode(), "The file is empty"),
    ("no-code.csv", "型号,安装地址\nZD,南京路\n".encode(), "has no code column"),
    ("unknown.csv", "编号,颜色\nPK-1,红\n".encode(), "Unknown columns in the header row: 颜色"),
    ("twice.csv", "code,编号\nPK-1,PK-2\n".encode(), "Columns given twice in the header row: 编号"),
    ("broken.xlsx", b"PK\x03\x04 not really a workbook", "The file could not be read."),
    ("binary.csv", b"\x00\x01\x02code", "The file could not be read."),
])
def test_unusable_file_is_refused_in_the_form(app, client, clerk, db, filename, data, message):
    response = upload(client, clerk.police.id, data, filename)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'id="file-errors"' in html and message in html
    assert 'id="import-form"' in html and 'id="import-job"' not in html
    assert job_count(db) == 0
    assert not uploads_folder(app).exists() or not any(uploads_folder(app).iterdir())


def test_missing_file_and_invisible_organisation_are_refused(client, clerk, db):
    response = client.post("/devices/import", data={"organisation_id": str(clerk.police.id)},
                           headers={"HX-Request": "true"})
    assert 'id="file-errors"' in response.get_data(as_text=True)
    html = upload(client, clerk.other.id, csv_bytes([["code"], ["X-1"]]), "a.csv").get_data(as_text=True)
    assert 'id="organisation_id-errors"' in html
    assert job_count(db) == 0 and device_count(db) == 3


# --------------------------------------------------------------------------------------------------------
# Progress, polling, permissions, templates
# --------------------------------------------------------------------------------------------------------


def test_a_running_job_polls_and_a_finished_one_stops(client, clerk, db):
    job = factories.save(ImportJob(organisation_id=clerk.police.id, user_id=clerk.clerk.id,
                                   filename="big.csv", stored_path="/nonexistent", status="running",
                                   total_rows=1000, processed_rows=400))
    response = client.get(f"/devices/import/{job.id}", headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert "<html" not in html
    assert 'hx-trigger="every 500ms"' in html
    assert 'id="import-progress" max="1000" value="400"' in html
    assert 'id="import-result"' not in html
    job.status, job.processed_rows, job.created_count = "done", 1000, 1000
    db.session.commit()
    html = client.get(f"/devices/import/{job.id}", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "hx-trigger" not in html
    assert 'id="import-result"' in html and 'value="1000"' in html


def test_a_job_whose_thread_died_stops_polling_and_says_so(client, clerk, db):
    started = datetime.now(UTC) - timedelta(hours=2)
    job = factories.save(ImportJob(organisation_id=clerk.police.id, user_id=clerk.clerk.id,
                                   filename="lost.csv", stored_path="/nonexistent", status="running",
                                   total_rows=10, processed_rows=3, created_at=started))
    html = client.get(f"/devices/import/{job.id}", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "hx-trigger" not in html
    assert 'id="import-result" class="mt-3" data-status="failed"' in html
    assert "nothing was imported" in html


def test_another_organisations_job_is_not_found(client, auth, world, db):
    job = factories.save(ImportJob(organisation_id=world.other.id, user_id=world.other_clerk.id,
                                   filename="x.csv", stored_path="/nonexistent", status="done"))
    auth.login("clerk")
    assert client.get(f"/devices/import/{job.id}").status_code == 404


def test_import_in_the_background_thread_reports_progress_until_done(app, client, auth, world, db):
    app.config["PORTAL_JOBS_EAGER"] = False
    auth.login("clerk")
    rows = [["code", "distance_km"]] + [[f"BG-{number:05d}", str(number % 90)] for number in range(1, 1201)]
    response = upload(client, world.police.id, csv_bytes(rows), "background.csv")
    assert response.status_code == 200
    job_id = db.session.scalar(select(ImportJob.id))
    deadline = time.monotonic() + 60
    html = ""
    while time.monotonic() < deadline:
        html = client.get(f"/devices/import/{job_id}", headers={"HX-Request": "true"}).get_data(as_text=True)
        if 'id="import-result"' in html:
            break
        assert 'hx-trigger="every 500ms"' in html
        time.sleep(0.1)
    assert 'data-status="done" data-created="1200"' in html
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Device).where(Device.code.like("BG-%"))) == 1200
    events = db.session.scalars(select(AuditEvent.actor_name).where(AuditEvent.table_name == "device",
                                                                    AuditEvent.action == "create")).all()
    assert events.count("clerk") == 1200


def test_a_large_file_with_two_bad_rows_reports_exactly_those(client, clerk, db):
    rows = [["code", "status", "service_point"]]
    rows += [[f"L-{number:05d}", "in_service", "SP-01"] for number in range(1, 3001)]
    rows[1500][1] = "lost"       # line 1501
    rows[3000][0] = "L-00007"    # line 3001, the same code as line 8
    html = upload(client, clerk.police.id, csv_bytes(rows), "large.csv").get_data(as_text=True)
    assert re.findall(r'data-line="(\d+)"', html) == ["1501", "3001"]
    assert "The same code as line 8." in html
    assert db.session.scalar(select(func.count()).select_from(Device).where(Device.code.like("L-%"))) == 0
    job = db.session.scalar(select(ImportJob))
    assert (job.total_rows, job.processed_rows, job.status) == (3000, 3000, "failed")


@pytest.mark.parametrize("username", ["requester", "engineer", "auditor"])
def test_roles_without_the_import_permission_are_refused(app, client, auth, world, db, username):
    app.config["PORTAL_JOBS_EAGER"] = True
    auth.login(username)
    assert client.get("/devices/import").status_code == 403
    assert upload(client, world.police.id, csv_bytes([["code"], ["R-1"]]), "r.csv").status_code == 403
    assert client.get("/devices/import/template.csv").status_code == 403
    assert device_count(db) == 3 and job_count(db) == 0


def test_import_page_offers_templates_with_the_header_row(client, clerk):
    html = client.get("/devices/import").get_data(as_text=True)
    assert 'id="import-form"' in html and 'id="upload-progress"' in html
    assert 'hx-post="/devices/import"' in html and 'hx-encoding="multipart/form-data"' in html
    assert clerk.other.name not in html
    csv_template = client.get("/devices/import/template.csv")
    assert csv_template.mimetype == "text/csv"
    assert csv_template.data.decode("utf-8-sig").strip() == ",".join(importer.COLUMNS)
    xlsx_template = client.get("/devices/import/template.xlsx")
    workbook = openpyxl.load_workbook(io.BytesIO(xlsx_template.data), read_only=True)
    header = next(workbook.active.iter_rows(values_only=True))
    workbook.close()
    assert list(header) == list(importer.COLUMNS)
    assert client.get("/devices/import/template.pdf").status_code == 404


def test_templates_use_chinese_headers_in_chinese(client, auth, world):
    auth.login("clerk")
    response = client.get("/devices/import/template.csv")
    assert response.data.decode("utf-8-sig").strip() == ",".join(CHINESE_HEADER)


def test_the_template_can_be_filled_in_and_imported(client, clerk, db):
    template = client.get("/devices/import/template.csv").data
    row = ["PK-8001", "ZD-1", "", "", "", "", "SP-01", "5", "", "spare", "", ""]
    filled = template + csv_bytes([row], "utf-8")
    html = upload(client, clerk.police.id, filled, "filled.csv").get_data(as_text=True)
    assert 'data-created="1"' in html
    assert db.session.scalar(select(Device.status).where(Device.code == "PK-8001")) == "spare"
