"""Browser tests: the portal served on a loopback port, driven by Debian's Chromium through Playwright.

The server runs the real settings that matter to a user (CSRF on, imports on the job thread pool) on the
same per-test databases as the rest of the suite, so every browser test runs on SQLite and PostgreSQL.
A missing Chromium fails the run; it never skips. Each test leaves a screenshot of its final state in
``test-artifacts/screens/``.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import expect, sync_playwright
from werkzeug.serving import make_server

from portal.extensions import db
from tests import factories

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCREENS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screens"
LIVE_SETTINGS = {"TESTING": False, "WTF_CSRF_ENABLED": True, "PORTAL_JOBS_EAGER": False,
                 "PORTAL_SCHEDULER": False}
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
TIMEOUT_MS = 15_000


@dataclass
class LiveServer:
    """The portal serving on ``url`` from a background thread; ``app`` is the served app, ``world`` the
    codes of the seeded devices."""

    app: Flask
    url: str
    world: dict = field(default_factory=dict)

    def run(self, func, *args):
        """Call ``func(*args)`` in an app context of the served app (to seed or inspect the database)."""
        with self.app.app_context():
            try:
                return func(*args)
            finally:
                db.session.remove()


def _serve(app: Flask):
    """Start a threaded werkzeug server for ``app`` on a free loopback port."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    return server, thread


def _seed_world() -> dict:
    """The suite's standard world (orgs, providers, a user per role, three devices); codes for the tests."""
    world = factories.world()
    return {"police_device": world.police_device.code, "campus_device": world.campus_device.code}


@pytest.fixture
def live_server(app_factory):
    """The portal on this test's database (both backends), seeded with the standard world."""
    live = LiveServer(app=app_factory(**LIVE_SETTINGS), url="")
    live.world = live.run(_seed_world)
    server, thread = _serve(live.app)
    live.url = f"http://127.0.0.1:{server.server_port}"
    yield live
    server.shutdown()
    thread.join(timeout=10)
    server.server_close()


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the whole run; a missing /usr/bin/chromium is a failure, not a skip."""
    if not CHROMIUM.exists():
        pytest.fail(f"Chromium is not installed at {CHROMIUM}: install it (apt-get install -y chromium); "
                    "browser tests never skip", pytrace=False)
    playwright = sync_playwright().start()
    chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
    yield chromium
    chromium.close()
    playwright.stop()


def screenshot_path(request, suffix: str = "") -> Path:
    """test-artifacts/screens/<test name>[<suffix>].png, the name made safe for a file."""
    name = re.sub(r"[^\w.-]+", "-", request.node.name).strip("-")
    SCREENS.mkdir(parents=True, exist_ok=True)
    return SCREENS / f"{name}{suffix}.png"


def _open_page(browser, live_server, request, suffix: str, **context_options):
    """A page in a fresh browser context on the live server; its final state is saved as a screenshot."""
    context = browser.new_context(base_url=live_server.url, **context_options)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        yield page
    finally:
        if not page.is_closed():
            page.screenshot(path=screenshot_path(request, suffix), full_page=True)
        context.close()


@pytest.fixture
def page(browser, live_server, request):
    """A desktop-sized page (1280×800) whose relative URLs go to the live server."""
    yield from _open_page(browser, live_server, request, "", viewport=DESKTOP)


@pytest.fixture
def phone_page(browser, live_server, request):
    """A phone-sized page (390×844, touch, mobile) whose relative URLs go to the live server."""
    yield from _open_page(browser, live_server, request, "-phone", viewport=PHONE, is_mobile=True,
                          has_touch=True, device_scale_factor=2)


def login(page, username: str, password: str = factories.PASSWORD) -> None:
    """Sign in through ``#login-form`` and wait until the page shows who is signed in."""
    page.goto("/login")
    form = page.locator("#login-form")
    form.locator("input[name=username]").fill(username)
    form.locator("input[name=password]").fill(password)
    form.locator("button[type=submit]").click()
    expect(page.locator("#whoami")).to_be_visible()


@pytest.fixture(name="login")
def login_fixture():
    """The ``login(page, username)`` helper."""
    return login
