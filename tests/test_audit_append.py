"""When and how the audit trail is appended: at the commit, in the order of the chain, without holding the
chain's lock while the rest of a transaction runs, and (on PostgreSQL) hashed by the server exactly as
``portal audit verify`` recomputes it."""

from __future__ import annotations

import hashlib
import threading

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DataError

from portal.audit import services
from portal.audit.models import AuditEvent
from portal.audit.services import acting_as, verify_chain
from portal.orgs.models import Provider

AWKWARD_NAMES = [
    '引号 "quoted" \\ backslash',
    "line\nbreak\ttab \u2028 separator",
    "emoji 🛠️ and \u00e9\u0301 combining",
    '{"prev_hash":"not a hash"}',
    "\\u0000 looks like an escape",
]


def event_count(db) -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEvent))


def provider_events(db) -> list[AuditEvent]:
    statement = select(AuditEvent).where(AuditEvent.table_name == "provider").order_by(AuditEvent.id)
    return list(db.session.scalars(statement))


def test_the_halves_around_prev_hash_rebuild_the_event_hash():
    fields = {"at": "2026-12-01T08:00:00.000001+00:00", "actor_id": 7, "actor_name": "张三",
              "action": "update", "table_name": "device", "record_id": "12", "organisation_id": None,
              "before": {"notes": 'a "b" \\ c', "prev_hash": "x"}, "after": {"notes": "🛠️\n"}}
    prefix, suffix = services.hash_halves(fields)
    for prev in (services.GENESIS, "ab" * 32):
        glued = hashlib.sha256((prefix + prev + suffix).encode("utf-8")).hexdigest()
        assert glued == services.event_hash({**fields, "prev_hash": prev})


def test_a_change_is_appended_when_its_transaction_commits(db):
    before = event_count(db)
    db.session.add(Provider(code="P-1", name="服务商一"))
    db.session.flush()
    db.session.add(Provider(code="P-2", name="服务商二"))
    db.session.flush()
    assert event_count(db) == before  # flushed, not yet committed: nothing appended
    db.session.commit()
    assert [event.after["code"] for event in provider_events(db)] == ["P-1", "P-2"]
    assert verify_chain(db.session).ok


def test_a_rolled_back_change_leaves_no_event(db):
    before = event_count(db)
    db.session.add(Provider(code="P-GONE", name="撤销的服务商"))
    db.session.flush()
    db.session.rollback()
    db.session.add(Provider(code="P-KEPT", name="保留的服务商"))
    db.session.commit()
    assert event_count(db) == before + 1
    assert [event.after["code"] for event in provider_events(db)] == ["P-KEPT"]


def test_a_rolled_back_savepoint_drops_only_its_changes(db):
    db.session.add(Provider(code="P-OUTER", name="外层"))
    with db.session.begin_nested() as savepoint:
        db.session.add(Provider(code="P-INNER", name="内层"))
        db.session.flush()
        savepoint.rollback()
    with db.session.begin_nested():
        db.session.add(Provider(code="P-RELEASED", name="已释放"))
    db.session.commit()
    assert [event.after["code"] for event in provider_events(db)] == ["P-OUTER", "P-RELEASED"]
    assert verify_chain(db.session).ok


def test_a_closed_session_forgets_its_changes(db):
    db.session.add(Provider(code="P-CLOSED", name="关闭的会话"))
    db.session.flush()
    db.session.close()
    db.session.add(Provider(code="P-NEXT", name="下一个"))
    db.session.commit()
    assert [event.after["code"] for event in provider_events(db)] == ["P-NEXT"]


def test_the_actor_is_who_made_the_change(db):
    with acting_as("cli:alice"):
        db.session.add(Provider(code="P-ALICE", name="甲"))
        db.session.flush()
    db.session.commit()  # outside the block: the change was still alice's
    assert provider_events(db)[0].actor_name == "cli:alice"


def test_awkward_values_are_hashed_by_the_server_as_verify_recomputes_them(db):
    db.session.add_all([Provider(code=f"P-{number}", name=name) for number, name in enumerate(AWKWARD_NAMES)])
    db.session.commit()
    events = provider_events(db)
    assert [event.after["name"] for event in events] == AWKWARD_NAMES
    assert all(event.hash == services.event_hash(services.hashed_fields(event)) for event in events)
    assert verify_chain(db.session).ok


@pytest.mark.postgres_only
def test_a_writer_with_a_flushed_change_does_not_hold_up_others(app, db, backend):
    """The chain's lock is taken at the commit: a transaction that has flushed an audited change and is
    still busy does not make every other writer wait for it."""
    db.session.add(Provider(code="P-SLOW", name="慢事务"))
    db.session.flush()
    outcome = []

    def other_writer() -> None:
        with app.app_context():
            try:
                db.session.execute(text("SET LOCAL lock_timeout = '3s'"))
                db.session.add(Provider(code="P-FAST", name="快事务"))
                db.session.commit()
                outcome.append("committed")
            except Exception as error:  # reported by the assertion below
                outcome.append(repr(error))
            finally:
                db.session.remove()

    thread = threading.Thread(target=other_writer)
    thread.start()
    thread.join(timeout=30)
    assert outcome == ["committed"]
    db.session.commit()
    assert [event.after["code"] for event in provider_events(db)] == ["P-FAST", "P-SLOW"]
    assert verify_chain(db.session).ok


@pytest.mark.postgres_only
def test_a_change_whose_event_cannot_be_written_is_not_committed(db, backend):
    """The events and the change commit together or not at all (an actor name longer than the column
    makes PostgreSQL refuse the event; SQLite does not enforce lengths)."""
    before = event_count(db)
    with acting_as("x" * 100):
        db.session.add(Provider(code="P-REFUSED", name="写不进审计"))
        with pytest.raises(DataError):
            db.session.commit()
    db.session.rollback()
    assert db.session.scalar(select(func.count()).where(Provider.code == "P-REFUSED")) == 0
    assert event_count(db) == before
    db.session.add(Provider(code="P-AFTER", name="之后"))
    db.session.commit()
    assert [event.after["code"] for event in provider_events(db)] == ["P-AFTER"]
    assert verify_chain(db.session).ok
