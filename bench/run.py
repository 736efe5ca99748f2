"""Run the benchmark against the database bench/build_db.py built; write bench/results/<timestamp>.json and
bench/RESULTS.md and print the Markdown table.

    .venv/bin/python bench/run.py                  # about 10 minutes on 2 cores
    .venv/bin/python bench/run.py --duration 5     # a quick look

1. Capture the portal's SQL for the floor (bench/capture.py).
2. Serve the portal (``portal.wsgi:app``) and the floor (``bench.floor:app``) with gunicorn, same workers and
   threads, on loopback; sign in as the bench clerk (POST /login with the form's CSRF token).
3. Walk the keyset cursor to page 10,000 of the clerk's closed orders (and to the middle of the open
   queue) with the queue's own statements, and check the portal serves the same rows as the floor there.
4. Drive each scenario with wrk (20 connections, 2 threads, a warm-up, then a fixed duration): queue page 1,
   page 10,000 deep, the order page, order creation (POST /api/v1/work-orders); the portal and the floor
   measured in slices taken in turn (portal, floor, floor, portal), so that the machine's drift in speed
   weighs on both alike.
5. Stop the servers, delete the orders the run created, time the breach sweep (bench/sweep_bench.py).
"""

from __future__ import annotations

import argparse
import html
import http.cookiejar
import json
import os
import platform
import random
import re
import signal
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import psycopg

try:
    from bench.common import CLERK, PASSWORD, RESULTS, ROOT, VENV_BIN, connect, meta, portal_env
except ModuleNotFoundError:  # run as a script: put the project root on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from bench.common import CLERK, PASSWORD, RESULTS, ROOT, VENV_BIN, connect, meta, portal_env

BENCH = Path(__file__).resolve().parent
WRK_SCRIPT = BENCH / "wrk" / "bench.lua"
FLOOR_SQL = RESULTS / "floor_sql.json"
PORTAL_PORT, FLOOR_PORT = 8391, 8392
DEEP_PAGE = 10_000
CLERK_ORGS_SQL = ("SELECT organisation_id FROM contract "
                  "WHERE provider_id = (SELECT provider_id FROM user_account WHERE username = %s)")
ROW_ID = re.compile(r'<tr id="wo-(\d+)"')
NEXT_LINK = re.compile(r'id="next-page" href="\?([^"]*)"')
TARGETS = {
    "queue_p95_ms": 50, "queue_vs_floor": 1.5, "deep_vs_page1": 1.5,
    "create_rate": 300, "create_p95_ms": 100, "create_vs_floor_rate": 0.5, "sweep_seconds": 1.0,
}


# ------------------------------------------------------------------------------------------------ servers


class Server:
    """A gunicorn serving an app on loopback; stopped (by its own pid) when done."""

    def __init__(self, name: str, app: str, port: int, workers: int, threads: int, env: dict,
                 connections: int = 20):
        self.name, self.port = name, port
        self.log = open(RESULTS / f"{name}-server.log", "w")  # noqa: SIM115  (closed in stop())
        # wrk opens its keep-alive connections at once and keeps them; a gthread worker accepts as many as
        # are waiting, so one worker could hold all of them and the run would measure one worker. Capping
        # each worker at its share of the connections spreads them.
        share = -(-connections // workers)
        command = [str(VENV_BIN / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
                   "--threads", str(threads), "--worker-connections", str(share),
                   "--access-logfile", str(RESULTS / f"{name}-access.log"), app]
        self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def wait(self, path: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"{self.name} exited; see {self.log.name}")
            try:
                urllib.request.urlopen(self.url(path), timeout=5).read()
                return
            except urllib.error.HTTPError:
                return
            except OSError:
                time.sleep(0.5)
        raise SystemExit(f"{self.name} did not answer within {timeout} s")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


def sign_in(portal: Server) -> str:
    """Sign in as the bench clerk through the login form; the session cookie as a Cookie header value."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    form = opener.open(portal.url("/login")).read().decode()
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', form) or \
        re.search(r'value="([^"]+)"[^>]*name="csrf_token"', form)
    data = urllib.parse.urlencode({"csrf_token": html.unescape(token.group(1)), "username": CLERK,
                                   "password": PASSWORD}).encode()
    opener.open(portal.url("/login"), data=data).read()
    cookie = "; ".join(f"{c.name}={c.value}" for c in jar)
    status, _body = get(portal.url("/orders/"), cookie)
    if status != 200:
        raise SystemExit(f"signing in as {CLERK} failed: /orders/ answered {status}")
    return cookie


def get(url: str, cookie: str = "") -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


# ------------------------------------------------------------------------------------------------ inputs


def cursor_text(names: list[str], row: tuple) -> str:
    """The portal's cursor (``<due>|<id>``) of a queue row."""
    values = {}
    for name, value in zip(names, row, strict=True):
        values.setdefault(name, value)
    due = values["next_due"]
    text = due.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ") if due else "-"
    return f"{text}|{values['id']}"


def walk(floor, variants: dict, pages: int) -> tuple[str, float]:
    """The ``after=`` value of page ``pages`` (walking the keyset pages with the queue's statements)."""
    started = time.perf_counter()
    after = None
    for _page in range(pages - 1):
        names, rows = floor.page_rows(variants, after)
        if len(rows) <= floor.PAGE_SIZE:
            raise SystemExit(f"the listing has fewer than {pages} pages")
        after = floor.parse_cursor(cursor_text(names, rows[floor.PAGE_SIZE - 1]))
    names, rows = floor.page_rows(variants, after)
    due, order_id = after
    text = (due.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ") if due else "-") + f"|{order_id}"
    return text, time.perf_counter() - started


def queue_path(status: str = "", after: str | None = None) -> str:
    query = {key: value for key, value in (("status", status), ("after", after)) if value}
    return "/orders/" + ("?" + urllib.parse.urlencode(query) if query else "")


def same_rows(portal: Server, floor_server: Server, cookie: str, path: str) -> int:
    """Check the portal and the floor list the same orders on a queue page; how many."""
    status_p, body_p = get(portal.url(path), cookie)
    status_f, body_f = get(floor_server.url(path))
    portal_ids, floor_ids = ROW_ID.findall(body_p), ROW_ID.findall(body_f)
    if status_p != 200 or status_f != 200 or portal_ids != floor_ids or not portal_ids:
        raise SystemExit(f"{path}: portal {status_p} {portal_ids[:3]}… != floor {status_f} {floor_ids[:3]}…")
    return len(portal_ids)


def next_after(portal: Server, cookie: str, path: str) -> str | None:
    """The ``after`` value of the portal's next-page link on a page."""
    _status, body = get(portal.url(path), cookie)
    link = NEXT_LINK.search(body)
    return urllib.parse.parse_qs(html.unescape(link.group(1))).get("after", [None])[0] if link else None


def write_lines(name: str, lines: list[str]) -> Path:
    path = RESULTS / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def order_paths(conn, count: int, rng: random.Random) -> list[str]:
    """Paths of open orders the clerk may see (each has a timeline)."""
    ids = [row[0] for row in conn.execute(
        f"SELECT id FROM work_order WHERE organisation_id IN ({CLERK_ORGS_SQL}) AND status IN "
        "('accepted', 'responded', 'on_site', 'paused') ORDER BY id", (CLERK,)).fetchall()]
    return [f"/orders/WO{order_id:08d}" for order_id in rng.sample(ids, min(count, len(ids)))]


def create_bodies(conn, count: int, rng: random.Random) -> list[str]:
    """Bodies of POST /api/v1/work-orders for devices of the clerk's organisations."""
    devices = conn.execute(
        f"SELECT o.code, o.standard, d.code FROM device d JOIN organisation o ON o.id = d.organisation_id "
        f"WHERE o.id IN ({CLERK_ORGS_SQL})", (CLERK,)).fetchall()
    bodies = []
    for org, standard, device in rng.sample(devices, count):
        severity = rng.choice(("urgent", "medium", "minor") if standard == "police_kiosk"
                              else ("general", "larger", "major"))
        bodies.append(json.dumps({"org": org, "device": device, "summary": "屏幕无显示，无法办理业务",
                                  "severity": severity}, ensure_ascii=False))
    return bodies


# ------------------------------------------------------------------------------------------------ load


def wrk(url: str, seconds: int, connections: int, threads: int, headers: dict, env: dict) -> dict:
    """One wrk run; its JSON summary."""
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "30s",
               "-s", str(WRK_SCRIPT)]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    result = subprocess.run([*command, url], env={**os.environ, **env}, capture_output=True, text=True, check=False)
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode != 0 or not lines:
        raise SystemExit(f"wrk failed: {result.stdout}\n{result.stderr}")
    return json.loads(lines[-1])


def scenario(name: str, servers: tuple[Server, Server], path: str, args, headers=None, env=None,
             clients: int | None = None) -> list[dict]:
    """Measure the portal and the floor on one request: each warmed up, then measured in ``args.rounds``
    slices taken in turn, portal, floor, floor, portal, … (the machine is shared and its speed drifts: a
    ratio of two runs taken one after the other measures the drift too). Each server's figures: requests/s
    over all its slices, the median of its slices' median and p95 latencies (ms), errors. ``clients``
    connections (20 by default), each sending its next request as soon as the previous answer arrives."""
    headers, env = headers or {}, env or {}
    clients = clients or args.connections
    threads = min(args.threads, clients)
    seconds = args.duration if clients == args.connections else args.single_duration
    rounds = max(1, args.rounds)
    slice_seconds = max(1, round(seconds / rounds))
    for server in servers:
        wrk(server.url(path), args.warmup, clients, threads, headers, env)
    slices: dict[str, list[dict]] = {server.name: [] for server in servers}
    for index in range(rounds):
        for server in (servers if index % 2 == 0 else servers[::-1]):
            slices[server.name].append(wrk(server.url(path), slice_seconds, clients, threads, headers, env))
    results = []
    for server in servers:
        runs = slices[server.name]
        requests = sum(run["requests"] for run in runs)
        duration = sum(run["duration_us"] for run in runs) / 1e6
        errors = sum(sum(run["errors"].values()) + run["unexpected"] for run in runs)
        result = {
            "scenario": name, "server": server.name, "path": path, "clients": clients, "requests": requests,
            "rate": round(requests / duration, 1),
            "p50_ms": round(statistics.median(run["latency_us"]["p50"] for run in runs) / 1000, 2),
            "p95_ms": round(statistics.median(run["latency_us"]["p95"] for run in runs) / 1000, 2),
            "p99_ms": round(statistics.median(run["latency_us"]["p99"] for run in runs) / 1000, 2),
            "max_ms": round(max(run["latency_us"]["max"] for run in runs) / 1000, 1),
            "errors": errors, "last_unexpected_status": next(
                (run["last_unexpected"] for run in reversed(runs) if run["last_unexpected"]), None),
            "slices": [{"rate": round(run["requests"] / (run["duration_us"] / 1e6), 1),
                        "p50_ms": round(run["latency_us"]["p50"] / 1000, 2),
                        "p95_ms": round(run["latency_us"]["p95"] / 1000, 2)} for run in runs],
        }
        rates = ", ".join(f"{piece['rate']:.0f}/s" for piece in result["slices"])
        print(f"  {name:<22} {server.name:<6} {clients:>2} clients {result['rate']:>8.1f}/s  "
              f"p50 {result['p50_ms']:>7.2f} ms  p95 {result['p95_ms']:>7.2f} ms  errors {errors}  (slices: {rates})",
              flush=True)
        results.append(result)
    return results


# ------------------------------------------------------------------------------------------------ report


def machine(conn) -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem_kb = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                      if line.startswith("MemTotal")))
    settings = {name: conn.execute("SELECT current_setting(%s)", (name,)).fetchone()[0]
                for name in ("shared_buffers", "synchronous_commit", "fsync", "jit", "work_mem", "max_connections")}
    return {
        "nproc": os.cpu_count(), "cpu": cpu, "ram_gib": round(mem_kb / 1024 / 1024, 1),
        "postgresql": conn.execute("SHOW server_version").fetchone()[0], "postgresql_settings": settings,
        "python": platform.python_version(),
        "wrk": subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout.split(" [")[0].strip(),
        "load_average_start": os.getloadavg(),
    }


def ratio(value: float, floor: float) -> float | None:
    return round(value / floor, 2) if floor else None


def verdicts(results: dict) -> list[tuple[str, str, bool]]:
    """Each target, the figure and whether it is met."""
    by = {(r["scenario"], r["server"]): r for r in results["scenarios"]}
    checks = []
    page1, floor1 = by[("queue page 1", "portal")], by[("queue page 1", "floor")]
    checks.append(("queue page 1 p95 ≤ 50 ms", f"{page1['p95_ms']} ms",
                   page1["p95_ms"] <= TARGETS["queue_p95_ms"]))
    r = ratio(page1["p95_ms"], floor1["p95_ms"])
    checks.append(("queue page 1 p95 ≤ 1.5× floor", f"{r}×", r is not None and r <= TARGETS["queue_vs_floor"]))
    deep, deep1 = by[(f"queue page {DEEP_PAGE:,}", "portal")], by[("queue page 1 (closed)", "portal")]
    checks.append((f"page {DEEP_PAGE:,} p95 ≤ 50 ms", f"{deep['p95_ms']} ms",
                   deep["p95_ms"] <= TARGETS["queue_p95_ms"]))
    r = ratio(deep["p95_ms"], deep1["p95_ms"])
    checks.append((f"page {DEEP_PAGE:,} p95 ≤ 1.5× page 1 of the same listing", f"{r}×",
                   r is not None and r <= TARGETS["deep_vs_page1"]))
    r = ratio(deep["p95_ms"], page1["p95_ms"])
    checks.append((f"page {DEEP_PAGE:,} p95 ≤ 1.5× default queue page 1", f"{r}×",
                   r is not None and r <= TARGETS["deep_vs_page1"]))
    create, create_floor = by[("order creation", "portal")], by[("order creation", "floor")]
    checks.append(("order creation ≥ 300/s", f"{create['rate']}/s", create["rate"] >= TARGETS["create_rate"]))
    checks.append(("order creation p95 ≤ 100 ms", f"{create['p95_ms']} ms",
                   create["p95_ms"] <= TARGETS["create_p95_ms"]))
    r = ratio(create["rate"], create_floor["rate"])
    checks.append(("order creation rate ≥ 0.5× floor", f"{r}×",
                   r is not None and r >= TARGETS["create_vs_floor_rate"]))
    sweep = results.get("sweep")
    if sweep:
        checks.append(("sweep over 100,000 open orders ≤ 1 s (median)", f"{sweep['median_seconds']} s",
                       sweep["median_seconds"] <= TARGETS["sweep_seconds"]))
        checks.append(("sweep re-run changes nothing", "yes" if sweep["idempotent"] else "NO", sweep["idempotent"]))
    return checks


def load_table(rows: list[dict]) -> list[str]:
    by = {(r["scenario"], r["server"]): r for r in rows}
    names = list(dict.fromkeys(r["scenario"] for r in rows))
    lines = ["| scenario | portal req/s | portal p50 ms | portal p95 ms | floor req/s | floor p50 ms | floor p95 ms "
             "| p50 × floor | p95 × floor | rate × floor |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name in names:
        p, f = by.get((name, "portal")), by.get((name, "floor"))
        if p is None or f is None:
            continue
        lines.append(f"| {name} | {p['rate']} | {p['p50_ms']} | {p['p95_ms']} | {f['rate']} | {f['p50_ms']} | "
                     f"{f['p95_ms']} | {ratio(p['p50_ms'], f['p50_ms'])} | {ratio(p['p95_ms'], f['p95_ms'])} | "
                     f"{ratio(p['rate'], f['rate'])} |")
    return lines


def markdown(results: dict) -> str:
    clients = results["settings"]["connections"]
    lines = [f"{clients} concurrent clients (each sends its next request when the previous answer arrives):", ""]
    lines += load_table(results["scenarios"])
    if results.get("single"):
        lines += ["", "One client (no queueing: the time one request takes):", ""]
        lines += load_table(results["single"])
    sweep = results.get("sweep")
    if sweep:
        runs = ", ".join(f"{run['seconds']:.3f}" for run in sweep["runs"])
        lines += ["", f"Sweep over {sweep['open_orders']:,} open orders: median **{sweep['median_seconds']} s** "
                      f"(runs: {runs} s); {sweep['breaches']:,} clocks newly breached on "
                      f"{sweep['orders_breached']:,} orders (expected {sweep['expected_breaches']:,}), "
                      f"{sweep['runs'][0]['result']['breach_notifications']:,} breach and "
                      f"{sweep['runs'][0]['result']['warning_notifications']:,} warning notifications queued; "
                      f"re-run median {sweep['rerun_median_seconds']} s, changes nothing: "
                      f"{'yes' if sweep['idempotent'] else 'NO'}."]
    lines += ["", "| target | figure | met |", "|---|---|---|"]
    lines += [f"| {target} | {figure} | {'yes' if met else '**no**'} |" for target, figure, met in verdicts(results)]
    return "\n".join(lines)


def write_summary(results: dict, table: str) -> None:
    m = results["machine"]
    text = [
        "# Benchmark results", "",
        f"Run {results['started']} with `{results['command']}` "
        f"({results['settings']['duration']} s per scenario and app, in {results['settings']['rounds']} slices "
        f"taken in turn with the other app's, after a {results['settings']['warmup']} s warm-up; "
        f"{results['settings']['connections']} connections, gunicorn {results['settings']['workers']} workers × "
        f"{results['settings']['worker_threads']} threads for both apps).", "",
        f"Machine: {m['nproc']} cores ({m['cpu']}), {m['ram_gib']} GiB RAM, PostgreSQL {m['postgresql']} "
        f"(shared_buffers {m['postgresql_settings'].get('shared_buffers')}, "
        f"synchronous_commit {m['postgresql_settings'].get('synchronous_commit')}), Python {m['python']}, "
        f"{m['wrk']}. Load average at start {', '.join(f'{x:.2f}' for x in m['load_average_start'])}, "
        f"at end {', '.join(f'{x:.2f}' for x in results['load_average_end'])} (the machine is shared).", "",
        f"Data: {results['data']['orders']:,} work orders ({results['data']['open']:,} open), built in "
        f"{results['data']['build_seconds']} s. The deep page is page {DEEP_PAGE:,} of the clerk's closed "
        f"orders (`?status=closed`); the cursor walk took {results['walk_seconds']} s.", "",
        table, "",
    ]
    (BENCH / "RESULTS.md").write_text("\n".join(text), encoding="utf-8")


# ------------------------------------------------------------------------------------------------ main


def database_ready() -> bool:
    """Whether build_db.py has built the bench database (it records its facts last)."""
    try:
        with connect() as conn:
            return "build_seconds" in meta(conn)
    except psycopg.Error:  # no database, or no bench schema in it
        return False


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description="Benchmark the portal against its floor (see the docstring).")
    parser.add_argument("--duration", type=int, default=20, help="seconds measured per scenario")
    parser.add_argument("--warmup", type=int, default=5, help="seconds of load before each measurement")
    parser.add_argument("--connections", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers of each app")
    parser.add_argument("--worker-threads", type=int, default=4, help="gunicorn threads per worker")
    parser.add_argument("--rounds", type=int, default=4,
                        help="slices per scenario and app, taken in turn with the other app's (default 4)")
    parser.add_argument("--single-duration", type=int, default=10,
                        help="seconds per scenario with one client (0: skip)")
    parser.add_argument("--sweep-runs", type=int, default=5)
    parser.add_argument("--no-summary", action="store_true", help="do not rewrite bench/RESULTS.md")
    parser.add_argument("--build-if-missing", action="store_true",
                        help="run bench/build_db.py first when the bench database is missing")
    args = parser.parse_args(argv)
    RESULTS.mkdir(exist_ok=True)
    if args.build_if_missing and not database_ready():
        subprocess.run([sys.executable, str(BENCH / "build_db.py")], cwd=ROOT, check=True)
    started = datetime.now(UTC)
    rng = random.Random(7)
    with connect() as conn:
        facts = meta(conn)
        info = machine(conn)
        conn.execute("DELETE FROM work_order WHERE id > %s", (int(facts["orders"]),))
        conn.commit()
        paths = write_lines("order_paths.txt", order_paths(conn, 2000, rng))
        bodies = write_lines("create_bodies.txt", create_bodies(conn, 500, rng))
    print(f"capturing the portal's SQL into {FLOOR_SQL.relative_to(ROOT)}", flush=True)
    subprocess.run([sys.executable, "-m", "bench.capture", str(FLOOR_SQL)], cwd=ROOT, env=portal_env(), check=True)
    os.environ["BENCH_FLOOR_SQL"] = str(FLOOR_SQL)
    from bench import floor

    env = portal_env(BENCH_FLOOR_SQL=str(FLOOR_SQL))
    portal_app = os.environ.get("BENCH_PORTAL_APP", "portal.wsgi:app")
    portal = Server("portal", portal_app, PORTAL_PORT, args.workers, args.worker_threads, env,
                    args.connections)
    floor_server = Server("floor", "bench.floor:app", FLOOR_PORT, args.workers, args.worker_threads, env,
                          args.connections)
    command = " ".join(["bench/run.py", *(argv or sys.argv[1:])])
    results: dict = {"started": started.isoformat(), "command": command,
                     "settings": {"duration": args.duration, "rounds": args.rounds, "warmup": args.warmup,
                                  "connections": args.connections,
                                  "wrk_threads": args.threads, "workers": args.workers,
                                  "worker_threads": args.worker_threads},
                     "machine": info,
                     "data": {"orders": int(facts["orders"]), "open": int(facts["open"]),
                              "build_seconds": float(facts["build_seconds"]), "t0": facts["t0"]},
                     "scenarios": [], "single": []}
    try:
        portal.wait("/login")
        floor_server.wait("/orders/")
        cookie = sign_in(portal)
        print(f"walking the keyset cursor to page {DEEP_PAGE:,} of the clerk's closed orders", flush=True)
        deep_after, walk_seconds = walk(floor, floor.SPEC["queue"]["closed"], DEEP_PAGE)
        results["walk_seconds"] = round(walk_seconds, 1)
        deep_path = queue_path("closed", deep_after)
        page2 = next_after(portal, cookie, queue_path("closed"))
        walked2, _seconds = walk(floor, floor.SPEC["queue"]["closed"], 2)
        if page2 != walked2:
            raise SystemExit(f"the walk's page-2 cursor {walked2} differs from the portal's next link {page2}")
        results["checked_rows"] = {path: same_rows(portal, floor_server, cookie, path)
                                   for path in (queue_path(), queue_path("closed"), deep_path)}
        headers_page = {"Cookie": cookie}
        headers_api = {"Authorization": f"Bearer {facts['clerk_token']}"}
        plan = [
            ("queue page 1", queue_path(), headers_page, {}),
            ("queue page 1 (closed)", queue_path("closed"), headers_page, {}),
            (f"queue page {DEEP_PAGE:,}", deep_path, headers_page, {}),
            ("order page", "/orders/", headers_page, {"BENCH_PATHS": str(paths)}),
            ("order creation", "/api/v1/work-orders", headers_api,
             {"BENCH_BODIES": str(bodies), "BENCH_EXPECT": "201"}),
        ]
        print(f"load: wrk -t{args.threads} -c{args.connections}, {args.warmup} s warm-up + {args.duration} s "
              f"per scenario and app, in {args.rounds} slices taken in turn", flush=True)
        servers = (portal, floor_server)
        for name, path, headers, env_extra in plan:
            results["scenarios"] += scenario(name, servers, path, args, headers, env_extra)
        if args.single_duration:
            print(f"one client at a time (the time a request takes without queueing), {args.single_duration} s each",
                  flush=True)
            for name, path, headers, env_extra in plan:
                results["single"] += scenario(name, servers, path, args, headers, env_extra, clients=1)
    finally:
        portal.stop()
        floor_server.stop()
    with connect() as conn:
        created = conn.execute("DELETE FROM work_order WHERE id > %s", (int(facts["orders"]),)).rowcount
    results["orders_created_and_removed"] = created
    print("timing the breach sweep", flush=True)
    sweep = subprocess.run([sys.executable, "-m", "bench.sweep_bench", "--runs", str(args.sweep_runs)], cwd=ROOT,
                           env=portal_env(), capture_output=True, text=True, check=False)
    sys.stderr.write(sweep.stderr)
    if sweep.returncode != 0:
        raise SystemExit("the sweep benchmark failed")
    results["sweep"] = json.loads(sweep.stdout.strip().splitlines()[-1])
    results["load_average_end"] = os.getloadavg()
    results["verdicts"] = [{"target": t, "figure": f, "met": m} for t, f, m in verdicts(results)]
    out = RESULTS / f"{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    out.write_text(json.dumps(results, indent=1, ensure_ascii=False), encoding="utf-8")
    table = markdown(results)
    if not args.no_summary:
        write_summary(results, table)
    print(f"\nresults: {out.relative_to(ROOT)}\n\n{table}")
    return results


if __name__ == "__main__":
    main()
