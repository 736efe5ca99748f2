"""The clerk's desk: the queue with its filters and keyset paging, quick logging, the order page with its
step buttons and severity form, and the engineer's cards."""

from __future__ import annotations

import html
import re
from collections import namedtuple
from datetime import timedelta

import pytest
from flask import current_app, g
from sqlalchemy import func, select

from portal.extensions import db
from portal.types import utcnow
from portal.workorders import services
from portal.workorders.models import WorkOrder, WorkOrderEvent
from portal.workorders.queries import Cursor
from portal.workorders.views import bp
from tests import factories

HTMX = {"HX-Request": "true"}


@pytest.fixture(autouse=True)
def desk(app):
    """The desk's blueprint on the test app (until the app factory registers it)."""
    if "workorders" not in app.blueprints:
        app.register_blueprint(bp)


def sign_in(client, username: str):
    """Sign in through the form, forgetting the previous user's organisations (the app context is shared)."""
    g.pop("visible_org_ids", None)
    client.post("/logout")
    response = client.post("/login", data={"username": username, "password": factories.PASSWORD})
    assert response.status_code == 302
    client.get("/lang/en")


def log(world, *, org=None, device=None, severity="urgent", minutes_ago=0, actor=None, **extra):
    """A phone report logged by the desk ``minutes_ago`` (police orders are accepted when logged)."""
    new = services.NewOrder(organisation=org or world.police, summary=extra.pop("summary", "Screen is dead"),
                            device=device, channel="phone", severity=severity,
                            reported_at=utcnow() - timedelta(minutes=minutes_ago), **extra)
    with current_app.test_request_context():
        order = services.create_order(new, actor or world.clerk)
        db.session.commit()
    return order


def step(order, name, actor, **values):
    """Take a step now, through the lifecycle service."""
    with current_app.test_request_context():
        services.apply_step(order, name, actor, **values)
        db.session.commit()
    return order


def row_ids(page: str) -> list[int]:
    """The order ids of the queue's rows, in order."""
    return [int(found) for found in re.findall(r'<tr id="wo-(\d+)"', page)]


def next_link(page: str) -> str | None:
    """The queue's "next page" URL, or None on the last page."""
    found = re.search(r'id="next-page" href="([^"]+)"', page)
    return "/orders/" + html.unescape(found.group(1)) if found else None


def text(response) -> str:
    return response.get_data(as_text=True)


# ----------------------------------------------------------------------------------------------------------
# The queue
# ----------------------------------------------------------------------------------------------------------


def test_queue_lists_open_visible_orders_by_nearest_deadline(client, world):
    later = log(world, minutes_ago=5)
    sooner = log(world, minutes_ago=20)
    paused = step(log(world, minutes_ago=1), "pause", world.clerk, reason="Waiting for the requester")
    resolved = step(step(log(world, minutes_ago=3), "respond", world.clerk), "resolve", world.clerk)
    hidden = log(world, org=world.other, actor=world.other_clerk)
    sign_in(client, "clerk")
    page = text(client.get("/orders/"))
    assert row_ids(page) == [sooner.id, later.id, paused.id]
    assert resolved.number not in page and hidden.number not in page
    assert 'data-clock="response"' in page


def test_queue_words_follow_the_language_switch(client, world):
    """Labels are worked out once per language: switching language changes every one of them."""
    log(world, minutes_ago=5)
    sign_in(client, "clerk")
    english = text(client.get("/orders/"))
    assert ">Accepted<" in english and " left" in english and 'data-left="{time} left"' in english
    client.get("/lang/zh_CN")
    chinese = text(client.get("/orders/"))
    assert ">已受理<" in chinese and "剩余 " in chinese and 'data-left="剩余 {time}"' in chinese
    assert ">Accepted<" not in chinese
    client.get("/lang/en")
    assert ">Accepted<" in text(client.get("/orders/"))


def test_queue_filters(client, world):
    engineer_b = factories.user("engineer_b", "engineer", prov=world.prov_b)
    urgent = log(world, device=world.police_device, minutes_ago=10)
    medium = log(world, severity="medium", minutes_ago=9)
    campus = log(world, org=world.campus, device=world.campus_device, severity=None, affected_terminals=7)
    paused = step(log(world, minutes_ago=8), "pause", world.clerk, reason="Waiting for parts")
    late = step(log(world, minutes_ago=120), "respond", world.clerk)
    assigned = step(log(world, minutes_ago=7), "assign", world.clerk, assignee=world.engineer)
    sign_in(client, "clerk")

    def ids(query: str) -> set[int]:
        return set(row_ids(text(client.get(f"/orders/?{query}"))))

    everything = {urgent.id, medium.id, campus.id, paused.id, late.id, assigned.id}
    assert ids("") == everything
    assert ids("status=paused") == {paused.id}
    assert ids("severity=medium") == {medium.id}
    assert ids(f"organisation={world.campus.id}") == {campus.id}
    assert ids("device=PK-0001") == {urgent.id}
    assert ids(f"assignee={world.engineer.id}") == {assigned.id}
    assert ids("assignee=none") == everything - {assigned.id}
    assert ids(f"assignee={engineer_b.id}") == set()
    assert ids("breached=1") == {late.id}
    assert ids("breached=0") == everything - {late.id}
    assert ids("status=paused&severity=medium") == set()
    sign_in(client, "engineer")
    assert ids("assignee=me") == {assigned.id}


def test_queue_statements_built_once_keep_each_users_scope(client, world):
    """The queue's statements are built once per shape and reused: each user still sees only theirs."""
    mine = log(world, minutes_ago=5)
    theirs = log(world, org=world.other, actor=world.other_clerk, minutes_ago=6)
    for username, visible in (("clerk", mine), ("other_clerk", theirs), ("admin", None), ("requester", mine)):
        sign_in(client, username)
        for query in ("", "?severity=urgent", "?assignee=none&breached=0"):
            ids = row_ids(text(client.get(f"/orders/{query}")))
            if visible is None:
                assert set(ids) == {mine.id, theirs.id}
            else:
                assert ids == [visible.id], (username, query)


def test_the_scope_is_one_array_parameter_on_postgresql_and_an_in_list_elsewhere():
    """A statement built once tests the user's organisations as ``= ANY(array)`` on PostgreSQL (its text
    the same for any number of organisations) and as an expanding IN on SQLite."""
    from sqlalchemy.dialects import postgresql, sqlite

    from portal.auth.scoping import scoped_by_parameter

    statement = scoped_by_parameter(select(WorkOrder.id), WorkOrder.organisation_id, "some")
    assert "work_order.organisation_id = ANY (%(scope)s::INTEGER[])" in str(
        statement.compile(dialect=postgresql.psycopg.dialect()))
    assert "work_order.organisation_id IN (__[POSTCOMPILE_scope])" in str(statement.compile(dialect=sqlite.dialect()))


def test_queue_rows_show_the_order_pages_badges_and_flags(client, world):
    """A row prints the same severity, status and flag badges as the order page, in the user's language."""
    device = factories.device('K-"7"&<b>', world.police)
    late = log(world, minutes_ago=600, summary="Printer <jammed> & 'stuck'", device=device)
    late.breached, late.state_repair = True, "breached"
    world.police.name = "Heping & <Branch>"
    db.session.commit()
    sign_in(client, "clerk")
    queue = text(client.get("/orders/"))
    row = queue[queue.index(f'<tr id="wo-{late.id}"'):]
    row = row[:row.index("</tr>")]
    assert f'href="/orders/{late.number}"' in row  # the rows' texts are escaped before the template prints them
    assert "Printer &lt;jammed&gt; &amp; &#39;stuck&#39;" in row and "Heping &amp; &lt;Branch&gt;" in row
    assert "K-&#34;7&#34;&amp;&lt;b&gt;" in row and "<jammed>" not in row and "<Branch>" not in row
    assert row.count('data-severity="urgent">Urgent<') == 2  # phone and desktop
    assert 'data-status="accepted">Accepted<' in row
    assert row.count('data-flag="breached"') == 2 and row.count('data-flag="spare-unit"') == 2
    order_page = text(client.get(f"/orders/{late.number}"))
    for badge in ('data-severity="urgent">Urgent<', 'data-flag="spare-unit"', 'data-status="accepted">Accepted<'):
        assert badge in order_page
    client.get("/lang/zh_CN")
    assert 'data-severity="urgent">' in text(client.get("/orders/")) and ">Urgent<" not in text(client.get("/orders/"))


def test_desk_rows_fall_back_to_a_plain_badge_for_a_severity_no_table_has(app):
    """A row whose standard is not enabled (or whose code its table lacks) still shows its severity code,
    and a row without a severity says so; a row without a running clock has no countdown."""
    from portal.workorders.queries import QUEUE_COLUMNS
    from portal.workorders.views import desk_rows

    now = utcnow()
    row = namedtuple("Row", [column.key for column in QUEUE_COLUMNS])
    retired = row(1, "retired_standard", "s", "grave", "accepted", None, False, False, None, "Org", None)
    unset = row(2, "retired_standard", "s", None, "reported", now - timedelta(minutes=5), True, False, "repair",
                "Org", "K-1")
    with app.test_request_context():
        first, second = desk_rows([retired, unset], now)
        assert first.link == "/orders/WO00000001" and first.due == "" and first.device == "—"
        assert (first.clock, first.clock_label, first.countdown, first.overdue) == ("", "", "", False)
        assert 'data-severity="grave">grave<' in first.severity and 'data-status="accepted"' in first.status
        assert str(first.flags).strip() == ""
        assert 'data-severity="">' in second.severity and second.clock == "repair" and second.clock_label
        assert second.overdue is True and second.device == "K-1" and second.organisation == "Org"
        assert "0:05:00" in second.countdown and 'data-flag="breached"' in second.flags


def test_template_links_are_remembered_per_values_and_script_root(app):
    """The templates' url_for gives each set of values its own link, under the request's script root, and
    hands anchors, external links and list values to Flask's."""
    from flask import render_template_string

    source = ('{{ url_for("workorders.detail", number="WO1") }}|{{ url_for("workorders.detail", number="WO2") }}|'
              '{{ url_for("workorders.detail", number="WO1", _anchor="steps") }}|'
              '{{ url_for("workorders.queue", status=["paused", "accepted"]) }}')
    with app.test_request_context():
        assert render_template_string(source) == ("/orders/WO1|/orders/WO2|/orders/WO1#steps|"
                                                  "/orders/?status=paused&amp;status=accepted")
    with app.test_request_context(base_url="http://localhost/portal/"):
        assert render_template_string(source).startswith("/portal/orders/WO1|/portal/orders/WO2|")


def filter_options(page: str, name: str) -> list[tuple[str, str, bool]]:
    """A queue filter's options as (value, label, selected)."""
    select_html = page[page.index(f'name="{name}"'):]
    select_html = select_html[:select_html.index("</select>")]
    return [(value, html.unescape(label), bool(selected)) for value, selected, label in
            re.findall(r'<option value="([^"]*)"( selected)?>([^<]*)</option>', select_html)]


def test_queue_filters_show_each_visit_what_is_true_then(client, world):
    """The filters are rendered once for each set of inputs and language, never stale: a chosen filter,
    a renamed organisation, a new engineer and the language show at once."""
    sign_in(client, "clerk")
    police = str(world.police.id)
    assert (police, world.police.name, False) in filter_options(text(client.get("/orders/")), "organisation")
    assert (police, world.police.name, True) in filter_options(
        text(client.get(f"/orders/?organisation={police}")), "organisation")
    assert (police, world.police.name, False) in filter_options(text(client.get("/orders/")), "organisation")
    world.police.name = "和平分局 <新>"
    db.session.commit()
    page = text(client.get("/orders/"))
    assert (police, "和平分局 <新>", False) in filter_options(page, "organisation") and "和平分局 &lt;新&gt;" in page
    factories.user("engineer_new", "engineer", prov=world.prov_a)
    db.session.commit()
    page = text(client.get("/orders/"))
    assert "engineer_new" in [label for _value, label, _selected in filter_options(page, "assignee")]
    client.get("/lang/zh_CN")
    assert filter_options(text(client.get("/orders/")), "status")[0][1] == "全部未关闭"
    client.get("/lang/en")
    assert filter_options(text(client.get("/orders/")), "status")[0][1] == "All open"


def test_a_remembered_fragment_renders_once_per_inputs(app):
    from portal.templating import remembered_fragments

    remembered, rendered = remembered_fragments(), []

    def caller():
        rendered.append(1)
        return f"<p>{len(rendered)}</p>"

    with app.test_request_context():
        assert remembered("x", [1, 2], "a", caller=caller) == "<p>1</p>"
        assert remembered("x", [1, 2], "a", caller=caller) == "<p>1</p>"
        assert remembered("x", [1, 3], "a", caller=caller) == "<p>2</p>"
        assert remembered("y", [1, 2], "a", caller=caller) == "<p>3</p>"
        assert remembered("x", {"unhashable": 1}, caller=caller) == "<p>4</p>"
        assert remembered("x", {"unhashable": 1}, caller=caller) == "<p>5</p>"


def test_queue_filter_swaps_only_the_results_for_htmx(client, world):
    order = log(world)
    sign_in(client, "clerk")
    response = client.get("/orders/?status=accepted", headers=HTMX)
    body = text(response)
    assert response.status_code == 200
    assert "<html" not in body and body.lstrip().startswith('<div id="results"')
    assert row_ids(body) == [order.id]
    assert "HX-Request" in response.headers["Vary"]


def test_keyset_paging_has_no_overlap_and_is_stable(app, client, world):
    app.config["PORTAL_PAGE_SIZE"] = 3
    with_due = [log(world, minutes_ago=minutes) for minutes in (1, 2, 3, 3, 4, 5, 6)]
    without_due = [step(log(world, minutes_ago=1), "pause", world.clerk, reason="Holiday") for _ in range(3)]
    by_deadline = sorted(with_due, key=lambda order: (order.next_due, order.id))
    expected = [order.id for order in by_deadline + without_due]
    sign_in(client, "clerk")

    seen, pages, url = [], [], "/orders/"
    while url:
        page = text(client.get(url))
        pages.append(row_ids(page))
        seen += pages[-1]
        url = next_link(page)
    assert seen == expected
    assert [len(ids) for ids in pages] == [3, 3, 3, 1]
    assert len(set(seen)) == len(seen)

    first = text(client.get("/orders/"))
    earlier = log(world, minutes_ago=29)  # a new order now heads the queue
    second = text(client.get(next_link(first)))
    assert row_ids(second) == expected[3:6]
    assert row_ids(text(client.get("/orders/")))[0] == earlier.id
    assert 'id="first-page"' in second and 'id="first-page"' not in first


def test_cursor_round_trip_and_bad_cursors_give_the_first_page(client, world):
    order = log(world)
    cursor = Cursor(order.next_due, order.id)
    assert Cursor.parse(cursor.encode()) == cursor
    assert Cursor.parse(f"-|{order.id}") == Cursor(None, order.id)
    for bad in ("", "x", "2026-13-01|3", "|", "-|x"):
        assert Cursor.parse(bad) is None
    sign_in(client, "clerk")
    assert row_ids(text(client.get("/orders/?after=nonsense"))) == [order.id]


# ----------------------------------------------------------------------------------------------------------
# Scoping
# ----------------------------------------------------------------------------------------------------------


def test_another_organisations_order_is_not_found(client, world):
    order = log(world)
    sign_in(client, "other_clerk")
    assert client.get(f"/orders/{order.number}").status_code == 404
    assert client.post(f"/orders/{order.number}/steps/respond", headers=HTMX).status_code == 404
    severity = {"severity": "minor", "reason": "x"}
    assert client.post(f"/orders/{order.number}/severity", data=severity).status_code == 404
    assert row_ids(text(client.get("/orders/"))) == []
    assert client.get("/orders/WO99999999").status_code == 404
    assert client.get("/orders/not-a-number").status_code == 404
    sign_in(client, "requester")
    assert client.get(f"/orders/{order.number}").status_code == 200


def test_device_lookup_finds_visible_devices_by_code_or_address(client, world):
    for number in range(12):
        factories.device(f"PK-1{number:03d}", world.police, address=f"和平区 {number} 号")
    sign_in(client, "clerk")
    by_code = text(client.get("/orders/devices?q=0001", headers=HTMX))
    assert "<html" not in by_code
    codes = re.findall(r'data-device-code="([^"]+)"', by_code)
    assert set(codes) == {"PK-0001", "CC-0001"}  # OT-0001 belongs to an organisation the clerk cannot see

    def found(typed: str) -> list[str]:
        page = text(client.get(f"/orders/devices?q={typed}", headers=HTMX))
        return re.findall(r'data-device-code="([^"]+)"', page)

    assert len(found("PK-1")) == 10
    assert found("区 11 号") == ["PK-1011"]
    assert 'id="no-device-match"' in text(client.get("/orders/devices?q=%25%25", headers=HTMX))


# ----------------------------------------------------------------------------------------------------------
# Quick logging
# ----------------------------------------------------------------------------------------------------------


def quick_form(world, **changes) -> dict:
    values = {"device_id": str(world.police_device.id), "device_query": "", "organisation": "",
              "service_type": "repair", "channel": "phone", "summary": "Screen is dead",
              "description": "Caller at the front desk", "severity": "urgent", "mode": "onsite"}
    values.update(changes)
    return values


def orders_count() -> int:
    return db.session.scalar(select(func.count()).select_from(WorkOrder))


def test_quick_logging_a_phone_report(client, world):
    sign_in(client, "clerk")
    assert 'id="quick-log"' in text(client.get("/orders/new"))
    response = client.post("/orders/new", data=quick_form(world))
    order = db.session.scalars(select(WorkOrder)).one()
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/orders/{order.number}")
    assert (order.device_id, order.organisation_id, order.channel, order.severity, order.status) == \
        (world.police_device.id, world.police.id, "phone", "urgent", "accepted")
    assert order.created_by_id == world.clerk.id and order.remote is False
    assert [event.type for event in order.events] == ["report", "accept"]
    page = text(client.get(response.headers["Location"]))
    assert f'data-number="{order.number}"' in page and 'data-state="running"' in page


def test_quick_logging_by_typed_code_without_picking(client, world):
    sign_in(client, "clerk")
    response = client.post("/orders/new", data=quick_form(world, device_id="", device_query="pk-0001",
                                                          mode="remote"))
    assert response.status_code == 302
    order = db.session.scalars(select(WorkOrder)).one()
    assert order.device_id == world.police_device.id and order.organisation_id == world.police.id
    assert order.remote is True


def test_quick_logging_classifies_a_campus_order(client, world):
    sign_in(client, "clerk")
    data = quick_form(world, device_id=str(world.campus_device.id), severity="", affected_terminals="7")
    assert client.post("/orders/new", data=data).status_code == 302
    order = db.session.scalars(select(WorkOrder)).one()
    assert (order.severity, order.severity_manual, order.affected_terminals) == ("larger", False, 7)
    assert "7" in order.severity_reason


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"summary": "  "}, "summary"),
        ({"device_id": "", "device_query": "NOPE-404"}, "device_query"),
        ({"device_id": "", "organisation": ""}, "organisation"),
        ({"device_id": str(3)}, "organisation"),  # another organisation's device is not found
        ({"affected_terminals": "many"}, "affected_terminals"),
        ({"organisation": "CAMPUS", "device_id": "", "severity": ""}, "severity"),
    ],
)
def test_quick_logging_errors_keep_what_was_typed(client, world, changes, field):
    if changes.get("organisation") == "CAMPUS":
        changes = {**changes, "organisation": str(world.campus.id)}
    sign_in(client, "clerk")
    response = client.post("/orders/new", data=quick_form(world, **changes))
    page = text(response)
    assert response.status_code == 200
    assert orders_count() == 0
    assert re.search(rf'id="{field}"[^>]*is-invalid|is-invalid[^>]*id="{field}"', page), field
    assert "Caller at the front desk" in page


def test_quick_logging_shows_every_mistake_at_once(client, world):
    sign_in(client, "clerk")
    data = quick_form(world, device_id="", device_query="NOPE-404", organisation=str(world.police.id),
                      summary="")
    page = text(client.post("/orders/new", data=data))
    assert orders_count() == 0
    assert re.search(r'id="device_query"[^>]*is-invalid|is-invalid[^>]*id="device_query"', page)
    assert re.search(r'id="summary"[^>]*is-invalid|is-invalid[^>]*id="summary"', page)


def test_quick_logging_rejects_a_device_of_another_organisation_than_chosen(client, world):
    sign_in(client, "clerk")
    page = text(client.post("/orders/new", data=quick_form(world, organisation=str(world.campus.id))))
    assert orders_count() == 0
    assert 'id="device_query"' not in page  # the picked device stays picked
    assert f'data-device-id="{world.police_device.id}"' in page
    assert "invalid-feedback" in page or "alert-danger" in page


def test_picking_a_device_preselects_its_organisation(client, world):
    sign_in(client, "clerk")
    response = client.post(f"/orders/new?pick={world.campus_device.id}", data=quick_form(world, device_id=""),
                           headers=HTMX)
    body = text(response)
    assert "<html" not in body and orders_count() == 0
    assert f'data-device-id="{world.campus_device.id}"' in body
    assert re.search(rf'<option selected value="{world.campus.id}">', body)
    assert 'id="classification"' in body and 'hx-swap-oob="true"' in body
    cleared = text(client.post("/orders/new?pick=", data=quick_form(world), headers=HTMX))
    assert 'id="device_query"' in cleared and "data-device-id" not in cleared
    other_url = f"/orders/new?pick={world.other_device.id}"
    other = text(client.post(other_url, data=quick_form(world), headers=HTMX))
    assert "data-device-id" not in other


def test_classification_is_shown_live(client, world):
    sign_in(client, "clerk")

    def decided(query: str) -> str:
        body = text(client.get(f"/orders/classify?{query}", headers=HTMX))
        assert "<html" not in body
        return re.search(r'data-severity="([^"]*)"', body).group(1)

    assert decided(f"organisation={world.campus.id}&affected_terminals=7") == "larger"
    campus = f"organisation={world.campus.id}"
    assert decided(f"{campus}&affected_terminals=3&affected_cardholders=1000") == "severe"
    assert decided(f"organisation={world.campus.id}&affected_terminals=3&cause=bank") == "special"
    assert decided(f"device_id={world.campus_device.id}&affected_cardholders=1") == "general"
    assert decided(f"organisation={world.campus.id}") == ""
    assert decided(f"organisation={world.police.id}&affected_terminals=7") == ""
    assert decided(f"organisation={world.other.id}&affected_terminals=7") == ""
    assert "text-danger" in text(client.get(f"/orders/classify?{campus}&affected_terminals=x"))


def test_requesters_may_log_but_auditors_may_not(client, world):
    sign_in(client, "auditor")
    assert client.get("/orders/new").status_code == 403
    assert client.get("/orders/").status_code == 200
    sign_in(client, "requester")
    assert client.post("/orders/new", data=quick_form(world, channel="web")).status_code == 302
    assert db.session.scalars(select(WorkOrder)).one().status == "reported"


# ----------------------------------------------------------------------------------------------------------
# The order page and its steps
# ----------------------------------------------------------------------------------------------------------


def steps_offered(page: str) -> list[str]:
    found = re.search(r'data-steps="([^"]*)"', page)
    return found.group(1).split() if found else []


def test_the_timeline_names_a_breach_its_clock_and_the_system(client, world):
    """A clock the sweep marked breached shows on the timeline as a breach of that clock, by the system,
    in the user's language; a step a person took shows their name."""
    from portal.sla.sweep import sweep

    late = log(world, minutes_ago=150)  # urgent police order: response due after 0.5 h, arrival and repair 2 h
    sweep()
    sign_in(client, "clerk")
    page = text(client.get(f"/orders/{late.number}"))
    entries = [entry[:entry.index("</li>")] for entry in page.split('data-event="breach"')[1:]]
    assert all("Deadline breached" in entry and "System" in entry for entry in entries)
    clocks = {re.search(r'data-clock="(\w+)">([^<]+)<', entry).groups() for entry in entries}
    assert clocks == {("response", "Response"), ("arrival", "Arrival on site"), ("repair", "Repair")}
    assert ">breach<" not in page
    world.clerk.display_name = "赵敏"
    db.session.commit()
    page = text(client.get(f"/orders/{late.number}"))
    reported = page[page.index('data-event="report"'):]
    assert "赵敏" in reported[:reported.index("</li>")]  # who took a step: their name, not their username
    client.get("/lang/zh_CN")
    entry = text(client.get(f"/orders/{late.number}"))
    assert "时限已超" in entry and "系统" in entry


def test_order_page_shows_the_steps_the_user_may_take(client, world):
    order = log(world, device=world.police_device)
    sign_in(client, "clerk")
    page = text(client.get(f"/orders/{order.number}"))
    assert steps_offered(page) == ["respond", "arrive", "pause", "extend", "spare_provided", "assign"]
    assert 'id="severity-form"' in page and 'id="device-link"' in page
    assert [m for m in re.findall(r'data-clock="(\w+)" data-state="(\w+)"', page)] == [
        ("response", "running"), ("arrival", "running"), ("repair", "running"), ("factory", "none")]
    sign_in(client, "engineer")
    assert "assign" not in steps_offered(text(client.get(f"/orders/{order.number}")))
    sign_in(client, "requester")
    page = text(client.get(f"/orders/{order.number}"))
    assert steps_offered(page) == [] and 'id="severity-form"' not in page


def test_far_police_device_arrival_is_per_contract(client, world):
    far = factories.device("PK-FAR", world.police, distance_km=150)
    world.police.contracts[0].far_arrival_hours = None
    db.session.commit()
    order = log(world, device=far)
    sign_in(client, "clerk")
    page = text(client.get(f"/orders/{order.number}"))
    assert 'data-clock="arrival" data-state="per_contract"' in page


def test_an_order_of_a_disabled_standard_still_opens_without_clocks(app_factory, world):
    order = log(world, org=world.campus, severity="general")
    police_only = app_factory(PORTAL_PLUGINS=["police_kiosk"])
    if "workorders" not in police_only.blueprints:
        police_only.register_blueprint(bp)
    client = police_only.test_client()
    client.post("/login", data={"username": "clerk", "password": factories.PASSWORD})
    response = client.get(f"/orders/{order.number}")
    assert response.status_code == 200 and 'id="no-clocks"' in text(response)
    assert row_ids(text(client.get("/orders/"))) == [order.id]


def test_a_step_button_moves_the_order_in_place(client, world):
    order = log(world)
    sign_in(client, "clerk")
    response = client.post(f"/orders/{order.number}/steps/respond", headers=HTMX)
    body = text(response)
    assert response.status_code == 200
    assert "<html" not in body and body.lstrip().startswith('<section id="order"')
    assert 'data-status="responded"' in body and 'data-message-code="recorded"' in body
    assert 'data-clock="response" data-state="met"' in body
    assert "resolve" in steps_offered(body)
    db.session.expire_all()
    assert db.session.get(WorkOrder, order.id).status == "responded"


def test_a_step_without_javascript_redirects_back(client, world):
    order = log(world)
    sign_in(client, "clerk")
    response = client.post(f"/orders/{order.number}/steps/arrive")
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/orders/{order.number}")
    assert db.session.get(WorkOrder, order.id).status == "on_site"


def test_an_illegal_step_is_refused_in_place_with_409(client, world):
    order = log(world)
    sign_in(client, "clerk")
    response = client.post(f"/orders/{order.number}/steps/resolve", headers=HTMX)
    body = text(response)
    assert response.status_code == 409
    assert "<html" not in body and 'data-message-code="illegal_step"' in body
    assert "not allowed" in body
    assert db.session.get(WorkOrder, order.id).status == "accepted"
    assert client.post(f"/orders/{order.number}/steps/close").status_code == 409
    assert client.post(f"/orders/{order.number}/steps/fly").status_code == 404


def test_a_step_needing_a_reason_keeps_its_form_open(client, world):
    order = log(world)
    sign_in(client, "clerk")
    response = client.post(f"/orders/{order.number}/steps/pause", data={"reason": " "}, headers=HTMX)
    body = text(response)
    assert response.status_code == 422
    assert 'data-step-form="pause" open' in body and "is-invalid" in body
    assert db.session.get(WorkOrder, order.id).status == "accepted"
    paused = client.post(f"/orders/{order.number}/steps/pause", data={"reason": "Road closed"}, headers=HTMX)
    assert paused.status_code == 200 and 'data-clock="repair" data-state="paused"' in text(paused)


def test_an_extension_needs_the_requesters_approval_and_moves_the_deadline(client, world):
    order = log(world)
    due = order.due_repair
    sign_in(client, "clerk")
    refused = client.post(f"/orders/{order.number}/steps/extend", headers=HTMX,
                          data={"hours": "2", "reason": "Mountain road", "approved_by": "engineer"})
    assert refused.status_code == 422 and 'value="Mountain road"' in text(refused)
    granted = client.post(f"/orders/{order.number}/steps/extend", headers=HTMX,
                          data={"hours": "2", "reason": "Mountain road", "approved_by": "requester"})
    assert granted.status_code == 200
    db.session.expire_all()
    order = db.session.get(WorkOrder, order.id)
    assert order.due_repair == due + timedelta(hours=2)
    assert order.events[-1].approved_by_id == world.requester.id


def test_assigning_is_limited_to_the_contracted_providers_engineers(client, world):
    outsider = factories.user("engineer_b", "engineer", prov=world.prov_b)
    order = log(world)
    sign_in(client, "clerk")
    page = text(client.get(f"/orders/{order.number}"))
    assert f'<option value="{world.engineer.id}"' in page and f'<option value="{outsider.id}"' not in page
    url = f"/orders/{order.number}/steps/assign"
    assert client.post(url, data={"assignee": outsider.id}, headers=HTMX).status_code == 422
    assert client.post(url, data={"assignee": world.engineer.id}, headers=HTMX).status_code == 200
    assert db.session.get(WorkOrder, order.id).assignee_id == world.engineer.id
    sign_in(client, "engineer")
    assert client.post(url, data={"assignee": world.engineer.id}).status_code == 403
    sign_in(client, "requester")
    assert client.post(f"/orders/{order.number}/steps/respond").status_code == 403


def test_changing_the_severity_recomputes_the_deadline(client, world):
    order = log(world)
    accepted = order.accepted_at
    assert order.due_repair == accepted + timedelta(hours=2)
    sign_in(client, "clerk")
    url = f"/orders/{order.number}/severity"
    refused = client.post(url, data={"severity": "minor", "reason": ""}, headers=HTMX)
    assert refused.status_code == 422 and "is-invalid" in text(refused)
    assert db.session.get(WorkOrder, order.id).due_repair == accepted + timedelta(hours=2)
    changed = client.post(url, data={"severity": "minor", "reason": "Lamp only"}, headers=HTMX)
    body = text(changed)
    assert changed.status_code == 200 and 'data-severity="minor"' in body
    db.session.expire_all()
    order = db.session.get(WorkOrder, order.id)
    assert (order.severity, order.severity_manual) == ("minor", True)
    assert order.due_repair == accepted + timedelta(hours=8)
    event = db.session.scalars(select(WorkOrderEvent).where(WorkOrderEvent.type == "severity")).one()
    assert event.reason == "Lamp only" and event.data == {"from": "urgent", "to": "minor"}
    sign_in(client, "engineer")
    assert client.post(url, data={"severity": "urgent", "reason": "x"}).status_code == 403


# ----------------------------------------------------------------------------------------------------------
# The engineer's view
# ----------------------------------------------------------------------------------------------------------


def test_my_orders_are_cards_with_big_step_buttons(client, world):
    mine = step(log(world, device=world.police_device), "assign", world.clerk, assignee=world.engineer)
    not_mine = log(world)
    sign_in(client, "engineer")
    page = text(client.get("/orders/mine"))
    assert f'id="order-{mine.id}"' in page and f'id="order-{not_mine.id}"' not in page
    assert "btn-lg" in page and 'name="view" value="card"' in page
    response = client.post(f"/orders/{mine.number}/steps/respond", data={"view": "card"}, headers=HTMX)
    body = text(response)
    assert response.status_code == 200 and "<html" not in body
    assert body.lstrip().startswith(f'<article class="card h-100" id="order-{mine.id}"')
    assert 'data-status="responded"' in body
    illegal = client.post(f"/orders/{mine.number}/steps/respond", data={"view": "card"}, headers=HTMX)
    assert illegal.status_code == 409 and f'id="order-{mine.id}"' in text(illegal)


# ----------------------------------------------------------------------------------------------------------
# Page hygiene: CSP without inline script or style
# ----------------------------------------------------------------------------------------------------------


def test_desk_pages_have_no_inline_script_or_style(client, world):
    order = log(world, device=world.police_device)
    sign_in(client, "clerk")
    for url in ("/orders/", "/orders/new", f"/orders/{order.number}", "/orders/mine", "/orders/dashboard"):
        page = text(client.get(url))
        assert "style=" not in page, url
        assert not re.search(r"<script(?![^>]*\ssrc=)", page), url
        assert not re.search(r"\son[a-z]+=|hx-on", page), url
