"""Sign-in, sessions, headers and error pages of the core."""

from __future__ import annotations


def test_home_redirects_anonymous_to_sign_in(client):
    response = client.get("/")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_sign_in_and_out(client, auth, world):
    response = auth.login("clerk")
    assert response.status_code == 302
    home = client.get("/")
    assert "clerk" in home.get_data(as_text=True)
    auth.logout()
    assert client.get("/").status_code == 302


def test_wrong_password_is_refused_in_chinese(client, auth, world):
    response = auth.login("clerk", "wrong-password")
    assert response.status_code == 200
    assert "用户名或密码错误" in response.get_data(as_text=True)
