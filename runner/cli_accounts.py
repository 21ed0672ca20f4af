"""``baozhuang token create|list|revoke``: bearer tokens of the REST API (``runner.api_tokens``)."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta

import click

from . import api_tokens
from .accounts import AccountError
from .clock import SHANGHAI
from .environment import command_environment


def register(main: click.Group) -> None:
    """Add ``token`` to the ``baozhuang`` group."""
    main.add_command(token)


@click.group()
def token() -> None:
    """REST API bearer tokens (Authorization: Bearer <token>); each acts as its user with that user's groups."""


@token.command(name="create")
@click.argument("username")
@click.option("--name", default="", help="What the token is for, e.g. the system that uses it.")
@click.option("--expires-days", type=click.IntRange(min=1, max=3650),
              help="Days until the token stops working (default: until revoked).")
def create(username: str, name: str, expires_days: int | None) -> None:
    """Create a token for USERNAME and print it once: only its hash is kept."""
    env = command_environment()
    now = env.runtime.clock.now()
    try:
        with env.sessions.begin() as session:
            issued = api_tokens.create_token(session, username, now, name=name,
                                             expires_in=timedelta(days=expires_days) if expires_days else None)
    except AccountError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(1)
    click.echo(issued.secret)
    expiry = f"expires {_shown(issued.expires_at)}" if issued.expires_at else "does not expire"
    click.echo(f"token {issued.id} ({issued.name}) for {username}; {expiry}. It is shown only now: store it safely.",
               err=True)


@token.command(name="list")
@click.argument("username", required=False)
def list_command(username: str | None) -> None:
    """List tokens (of USERNAME, or all): id, user, prefix, state, name, created, last used, expires."""
    env = command_environment()
    now = env.runtime.clock.now()
    try:
        with env.sessions() as session:
            tokens = api_tokens.list_tokens(session, username)
    except AccountError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(1)
    if not tokens:
        click.echo("no tokens")
        return
    for info in tokens:
        click.echo("\t".join((str(info.id), info.username, info.prefix + "…", info.state(now), info.name,
                              _shown(info.created_at), _shown(info.last_used_at), _shown(info.expires_at))))


@token.command(name="revoke")
@click.argument("token_id", type=int)
def revoke(token_id: int) -> None:
    """Revoke token TOKEN_ID at once (see ``token list`` for ids)."""
    env = command_environment()
    try:
        with env.sessions.begin() as session:
            info = api_tokens.revoke_token(session, token_id, env.runtime.clock.now())
    except AccountError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(1)
    click.echo(f"token {info.id} ({info.name}) of {info.username} revoked")


def _shown(value: datetime | None) -> str:
    return value.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M") if value is not None else "-"
