"""Sign-in, sessions, headers and error pages of the core."""

from __future__ import annotations

import re

from portal.extensions import db
from portal.hookspecs import hookimpl
from portal.plugins import registry
from portal.specs import MenuItem


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


def nav_links(page: str) -> list[tuple[str, str, bool]]:
    """The menu bar's and account corner's links of a page, as (href, label, current)."""
    nav = page[page.index('id="main-nav"'):page.index("</nav>")]
    return [(href, label, bool(current)) for current, href, label in re.findall(
        r'<a class="nav-link[^"]*"( aria-current="page")? href="([^"]+)">([^<]+)</a>', nav)]


def test_the_menu_lists_what_the_user_may_open_in_order_and_marks_the_current_page(client, auth, world):
    auth.login("clerk")
    client.get("/lang/en")
    links = nav_links(client.get("/orders/").get_data(as_text=True))
    labels = [label for _href, label, _current in links]
    assert labels[:4] == ["Service desk", "My orders", "Report a fault", "SLA dashboard"]
    assert "Administration" not in labels and labels[-1] == "API tokens"
    assert [(href, label) for href, label, current in links if current] == [("/orders/", "Service desk")]
    current = [label for _href, label, current in nav_links(client.get("/devices/").get_data(as_text=True))
               if current]
    assert current == ["Devices"]
    auth.logout()
    auth.login("admin")
    assert "Administration" in [label for _h, label, _c in nav_links(client.get("/").get_data(as_text=True))]


def test_the_menu_speaks_the_users_language(client, auth, world):
    auth.login("clerk")
    client.get("/lang/zh_CN")
    labels = [label for _href, label, _current in nav_links(client.get("/orders/").get_data(as_text=True))]
    assert labels[0] == "服务台"
    client.get("/lang/en")
    labels = [label for _href, label, _current in nav_links(client.get("/orders/").get_data(as_text=True))]
    assert labels[0] == "Service desk"


def test_the_bar_names_the_user_as_they_are_now(client, auth, world):
    """The bar's account corner is remembered per name, role and links: a new name or role shows at once."""
    auth.login("clerk")
    client.get("/lang/en")

    def whoami() -> str:
        page = client.get("/orders/").get_data(as_text=True)
        return re.search(r'id="whoami">([^<]+)<', page).group(1)

    assert whoami() == "clerk · Service desk clerk"
    world.clerk.display_name = "Li Lei"
    db.session.commit()
    assert whoami() == "Li Lei · Service desk clerk"
    world.clerk.role = "engineer"
    db.session.commit()
    assert whoami() == "Li Lei · Engineer"


class MenuAsks:
    """A plugin that counts how often the portal asks it for menu items."""

    def __init__(self) -> None:
        self.asked = 0

    @hookimpl
    def portal_menu_items(self, user):
        self.asked += 1
        return [MenuItem("Counted", "core.home", None, order=99)]


def test_the_menu_is_asked_once_per_user_language_and_organisations(app, client, auth, world):
    """The plugins are asked for a user's menu again only when the language, the user's role or the
    organisations the user may see change, and the menu shows each change at once."""
    asks = MenuAsks()
    registry().pm.register(asks, name="menu-asks")
    auth.login("clerk")
    client.get("/lang/en")
    for path in ("/orders/", "/devices/", "/orders/"):
        assert "Counted" in [label for _h, label, _c in nav_links(client.get(path).get_data(as_text=True))]
    assert asks.asked == 1
    client.get("/lang/zh_CN")
    client.get("/orders/")
    assert asks.asked == 2
    world.campus.active = False  # the campus-card form's only organisation leaves the clerk's choices
    db.session.commit()
    labels = [label for _h, label, _c in nav_links(client.get("/orders/").get_data(as_text=True))]
    assert asks.asked == 3 and "监控检查" not in labels and "Counted" in labels
    world.campus.active = True
    world.clerk.role = "engineer"
    db.session.commit()
    labels = [label for _h, label, _c in nav_links(client.get("/orders/").get_data(as_text=True))]
    assert asks.asked == 4 and "监控检查" in labels and "服务台" in labels and "故障报修" not in labels
