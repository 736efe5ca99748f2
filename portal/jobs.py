"""Background jobs: one interface, run in the web process by default or on Celery workers with Redis.

Named jobs are declared with ``@job("sla.sweep")`` and queued with ``enqueue("sla.sweep", *args)``; each
runs inside an app context with a clean database session, on whichever backend the settings choose:

- in-process (default): a small thread pool in the web process, or at once when ``PORTAL_JOBS_EAGER`` is
  set (tests, and CLI commands that must finish before they return). The web process also runs the
  periodic jobs (``PERIODIC``) every minute on a daemon thread its first request starts (``init_app``;
  not under TESTING), so no extra service is needed;
- Celery (``PORTAL_JOBS_BACKEND=celery``): messages go to Redis (``PORTAL_REDIS_URL``) and the workers
  of ``celery -A portal.celery_app worker`` run them; ``celery -A portal.celery_app beat`` queues the
  periodic jobs.

``submit(func, *args)`` still runs any function on the in-process pool (e.g. a device import).
Jobs must be idempotent: a message may be delivered twice.
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from flask import Flask, current_app

log = logging.getLogger(__name__)

JOB_MODULES = ("portal.sla.sweep", "portal.notify.services")
PERIODIC = {"sla.sweep": 60.0, "notify.dispatch": 60.0}
DEFAULTS = {
    "PORTAL_JOBS_BACKEND": "inprocess",
    "PORTAL_JOBS_EAGER": "",
    "PORTAL_JOBS_QUEUE": "portal",
    "PORTAL_REDIS_URL": "redis://127.0.0.1:6379/0",
}
BACKENDS = ("inprocess", "celery")

_jobs: dict[str, Callable] = {}
_executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="portal-job")


class UnknownJob(LookupError):
    """A job name nothing registered."""


def job(name: str) -> Callable:
    """Register the decorated function as the job ``name`` (e.g. ``@job("sla.sweep")``)."""

    def register(func: Callable) -> Callable:
        _jobs[name] = func
        return func

    return register


def registered() -> dict[str, Callable]:
    """Every named job, after importing the modules that declare them."""
    for module in JOB_MODULES:
        importlib.import_module(module)
    return dict(_jobs)


def lookup(name: str) -> Callable:
    """The function of a named job; UnknownJob when there is none."""
    try:
        return registered()[name]
    except KeyError:
        raise UnknownJob(name) from None


def setting(app: Flask, name: str):
    """A job setting from the app's config, else the environment, else its default."""
    if app.config.get(name) not in (None, ""):
        return app.config[name]
    return os.environ.get(name) or DEFAULTS[name]


def is_eager(app: Flask) -> bool:
    """Whether jobs run at once in the caller (PORTAL_JOBS_EAGER)."""
    value = setting(app, "PORTAL_JOBS_EAGER")
    return value is True or str(value).lower() in ("1", "true", "yes")


def backend(app: Flask) -> str:
    """The configured backend: ``inprocess`` or ``celery``."""
    name = str(setting(app, "PORTAL_JOBS_BACKEND")).lower()
    if name not in BACKENDS:
        raise ValueError(f"PORTAL_JOBS_BACKEND must be one of {', '.join(BACKENDS)}, not {name!r}")
    return name


def _run(app: Flask, func, args):
    """Run one job with an app context and a clean database session."""
    from portal.extensions import db

    with app.app_context():
        try:
            return func(*args)
        finally:
            db.session.remove()


def _done(func, args) -> Future:
    """Run ``func(*args)`` now; a finished Future with its result or its exception."""
    future: Future = Future()
    try:
        future.set_result(func(*args))
    except Exception as error:  # the job records its own failure; the Future carries it for callers
        future.set_exception(error)
    return future


def submit(func, *args) -> Future:
    """Queue ``func(*args)`` on the in-process pool; returns a Future (already done when eager)."""
    app = current_app._get_current_object()
    if is_eager(app):
        return _done(func, args)
    return _executor.submit(_run, app, func, args)


def enqueue(name: str, *args):
    """Queue the named job: a Future (in-process) or a Celery AsyncResult (celery backend)."""
    app = current_app._get_current_object()
    func = lookup(name)
    if is_eager(app):
        return _done(func, args)
    if backend(app) == "celery":
        return celery_for(app).send_task(name, args=list(args))
    return _executor.submit(_run, app, func, args)


def run(name: str, *args):
    """Run the named job now in the current app context (what a worker or the scheduler does)."""
    return lookup(name)(*args)


# --------------------------------------------------------------------------------------------------------
# The in-process scheduler: the periodic jobs in the web process when no Celery beat runs
# --------------------------------------------------------------------------------------------------------


class Scheduler:
    """A daemon thread running every periodic job once per ``interval`` seconds inside the app."""

    def __init__(self, app: Flask, interval: float = 60.0, names=tuple(PERIODIC)):
        self.app = app
        self.interval = interval
        self.names = tuple(names)
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.loop, name="portal-scheduler", daemon=True)

    def start(self) -> Scheduler:
        """Start the thread; returns self."""
        self.thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the thread to finish and wait for it."""
        self.stopped.set()
        self.thread.join(timeout)

    def loop(self) -> None:
        """Tick until stopped; the first tick comes one interval after the start."""
        while not self.stopped.wait(self.interval):
            self.tick()

    def tick(self) -> None:
        """Run each periodic job once; a failing job is logged and does not stop the others."""
        for name in self.names:
            try:
                _run(self.app, lookup(name), ())
            except Exception:  # keep the scheduler alive; the next tick tries again
                log.exception("periodic job %s failed", name)


_scheduler_lock = threading.Lock()
_scheduler: Scheduler | None = None


def wants_scheduler(app: Flask) -> bool:
    """The web process runs the periodic jobs unless switched off (PORTAL_SCHEDULER=0), testing, eager, or
    Celery beat does it."""
    return app.config.get("PORTAL_SCHEDULER", True) and not app.testing and not is_eager(app) \
        and backend(app) == "inprocess"


def start_scheduler(app: Flask) -> Scheduler | None:
    """Start the process's one scheduler (once per process; later calls return the same one)."""
    global _scheduler
    with _scheduler_lock:
        if _scheduler is None and wants_scheduler(app):
            _scheduler = Scheduler(app).start()
        return _scheduler


def init_app(app: Flask) -> None:
    """Check the backend setting and start the in-process scheduler with the first request served, so
    CLI commands (migrations, imports) never start it and each web worker process runs one."""
    backend(app)
    if not wants_scheduler(app):
        return

    @app.before_request
    def start_periodic_jobs() -> None:
        """Start this process's scheduler when it serves its first request."""
        if _scheduler is None:
            start_scheduler(app)


# --------------------------------------------------------------------------------------------------------
# The Celery backend
# --------------------------------------------------------------------------------------------------------


def celery_for(app: Flask):
    """The Celery app bound to this Flask app (created once): every named job as a task of the same
    name, run inside the app context, and the beat schedule of the periodic jobs."""
    if "portal_celery" not in app.extensions:
        app.extensions["portal_celery"] = _make_celery(app)
    return app.extensions["portal_celery"]


def _make_celery(app: Flask):
    """Build the Celery app for ``app`` (see celery_for)."""
    from celery import Celery, Task

    class AppTask(Task):
        """A task that runs inside the Flask app's context with a clean database session."""

        def __call__(self, *args, **kwargs):
            from portal.extensions import db

            with app.app_context():
                try:
                    return self.run(*args, **kwargs)
                finally:
                    db.session.remove()

    celery = Celery(app.import_name, task_cls=AppTask)
    celery.conf.update(celery_settings(app))
    for name, func in registered().items():
        celery.task(name=name)(func)
    return celery


def celery_settings(app: Flask) -> dict:
    """Celery's settings from the portal's: broker, queue, acknowledgement and the beat schedule."""
    queue = setting(app, "PORTAL_JOBS_QUEUE")
    return {
        "broker_url": setting(app, "PORTAL_REDIS_URL"),
        "broker_connection_retry_on_startup": True,
        "task_default_queue": queue,
        "task_ignore_result": True,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "enable_utc": True,
        "timezone": app.config.get("PORTAL_TIMEZONE", "UTC"),
        "beat_schedule": {
            name: {"task": name, "schedule": seconds, "options": {"queue": queue, "expires": seconds}}
            for name, seconds in PERIODIC.items()
        },
        "beat_schedule_filename": os.path.join(app.instance_path, "celerybeat-schedule"),
    }
