"""Rendering helpers: full pages or, for htmx requests, one named block of the same template."""

from __future__ import annotations

from urllib.parse import urlencode

from flask import make_response, render_template, request
from jinja2_fragments.flask import render_block


def wants_fragment() -> bool:
    """True for an htmx request that swaps part of a page (not a boosted navigation)."""
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.boosted and not htmx.history_restore_request


def render(template: str, block: str | None = None, status: int = 200, **context):
    """Render a page, or only ``block`` of it for an htmx request; always ``Vary: HX-Request``."""
    if block and wants_fragment():
        body = render_block(template, block, **context)
    else:
        body = render_template(template, **context)
    response = make_response(body, status)
    response.headers.add("Vary", "HX-Request")
    return response


def query_string(args: dict, **changes) -> str:
    """The current query string with some values changed (None or '' drops a key)."""
    merged = {**args, **changes}
    return urlencode({k: v for k, v in merged.items() if v not in (None, "")})
