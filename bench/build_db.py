"""Build the benchmark database ``portal_bench``: the portal's own schema (its Alembic history), then
50 organisations, 100,000 devices and 1,000,000 work orders generated in bulk.

    .venv/bin/python bench/build_db.py            # drops and rebuilds portal_bench (about a minute or two)

The closed orders (900,000) are one ``INSERT … SELECT … FROM generate_series``; the open ones (100,000) are
computed with the portal's own SLA engine (``portal.sla.engine``) so that their deadlines, clock states,
80% marks and ``next_due`` are exactly what the portal would store, and loaded with COPY, together with
their timelines and the notifications earlier sweeps would have queued. Nothing goes through the ORM.

Time is anchored at T0 (the build time, kept in ``bench.meta``): open orders' clocks started up to a
little more than their repair target before T0, so deadlines are spread around T0. Clocks that ran out
more than ``--backlog-minutes`` before T0 are stored as already marked breached by an earlier sweep; those
that ran out within the backlog are still ``running`` and overdue, which is what the benchmarked sweep
(run at ``now = T0``) has to catch up on.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from psycopg import sql
from psycopg.types.numeric import Int8

try:
    from bench.common import ADMIN, CLERK, DB_NAME, PASSWORD, SERVER_URL, connect, portal
except ModuleNotFoundError:  # run as a script: bench/ is on sys.path, the project root is not
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent.parent))
    from bench.common import ADMIN, CLERK, DB_NAME, PASSWORD, SERVER_URL, connect, portal

from werkzeug.security import generate_password_hash  # noqa: E402

from plugins.campus_card.tables import STANDARD as CAMPUS  # noqa: E402
from plugins.police_kiosk.tables import STANDARD as POLICE  # noqa: E402
from portal.sla import engine  # noqa: E402

ORGS = 50
POLICE_ORGS = 25
PROVIDERS = 5
ENGINEERS_PER_PROVIDER = 10
DEVICES_PER_ORG = 2_000
BIG_PROVIDER_ORGS = tuple(range(1, 11)) + tuple(range(26, 36))  # provider 1 (the bench clerk's): 20 orgs
FAR_ARRIVAL_HOURS = Decimal("6")
CLOCKS = ("response", "arrival", "repair", "factory")
OPEN_STATUSES = ("reported", "accepted", "responded", "on_site", "paused")
SUMMARIES = (
    "屏幕无显示", "打印机卡纸", "身份证阅读器无法读卡", "触摸屏失灵", "网络中断", "读卡器故障",
    "圈存失败", "票据打印模糊", "设备死机需重启", "摄像头无法拍照",
)
INDEXED_TABLES = ("work_order", "work_order_event", "notification", "device")


def provider_of(org: int) -> int:
    """The provider holding an organisation's contract."""
    return 1 if org in BIG_PROVIDER_ORGS else 2 + org % 4


def clerk_id(provider: int) -> int:
    return 1 + provider


def engineer_ids(provider: int) -> range:
    first = 7 + (provider - 1) * ENGINEERS_PER_PROVIDER
    return range(first, first + ENGINEERS_PER_PROVIDER)


def requester_id(org: int) -> int:
    return 6 + PROVIDERS * ENGINEERS_PER_PROVIDER + org


# ------------------------------------------------------------------------------------------------------------
# Database, schema
# ------------------------------------------------------------------------------------------------------------


def run_script(cur, script: str, params: dict) -> None:
    """Run the statements of a script one by one (parameters cannot go with several statements)."""
    params = {key: Int8(value) if isinstance(value, int) else value for key, value in params.items()}
    for statement in script.split(";\n"):
        if statement.strip():
            cur.execute(statement, params or None)


def recreate_database() -> None:
    """DROP (forcing out sessions) and CREATE the bench database."""
    with connect(autocommit=True, url=f"{SERVER_URL}/postgres") as server:
        server.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DB_NAME)))
        server.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DB_NAME)))


def drop_secondary_indexes(cur) -> list[str]:
    """Drop the plain (non-constraint) indexes of the bulk-loaded tables; their definitions, to recreate."""
    rows = cur.execute(
        """SELECT i.indexname, i.indexdef FROM pg_indexes i
           WHERE i.schemaname = 'public' AND i.tablename = ANY(%s)
             AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)""",
        (list(INDEXED_TABLES),),
    ).fetchall()
    for name, _definition in rows:
        cur.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
    return [definition for _name, definition in rows]


# ------------------------------------------------------------------------------------------------------------
# Reference data: organisations, providers, contracts, service points, devices, users
# ------------------------------------------------------------------------------------------------------------

REFERENCE_SQL = """
INSERT INTO provider (id, code, name, licence_number, contact_name, contact_phone, address, active, created_at)
SELECT p, 'PROV' || p, '运维服务商 ' || p, 'LIC-' || p, '联系人', '022-0000000' || p, '天津', true, %(t0)s
FROM generate_series(1, %(providers)s) p;

INSERT INTO organisation (id, code, name, standard, contact_name, contact_phone, contact_email, address, active,
                          created_at)
SELECT o,
       CASE WHEN o <= %(police)s THEN 'PK' || lpad(o::text, 2, '0')
            ELSE 'CC' || lpad((o - %(police)s)::text, 2, '0') END,
       CASE WHEN o <= %(police)s THEN '公安分局 ' || o ELSE '大学一卡通中心 ' || (o - %(police)s) END,
       CASE WHEN o <= %(police)s THEN 'police_kiosk' ELSE 'campus_card' END,
       '负责人', '022-1000' || o, 'org' || o || '@bench.example', '地址 ' || o, true, %(t0)s
FROM generate_series(1, %(orgs)s) o;

INSERT INTO contract (id, number, organisation_id, provider_id, standard, starts_on, ends_on, far_arrival_hours,
                      remote_response_hours, notes, created_at)
SELECT o.id, 'CT-' || o.code, o.id,
       CASE WHEN o.id = ANY(%(big)s) THEN 1 ELSE 2 + o.id %% 4 END,
       o.standard, (%(t0)s::timestamptz - interval '800 days')::date, NULL,
       CASE WHEN o.standard = 'police_kiosk' THEN %(far)s END, NULL, '', %(t0)s
FROM organisation o;

INSERT INTO service_point (id, code, name, address, phone, organisation_id, provider_id, created_at)
SELECT c.organisation_id, 'SP-' || c.organisation_id, '服务网点 ' || c.organisation_id, '网点地址', '022-2000',
       c.organisation_id, c.provider_id, %(t0)s
FROM contract c;

INSERT INTO device (id, code, organisation_id, service_point_id, model, serial_number, kind, owning_unit, address,
                    distance_km, maintainer_id, status, installed_on, notes, created_at, updated_at)
SELECT d.id, o.code || '-' || lpad(d.n::text, 5, '0'), o.id, o.id, 'Model ' || (d.id %% 7),
       'SN' || lpad(d.id::text, 9, '0'),
       CASE WHEN o.standard = 'police_kiosk'
            THEN (ARRAY['自助办证机','自助签注机','自助缴款机','自助拍照机'])[1 + d.id %% 4]
            ELSE (ARRAY['POS收费机','圈存机','业务机','门禁终端'])[1 + d.id %% 4] END,
       o.name, '第 ' || d.n || ' 号点位',
       CASE WHEN o.standard = 'police_kiosk' THEN round((random() * 125)::numeric, 2) END,
       NULL, CASE WHEN d.id %% 50 = 0 THEN 'under_repair' ELSE 'in_service' END,
       (%(t0)s::timestamptz - interval '900 days')::date, '', %(t0)s, %(t0)s
FROM (SELECT g AS id, (g - 1) / %(per_org)s + 1 AS org, (g - 1) %% %(per_org)s + 1 AS n
      FROM generate_series(1, %(orgs)s * %(per_org)s) g) d
JOIN organisation o ON o.id = d.org;

INSERT INTO user_account (id, username, display_name, password_hash, role, organisation_id, provider_id, email,
                          phone, active, locale, session_version, created_at)
SELECT 1, %(admin)s, 'Bench admin', %(hash)s, 'admin', NULL::int, NULL::int, 'admin@bench.example', '', true,
       'en', 1, %(t0)s
UNION ALL
SELECT 1 + p, CASE WHEN p = 1 THEN %(clerk)s ELSE 'clerk_p' || p END, '值班员 ' || p, %(hash)s, 'clerk', NULL, p,
       'clerk' || p || '@bench.example', '', true, 'en', 1, %(t0)s
FROM generate_series(1, %(providers)s) p
UNION ALL
SELECT 7 + (p - 1) * %(engineers)s + k, 'eng_p' || p || '_' || k, '工程师 ' || p || '-' || k, %(hash)s, 'engineer',
       NULL, p, 'eng' || p || '_' || k || '@bench.example', '', true, 'en', 1, %(t0)s
FROM generate_series(1, %(providers)s) p, generate_series(0, %(engineers)s - 1) k
UNION ALL
SELECT 6 + %(providers)s * %(engineers)s + o, 'req_o' || lpad(o::text, 2, '0'), '报修人 ' || o, %(hash)s,
       'requester', o, NULL, 'req' || o || '@bench.example', '', true, 'en', 1, %(t0)s
FROM generate_series(1, %(orgs)s) o;
"""


# ------------------------------------------------------------------------------------------------------------
# The closed orders: one INSERT … SELECT
# ------------------------------------------------------------------------------------------------------------

CLOSED_SQL = """
SELECT setseed(0.42);
INSERT INTO work_order (
    id, organisation_id, contract_id, device_id, standard, service_type, channel, summary, description,
    severity, severity_reason, severity_manual, affected_terminals, affected_cardholders, cause, remote,
    alarm_code, assignee_id, status, status_before_pause, reported_at, accepted_at, responded_at, arrived_at,
    resolved_at, followed_up_at, closed_at, paused_at, spare_provided_at, factory_out_at, factory_back_at,
    due_response, due_arrival, due_repair, due_factory, state_response, state_arrival, state_repair,
    state_factory, warn_response, warn_arrival, warn_repair, warn_factory, next_due, breached,
    repair_seconds, created_by_id, created_at, updated_at)
WITH base AS MATERIALIZED (
    SELECT g AS id, 1 + floor(random() * %(orgs)s)::int AS org, random() AS r_sev, random() AS r_dev,
           random() AS r_acc, random() AS r_resp, random() AS r_arr, random() AS r_rep, random() AS r_fol,
           random() AS r_st, random() AS r_ch, random() AS r_asg, random() AS r_sum
    FROM generate_series(1, %(closed)s) g
), sev AS (
    SELECT b.*, c.provider_id, o.standard, o.standard = 'police_kiosk' AS police,
           %(t0)s::timestamptz - interval '3 days'
               - (%(closed)s - b.id) * (interval '727 days' / %(closed)s) AS reported_at,
           CASE WHEN o.standard = 'police_kiosk' THEN
                    CASE WHEN r_sev < 0.2 THEN 'urgent' WHEN r_sev < 0.65 THEN 'medium' ELSE 'minor' END
                ELSE CASE WHEN r_sev < 0.55 THEN 'general' WHEN r_sev < 0.8 THEN 'larger'
                          WHEN r_sev < 0.9 THEN 'major' WHEN r_sev < 0.95 THEN 'severe' ELSE 'special' END
           END AS severity
    FROM base b JOIN contract c ON c.id = b.org JOIN organisation o ON o.id = b.org
), hours AS (
    SELECT sev.*,
           CASE WHEN police OR severity <> 'general' THEN 0.5 ELSE 1 END AS resp_h,
           CASE WHEN police THEN 2 WHEN severity = 'general' THEN 1 ELSE 0.5 END AS arr_h,
           CASE severity WHEN 'urgent' THEN 2 WHEN 'medium' THEN 4 WHEN 'minor' THEN 8 WHEN 'general' THEN 12
                WHEN 'larger' THEN 24 WHEN 'major' THEN 48 WHEN 'severe' THEN 72 END AS rep_h,
           reported_at + r_acc * interval '10 minutes' AS accepted_at
    FROM sev
), started AS (
    SELECT hours.*, CASE WHEN police THEN accepted_at ELSE reported_at END AS start FROM hours
), stepped AS (
    SELECT started.*,
           CASE WHEN police THEN start + resp_h * (0.2 + r_resp * 0.85) * interval '1 hour' END AS responded_at,
           start + arr_h * (0.25 + r_arr * 0.8) * interval '1 hour' AS arrived_at0,
           start + resp_h * interval '1 hour' AS due_response,
           start + arr_h * interval '1 hour' AS due_arrival,
           start + rep_h * interval '1 hour' AS due_repair
    FROM started
), arrived AS (
    SELECT stepped.*, greatest(arrived_at0, responded_at + interval '5 minutes') AS arrived_at FROM stepped
), resolved AS (
    SELECT arrived.*,
           greatest(start + coalesce(rep_h, 30) * (0.2 + r_rep * 0.85) * interval '1 hour',
                    arrived_at + interval '10 minutes') AS resolved_at,
           CASE WHEN r_st < 0.92 THEN 'closed' WHEN r_st < 0.96 THEN 'followed_up' ELSE 'resolved' END AS status
    FROM arrived
), done AS (
    SELECT resolved.*,
           CASE WHEN status <> 'resolved' THEN resolved_at + (2 + r_fol * 46) * interval '1 hour' END
               AS followed_up_at,
           CASE WHEN police THEN responded_at ELSE arrived_at END AS response_stop
    FROM resolved
), states AS (
    SELECT done.*,
           CASE WHEN response_stop <= due_response THEN 'met' ELSE 'breached' END AS state_response,
           CASE WHEN arrived_at <= due_arrival THEN 'met' ELSE 'breached' END AS state_arrival,
           CASE WHEN rep_h IS NULL THEN NULL WHEN resolved_at <= due_repair THEN 'met' ELSE 'breached' END
               AS state_repair
    FROM done
)
SELECT id, org, org, CASE WHEN r_dev < 0.03 THEN NULL
                          ELSE (org - 1) * %(per_org)s + 1 + floor((r_dev - 0.03) / 0.97 * %(per_org)s)::int END,
       standard, 'repair',
       (ARRAY['phone','web','system','monitoring','qr','email'])[1 + floor(r_ch * 6)::int],
       (%(summaries)s::text[])[1 + floor(r_sum * %(n_summaries)s)::int], '',
       severity, 'Chosen by a person.', true, NULL, NULL, NULL, false, NULL,
       7 + (provider_id - 1) * %(engineers)s + floor(r_asg * %(engineers)s)::int,
       status, NULL, reported_at, accepted_at, responded_at, arrived_at, resolved_at, followed_up_at,
       CASE WHEN status = 'closed' THEN followed_up_at + r_fol * interval '2 hours' END,
       NULL, NULL, NULL, NULL,
       due_response, due_arrival, due_repair, NULL, state_response, state_arrival, state_repair, NULL,
       start + (due_response - start) * 0.8, start + (due_arrival - start) * 0.8,
       start + (due_repair - start) * 0.8, NULL,
       NULL, 'breached' IN (state_response, state_arrival, coalesce(state_repair, 'met')),
       extract(epoch FROM resolved_at - start)::int,
       1 + provider_id, reported_at,
       coalesce(CASE WHEN status = 'closed' THEN followed_up_at + r_fol * interval '2 hours' END,
                followed_up_at, resolved_at)
FROM states;
"""


# ------------------------------------------------------------------------------------------------------------
# The open orders: computed with the portal's SLA engine, loaded with COPY
# ------------------------------------------------------------------------------------------------------------

ORDER_COLUMNS = (
    "id", "organisation_id", "contract_id", "device_id", "standard", "service_type", "channel", "summary",
    "description", "severity", "severity_reason", "severity_manual", "remote", "assignee_id", "status",
    "status_before_pause", "reported_at", "accepted_at", "responded_at", "arrived_at", "paused_at",
    "factory_out_at", "spare_provided_at",
    "due_response", "due_arrival", "due_repair", "due_factory",
    "state_response", "state_arrival", "state_repair", "state_factory",
    "warn_response", "warn_arrival", "warn_repair", "warn_factory",
    "next_due", "breached", "created_by_id", "created_at", "updated_at",
)
EVENT_COLUMNS = ("work_order_id", "type", "at", "actor_id", "actor_name", "from_status", "to_status", "note",
                 "reason", "data")
NOTIFICATION_COLUMNS = ("work_order_id", "clock", "kind", "recipient_id", "channel", "status", "attempts",
                        "error", "created_at", "sent_at")
POLICE_SEVERITIES = (("urgent", 0.20), ("medium", 0.45), ("minor", 0.35))
CAMPUS_SEVERITIES = (("general", 0.55), ("larger", 0.25), ("major", 0.10), ("severe", 0.05), ("special", 0.05))


@dataclass
class OpenOrder:
    """One generated open order, its timeline and the notifications already queued for it."""

    row: dict
    events: list = field(default_factory=list)
    notifications: list = field(default_factory=list)


def pick(rng: random.Random, weighted) -> str:
    return rng.choices([name for name, _w in weighted], weights=[w for _n, w in weighted])[0]


def hours(value: float) -> timedelta:
    return timedelta(seconds=value * 3600)


def open_order(order_id: int, rng: random.Random, t0: datetime, backlog: timedelta,
               distances: dict[int, Decimal]) -> OpenOrder:
    """An open order whose clocks started up to a bit more than its repair target before T0."""
    org = rng.randint(1, ORGS)
    police = org <= POLICE_ORGS
    standard = POLICE if police else CAMPUS
    provider = provider_of(org)
    severity = pick(rng, POLICE_SEVERITIES if police else CAMPUS_SEVERITIES)
    row_hours = standard.severity(severity).repair_hours
    scale = float(row_hours) if row_hours is not None else 24.0
    device = None if rng.random() < 0.03 else (org - 1) * DEVICES_PER_ORG + rng.randint(1, DEVICES_PER_ORG)
    remote = police and rng.random() < 0.10
    age = hours(scale * rng.uniform(0.0, 1.35)) + timedelta(minutes=1)
    start = t0 - age
    draw = rng.random()
    status = "reported" if draw < 0.03 else "paused" if draw < 0.08 else "active"
    if police:
        accepted_at = None if status == "reported" else start
        reported_at = start - timedelta(minutes=rng.uniform(0, 10))
        if status == "reported":
            reported_at = t0 - timedelta(minutes=rng.uniform(1, 45))
    else:
        reported_at = start
        accepted_at = None if status == "reported" else start + timedelta(minutes=rng.uniform(0, 10))
    clock_start = accepted_at if police else reported_at
    responded_at = arrived_at = paused_at = factory_out_at = None
    if clock_start is not None and status != "reported":
        response_h = float(standard.severity(severity).response_hours)
        arrival_h = float(standard.severity(severity).arrival_hours)
        respond = clock_start + hours(response_h * rng.uniform(0.2, 1.2))
        if police and respond < t0:
            responded_at = respond
        arrive = (responded_at or clock_start) + hours(arrival_h * rng.uniform(0.3, 1.3))
        if not remote and arrive < t0 and (responded_at is not None or not police):
            arrived_at = arrive
    if status == "active":
        status = "on_site" if arrived_at else "responded" if responded_at else "accepted"
    before_pause = None
    if status == "paused":
        before_pause = "on_site" if arrived_at else "responded" if responded_at else "accepted"
        latest = max(t for t in (clock_start, responded_at, arrived_at) if t is not None)
        paused_at = latest + (t0 - latest) * rng.uniform(0.1, 0.9)
    if not police and status == "on_site" and rng.random() < 0.03:
        factory_out_at = arrived_at + (t0 - arrived_at) * rng.uniform(0.1, 0.9)
    spare_at = arrived_at + (t0 - arrived_at) * 0.5 if police and arrived_at and rng.random() < 0.05 else None
    assignee = rng.choice(engineer_ids(provider)) if status != "reported" and rng.random() < 0.85 else None
    distance = distances.get(device) if device else None
    facts = engine.OrderFacts(
        severity=severity, reported_at=reported_at, accepted_at=accepted_at, responded_at=responded_at,
        arrived_at=arrived_at, remote=remote, distance_km=distance,
        far_arrival_hours=FAR_ARRIVAL_HOURS if police else None, factory_out_at=factory_out_at,
        pauses=(engine.Interval(paused_at, None),) if paused_at else (),
    )
    clocks = engine.compute_clocks(standard, facts, t0)
    row = {
        "id": order_id, "organisation_id": org, "contract_id": org, "device_id": device,
        "standard": standard.id, "service_type": "repair", "channel": rng.choice(("phone", "web", "system",
                                                                                   "monitoring", "qr")),
        "summary": rng.choice(SUMMARIES), "description": "", "severity": severity,
        "severity_reason": "Chosen by a person.", "severity_manual": True, "remote": remote,
        "assignee_id": assignee, "status": status, "status_before_pause": before_pause,
        "reported_at": reported_at, "accepted_at": accepted_at, "responded_at": responded_at,
        "arrived_at": arrived_at, "paused_at": paused_at, "factory_out_at": factory_out_at,
        "spare_provided_at": spare_at, "created_by_id": clerk_id(provider), "created_at": reported_at,
    }
    order = OpenOrder(row)
    running_dues = []
    for name in CLOCKS:
        clock = clocks[name]
        state = clock.state
        if clock.due is not None and clock.met_at is None:
            marked = not clock.paused and clock.due < t0 - backlog
            state = engine.BREACHED if marked else engine.RUNNING
            if state == engine.RUNNING and not clock.paused:
                running_dues.append(clock.due)
        row[f"due_{name}"], row[f"state_{name}"] = clock.due, state
        row[f"warn_{name}"] = clock.warn_at
        queued_before(order, name, clock, state, t0 - backlog, provider, org)
    row["next_due"] = min(running_dues) if running_dues else None
    row["breached"] = any(row[f"state_{name}"] == engine.BREACHED for name in CLOCKS)
    row["updated_at"] = max(t for t in (reported_at, accepted_at, responded_at, arrived_at, paused_at,
                                        factory_out_at, spare_at) if t is not None)
    timeline(order, org, provider)
    return order


def queued_before(order: OpenOrder, name: str, clock, state: str, cutoff: datetime, provider: int,
                  org: int) -> None:
    """The warnings and breach notices earlier sweeps queued (and sent) for this clock before the cutoff;
    the breach event they put on the timeline."""
    assignee = order.row["assignee_id"]
    if clock.warn_at is not None and clock.met_at is None and clock.warn_at <= cutoff and assignee:
        order.notifications.append((order.row["id"], name, "warning", assignee, "email", "sent", 1, "",
                                    clock.warn_at, clock.warn_at))
    if state == engine.BREACHED and clock.met_at is None:
        order.events.append((order.row["id"], "breach", clock.due, None, "system", None, None, "", "",
                             json.dumps({"clock": name})))
        for recipient in (assignee, clerk_id(provider), requester_id(org)):
            if recipient:
                order.notifications.append((order.row["id"], name, "breach", recipient, "email", "sent", 1, "",
                                            clock.due, clock.due))


def timeline(order: OpenOrder, org: int, provider: int) -> None:
    """The order's steps so far, as the lifecycle would have recorded them."""
    row, oid = order.row, order.row["id"]
    clerk = clerk_id(provider)
    events = [(oid, "report", row["reported_at"], clerk, f"clerk_p{provider}", None, "reported", "", "", None)]
    status = "reported"
    for step, column, to in (("accept", "accepted_at", "accepted"), ("respond", "responded_at", "responded"),
                             ("arrive", "arrived_at", "on_site")):
        if row[column] is not None:
            events.append((oid, step, row[column], clerk, f"clerk_p{provider}", status, to, "", "", None))
            status = to
            if step == "accept" and row["assignee_id"]:
                events.append((oid, "assign", row[column], clerk, f"clerk_p{provider}", status, status, "", "",
                               json.dumps({"assignee": row["assignee_id"]})))
    if row["factory_out_at"]:
        events.append((oid, "factory_out", row["factory_out_at"], clerk, "", status, status, "", "", None))
    if row["spare_provided_at"]:
        events.append((oid, "spare_provided", row["spare_provided_at"], clerk, "", status, status, "", "", None))
    if row["paused_at"]:
        events.append((oid, "pause", row["paused_at"], clerk, "", status, "paused", "", "等待备件", None))
    order.events[:0] = events


def load_open_orders(cur, first_id: int, count: int, t0: datetime, backlog: timedelta, seed: int) -> dict:
    """Generate the open orders with the SLA engine and COPY them, their events and notifications."""
    rng = random.Random(seed)
    distances = dict(cur.execute("SELECT id, distance_km FROM device WHERE distance_km IS NOT NULL").fetchall())
    orders = [open_order(first_id + k, rng, t0, backlog, distances) for k in range(count)]
    columns = sql.SQL(", ").join(map(sql.Identifier, ORDER_COLUMNS))
    with cur.copy(sql.SQL("COPY work_order ({}) FROM STDIN").format(columns)) as copy:
        for order in orders:
            copy.write_row([order.row[name] for name in ORDER_COLUMNS])
    events = sorted((event for order in orders for event in order.events), key=lambda event: event[2])
    columns = sql.SQL(", ").join(map(sql.Identifier, EVENT_COLUMNS))
    with cur.copy(sql.SQL("COPY work_order_event ({}) FROM STDIN").format(columns)) as copy:
        for event in events:
            copy.write_row(event)
    notices = sorted((n for order in orders for n in order.notifications), key=lambda n: n[8])
    columns = sql.SQL(", ").join(map(sql.Identifier, NOTIFICATION_COLUMNS))
    with cur.copy(sql.SQL("COPY notification ({}) FROM STDIN").format(columns)) as copy:
        for notice in notices:
            copy.write_row(notice)
    return {"open_orders": len(orders), "open_events": len(events), "notifications": len(notices)}


# ------------------------------------------------------------------------------------------------------------
# After loading: indexes, sequences, statistics, the sweep's baseline, tokens
# ------------------------------------------------------------------------------------------------------------

BASELINE_SQL = """
CREATE SCHEMA bench;
CREATE TABLE bench.meta (key text PRIMARY KEY, value text NOT NULL);
CREATE TABLE bench.sweep_baseline AS
    SELECT id, state_response, state_arrival, state_repair, state_factory, breached, next_due, updated_at
    FROM work_order WHERE status IN ('reported', 'accepted', 'responded', 'on_site', 'paused');
ALTER TABLE bench.sweep_baseline ADD PRIMARY KEY (id);
"""


def reset_sequences(cur) -> None:
    """Move each table's id sequence past the ids inserted explicitly."""
    for table in ("provider", "organisation", "contract", "service_point", "device", "user_account",
                  "work_order", "work_order_event", "notification"):
        cur.execute(sql.SQL("SELECT setval(pg_get_serial_sequence(%s, 'id'), (SELECT max(id) FROM {}))")
                    .format(sql.Identifier(table)), (table,))


def sweep_backlog(cur, t0: datetime) -> int:
    """How many clocks are running and overdue at T0 (what the benchmarked sweep must mark)."""
    parts = []
    for name in CLOCKS:
        factory = " AND NOT (factory_out_at IS NOT NULL AND factory_back_at IS NULL)" if name == "repair" else ""
        parts.append(f"count(*) FILTER (WHERE state_{name} = 'running' AND due_{name} < %(t0)s{factory})")
    query = (f"SELECT {' + '.join(parts)} FROM work_order "
             "WHERE status IN ('accepted', 'responded', 'on_site', 'reported') AND paused_at IS NULL")
    return cur.execute(query, {"t0": t0}).fetchone()[0]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--open", type=int, default=100_000)
    parser.add_argument("--backlog-minutes", type=int, default=15,
                        help="overdue clocks not yet marked by a sweep: those that ran out this recently")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    steps: dict[str, float] = {}

    def lap(name: str, since: float) -> float:
        now = time.perf_counter()
        steps[name] = round(now - since, 2)
        print(f"  {name}: {steps[name]:.1f} s", flush=True)
        return now

    t0 = datetime.now(UTC).replace(microsecond=0)
    backlog = timedelta(minutes=args.backlog_minutes)
    closed = args.orders - args.open
    print(f"building {DB_NAME}: {args.orders:,} orders ({args.open:,} open), T0 = {t0.isoformat()}", flush=True)
    mark = time.perf_counter()
    recreate_database()
    portal("db", "upgrade")
    mark = lap("create and migrate", mark)
    password_hash = generate_password_hash(PASSWORD, method="scrypt")
    counts: dict[str, int] = {}
    with connect() as conn, conn.cursor() as cur:
        cur.execute("SET synchronous_commit = off")
        cur.execute("SET session_replication_role = replica")  # no FK triggers while bulk loading
        definitions = drop_secondary_indexes(cur)
        run_script(cur, REFERENCE_SQL, {
            "t0": t0, "providers": PROVIDERS, "orgs": ORGS, "police": POLICE_ORGS, "big": list(BIG_PROVIDER_ORGS),
            "far": FAR_ARRIVAL_HOURS, "per_org": DEVICES_PER_ORG, "admin": ADMIN, "clerk": CLERK,
            "hash": password_hash, "engineers": ENGINEERS_PER_PROVIDER,
        })
        mark = lap("organisations, devices, users", mark)
        run_script(cur, CLOSED_SQL, {"t0": t0, "orgs": ORGS, "closed": closed, "per_org": DEVICES_PER_ORG,
                                 "engineers": ENGINEERS_PER_PROVIDER, "summaries": list(SUMMARIES),
                                 "n_summaries": len(SUMMARIES)})
        mark = lap(f"{closed:,} closed orders (INSERT … SELECT)", mark)
        counts.update(load_open_orders(cur, closed + 1, args.open, t0, backlog, args.seed))
        mark = lap(f"{args.open:,} open orders, timelines, notifications (COPY)", mark)
        cur.execute("SET session_replication_role = origin")
        for definition in definitions:
            cur.execute(definition)
        reset_sequences(cur)
        mark = lap("indexes and sequences", mark)
        run_script(cur, BASELINE_SQL, {})
        counts["sweep_backlog_clocks"] = sweep_backlog(cur, t0)
        conn.commit()
    with connect(autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) ")
        mark = lap("VACUUM ANALYZE", mark)
    token = portal("tokens", "create", "--username", CLERK, "--name", "bench").strip().splitlines()[-1]
    with connect() as conn:
        facts = {
            "t0": t0.isoformat(), "backlog_minutes": str(args.backlog_minutes), "clerk_token": token,
            "max_event_id": str(conn.execute("SELECT coalesce(max(id), 0) FROM work_order_event").fetchone()[0]),
            "max_notification_id": str(conn.execute("SELECT coalesce(max(id), 0) FROM notification").fetchone()[0]),
            "orders": str(args.orders), "open": str(args.open),
            **{key: str(value) for key, value in counts.items()},
        }
        conn.cursor().executemany("INSERT INTO bench.meta (key, value) VALUES (%s, %s)", list(facts.items()))
    total = time.perf_counter() - started
    steps["total"] = round(total, 1)
    with connect() as conn:
        conn.execute("INSERT INTO bench.meta (key, value) VALUES ('build_seconds', %s), ('build_steps', %s)",
                     (f"{total:.1f}", json.dumps(steps)))
    print(f"built {DB_NAME} in {total:.1f} s; {counts}", flush=True)


if __name__ == "__main__":
    main()
