"""``baozhuang user create|list|set-password|set-groups|set-active|end-sessions``: staff accounts
(``runner.accounts``, ``runner.user_admin``), e.g. the first administrator of a fresh database; ``baozhuang token
create|list|revoke``: bearer tokens of the REST API (``runner.api_tokens``)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import click
from sqlalchemy.orm import Session

from . import accounts, api_tokens, user_admin
from .accounts import GROUPS, AccountError, User
from .cli_runner import TIMES_HEADER, at_most, column_length
from .clock import shown_time
from .environment import CommandEnvironment, command_environment, fail
from .logging_setup import configure_logging
from .store import NotFoundError

CLI_ADMIN = "cli"
"""Who the ``baozhuang.admin`` log names for changes made with ``baozhuang user`` (like ``deploy --user``)."""
ADMIN_GROUP = "admin"
"""The group of the web UI's user administration (``/admin/users``)."""
DISPLAY_NAME_LENGTH = column_length(User.display_name)


@contextmanager
def account_transaction(env: CommandEnvironment) -> Iterator[Session]:
    """One transaction of a ``user`` or ``token`` command, committed when the block ends; an ``AccountError`` or a
    ``NotFoundError`` (an unknown user or token, a taken name, an unknown group …) rolls it back and ends the command
    with one ``error:`` line, exit 1 (``fail``)."""
    try:
        with env.sessions.begin() as session:
            yield session
    except (AccountError, NotFoundError) as err:
        fail(str(err))


def register(main: click.Group) -> None:
    """Add ``user`` and ``token`` to the ``baozhuang`` group."""
    main.add_command(user)
    main.add_command(token)


@click.group()
def user() -> None:
    """Staff accounts of the web UI and the REST API (the first administrator of a fresh database, for one)."""
    configure_logging()  # each change is an ``admin=cli …`` line on baozhuang.admin, on stderr


password_stdin_option = click.option(
    "--password-stdin", is_flag=True,
    help="Read the password from the first line of standard input (for scripts) instead of asking twice.")


def read_password(from_stdin: bool) -> str:
    """The new password: the first line of standard input, or typed twice at a hidden prompt."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    password: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


@user.command(name="create")
@click.argument("username")
@click.option("--group", "groups", multiple=True, metavar="GROUP",
              help=f"A group to put the user in (repeatable): {', '.join(GROUPS)}.")
@click.option("--admin", is_flag=True, help="Put the user in the admin group: user administration in the web UI.")
@click.option("--display-name", default="", callback=at_most(DISPLAY_NAME_LENGTH),
              help=f"The name the web UI shows (default: the user name; at most {DISPLAY_NAME_LENGTH} characters).")
@password_stdin_option
def user_create(username: str, groups: tuple[str, ...], admin: bool, display_name: str, password_stdin: bool) -> None:
    """Create a user in the given groups.

    The password is asked for twice at a hidden prompt, or read with --password-stdin. A taken USERNAME or an
    unknown group is refused before the password is asked for."""
    chosen = tuple(dict.fromkeys((*groups, ADMIN_GROUP) if admin else groups))
    if not chosen:
        fail("give at least one --group (or --admin): a user without a group can do nothing")
    env = command_environment()
    with account_transaction(env) as session:
        accounts.check_new_user(session, username, chosen)  # before the password is typed
    password = read_password(password_stdin)
    with account_transaction(env) as session:
        account = user_admin.create_user(session, CLI_ADMIN, username, display_name, password, chosen,
                                         env.runtime.clock.now())
    click.echo(f"user {account.username} ({account.display_name}) created in {', '.join(account.groups)}")


@user.command(name="list")
@click.argument("search", required=False, default="")
def user_list(search: str) -> None:
    """List users: name, display name, state, groups, last login (tab-separated, under the
    ``times: Asia/Shanghai`` line and a header, as ``token list``).

    With SEARCH, only those whose user name or display name contains it."""
    env = command_environment()
    with env.sessions() as session:
        rows, page_number = [], 1
        while True:
            page = user_admin.list_users(session, search, page_number, page_size=200)
            rows += [(found.username, found.display_name, "active" if found.active else "inactive",
                      ",".join(found.group_names) or "-", shown_time(found.last_login_at)) for found in page.items]
            if page_number * page.page_size >= page.total:
                break
            page_number += 1
    if not rows:
        click.echo("no users")
        return
    click.echo(TIMES_HEADER)
    click.echo("user\tdisplay name\tstate\tgroups\tlast login")
    for row in rows:
        click.echo("\t".join(row))


@user.command(name="set-password")
@click.argument("username")
@password_stdin_option
def user_set_password(username: str, password_stdin: bool) -> None:
    """Give a user a new password.

    The password is asked for twice at a hidden prompt, or read with --password-stdin."""
    env = command_environment()
    with account_transaction(env) as session:
        if accounts.get_account_by_name(session, username) is None:
            fail(f"no user {username}")
    password = read_password(password_stdin)
    with account_transaction(env) as session:
        user_admin.reset_password(session, CLI_ADMIN, username, password, env.runtime.clock.now())
    click.echo(f"password of {accounts.normalize_username(username)} changed")


@user.command(name="set-groups")
@click.argument("username")
@click.option("--group", "groups", multiple=True, metavar="GROUP",
              help=f"A group the user is to be in (repeatable; replaces the present ones): {', '.join(GROUPS)}.")
@click.option("--admin", is_flag=True, help="Put the user in the admin group too.")
def user_set_groups(username: str, groups: tuple[str, ...], admin: bool) -> None:
    """Replace a user's groups, as the admin page does (claimed tasks of lanes left go back to their queues).

    Also how an administrator account that lost the admin group gets it back."""
    chosen = tuple(dict.fromkeys((*groups, ADMIN_GROUP) if admin else groups))
    if not chosen:
        fail("give at least one --group (or --admin): a user without a group can do nothing")
    env = command_environment()
    with account_transaction(env) as session:
        released = user_admin.set_groups(session, CLI_ADMIN, username, chosen, env.runtime.clock.now())
    name = accounts.normalize_username(username)
    click.echo(f"user {name} now in {', '.join(sorted(chosen))}; {len(released)} claimed task(s) released")


@user.command(name="set-active")
@click.argument("username")
@click.option("--active/--inactive", required=True, help="Reactivate, or deactivate (the user can no longer sign "
              "in or use API tokens; their claimed tasks go back to their lanes' queues).")
def user_set_active(username: str, active: bool) -> None:
    """Deactivate or reactivate a user, as the admin page does."""
    env = command_environment()
    with account_transaction(env) as session:
        released = user_admin.set_active(session, CLI_ADMIN, username, active, env.runtime.clock.now())
    name = accounts.normalize_username(username)
    state = "reactivated" if active else f"deactivated; {len(released)} claimed task(s) released"
    click.echo(f"user {name} {state}")


@user.command(name="end-sessions")
@click.argument("username")
def user_end_sessions(username: str) -> None:
    """End every signed-in web session of a user now (强制下线), as the admin page does; API tokens are revoked
    with ``token revoke``."""
    env = command_environment()
    with account_transaction(env) as session:
        ended = user_admin.end_sessions(session, CLI_ADMIN, username, env.runtime.clock.now())
    click.echo(f"user {accounts.normalize_username(username)}: {ended} session(s) ended")


@click.group()
def token() -> None:
    """REST API bearer tokens (Authorization: Bearer <token>); each acts as its user with that user's groups."""
    configure_logging()


@token.command(name="create")
@click.argument("username")
@click.option("--name", default="", help="What the token is for, e.g. the system that uses it.")
@click.option("--expires", "--expires-days", "expires_days", type=click.IntRange(min=1, max=3650),
              default=api_tokens.DEFAULT_EXPIRY_DAYS, show_default=True, envvar="BAOZHUANG_TOKEN_EXPIRY_DAYS",
              metavar="DAYS", help="Days until the token stops working (default from BAOZHUANG_TOKEN_EXPIRY_DAYS).")
@click.option("--no-expiry", is_flag=True, help="The token works until revoked (not together with --expires).")
@click.option("--scope", type=click.Choice(api_tokens.SCOPES), default=api_tokens.READ_WRITE, show_default=True,
              help="read: only reading requests (GET); read-write: also claim, assign, complete, start cases.")
@click.pass_context
def create(ctx: click.Context, username: str, name: str, expires_days: int, no_expiry: bool, scope: str) -> None:
    """Create a token for USERNAME and print it once: only its hash is kept."""
    if no_expiry and ctx.get_parameter_source("expires_days") == click.core.ParameterSource.COMMANDLINE:
        fail("give either --expires or --no-expiry, not both")
    env = command_environment()
    now = env.runtime.clock.now()
    with account_transaction(env) as session:
        issued = api_tokens.create_token(session, username, now, name=name, scope=scope,
                                         expires_in=None if no_expiry else timedelta(days=expires_days))
    click.echo(issued.secret)
    expiry = f"expires {shown_time(issued.expires_at)}" if issued.expires_at else "does not expire"
    click.echo(f"token {issued.id} ({issued.name}, {issued.scope}) for {username}; {expiry}. It is shown only now: "
               "store it safely.", err=True)


@token.command(name="list")
@click.argument("username", required=False)
def list_command(username: str | None) -> None:
    """List tokens (of USERNAME, or all): id, user, prefix, state, name, created, last used, expires, scope
    (tab-separated, under the ``times: Asia/Shanghai`` line and a header)."""
    env = command_environment()
    now = env.runtime.clock.now()
    with account_transaction(env) as session:
        tokens = api_tokens.list_tokens(session, username)
    if not tokens:
        click.echo("no tokens")
        return
    click.echo(TIMES_HEADER)
    click.echo("id\tuser\tprefix\tstate\tname\tcreated\tlast used\texpires\tscope")
    for info in tokens:
        click.echo("\t".join((str(info.id), info.username, info.prefix + "…", info.state(now), info.name,
                              shown_time(info.created_at), shown_time(info.last_used_at), shown_time(info.expires_at),
                              info.scope)))


@token.command(name="revoke")
@click.argument("token_id", type=int)
def revoke(token_id: int) -> None:
    """Revoke token TOKEN_ID at once (see ``token list`` for ids)."""
    env = command_environment()
    with account_transaction(env) as session:
        info = api_tokens.revoke_token(session, token_id, env.runtime.clock.now())
    click.echo(f"token {info.id} ({info.name}) of {info.username} revoked")
