"""Every ``baozhuang user`` and ``token`` command refuses through one helper (``cli_accounts.account_transaction``):
the same ``error:`` line and exit code 1 as before it, and the refused change leaves nothing behind, on SQLite and
PostgreSQL."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest
from sqlalchemy import func, select

from runner import accounts, cli_accounts
from runner.accounts import GROUPS, ApiToken
from tests.db import Db
from tests.test_cli_users import assert_refused, baozhuang

PASSWORD = "li-na-secret"
UNKNOWN_GROUP = f"unknown group(s) nosuch; known: {', '.join(GROUPS)}"
REFUSALS = [
    (("user", "create", "Li.Na", "--group", "surveyor"), None, "user li.na exists"),
    (("user", "create", "new.one", "--group", "nosuch"), None, UNKNOWN_GROUP),
    (("user", "set-password", "li.na", "--password-stdin"), "abc\n", "password shorter than 6 characters"),
    (("user", "set-password", "nobody", "--password-stdin"), "long-enough\n", "no user nobody"),
    (("user", "set-groups", "nobody", "--group", "surveyor"), None, "no user nobody"),
    (("user", "set-groups", "li.na", "--group", "nosuch"), None, UNKNOWN_GROUP),
    (("user", "set-groups", "cli", "--group", "surveyor"), None,
     "you cannot take yourself out of the admin group: ask another administrator"),
    (("user", "set-active", "nobody", "--inactive"), None, "no user nobody"),
    (("user", "set-active", "cli", "--inactive"), None, "you cannot deactivate yourself"),
    (("user", "end-sessions", "nobody"), None, "no user nobody"),
    (("token", "create", "nobody"), None, "no user nobody"),
    (("token", "list", "nobody"), None, "no user nobody"),
    (("token", "revoke", "999"), None, "no token 999"),
]


@pytest.mark.parametrize(("args", "stdin", "message"), REFUSALS, ids=[" ".join(args) for args, _, _ in REFUSALS])
def test_refusals_say_the_same_and_change_nothing(db: Db, tmp_path: Path, args: tuple[str, ...], stdin: str | None,
                                                   message: str) -> None:
    with db.transaction() as session:
        accounts.create_user(session, "li.na", PASSWORD, db.clock.now(), groups=("surveyor",))
        accounts.create_user(session, "cli", "cli-secret", db.clock.now(), groups=("admin",))  # whom --admin names
    result = baozhuang(db, tmp_path, *args, input=stdin)
    assert_refused(result, message)
    assert "Traceback" not in result.output
    with db.reading() as session:
        assert accounts.groups_of(session, "li.na") == ("surveyor",)
        assert accounts.groups_of(session, "cli") == ("admin",)
        assert accounts.authenticate(session, "li.na", PASSWORD, db.clock.now()) is not None
        assert accounts.get_account_by_name(session, "new.one") is None
        assert session.scalar(select(func.count()).select_from(ApiToken)) == 0


def test_no_command_catches_account_errors_itself() -> None:
    """The open-transaction / catch / ``fail`` block lives in ``account_transaction`` alone: no command opens a
    transaction or catches ``AccountError`` / ``NotFoundError`` on its own (``user list`` only reads)."""
    tree = ast.parse(inspect.getsource(cli_accounts))
    for function in (node for node in tree.body if isinstance(node, ast.FunctionDef)):
        if function.name == "account_transaction":
            continue
        source = ast.unparse(function)
        handlers = [handler for node in ast.walk(function) if isinstance(node, ast.Try) for handler in node.handlers]
        assert not handlers, f"{function.name} catches errors itself"
        assert "sessions.begin" not in source, f"{function.name} opens its own transaction"
        assert "env.sessions()" not in source or function.name == "user_list", function.name
