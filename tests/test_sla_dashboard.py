"""The SLA dashboard: open orders by severity, clocks at risk, breaches this month and MTTR per severity
per month against the table's repair target, with exact figures from orders created here."""

from __future__ import annotations

import re
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from flask import current_app, g
from flask_login import login_user

from portal.extensions import db
from portal.types import utcnow
from portal.workorders import charts, queries, services
from portal.workorders.views import bp
from tests import factories

ZONE = "Asia/Shanghai"


@pytest.fixture(autouse=True)
def desk(app):
    """The desk's blueprint on the test app (until the app factory registers it)."""
    if "workorders" not in app.blueprints:
        app.register_blueprint(bp)


@contextmanager
def signed_in(user):
    """A request context in which ``user`` is signed in (the queries are scoped to the current user)."""
    g.pop("visible_org_ids", None)
    with current_app.test_request_context():
        login_user(user)
        yield
    g.pop("visible_org_ids", None)


def log(world, at: datetime, *, org=None, device=None, severity="urgent", actor=None, now=None, **extra):
    """A phone report logged by the desk at ``at`` (police orders are accepted when logged)."""
    new = services.NewOrder(organisation=org or world.police, summary="Fault", device=device, channel="phone",
                            severity=severity, reported_at=at, **extra)
    with current_app.test_request_context():
        order = services.create_order(new, actor or world.clerk, now=now or at)
        db.session.commit()
    return order


def steps(order, actor, *timed_steps, now=None):
    """Take (name, at, values) steps in order."""
    with current_app.test_request_context():
        for name, at, values in timed_steps:
            services.apply_step(order, name, actor, at=at, now=now or at, **values)
        db.session.commit()
    return order


def repaired(world, at: datetime, minutes: int, *, org=None, device=None, severity="urgent", actor=None,
             pause: tuple[int, int] | None = None):
    """An order accepted at ``at`` and resolved ``minutes`` later; ``pause`` = (from, to) minutes."""
    order = log(world, at, org=org, device=device, severity=severity, actor=actor)
    actor = actor or world.clerk
    first = "arrive" if order.standard == "campus_card" else "respond"
    timeline = [(first, at + timedelta(minutes=5), {})]
    if pause:
        timeline += [("pause", at + timedelta(minutes=pause[0]), {"reason": "Parts on the way"}),
                     ("resume", at + timedelta(minutes=pause[1]), {})]
    timeline.append(("resolve", at + timedelta(minutes=minutes), {}))
    return steps(order, actor, *timeline)


def attribute(page: str, element_id: str, name: str) -> str:
    """An attribute of the element with this id."""
    tag = re.search(rf'<[^>]*\bid="{re.escape(element_id)}"[^>]*>', page)
    assert tag, element_id
    return re.search(rf'\b{name}="([^"]*)"', tag.group(0)).group(1)


def dashboard(client, username="clerk") -> str:
    g.pop("visible_org_ids", None)
    client.post("/login", data={"username": username, "password": factories.PASSWORD})
    response = client.get("/orders/dashboard")
    assert response.status_code == 200
    return response.get_data(as_text=True)


# ----------------------------------------------------------------------------------------------------------
# Months in the deployment's time zone
# ----------------------------------------------------------------------------------------------------------


def test_months_run_in_the_local_time_zone():
    now = datetime(2026, 2, 28, 16, 30, tzinfo=UTC)  # 1 March 00:30 in Shanghai
    months = queries.months_until(now, ZONE, 6)
    assert [m.label for m in months] == ["2025-10", "2025-11", "2025-12", "2026-01", "2026-02", "2026-03"]
    assert months[-1].start == datetime(2026, 2, 28, 16, 0, tzinfo=UTC)
    assert months[-1].end == datetime(2026, 3, 31, 16, 0, tzinfo=UTC)
    assert months[0].start == datetime(2025, 9, 30, 16, 0, tzinfo=UTC)
    assert all(a.end == b.start for a, b in zip(months, months[1:], strict=False))
    assert queries.months_until(now, "UTC", 1)[0].label == "2026-02"


def test_mttr_month_boundary_follows_the_local_zone(app, world):
    march_start = datetime(2026, 2, 28, 16, 0, tzinfo=UTC)
    repaired(world, march_start - timedelta(minutes=70), 60)   # resolved 23:50 on 28 February, local time
    repaired(world, march_start - timedelta(minutes=50), 60)   # resolved 00:10 on 1 March, local time
    with signed_in(world.clerk):
        table = queries.mttr_by_month(queries.months_until(march_start + timedelta(days=3), ZONE, 2))
    assert table.cell("police_kiosk", "urgent", 0) == queries.Mttr(1, 3600)
    assert table.cell("police_kiosk", "urgent", 1) == queries.Mttr(1, 3600)


# ----------------------------------------------------------------------------------------------------------
# Figures on the page
# ----------------------------------------------------------------------------------------------------------


def test_mttr_per_severity_per_month_against_the_target(client, world):
    months = queries.months_until(utcnow(), ZONE, queries.MTTR_MONTHS)
    last, earlier = months[-2], months[-3]
    base = last.start + timedelta(days=10)
    day = timedelta(days=1)
    repaired(world, base, 60)                                    # urgent: 1 h
    repaired(world, base + day, 150, pause=(20, 50))             # urgent: 2 h 30 min less a 30 min pause
    repaired(world, base + 2 * day, 300, severity="medium")      # medium: 5 h, over its 4 h target
    repaired(world, base + 3 * day, 780, org=world.campus, severity="general")  # 13 h from the report
    repaired(world, base + 4 * day, 30, org=world.other, actor=world.other_clerk)  # not the clerk's
    repaired(world, earlier.start + 5 * day, 240)                # urgent two months ago: 4 h
    page = dashboard(client)

    urgent = f"mttr-police_kiosk-urgent-{last.label}"
    assert (attribute(page, urgent, "data-count"), attribute(page, urgent, "data-mean-seconds"),
            attribute(page, urgent, "data-mean-hours")) == ("2", "5400", "1.50")
    medium = f"mttr-police_kiosk-medium-{last.label}"
    assert attribute(page, medium, "data-count") == "1"
    assert attribute(page, medium, "data-mean-hours") == "5.00"
    general = f"mttr-campus_card-general-{last.label}"
    assert attribute(page, general, "data-count") == "1"
    assert attribute(page, general, "data-mean-seconds") == "46800"
    assert attribute(page, f"mttr-police_kiosk-urgent-{earlier.label}", "data-mean-hours") == "4.00"
    assert attribute(page, f"mttr-police_kiosk-minor-{last.label}", "data-count") == "0"

    chart = re.search(r'<svg[^>]*id="chart-police_kiosk-medium".*?</svg>', page, re.S).group(0)
    assert 'data-target="4"' in chart and 'class="target"' in chart
    bar = re.search(rf'<rect class="bar"[^>]*data-month="{last.label}"[^>]*>', chart).group(0)
    assert 'fill="#dc3545"' in bar and 'data-value="5.00"' in bar
    urgent_chart = re.search(r'<svg[^>]*id="chart-police_kiosk-urgent".*?</svg>', page, re.S).group(0)
    assert 'fill="#198754"' in re.search(rf'<rect class="bar"[^>]*data-month="{last.label}"[^>]*>',
                                         urgent_chart).group(0)
    special = re.search(r'<svg[^>]*id="chart-campus_card-special".*?</svg>', page, re.S).group(0)
    assert 'class="target"' not in special  # special faults have no repair target (CC-4.2)
    assert "style=" not in page


def test_open_orders_at_risk_and_breaches(client, world):
    now = utcnow()
    log(world, now - timedelta(minutes=25))                          # response clock 83% used
    log(world, now - timedelta(minutes=5))                           # 17% used
    log(world, now - timedelta(minutes=6), severity="medium")
    log(world, now, org=world.campus, severity=None, affected_terminals=7)
    paused = log(world, now - timedelta(minutes=27))
    steps(paused, world.clerk, ("pause", now - timedelta(minutes=1), {"reason": "Requester away"}), now=now)
    done = log(world, now - timedelta(minutes=20))
    steps(done, world.clerk, ("respond", now - timedelta(minutes=15), {}),
          ("resolve", now - timedelta(minutes=10), {}), now=now)
    log(world, now - timedelta(minutes=25), org=world.other, actor=world.other_clerk)
    page = dashboard(client)
    assert attribute(page, "open-police_kiosk-urgent", "data-count") == "3"
    assert attribute(page, "open-police_kiosk-medium", "data-count") == "1"
    assert attribute(page, "open-police_kiosk-minor", "data-count") == "0"
    assert attribute(page, "open-campus_card-larger", "data-count") == "1"
    assert attribute(page, "at-risk-total", "data-count") == "1"
    risk = re.search(r'data-number="([^"]+)" data-clock="(\w+)" data-used="([^"]+)"', page)
    assert risk.group(2) == "response" and Decimal(risk.group(3)) >= Decimal("0.8")


def test_risk_and_breach_figures_at_a_fixed_time(app, world):
    now = datetime(2026, 6, 15, 4, 0, tzinfo=UTC)
    june = queries.month_of(now, ZONE)
    at_risk = log(world, now - timedelta(minutes=25), now=now)
    log(world, now - timedelta(minutes=10), now=now)
    late = log(world, now - timedelta(hours=3), now=now)
    steps(late, world.clerk, ("respond", now - timedelta(hours=2), {}), now=now)  # response 1.5 h late
    log(world, now - timedelta(hours=1), now=now)                   # response overdue, not yet swept
    paused = log(world, now - timedelta(hours=1), now=now)
    steps(paused, world.clerk, ("pause", now - timedelta(minutes=40), {"reason": "Road closed"}), now=now)
    may = log(world, datetime(2026, 5, 20, 2, 0, tzinfo=UTC), now=now)
    steps(may, world.clerk, ("respond", datetime(2026, 5, 20, 4, 0, tzinfo=UTC), {}), now=now)
    hidden = log(world, now - timedelta(hours=3), org=world.other, actor=world.other_clerk, now=now)
    steps(hidden, world.other_clerk, ("respond", now - timedelta(hours=2), {}), now=now)
    with signed_in(world.clerk):
        total, risks = queries.clocks_at_risk(now)
        breaches = queries.breaches_between(june.start, june.end, now)
    assert total == 1 and [(r.order.id, r.clock) for r in risks] == [(at_risk.id, "response")]
    assert risks[0].used == Decimal("0.83")
    # late: response met late; late and overdue: arrival (2 h) and repair (2 h, urgent) overdue unless paused
    # response: met late by one, overdue in the other; arrival and repair (2 h) overdue in the late one only;
    # the paused order's deadlines moved with the pause, May's breaches are not June's
    assert breaches == {"response": 2, "arrival": 1, "repair": 1, "factory": 0}


def test_chart_geometry():
    chart = charts.bar_chart("MTTR", [("2026-05", Decimal("1.50"), 2), ("2026-06", None, 0),
                                      ("2026-07", Decimal("3"), 1)], Decimal("2"))
    low, empty, high = chart.bars
    assert not low.over_target and high.over_target and empty.value is None and empty.height == 0
    assert high.height > chart.baseline - chart.target_y > low.height > 0
    assert chart.ticks[0].y == chart.baseline and [tick.value for tick in chart.ticks] == [0, 1, 2, 3, 4]
    assert charts.bar_chart("Empty", [("2026-07", None, 0)], None).target_y is None
