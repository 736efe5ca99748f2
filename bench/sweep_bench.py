"""Time the breach sweep over the 100,000 open orders and prove a re-run changes nothing.

Each run first puts the open orders back as build_db.py made them (``bench.sweep_baseline``: clock
states, breach flag, ``next_due``) and removes what earlier sweeps added (events and notifications past
the ids recorded at build time), vacuums, then times ``portal.sla.sweep.sweep(now=T0)``: the body of the
``sla.sweep`` job, at the reference time the data was generated around, so that the same clocks (those
that ran out within the build's backlog window) breach on every run, whenever the benchmark runs. The
job itself would also enqueue ``notify.dispatch`` (sending e-mail), which is not part of the sweep.

After the timed run the sweep runs again at the same instant: it must report nothing and leave the row
counts and the open orders' clock columns exactly as they were.

Besides the wall-clock time, each run records the CPU time the sweep's PostgreSQL backend spent on each
statement (``/proc/<pid>/schedstat``, so only with the server on this machine): on a shared machine the
wall clock moves with the other load, the backend's CPU time much less.

    .venv/bin/python -m bench.sweep_bench --runs 5      # prints one JSON object
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

try:
    from bench.common import connect, meta, portal_env
except ModuleNotFoundError:  # run as a script: bench/ is on sys.path, the project root is not
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent.parent))
    from bench.common import connect, meta, portal_env

RESET_SQL = """
UPDATE work_order w
SET state_response = b.state_response, state_arrival = b.state_arrival, state_repair = b.state_repair,
    state_factory = b.state_factory, breached = b.breached, next_due = b.next_due, updated_at = b.updated_at
FROM bench.sweep_baseline b
WHERE w.id = b.id
  AND (w.state_response, w.state_arrival, w.state_repair, w.state_factory, w.breached, w.next_due)
      IS DISTINCT FROM (b.state_response, b.state_arrival, b.state_repair, b.state_factory, b.breached, b.next_due)
"""

# Only the built orders' rows: orders that run.py (or anyone) creates meanwhile do not count.
FINGERPRINT_SQL = """
SELECT (SELECT count(*) FROM work_order_event WHERE work_order_id <= %(orders)s) AS events,
       (SELECT count(*) FROM notification WHERE work_order_id <= %(orders)s) AS notifications,
       (SELECT count(*) FROM work_order WHERE breached AND id <= %(orders)s) AS breached_orders,
       (SELECT md5(string_agg(concat_ws('|', id, state_response, state_arrival, state_repair, state_factory,
                                        breached, next_due), ',' ORDER BY id))
        FROM work_order WHERE status IN ('reported', 'accepted', 'responded', 'on_site', 'paused')
          AND id <= %(orders)s) AS clocks
"""


def reset(facts: dict) -> int:
    """Undo earlier sweeps; the number of orders put back."""
    with connect() as conn:
        conn.execute("DELETE FROM work_order WHERE id > %s", (int(facts["orders"]),))
        conn.execute("DELETE FROM work_order_event WHERE id > %s", (int(facts["max_event_id"]),))
        conn.execute("DELETE FROM notification WHERE id > %s", (int(facts["max_notification_id"]),))
        restored = conn.execute(RESET_SQL).rowcount
    with connect(autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) work_order, work_order_event, notification")
    return restored


def backend_cpu_ms(pid: int) -> float | None:
    """The CPU time a PostgreSQL backend on this machine has used so far, in ms (None when unreadable)."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e6
    except (OSError, ValueError, IndexError):
        return None


class StatementCpu:
    """Records the backend CPU time of every statement an engine runs, with the statement's first words."""

    def __init__(self, engine) -> None:
        from sqlalchemy import event

        self.spent: list[tuple[str, float]] = []
        self.started: float | None = None
        event.listen(engine, "before_cursor_execute", self.before)
        event.listen(engine, "after_cursor_execute", self.after)

    @staticmethod
    def pid(conn) -> int:
        return conn.connection.dbapi_connection.info.backend_pid

    def before(self, conn, cursor, statement, parameters, context, executemany) -> None:
        self.started = backend_cpu_ms(self.pid(conn))

    def after(self, conn, cursor, statement, parameters, context, executemany) -> None:
        ended = backend_cpu_ms(self.pid(conn))
        if self.started is not None and ended is not None:
            self.spent.append((" ".join(statement.split()[:3]), ended - self.started))

    def take(self, step_names: list[str]) -> dict[str, float] | None:
        """The sweep's statements since the last take, by step name (the lock's SELECT and the transaction's
        settings left out)."""
        spent = [ms for words, ms in self.spent if not words.startswith(("SELECT pg_try_advisory", "SET LOCAL"))]
        self.spent = []
        if len(spent) != len(step_names):
            return None
        return {name: round(ms, 1) for name, ms in zip(step_names, spent, strict=True)}


def fingerprint(facts: dict) -> dict:
    """Row counts and an md5 of the open orders' clock columns, over the orders build_db.py made."""
    with connect() as conn:
        cur = conn.execute(FINGERPRINT_SQL, {"orders": int(facts["orders"])})
        return dict(zip([c.name for c in cur.description], cur.fetchone(), strict=True))


def cpu_medians(runs: list[dict], steps: list[str]) -> dict:
    """Median PostgreSQL CPU time of the sweep and of each statement, when every run recorded it."""
    if not all(run["pg_cpu_ms"] for run in runs):
        return {}
    return {
        "pg_cpu_median_ms": round(statistics.median(sum(run["pg_cpu_ms"].values()) for run in runs), 1),
        "pg_cpu_median_ms_by_step": {step: statistics.median(run["pg_cpu_ms"][step] for run in runs)
                                     for step in steps},
        "rerun_pg_cpu_median_ms": round(statistics.median(sum((run["rerun_pg_cpu_ms"] or {}).values())
                                                          for run in runs), 1),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description="Time the breach sweep (see the module docstring).")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    os.environ.update(portal_env())
    from bench.capture import portal_app
    from portal.extensions import db
    from portal.sla.sweep import channels_available, statements, sweep

    with connect() as conn:
        facts = meta(conn)
    t0 = datetime.fromisoformat(facts["t0"])
    app = portal_app()
    runs = []
    with app.app_context():
        steps = [name for name, _statement in statements("postgresql", t0, channels_available())]
        cpu = StatementCpu(db.engine)
        for _run in range(args.runs):
            restored = reset(facts)
            before = fingerprint(facts)
            cpu.take(steps)
            started = time.perf_counter()
            first = sweep(now=t0)
            first_seconds = time.perf_counter() - started
            first_cpu = cpu.take(steps)
            after_first = fingerprint(facts)
            started = time.perf_counter()
            again = sweep(now=t0)
            again_seconds = time.perf_counter() - started
            again_cpu = cpu.take(steps)
            after_again = fingerprint(facts)
            runs.append({
                "restored_orders": restored, "seconds": round(first_seconds, 4), "result": asdict(first),
                "pg_cpu_ms": first_cpu, "rerun_pg_cpu_ms": again_cpu,
                "rerun_seconds": round(again_seconds, 4), "rerun_result": asdict(again),
                "events_added": after_first["events"] - before["events"],
                "notifications_added": after_first["notifications"] - before["notifications"],
                "rerun_changed_nothing": after_again == after_first and again.breaches == 0
                and again.orders == 0 and again.notifications == 0,
            })
            print(f"sweep run {_run + 1}: {first_seconds:.3f} s, {first.breaches} clocks breached on "
                  f"{first.orders} orders, {first.notifications} notifications; re-run {again_seconds:.3f} s, "
                  f"unchanged: {runs[-1]['rerun_changed_nothing']}; PostgreSQL CPU ms {first_cpu}",
                  file=sys.stderr, flush=True)
        reset(facts)
    summary = {
        "runs": runs,
        "median_seconds": round(statistics.median(run["seconds"] for run in runs), 4),
        "max_seconds": max(run["seconds"] for run in runs),
        "rerun_median_seconds": round(statistics.median(run["rerun_seconds"] for run in runs), 4),
        "breaches": runs[0]["result"]["breaches"],
        "orders_breached": runs[0]["result"]["orders"],
        "expected_breaches": int(facts["sweep_backlog_clocks"]),
        "idempotent": all(run["rerun_changed_nothing"] for run in runs),
        "open_orders": int(facts["open"]),
        **cpu_medians(runs, steps),
    }
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
