"""API token scopes and expiry: a read-only token reads but gets a JSON 403 on every state-changing call; ``baozhuang
token create`` gives 90 days unless ``--expires`` / ``--no-expiry`` (or ``BAOZHUANG_TOKEN_EXPIRY_DAYS``) says
otherwise and takes ``--scope``; ``token list`` and the admin's user page show scope and expiry. On SQLite and
PostgreSQL (the ``db`` fixture)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from runner import api_tokens
from runner.accounts import AccountError, ApiToken
from runner.clock import shown_time
from tests.api_helpers import (
    Api,
    api_fixture,  # noqa: F401  (the api fixture)
    error_of,
    issue_token,
)
from tests.db import open_task, run_cli
from tests.webui_helpers import Browser, password_of, start_case, task_of, text_of


def test_a_read_only_token_reads_but_may_change_nothing(api: Api) -> None:
    number = start_case(api.db)
    task = task_of(api.db, number, "accept_application")
    reader = issue_token(api.db, "account_manager", scope=api_tokens.READ)
    supervisor_reader = issue_token(api.db, "supervisor", scope="read")
    assert api.get("/tasks", token=reader).status_code == 200
    assert api.get(f"/tasks/{task}", token=reader).status_code == 200
    for path, token, body in ((f"/tasks/{task}/claim", reader, None),
                              (f"/tasks/{task}/assign", supervisor_reader, {"user": "account_manager"}),
                              (f"/tasks/{task}/complete", reader, {"data": {}, "request_id": "req-00001"}),
                              ("/applications", reader, {"application": {}}),
                              (f"/cases/{number}/messages", reader, {"message": "x", "payload": {}}),
                              ("/failed-messages/retry", supervisor_reader, None)):
        refused = api.post(path, token=token, json=body)
        assert refused.status_code == 403, path
        error = error_of(refused)
        assert error["code"] == "read_only_token" and "read-only" in error["message"], path
    assert open_task(api.db, number, "accept_application").assignee is None
    # the same user's read-write token (the default scope) may
    assert api.post(f"/tasks/{task}/claim", "account_manager").status_code == 200


def test_the_service_refuses_an_unknown_scope_and_lists_the_scope(api: Api) -> None:
    with api.db.transaction() as session, pytest.raises(AccountError, match="unknown scope"):
        api_tokens.create_token(session, "surveyor", api.db.clock.now(), scope="admin")
    issue_token(api.db, "surveyor", scope="read", name="dashboard")
    with api.db.reading() as session:
        scopes = {info.name: info.scope for info in api_tokens.list_tokens(session, "surveyor")}
    assert scopes == {"surveyor token": "read-write", "dashboard": "read"}


def cli_rows(api: Api, instance: Path, username: str) -> dict[str, list[str]]:
    """``token list USERNAME`` as rows by token name."""
    listed = run_cli(api.db, instance, "token", "list", username)
    assert listed.exit_code == 0, listed.output
    _, header, *rows = listed.stdout.strip().splitlines()
    assert header.split("\t")[-2:] == ["expires", "scope"]
    return {line.split("\t")[4]: line.split("\t") for line in rows}


def lifetimes(api: Api, username: str) -> dict[str, timedelta | None]:
    """How long each token of the user was made to last (the command line stamps them with the real clock)."""
    with api.db.reading() as session:
        return {info.name: info.expires_at - info.created_at if info.expires_at else None
                for info in api_tokens.list_tokens(session, username)}


def test_cli_tokens_expire_after_90_days_unless_told_otherwise(api: Api, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    instance = tmp_path / "cli"
    for name, options in (("default", ()), ("month", ("--expires", "30")), ("old option", ("--expires-days", "5")),
                          ("forever", ("--no-expiry",)), ("reader", ("--scope", "read"))):
        created = run_cli(api.db, instance, "token", "create", "archivist", "--name", name, *options)
        assert created.exit_code == 0, created.output
    monkeypatch.setenv("BAOZHUANG_TOKEN_EXPIRY_DAYS", "7")
    assert run_cli(api.db, instance, "token", "create", "archivist", "--name", "site policy").exit_code == 0
    days = timedelta(days=1)
    assert lifetimes(api, "archivist") == {"archivist token": None, "default": 90 * days, "month": 30 * days,
                                           "old option": 5 * days, "forever": None, "reader": 90 * days,
                                           "site policy": 7 * days}
    rows = cli_rows(api, instance, "archivist")
    with api.db.reading() as session:
        expected = {info.name: shown_time(info.expires_at) for info in api_tokens.list_tokens(session, "archivist")}
    assert {name: row[7] for name, row in rows.items()} == expected
    assert rows["forever"][7] == "-"
    assert {name: row[8] for name, row in rows.items()} == {name: "read" if name == "reader" else "read-write"
                                                            for name in rows}

    before = run_cli(api.db, instance, "token", "list").stdout
    for args, message in ((("--expires", "30", "--no-expiry"), "either --expires or --no-expiry"),
                          (("--scope", "admin"), "--scope"), (("--expires", "0"), "--expires")):
        refused = run_cli(api.db, instance, "token", "create", "archivist", *args)
        assert refused.exit_code != 0 and message in refused.output, (args, refused.output)
    assert run_cli(api.db, instance, "token", "list").stdout == before


def test_a_cli_token_stops_working_after_its_default_expiry(api: Api, tmp_path: Path) -> None:
    created = run_cli(api.db, tmp_path / "cli", "token", "create", "installer", "--name", "meter system")
    secret = created.stdout.strip()
    assert "expires" in created.stderr and "read-write" in created.stderr
    with api.db.reading() as session:
        (made,) = [info for info in api_tokens.list_tokens(session, "installer") if info.name == "meter system"]
    api.db.clock.advance(made.created_at + timedelta(days=90, seconds=-1) - api.db.clock.now())
    assert api.get("/tasks", token=secret).status_code == 200
    api.db.clock.advance(timedelta(seconds=1))
    assert api.get("/tasks", token=secret).status_code == 401


def test_the_admin_page_shows_each_tokens_scope_and_expiry(api: Api) -> None:
    issue_token(api.db, "surveyor", scope="read", name="dashboard", expires_in=timedelta(days=90))
    with api.db.transaction() as session:
        row = session.scalar(select(ApiToken).where(ApiToken.name == "surveyor token"))
        assert row is not None
        api_tokens.revoke_token(session, row.id, api.db.clock.now())
    admin = Browser(api.app.test_client(), "127.0.0.1")
    assert admin.login("admin", password_of("admin")).status_code == 302
    page = text_of(admin.get("/admin/users/surveyor"))
    assert "接口令牌" in page
    assert "dashboard" in page and "只读" in page and "有效" in page
    assert shown_time(api.db.clock.now() + timedelta(days=90)) in page
    assert "surveyor token" in page and "读写" in page and "永不过期" in page and "已吊销" in page
    secret = api.tokens["surveyor"]
    assert secret[12:] not in page
