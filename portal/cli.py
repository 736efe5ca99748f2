"""The ``portal`` command: the app's Flask CLI (db, demo, users, serve, audit)."""

from __future__ import annotations

import getpass
import os
import secrets
import sys

import click
from flask import Flask
from flask.cli import FlaskGroup, with_appcontext
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from portal.audit.services import acting_as, verify_chain
from portal.auth.roles import ORGANISATION_ROLES, PROVIDER_ROLES, ROLES
from portal.extensions import db


def _cli_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


users = click.Group("users", help="Manage user accounts.")
audit = click.Group("audit", help="Check the audit trail.")


def find_employer(code: str | None, role: str):
    """Resolve --org CODE to an organisation or provider for the role; click error when it does not fit."""
    from portal.orgs.models import Organisation, Provider

    if code is None:
        if role in PROVIDER_ROLES or role in ORGANISATION_ROLES:
            raise click.UsageError(f"role {role} needs --org CODE")
        return None, None
    organisation = db.session.scalar(select(Organisation).where(Organisation.code == code))
    provider = db.session.scalar(select(Provider).where(Provider.code == code))
    if role in PROVIDER_ROLES:
        if provider is None:
            raise click.UsageError(f"no provider with code {code!r} (role {role} works for a provider)")
        return None, provider
    if organisation is None:
        raise click.UsageError(f"no organisation with code {code!r}")
    if role == "admin":
        raise click.UsageError("an admin belongs to the deployment, not an organisation: omit --org")
    return organisation, None


@users.command("create")
@click.option("--username", required=True)
@click.option("--role", required=True, type=click.Choice(ROLES))
@click.option("--org", "org_code",
              help="Organisation code (requester, auditor) or provider code (clerk, engineer).")
@click.option("--password", help="Password; a random one is generated and printed when omitted.")
@click.option("--name", "display_name", default="", help="Display name.")
@with_appcontext
def create_user(username, role, org_code, password, display_name):
    """Create a user account."""
    from portal.auth.models import User

    if db.session.scalar(select(User).where(User.username == username)) is not None:
        raise click.UsageError(f"username {username!r} is taken")
    if password is not None and len(password) < 8:
        raise click.UsageError("password must have at least 8 characters")
    organisation, provider = find_employer(org_code, role)
    generated = password is None
    password = password or secrets.token_urlsafe(12)
    user = User(username=username, role=role, display_name=display_name, organisation=organisation,
                provider=provider)
    user.set_password(password)
    with acting_as(_cli_actor()):
        db.session.add(user)
        db.session.commit()
    click.echo(f"created {role} {username}" + (f" with password {password}" if generated else ""))


@audit.command("verify")
@with_appcontext
def verify_audit():
    """Verify the audit chain; name the first altered event and exit 1 if one is found."""
    report = verify_chain(db.session)
    if report.ok:
        click.echo(f"audit trail intact: {report.checked} events verified")
        return
    click.echo(f"audit trail broken at event {report.first_bad_id}: {report.reason} "
               f"({report.checked} events before it verified)", err=True)
    sys.exit(1)


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
def serve(host, port, workers):
    """Serve the portal with gunicorn."""
    from gunicorn.app.wsgiapp import run

    sys.argv = ["gunicorn", "--bind", f"{host}:{port}", "--workers", str(workers), "--threads", "4",
                "--access-logfile", "-", "portal.wsgi:app"]
    run()


@click.command("demo")
@click.option("--if-empty", is_flag=True, help="Load only when the database has no organisation yet.")
@with_appcontext
def demo(if_empty):
    """Load the demo: a police bureau with ~200 kiosks, a university with ~500 card terminals, users."""
    from portal.demo import load_demo

    with acting_as("demo"):
        result = load_demo(only_if_empty=if_empty)
    click.echo(result)


def register(app: Flask) -> None:
    """Add the portal's command groups to the app's CLI."""
    for command in (users, audit, serve, demo):
        app.cli.add_command(command)


def _create_app():
    from portal import create_app

    return create_app()


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``portal`` command; bad arguments exit 2 with a one-line reason."""
    os.environ.setdefault("FLASK_RUN_FROM_CLI", "false")
    group = FlaskGroup(create_app=_create_app, add_version_option=False, load_dotenv=False,
                       help="The O&M service portal.")
    try:
        group.main(args=argv, prog_name="portal", standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as error:
        click.echo(error.format_message(), err=True)
        sys.exit(2)
    except click.UsageError as error:
        click.echo(f"error: {error.format_message()}", err=True)
        sys.exit(2)
    except click.ClickException as error:
        click.echo(f"error: {error.format_message()}", err=True)
        sys.exit(error.exit_code)
    except click.exceptions.Abort:
        sys.exit(1)
    except click.exceptions.Exit as exit_:
        sys.exit(exit_.exit_code)
    except SQLAlchemyError as error:
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        click.echo(f"error: database not reachable or not migrated ('portal db upgrade'): {reason}", err=True)
        sys.exit(1)
