"""Login sessions kept on the server (``runner.login_sessions``): signing out ends that session for a copy of its
cookie too and leaves the user's other sessions alone; an administrator ends every session of a user (强制下线), sees
them on the user's page with their last use, and so does a deactivation; the last use is written at most once per
``LAST_SEEN_RESOLUTION``. On SQLite and PostgreSQL (the ``db`` fixture)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from runner.accounts import LoginSession, User
from runner.clock import SHANGHAI
from runner.login_sessions import LAST_SEEN_RESOLUTION
from tests.db import Db, run_cli
from tests.webui_helpers import (
    Browser,
    Web,
    text_of,
    web_fixture,  # noqa: F401  (the web fixture)
)


def copy_of(web: Web, browser: Browser) -> Browser:
    """Another browser holding a copy of ``browser``'s session cookie (as someone who copied it would)."""
    cookie = browser.client.get_cookie("session")
    assert cookie is not None
    thief = web.client()
    thief.client.set_cookie("session", cookie.value)
    return thief


def signed_in(browser: Browser) -> bool:
    response = browser.get("/tasks/")
    if response.status_code == 302:
        assert "/auth/login" in response.headers["Location"]
        return False
    assert response.status_code == 200
    return True


def sessions_of(db: Db, username: str) -> list[LoginSession]:
    with db.reading() as session:
        user_id = session.scalar(select(User.id).where(User.username == username))
        return list(session.scalars(select(LoginSession).where(LoginSession.user_id == user_id)
                                    .order_by(LoginSession.id)))


def test_signing_out_ends_that_session_for_a_copied_cookie_but_not_the_users_other_sessions(web: Web) -> None:
    counter_pc = web.client("surveyor")
    phone = web.client("surveyor")
    copied = copy_of(web, counter_pc)
    assert signed_in(copied)  # a copy works while the session does

    assert counter_pc.post("/auth/logout").status_code == 302
    assert not signed_in(counter_pc)
    assert not signed_in(copied)  # before the fix the copy stayed signed in until the cookie's 12 h end
    assert signed_in(phone)  # the user's other session goes on
    rows = sessions_of(web.db, "surveyor")
    assert [(row.ended_at is not None, row.end_reason) for row in rows] == [(True, "logout"), (False, None)]


def test_an_administrator_ends_every_session_of_a_user_and_sees_them_with_their_last_use(web: Web) -> None:
    first, second = web.client("inspector"), web.client("inspector")
    web.db.clock.advance(timedelta(minutes=30))
    assert signed_in(first)  # its last use is now written (older than the resolution)
    admin = web.client("admin")
    page = text_of(admin.get("/admin/users/inspector"))
    assert "登录会话" in page and page.count("在线") == 2 and "强制下线" in page
    shown = web.db.clock.now().astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
    assert shown in page  # the last use of the first session
    admin_copy = web.client("admin")

    ended = admin.post("/admin/users/inspector/sessions/end")
    assert ended.status_code == 302
    assert "已结束 inspector 的 2 个登录会话" in text_of(admin.get("/admin/users/inspector"))
    assert not signed_in(first) and not signed_in(second)
    assert "管理员强制下线" in text_of(admin.get("/admin/users/inspector"))
    assert signed_in(web.client("inspector"))  # signing in again works

    # ending one's own sessions keeps the one it is done from
    assert admin.post("/admin/users/admin/sessions/end").status_code == 302
    assert admin.get("/admin/users").status_code == 200
    assert not signed_in(admin_copy)
    # only administrators may
    supervisor = web.client("supervisor")
    assert supervisor.post("/admin/users/inspector/sessions/end").status_code == 403


def test_deactivation_and_a_password_reset_end_every_session_row(web: Web) -> None:
    for username in ("archivist", "installer"):
        web.client(username)
    admin = web.client("admin")
    admin.get("/admin/users/archivist")
    assert admin.post("/admin/users/archivist/active", {"active": "0"}).status_code == 302
    assert admin.post("/admin/users/installer/password", {"password": "brand-new-1"}).status_code == 302
    assert [row.end_reason for row in sessions_of(web.db, "archivist")] == ["deactivated"]
    assert [row.end_reason for row in sessions_of(web.db, "installer")] == ["password"]
    # reactivated, the old session stays ended
    assert admin.post("/admin/users/archivist/active", {"active": "1"}).status_code == 302
    assert sessions_of(web.db, "archivist")[0].ended_at is not None


def test_the_last_use_is_written_at_most_once_per_resolution(web: Web) -> None:
    browser = web.client("followup_agent")
    started = web.db.clock.now()
    web.db.clock.advance(LAST_SEEN_RESOLUTION - timedelta(seconds=1))
    for _ in range(3):
        assert signed_in(browser)
    assert [row.last_seen_at for row in sessions_of(web.db, "followup_agent")] == [started]
    web.db.clock.advance(timedelta(seconds=1))
    assert signed_in(browser)
    assert [row.last_seen_at for row in sessions_of(web.db, "followup_agent")] == [web.db.clock.now()]


def test_a_cookie_of_the_older_format_or_with_a_forged_secret_is_anonymous(web: Web) -> None:
    browser = web.client("surveyor")
    with browser.client.session_transaction() as flask_session:
        user_id = flask_session["_user_id"]
        number, key, secret = user_id.split(":")
        flask_session["_user_id"] = f"{number}:{key}"  # the format before migration 0013
    assert not signed_in(browser)
    forged = web.client("surveyor")
    with forged.client.session_transaction() as flask_session:
        flask_session["_user_id"] = f"{number}:{key}:{'x' * len(secret)}"
    assert not signed_in(forged)


def test_the_command_line_ends_a_users_sessions(web: Web, tmp_path: Path) -> None:
    browser = web.client("plan_reviewer")
    result = run_cli(web.db, tmp_path / "cli", "user", "end-sessions", "Plan_Reviewer")
    assert result.exit_code == 0, result.output
    assert "plan_reviewer: 1 session(s) ended" in result.stdout
    assert not signed_in(browser)
    unknown = run_cli(web.db, tmp_path / "cli", "user", "end-sessions", "ghost")
    assert unknown.exit_code != 0 and "no user ghost" in unknown.output
