"""Concurrent API calls through a real threaded HTTP server: no duplicate or lost work-order numbers, and
alarms stay idempotent and attach to one order. 20 clients on PostgreSQL; 5 on SQLite (one writer at a
time)."""

from __future__ import annotations

import json
import threading
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from urllib.error import HTTPError

import pytest
from werkzeug.serving import make_server

from portal.audit.models import AuditEvent
from portal.audit.services import verify_chain
from portal.extensions import db
from portal.workorders.models import IdempotencyKey, WorkOrder, format_number
from tests.test_api_support import ApiClient, ago, with_api


@pytest.fixture
def api(app, world):
    """An API client on the test app, with the shared world of organisations, users and devices."""
    return ApiClient(with_api(app))


def clients_for(backend: str) -> int:
    return 20 if backend == "postgresql" else 5


@contextmanager
def serving(app):
    """The app behind a real threaded WSGI server on a free loopback port."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


def post(url: str, token: str, body: dict, headers: dict | None = None) -> tuple[int, dict]:
    """POST JSON; (status, body) whether it succeeded or not."""
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


def all_at_once(count: int, call) -> list:
    """Run ``call(i)`` in ``count`` threads released together; their results in order."""
    gate = threading.Barrier(count)

    def run(index):
        gate.wait()
        return call(index)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def stored_numbers() -> list[str]:
    return [format_number(order_id) for order_id in db.session.scalars(db.select(WorkOrder.id))]


def test_concurrent_creation_gives_every_order_its_own_number(api, app, backend):
    count = clients_for(backend)
    token = api.token("clerk")
    with serving(app) as base:
        results = all_at_once(count, lambda i: post(f"{base}/api/v1/work-orders", token, {
            "org": "TJPSB", "device": "PK-0001", "summary": f"并发报修 {i}", "severity": "minor"}))
    assert [status for status, _body in results] == [201] * count, results
    numbers = [body["number"] for _status, body in results]
    assert len(set(numbers)) == count
    assert sorted(stored_numbers()) == sorted(numbers)
    # Each creation is in the audit trail once, and the chain the concurrent commits appended to is whole.
    created = db.session.scalars(db.select(AuditEvent.record_id).where(
        AuditEvent.table_name == "work_order", AuditEvent.action == "create")).all()
    assert sorted(format_number(int(record_id)) for record_id in created) == sorted(numbers)
    assert verify_chain(db.session).ok


def test_concurrent_repeats_of_one_alarm_create_one_order(api, app, backend):
    count = clients_for(backend)
    token = api.token("clerk")
    body = {"device": "CC-0001", "code": "E-NET", "message": "网络中断", "raised_at": ago(minutes=2)}
    with serving(app) as base:
        results = all_at_once(count, lambda i: post(f"{base}/api/v1/alarms", token, body,
                                                     {"Idempotency-Key": "alarm-42"}))
    assert {status for status, _body in results} == {201}, results
    assert len({json.dumps(answer, sort_keys=True) for _status, answer in results}) == 1
    assert len(stored_numbers()) == 1
    assert db.session.scalar(db.select(db.func.count()).select_from(IdempotencyKey)) == 1


def test_concurrent_alarms_of_one_device_and_code_share_one_order(api, app, backend):
    count = clients_for(backend)
    token = api.token("clerk")
    with serving(app) as base:
        results = all_at_once(count, lambda i: post(f"{base}/api/v1/alarms", token, {
            "device": "CC-0001", "code": "E-POWER", "message": f"断电 {i}", "raised_at": ago(minutes=1)},
            {"Idempotency-Key": f"power-{i}"}))
    statuses = sorted(status for status, _body in results)
    assert statuses == [200] * (count - 1) + [201], results
    assert len({answer["number"] for _status, answer in results}) == 1
    assert len(stored_numbers()) == 1
