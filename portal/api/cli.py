"""The ``portal tokens`` commands: create, list and revoke API tokens from the shell."""

from __future__ import annotations

import getpass

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from portal.api import tokens as token_services
from portal.audit.services import acting_as
from portal.extensions import db

tokens = click.Group("tokens", help="Manage API tokens.")


def cli_actor() -> str:
    """Who the audit trail names for changes made from the shell."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def active_user(username: str):
    """The active user with this username; a usage error (exit 2) otherwise."""
    from portal.auth.models import User

    user = db.session.scalar(select(User).where(User.username == username))
    if user is None:
        raise click.UsageError(f"no user with username {username!r}")
    if not user.active:
        raise click.UsageError(f"user {username!r} is deactivated")
    if not user.can("api.token"):
        raise click.UsageError(f"the role {user.role} of {username!r} may not hold API tokens")
    return user


@tokens.command("create")
@click.option("--username", required=True, help="The user the token acts as.")
@click.option("--name", default="", help="What will use the token, e.g. 'monitoring'.")
@with_appcontext
def create(username, name):
    """Create a token; the token itself is printed alone on the last line (shown only this once)."""
    user = active_user(username)
    with acting_as(cli_actor()):
        token, raw = token_services.issue(user, name or "cli")
        db.session.commit()
    click.echo(f"created API token {token.prefix}… ({token.name}) for {user.username}")
    click.echo(raw)


@tokens.command("list")
@click.option("--username", required=True)
@with_appcontext
def list_tokens(username):
    """List a user's tokens: id, shown prefix, name, state."""
    from portal.auth.models import User

    user = db.session.scalar(select(User).where(User.username == username))
    if user is None:
        raise click.UsageError(f"no user with username {username!r}")
    for token in token_services.tokens_of(user):
        state = f"revoked {token.revoked_at:%Y-%m-%d %H:%M}Z" if token.revoked_at else "active"
        click.echo(f"{token.id}\t{token.prefix}…\t{token.name}\t{state}")


@tokens.command("revoke")
@click.argument("token_id", type=int)
@with_appcontext
def revoke(token_id):
    """Revoke a token by id (see ``portal tokens list``)."""
    from portal.workorders.models import ApiToken

    token = db.session.get(ApiToken, token_id)
    if token is None:
        raise click.UsageError(f"no API token with id {token_id}")
    with acting_as(cli_actor()):
        changed = token_services.revoke(token)
        db.session.commit()
    if changed:
        click.echo(f"revoked API token {token.prefix}…")
    else:
        click.echo(f"API token {token.prefix}… was revoked already")
