"""The signed-in user's scope read with the user: the organisations a user may see come from the statement
that loads the user, and are the same as reading them on their own, for every kind of user; the user made
from that statement's row is the entity the ORM would load."""

from __future__ import annotations

import pytest
from flask import g
from flask_login import login_user
from sqlalchemy import inspect, select

from portal.audit.models import AuditEvent
from portal.auth.models import User
from portal.auth.scoping import (
    organisation_ids_for,
    user_with_organisations,
    visible_organisation_ids,
    visible_organisations,
)
from portal.auth.session import load_user
from portal.extensions import db
from tests import factories
from tests.test_workorder_creation import statements_during


def scope_read_with_the_user(app, user_id: int):
    """The user's scope and visible organisations as the user's own statement leaves them, and the
    statements sent while asking for both."""
    with app.test_request_context():
        user = user_with_organisations(user_id)
        login_user(user)
        (ids, organisations), sent = statements_during(lambda: (visible_organisation_ids(), visible_organisations()))
        return user, ids, [organisation.name for organisation in organisations], sent


def scope_read_on_its_own(app, user_id: int):
    """The same, with the user loaded on their own: the scope's own statements read it."""
    with app.test_request_context():
        user = db.session.get(User, user_id)
        login_user(user)
        return organisation_ids_for(user), [organisation.name for organisation in visible_organisations()]


@pytest.mark.parametrize("username", ["clerk", "engineer", "requester", "auditor", "other_clerk", "admin"])
def test_the_scope_read_with_the_user_is_the_scope_read_on_its_own(app, world, username):
    """Provider staff see their provider's contracted organisations, organisation staff their own; the
    admin sees every organisation."""
    user_id = getattr(world, username).id
    db.session.expire_all()
    _user, ids, names, sent = scope_read_with_the_user(app, user_id)
    db.session.expire_all()
    assert (ids, names) == scope_read_on_its_own(app, user_id)
    expected = {"clerk": {world.police.id, world.campus.id}, "engineer": {world.police.id, world.campus.id},
                "requester": {world.police.id}, "auditor": {world.police.id}, "other_clerk": {world.other.id},
                "admin": None}[username]
    assert ids == expected
    if expected is not None:
        assert sent == []  # both came with the user
        assert names == sorted(names)


def test_an_inactive_organisation_stays_in_scope_but_leaves_the_choices(app, world):
    """A contracted organisation that has been deactivated keeps its records visible to the provider's staff,
    and is no longer offered in choices and menus."""
    world.campus.active = False
    db.session.commit()
    db.session.expire_all()
    _user, ids, names, _sent = scope_read_with_the_user(app, world.clerk.id)
    assert ids == {world.police.id, world.campus.id} and names == [world.police.name]
    db.session.expire_all()
    assert (ids, names) == scope_read_on_its_own(app, world.clerk.id)


def test_a_user_with_no_employer_or_no_contract_sees_nothing(app, world):
    loner = factories.user("loner", "clerk")
    idle_provider_clerk = factories.user("idle", "clerk", prov=factories.provider("PROV-IDLE", "无合同的运维公司"))
    db.session.commit()
    for user_id in (loner.id, idle_provider_clerk.id):
        db.session.expire_all()
        _user, ids, names, _sent = scope_read_with_the_user(app, user_id)
        assert (ids, names) == (frozenset(), [])


def test_no_scope_is_kept_for_a_session_that_no_longer_signs_in(app, world):
    """A deactivated user's (or an old password's) session loads no user, and leaves no scope behind."""
    with app.test_request_context():
        assert load_user(f"{world.clerk.id}:999") is None
        assert g.get("visible_org_ids") is None and g.get("visible_organisations") is None
        assert load_user("0:1") is None


def test_the_desk_reads_the_user_with_their_organisations(portal, world):
    """The queue page sends four statements: the user with their organisations, the queue's two parts
    (orders with a deadline, then those without) and the engineers for its filter."""
    client = portal.test_client()
    client.post("/login", data={"username": "clerk", "password": factories.PASSWORD})
    with portal.app_context():
        page, sent = statements_during(lambda: client.get("/orders/"))
    assert page.status_code == 200 and world.police.name in page.get_data(as_text=True)
    assert len(sent) == 4, sent
    assert "contract" in sent[0] and "user_account" in sent[0]


def test_the_user_made_from_the_row_is_the_user_the_orm_loads(app, world):
    """Every column as the ORM reads it, persistent with no changes, relationships read on first use, the
    session's own entity when it holds the user already, and a change to it stored and audited."""
    user_id = world.clerk.id
    columns = [attr.key for attr in inspect(User).column_attrs]
    db.session.expunge_all()
    by_orm = {key: getattr(db.session.get(User, user_id), key) for key in columns}
    db.session.expunge_all()
    with app.test_request_context():
        user = user_with_organisations(user_id)
        state = inspect(user)
        assert state.persistent and not state.modified and user in db.session and not db.session.dirty
        assert {key: getattr(user, key) for key in columns} == by_orm
        assert "provider" not in state.dict and user.provider.code == "PROV-A"
        assert user_with_organisations(user_id) is user
        user.display_name = "值班员甲"
        db.session.commit()
    db.session.expunge_all()
    assert db.session.get(User, user_id).display_name == "值班员甲"
    changed = db.session.scalars(select(AuditEvent).where(
        AuditEvent.table_name == "user_account", AuditEvent.record_id == str(user_id),
        AuditEvent.action == "update")).all()
    assert [event.after["display_name"] for event in changed] == ["值班员甲"]
