"""Error pages in the user's language, never a stack trace."""

from __future__ import annotations

from flask import Flask, Response, make_response, render_template
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from portal.web import wants_fragment


def _messages() -> dict[int, tuple[str, str]]:
    """Title and explanation per status code, translated for this request."""
    return {
        400: (_("Bad request"), _("The request could not be understood. Please go back and try again.")),
        401: (_("Please sign in"), _("You need to sign in to see this page.")),
        403: (_("Access denied"), _("Your role does not allow this page.")),
        404: (_("Page not found"), _("There is no such page, or it is not visible to you.")),
        405: (_("Method not allowed"), _("This page does not accept that kind of request.")),
        413: (_("File too large"), _("The uploaded file is larger than the portal accepts.")),
        429: (_("Too many attempts"),
              _("Too many attempts in a short time. Please wait a minute and retry.")),
        500: (_("Something went wrong"), _("The portal hit an error. It has been logged; please retry.")),
    }


def render_error(code: int, detail: str | None = None) -> Response:
    """Render the error page for a status code."""
    title, text = _messages().get(code, _messages()[500])
    # A boosted navigation swaps the whole body, so it gets the whole page; other htmx requests a fragment.
    template = "errors/fragment.html" if wants_fragment() else "errors/page.html"
    response = make_response(render_template(template, code=code, title=title, text=detail or text), code)
    response.headers.add("Vary", "HX-Request")
    return response


def handle_csrf(error: CSRFError):
    """A missing or wrong CSRF token: 400 with a message saying to reload the form."""
    return render_error(400, _("The form has expired or was not sent from this portal. "
                               "Reload the page and submit it again."))


def handle_http(error: HTTPException):
    """Any HTTP error raised by a view, keeping the headers it carries (e.g. Allow on a 405)."""
    response = render_error(error.code or 500)
    for name, value in error.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def handle_unexpected(error: Exception):
    """An unexpected exception: log it, show the generic 500 page."""
    from flask import current_app

    current_app.logger.exception("unhandled error", exc_info=error)
    return render_error(500)


def configure(app: Flask) -> None:
    """Register the handlers."""
    app.register_error_handler(CSRFError, handle_csrf)
    app.register_error_handler(HTTPException, handle_http)
    app.register_error_handler(InternalServerError, handle_unexpected)
    if not app.testing and not app.debug:
        app.register_error_handler(Exception, handle_unexpected)
