"""``baozhuang user create|list|set-password``: the first real user of a fresh database, made on the command line,
signs in to the web UI (an ``--admin`` reaches the user administration); refusals are one ``error:`` line and
create nothing."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from flask import Flask

from runner import accounts
from runner.cli import main
from tests.db import Db
from tests.webui_helpers import Web, build_app, text_of
from webui.extensions import db as flask_db

PASSWORD = "first-secret"


def baozhuang(db: Db, instance: Path, *args: str, input: str | None = None) -> Result:
    env = {"DATABASE_URL": db.url, "BAOZHUANG_INSTANCE": str(instance)}
    return CliRunner().invoke(main, list(args), env=env, input=input)


def assert_refused(result: Result, message: str) -> None:
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert errors == [f"error: {message}"], result.output


@pytest.fixture(name="app")
def app_fixture(db: Db, tmp_path: Path) -> Iterator[Flask]:
    app = build_app(db, tmp_path / "instance")
    yield app
    with app.app_context():
        flask_db.engine.dispose()


def test_the_first_administrator_signs_in_and_administers_users(db: Db, tmp_path: Path, app: Flask,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="baozhuang.admin")
    with db.reading() as session:
        assert accounts.get_account_by_name(session, "wang.fang") is None
    result = baozhuang(db, tmp_path, "user", "create", "Wang.Fang", "--admin", "--display-name", "王芳",
                       input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert "Password: " in result.stdout and "Repeat for confirmation: " in result.stdout
    assert PASSWORD not in result.output  # the prompt hides what is typed
    assert result.stdout.splitlines()[-1] == "user wang.fang (王芳) created in admin"
    assert "admin=cli action=create_user user=wang.fang groups=admin" in caplog.text

    browser = Web(app, db).client()
    assert browser.login("wang.fang", PASSWORD).status_code == 302
    page = browser.get("/admin/users")
    assert page.status_code == 200 and "wang.fang" in text_of(page)


def test_groups_password_from_stdin_list_and_set_password(db: Db, tmp_path: Path, app: Flask) -> None:
    result = baozhuang(db, tmp_path, "user", "create", "li.si", "--group", "surveyor", "--group", "inspector",
                       "--group", "surveyor", "--password-stdin", input=f"{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert "Password" not in result.output
    with db.reading() as session:
        assert accounts.groups_of(session, "li.si") == ("inspector", "surveyor")
    browser = Web(app, db).client()
    assert browser.login("li.si", PASSWORD).status_code == 302
    assert browser.get("/admin/users").status_code == 403  # not an admin

    listed = baozhuang(db, tmp_path, "user", "list")
    assert listed.exit_code == 0, listed.output
    header, columns, first = listed.stdout.splitlines()[:3]
    assert (header, columns) == ("times: Asia/Shanghai", "user\tdisplay name\tstate\tgroups\tlast login")
    assert first.split("\t")[:4] == ["li.si", "li.si", "active", "inspector,surveyor"]
    assert baozhuang(db, tmp_path, "user", "list", "nobody-like-this").stdout == "no users\n"

    changed = baozhuang(db, tmp_path, "user", "set-password", "LI.SI", input="second-secret\nsecond-secret\n")
    assert changed.exit_code == 0, changed.output
    assert changed.stdout.splitlines()[-1] == "password of li.si changed"
    assert Web(app, db).client().login("li.si", PASSWORD).status_code != 302
    assert Web(app, db).client().login("li.si", "second-secret").status_code == 302


def test_refusals_create_nothing(db: Db, tmp_path: Path) -> None:
    assert baozhuang(db, tmp_path, "user", "create", "zhang.san", "--group", "supervisor", "--password-stdin",
                     input=f"{PASSWORD}\n").exit_code == 0

    taken = baozhuang(db, tmp_path, "user", "create", "Zhang.San", "--admin", input=f"{PASSWORD}\n{PASSWORD}\n")
    assert_refused(taken, "user zhang.san exists")
    assert "Password" not in taken.output  # refused before the password is asked for
    assert_refused(baozhuang(db, tmp_path, "user", "create", "wang.wu", "--group", "king", "--password-stdin",
                             input=f"{PASSWORD}\n"),
                   f"unknown group(s) king; known: {', '.join(accounts.GROUPS)}")
    assert_refused(baozhuang(db, tmp_path, "user", "create", "wang.wu", "--password-stdin", input=f"{PASSWORD}\n"),
                   "give at least one --group (or --admin): a user without a group can do nothing")
    assert_refused(baozhuang(db, tmp_path, "user", "create", "wang wu", "--admin", "--password-stdin",
                             input=f"{PASSWORD}\n"), "invalid user name 'wang wu'")
    assert_refused(baozhuang(db, tmp_path, "user", "create", "wang.wu", "--admin", "--password-stdin",
                             input="12345\n"), f"password shorter than {accounts.MIN_PASSWORD_LENGTH} characters")
    assert_refused(baozhuang(db, tmp_path, "user", "create", "wang.wu", "--admin", input="12345\n12345\n"),
                   f"password shorter than {accounts.MIN_PASSWORD_LENGTH} characters")

    mismatch = baozhuang(db, tmp_path, "user", "create", "wang.wu", "--admin", input=f"{PASSWORD}\nother-secret\n")
    assert mismatch.exit_code == 1 and "The two entered values do not match" in mismatch.output
    assert "Traceback" not in mismatch.output  # asked again, then no more input: aborted

    assert_refused(baozhuang(db, tmp_path, "user", "set-password", "ghost", "--password-stdin",
                             input=f"{PASSWORD}\n"), "no user ghost")
    assert_refused(baozhuang(db, tmp_path, "user", "set-password", "zhang.san", "--password-stdin", input="123\n"),
                   f"password shorter than {accounts.MIN_PASSWORD_LENGTH} characters")
    with db.reading() as session:
        assert accounts.get_account_by_name(session, "wang.wu") is None
        assert accounts.authenticate(session, "zhang.san", PASSWORD, db.clock.now()) is not None
    assert baozhuang(db, tmp_path, "user", "list").stdout.count("\n") == 3  # two header lines, one user
