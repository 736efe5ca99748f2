"""The clerk's desk in a real browser: log a phone report for a device found by typing its code, land on
the order page, step it to resolved with the buttons, and watch the clocks count down and turn "met"."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from portal.auth.models import User
from portal.extensions import db
from portal.orgs.models import Organisation
from portal.types import utcnow
from portal.workorders import services
from portal.workorders.views import bp
from tests.browser.conftest import screenshot_path

pytestmark = pytest.mark.browser


@pytest.fixture(autouse=True)
def desk(live_server):
    """The desk's blueprint on the served app (until the app factory registers it), before any request."""
    if "workorders" not in live_server.app.blueprints:
        live_server.app.register_blueprint(bp)


@pytest.fixture
def csp_errors(page):
    """Console messages about the Content-Security-Policy (an inline script or style would cause one)."""
    found = []
    page.on("console", lambda message: found.append(message.text)
            if "Content Security Policy" in message.text else None)
    return found


def clock(page, name: str):
    return page.locator(f"#clock-{name}")


def take_step(page, step: str) -> None:
    """Press a step button and wait until the order's section was swapped in place."""
    page.evaluate("() => { document.querySelector('#order').dataset.before = '1'; }")
    page.locator(f'#steps button[data-step="{step}"]').click()
    expect(page.locator("#order[data-before]")).to_have_count(0)


def mark_document(page) -> None:
    """Tag the current document; the tag survives htmx swaps and disappears on a full page load."""
    page.evaluate("() => { window.portalTestDocument = true; }")


def test_log_a_phone_report_and_step_it_to_resolved(page, live_server, login, request, csp_errors):
    login(page, "clerk")
    page.goto("/orders/new")
    mark_document(page)

    page.locator("#device_query").press_sequentially("PK-00", delay=40)
    match = page.locator('#device-match-list [data-device-code="PK-0001"]')
    expect(match).to_be_visible()
    match.click()
    expect(page.locator("#chosen-device")).to_contain_text("PK-0001")
    police_id = live_server.run(lambda: str(db.session.scalar(
        select(Organisation.id).where(Organisation.code == "TJPSB"))))
    expect(page.locator("#organisation")).to_have_value(police_id)
    expect(page.locator("#channel")).to_have_value("phone")

    page.locator("#summary").fill("Screen stays black")
    page.locator("#description").fill("The caller at the front desk says nothing shows since the morning.")
    page.locator("#severity").select_option("urgent")
    page.locator("#log-order").click()

    expect(page).to_have_url(re.compile(r"/orders/WO\d{8}$"))
    expect(page.locator("#order")).to_have_attribute("data-status", "accepted")
    assert page.evaluate("() => window.portalTestDocument === true"), "logging reloaded the whole page"
    expect(page.locator('#timeline [data-event="accept"]')).to_have_count(1)
    for name in ("response", "arrival", "repair"):
        expect(clock(page, name)).to_have_attribute("data-state", "running")
    expect(clock(page, "factory")).to_have_attribute("data-state", "none")

    countdown = clock(page, "response").locator(".clock-countdown")
    first = countdown.inner_text()
    assert re.search(r"\b0:[23]\d:\d\d\b", first), first
    expect(countdown).not_to_have_text(first, timeout=5_000)  # counts down without a reload
    # caret="hide" would leave style attributes behind, which the next swap copies (a CSP report)
    page.screenshot(path=screenshot_path(request, "-logged"), full_page=True, caret="initial")

    take_step(page, "respond")
    expect(page.locator("#order")).to_have_attribute("data-status", "responded")
    expect(clock(page, "response")).to_have_attribute("data-state", "met")
    expect(clock(page, "response").locator(".clock-countdown")).to_have_count(0)
    expect(clock(page, "arrival")).to_have_attribute("data-state", "running")

    take_step(page, "arrive")
    expect(page.locator("#order")).to_have_attribute("data-status", "on_site")
    expect(clock(page, "arrival")).to_have_attribute("data-state", "met")
    repair = clock(page, "repair").locator(".clock-countdown")
    before = repair.inner_text()
    expect(repair).not_to_have_text(before, timeout=5_000)

    take_step(page, "resolve")
    expect(page.locator("#order")).to_have_attribute("data-status", "resolved")
    expect(clock(page, "repair")).to_have_attribute("data-state", "met")
    expect(page.locator(".clock-countdown")).to_have_count(0)
    expect(page.locator("#timeline [data-event]")).to_have_count(5)
    assert page.evaluate("() => window.portalTestDocument === true"), "a step reloaded the whole page"
    assert csp_errors == []


def requester_report():
    """A report a requester logged on the web 10 minutes ago: it waits for the desk to accept it."""
    requester = db.session.scalar(select(User).where(User.username == "requester"))
    new = services.NewOrder(organisation=requester.organisation, summary="Printer jams", channel="web",
                            severity="medium",
                            reported_at=utcnow() - timedelta(minutes=10))
    order = services.create_order(new, requester)
    db.session.commit()
    return order.number


def test_accepting_a_requesters_report_starts_its_clocks(page, live_server, login, csp_errors):
    with live_server.app.test_request_context():
        number = live_server.run(requester_report)
    login(page, "clerk")
    page.goto(f"/orders/{number}")
    expect(page.locator("#order")).to_have_attribute("data-status", "reported")
    expect(clock(page, "response")).to_have_attribute("data-state", "not_started")

    take_step(page, "accept")

    expect(page.locator("#order")).to_have_attribute("data-status", "accepted")
    expect(clock(page, "response")).to_have_attribute("data-state", "running")
    expect(clock(page, "repair").locator(".clock-countdown")).to_have_text(re.compile(r"\b3:5\d:\d\d\b"))

    page.goto("/orders/")
    expect(page.locator(f'#queue tr[data-number="{number}"] [data-clock="response"]')).to_be_visible()
    assert csp_errors == []
