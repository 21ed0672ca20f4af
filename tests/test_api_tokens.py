"""Bearer tokens: the service (``runner.api_tokens``), ``baozhuang token create|list|revoke``, and how the API
authenticates with them (401 for a missing, unknown, revoked or expired token; groups read on every request; a
signed-in browser session is not enough)."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from runner import accounts, api_tokens
from runner.accounts import AccountError, ApiToken
from tests.api_helpers import (
    Api,
    api_fixture,  # noqa: F401  (the api fixture)
    error_of,
    issue_token,
)
from tests.db import Db, run_cli
from tests.webui_helpers import Browser, password_of
from webui.api.auth import BAD_TOKEN_LIMIT


def token_row(db: Db, secret: str) -> ApiToken:
    with db.reading() as session:
        row = session.scalar(select(ApiToken).where(ApiToken.token_hash == hashlib.sha256(secret.encode()).hexdigest()))
        assert row is not None
        return row


def test_only_a_hash_and_a_short_prefix_of_the_secret_are_stored(api: Api) -> None:
    secret = api.tokens["surveyor"]
    row = token_row(api.db, secret)
    assert secret.startswith("bzt_") and len(secret) > 40
    assert row.prefix == secret[:12] and row.token_hash != secret and secret[12:] not in row.prefix
    assert row.last_used_at is None and row.expires_at is None and row.revoked_at is None


def test_a_request_without_a_valid_token_is_401_with_www_authenticate(api: Api) -> None:
    for headers in ({}, {"Authorization": "Basic c3VydmV5b3I6eA=="}, {"Authorization": "Bearer "},
                    {"Authorization": "Bearer bzt_not-a-token"}, {"Authorization": "Bearer " + "x" * 5000}):
        response = api.get("/tasks", headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert error_of(response)["code"] in ("unauthorized", "invalid_token")
    assert api.get("/tasks", "surveyor").status_code == 200


def test_use_is_recorded_and_a_revoked_token_stops_working_at_once(api: Api) -> None:
    secret = api.tokens["surveyor"]
    assert api.get("/tasks", "surveyor").status_code == 200
    row = token_row(api.db, secret)
    assert row.last_used_at == api.db.clock.now()
    with api.db.transaction() as session:
        info = api_tokens.revoke_token(session, row.id, api.db.clock.now())
    assert info.state(api.db.clock.now()) == "revoked"
    response = api.get("/tasks", "surveyor")
    assert response.status_code == 401 and error_of(response)["code"] == "invalid_token"
    assert api.get("/tasks", "inspector").status_code == 200  # other tokens are untouched


def test_an_expired_token_and_a_deactivated_user_are_refused(api: Api) -> None:
    short = issue_token(api.db, "inspector", expires_in=timedelta(days=1))
    assert api.get("/tasks", token=short).status_code == 200
    api.db.clock.advance(timedelta(days=1))
    assert api.get("/tasks", token=short).status_code == 401
    assert api.get("/tasks", "inspector").status_code == 200  # the token without expiry
    with api.db.transaction() as session:
        user = session.scalar(select(accounts.User).where(accounts.User.username == "inspector"))
        assert user is not None
        user.active = False
    assert api.get("/tasks", "inspector").status_code == 401


def test_groups_are_read_on_every_request(api: Api) -> None:
    assert api.get("/incidents", "surveyor").status_code == 403
    with api.db.transaction() as session:
        accounts.set_groups(session, "surveyor", ("surveyor", "supervisor"))
    assert api.get("/incidents", "surveyor").status_code == 200
    with api.db.transaction() as session:
        accounts.set_groups(session, "surveyor", ())
    assert api.get("/tasks", "surveyor").status_code == 403  # a token of a user without groups does nothing


def test_a_signed_in_browser_session_does_not_authenticate_the_api(api: Api) -> None:
    browser = Browser(api.app.test_client(), "127.0.0.1")
    assert browser.login("supervisor", password_of("supervisor")).status_code == 302
    assert browser.get("/tasks/").status_code == 200  # the HTML pages take the session
    response = browser.get("/api/v1/tasks")
    assert response.status_code == 401 and response.is_json
    posted = browser.client.post("/api/v1/incidents/1/retry")  # no CSRF token, no bearer token
    assert posted.status_code == 401 and posted.is_json


def test_the_service_refuses_unknown_users_and_ids(api: Api) -> None:
    with api.db.transaction() as session:
        with pytest.raises(AccountError, match="no user"):
            api_tokens.create_token(session, "no-such-user", api.db.clock.now())
        with pytest.raises(AccountError, match="future"):
            api_tokens.create_token(session, "surveyor", api.db.clock.now(), expires_in=timedelta(0))
        with pytest.raises(AccountError, match="no token"):
            api_tokens.revoke_token(session, 999_999, api.db.clock.now())
        with pytest.raises(AccountError, match="no user"):
            api_tokens.list_tokens(session, "no-such-user")
        assert [info.username for info in api_tokens.list_tokens(session, "Surveyor")] == ["surveyor"]


def test_cli_create_prints_a_token_that_works_until_revoked(api: Api, tmp_path: Path) -> None:
    instance = tmp_path / "cli"
    created = run_cli(api.db, instance, "token", "create", "archivist", "--name", "archive system",
                      "--expires-days", "30")
    assert created.exit_code == 0, created.output
    secret = created.stdout.strip()
    assert secret.startswith("bzt_") and "\n" not in secret
    assert "shown only now" in created.stderr
    assert api.get("/tasks", token=secret).status_code == 200

    listed = run_cli(api.db, instance, "token", "list", "archivist")
    assert listed.exit_code == 0, listed.output
    times, header, *rows = listed.stdout.strip().splitlines()
    assert times == "times: Asia/Shanghai" and header.split("\t")[0] == "id"
    lines = [line.split("\t") for line in rows]
    mine = [line for line in lines if line[4] == "archive system"]
    assert len(mine) == 1 and mine[0][1] == "archivist" and mine[0][3] == "active"
    assert secret not in listed.stdout and mine[0][2] == secret[:12] + "…"

    revoked = run_cli(api.db, instance, "token", "revoke", mine[0][0])
    assert revoked.exit_code == 0 and "revoked" in revoked.stdout
    assert api.get("/tasks", token=secret).status_code == 401
    assert "\trevoked\t" in run_cli(api.db, instance, "token", "list", "archivist").stdout


def test_cli_errors_are_clear_and_change_nothing(api: Api, tmp_path: Path) -> None:
    instance = tmp_path / "cli"
    before = run_cli(api.db, instance, "token", "list").stdout
    for args, message in ((("create", "no-such-user"), "no user no-such-user"),
                          (("create", "surveyor", "--expires-days", "0"), "--expires-days"),
                          (("revoke", "424242"), "no token 424242"),
                          (("revoke", "abc"), "not a valid integer"),
                          (("list", "ghost"), "no user ghost")):
        result = run_cli(api.db, instance, "token", *args)
        assert result.exit_code != 0, args
        assert message in result.output, (args, result.output)
    assert run_cli(api.db, instance, "token", "list").stdout == before


def test_the_api_is_exempt_from_csrf_but_the_pages_are_not(api: Api) -> None:
    response = api.post("/applications", "account_manager", json={"application": {}})
    assert response.status_code == 422  # validated, not refused for a missing CSRF token
    client = api.app.test_client()
    assert client.post("/auth/login", data={"username": "x", "password": "y"}).status_code == 400


def test_many_invalid_tokens_from_one_address_are_throttled(api: Api) -> None:
    attacker = {"REMOTE_ADDR": "203.0.113.9"}
    for attempt in range(BAD_TOKEN_LIMIT.limit):
        response = api.get("/tasks", token=f"bzt_guess{attempt}", environ_base=attacker)
        assert response.status_code == 401, attempt
    throttled = api.get("/tasks", token="bzt_guess-again", environ_base=attacker)
    assert throttled.status_code == 429 and error_of(throttled)["code"] == "too_many_requests"
    assert 0 < int(throttled.headers["Retry-After"]) <= BAD_TOKEN_LIMIT.window_seconds
    assert api.get("/tasks", "surveyor", environ_base=attacker).status_code == 200  # a valid token passes
    assert api.get("/tasks", token="bzt_guess-more", environ_base=attacker).status_code == 429  # guesses wait
    assert api.get("/tasks", "surveyor").status_code == 200  # other addresses do not
    api.db.clock.advance(timedelta(seconds=BAD_TOKEN_LIMIT.window_seconds + 1))
    assert api.get("/tasks", "surveyor", environ_base=attacker).status_code == 200
