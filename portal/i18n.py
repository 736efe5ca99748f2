"""Languages: Chinese first (zh_CN), English switchable; plugin catalogues merged into the core's."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from babel import Locale
from flask import Flask, current_app, has_request_context, session
from flask_babel import get_locale, get_translations
from flask_login import current_user
from jinja2 import pass_context
from markupsafe import Markup

from portal.config import ROOT

CORE_TRANSLATIONS = ROOT / "portal" / "translations"
LOCALE_NAMES = {"zh_CN": "中文", "en": "English"}


def translation_directories() -> str:
    """The core catalogue folder, in Flask-Babel's ';'-separated form."""
    return str(CORE_TRANSLATIONS)


def add_translation_directory(app: Flask, folder: Path) -> None:
    """Merge a plugin's catalogue folder into the app's translations."""
    app.extensions["babel"].translation_directories.append(str(folder))


def select_locale() -> Locale:
    """Flask-Babel's locale selector: the selected language, parsed once per language."""
    return parsed_locale(selected_language())


def selected_language() -> str:
    """The language chosen in this session, else the user's saved choice, else zh_CN."""
    if not has_request_context():
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    supported = current_app.config["PORTAL_LOCALES"]
    chosen = session.get("locale")
    if chosen in supported:
        return chosen
    saved = getattr(current_user, "locale", None) if current_user else None
    if saved in supported:
        return saved
    return current_app.config["BABEL_DEFAULT_LOCALE"]


@lru_cache(maxsize=16)
def parsed_locale(code: str) -> Locale:
    """A language code as Babel's Locale, parsed once (Flask-Babel would parse it anew on every request)."""
    return Locale.parse(code)


def translated_once(key, build):
    """``build()`` worked out once per language and app and kept: for words that do not change while the
    portal runs (label tables, a standard's severity names). A page prints such words many times, and each
    lazy label would otherwise be looked up in the catalogue anew."""
    cache = current_app.extensions.setdefault("portal_translated", {})
    full_key = (str(get_locale()), key)
    try:
        return cache[full_key]
    except KeyError:
        value = cache[full_key] = build()
        return value


def plain_labels(labels: dict) -> dict[str, str]:
    """A table of lazy labels (code → label) as plain strings in the current language."""
    return {code: str(label) for code, label in labels.items()}


def template_gettext() -> dict:
    """Context processor: the templates' ``_``, ``gettext`` and ``ngettext`` bound to this request's
    catalogue. Flask-Babel's own find the language and the catalogue anew on every call, and a page makes
    dozens; these answer the same, as Jinja's new-style gettext does (autoescaped, the text always a
    ``%(name)s`` format filled from the keywords, ``num`` for ``ngettext``)."""
    translations = get_translations()
    words = translated_once("template_words", dict)  # message → its autoescaped translation, nothing to fill

    def filled(context, text: str, variables: dict) -> str:
        text = Markup(text) if context.eval_ctx.autoescape else text
        return text % variables if variables or "%" in text else text  # most of a page's words: nothing to fill

    @pass_context
    def gettext(context, message: str, **variables) -> str:
        if variables or not context.eval_ctx.autoescape:
            return filled(context, translations.ugettext(message), variables)
        try:  # a page's two dozen labels: each translated and made Markup once per language
            return words[message]
        except KeyError:
            text = words[message] = filled(context, translations.ugettext(message), variables)
            return text

    @pass_context
    def ngettext(context, singular: str, plural: str, num: int, **variables) -> str:
        variables.setdefault("num", num)
        return filled(context, translations.ungettext(singular, plural, num), variables)

    return {"_": gettext, "gettext": gettext, "ngettext": ngettext}
