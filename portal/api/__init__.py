"""The JSON API v1 (``/api/v1``), its bearer tokens (``/account/tokens``, ``portal tokens``) and the
OpenAPI document."""

from __future__ import annotations

from flask import Flask


def register(app: Flask) -> None:
    """Register the API and token-page blueprints, the JSON answer for unrouted /api/v1 paths, and the
    ``portal tokens`` command group."""
    from portal.api.cli import tokens
    from portal.api.pages import bp as tokens_bp
    from portal.api.views import bp as api_bp
    from portal.api.views import unrouted_as_json

    app.register_blueprint(api_bp)
    app.register_blueprint(tokens_bp)
    app.before_request(unrouted_as_json)
    app.cli.add_command(tokens)
