"""Monitoring alarms (PK-7.2): an alarm opens a work order or joins the device's open one, exactly once per
Idempotency-Key."""

from __future__ import annotations

import pytest

from portal.extensions import db
from portal.workorders.models import IdempotencyKey, WorkOrder
from tests.test_api_support import ApiClient, ago, assert_error, with_api


@pytest.fixture
def api(app, world):
    """An API client on the test app, with the shared world of organisations, users and devices."""
    return ApiClient(with_api(app))

ALARMS = "/api/v1/alarms"


def alarm(api, key: str | None, username: str = "clerk", **fields):
    body = {"device": "CC-0001", "code": "E-PAPER", "message": "打印纸用完\n传感器 3 报警",
            "raised_at": ago(minutes=1), **fields}
    headers = {"Idempotency-Key": key} if key is not None else {}
    return api.post(ALARMS, username, body, headers=headers)


def order_count() -> int:
    return db.session.scalar(db.select(db.func.count()).select_from(WorkOrder))


def test_an_alarm_opens_a_monitoring_order(api):
    response = alarm(api, "a-1")
    assert response.status_code == 201
    order = response.get_json()
    assert order["attached"] is False and order["device"] == "CC-0001" and order["org"] == "CCNU"
    assert order["status"] == "accepted" and order["accepted_at"] == order["reported_at"]
    assert order["severity"] == "general"  # one terminal affected (CC-2)
    assert order["due"]["response"] == order["due"]["arrival"]
    stored = db.session.get(WorkOrder, int(order["number"][2:]))
    assert (stored.channel, stored.alarm_code, stored.affected_terminals) == ("monitoring", "E-PAPER", 1)
    assert stored.summary == "打印纸用完" and "传感器 3" in stored.description


def test_a_repeated_key_replays_the_first_answer_and_creates_nothing(api):
    raised = ago(hours=1)
    first = alarm(api, "a-1", raised_at=raised)
    again = alarm(api, "a-1", raised_at=raised)
    assert again.status_code == first.status_code == 201
    assert again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert order_count() == 1
    timeline = api.get(f"/api/v1/work-orders/{first.get_json()['number']}", "clerk").get_json()["events"]
    assert [event["type"] for event in timeline] == ["report", "accept"]


def test_a_reused_key_with_another_body_is_refused(api):
    raised = ago(hours=1)
    alarm(api, "a-1", raised_at=raised)
    reused = alarm(api, "a-1", raised_at=raised, code="E-JAM")
    assert_error(reused, 422, "idempotency_key_reused", ("Idempotency-Key",))
    assert order_count() == 1


def test_a_new_alarm_of_the_same_code_attaches_to_the_open_order(api):
    first = alarm(api, "a-1").get_json()
    second = alarm(api, "a-2", message="仍然缺纸")
    assert second.status_code == 200
    body = second.get_json()
    assert body["attached"] is True and body["number"] == first["number"]
    assert order_count() == 1
    timeline = api.get(f"/api/v1/work-orders/{first['number']}", "clerk").get_json()["events"]
    assert timeline[-1]["type"] == "alarm" and timeline[-1]["note"] == "仍然缺纸"
    other_code = alarm(api, "a-3", code="E-NET")
    assert other_code.status_code == 201 and other_code.get_json()["number"] != first["number"]


def test_a_closed_order_does_not_take_new_alarms(api):
    number = alarm(api, "a-1").get_json()["number"]
    for step in ("arrive", "resolve", "follow_up", "close"):
        assert api.post(f"/api/v1/work-orders/{number}/events", "clerk", {"type": step}).status_code == 200
    fresh = alarm(api, "a-2")
    assert fresh.status_code == 201 and fresh.get_json()["number"] != number


def test_keys_belong_to_their_user(api):
    first = alarm(api, "shared-key")
    second = alarm(api, "shared-key", username="admin")
    assert second.status_code == 200 and second.get_json()["attached"] is True
    assert second.get_json()["number"] == first.get_json()["number"]
    assert db.session.scalar(db.select(db.func.count()).select_from(IdempotencyKey)) == 2


def test_alarm_refusals(api):
    assert_error(alarm(api, None), 400, "idempotency_key_required", ("Idempotency-Key",))
    assert_error(alarm(api, "k" * 201), 400, "idempotency_key_required")
    assert_error(alarm(api, "a-1", device="OT-0001"), 422, "invalid", ("device",))
    assert_error(alarm(api, "a-2", raised_at="yesterday"), 422, "invalid", ("raised_at",))
    assert_error(alarm(api, "a-3", message=""), 422, "invalid", ("message",))
    assert_error(alarm(api, "a-4", username="auditor"), 403, "forbidden")
    assert order_count() == 0
    # A refused alarm leaves its key unused: the corrected alarm goes through with it.
    assert alarm(api, "a-1").status_code == 201


def test_a_police_alarm_takes_the_severity_the_monitoring_system_gives(api):
    response = alarm(api, "p-1", device="PK-0001", code="E-PRINTER", severity="medium")
    assert response.status_code == 201
    body = response.get_json()
    assert body["severity"] == "medium" and body["org"] == "TJPSB"
    assert body["due"]["repair"] is not None
