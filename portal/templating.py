"""Jinja filters and globals: local times, the menu from plugins, role labels, query strings."""

from __future__ import annotations

from functools import partial

from flask import Flask, current_app, request, url_for
from flask_babel import format_datetime, get_locale
from flask_babel import gettext as babel_gettext
from flask_babel.speaklater import LazyString
from flask_login import current_user
from jinja2 import Template
from markupsafe import Markup, escape

try:  # markupsafe's C escaper of a plain str (markupsafe 3's escape() wraps it)
    from markupsafe import _escape_inner
except ImportError:  # pragma: no cover - another markupsafe: its escape() does it all
    def _escape_inner(text: str) -> str:
        return str(escape(text))

from portal.auth.roles import ROLE_LABELS
from portal.auth.scoping import visible_organisations
from portal.i18n import LOCALE_NAMES, translated_once
from portal.plugins import registry, run_hook
from portal.specs import MenuItem
from portal.web import query_string


def local_datetime(value, fmt: str = "yyyy-MM-dd HH:mm") -> str:
    """An instant in the deployment's time zone, or '' when empty."""
    return format_datetime(value, fmt) if value else ""


def current_locale() -> str:
    """The active interface language as one of PORTAL_LOCALES (Babel may expand zh_CN to zh_Hans_CN)."""
    active = get_locale()
    supported = current_app.config["PORTAL_LOCALES"]
    if active is None:
        return supported[0]
    exact = str(active)
    return exact if exact in supported else next(
        (code for code in supported if code.split("_")[0] == active.language), supported[0])


MENU_CACHE_SIZE = 1024


def menu(url_for_entry) -> list[tuple[str, str, MenuItem]]:
    """The navigation entries every enabled plugin (and the core) offers the current user, each as its
    label in the current language, its URL (from ``url_for_entry``) and the item, in menu order. Asked of
    the plugins once for each user, role, language and set of organisations the user may see, which is all
    ``portal_menu_items`` may depend on, and kept: asking and building the links cost about a tenth of a
    page."""
    if not current_user.is_authenticated:
        return []
    user = current_user._get_current_object()
    key = (str(get_locale()), request.script_root, user.id, user.role, tuple(visible_organisations()))
    menus = current_app.extensions.setdefault("portal_menus", {})
    try:
        return menus[key]
    except KeyError:
        entries = [(label, url_for_entry(item.endpoint, **item.values), item) for label, item in asked_menu(user)]
        return kept(menus, MENU_CACHE_SIZE, key, entries)


def asked_menu(user) -> list[tuple[str, MenuItem]]:
    """The plugins' menu items for a user as they give them now, with their labels, in menu order."""
    texts = label_texts()
    allowed = [(label_text(item.label, texts), item) for item in run_hook("portal_menu_items", user=user)
               if item.permission is None or user.can(item.permission)]
    return sorted(allowed, key=lambda entry: (entry[1].order, entry[0]))


def label_texts() -> dict:
    """Lazy labels already translated to the current language, by message (``label_text`` fills it)."""
    return translated_once("labels", dict)


def label_text(label, texts: dict) -> str:
    """A label in the current language. A lazy label (``lazy_gettext("…")``, no fill-ins) is translated
    once per language and message and kept in ``texts`` (``label_texts()``): Flask-Babel would find the
    language and catalogue anew for each, on every page's menu."""
    if isinstance(label, LazyString) and label._func is babel_gettext and label._args and not label._kwargs:
        try:
            return texts[label._args]
        except KeyError:
            text = texts[label._args] = str(label)
            return text
    return str(label)


def active_entry(items) -> object | None:
    """The menu entry of the current page: an exact endpoint match, else the first of the same blueprint."""
    endpoint = request.endpoint
    if not endpoint:
        return None
    args = request.view_args or {}
    for item in items:
        if item.endpoint == endpoint and all(str(args.get(k)) == str(v) for k, v in item.values.items()):
            return item
    blueprint = endpoint.split(".")[0]
    return next((item for item in items if item.endpoint.split(".")[0] == blueprint), None)


def navigation(url_for_entry) -> dict[str, list[tuple[str, str, bool]]]:
    """The menu's links by section ("main", "account"), each ``(label, URL, current)``: worked out here
    rather than item by item in the layout, which every page renders."""
    entries = menu(url_for_entry)
    current = active_entry([item for _label, _url, item in entries])
    links: dict[str, list] = {"main": [], "account": []}
    for label, url, item in entries:
        links.setdefault(item.section, []).append((label, url, item is current))
    return links


def kept(store: dict, limit: int, key, value):
    """``value``, kept in ``store`` under ``key``; a store that has reached ``limit`` entries is emptied
    first (the templates' remembered links and fragments: a hit costs one look-up, a miss this call)."""
    if len(store) >= limit:
        store.clear()
    store[key] = value
    return value


FRAGMENT_CACHE_SIZE = 1024


def remembered_fragments():
    """A template's ``{% call remembered("name", input, …) %}…{% endcall %}``: the block's HTML kept per
    language, script root, name and inputs, and rendered again only for inputs not seen before. The block
    must depend on nothing but those inputs and the language (labels, ``url_for``): then what it prints is
    what it would print anew, never stale. Lists among the inputs are compared by their items; an input
    that cannot be a key has the block rendered every time. A page's filters (several dozen options, the
    same on every visit) cost about as much to render as its rows."""
    fragments: dict = {}

    def remembered(name: str, *inputs, caller):
        try:
            key = (str(get_locale()), request.script_root, name,
                   *(tuple(value) if isinstance(value, list) else value for value in inputs))
            return fragments[key]
        except TypeError:
            return caller()
        except KeyError:
            return kept(fragments, FRAGMENT_CACHE_SIZE, key, caller())

    return remembered


URL_CACHE_SIZE = 4096


def remembered_url_for():
    """Flask's ``url_for`` for one app's templates, remembered per script root, endpoint and values: a page
    builds two dozen links (its assets, the menu, its buttons) that stay the same while the portal runs,
    and building one costs more than printing it. Relative endpoints, ``_external``, ``_anchor`` and the
    like, and values that cannot be a key go to ``url_for`` every time."""
    urls: dict = {}

    def template_url_for(endpoint: str, **values) -> str:
        if endpoint.startswith(".") or any(key.startswith("_") for key in values):
            return url_for(endpoint, **values)
        try:
            key = (request.script_root, endpoint, *sorted(values.items()))
            return urls[key]
        except TypeError:
            return url_for(endpoint, **values)
        except KeyError:
            return kept(urls, URL_CACHE_SIZE, key, url_for(endpoint, **values))

    return template_url_for


_new_markup = str.__new__

# Plain text as HTML (``&``, ``<``, ``>`` and quotes escaped), as a str: for values worked out in Python and
# printed where a template turns autoescaping off (the desk's rows). markupsafe's C escaper, no wrapping.
escape_text = _escape_inner


def escape_output(value) -> Markup:
    """What ``{{ value }}`` prints with autoescaping, as ``markupsafe.escape`` gives it, taking the short way
    for the values a page prints most: a str is escaped and wrapped without ``Markup.__new__`` (a Python call
    that asks the str for ``__html__``), a Markup is already safe, an int has nothing to escape. Anything
    else (objects with ``__html__``, None, dates, str subclasses) goes to ``markupsafe.escape``."""
    kind = type(value)
    if kind is str:
        return _new_markup(Markup, _escape_inner(value))
    if kind is Markup:
        return value
    if kind is int:
        return _new_markup(Markup, str(value))
    return escape(value)


class PortalTemplate(Template):
    """The portal's templates print their values through ``escape_output``. A compiled template looks up
    ``escape`` among its module's globals on each use (``from jinja2.runtime import escape``), so setting it
    there when the template is loaded is all it takes; a page prints several hundred values."""

    @classmethod
    def _from_namespace(cls, environment, namespace, globals):
        namespace["escape"] = escape_output
        return super()._from_namespace(environment, namespace, globals)


def configure(app: Flask) -> None:
    """Install filters and globals."""
    app.jinja_env.template_class = PortalTemplate
    app.jinja_env.filters["local"] = local_datetime
    template_url_for = remembered_url_for()
    app.jinja_env.globals.update(
        url_for=template_url_for,
        navigation=partial(navigation, template_url_for),
        remembered=remembered_fragments(),
        run_hook=run_hook,
        plugins=registry,
        role_labels=ROLE_LABELS,
        locale_names=LOCALE_NAMES,
        current_locale=current_locale,
        query_string=lambda **changes: query_string(request.args.to_dict(), **changes),
    )
