"""Signing in and switching the interface language, in a real browser."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests import factories

pytestmark = pytest.mark.browser


def submit_login(page, username: str, password: str) -> None:
    form = page.locator("#login-form")
    form.locator("input[name=username]").fill(username)
    form.locator("input[name=password]").fill(password)
    form.locator("button[type=submit]").click()


def test_wrong_password_shows_the_message_and_right_one_lands_on_home(page, live_server):
    page.goto("/lang/en")
    page.goto("/login")

    submit_login(page, "clerk", "not-the-password")

    expect(page.locator("#login-form .invalid-feedback")).to_contain_text("Wrong username or password")
    expect(page.locator("#login-form input[name=username]")).to_have_value("clerk")
    expect(page.locator("#whoami")).to_have_count(0)

    submit_login(page, "clerk", factories.PASSWORD)

    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.locator("#whoami")).to_contain_text("Service desk clerk")


def test_interface_is_chinese_by_default_and_english_sticks_once_chosen(page, live_server, login):
    page.goto("/login")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")

    page.locator("#lang-en").click()

    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page).to_have_url(re.compile(r"/login"))
    login(page, "requester")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.goto("/devices/")
    expect(page.locator("html")).to_have_attribute("lang", "en")

    page.locator("#lang-zh_CN").click()

    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page).to_have_url(re.compile(r"/devices/"))
