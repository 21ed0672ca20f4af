"""The administrator's review of accounts: a password reset ends the user's open sessions, an administrator cannot
lock themselves out of the user administration, user names that break pages or pose as customers are refused,
refusals are said in the page's language, a deactivated account is told so at login, and the data-access log
finds a user however the name is typed."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from click.testing import CliRunner
from werkzeug.datastructures import MultiDict

from runner import accounts, pii
from runner.cli import main
from tests.webui_helpers import (
    Web,
    password_of,
    text_of,
    web_fixture,  # noqa: F401  (the web fixture)
)


def test_a_password_reset_ends_the_sessions_signed_in_with_the_old_password(web: Web) -> None:
    stolen = web.client("surveyor")  # e.g. a session left open on a shared counter PC
    assert stolen.get("/tasks/").status_code == 200
    admin = web.client("admin")
    admin.get("/admin/users/surveyor")
    reset = admin.post("/admin/users/surveyor/password", {"password": "brand-new-1"})
    assert reset.status_code == 302
    assert "其已登录的会话均已失效" in text_of(admin.get("/admin/users/surveyor"))
    ended = stolen.get("/tasks/")
    assert ended.status_code == 302 and "/auth/login" in ended.headers["Location"]
    assert web.client().login("surveyor", password_of("surveyor")).status_code != 302
    assert web.client().login("surveyor", "brand-new-1").status_code == 302
    # an administrator resetting their own password stays signed in where they did it (and only there)
    other_admin_session = web.client("admin")
    assert admin.post("/admin/users/admin/password", {"password": "admin-new-1"}).status_code == 302
    assert admin.get("/admin/users").status_code == 200
    assert other_admin_session.get("/admin/users").status_code == 302


def test_an_administrator_cannot_take_themselves_out_of_the_admin_group(web: Web) -> None:
    admin = web.client("admin")
    admin.get("/admin/users/admin")
    refused = admin.post("/admin/users/admin/groups", {"groups": "surveyor"})
    assert refused.status_code == 302
    page = text_of(admin.get("/admin/users/admin"))
    assert "不能将自己移出系统管理员岗位" in page
    assert admin.get("/admin/users").status_code == 200  # still an administrator
    # adding groups to oneself is fine; another administrator may take one out of the group
    both = MultiDict([("groups", "admin"), ("groups", "supervisor")])
    assert admin.post("/admin/users/admin/groups", both).status_code == 302
    assert "已更新 admin 的岗位" in text_of(admin.get("/admin/users/admin"))
    second = MultiDict([("username", "admin2"), ("password", "secret-2"), ("groups", "admin")])
    assert admin.post("/admin/users/new", second).status_code == 302
    other = web.client()
    assert other.login("admin2", "secret-2").status_code == 302
    other.get("/admin/users/admin")
    assert other.post("/admin/users/admin/groups", {"groups": "supervisor"}).status_code == 302
    assert admin.get("/admin/users").status_code == 403


def test_user_names_that_break_pages_or_pose_as_customers_are_refused(web: Web) -> None:
    admin = web.client("admin")
    admin.get("/admin/users/new")
    for name in ("customer:YK2026", "li/na", "a?b", "x%2f", "<b>", "tab\tname"):
        refused = admin.post("/admin/users/new", {"username": name, "password": "secret-1", "groups": "surveyor"})
        assert refused.status_code == 400, name
        assert "用户名不能包含空格、控制字符或以下字符" in text_of(refused), name
    made = admin.post("/admin/users/new", {"username": "王芳", "password": "secret-1", "groups": "surveyor"})
    assert made.status_code == 302  # Chinese user names stay possible
    assert admin.get(made.headers["Location"]).status_code == 200


def test_refusals_are_said_in_the_pages_language(web: Web) -> None:
    admin = web.client("admin")
    admin.get("/admin/users/new")
    taken = admin.post("/admin/users/new", {"username": "Surveyor", "password": "secret-1", "groups": "surveyor"})
    assert taken.status_code == 400 and "用户名 surveyor 已被使用" in text_of(taken)
    short = admin.post("/admin/users/new", {"username": "li.na", "password": "abc", "groups": "surveyor"})
    assert short.status_code == 400 and "密码至少需要 6 个字符" in text_of(short)
    admin.get("/auth/language/en")
    unknown = admin.post("/admin/users/new", {"username": "li.na", "password": "secret-1", "groups": "root"})
    assert unknown.status_code == 400 and "There is no group root" in text_of(unknown)
    admin.post("/admin/users/admin/active", {"active": "0"})
    assert "You cannot deactivate your own account" in text_of(admin.get("/admin/users/admin"))


def test_a_deactivated_account_is_told_so_only_with_the_right_password(web: Web) -> None:
    admin = web.client("admin")
    admin.get("/admin/users/inspector")
    assert admin.post("/admin/users/inspector/active", {"active": "0"}).status_code == 302
    right = web.client().login("inspector", password_of("inspector"))
    assert right.status_code == 200 and "该账号已停用，请联系系统管理员" in text_of(right)
    wrong = web.client().login("inspector", "guess-guess")
    assert "用户名或密码不正确" in text_of(wrong) and "已停用" not in text_of(wrong)


def test_the_data_access_log_finds_a_user_however_the_name_is_typed(web: Web) -> None:
    with web.db.transaction() as session:
        pii.log_unmasked_view(session, "account_manager", "YK-1", ["application.phone"], "api",
                              web.db.clock.now() - timedelta(minutes=1))
    supervisor = web.client("supervisor")
    page = text_of(supervisor.get("/admin/data-access?user=Account_Manager"))
    assert "共 1 条记录" in page and "YK-1" in page and "接口" in page


def test_a_user_made_before_the_name_rules_with_a_slash_can_still_be_managed(web: Web) -> None:
    with web.db.transaction() as session:
        session.add(accounts.User(username="li/na", display_name="李娜", password_hash="x", active=True,
                                  created_at=web.db.clock.now()))
    admin = web.client("admin")
    assert "李娜" in text_of(admin.get("/admin/users/li/na"))
    assert admin.post("/admin/users/li/na/active", {"active": "0"}).status_code == 302
    assert "已停用 li/na" in text_of(admin.get("/admin/users/li/na"))


def test_the_command_line_gives_an_administrator_back_the_admin_group_and_deactivates(web: Web,
                                                                                      tmp_path: Path) -> None:
    env = {"DATABASE_URL": web.db.url, "BAOZHUANG_INSTANCE": str(tmp_path / "cli")}
    with web.db.transaction() as session:
        accounts.set_groups(session, "admin", ("surveyor",))  # e.g. taken out by a since-departed colleague
    admin = web.client("admin")
    assert admin.get("/admin/users").status_code == 403
    back = CliRunner().invoke(main, ["user", "set-groups", "Admin", "--admin", "--group", "surveyor"], env=env)
    assert back.exit_code == 0, back.output
    assert "user admin now in admin, surveyor" in back.stdout
    assert admin.get("/admin/users").status_code == 200
    off = CliRunner().invoke(main, ["user", "set-active", "surveyor", "--inactive"], env=env)
    assert off.exit_code == 0 and "user surveyor deactivated" in off.stdout, off.output
    assert web.client().login("surveyor", password_of("surveyor")).status_code != 302
    on = CliRunner().invoke(main, ["user", "set-active", "surveyor", "--active"], env=env)
    assert on.exit_code == 0 and "user surveyor reactivated" in on.stdout, on.output
    assert web.client().login("surveyor", password_of("surveyor")).status_code == 302
    ghost = CliRunner().invoke(main, ["user", "set-active", "ghost", "--inactive"], env=env)
    assert ghost.exit_code == 1 and "error: no user ghost" in ghost.stderr
    nothing = CliRunner().invoke(main, ["user", "set-groups", "surveyor"], env=env)
    assert nothing.exit_code == 1 and "at least one --group" in nothing.stderr
