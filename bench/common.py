"""What the benchmark scripts share: where the bench database is, how to reach it, the bench users."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
RESULTS = BENCH_DIR / "results"
VENV_BIN = Path(sys.executable).parent

DB_NAME = os.environ.get("BENCH_DB_NAME", "portal_bench")
SERVER_URL = os.environ.get("BENCH_SERVER_URL", "postgresql://postgres@127.0.0.1:5432")
SQLALCHEMY_URL = SERVER_URL.replace("postgresql://", "postgresql+psycopg://", 1) + f"/{DB_NAME}"
LIBPQ_URL = f"{SERVER_URL}/{DB_NAME}"

PASSWORD = "bench-password"
CLERK = "bench_clerk"
ADMIN = "bench_admin"
SECRET_KEY = "bench-secret-key-not-for-production"


def portal_env(**extra: str) -> dict[str, str]:
    """The environment the portal runs with against the bench database."""
    env = dict(os.environ)
    env.update(
        PORTAL_DATABASE_URL=SQLALCHEMY_URL,
        PORTAL_SECRET_KEY=SECRET_KEY,
        PORTAL_INSTANCE_PATH=str(RESULTS / "instance"),
        # The data is anchored at build time (T0); the web process's periodic sweep would run at the real
        # time instead, breach everything since T0 and send mail while pages are measured. The sweep is
        # timed on its own (bench/sweep_bench.py).
        PORTAL_SCHEDULER="0",
    )
    env.update(extra)
    return env


def portal(*args: str, **extra_env: str) -> str:
    """Run the ``portal`` command against the bench database; its standard output."""
    result = subprocess.run([str(VENV_BIN / "portal"), *args], env=portal_env(**extra_env), cwd=ROOT,
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"portal {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def connect(autocommit: bool = False, url: str = LIBPQ_URL) -> psycopg.Connection:
    """A plain libpq connection (no ORM) to the bench database."""
    return psycopg.connect(url, autocommit=autocommit)


def meta(connection: psycopg.Connection) -> dict[str, str]:
    """The facts build_db.py recorded: reference time, tokens, counts."""
    return dict(connection.execute("SELECT key, value FROM bench.meta").fetchall())
