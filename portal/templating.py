"""Jinja filters and globals: local times, the menu from plugins, role labels, query strings."""

from __future__ import annotations

from dataclasses import replace

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
from portal.i18n import LOCALE_NAMES, translated_once
from portal.plugins import registry, run_hook
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


def menu() -> list:
    """The navigation entries every enabled plugin (and the core) offers the current user, their labels
    in the current language (each is printed once and sorted by, and a lazy label is translated anew
    each time it is used)."""
    if not current_user.is_authenticated:
        return []
    user = current_user._get_current_object()
    items = run_hook("portal_menu_items", user=user)
    allowed = [replace(item, label=label_text(item.label)) for item in items
               if item.permission is None or user.can(item.permission)]
    return sorted(allowed, key=lambda item: (item.order, item.label))


def label_text(label) -> str:
    """A label in the current language. A lazy label (``lazy_gettext("…")``, no fill-ins) is translated
    once per language and message and kept: Flask-Babel would find the language and catalogue anew for
    each, on every page's menu."""
    if isinstance(label, LazyString) and label._func is babel_gettext and label._args and not label._kwargs:
        return translated_once(("label", label._args), lambda: str(label))
    return str(label)


def _exact(item) -> bool:
    args = request.view_args or {}
    return request.endpoint == item.endpoint and all(str(args.get(k)) == str(v) for k, v in item.values.items())


def active_entry(items) -> object | None:
    """The menu entry of the current page: an exact endpoint match, else the first of the same blueprint."""
    if not request.endpoint:
        return None
    exact = [item for item in items if _exact(item)]
    if exact:
        return exact[0]
    blueprint = request.endpoint.split(".")[0]
    return next((item for item in items if item.endpoint.split(".")[0] == blueprint), None)


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
            if len(urls) >= URL_CACHE_SIZE:
                urls.clear()
            url = urls[key] = url_for(endpoint, **values)
            return url

    return template_url_for


_new_markup = str.__new__


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
    app.jinja_env.globals.update(
        url_for=remembered_url_for(),
        menu=menu,
        active_entry=active_entry,
        run_hook=run_hook,
        plugins=registry,
        role_labels=ROLE_LABELS,
        locale_names=LOCALE_NAMES,
        current_locale=current_locale,
        query_string=lambda **changes: query_string(request.args.to_dict(), **changes),
    )
