"""The job interface on both backends: in the web process (thread pool, scheduler) and on a real Celery
worker against the local Redis (PORTAL_TEST_REDIS_URL; a missing Redis fails these tests)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from sqlalchemy import func, select

from portal import jobs
from portal.config import ROOT
from portal.extensions import db
from portal.sla.sweep import sweep
from portal.types import utcnow
from portal.workorders.models import Notification, WorkOrderEvent
from portal.workorders.services import NewOrder, create_order
from tests.test_notifications import BASE_URL, SmtpServer

REDIS_URL = os.environ.get("PORTAL_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
WAIT_SECONDS = 60


def log_overdue_order(app, world):
    """A police urgent order logged an hour ago: its response clock is overdue."""
    with app.test_request_context():
        order = create_order(NewOrder(organisation=world.police, summary="Kiosk offline", severity="urgent",
                                      device=world.police_device, reported_at=utcnow() - timedelta(hours=1)),
                             world.clerk)
        db.session.commit()
        return order


def wait_until(condition, what: str, timeout: float = WAIT_SECONDS):
    """Poll ``condition`` until it returns something truthy; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def breach_events() -> int:
    db.session.rollback()
    statement = select(func.count()).select_from(WorkOrderEvent).where(WorkOrderEvent.type == "breach")
    return db.session.scalar(statement)


# --------------------------------------------------------------------------------------------------------
# The named-job registry and the in-process backend
# --------------------------------------------------------------------------------------------------------


def test_the_named_jobs_are_registered():
    assert {"sla.sweep", "notify.dispatch"} <= set(jobs.registered())
    with pytest.raises(jobs.UnknownJob):
        jobs.lookup("no.such.job")


def test_an_unknown_backend_is_refused(app):
    app.config["PORTAL_JOBS_BACKEND"] = "carrier-pigeon"
    with pytest.raises(ValueError, match="PORTAL_JOBS_BACKEND"):
        jobs.backend(app)


def test_in_process_jobs_run_on_the_pool_inside_the_app(app, world):
    log_overdue_order(app, world)
    outcome = jobs.enqueue("sla.sweep").result(timeout=WAIT_SECONDS)
    assert outcome["breaches"] == 1
    assert breach_events() == 1
    assert jobs.submit(lambda number: number * 2, 21).result(timeout=WAIT_SECONDS) == 42


def test_the_scheduler_runs_the_periodic_jobs(app, world):
    log_overdue_order(app, world)
    scheduler = jobs.Scheduler(app, interval=0.2).start()
    try:
        wait_until(lambda: breach_events() == 1, "the scheduler's sweep")
    finally:
        scheduler.stop()
    assert not scheduler.thread.is_alive()


def starts_scheduler(app) -> bool:
    """Whether init_app made the app start the periodic jobs with its first request."""
    jobs.init_app(app)
    return any(func.__name__ == "start_periodic_jobs" for funcs in app.before_request_funcs.values()
               for func in funcs)


def test_the_web_process_starts_no_scheduler_while_testing_or_with_celery(app_factory):
    assert not starts_scheduler(app_factory())
    assert not starts_scheduler(app_factory(TESTING=False, PORTAL_JOBS_BACKEND="celery"))
    assert not starts_scheduler(app_factory(TESTING=False, PORTAL_JOBS_EAGER=True))
    assert starts_scheduler(app_factory(TESTING=False))


# --------------------------------------------------------------------------------------------------------
# A real Celery worker on Redis
# --------------------------------------------------------------------------------------------------------


@pytest.fixture
def redis_url():
    """The test Redis; unreachable is an error, never a skip."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=5)
    try:
        client.ping()
    except redis.ConnectionError as error:
        pytest.fail(f"Redis is required at {REDIS_URL} (set PORTAL_TEST_REDIS_URL): {error}")
    yield REDIS_URL
    client.close()


@pytest.fixture
def smtp():
    server = SmtpServer()
    server.controller.start()
    yield server
    server.controller.stop()


class Worker:
    """``celery -A portal.celery_app worker`` in a subprocess on its own queue, logging to a file."""

    def __init__(self, database_url: str, redis_url: str, smtp: SmtpServer, folder: Path):
        self.queue = f"portal-test-{uuid.uuid4().hex[:8]}"
        self.log = folder / "worker.log"
        self.env = {**os.environ, **smtp.settings(), "PORTAL_DATABASE_URL": database_url,
                    "PORTAL_REDIS_URL": redis_url, "PORTAL_JOBS_QUEUE": self.queue,
                    "PORTAL_JOBS_BACKEND": "celery", "PYTHONUNBUFFERED": "1"}
        self.process: subprocess.Popen | None = None

    def settings(self) -> dict:
        return {"PORTAL_JOBS_BACKEND": "celery", "PORTAL_REDIS_URL": self.env["PORTAL_REDIS_URL"],
                "PORTAL_JOBS_QUEUE": self.queue}

    def start(self) -> Worker:
        command = [sys.executable, "-m", "celery", "-A", "portal.celery_app", "worker", "--pool=solo",
                   "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel=INFO",
                   f"--logfile={self.log}", "-Q", self.queue, "-n", f"{self.queue}@%h"]
        self.process = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.STDOUT)
        wait_until(lambda: self.text().find("ready.") >= 0 or self.process.poll() is not None, "the worker")
        assert self.process.poll() is None, self.text()
        return self

    def text(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def succeeded(self, task_name: str, task_id: str = "") -> int:
        """How many times the worker logged the task (with that id, if given) as succeeded."""
        marker = f"Task {task_name}[{task_id}"
        return sum(1 for line in self.text().splitlines() if marker in line and "] succeeded" in line)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        client = redis.Redis.from_url(self.env["PORTAL_REDIS_URL"])
        client.delete(self.queue, *client.keys(f"*{self.queue}*"))
        client.close()


@pytest.fixture
def worker(app, database_url, redis_url, smtp, tmp_path):
    """A running worker on this test's database, sending mail to the local SMTP server."""
    running = Worker(database_url, redis_url, smtp, tmp_path).start()
    app.config.update(running.settings(), **smtp.settings())
    yield running
    running.stop()


def test_a_real_worker_sweeps_breaches_and_mails_once(app, world, worker, smtp):
    world.requester.email = "requester@example.org"
    db.session.commit()
    order = log_overdue_order(app, world)
    jobs.enqueue("sla.sweep")
    [message] = smtp.handler.wait_for(1, timeout=WAIT_SECONDS)
    assert order.number in message["Subject"] and f"{BASE_URL}/" in message.get_content()
    assert breach_events() == 1
    wait_until(lambda: worker.succeeded("notify.dispatch") >= 1, "the dispatch the sweep queued")
    assert worker.succeeded("sla.sweep") == 1

    jobs.enqueue("sla.sweep")
    wait_until(lambda: worker.succeeded("sla.sweep") == 2, "the second sweep")
    assert breach_events() == 1
    time.sleep(0.5)
    assert len(smtp.messages) == 1


def test_a_job_delivered_twice_sends_one_email(app, world, worker, smtp):
    world.requester.email = "requester@example.org"
    db.session.commit()
    log_overdue_order(app, world)
    assert sweep().breach_notifications == 1
    celery = jobs.celery_for(app)
    task_id = str(uuid.uuid4())
    for _ in range(2):
        celery.send_task("notify.dispatch", task_id=task_id)
    wait_until(lambda: worker.succeeded("notify.dispatch", task_id) == 2, "both deliveries of the dispatch")
    assert len(smtp.handler.wait_for(1)) == 1
    time.sleep(0.5)
    assert len(smtp.messages) == 1
    db.session.rollback()
    [row] = db.session.scalars(select(Notification))
    assert (row.status, row.attempts) == ("sent", 1)
