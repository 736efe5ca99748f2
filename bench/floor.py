"""The floor: a bare Flask app that runs the portal's own SQL (captured by ``bench/capture.py``) and renders
the same rows with a plain Jinja template, with no portal around it (no sign-in, scoping, ORM, babel,
CSRF or plugins). Each page runs every statement the portal's page runs: the page's data with this
request's cursor or order, and the rest (the signed-in user, the user's scope, the menu's and filters'
choices) as the bench clerk's request sends them. Creation runs every statement of the portal's API creation
(the token, the organisation with its contracts and device, the order, its events) and the audit trail's
pipelined append. What the portal adds on top of this is its overhead.

    BENCH_FLOOR_SQL=bench/results/floor_sql.json gunicorn --workers 2 --threads 4 bench.floor:app

Routes (the portal's paths, so the same load scripts drive both):
- ``GET /orders/?status=&after=`` the queue page: the same keyset statements as ``queries.queue_page``;
- ``GET /orders/<number>`` the order page: the statements the portal's order page runs for the order;
- ``POST /api/v1/work-orders`` order creation: the same statements as the portal's creation, and its audit
  append.
"""

from __future__ import annotations

import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from flask import Flask, abort, jsonify, request

from bench.capture import decode_params, shifted
from bench.common import LIBPQ_URL
from portal.audit import services as audit

CURSOR_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"

app = Flask(__name__)
SPEC = json.loads(Path(os.environ.get("BENCH_FLOOR_SQL", "bench/results/floor_sql.json")).read_text(encoding="utf-8"))
PAGE_SIZE = SPEC["page_size"]
_local = threading.local()

QUEUE = app.jinja_env.from_string("""<!doctype html>
<html><head><meta charset="utf-8"><title>Queue</title></head><body>
<table>
<thead><tr><th>Number</th><th>Organisation</th><th>Device</th><th>Summary</th><th>Severity</th><th>Status</th>
<th>Nearest deadline</th></tr></thead>
<tbody>
{% for row in rows %}<tr id="wo-{{ row.id }}" data-next-due="{{ row.next_due_iso }}">
<td><a href="/orders/{{ row.number }}">{{ row.number }}</a></td><td>{{ row.organisation }}</td>
<td>{{ row.device or "—" }}</td><td>{{ row.summary }}</td><td>{{ row.severity }}</td><td>{{ row.status }}</td>
<td>{% if row.clock %}{{ row.clock }}<br>{{ row.countdown }}{% else %}—{% endif %}
{%- if row.breached %} breached{% endif %}{% if row.spare_unit_due %} spare unit due{% endif %}</td>
</tr>
{% endfor %}</tbody></table>
{% if next_cursor %}<a id="next-page" href="?{{ query }}after={{ next_cursor }}">Next page</a>{% endif %}
</body></html>
""")

ORDER = app.jinja_env.from_string("""<!doctype html>
<html><head><meta charset="utf-8"><title>{{ number }}</title></head><body>
<h1>{{ number }}</h1>
{% for result in results %}<table>
{% for row in result.rows %}<tr>{% for value in row %}<td>{{ value if value is not none else "" }}</td>{% endfor %}</tr>
{% endfor %}</table>
{% endfor %}
</body></html>
""")


def connection(autocommit: bool = False) -> psycopg.Connection:
    """This thread's connection (kept open, like the portal's pool): in autocommit for the pages, whose
    statements the portal runs in autocommit too (``portal.database.reads_only``: no BEGIN, no ROLLBACK), and
    in transactions for creation."""
    name = "reader" if autocommit else "writer"
    conn = getattr(_local, name, None)
    if conn is None or conn.closed:
        conn = psycopg.connect(LIBPQ_URL, autocommit=autocommit)
        setattr(_local, name, conn)
    return conn


def fetch(sql: str, params: dict) -> tuple[list[str], list[tuple]]:
    """A page's statement, run in autocommit."""
    cur = connection(autocommit=True).execute(sql, params)
    return [column.name for column in cur.description], cur.fetchall()


def run_overhead(statements: list[dict]) -> int:
    """The page's statements besides its data, as the portal sends them; how many rows they gave."""
    return sum(len(fetch(statement["sql"], decode_params(statement["params"]))[1]) for statement in statements)


# ------------------------------------------------------------------------------------------------ the queue


def parse_cursor(raw: str | None):
    """(due or None, id) from ``<due>|<id>``, or None for the first page (the portal's format)."""
    due_text, sep, id_text = (raw or "").partition("|")
    if not sep or not id_text.isdigit():
        return None
    if due_text == "-":
        return None, int(id_text)
    return datetime.strptime(due_text, CURSOR_FORMAT).replace(tzinfo=UTC), int(id_text)


def run_variant(template: dict, limit: int, after=None) -> tuple[list[str], list[tuple]]:
    params = decode_params(template["params"])
    params[template["limit"]] = limit
    if after is not None:
        due, order_id = after
        if "cursor_due" in template:
            params[template["cursor_due"]] = due
        params[template["cursor_id"]] = order_id
    return fetch(template["sql"], params)


def page_rows(variants: dict, after) -> tuple[list[str], list[tuple]]:
    """The queue_page logic: orders with a deadline past the cursor (not for a closed-status filter, whose
    orders have none), then those without one by id."""
    names, rows = [], []
    if (after is None or after[0] is not None) and "first_due" in variants:
        names, rows = run_variant(variants["first_due" if after is None else "after_due"], PAGE_SIZE + 1, after)
    if len(rows) <= PAGE_SIZE:
        nodue_after = after if after is not None and after[0] is None else None
        variant = variants["after_nodue" if nodue_after else "first_nodue"]
        more_names, more = run_variant(variant, PAGE_SIZE + 1 - len(rows), nodue_after)
        names, rows = names or more_names, rows + more
    return names, rows


def countdown(due: datetime, now: datetime) -> str:
    left = int((due - now).total_seconds())
    text = f"{abs(left) // 3600}:{abs(left) % 3600 // 60:02d}:{abs(left) % 60:02d}"
    return f"{text} left" if left >= 0 else f"{text} overdue"


def queue_row(names: list[str], row: tuple, now: datetime) -> dict:
    """The fields the portal's queue shows, by the statement's column names (the order's own, the nearest
    clock and the spare-unit flag worked out by the database, ``organisation_name`` and ``device_code``)."""
    columns = dict(zip(names, row, strict=True))
    next_due = columns["next_due"]
    return {
        "id": columns["id"], "number": f"WO{columns['id']:08d}", "organisation": columns["organisation_name"],
        "device": columns["device_code"], "summary": columns["summary"], "severity": columns["severity"],
        "status": columns["status"], "breached": columns["breached"], "spare_unit_due": columns["spare_unit_due"],
        "clock": columns["clock"], "countdown": countdown(next_due, now) if next_due else "",
        "next_due_iso": next_due.astimezone(UTC).isoformat() if next_due else "",
    }


@app.get("/orders/")
def queue():
    """One page of the queue, as the portal's queue page selects it."""
    status = request.args.get("status", "")
    variants = SPEC["queue"].get(status or "open")
    if variants is None:
        abort(404)
    after = parse_cursor(request.args.get("after"))
    run_overhead(SPEC["queue_overhead"])
    names, rows = page_rows(variants, after)
    now = datetime.now(UTC)
    items = [queue_row(names, row, now) for row in rows[:PAGE_SIZE]]
    next_cursor = None
    if len(rows) > PAGE_SIZE:
        last = items[-1]
        due = last["next_due_iso"]
        next_cursor = (datetime.fromisoformat(due).strftime(CURSOR_FORMAT) if due else "-") + f"|{last['id']}"
    query = f"status={status}&" if status else ""
    return QUEUE.render(rows=items, next_cursor=next_cursor, query=query)


# ------------------------------------------------------------------------------------------------ the order


@app.get("/orders/<number>")
def order(number: str):
    """The order page's data: the portal's statements for it, with this order's ids."""
    digits = number[2:]
    if not number.startswith("WO") or not digits.isdigit():
        abort(404)
    ids = {"order": int(digits)}
    results = []
    run_overhead(SPEC["order"]["overhead"])
    for statement in SPEC["order"]["statements"]:
        params = decode_params(statement["params"])
        for key, role in statement["roles"].items():
            if role not in ids:
                abort(500)
            params[key] = ids[role]
        names, rows = fetch(statement["sql"], params)
        learn_ids(ids, names, rows)
        results.append({"rows": rows})
    if not results or not results[0]["rows"]:
        abort(404)
    return ORDER.render(number=number, results=results)


def learn_ids(ids: dict, names: list[str], rows: list[tuple]) -> None:
    """Pick up the ids later statements need from the order's row (its own columns come first; SQLAlchemy
    labels the joined tables' repeated names ``…_1``) and its contract's columns, joined or read alone."""
    if len(rows) != 1:
        return
    row: dict = {}
    for name, value in zip(names, rows[0], strict=True):
        row.setdefault(name, value)
    if "summary" in row and "contract_id" in row:  # the order
        ids.update(organisation=row["organisation_id"], device=row["device_id"], contract=row["contract_id"],
                   assignee=row["assignee_id"])
    if "starts_on" in names:  # the contract: its provider_id comes before starts_on
        before = names[:names.index("starts_on")]
        column = max(index for index, name in enumerate(before) if name.startswith("provider_id"))
        ids["provider"] = rows[0][column]


# ------------------------------------------------------------------------------------------------ creation
# The portal's statements of one creation, then its audit append: the SQL text and the hashing of the chain's
# next link are the portal's own (portal.audit.services), so the floor writes events `portal audit verify`
# accepts.

CREATION = SPEC["creation"]
CREATION_PARAMS = [[decode_params(row) for row in statement["params"]] for statement in CREATION["statements"]]
CAPTURED_AT = datetime.fromisoformat(CREATION["captured_at"])


def creation_change(change: dict, order_id: int, now: datetime) -> dict:
    """A captured audit change made about the new order, now (stamped, so the portal keeps its actor)."""
    after = change["after"]
    if isinstance(after, dict) and after.get("id") == CREATION["order_id"]:
        after = {**after, "id": order_id}
    record_id = str(order_id) if change["record_id"] == str(CREATION["order_id"]) else change["record_id"]
    return {**change, "at": now, "record_id": record_id, "after": after}


@app.post("/api/v1/work-orders")
def create():
    """Run the portal's statements of one creation (times moved to now, the new order's id passed on) and
    its audit append, which commits."""
    request.get_json(force=True)
    now = datetime.now(UTC)
    conn = connection()
    order_id = None
    try:
        for statement, captured in zip(CREATION["statements"], CREATION_PARAMS, strict=True):
            params = [{**shifted(row, statement["times"], CAPTURED_AT, now),
                       **dict.fromkeys(statement["order"], order_id)} for row in captured]
            if statement["many"]:
                conn.cursor().executemany(statement["sql"], params)
                continue
            cursor = conn.execute(statement["sql"], params[0])
            rows = cursor.fetchall() if cursor.description else []
            if statement["returns_order"]:
                order_id = rows[0][0]
        audit.append_and_commit(conn, [creation_change(change, order_id, now) for change in CREATION["audit"]])
    except Exception:
        conn.rollback()
        raise
    return jsonify({"number": f"WO{order_id:08d}"}), 201
