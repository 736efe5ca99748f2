"""QR codes (SVG, made by segno) that encode a device's public fault-report URL (PK-7.2 c)."""

from __future__ import annotations

import io

import segno
from flask import current_app, url_for
from markupsafe import Markup

ERROR_LEVEL = "m"  # survives a scratched or dirty label
DOWNLOAD_SCALE = 8


def report_url(code: str) -> str:
    """The absolute URL of the device's public report page: PORTAL_BASE_URL when set, else this host."""
    base = current_app.config.get("PORTAL_BASE_URL", "")
    if base:
        return base.rstrip("/") + url_for("public.report", code=code)
    return url_for("public.report", code=code, _external=True)


def make(url: str) -> segno.QRCode:
    """The QR code for a URL."""
    return segno.make(url, error=ERROR_LEVEL, micro=False)


def svg_inline(url: str, title: str = "") -> Markup:
    """An <svg> element for embedding in a page, sized by CSS (``.qr-code svg``)."""
    svg = make(url).svg_inline(omitsize=True, light="white", title=title or None, desc=url)
    return Markup(svg)


def svg_document(url: str, title: str = "") -> bytes:
    """A standalone SVG file for download and printing elsewhere."""
    buffer = io.BytesIO()
    make(url).save(buffer, kind="svg", scale=DOWNLOAD_SCALE, light="white", title=title or None, desc=url)
    return buffer.getvalue()


def device_svg(code: str) -> Markup:
    """The embeddable QR code of a device."""
    return svg_inline(report_url(code), title=code)
