"""Error pages: 400, 403, 404, 405 and 500 in the user's language, never a stack trace."""

from __future__ import annotations

import pytest


def test_an_unknown_url_gives_the_404_page_in_chinese_by_default(client):
    response = client.get("/no-such-page")
    body = response.get_data(as_text=True)
    assert response.status_code == 404
    assert '<html lang="zh-CN">' in body
    assert 'class="py-5 text-center error-page"' in body
    assert ">404<" in body


def test_the_404_page_in_english_after_switching(client):
    client.get("/lang/en")
    response = client.get("/no-such-page")
    body = response.get_data(as_text=True)
    assert response.status_code == 404
    assert '<html lang="en">' in body
    assert "<title>Page not found" in body
    assert "Page not found" in body


def test_an_htmx_request_for_an_unknown_url_gets_a_fragment(client):
    client.get("/lang/en")
    response = client.get("/no-such-page", headers={"HX-Request": "true"})
    body = response.get_data(as_text=True)
    assert response.status_code == 404
    assert "<html" not in body
    assert 'role="alert"' in body and "Page not found" in body


def test_a_boosted_navigation_to_an_unknown_url_gets_the_whole_page(client):
    response = client.get("/no-such-page", headers={"HX-Request": "true", "HX-Boosted": "true"})
    assert response.status_code == 404
    assert "<html" in response.get_data(as_text=True)


def test_a_forbidden_page_gives_the_403_page(client, auth, world):
    auth.login("requester")
    client.get("/lang/en")
    response = client.get("/audit/")
    body = response.get_data(as_text=True)
    assert response.status_code == 403
    assert "<title>Access denied" in body
    assert ">403<" in body


def test_another_organisations_record_answers_404(client, auth, world):
    auth.login("other_requester")
    response = client.get(f"/devices/{world.police_device.id}")
    assert response.status_code == 404
    assert 'class="py-5 text-center error-page"' in response.get_data(as_text=True)


def test_a_wrong_method_gives_the_405_page(client):
    client.get("/lang/en")
    response = client.get("/logout")
    body = response.get_data(as_text=True)
    assert response.status_code == 405
    assert "<title>Method not allowed" in body
    assert "POST" in response.headers["Allow"]


@pytest.fixture
def exploding_app(app_factory):
    """An app with a view that fails, reporting errors as production does (not re-raised to the test)."""
    app = app_factory(PROPAGATE_EXCEPTIONS=False)

    @app.route("/explode")
    def explode():
        raise RuntimeError("secret internals: password=hunter2")

    return app


def test_a_failing_view_gives_the_500_page_without_a_stack_trace(exploding_app, caplog):
    client = exploding_app.test_client()
    client.get("/lang/en")
    response = client.get("/explode")
    body = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "<title>Something went wrong" in body
    assert "Traceback" not in body
    assert "RuntimeError" not in body and "hunter2" not in body
    assert any("hunter2" in str(record.exc_info[1]) for record in caplog.records if record.exc_info)


def test_a_failing_view_in_chinese_and_for_htmx(exploding_app):
    client = exploding_app.test_client()
    page = client.get("/explode")
    fragment = client.get("/explode", headers={"HX-Request": "true"})
    assert page.status_code == fragment.status_code == 500
    assert '<html lang="zh-CN">' in page.get_data(as_text=True)
    assert "<html" not in fragment.get_data(as_text=True)
    assert "Traceback" not in fragment.get_data(as_text=True)
