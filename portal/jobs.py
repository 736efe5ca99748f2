"""Background jobs, in the web process by default (no extra service to run).

``submit(func, *args)`` runs ``func(*args)`` inside an app context on a small thread pool, or at once when
``PORTAL_JOBS_EAGER`` is set (tests, and CLI commands that must finish before they return).
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

from flask import Flask, current_app

_executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="portal-job")


def _run(app: Flask, func, args):
    """Run one job with an app context and a clean database session."""
    from portal.extensions import db

    with app.app_context():
        try:
            return func(*args)
        finally:
            db.session.remove()


def submit(func, *args) -> Future:
    """Queue ``func(*args)``; returns a Future (already done when jobs run eagerly)."""
    app = current_app._get_current_object()
    if app.config.get("PORTAL_JOBS_EAGER"):
        future: Future = Future()
        try:
            future.set_result(func(*args))
        except Exception as error:  # the job records its own failure; the Future carries it for callers
            future.set_exception(error)
        return future
    return _executor.submit(_run, app, func, args)
