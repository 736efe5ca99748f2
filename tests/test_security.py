"""CSRF, security headers, no inline script or style, no open redirects, HttpOnly session cookies."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from flask import url_for

from tests import factories

TOKEN_FIELD = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
TOKEN_HEADER = re.compile(r'"X-CSRFToken": "([^"]+)"')


def form_token(response) -> str:
    """The CSRF token of the first form on a page."""
    return TOKEN_FIELD.search(response.get_data(as_text=True)).group(1)


@pytest.fixture
def csrf_client(app_factory, world):
    """A client of an app with CSRF protection on, as in production."""
    return app_factory(WTF_CSRF_ENABLED=True).test_client()


def sign_in_with_token(client, username: str):
    token = form_token(client.get("/login"))
    credentials = {"username": username, "password": factories.PASSWORD}
    return client.post("/login", data={**credentials, "csrf_token": token})


# --- CSRF ----------------------------------------------------------------------------------------------


def test_a_post_without_token_is_refused_with_the_error_page(csrf_client):
    csrf_client.get("/lang/en")
    response = csrf_client.post("/login", data={"username": "admin", "password": factories.PASSWORD})
    body = response.get_data(as_text=True)
    assert response.status_code == 400
    assert '<html lang="en">' in body
    assert "Bad request" in body
    assert "The form has expired or was not sent from this portal." in body
    assert "Traceback" not in body
    assert csrf_client.get("/").status_code == 302  # not signed in


def test_an_htmx_post_without_token_gets_the_error_fragment(csrf_client):
    response = csrf_client.post("/login", data={"username": "admin", "password": factories.PASSWORD},
                                headers={"HX-Request": "true"})
    body = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "<html" not in body
    assert 'role="alert"' in body


def test_a_wrong_token_is_refused(csrf_client):
    response = csrf_client.post("/login", data={"username": "admin", "password": factories.PASSWORD,
                                                "csrf_token": "forged"})
    assert response.status_code == 400


def test_the_token_from_the_page_lets_the_post_through(csrf_client):
    response = sign_in_with_token(csrf_client, "admin")
    assert response.status_code == 302
    assert csrf_client.get("/").status_code == 200


def test_htmx_requests_carry_the_token_in_a_header(csrf_client):
    sign_in_with_token(csrf_client, "auditor")
    page = csrf_client.get("/audit/").get_data(as_text=True)
    token = TOKEN_HEADER.search(page).group(1)

    refused = csrf_client.post("/audit/verify", headers={"HX-Request": "true"})
    accepted = csrf_client.post("/audit/verify", headers={"HX-Request": "true", "X-CSRFToken": token})
    assert refused.status_code == 400
    assert "<html" not in refused.get_data(as_text=True)
    assert accepted.status_code == 200
    assert 'data-intact="true"' in accepted.get_data(as_text=True)


def test_sign_out_without_token_is_refused(csrf_client):
    sign_in_with_token(csrf_client, "clerk")
    assert csrf_client.post("/logout").status_code == 400
    assert csrf_client.get("/").status_code == 200  # still signed in


# --- Headers -------------------------------------------------------------------------------------------


def csp_directives(response) -> dict[str, list[str]]:
    policy = response.headers["Content-Security-Policy"]
    directives = (part.split() for part in policy.split(";") if part.strip())
    return {name: values for name, *values in directives}


def assert_security_headers(response) -> None:
    directives = csp_directives(response)
    script_sources = directives.get("script-src", directives.get("default-src"))
    style_sources = directives.get("style-src", directives.get("default-src"))
    assert script_sources
    assert "'unsafe-inline'" not in script_sources and "'unsafe-eval'" not in script_sources
    assert style_sources and "'unsafe-inline'" not in style_sources
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["object-src"] == ["'none'"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_pages_carry_the_security_headers(client, auth, world):
    assert_security_headers(client.get("/login"))
    auth.login("admin")
    home = client.get("/")
    assert home.status_code == 200
    assert_security_headers(home)
    assert_security_headers(client.get("/audit/", headers={"HX-Request": "true"}))


def test_error_responses_carry_the_security_headers(client, auth, world):
    assert_security_headers(client.get("/no-such-page"))
    assert_security_headers(client.get("/logout"))  # 405
    auth.login("requester")
    assert_security_headers(client.get("/audit/"))  # 403


def test_csrf_errors_carry_the_security_headers(csrf_client):
    response = csrf_client.post("/login", data={})
    assert response.status_code == 400
    assert_security_headers(response)


def test_a_server_error_carries_the_security_headers(app_factory):
    app = app_factory(PROPAGATE_EXCEPTIONS=False)

    @app.route("/explode")
    def explode():
        raise RuntimeError("boom")

    response = app.test_client().get("/explode")
    assert response.status_code == 500
    assert_security_headers(response)


# --- No inline script or style -------------------------------------------------------------------------


class InlineFinder(HTMLParser):
    """Collects what a strict CSP would block: inline scripts, style blocks and attributes, handlers."""

    def __init__(self):
        super().__init__()
        self.problems: list[str] = []

    def handle_starttag(self, tag, attrs):
        names = {name for name, _value in attrs}
        if tag == "script" and "src" not in names:
            self.problems.append("<script> without src")
        if tag == "style":
            self.problems.append("<style> block")
        self.problems.extend(f"{name}= on <{tag}>" for name in names
                             if name == "style" or name.startswith("on") or name.startswith("hx-on"))


def inline_problems(response) -> list[str]:
    finder = InlineFinder()
    finder.feed(response.get_data(as_text=True))
    return finder.problems


def test_the_sign_in_page_has_no_inline_script_or_style(client):
    response = client.get("/login")
    assert response.status_code == 200
    assert '<script src="' in response.get_data(as_text=True)
    assert inline_problems(response) == []


@pytest.mark.parametrize("username", ["admin", "auditor", "clerk", "requester"])
def test_core_pages_have_no_inline_script_or_style(app, client, auth, world, username):
    auth.login(username)
    with app.test_request_context():
        urls = [url_for(endpoint, **values) for endpoint, values in (
            ("core.home", {}), ("devices.index", {}), ("forms.index", {}), ("admin.index", {}),
            ("devices.detail", {"device_id": world.police_device.id}),
            ("audit.index", {}), ("audit.event", {"event_id": 1}),
            ("public.report", {"code": world.police_device.code}),
        )]
    for url in [*urls, "/no-such-page"]:
        response = client.get(url)
        assert response.status_code in (200, 403, 404), url
        assert inline_problems(response) == [], url


def test_the_verify_page_and_error_pages_have_no_inline_script_or_style(client, auth, world):
    auth.login("admin")
    assert inline_problems(client.post("/audit/verify")) == []
    assert inline_problems(client.get("/logout")) == []


# --- Redirects and cookies -----------------------------------------------------------------------------

EVIL_TARGETS = ["https://evil.example/", "//evil.example/", "/\\evil.example/", "https:/evil.example",
                "\\\\evil.example", "javascript:alert(1)", " //evil.example"]


def assert_stays_on_site(response) -> None:
    assert response.status_code == 302
    location = response.headers["Location"]
    parts = urlsplit(location)
    assert parts.scheme in ("", "http") and parts.netloc in ("", "localhost"), location
    assert parts.path.startswith("/") and not parts.path.startswith(("//", "/\\")), location


@pytest.mark.parametrize("target", EVIL_TARGETS)
def test_sign_in_never_redirects_to_another_site(client, world, target):
    response = client.post("/login", query_string={"next": target},
                           data={"username": "clerk", "password": factories.PASSWORD})
    assert_stays_on_site(response)


@pytest.mark.parametrize("target", EVIL_TARGETS)
def test_the_language_switch_never_redirects_to_another_site(client, target):
    assert_stays_on_site(client.get("/lang/en", query_string={"next": target}))


def test_a_local_next_is_followed_after_sign_in(client, world):
    response = client.post("/login?next=/audit/",
                           data={"username": "auditor", "password": factories.PASSWORD})
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/audit/"


def test_the_session_cookie_is_httponly_and_samesite(client, world):
    response = client.post("/login", data={"username": "clerk", "password": factories.PASSWORD})
    cookies = [value for value in response.headers.getlist("Set-Cookie") if value.startswith("session=")]
    assert cookies
    for cookie in cookies:
        assert "HttpOnly" in cookie
        assert "SameSite=Lax" in cookie


# --- Rate limits ---------------------------------------------------------------------------------------


def failed_sign_in(client, username: str, address: str):
    return client.post("/login", data={"username": username, "password": "wrong"},
                       environ_overrides={"REMOTE_ADDR": address})


def test_failed_sign_ins_are_limited_per_address_and_per_username(app_factory, world):
    client = app_factory(PORTAL_LOGIN_LIMIT="3 per minute").test_client()
    for _attempt in range(3):
        assert failed_sign_in(client, "clerk", "10.0.0.1").status_code == 200
    assert failed_sign_in(client, "clerk", "10.0.0.1").status_code == 429
    # The same name from elsewhere is still refused; another name from elsewhere is not.
    assert failed_sign_in(client, "clerk", "10.0.0.2").status_code == 429
    assert failed_sign_in(client, "engineer", "10.0.0.3").status_code == 200
    assert client.get("/login").status_code == 200


def test_a_successful_sign_in_does_not_count_against_the_limit(app_factory, world):
    client = app_factory(PORTAL_LOGIN_LIMIT="2 per minute").test_client()
    for _attempt in range(3):
        response = client.post("/login", data={"username": "clerk", "password": factories.PASSWORD})
        assert response.status_code == 302
        client.post("/logout")


def test_a_default_limit_set_in_the_configuration_applies_to_every_page(app_factory, world):
    from portal.extensions import limiter

    try:
        client = app_factory(RATELIMIT_DEFAULT="2 per minute").test_client()
        assert [client.get("/lang/en").status_code for _attempt in range(3)] == [302, 302, 429]
    finally:
        limiter.limit_manager.set_default_limits([])  # the extension is one per process: later apps have none
