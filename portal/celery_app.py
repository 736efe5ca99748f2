"""The Celery app for production workers and the beat scheduler.

    PORTAL_JOBS_BACKEND=celery PORTAL_REDIS_URL=redis://127.0.0.1:6379/0 celery -A portal.celery_app worker
    PORTAL_REDIS_URL=redis://127.0.0.1:6379/0 celery -A portal.celery_app beat

Built from the Flask app with the same PORTAL_* settings as the web process, so every task runs inside
the app's context on the same database. The tasks are the named jobs of ``portal.jobs`` (``sla.sweep``,
``notify.dispatch``); beat queues the periodic ones every minute.
"""

from __future__ import annotations

from celery.signals import worker_process_init

from portal import create_app
from portal.extensions import db
from portal.jobs import celery_for

flask_app = create_app()
celery = celery_for(flask_app)


@worker_process_init.connect
def fresh_database_connections(**_signal) -> None:
    """A forked pool process opens its own database connections instead of sharing its parent's."""
    with flask_app.app_context():
        db.engine.dispose(close=False)
