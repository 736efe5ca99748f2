"""The zh_CN catalogue covers every string the portal shows, keeps each placeholder, and the UI is Chinese
first with English one click away."""

from __future__ import annotations

import re
from gettext import GNUTranslations

import pytest
from babel import Locale
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from portal.config import ROOT

# Flask-Babel looks a catalogue up by str(Locale.parse(code)): zh_CN is read from the zh_Hans_CN folder.
CATALOGUE = ROOT / "portal" / "translations" / str(Locale.parse("zh_CN")) / "LC_MESSAGES"
# The keywords `make extract` uses: Babel's defaults (_, gettext, ngettext, ...) plus the lazy ones.
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None}
PLACEHOLDER = re.compile(r"%\(\w+\)[sdifr]|%%|\{\w*\}")


def extracted_messages() -> dict[tuple[str | None, str | tuple[str, ...]], str]:
    """Every message the source marks for translation, as `make extract` finds it, with one place it is used."""
    with open(ROOT / "babel.cfg", encoding="utf-8") as config:
        method_map, options_map = parse_mapping_cfg(config)
    found = {}
    for filename, lineno, message, _comments, context in extract_from_dir(
            ROOT, method_map, options_map, keywords=KEYWORDS):
        if as_tuple(message)[0]:
            found.setdefault((context, message), f"{filename}:{lineno}")
    return found


@pytest.fixture(scope="module")
def catalogue():
    """The Chinese catalogue as the translator left it."""
    with open(CATALOGUE / "messages.po", "rb") as po:
        return read_po(po, locale="zh_CN")


def as_tuple(value) -> tuple[str, ...]:
    """A msgid or msgstr as a tuple of its forms (one for a simple message)."""
    return value if isinstance(value, tuple) else (value,)


def is_translated(entry) -> bool:
    """True when every form of the entry has a non-empty translation and the entry is not fuzzy."""
    return entry is not None and not entry.fuzzy and all(as_tuple(entry.string))


def test_every_extracted_message_is_translated(catalogue):
    missing = [f"{message!r} ({place})" for (context, message), place in sorted(
        extracted_messages().items(), key=lambda item: str(item[0][1]))
        if not is_translated(catalogue.get(as_tuple(message)[0], context=context))]
    assert not missing, (
        f"{len(missing)} message(s) have no Chinese translation (or are fuzzy) in "
        f"{CATALOGUE.relative_to(ROOT)}/messages.po. Run `make extract`, translate the empty "
        "msgstr entries, then `make translations`:\n  " + "\n  ".join(missing))


def test_the_catalogue_has_one_plural_form(catalogue):
    assert catalogue.num_plurals == 1
    plurals = [entry for entry in catalogue if isinstance(entry.id, tuple)]
    assert plurals
    assert all(len(as_tuple(entry.string)) == 1 for entry in plurals)


def test_translations_keep_every_placeholder(catalogue):
    wrong = []
    for entry in catalogue:
        if not entry.id:
            continue
        expected = {frozenset(PLACEHOLDER.findall(form)) for form in as_tuple(entry.id)}
        for translation in as_tuple(entry.string):
            if translation and frozenset(PLACEHOLDER.findall(translation)) not in expected:
                wrong.append(f"{entry.id!r} -> {translation!r}")
    assert not wrong, "Placeholders differ between msgid and msgstr:\n  " + "\n  ".join(wrong)


def test_compiled_catalogue_matches_the_po_file(catalogue):
    compiled = CATALOGUE / "messages.mo"
    assert compiled.exists(), "messages.mo is missing: run `make translations`"
    with open(compiled, "rb") as mo:
        loaded = GNUTranslations(mo)
    stale = [entry.id for entry in catalogue if entry.id and not entry.fuzzy and
             loaded.gettext(as_tuple(entry.id)[0]) != as_tuple(entry.string)[0]]
    assert not stale, f"messages.mo is out of date ({len(stale)} messages differ): run `make translations`"


def test_sign_in_page_is_chinese_by_default(client):
    page = client.get("/login").get_data(as_text=True)
    assert '<html lang="zh-CN">' in page
    assert ">登录<" in page
    assert "Sign in" not in page


def test_language_switch_to_english_and_back(client):
    client.get("/lang/en")
    page = client.get("/login").get_data(as_text=True)
    assert '<html lang="en">' in page
    assert "Sign in" in page
    client.get("/lang/zh_CN")
    assert '<html lang="zh-CN">' in client.get("/login").get_data(as_text=True)


def test_wrong_password_message_is_chinese(client, auth, world):
    response = auth.login("clerk", "wrong-password")
    assert response.status_code == 200
    assert "用户名或密码错误，或账号已停用。" in response.get_data(as_text=True)


def test_wrong_password_message_in_english_after_switching(client, auth, world):
    client.get("/lang/en")
    response = auth.login("clerk", "wrong-password")
    assert "Wrong username or password, or the account is deactivated." in response.get_data(as_text=True)


def test_templates_translate_once_per_render_as_jinja_would(app):
    """The templates' _() and ngettext answer in the request's language, escape what they fill in and
    read the text as a %-format, as Jinja's new-style gettext does."""
    from flask import render_template_string
    from flask_babel import force_locale

    source = ('{{ _("Service desk") }}|{{ ngettext("%(num)d event", "%(num)d events", 3) }}|'
              '{{ _("%(time)s left", time="<b>") }}|{{ _("100%% <sure>") }}')
    with app.test_request_context():
        assert render_template_string(source) == "服务台|3 条事件|剩余 &lt;b&gt;|100% <sure>"
    with app.test_request_context(), force_locale("en"):
        assert render_template_string(source) == "Service desk|3 events|&lt;b&gt; left|100% <sure>"
