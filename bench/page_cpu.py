"""The portal's own CPU per page, in-process: GET a desk page through Flask's test client against the bench
database, signed in as the bench clerk, as bench/run.py asks for it under wrk.

    .venv/bin/python -m bench.page_cpu                       # the queue page, /orders/
    .venv/bin/python -m bench.page_cpu --path '/orders/?status=closed'
    .venv/bin/python -m bench.page_cpu --order               # order pages, one of 2,000 open orders at random
    .venv/bin/python -m bench.page_cpu --profile             # and where the CPU goes, by package
    .venv/bin/python -m bench.page_cpu --floor               # the floor's page instead (bench/floor.py)

The figure is the smallest mean CPU time (``time.process_time``) of a request over ``--batches`` batches of
``--size`` requests: the machine is shared, and the smallest batch is the one the least disturbed. CPU time
counts this process only (no PostgreSQL); the profile inflates Python-heavy code, so read its shares.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import random
import re
import time

from bench.common import connect, portal_env
from bench.create_cpu import print_profile
from bench.run import order_paths

CLERK, PASSWORD = "bench_clerk", "bench-password"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--path", default="/orders/", help="the page (default /orders/)")
    parser.add_argument("--order", action="store_true", help="order pages of open orders instead of --path")
    parser.add_argument("--batches", type=int, default=25)
    parser.add_argument("--size", type=int, default=20)
    parser.add_argument("--floor", action="store_true", help="the floor app (needs bench/results/floor_sql.json"
                        " from `python -m bench.capture bench/results/floor_sql.json`)")
    parser.add_argument("--profile", action="store_true", help="profile 200 requests on the CPU clock")
    args = parser.parse_args()
    os.environ.update(portal_env())
    from portal import create_app

    with connect() as conn:
        paths = order_paths(conn, 2000, random.Random(7)) if args.order else [args.path]
    if args.floor:
        from bench.floor import app as floor

        client = floor.test_client()
    else:
        client = create_app().test_client()
        form = client.get("/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', form).group(1)
        client.post("/login", data={"csrf_token": token, "username": CLERK, "password": PASSWORD})

    def get(index: int) -> None:
        response = client.get(paths[index % len(paths)])
        if response.status_code != 200:
            raise SystemExit(f"{paths[index % len(paths)]} answered {response.status_code}")

    for index in range(50):
        get(index)
    best = float("inf")
    for batch in range(args.batches):
        started = time.process_time()
        for index in range(args.size):
            get(batch * args.size + index)
        best = min(best, (time.process_time() - started) / args.size)
    print(f"{paths[0] if not args.order else '/orders/<number>'}: {best * 1000:.2f} ms of CPU a request "
          f"(best of {args.batches} batches of {args.size})")
    if args.profile:
        profile = cProfile.Profile(time.process_time)
        profile.enable()
        for index in range(200):
            get(index)
        profile.disable()
        print_profile(profile, 200)


if __name__ == "__main__":
    main()
