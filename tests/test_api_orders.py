"""The JSON API's organisations, devices and work orders: status codes, bodies, deadlines and scoping."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from portal.extensions import db
from portal.types import utcnow
from portal.workorders.models import WorkOrder
from tests import factories
from tests.test_api_support import ApiClient, ago, assert_error, hours_between, when, with_api


@pytest.fixture
def api(app, world):
    """An API client on the test app, with the shared world of organisations, users and devices."""
    return ApiClient(with_api(app))

ORDERS = "/api/v1/work-orders"
ORDER_KEYS = {"number", "org", "device", "status", "severity", "severity_reason", "reported_at",
              "accepted_at", "due", "sla", "url"}
ORGANISATIONS = "/api/v1/organisations"


def police_order(api, username="clerk", **fields):
    body = {"org": "TJPSB", "device": "PK-0001", "summary": "屏幕黑屏", "severity": "urgent", **fields}
    return api.post(ORDERS, username, body)


def created(response) -> dict:
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def step(api, number, username="clerk", **body):
    return api.post(f"{ORDERS}/{number}/events", username, body)


# ---------------------------------------------------------------- organisations


def test_admin_adds_an_organisation(api):
    body = {"code": "NKU", "name": "南开大学", "standard": "campus_card"}
    response = api.post(ORGANISATIONS, "admin", body)
    assert response.status_code == 201
    assert response.get_json() == {"code": "NKU", "name": "南开大学", "standard": "campus_card"}


def test_organisation_duplicates_unknown_standards_and_missing_fields(api):
    duplicate = api.post(ORGANISATIONS, "admin", {"code": "TJPSB", "name": "x", "standard": "police_kiosk"})
    assert_error(duplicate, 409, "duplicate", ("code",))
    unknown = api.post(ORGANISATIONS, "admin", {"code": "NEW", "name": "x", "standard": "fire_brigade"})
    assert_error(unknown, 422, "invalid", ("standard",))
    missing = api.post(ORGANISATIONS, "admin", {"code": "NEW", "standard": 7, "colour": "red"})
    assert_error(missing, 422, "invalid", ("name", "standard", "colour"))


def test_a_disabled_standard_is_refused(app_factory):
    from tests.test_api_support import ApiClient, with_api

    app = with_api(app_factory(PORTAL_PLUGINS=["police_kiosk"]))
    with app.app_context():
        factories.user("root", "admin")
        client = ApiClient(app)
        response = client.post(ORGANISATIONS, "root", {"code": "U", "name": "U", "standard": "campus_card"})
        db.session.remove()
    assert_error(response, 422, "invalid", ("standard",))


# ---------------------------------------------------------------- devices


def test_a_clerk_adds_a_device_and_reads_it_back(api):
    body = {"code": "PK-0200", "org": "TJPSB", "model": "ZD-200", "serial": "SN-1", "kind": "自助签注机",
            "address": "南京路2号", "distance_km": 99.5}
    response = api.post("/api/v1/devices", "clerk", body)
    assert response.status_code == 201
    assert response.headers["Location"].endswith("/api/v1/devices/PK-0200")
    expected = {**body, "status": "in_service"}
    assert response.get_json() == expected
    assert api.get("/api/v1/devices/PK-0200", "engineer").get_json() == expected


def test_device_validation_and_duplicates(api):
    duplicate = api.post("/api/v1/devices", "clerk", {"code": "PK-0001", "org": "TJPSB"})
    assert_error(duplicate, 409, "duplicate", ("code",))
    bad = api.post("/api/v1/devices", "clerk", {"code": "PK-0300", "org": "TJPSB", "distance_km": -1})
    assert_error(bad, 422, "invalid", ("distance_km",))
    bad = api.post("/api/v1/devices", "clerk", {"code": "PK-0300", "org": "TJPSB", "distance_km": "far"})
    assert_error(bad, 422, "invalid", ("distance_km",))
    bad = api.post("/api/v1/devices", "clerk", {"code": "x" * 61, "org": "TJPSB", "model": 5})
    assert_error(bad, 422, "invalid", ("code", "model"))


def test_devices_of_other_organisations_are_invisible(api):
    assert_error(api.get("/api/v1/devices/OT-0001", "clerk"), 404, "not_found")
    assert_error(api.get("/api/v1/devices/NO-SUCH", "clerk"), 404, "not_found")
    assert api.get("/api/v1/devices/OT-0001", "other_clerk").status_code == 200
    other_org = api.post("/api/v1/devices", "clerk", {"code": "OT-0100", "org": "OTHER"})
    assert_error(other_org, 422, "invalid", ("org",))


# ---------------------------------------------------------------- creating work orders


def test_a_police_order_has_deadlines_from_acceptance(api, app):
    order = created(police_order(api))
    assert set(order) >= ORDER_KEYS
    assert order["number"].startswith("WO") and order["org"] == "TJPSB" and order["device"] == "PK-0001"
    assert order["status"] == "accepted" and order["severity"] == "urgent"
    assert order["accepted_at"] == order["reported_at"]  # the desk's orders are accepted when logged
    due = order["due"]
    assert hours_between(order["accepted_at"], due["response"]) == pytest.approx(0.5)
    assert hours_between(order["accepted_at"], due["arrival"]) == pytest.approx(2)
    assert hours_between(order["accepted_at"], due["repair"]) == pytest.approx(2)
    assert due["factory"] is None
    assert order["sla"] == {"response": "running", "arrival": "running", "repair": "running"}
    assert order["url"] == f"http://localhost/orders/{order['number']}"
    zone = ZoneInfo(app.config["PORTAL_TIMEZONE"])
    reported = when(order["reported_at"])
    assert reported.utcoffset() == reported.astimezone(zone).utcoffset()


def test_a_campus_order_responds_by_arriving(api):
    body = {"org": "CCNU", "device": "CC-0001", "summary": "7台POS机无法刷卡", "affected_terminals": 7}
    order = created(api.post(ORDERS, "clerk", body))
    assert order["severity"] == "larger" and order["severity_reason"]
    assert order["due"]["response"] == order["due"]["arrival"]
    assert hours_between(order["reported_at"], order["due"]["arrival"]) == pytest.approx(0.5)
    assert hours_between(order["reported_at"], order["due"]["repair"]) == pytest.approx(24)


def test_police_arrival_at_exactly_100_km_without_a_contract_figure_has_no_deadline(api, world):
    far = factories.organisation("FAR", "山区分局")
    factories.contract("HT-2026-009", far, world.prov_a)
    factories.device("PK-FAR", far, distance_km=Decimal("100"))
    order = created(api.post(ORDERS, "clerk", {"org": "FAR", "device": "PK-FAR", "summary": "不能打印",
                                               "severity": "medium"}))
    assert order["due"]["arrival"] is None and order["sla"]["arrival"] is None
    assert hours_between(order["accepted_at"], order["due"]["response"]) == pytest.approx(0.5)
    assert hours_between(order["accepted_at"], order["due"]["repair"]) == pytest.approx(4)


def test_a_requesters_order_waits_for_the_desk(api):
    body = {"org": "TJPSB", "device": "PK-0001", "summary": "打印机卡纸", "severity": "medium"}
    order = created(api.post(ORDERS, "requester", body))
    assert order["status"] == "reported" and order["accepted_at"] is None
    assert order["due"]["repair"] is None
    stored = db.session.get(WorkOrder, int(order["number"][2:]))
    assert stored.channel == "app"


def test_order_validation_names_each_field(api):
    missing = api.post(ORDERS, "clerk", {"org": "TJPSB"})
    assert_error(missing, 422, "invalid", ("summary",))
    bad = api.post(ORDERS, "clerk", {"org": "TJPSB", "summary": "x", "severity": "catastrophic",
                                     "affected_terminals": "many", "remote": "yes",
                                     "reported_at": "2026-03-01T09:00:00"})
    assert_error(bad, 422, "invalid", ("affected_terminals", "remote", "reported_at"))
    bad_severity = api.post(ORDERS, "clerk", {"org": "TJPSB", "summary": "x", "severity": "catastrophic"})
    assert_error(bad_severity, 422, "invalid", ("severity",))
    undecided = api.post(ORDERS, "clerk", {"org": "TJPSB", "summary": "x"})
    assert_error(undecided, 422, "invalid", ("severity",))
    future = police_order(api, reported_at=(utcnow() + timedelta(hours=2)).isoformat())
    assert_error(future, 422, "invalid", ("reported_at",))
    wrong_type = api.post(ORDERS, "clerk", {"org": "CCNU", "summary": "x", "service_type": "training_x",
                                            "affected_terminals": 1})
    assert_error(wrong_type, 422, "invalid", ("service_type",))


def test_orders_for_invisible_organisations_or_devices_are_refused(api):
    assert_error(api.post(ORDERS, "clerk", {"org": "OTHER", "summary": "x", "severity": "urgent"}),
                 422, "invalid", ("org",))
    assert_error(police_order(api, device="OT-0001"), 422, "invalid", ("device",))
    assert_error(police_order(api, device="CC-0001"), 422, "invalid", ("device",))  # another organisation's


def test_the_creation_answer_is_the_order_as_read_back(api):
    response = police_order(api)
    order = created(response)
    read = api.get(response.headers["Location"], "clerk").get_json()
    assert order == {key: value for key, value in read.items() if key != "events"}


def test_a_created_order_is_in_the_audit_trail_and_the_chain_verifies(api, world):
    from sqlalchemy import select

    from portal.audit.models import AuditEvent
    from portal.audit.services import verify_chain

    order = created(police_order(api))
    order_id = str(int(order["number"][2:]))
    events = list(db.session.scalars(select(AuditEvent).where(AuditEvent.table_name == "work_order",
                                                              AuditEvent.record_id == order_id)))
    assert [(event.action, event.actor_name) for event in events] == [("create", "clerk")]
    assert events[0].after["summary"] == "屏幕黑屏" and events[0].organisation_id == world.police.id
    assert verify_chain(db.session).ok


def test_an_order_takes_the_contract_in_force_on_its_report_day(api, world):
    old = factories.contract("HT-2020-001", world.police, world.prov_a, ends_on=date(2026, 1, 1),
                             far_arrival_hours=Decimal("9"))
    old.starts_on = date(2020, 1, 1)
    db.session.commit()
    numbers = [created(police_order(api, reported_at=reported))["number"] for reported in (ago(hours=1), None)]
    contracts = [db.session.get(WorkOrder, int(number[2:])).contract.number for number in numbers]
    assert contracts == ["HT-2026-001", "HT-2026-001"]
    before = created(police_order(api, reported_at="2025-06-01T10:00:00+08:00"))["number"]
    assert db.session.get(WorkOrder, int(before[2:])).contract.number == "HT-2020-001"


# ---------------------------------------------------------------- reading work orders


def test_an_order_is_read_with_its_timeline(api):
    order = created(police_order(api))
    response = api.get(f"{ORDERS}/{order['number']}", "engineer")
    assert response.status_code == 200
    body = response.get_json()
    assert body["number"] == order["number"] and body["due"] == order["due"]
    assert [event["type"] for event in body["events"]] == ["report", "accept"]


def test_another_organisations_order_is_404(api):
    order = created(police_order(api))
    assert_error(api.get(f"{ORDERS}/{order['number']}", "other_clerk"), 404, "not_found")
    assert_error(api.get(f"{ORDERS}/{order['number']}", "other_requester"), 404, "not_found")
    assert_error(step(api, order["number"], "other_clerk", type="respond"), 404, "not_found")
    assert_error(api.get(f"{ORDERS}/WO99999999", "clerk"), 404, "not_found")
    assert_error(api.get(f"{ORDERS}/not-a-number", "clerk"), 404, "not_found")


# ---------------------------------------------------------------- steps


def test_steps_move_the_order_and_stop_its_clocks(api):
    number = created(police_order(api))["number"]
    responded = step(api, number, "engineer", type="respond", note="远程诊断开始")
    assert responded.status_code == 200
    body = responded.get_json()
    assert body["status"] == "responded" and body["sla"]["response"] == "met"
    arrived = step(api, number, "engineer", type="arrive").get_json()
    assert arrived["status"] == "on_site" and arrived["sla"]["arrival"] == "met"
    resolved = step(api, number, "engineer", type="resolve").get_json()
    assert resolved["status"] == "resolved" and resolved["sla"]["repair"] == "met"
    assert [event["type"] for event in resolved["events"]][-3:] == ["respond", "arrive", "resolve"]


def test_an_illegal_step_is_409(api):
    number = created(police_order(api))["number"]
    error = assert_error(step(api, number, type="follow_up"), 409, "illegal_step")
    assert error["message"]
    assert api.get(f"{ORDERS}/{number}", "clerk").get_json()["status"] == "accepted"


def test_step_validation_is_422_per_field(api):
    number = created(police_order(api))["number"]
    assert_error(step(api, number, type="pause"), 422, "invalid", ("reason",))
    assert_error(step(api, number, type="teleport"), 422, "invalid", ("type",))
    assert_error(step(api, number, type="respond", at=ago(days=2)), 422, "invalid", ("at",))
    assert_error(step(api, number, type="extend", reason="山区", hours=2, approved_by="ghost"),
                 422, "invalid", ("approved_by",))
    assert_error(step(api, number, type="extend", reason="山区", hours=2), 422, "invalid", ("approved_by",))


def test_an_extension_approved_by_the_requester_moves_the_deadline(api):
    order = created(police_order(api))
    extended = step(api, order["number"], type="extend", reason="山区道路", hours=3, approved_by="requester")
    assert extended.status_code == 200
    body = extended.get_json()
    assert hours_between(order["due"]["repair"], body["due"]["repair"]) == pytest.approx(3)
    assert body["events"][-1]["approved_by"] == "requester" and body["events"][-1]["hours"] == 3
    by_requester = step(api, order["number"], "requester", type="extend", reason="暴雨", hours=1)
    assert by_requester.status_code == 200


def test_step_permissions_follow_the_role(api):
    number = created(police_order(api))["number"]
    assert_error(step(api, number, "requester", type="respond"), 403, "forbidden")
    assert_error(step(api, number, "auditor", type="respond"), 403, "forbidden")
    assert_error(step(api, number, "engineer", type="assign", assignee="engineer"), 403, "forbidden")
    assigned = step(api, number, "clerk", type="assign", assignee="engineer")
    assert assigned.status_code == 200 and assigned.get_json()["assignee"] == "engineer"


# ---------------------------------------------------------------- the list


def numbers(response) -> list[str]:
    assert response.status_code == 200, response.get_json()
    return [item["number"] for item in response.get_json()["items"]]


def test_the_list_pages_by_nearest_deadline_with_an_opaque_cursor(api):
    minor = created(police_order(api, severity="minor"))["number"]
    urgent = created(police_order(api, severity="urgent"))["number"]
    waiting = created(api.post(ORDERS, "requester", {"org": "TJPSB", "summary": "咨询", "severity": "minor"}))
    medium = created(police_order(api, severity="medium"))["number"]
    seen, cursor = [], None
    while True:
        response = api.get(ORDERS + "?limit=2" + (f"&cursor={cursor}" if cursor else ""), "clerk")
        seen.extend(numbers(response))
        cursor = response.get_json()["next_cursor"]
        if cursor is None:
            break
    # All three accepted orders have a 0.5 h response deadline, so the first logged is due first; the
    # requester's order is not accepted yet, has no running clock and comes last.
    assert seen == [minor, urgent, medium, waiting["number"]]
    assert_error(api.get(ORDERS + "?cursor=bm9wZQ", "clerk"), 422, "invalid", ("cursor",))
    assert_error(api.get(ORDERS + "?limit=0", "clerk"), 422, "invalid", ("limit",))


def test_the_list_filters_and_is_scoped(api):
    late = created(police_order(api, reported_at=ago(hours=3)))["number"]
    fresh = created(police_order(api, severity="minor"))["number"]
    campus_body = {"org": "CCNU", "summary": "x", "affected_terminals": 1}
    campus = created(api.post(ORDERS, "clerk", campus_body))["number"]
    assert set(numbers(api.get(ORDERS, "clerk"))) == {late, fresh, campus}
    assert numbers(api.get(ORDERS + "?breached=true", "clerk")) == [late]
    assert set(numbers(api.get(ORDERS + "?breached=false", "clerk"))) == {fresh, campus}
    assert numbers(api.get(ORDERS + "?severity=minor", "clerk")) == [fresh]
    assert numbers(api.get(ORDERS + "?org=CCNU", "clerk")) == [campus]
    assert set(numbers(api.get(ORDERS + "?status=open", "clerk"))) == {late, fresh, campus}
    assert numbers(api.get(ORDERS + "?status=closed,resolved", "clerk")) == []
    late_body = api.get(ORDERS + "?breached=true", "clerk").get_json()["items"][0]
    assert late_body["sla"]["response"] == "breached"
    assert numbers(api.get(ORDERS, "other_clerk")) == []
    assert set(numbers(api.get(ORDERS, "requester"))) == {late, fresh}
    assert_error(api.get(ORDERS + "?status=lost", "clerk"), 422, "invalid", ("status",))
    assert_error(api.get(ORDERS + "?breached=perhaps", "clerk"), 422, "invalid", ("breached",))
    assert_error(api.get(ORDERS + "?org=OTHER", "clerk"), 422, "invalid", ("org",))
