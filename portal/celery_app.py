"""The Celery app for production workers and the beat scheduler.

    celery -A portal.celery_app worker --loglevel=INFO
    celery -A portal.celery_app beat --loglevel=INFO

Built from the Flask app with the same PORTAL_* settings as the web process (which needs
``PORTAL_JOBS_BACKEND=celery`` to queue its jobs on Redis instead of running them itself), so every task
runs inside the app's context on the same database. The tasks are the named jobs of ``portal.jobs``
(``sla.sweep``, ``notify.dispatch``); beat queues the periodic ones every minute. Jobs a task queues go to
Redis as well.
"""

from __future__ import annotations

from celery.signals import worker_process_init

from portal import create_app
from portal.extensions import db
from portal.jobs import celery_for

flask_app = create_app({"PORTAL_JOBS_BACKEND": "celery"})
celery = celery_for(flask_app)


@worker_process_init.connect
def fresh_database_connections(**_signal) -> None:
    """A forked pool process opens its own database connections instead of sharing its parent's."""
    with flask_app.app_context():
        db.engine.dispose(close=False)
