"""Capture the exact SQL the portal sends for the queue page, the order page and order creation, so that the
floor app (``bench/floor.py``) runs the same statements with no portal around them: the page's data (the
queue's keyset statements, the order's own rows) with the cursor and ids of each request, and every other
statement the page runs (the signed-in user, the user's scope, the menu's and the filters' choices) as the
bench clerk's signed-in request sends it; for creation, every statement of one API creation, the audit
trail's pipelined append included.

The portal's own code runs in-process against the bench database (``queries.queue_page``, the order page's
view, ``services.create_order``) while an SQLAlchemy ``before_cursor_execute`` listener records each
statement and its parameters exactly as handed to psycopg. Varying parameters (the keyset cursor, the
page's LIMIT, the order's id, times) are found by planting distinctive values and looking for them.

    .venv/bin/python -m bench.capture results/floor_sql.json
"""

from __future__ import annotations

import importlib
import json
import os
import re
import sys
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from bench.common import CLERK, PASSWORD, connect, meta, portal_env

CAPTURE_SIZE = 1234  # a page size no id or count in the data equals: its LIMIT (size + 1) is easy to find
PLANTED_DUE = datetime(2999, 2, 3, 4, 5, 6, 789000, tzinfo=UTC)  # after every deadline: nothing follows
PLANTED_ID = 987_654_321
QUEUE_FILTERS = {"open": {}, "closed": {"status": "closed"}}


def encode(value):
    """A parameter value as JSON (datetimes, dates and decimals tagged)."""
    if isinstance(value, datetime):
        return {"__datetime__": value.isoformat()}
    if isinstance(value, date):
        return {"__date__": value.isoformat()}
    if isinstance(value, Decimal):
        return {"__decimal__": str(value)}
    return value


def decode(value):
    """The inverse of ``encode``."""
    if isinstance(value, dict):
        if "__datetime__" in value:
            return datetime.fromisoformat(value["__datetime__"])
        if "__date__" in value:
            return date.fromisoformat(value["__date__"])
        if "__decimal__" in value:
            return Decimal(value["__decimal__"])
    return value


def decode_params(params: dict) -> dict:
    return {key: decode(value) for key, value in params.items()}


class Recorder:
    """Records (statement, parameters) of every cursor execution while active."""

    def __init__(self, engine):
        from sqlalchemy import event

        self.calls: list[tuple[str, dict | list[dict]]] = []
        self.active = False
        event.listen(engine, "before_cursor_execute", self.record)

    def record(self, conn, cursor, statement, parameters, context, executemany):
        """One execution's statement and parameters (a list of them for an executemany)."""
        if self.active:
            self.calls.append((statement, [dict(row) for row in parameters] if executemany
                               else dict(parameters or {})))

    @contextmanager
    def capturing(self):
        self.calls = []
        self.active = True
        try:
            yield self.calls
        finally:
            self.active = False


def keys_with(params: dict, value) -> list[str]:
    """The parameter names whose value equals ``value`` (same type)."""
    return [key for key, got in params.items() if type(got) is type(value) and got == value]


def one_key(params: dict, value, what: str) -> str:
    keys = keys_with(params, value)
    if len(keys) != 1:
        raise SystemExit(f"capture: expected one parameter holding the {what}, found {keys}")
    return keys[0]


def queue_templates(recorder, app, clerk) -> dict:
    """For each filter: the four statements of queue_page (with/without a deadline, first page/after a
    cursor), told apart by the planted cursor values they carry."""
    from flask_login import login_user

    from portal.workorders import queries
    from portal.workorders.queries import Cursor, QueueFilters

    templates = {}
    for name, args in QUEUE_FILTERS.items():
        filters = QueueFilters.from_args(args)
        variants = {}
        for after in (None, Cursor(PLANTED_DUE, PLANTED_ID), Cursor(None, PLANTED_ID)):
            with app.test_request_context("/orders/"), recorder.capturing() as calls:
                login_user(clerk)
                queries.queue_page(filters, clerk, after, CAPTURE_SIZE)
            for sql, params in calls:
                if "FROM work_order" not in sql:
                    continue
                kind = "nodue" if "work_order.next_due IS NULL" in sql else "due"
                entry = {"sql": sql, "params": {k: encode(v) for k, v in params.items()},
                         "limit": one_key(params, CAPTURE_SIZE + 1, "LIMIT")}
                if keys_with(params, PLANTED_ID):
                    if kind == "due":
                        entry["cursor_due"] = one_key(params, PLANTED_DUE, "cursor's deadline")
                    entry["cursor_id"] = one_key(params, PLANTED_ID, "cursor's id")
                    variants[f"after_{kind}"] = entry
                else:
                    variants[f"first_{kind}"] = entry
        expected = {"first_nodue", "after_nodue"}
        if name == "open":  # a closed-status filter skips the read of orders with a deadline (none are closed)
            expected |= {"first_due", "after_due"}
        missing = expected - set(variants)
        if missing:
            raise SystemExit(f"capture: queue statements not seen for {name}: {sorted(missing)}")
        templates[name] = variants
    return templates


PK_ROLES = {"work_order": "order", "organisation": "organisation", "device": "device", "contract": "contract",
            "provider": "provider", "user_account": "assignee"}
EXPANDED_LIST = re.compile(r"_\d+_\d+$")  # organisation_id_1_7: one element of an IN list (the user's scope)


def order_page_statements(recorder, app, clerk, number: str, order) -> list[dict]:
    """The statements the order page runs for the order's own data, once the user and their scope are
    known, with each parameter that holds one of the order's ids replaced by the name of that id.
    Statements filtered by the user's list of organisations (menus, choices) are the same for every order:
    they are part of the page's overhead (``page_overhead``)."""
    from flask_login import login_user

    from portal.auth.scoping import visible_organisation_ids
    from portal.extensions import db
    from portal.workorders import views

    ids = {"order": order.id, "provider": order.contract.provider_id if order.contract else None}
    db.session.remove()  # a fresh session, as a request has: nothing of the order in its identity map
    clerk = db.session.get(type(clerk), clerk.id)
    with app.test_request_context(f"/orders/{number}"):
        login_user(clerk)
        visible_organisation_ids()  # the session's scoping query: in the page's overhead
        with recorder.capturing() as calls:
            views.detail(number)
    data = []
    for sql, params in calls:
        if any(EXPANDED_LIST.search(key) for key in params):
            continue
        table = re.search(r"\nFROM (\w+)", sql)
        roles = {}
        for key, value in params.items():
            if key == "pk_1" and table and table.group(1) in PK_ROLES:
                roles[key] = PK_ROLES[table.group(1)]
            elif key.startswith("provider_id") and value == ids["provider"]:
                roles[key] = "provider"
            elif type(value) is int and value == ids["order"]:
                roles[key] = "order"
        data.append({"sql": sql, "params": {k: encode(v) for k, v in params.items()}, "roles": roles})
    return data


def signed_in_client(app):
    """A test client of the portal signed in as the bench clerk through the sign-in form."""
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    response = client.post("/login", data={"username": CLERK, "password": PASSWORD,
                                           "csrf_token": token.group(1) if token else ""})
    if response.status_code not in (302, 303):
        raise SystemExit(f"capture: signing in as {CLERK} answered {response.status_code}")
    return client


def page_overhead(recorder, client, path: str, is_data) -> list[dict]:
    """Every statement a signed-in request for ``path`` runs besides the page's data (``is_data(sql)``),
    with its parameters: they are the same on every request of the bench clerk."""
    client.get(path)  # the first request of a session may differ (warm-ups, caches)
    with recorder.capturing() as calls:
        response = client.get(path)
    if response.status_code != 200:
        raise SystemExit(f"capture: GET {path} answered {response.status_code}")
    return [{"sql": sql, "params": {k: encode(v) for k, v in params.items()}}
            for sql, params in calls if not is_data(sql)]


CREATION_BODY = {"org": "PK01", "device": "PK01-00001", "summary": "屏幕无显示", "severity": "medium"}
NEW_ORDER_INSERT = "INSERT INTO work_order ("


def creation_statements(recorder, client, token: str) -> dict:
    """Every statement one ``POST /api/v1/work-orders`` runs, in order: the reads and INSERTs as SQLAlchemy
    hands them to psycopg, with the new order's id and the times marked for replay, then the audit trail's
    append, which the commit sends down the raw connection in one pipeline (the advisory lock, one chained
    INSERT per audited change, COMMIT): kept as the changes it appended."""
    from portal.audit import services as audit
    from portal.workorders.models import parse_number

    appended: list[dict] = []
    append_and_commit = audit.append_and_commit

    def recording(dbapi_connection, changes):
        appended.extend(json.loads(json.dumps(changes, default=str)))
        append_and_commit(dbapi_connection, changes)

    # Steady state: the token's use was recorded moments ago, so the creation does not record it again (it
    # does at most every few minutes); without this, the floor would replay that UPDATE and its re-reads.
    client.get("/api/v1/devices/" + CREATION_BODY["device"], headers={"Authorization": f"Bearer {token}"})
    audit.append_and_commit = recording
    captured_at = datetime.now(UTC)
    try:
        with recorder.capturing() as calls:
            response = client.post("/api/v1/work-orders", json=CREATION_BODY,
                                   headers={"Authorization": f"Bearer {token}"})
    finally:
        audit.append_and_commit = append_and_commit
    if response.status_code != 201 or not appended:
        raise SystemExit(f"capture: the creation answered {response.status_code}, {len(appended)} audit events")
    order_id = parse_number(response.get_json()["number"])
    statements = [creation_statement(sql, params, order_id) for sql, params in calls]
    if sum(statement["returns_order"] for statement in statements) != 1:
        raise SystemExit("capture: expected one INSERT of the new order")
    return {"statements": statements, "audit": appended, "order_id": order_id,
            "captured_at": captured_at.isoformat()}


def creation_statement(sql: str, params: dict | list[dict], order_id: int) -> dict:
    """One statement of a creation, for the floor to replay: its rows of parameters (several for an
    executemany, such as the new order's first events), which of them hold the new order's id and times."""
    rows = params if isinstance(params, list) else [params]
    return {"sql": sql, "many": isinstance(params, list),
            "params": [{k: encode(v) for k, v in row.items()} for row in rows],
            "order": [k for k, v in rows[0].items() if type(v) is int and v == order_id],
            "times": [k for k, v in rows[0].items() if isinstance(v, datetime)],
            "returns_order": sql.startswith(NEW_ORDER_INSERT)}


def sample_order(app):
    """An open order of the clerk's whose ids are all different (so that they can be told apart)."""
    from sqlalchemy import select

    from portal.extensions import db
    from portal.workorders.models import WorkOrder

    statement = (select(WorkOrder).where(WorkOrder.status == "on_site", WorkOrder.organisation_id == 7,
                                         WorkOrder.assignee_id.is_not(None), WorkOrder.device_id.is_not(None))
                 .order_by(WorkOrder.id).limit(1))
    return db.session.scalar(statement)


def bench_token() -> str:
    """The bench clerk's API token (build_db.py made it)."""
    with connect() as connection:
        return meta(connection)["clerk_token"]


def portal_app():
    """The WSGI app gunicorn serves in the benchmark (BENCH_PORTAL_APP, default ``portal.wsgi:app``)."""
    module, _sep, name = os.environ.get("BENCH_PORTAL_APP", "portal.wsgi:app").partition(":")
    return getattr(importlib.import_module(module), name)


def capture(path: Path) -> dict:
    os.environ.update(portal_env())
    from sqlalchemy import select

    from portal.auth.models import User
    from portal.extensions import db

    app = portal_app()
    with app.app_context():
        recorder = Recorder(db.engine)
        clerk = db.session.scalar(select(User).where(User.username == CLERK))
        order = sample_order(app)
        order_data = order_page_statements(recorder, app, clerk, order.number, order)
        result = {
            "page_size": app.config["PORTAL_PAGE_SIZE"],
            "queue": queue_templates(recorder, app, clerk),
            "order": {"number": order.number, "statements": order_data},
        }
        db.session.remove()
    # Whole requests, each in its own app context as under gunicorn (a shared one would share ``g``).
    client = signed_in_client(app)
    data_sql = {statement["sql"] for statement in order_data}
    result["queue_overhead"] = page_overhead(recorder, client, "/orders/", lambda sql: "FROM work_order" in sql)
    result["order"]["overhead"] = page_overhead(recorder, client, f"/orders/{order.number}",
                                                lambda sql: sql in data_sql)
    result["creation"] = creation_statements(recorder, app.test_client(), bench_token())
    path.write_text(json.dumps(result, indent=1, ensure_ascii=False))
    return result


def shifted(params: dict, times: list[str], captured_at: datetime, now: datetime) -> dict:
    """The INSERT's parameters with every time moved by (now - captured_at)."""
    delta: timedelta = now - captured_at
    return {key: value + delta if key in times else value for key, value in params.items()}


if __name__ == "__main__":
    capture(Path(sys.argv[1]))
