"""Read-only views (``portal.database.reads_only``): their statements run in autocommit, so a page sends no
BEGIN and no ROLLBACK; a flush in such a request is refused and changes nothing; a session that has already
begun runs the view as usual."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from portal.database import ReadOnlyRequest, reads_only
from portal.extensions import db
from portal.orgs.models import Organisation
from portal.workorders.models import WorkOrder
from portal.workorders.services import NewOrder, create_order
from tests import factories


@pytest.fixture
def portal(app_factory, world):
    """The portal with three probes, each request in its own app context as a browser meets it."""
    app = app_factory()
    police_id = world.police.id

    @app.route("/_probe/level")
    @reads_only
    def level():
        return db.session.connection().get_execution_options().get("isolation_level", "default")

    @app.route("/_probe/write")
    @reads_only
    def write():
        db.session.get(Organisation, police_id).name = "renamed by a read-only view"
        db.session.flush()
        return "written"

    @app.route("/_probe/create")
    @reads_only
    def create():  # an order is stored by INSERT statements, not by a flush (portal.database.insert_new)
        create_order(NewOrder(organisation=db.session.get(Organisation, police_id), summary="Screen dark",
                              severity="minor"), None)
        return "created"

    return app


def test_a_read_only_view_reads_in_autocommit(portal):
    client = portal.test_client()
    assert client.get("/_probe/level").get_data(as_text=True) == "AUTOCOMMIT"
    client.post("/login", data={"username": "clerk", "password": factories.PASSWORD})
    queue = client.get("/orders/")
    assert queue.status_code == 200 and 'id="queue-filters"' in queue.get_data(as_text=True)


def test_a_read_only_view_may_not_write(portal, world):
    with pytest.raises(ReadOnlyRequest):
        portal.test_client().get("/_probe/write")
    with portal.app_context():
        assert db.session.scalar(select(Organisation.name).where(Organisation.id == world.police.id)) != \
            "renamed by a read-only view"


def test_a_read_only_view_may_not_create_an_order(portal):
    with pytest.raises(ReadOnlyRequest):
        portal.test_client().get("/_probe/create")
    with portal.app_context():
        assert db.session.scalar(select(func.count()).select_from(WorkOrder)) == 0


def test_a_session_already_begun_runs_the_view_as_usual(app):
    """The ``app`` fixture keeps one session across requests (as a CLI command would): once it has begun,
    the view runs in its transaction."""

    @reads_only
    def probe():
        return db.session.connection().get_execution_options().get("isolation_level", "default")

    db.session.execute(select(1))
    with app.test_request_context():
        assert probe() == "default"
