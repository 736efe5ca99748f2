"""The portal's own CPU per API creation, in-process: POST /api/v1/work-orders through Flask's test client
against the bench database, as bench/run.py sends it (the bench clerk's token, one of its 500 bodies).

    .venv/bin/python -m bench.create_cpu                 # 600 creations after 50 to warm up
    .venv/bin/python -m bench.create_cpu --profile       # and where the CPU goes, by package

CPU time (``time.process_time``) counts this process only: no wrk, no gunicorn, no PostgreSQL. The profile
uses the CPU clock too, so the time spent waiting for the server does not show; it inflates Python-heavy
code, so read its shares, not its milliseconds. The orders created are deleted at the end.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import random
import time
from collections import Counter

from bench.common import connect, meta, portal_env
from bench.run import create_bodies


def package_of(filename: str) -> str:
    """A profile entry's package: the installed distribution, the portal's sub-package, or stdlib/builtin."""
    if "site-packages/" in filename:
        return filename.split("site-packages/")[1].split("/")[0]
    if "/portal/" in filename:
        return "portal/" + filename.split("/portal/")[1].split("/")[0]
    return "builtin" if filename.startswith(("~", "<")) else "stdlib"


def print_profile(profile: cProfile.Profile, count: int) -> None:
    """CPU by package (own time), then the 25 functions with the most time under them."""
    stats = pstats.Stats(profile)
    by_package = Counter()
    for (filename, _line, _name), (_cc, _nc, own, _cum, _callers) in stats.stats.items():
        by_package[package_of(filename)] += own
    total = sum(by_package.values())
    for package, own in by_package.most_common(15):
        print(f"{package:30s} {own / count * 1000:7.3f} ms {own / total:6.1%}")
    stats.sort_stats("cumulative").print_stats(25)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=600, help="creations measured (default 600)")
    parser.add_argument("--profile", action="store_true", help="profile on the CPU clock as well")
    args = parser.parse_args()
    os.environ.update(portal_env())
    from portal import create_app

    with connect() as conn:
        facts = meta(conn)
        bodies = [body.encode() for body in create_bodies(conn, 500, random.Random(7))]
    client = create_app().test_client()
    headers = {"Authorization": f"Bearer {facts['clerk_token']}", "Content-Type": "application/json"}

    def create(index: int) -> None:
        response = client.post("/api/v1/work-orders", data=bodies[index % len(bodies)], headers=headers)
        if response.status_code != 201:
            raise SystemExit(f"creation answered {response.status_code}: {response.get_data(as_text=True)}")

    try:
        for index in range(50):
            create(index)
        profile = cProfile.Profile(time.process_time) if args.profile else None
        started_cpu, started = time.process_time(), time.perf_counter()
        if profile:
            profile.enable()
        for index in range(args.count):
            create(index)
        if profile:
            profile.disable()
        cpu, wall = time.process_time() - started_cpu, time.perf_counter() - started
        print(f"{args.count} creations: {cpu / args.count * 1000:.3f} ms of CPU each, "
              f"{wall / args.count * 1000:.3f} ms wall")
        if profile:
            print_profile(profile, args.count)
    finally:
        with connect() as conn:
            conn.execute("DELETE FROM work_order WHERE id > %s", (int(facts["orders"]),))


if __name__ == "__main__":
    main()
