"""用户管理: admins list, create and change users; membership reaches open tasks at once; non-admins get 403."""

from __future__ import annotations

import logging

import pytest
from werkzeug.datastructures import MultiDict

from runner.models import Event
from tests.db import advance_to, open_task
from tests.webui_helpers import (
    Web,
    password_of,
    start_case,
    text_of,
    web_fixture,  # noqa: F401  (the web fixture)
)


def test_only_admins_reach_user_management(web: Web) -> None:
    for role in ("supervisor", "account_manager", "analyst"):
        client = web.client(role)
        assert client.get("/admin/users").status_code == 403, role
        assert client.post("/admin/users/new", {"username": "x", "password": "secret1"}).status_code == 403, role
        assert "用户管理" not in text_of(client.get("/tasks/"))
    anonymous = web.client().get("/admin/users")
    assert anonymous.status_code == 302 and "/auth/login" in anonymous.headers["Location"]
    admin = web.client("admin")
    assert "用户管理" in text_of(admin.get("/tasks/"))
    assert admin.post("/admin/users/new", {"username": "no.token", "password": "secret1"},
                      csrf=False).status_code == 400


def test_admin_creates_searches_and_resets_a_user(web: Web, caplog: pytest.LogCaptureFixture) -> None:
    admin = web.client("admin")
    caplog.set_level(logging.INFO, logger="baozhuang.admin")
    response = admin.post("/admin/users/new", {"username": "li.si", "display_name": "李四",
                                               "password": "first-pass", "groups": "surveyor"})
    assert response.status_code == 302 and response.headers["Location"] == "/admin/users/li.si"
    page = text_of(admin.get("/admin/users/li.si"))
    assert "李四（li.si）" in page and "已创建用户 li.si" in page
    assert "admin=admin action=create_user user=li.si groups=surveyor" in caplog.text
    assert "li.si" in text_of(admin.get("/admin/users?q=李"))
    assert "li.si" not in text_of(admin.get("/admin/users?q=nobody-like-this"))

    taken = admin.post("/admin/users/new", {"username": "li.si", "password": "another1"})
    assert taken.status_code == 400 and "用户名 li.si 已被使用" in text_of(taken)
    short = admin.post("/admin/users/new", {"username": "wang.wu", "password": "123"})
    assert short.status_code == 400 and "无法创建用户" in text_of(short)
    bad_group = admin.post("/admin/users/new", {"username": "wang.wu", "password": "secret1", "groups": "king"})
    assert bad_group.status_code == 400 and "没有岗位 king" in text_of(bad_group)

    assert web.client().login("li.si", "first-pass").status_code == 302
    admin.post("/admin/users/li.si/password", {"password": "second-pass"})
    assert web.client().login("li.si", "first-pass").status_code != 302
    assert web.client().login("li.si", "second-pass").status_code == 302
    assert "action=reset_password user=li.si" in caplog.text
    assert "second-pass" not in caplog.text and "first-pass" not in caplog.text


def test_membership_reaches_open_tasks_at_once(web: Web, caplog: pytest.LogCaptureFixture) -> None:
    number = start_case(web.db)
    advance_to(web.db, number, "site_survey")
    task = open_task(web.db, number, "site_survey").id
    admin = web.client("admin")
    caplog.set_level(logging.INFO, logger="baozhuang.admin")
    person = web.client("account_manager")  # signed in before the change: groups are read per request
    assert task not in person.get("/tasks/").get_data(as_text=True)
    assert person.get(f"/tasks/{task}").status_code == 403

    both = MultiDict([("groups", "account_manager"), ("groups", "surveyor")])
    assert admin.post("/admin/users/account_manager/groups", both).status_code == 302
    assert task in person.get("/tasks/").get_data(as_text=True)
    assert person.post(f"/tasks/{task}/claim").status_code == 302
    assert open_task(web.db, number, "site_survey").assignee == "account_manager"
    assert person.get(f"/tasks/{task}").status_code == 200

    response = admin.post("/admin/users/account_manager/groups", {"groups": "account_manager"})
    assert response.status_code == 302
    assert "已将其 1 项任务退回岗位待领取" in text_of(admin.get("/admin/users/account_manager"))
    assert open_task(web.db, number, "site_survey").assignee is None  # back in the surveyors' queue
    assert person.get(f"/tasks/{task}").status_code == 403
    assert task not in person.get("/tasks/").get_data(as_text=True)
    assert task in web.client("surveyor").get("/tasks/").get_data(as_text=True)
    with web.db.reading() as session:
        released = session.query(Event).filter(Event.task_id == task, Event.lifecycle == "unclaimed").one()
        assert released.user == "admin" and released.data == {"assignee": "account_manager",
                                                              "reason": "membership"}
    assert "action=set_groups user=account_manager" in caplog.text and "released_tasks=1" in caplog.text


def test_deactivated_users_cannot_sign_in_and_give_back_their_tasks(web: Web) -> None:
    number = start_case(web.db)
    task = open_task(web.db, number, "accept_application").id
    person = web.client("account_manager")
    person.post(f"/tasks/{task}/claim")
    admin = web.client("admin")
    assert admin.post("/admin/users/account_manager/active", {"active": "0"}).status_code == 302
    assert "已停用" in text_of(admin.get("/admin/users/account_manager"))
    assert open_task(web.db, number, "accept_application").assignee is None
    assert person.get("/tasks/").status_code == 302  # the open session ends with the account
    assert web.client().login("account_manager", password_of("account_manager")).status_code != 302
    admin.post("/admin/users/account_manager/active", {"active": "1"})
    assert web.client().login("account_manager", password_of("account_manager")).status_code == 302
    own = admin.post("/admin/users/admin/active", {"active": "0"})
    assert own.status_code == 302 and "不能停用自己的账号" in text_of(admin.get("/admin/users/admin"))
    assert admin.get("/admin/users/no-such-user").status_code == 404


def test_who_reaches_the_new_pages(web: Web) -> None:
    """Every role on the pages of this area: allowed (200), forbidden (403), anonymous → the login page."""
    from runner.accounts import GROUPS
    from tests.webui_helpers import NO_GROUP

    staff = (*GROUPS, NO_GROUP)
    number = start_case(web.db)
    expected = {
        "/admin/users": {"admin"},
        "/admin/users/new": {"admin"},
        "/admin/users/surveyor": {"admin"},
        "/admin/data-access": {"supervisor", "admin"},
        "/incidents/": {"supervisor"},
    }
    for url, allowed in expected.items():
        got = {user: web.client(user).get(url).status_code for user in staff}
        assert got == {user: 200 if user in allowed else 403 for user in staff}, url
        anonymous = web.client().get(url)
        assert anonymous.status_code == 302 and anonymous.headers["Location"].startswith("/auth/login?next=")
    reveal = {user: web.client(user).post(f"/cases/{number}/reveal").status_code for user in staff}
    assert reveal == {user: 303 if user in ("account_manager", "followup_agent", "archivist", "supervisor")
                      else 403 for user in staff}
