"""The O&M service portal: a plugin-based Flask app for running terminal O&M by a service standard."""

from __future__ import annotations

from flask import Flask

from portal import config

__version__ = "0.1.0"


def create_app(overrides: dict | None = None) -> Flask:
    """Build the portal app: settings from the environment, then ``overrides`` (a dict) on top."""
    app = Flask(
        __name__,
        instance_path=str(config.instance_path()),
        static_folder=str(config.ROOT / "static"),
        template_folder=str(config.ROOT / "templates"),
    )
    configure_settings(app, overrides)
    configure_extensions(app)
    configure_plugins(app)
    configure_blueprints(app)
    configure_templates(app)
    configure_security(app)
    configure_errors(app)
    configure_audit(app)
    configure_jobs(app)
    configure_cli(app)
    return app


def configure_settings(app: Flask, overrides: dict | None) -> None:
    """Load settings (environment and overrides) into app.config; trust PORTAL_PROXIES reverse proxies."""
    app.config.update(config.build(overrides))
    proxies = app.config["PORTAL_PROXIES"]
    if proxies:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)


def configure_extensions(app: Flask) -> None:
    """Attach the database, migrations, sign-in, CSRF, translations, htmx and rate limiting."""
    from portal import database, models  # noqa: F401  (every model registered on the metadata)
    from portal.auth import session as auth_session
    from portal.extensions import babel, csrf, db, htmx, limiter, login_manager, migrate
    from portal.i18n import select_locale, template_gettext, translation_directories

    database.configure_engine(app)
    db.init_app(app)
    with app.app_context():
        for engine in db.engines.values():
            database.ping_when_idle(engine, app.config["PORTAL_DB_PING_IDLE_SECONDS"])
    migrate.init_app(app, db, directory=str(config.ROOT / "migrations"), compare_type=True, render_as_batch=True)
    login_manager.init_app(app)
    auth_session.configure(app, login_manager)
    csrf.init_app(app)
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = translation_directories()
    babel.init_app(app, locale_selector=select_locale)
    app.context_processor(template_gettext)
    htmx.init_app(app)
    limiter.init_app(app)
    if not (limiter.limit_manager.default_limits or limiter.limit_manager.application_limits):
        # Every limit is on a view, and its decorator checks it; the before-request pass looks only for
        # default and application limits, so with none configured it would find nothing on every request.
        app.before_request_funcs[None].remove(limiter._check_request_limit)


def configure_plugins(app: Flask) -> None:
    """Create the plugin registry from PORTAL_PLUGINS and add plugin translation folders."""
    from portal.i18n import add_translation_directory
    from portal.plugins import PluginRegistry

    registry = PluginRegistry(app.config["PORTAL_PLUGINS"])
    app.extensions["portal_plugins"] = registry
    for plugin in registry.installed.values():
        if plugin.enabled and plugin.info.translations_dir:
            add_translation_directory(app, plugin.info.translations_dir)


def configure_blueprints(app: Flask) -> None:
    """Register the core blueprints, one per capability."""
    from portal import api
    from portal.admin.views import bp as admin_bp
    from portal.audit.views import bp as audit_bp
    from portal.auth.views import bp as auth_bp
    from portal.core.views import bp as core_bp
    from portal.devices.public import bp as public_bp
    from portal.devices.views import bp as devices_bp
    from portal.forms.views import bp as forms_bp
    from portal.workorders.views import bp as workorders_bp

    for blueprint in (core_bp, auth_bp, devices_bp, public_bp, forms_bp, admin_bp, audit_bp, workorders_bp):
        app.register_blueprint(blueprint)
    api.register(app)


def configure_templates(app: Flask) -> None:
    """Template filters and globals shared by every page."""
    from portal import templating

    templating.configure(app)


def configure_security(app: Flask) -> None:
    """Security headers on every response (CSP without inline script, frame-ancestors, nosniff)."""
    from portal import security

    security.configure(app)


def configure_errors(app: Flask) -> None:
    """Error pages for 400 (CSRF), 403, 404, 413, 429 and 500 in the user's language."""
    from portal import errors

    errors.configure(app)


def configure_audit(app: Flask) -> None:
    """Write an audit event for every change of an auditable record."""
    from portal.audit import listeners

    listeners.install()


def configure_jobs(app: Flask) -> None:
    """Background jobs: in the web process by default, on Celery workers with PORTAL_JOBS_BACKEND=celery."""
    from portal import jobs

    jobs.init_app(app)


def configure_cli(app: Flask) -> None:
    """The ``portal`` command's groups: demo, users, serve, audit."""
    from portal import cli

    cli.register(app)
