"""Signing in and out: passwords, throttling, CSRF, cookie flags, the secret key, and where login sends you."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from runner import accounts
from runner.accounts import LoginFailure, User
from tests.db import Db
from tests.webui_helpers import (
    Web,
    build_app,
    password_of,
    start_case,
    task_of,
    text_of,
    web_fixture,  # noqa: F401  (the web fixture)
)


def test_login_with_the_right_password_and_logout(web: Web) -> None:
    client = web.client()
    response = client.login("account_manager", password_of("account_manager"))
    assert (response.status_code, response.headers["Location"]) == (302, "/tasks/")
    assert "account_manager 退出" in text_of(client.get("/tasks/"))
    with web.db.reading() as session:
        user = session.scalar(select(User).where(User.username == "account_manager"))
        assert user is not None and user.last_login_at == web.db.clock.now()
    response = client.post("/auth/logout")
    assert (response.status_code, response.headers["Location"]) == (302, "/auth/login")
    assert client.get("/tasks/").status_code == 302


def test_wrong_password_or_unknown_user_is_refused_alike(web: Web) -> None:
    for username, password in (("account_manager", "wrong-password"), ("ghost", "whatever1")):
        response = web.client().login(username, password)
        assert response.status_code == 200
        assert "用户名或密码不正确" in text_of(response)
    assert web.db.count(LoginFailure) == 2


def test_login_returns_to_the_page_asked_for_but_never_to_another_site(web: Web) -> None:
    number = start_case(web.db)
    client = web.client()
    client.get("/auth/login")
    response = client.post("/auth/login", {"username": "analyst", "password": password_of("analyst"),
                                           "next": f"/cases/{number}"})
    assert response.headers["Location"] == f"/cases/{number}"
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        other = web.client()
        other.get("/auth/login")
        response = other.post("/auth/login", {"username": "analyst", "password": password_of("analyst"),
                                              "next": target})
        assert response.headers["Location"] == "/simulation/", target  # the analyst's home


def test_five_failures_throttle_the_user_from_that_address_for_ten_minutes(web: Web) -> None:
    client = web.client(address="10.0.0.7")
    for _ in range(5):
        assert "用户名或密码不正确" in text_of(client.login("inspector", "wrong-password"))
    response = client.login("inspector", password_of("inspector"))  # right password, but throttled
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "600"
    assert "登录失败次数过多" in text_of(response)
    # another user from the same address, and the same user from another address, are not held up
    assert web.client(address="10.0.0.7").login("installer", password_of("installer")).status_code == 302
    assert web.client(address="10.0.0.8").login("inspector", password_of("inspector")).status_code == 302
    web.db.clock.advance(timedelta(minutes=10, seconds=1))
    assert client.login("inspector", password_of("inspector")).status_code == 302
    with web.db.reading() as session:  # a successful login forgets the failures
        assert accounts.recent_failures(session, "inspector", "10.0.0.7", web.db.clock.now(),
                                        timedelta(minutes=10)) == 0


def test_a_post_without_csrf_token_is_refused(web: Web) -> None:
    number = start_case(web.db)
    task = task_of(web.db, number, "accept_application")
    anonymous = web.client()
    response = anonymous.post("/auth/login", {"username": "account_manager",
                                              "password": password_of("account_manager")}, csrf=False)
    assert response.status_code == 400 and "请求已失效" in text_of(response)
    client = web.client("account_manager")
    for url in (f"/tasks/{task}/claim", f"/tasks/{task}/unclaim", f"/tasks/{task}", "/auth/logout"):
        assert client.post(url, {"request_id": "a" * 32}, csrf=False).status_code == 400, url
    forged = client.client.post(f"/tasks/{task}/claim", data={"csrf_token": "forged"})
    assert forged.status_code == 400
    assert client.get("/tasks/").status_code == 200  # still signed in: the refused logout did nothing
    assert task_of(web.db, number, "accept_application") == task


def test_session_cookie_is_httponly_lax_and_secure_unless_debugging(web: Web) -> None:
    client = web.client()
    client.get("/auth/login")
    response = client.post("/auth/login", {"username": "admin", "password": password_of("admin")})
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie
    assert web.app.config["SESSION_COOKIE_SECURE"] is True


def test_debug_app_drops_secure_and_secret_key_is_generated_once(db: Db, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BAOZHUANG_SECRET_KEY", raising=False)
    instance = tmp_path / "instance"
    app = build_app(db, instance, SECRET_KEY=None, DEBUG=True)
    key_file = instance / "secret_key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert app.config["SECRET_KEY"] == key_file.read_text().strip() and len(app.config["SECRET_KEY"]) == 64
    assert build_app(db, instance, SECRET_KEY=None).config["SECRET_KEY"] == app.config["SECRET_KEY"]
    assert app.config["SESSION_COOKIE_SECURE"] is False


def test_settings_come_from_the_environment(db: Db, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BAOZHUANG_SECRET_KEY", "from-the-environment")
    monkeypatch.setenv("BAOZHUANG_TASKS_PER_PAGE", "7")
    monkeypatch.setenv("BAOZHUANG_SESSION_COOKIE_SECURE", "false")
    app = build_app(db, tmp_path / "instance", SECRET_KEY=None)
    assert app.config["SECRET_KEY"] == "from-the-environment"
    assert app.config["TASKS_PER_PAGE"] == 7
    assert app.config["SESSION_COOKIE_SECURE"] is False
    assert not (tmp_path / "instance" / "secret_key").exists()
