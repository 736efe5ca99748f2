"""Sessions: they end when an admin deactivates a user or changes their password, carry safe cookie flags,
expire after the configured lifetime, and repeated failed sign-ins are slowed."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import pytest

from portal.auth.models import User
from portal.extensions import db
from tests import factories
from tests.test_admin import edit_user_data

NEW_PASSWORD = "another-long-password"


def sign_in(client, username: str, password: str = factories.PASSWORD, ip: str = "127.0.0.1"):
    return client.post("/login", data={"username": username, "password": password},
                       environ_base={"REMOTE_ADDR": ip})


@pytest.fixture
def clients(portal):
    """Two browsers: the admin's and the engineer's, both signed in."""
    admin, engineer = portal.test_client(), portal.test_client()
    assert sign_in(admin, "admin").status_code == 302
    assert sign_in(engineer, "engineer").status_code == 302
    assert engineer.get("/").status_code == 200
    return admin, engineer


def test_deactivated_user_is_signed_out_on_the_next_request(clients, world):
    admin, engineer = clients
    data = edit_user_data(world.engineer, active=None)
    response = admin.post(f"/admin/users/{world.engineer.id}", data=data)
    assert response.status_code == 302
    home = engineer.get("/")
    assert home.status_code == 302 and "/login" in home.headers["Location"]
    assert sign_in(engineer, "engineer").status_code == 200


def test_reactivating_does_not_revive_the_old_session(clients, world):
    admin, engineer = clients
    admin.post(f"/admin/users/{world.engineer.id}", data=edit_user_data(world.engineer, active=None))
    db.session.refresh(world.engineer)
    admin.post(f"/admin/users/{world.engineer.id}", data=edit_user_data(world.engineer, active="y"))
    assert engineer.get("/").status_code == 302


def test_password_change_signs_the_user_out(clients, world):
    admin, engineer = clients
    data = edit_user_data(world.engineer, password=NEW_PASSWORD)
    admin.post(f"/admin/users/{world.engineer.id}", data=data)
    assert engineer.get("/").status_code == 302
    assert sign_in(engineer, "engineer").status_code == 200
    assert sign_in(engineer, "engineer", NEW_PASSWORD).status_code == 302
    assert engineer.get("/").status_code == 200


def test_other_users_stay_signed_in(clients, portal, world):
    admin, engineer = clients
    clerk = portal.test_client()
    sign_in(clerk, "clerk")
    admin.post(f"/admin/users/{world.engineer.id}", data=edit_user_data(world.engineer, active=None))
    assert clerk.get("/").status_code == 200
    assert admin.get("/admin/").status_code == 200


def test_admin_changing_their_own_password_stays_signed_in(clients, world):
    admin, _engineer = clients
    data = edit_user_data(world.admin, password=NEW_PASSWORD)
    response = admin.post(f"/admin/users/{world.admin.id}", data=data)
    assert response.status_code == 302
    assert admin.get("/admin/").status_code == 200
    db.session.refresh(world.admin)
    assert world.admin.check_password(NEW_PASSWORD)


def session_cookie(response) -> str:
    return next(header for header in response.headers.getlist("Set-Cookie") if header.startswith("session="))


def test_session_cookie_is_httponly_samesite_and_permanent(app_factory, world):
    app = app_factory(PORTAL_SESSION_HOURS=2)
    assert app.config["PERMANENT_SESSION_LIFETIME"] == timedelta(hours=2)
    client = app.test_client()
    response = sign_in(client, "clerk")
    cookie = session_cookie(response)
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    expires = parsedate_to_datetime(cookie.split("Expires=", 1)[1].split(";", 1)[0])
    expected = datetime.now(UTC) + timedelta(hours=2)
    assert abs((expires - expected).total_seconds()) < 60
    with client.session_transaction() as session:
        assert session.permanent


def test_session_ends_after_its_lifetime(app_factory, world):
    app = app_factory(PORTAL_SESSION_HOURS=1 / 3600)
    client = app.test_client()
    assert sign_in(client, "clerk").status_code == 302
    assert client.get("/").status_code == 200
    time.sleep(2.2)
    response = client.get("/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_an_active_session_is_renewed_but_not_on_every_request(app_factory, world):
    """The lifetime counts from the last request: a browser that keeps coming back stays signed in past
    it, its cookie signed again once it is a tenth of the lifetime old, not on every page."""
    steady = app_factory(PORTAL_SESSION_HOURS=1 / 60).test_client()  # a minute; renewed when 6 s old
    assert sign_in(steady, "clerk").status_code == 302
    steady.get("/")
    assert not [h for h in steady.get("/").headers.getlist("Set-Cookie") if h.startswith("session=")]
    app = app_factory(PORTAL_SESSION_HOURS=4 / 3600)  # 4 s; renewed when 0.4 s old
    client = app.test_client()
    assert sign_in(client, "clerk").status_code == 302
    for _ in range(3):
        time.sleep(1.5)
        response = client.get("/")
        assert response.status_code == 200 and session_cookie(response)
    with client.session_transaction() as session:
        session["_user_id"] = "forged"
    forged = client.get_cookie("session").value
    client.set_cookie("session", forged[:-2] + ("AA" if not forged.endswith("AA") else "BB"))
    assert client.get("/").status_code == 302


@pytest.fixture
def limited(app_factory, world):
    """A portal allowing three failed sign-ins a minute."""
    return app_factory(PORTAL_LOGIN_LIMIT="3 per minute").test_client()


def test_repeated_failed_sign_ins_are_slowed(limited):
    for _attempt in range(3):
        assert sign_in(limited, "clerk", "wrong-password").status_code == 200
    assert sign_in(limited, "clerk", "wrong-password").status_code == 429
    assert sign_in(limited, "clerk").status_code == 429


def test_successful_sign_ins_do_not_count(limited):
    for _attempt in range(2):
        assert sign_in(limited, "clerk", "wrong-password").status_code == 200
    for _attempt in range(3):
        assert sign_in(limited, "clerk").status_code == 302
        limited.post("/logout")
    assert sign_in(limited, "clerk", "wrong-password").status_code == 200
    assert sign_in(limited, "clerk", "wrong-password").status_code == 429


def test_the_limit_follows_the_username_across_addresses(limited):
    for number in range(3):
        assert sign_in(limited, "clerk", "wrong-password", ip=f"10.0.0.{number}").status_code == 200
    assert sign_in(limited, "clerk", "wrong-password", ip="10.0.0.99").status_code == 429
    assert sign_in(limited, "engineer", "wrong-password", ip="10.0.0.99").status_code == 200


def test_the_limit_follows_the_address_across_usernames(limited):
    for username in ("clerk", "engineer", "requester"):
        assert sign_in(limited, username, "wrong-password", ip="10.0.1.1").status_code == 200
    assert sign_in(limited, "auditor", "wrong-password", ip="10.0.1.1").status_code == 429
    assert sign_in(limited, "auditor", "wrong-password", ip="10.0.1.2").status_code == 200


def test_deactivated_user_cannot_sign_in(portal, world):
    user = db.session.get(User, world.requester.id)
    user.active = False
    db.session.commit()
    client = portal.test_client()
    assert sign_in(client, "requester").status_code == 200
    assert client.get("/").status_code == 302


def test_a_new_secret_key_ends_sessions_unless_the_old_one_is_kept_as_a_fallback(portal, world):
    """The session cookie's serializer is made once for the app's keys: a change of key must still count."""
    kept, ended = portal.test_client(), portal.test_client()
    for browser in (kept, ended):
        assert sign_in(browser, "engineer").status_code == 302
        assert browser.get("/").status_code == 200
    old_key = portal.secret_key
    portal.config["SECRET_KEY"] = "a-new-secret-key-for-this-test"
    portal.config["SECRET_KEY_FALLBACKS"] = [old_key]
    assert kept.get("/").status_code == 200
    portal.config["SECRET_KEY_FALLBACKS"] = []
    assert ended.get("/").status_code == 302
