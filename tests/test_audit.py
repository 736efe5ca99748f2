"""The audit trail: events for every change, the hash chain and its verification, the trail pages."""

from __future__ import annotations

import json
import re
import threading
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from portal.audit import services
from portal.audit.listeners import AppendOnlyError
from portal.audit.models import AuditEvent
from portal.audit.services import acting_as, verify_chain
from portal.auth.models import User
from portal.devices.models import Device
from portal.orgs.models import Contract, Provider
from tests import factories


def events_for(db, table: str, record_id) -> list[AuditEvent]:
    """The events of one record, oldest first."""
    statement = select(AuditEvent).where(AuditEvent.table_name == table,
                                         AuditEvent.record_id == str(record_id))
    return list(db.session.scalars(statement.order_by(AuditEvent.id)))


def newest_event(db) -> AuditEvent:
    return db.session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1)).one()


def event_count(db) -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEvent))


def tamper(db, statement: str, **params) -> None:
    """Run a statement on the trail behind the ORM's back, with the append-only triggers out of the way."""
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        connection.execute(text("ALTER TABLE audit_event DISABLE TRIGGER USER"))
        connection.execute(text(statement), params)
        connection.execute(text("ALTER TABLE audit_event ENABLE TRIGGER USER"))
    else:
        connection.execute(text("DROP TRIGGER IF EXISTS audit_event_no_update"))
        connection.execute(text("DROP TRIGGER IF EXISTS audit_event_no_delete"))
        connection.execute(text(statement), params)
    db.session.commit()
    db.session.expire_all()


def append_event_at(db, at: datetime, **fields) -> AuditEvent:
    """Append one correctly chained event with a chosen time (to test date filters at day boundaries)."""
    change = {"at": at, "action": "update", "table_name": "device", "record_id": "1", "organisation_id": None,
              "before": {"notes": ""}, "after": {"notes": "x"}, **fields}
    services.append(db.session.connection(), [change])
    db.session.commit()
    return newest_event(db)


# --- Events written by changes -------------------------------------------------------------------------


def test_create_update_delete_of_a_device_write_events_with_values(db, world):
    with acting_as("tester"):
        device = factories.device("PK-0100", world.police, serial_number="SN-1")
        device.status = "faulty"
        device.notes = "屏幕无显示"
        db.session.commit()
        device_id = device.id
        db.session.delete(device)
        db.session.commit()

    created, updated, deleted = events_for(db, "device", device_id)
    assert [e.action for e in (created, updated, deleted)] == ["create", "update", "delete"]
    assert {e.actor_name for e in (created, updated, deleted)} == {"tester"}
    assert {e.organisation_id for e in (created, updated, deleted)} == {world.police.id}
    assert created.before is None
    assert created.after["code"] == "PK-0100"
    assert created.after["serial_number"] == "SN-1"
    assert created.after["distance_km"] == "12.5"
    assert updated.before == {"status": "in_service", "notes": ""}
    assert updated.after == {"status": "faulty", "notes": "屏幕无显示"}
    assert deleted.after is None
    assert deleted.before["code"] == "PK-0100"
    assert deleted.before["status"] == "faulty"


def device_form(world, **changes) -> dict:
    """What the device form posts for a new police kiosk."""
    data = {"organisation_id": world.police.id, "code": "PK-0200", "model": "ZD-100",
            "serial_number": "SN-200", "kind": "自助办证机", "status": "in_service",
            "owning_unit": "出入境支队", "address": "天津市和平区1号", "service_point_id": "",
            "maintainer_id": "", "distance_km": "3.5", "installed_on": "", "notes": ""}
    return {**data, **changes}


def test_creating_editing_and_deleting_a_device_over_http_writes_events(client, auth, db, world):
    auth.login("clerk")
    assert client.post("/devices/new", data=device_form(world)).status_code == 302
    device = db.session.scalar(select(Device).where(Device.code == "PK-0200"))
    edited = client.post(f"/devices/{device.id}/edit", data=device_form(world, status="faulty", notes="卡纸"))
    assert edited.status_code == 302
    assert client.post(f"/devices/{device.id}/delete").status_code == 302

    created, updated, deleted = events_for(db, "device", device.id)
    assert [e.action for e in (created, updated, deleted)] == ["create", "update", "delete"]
    assert {(e.actor_name, e.actor_id) for e in (created, updated, deleted)} == {("clerk", world.clerk.id)}
    assert created.after["serial_number"] == "SN-200" and created.after["organisation_id"] == world.police.id
    assert updated.before == {"status": "in_service", "notes": ""}
    assert updated.after == {"status": "faulty", "notes": "卡纸"}
    assert deleted.before["code"] == "PK-0200" and deleted.before["status"] == "faulty"
    assert verify_chain(db.session).ok


def test_a_refused_device_form_writes_no_event(client, auth, db, world):
    auth.login("clerk")
    before = event_count(db)
    response = client.post("/devices/new", data=device_form(world, code=world.campus_device.code))
    assert response.status_code == 200
    assert event_count(db) == before


def test_an_update_records_only_the_changed_fields(db, world):
    device = db.session.get(Device, world.police_device.id)
    device.model = "ZD-200"
    device.address = device.address  # assigned but not changed
    device.distance_km = Decimal("12.50")  # equal to the stored value
    db.session.commit()

    event = newest_event(db)
    assert (event.action, event.record_id) == ("update", str(device.id))
    assert event.before == {"model": "ZD-100"}
    assert event.after == {"model": "ZD-200"}


def test_saving_without_a_change_writes_no_event(db, world):
    before = event_count(db)
    device = db.session.get(Device, world.police_device.id)
    device.kind = device.kind
    db.session.commit()
    assert event_count(db) == before


def test_password_hashes_never_appear_in_events(db, world):
    user = db.session.get(User, world.requester.id)
    user.set_password("another-long-password")
    db.session.commit()
    user.display_name = "新名字"
    db.session.commit()
    factories.user("newcomer", "requester", org=world.police)

    hashes = {row.password_hash for row in db.session.scalars(select(User))}
    for event in db.session.scalars(select(AuditEvent)):
        recorded = json.dumps([event.before, event.after], ensure_ascii=False)
        assert "password" not in recorded
        assert not any(value in recorded for value in hashes)
    changed = events_for(db, "user_account", user.id)[-1]
    assert changed.after == {"display_name": "新名字"}


def test_a_password_change_alone_writes_no_event(db, world):
    before = event_count(db)
    user = db.session.get(User, world.clerk.id)
    user.set_password("yet-another-password")
    db.session.commit()
    assert event_count(db) == before


def test_organisation_events_belong_to_the_organisation_and_provider_events_to_none(db, world):
    assert {e.organisation_id for e in events_for(db, "organisation", world.campus.id)} == {world.campus.id}
    assert {e.organisation_id for e in events_for(db, "provider", world.prov_a.id)} == {None}
    assert {e.organisation_id for e in events_for(db, "user_account", world.clerk.id)} == {None}
    assert {e.organisation_id for e in events_for(db, "user_account", world.auditor.id)} == {world.police.id}


# --- The chain -----------------------------------------------------------------------------------------


def test_the_chain_of_a_fresh_trail_verifies(db, world):
    report = verify_chain(db.session)
    assert report.ok
    assert report.checked == event_count(db) > 0
    events = list(db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)))
    assert events[0].prev_hash == services.GENESIS
    assert all(later.prev_hash == earlier.hash for earlier, later in zip(events, events[1:], strict=False))


def test_an_empty_trail_verifies(db):
    report = verify_chain(db.session)
    assert (report.ok, report.checked) == (True, 0)


def test_verify_names_an_event_edited_behind_the_orms_back(db, world):
    victim = events_for(db, "device", world.police_device.id)[0]
    tamper(db, "UPDATE audit_event SET actor_name = 'mallory' WHERE id = :id", id=victim.id)

    report = verify_chain(db.session)
    assert report.first_bad_id == victim.id
    assert report.reason.startswith("contents altered")
    assert report.checked == db.session.scalar(select(func.count()).where(AuditEvent.id < victim.id))


def test_verify_names_the_event_after_a_deleted_one(db, world):
    victim = events_for(db, "device", world.police_device.id)[0]
    successor = db.session.scalar(select(func.min(AuditEvent.id)).where(AuditEvent.id > victim.id))
    tamper(db, "DELETE FROM audit_event WHERE id = :id", id=victim.id)

    report = verify_chain(db.session)
    assert report.first_bad_id == successor
    assert report.reason.startswith("link broken")


def test_verify_notices_a_rehashed_event(db, world):
    """Recomputing an edited event's own hash does not help: the next event still links to the old one."""
    victim = events_for(db, "device", world.police_device.id)[0]
    forged = services.hashed_fields(victim) | {"actor_name": "mallory"}
    tamper(db, "UPDATE audit_event SET actor_name = 'mallory', hash = :hash WHERE id = :id",
           id=victim.id, hash=services.event_hash(forged))

    report = verify_chain(db.session)
    assert report.first_bad_id > victim.id
    assert report.reason.startswith("link broken")


def test_cli_audit_verify_exits_0_on_an_intact_trail(runner, world, db):
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert f"{event_count(db)} events" in result.output


def test_cli_audit_verify_exits_1_naming_the_edited_event(runner, world, db):
    contract_id = db.session.scalar(select(Contract.id).where(Contract.number == "HT-2026-002"))
    victim = events_for(db, "contract", contract_id)[0]
    tamper(db, "UPDATE audit_event SET after = :after WHERE id = :id", id=victim.id,
           after=json.dumps({"number": "HT-FORGED"}))

    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert f"event {victim.id}:" in result.output


def test_cli_audit_verify_exits_1_after_a_deleted_event(runner, world, db):
    victim = events_for(db, "user_account", world.auditor.id)[0]
    successor = db.session.scalar(select(func.min(AuditEvent.id)).where(AuditEvent.id > victim.id))
    tamper(db, "DELETE FROM audit_event WHERE id = :id", id=victim.id)

    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert f"event {successor}:" in result.output


# --- Append-only ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("statement", [
    "UPDATE audit_event SET actor_name = 'mallory' WHERE id = :id",
    "DELETE FROM audit_event WHERE id = :id",
])
def test_the_database_refuses_to_change_or_delete_events(db, world, statement):
    victim = newest_event(db)
    count = event_count(db)
    with pytest.raises(DBAPIError, match="append-only"):
        db.session.execute(text(statement), {"id": victim.id})
    db.session.rollback()
    assert event_count(db) == count
    assert db.session.get(AuditEvent, victim.id).actor_name == victim.actor_name
    assert verify_chain(db.session).ok


def test_the_orm_refuses_to_change_an_event(db, world):
    victim = newest_event(db)
    victim.actor_name = "mallory"
    with pytest.raises(AppendOnlyError):
        db.session.commit()
    db.session.rollback()
    assert db.session.get(AuditEvent, victim.id).actor_name != "mallory"


def test_the_orm_refuses_to_delete_an_event(db, world):
    victim = newest_event(db)
    count = event_count(db)
    db.session.delete(victim)
    with pytest.raises(AppendOnlyError):
        db.session.commit()
    db.session.rollback()
    assert event_count(db) == count


def test_concurrent_appends_keep_one_unbroken_chain(app, db, backend):
    """Writers in parallel threads: PostgreSQL serialises appends with an advisory lock, SQLite with its
    single writer lock; either way every event links to the one before it and no two share a parent."""
    workers, commits = 4, 8
    start = threading.Barrier(workers)
    failures = []

    def write(worker: int) -> None:
        with app.app_context(), acting_as(f"worker-{worker}"):
            try:
                start.wait()
                for number in range(commits):
                    db.session.add(Provider(code=f"W{worker}-{number}", name=f"并发服务商 {worker}-{number}"))
                    db.session.commit()
            except Exception as error:  # collected and asserted below
                failures.append(error)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=write, args=(worker,)) for worker in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    report = verify_chain(db.session)
    assert (report.ok, report.checked) == (True, workers * commits)
    parents = db.session.scalar(select(func.count(func.distinct(AuditEvent.prev_hash))))
    assert parents == workers * commits
    if backend == "postgresql":
        # The append lock is transaction-scoped: every writer released it when it committed.
        held = text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = :key "
                    "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")
        assert db.session.scalar(held, {"key": services.ADVISORY_LOCK_KEY}) == 0
    else:
        assert db.session.execute(text("PRAGMA journal_mode")).scalar() == "wal"


# --- The trail pages -----------------------------------------------------------------------------------


def row_ids(response) -> set[int]:
    """The event ids listed on a trail page."""
    body = response.get_data(as_text=True)
    return {int(number) for number in re.findall(r'<li class="list-group-item[^"]*" id="event-(\d+)"', body)}


def visible_ids(db, organisation_ids: set[int] | None) -> set[int]:
    statement = select(AuditEvent.id)
    if organisation_ids is not None:
        statement = statement.where(AuditEvent.organisation_id.in_(organisation_ids))
    return set(db.session.scalars(statement))


def test_the_trail_lists_newest_first(app, client, auth, world, db):
    app.config["PORTAL_PAGE_SIZE"] = 500
    auth.login("admin")
    response = client.get("/audit/")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    ids = [int(number) for number in re.findall(r'id="event-(\d+)"', body)]
    assert ids == sorted(visible_ids(db, None), reverse=True)
    assert f'data-total="{len(ids)}"' in body


def test_an_admin_sees_events_of_no_organisation(app, client, auth, world, db):
    app.config["PORTAL_PAGE_SIZE"] = 500
    auth.login("admin")
    provider_event = events_for(db, "provider", world.prov_b.id)[0]
    assert provider_event.id in row_ids(client.get("/audit/"))
    assert client.get(f"/audit/events/{provider_event.id}").status_code == 200


def test_an_auditor_sees_only_their_organisations_events(app, client, auth, world, db):
    app.config["PORTAL_PAGE_SIZE"] = 500
    auth.login("auditor")
    listed = row_ids(client.get("/audit/"))
    assert listed == visible_ids(db, {world.police.id})
    assert events_for(db, "device", world.police_device.id)[0].id in listed

    other = events_for(db, "device", world.other_device.id)[0]
    provider = events_for(db, "provider", world.prov_a.id)[0]
    assert other.id not in listed
    assert provider.id not in listed
    assert client.get(f"/audit/events/{other.id}").status_code == 404
    assert client.get(f"/audit/events/{provider.id}").status_code == 404
    assert client.get("/audit/events/999999").status_code == 404


def test_an_auditor_of_no_organisation_sees_everything(app, client, auth, world, db):
    app.config["PORTAL_PAGE_SIZE"] = 500
    factories.user("chief_auditor", "auditor")
    auth.login("chief_auditor")
    assert row_ids(client.get("/audit/")) == visible_ids(db, None)


@pytest.mark.parametrize("username", ["requester", "clerk", "engineer", "other_requester"])
def test_roles_without_audit_view_are_refused(client, auth, world, username):
    auth.login(username)
    assert client.get("/audit/").status_code == 403
    assert client.get("/audit/events/1").status_code == 403
    assert client.post("/audit/verify").status_code == 403


def test_the_trail_needs_sign_in(client, world):
    response = client.get("/audit/")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_filters_by_record_type_action_actor_and_record(app, client, auth, world, db):
    app.config["PORTAL_PAGE_SIZE"] = 500
    with acting_as("night-shift-bot"):
        device = db.session.get(Device, world.campus_device.id)
        device.status = "under_repair"
        db.session.commit()
    changed = newest_event(db)
    auth.login("admin")

    device_events = select(AuditEvent.id).where(AuditEvent.table_name == "device")
    assert row_ids(client.get("/audit/?table=device")) == set(db.session.scalars(device_events))
    assert row_ids(client.get("/audit/?table=device&action=update")) == {changed.id}
    assert row_ids(client.get("/audit/?actor=SHIFT")) == {changed.id}
    assert row_ids(client.get("/audit/?actor=%25")) == set()  # a LIKE wildcard is taken literally
    assert row_ids(client.get(f"/audit/?table=device&record={device.id}")) == {
        e.id for e in events_for(db, "device", device.id)}
    assert row_ids(client.get("/audit/?action=delete")) == set()


def test_filters_by_dates_in_the_deployment_time_zone(app, client, auth, world, db):
    # 17:30 UTC on 1 March is 01:30 on 2 March in Asia/Shanghai.
    late = append_event_at(db, datetime(2026, 3, 1, 17, 30, tzinfo=UTC), record_id="77")
    early = append_event_at(db, datetime(2026, 3, 1, 15, 59, tzinfo=UTC), record_id="78")
    assert app.config["PORTAL_TIMEZONE"] == "Asia/Shanghai"
    auth.login("admin")

    assert row_ids(client.get("/audit/?date_from=2026-03-02&date_to=2026-03-02")) == {late.id}
    assert row_ids(client.get("/audit/?date_from=2026-03-01&date_to=2026-03-01")) == {early.id}
    assert row_ids(client.get("/audit/?date_to=2026-03-01")) == {early.id}
    assert row_ids(client.get("/audit/?date_from=2026-03-03")) >= {e.id for e in events_for(
        db, "device", world.police_device.id)}
    assert verify_chain(db.session).ok


def test_times_are_shown_in_the_deployment_time_zone(client, auth, world, db):
    event = append_event_at(db, datetime(2026, 3, 1, 17, 30, 5, tzinfo=UTC))
    auth.login("admin")
    assert "2026-03-02 01:30:05" in client.get(f"/audit/events/{event.id}").get_data(as_text=True)


def test_bad_dates_are_reported_next_to_the_field_and_nothing_is_filtered(app, client, auth, world, db):
    app.config["PORTAL_PAGE_SIZE"] = 500
    auth.login("admin")
    client.get("/lang/en")
    response = client.get("/audit/?date_from=2026-03-05&date_to=2026-03-01&actor=admin")
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'id="date_to-errors"' in body
    assert "The end date is before the start date." in body
    assert 'value="admin"' in body  # what the user typed stays
    assert row_ids(response) == visible_ids(db, None)

    garbled = client.get("/audit/?date_from=yesterday").get_data(as_text=True)
    errors = garbled.split('id="date_from-errors"', 1)[1].split("</div>", 1)[0]
    assert "Not a valid date value." in errors


def test_the_filter_fragment_is_only_the_results(app, client, auth, world, db):
    auth.login("admin")
    response = client.get("/audit/?table=device&action=create", headers={"HX-Request": "true"})
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<html" not in body
    assert body.lstrip().startswith('<section id="trail"')
    assert 'id="trail-filters"' not in body
    assert row_ids(response) == {events_for(db, "device", device.id)[0].id for device in
                                 (world.police_device, world.campus_device, world.other_device)}
    assert "HX-Request" in response.headers["Vary"]


def test_the_fragment_carries_filter_errors_out_of_band(client, auth, world):
    auth.login("admin")
    body = client.get("/audit/?date_from=2026-03-05&date_to=2026-03-01",
                      headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in body
    assert 'id="date_to-errors" hx-swap-oob="true"' in body


def test_the_filter_form_is_wired_for_htmx_and_works_without_it(client, auth, world):
    auth.login("admin")
    body = client.get("/audit/").get_data(as_text=True)
    form = re.search(r'<form[^>]*id="trail-filters"[^>]*>', body).group(0)
    assert 'method="get"' in form and 'action="/audit/"' in form
    assert 'hx-push-url="true"' in form and 'hx-target="#trail"' in form


def test_paging_through_the_trail(app, client, auth, world, db):
    app.config["PORTAL_PAGE_SIZE"] = 5
    auth.login("admin")
    all_ids = sorted(visible_ids(db, None), reverse=True)
    first, second = client.get("/audit/"), client.get("/audit/?page=2")
    assert row_ids(first) == set(all_ids[:5])
    assert row_ids(second) == set(all_ids[5:10])
    fragment = client.get("/audit/?page=2&table=user_account", headers={"HX-Request": "true"})
    assert "<html" not in fragment.get_data(as_text=True)
    assert 'hx-target="#trail"' in fragment.get_data(as_text=True)


def test_a_row_shows_the_change_and_links_the_device(client, auth, world, db):
    device = db.session.get(Device, world.police_device.id)
    device.status = "spare"
    db.session.commit()
    event = newest_event(db)
    auth.login("auditor")
    body = client.get(f"/audit/?record={device.id}&table=device").get_data(as_text=True)
    row = body.split(f'id="event-{event.id}"', 1)[1].split('id="event-', 1)[0]
    assert "<code>status</code>" in row
    assert "in_service" in row and "spare" in row
    assert f'href="/audit/events/{event.id}"' in row
    if "devices.detail" in client.application.view_functions:
        from flask import url_for

        with client.application.test_request_context():
            assert f'href="{url_for("devices.detail", device_id=device.id)}"' in row


def test_the_event_page_shows_all_values_and_the_hashes(client, auth, world, db):
    created = events_for(db, "device", world.police_device.id)[0]
    auth.login("auditor")
    body = client.get(f"/audit/events/{created.id}").get_data(as_text=True)
    assert created.hash in body
    assert created.prev_hash in body
    for name in created.after:
        assert f'id="field-{name}"' in body
    assert "PK-0001" in body


def test_verify_button_reports_an_intact_chain(client, auth, world, db):
    auth.login("auditor")
    response = client.post("/audit/verify", headers={"HX-Request": "true"})
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<html" not in body
    assert 'data-intact="true"' in body
    assert f'data-checked="{event_count(db)}"' in body


def test_verify_button_names_the_first_altered_event(client, auth, world, db):
    victim = events_for(db, "device", world.police_device.id)[0]
    tamper(db, "UPDATE audit_event SET actor_name = 'mallory' WHERE id = :id", id=victim.id)
    auth.login("admin")
    client.get("/lang/en")
    body = client.post("/audit/verify").get_data(as_text=True)
    assert "<html" in body  # without htmx: a whole page
    assert 'data-intact="false"' in body
    assert f'data-first-bad="{victim.id}"' in body
    assert f"The first altered event is {victim.id}." in body


@pytest.mark.parametrize("username", ["admin", "auditor"])
def test_the_trail_page_offers_verification_to_admins_and_auditors(client, auth, world, username):
    auth.login(username)
    body = client.get("/audit/").get_data(as_text=True)
    assert 'hx-post="/audit/verify"' in body
    assert 'name="csrf_token"' in body
