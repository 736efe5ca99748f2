"""The portal's templates print values exactly as Jinja's autoescaping would, through its quicker escape."""

from __future__ import annotations

from datetime import date

import pytest
from jinja2 import DictLoader, Environment
from markupsafe import Markup, escape

from portal.templating import PortalTemplate, escape_output


class Html:
    """An object that renders itself as HTML."""

    def __html__(self) -> str:
        return "<em>safe</em>"


class Shouting(str):
    """A str subclass: not taken for a plain str."""

    def __str__(self) -> str:
        return self.upper()


class Text:
    """An object printed through its str()."""

    def __str__(self) -> str:
        return "<i>'quoted' & \"double\"</i>"


VALUES = ["", "plain", "<script>alert('x') & \"y\"</script>", Markup("<b>bold</b>"), 0, 42, -7, True, None,
          3.5, date(2026, 12, 1), Html(), Shouting("<x>"), Text()]


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_escape_output_prints_what_markupsafe_prints(value):
    printed = escape_output(value)
    assert type(printed) is Markup
    assert printed == escape(value)


@pytest.fixture
def env():
    environment = Environment(autoescape=True, loader=DictLoader({
        "base.html": "<main>{% block content %}{% endblock %}</main>",
        "page.html": "{% extends 'base.html' %}{% block content %}{% set rows %}{% for value in values %}"
                     "<td>{{ value }}</td>{% endfor %}{% endset %}<tr>{{ rows }}</tr>{{ note }}{% endblock %}",
    }))
    environment.template_class = PortalTemplate
    return environment


def test_pages_escape_text_and_keep_markup(env):
    page = env.get_template("page.html").render(values=["<a href='x'>&</a>", 7, Markup("<b>ok</b>"), None],
                                                note=Text())
    assert page == ("<main><tr><td>&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt;</td><td>7</td><td><b>ok</b></td>"
                    "<td>None</td></tr>&lt;i&gt;&#39;quoted&#39; &amp; &#34;double&#34;&lt;/i&gt;</main>")


def test_templates_from_strings_escape_too(env):
    assert env.from_string("{{ a }}|{{ b }}").render(a="<", b=Markup("<")) == "&lt;|<"


def test_a_template_without_autoescape_prints_as_is(env):
    assert env.from_string("{% autoescape false %}{{ a }}{% endautoescape %}").render(a="<b>") == "<b>"
