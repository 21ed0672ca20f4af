"""工作台: who sees which task, filters with their counts, paging, claim → unclaim, and assigning."""

from __future__ import annotations

import re
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from runner import services
from runner.accounts import LANE_ROLES
from tests.db import advance_to, complete, open_task, open_tasks
from tests.webui_helpers import (
    Web,
    build_app,
    start_case,
    task_of,
    text_of,
    web_fixture,  # noqa: F401  (the web fixture)
)
from webui.extensions import db as flask_db


def task_ids(html: str) -> set[str]:
    return set(re.findall(r'href="/tasks/([0-9a-f-]{36})"', html))


def test_a_new_case_task_shows_to_its_lane_only(web: Web) -> None:
    number = start_case(web.db, customer_name="示例电子有限公司")
    task = task_of(web.db, number, "accept_application")
    page = web.client("account_manager").get("/tasks/")
    html = page.get_data(as_text=True)
    assert task in task_ids(html)
    assert number in html and "示例电子有限公司" in html and "业务受理" in html and "待领取" in html
    for role in LANE_ROLES:
        if role != "account_manager":
            other = web.client(role).get("/tasks/")
            assert number not in other.get_data(as_text=True), role
            assert "共 0 项任务" in text_of(other), role


def test_supervisors_can_look_at_every_lane_but_only_work_on_their_own(web: Web) -> None:
    number = start_case(web.db)
    task = task_of(web.db, number, "accept_application")
    client = web.client("supervisor")
    assert number not in client.get("/tasks/").get_data(as_text=True)
    team = client.get("/tasks/?scope=team").get_data(as_text=True)
    assert number in team and f"/tasks/{task}/assign" in team
    assert f'href="/tasks/{task}"' not in team  # no 办理 link: not their lane
    assert number not in web.client("surveyor").get("/tasks/?scope=team").get_data(as_text=True)


def test_filters_counts_and_search(web: Web) -> None:
    residential = start_case(web.db, "lv_residential", customer_name="王小明")
    ordinary = start_case(web.db, "hv_ordinary", customer_name="示例科技有限公司")
    advance_to(web.db, ordinary, "site_survey")
    client = web.client("account_manager")
    page = text_of(client.get("/tasks/"))
    assert "共 1 项任务" in page  # the hv case's acceptance is done; its survey is the surveyor's
    assert "低压居民 (1)" in page and "高压普通 (0)" in page
    surveyor = web.client("surveyor")
    assert "高压普通 (1)" in text_of(surveyor.get("/tasks/"))
    assert "共 0 项任务" in text_of(surveyor.get("/tasks/?category=lv_residential"))
    assert "共 1 项任务" in text_of(surveyor.get("/tasks/?step=site_survey"))
    assert "现场勘查 (1)" in text_of(surveyor.get("/tasks/"))
    assert residential in client.get("/tasks/?q=王小").get_data(as_text=True)
    assert residential in client.get(f"/tasks/?q={residential.lower()}").get_data(as_text=True)
    assert "共 0 项任务" in text_of(client.get("/tasks/?q=示例科技"))
    # filters that make no sense are ignored (and a non-supervisor's "team" is their own lanes)
    assert "共 1 项任务" in text_of(client.get("/tasks/?category=not-a-category&due=nonsense&page=x&scope=team"))


def test_overdue_and_due_today_are_counted_and_highlighted(web: Web) -> None:
    number = start_case(web.db)
    due = open_task(web.db, number, "accept_application").due_at
    assert due is not None
    client = web.client("account_manager")
    page = text_of(client.get("/tasks/"))
    assert "已超期 0" in page
    web.db.clock.advance_to(due - timedelta(hours=1))  # the due day, an hour before the end
    page = text_of(client.get("/tasks/"))
    assert "今日到期 1" in page and "已超期 0" in page and "今日到期 ·" in page
    web.db.clock.advance_to(due + timedelta(minutes=1))
    html = client.get("/tasks/?due=overdue").get_data(as_text=True)
    assert "已超期 1" in text_of(client.get("/tasks/"))
    assert 'class="task card overdue"' in html and "due-overdue" in html and number in html


def test_paging(web: Web, tmp_path: Path) -> None:
    app = build_app(web.db, tmp_path / "paged", TASKS_PER_PAGE=2)
    numbers = [start_case(web.db) for _ in range(5)]
    client = web.client("account_manager")
    client.client = app.test_client()
    client.login("account_manager", "account_manager-secret")
    seen: set[str] = set()
    for page in (1, 2, 3):
        response = client.get(f"/tasks/?page={page}")
        found = set(re.findall(r"YK\d{14}", response.get_data(as_text=True)))
        assert len(found) == (2 if page < 3 else 1), page
        assert f"第 {page} / 3 页" in text_of(response)
        seen |= found
    assert seen == set(numbers)
    with app.app_context():
        flask_db.engine.dispose()
    assert "下一页" not in text_of(client.get("/tasks/?page=3"))
    with app.app_context():
        flask_db.engine.dispose()


def test_claim_then_unclaim(web: Web) -> None:
    number = start_case(web.db)
    task = task_of(web.db, number, "accept_application")
    client = web.client("account_manager")
    response = client.post(f"/tasks/{task}/claim", {"next": "/tasks/?scope=mine"})
    assert response.headers["Location"] == "/tasks/?scope=mine"
    page = client.get("/tasks/?scope=mine")
    assert f"已领取：{number} 业务受理" in text_of(page)
    assert "办理人：account_manager" in text_of(page) and f"/tasks/{task}/unclaim" in page.get_data(as_text=True)
    assert open_tasks(web.db, number)[0].assignee == "account_manager"
    assert client.post(f"/tasks/{task}/claim").status_code == 302  # claiming one's own task again is fine
    client.post(f"/tasks/{task}/unclaim")
    assert open_tasks(web.db, number)[0].assignee is None
    assert "待领取" in text_of(client.get("/tasks/"))


def test_a_task_claimed_by_a_colleague_cannot_be_claimed(web: Web) -> None:
    number = start_case(web.db)
    task = task_of(web.db, number, "accept_application")
    with web.db.transaction() as session:
        from runner import services

        services.claim_task(session, task, "am.colleague", ("account_manager",))
    client = web.client("account_manager")
    assert number not in client.get("/tasks/").get_data(as_text=True)  # claimed tasks leave the lane's list
    response = client.post(f"/tasks/{task}/claim")
    assert response.status_code == 302 and "该任务已被 am.colleague 领取。" in text_of(client.get("/tasks/"))
    assert open_tasks(web.db, number)[0].assignee == "am.colleague"
    assert client.post(f"/tasks/{task}/unclaim").status_code == 403
    form = client.get(f"/tasks/{task}")
    assert "该任务已由 am.colleague 领取" in text_of(form)


def test_supervisor_assigns_to_a_member_of_the_lane(web: Web) -> None:
    number = start_case(web.db)
    task = task_of(web.db, number, "accept_application")
    client = web.client("supervisor")
    page = client.get(f"/tasks/{task}/assign")
    assert 'value="account_manager"' in page.get_data(as_text=True)
    assert 'value="surveyor"' not in page.get_data(as_text=True)
    refused = client.post(f"/tasks/{task}/assign", {"assignee": "surveyor"})
    assert refused.status_code == 400 and "请选择该环节岗位中的一位人员" in text_of(refused)
    assert open_tasks(web.db, number)[0].assignee is None
    done = client.post(f"/tasks/{task}/assign", {"assignee": "account_manager", "next": f"/cases/{number}"})
    assert done.headers["Location"] == f"/cases/{number}"
    assert open_tasks(web.db, number)[0].assignee == "account_manager"
    mine = web.client("account_manager").get("/tasks/?scope=mine")
    assert number in mine.get_data(as_text=True)


def test_the_tasks_of_a_suspended_case_cannot_be_claimed_and_the_page_says_why(web: Web) -> None:
    number = start_case(web.db)
    task = task_of(web.db, number, "accept_application")
    with web.db.transaction() as session:
        from runner import services

        services.set_case_status(session, web.db.runtime, number, "suspended", "supervisor", "待客户补充材料")
    client = web.client("account_manager")
    response = client.post(f"/tasks/{task}/claim")
    assert response.status_code == 302
    assert f"案件 {number} 已暂停，恢复后才能办理其任务。" in text_of(client.get("/tasks/"))
    assert open_tasks(web.db, number)[0].assignee is None


def test_a_busy_database_gives_the_staff_a_page_to_retry_not_a_500(web: Web, monkeypatch: pytest.MonkeyPatch
                                                                   ) -> None:
    def locked(*_args: object, **_kwargs: object) -> object:
        raise OperationalError("SELECT …", {}, sqlite3.OperationalError("database is locked"))

    monkeypatch.setattr(services, "list_tasks", locked)
    response = web.client("account_manager").get("/tasks/")
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    assert "系统正忙，本次操作未执行，请稍后重试。" in text_of(response)


def test_claiming_a_task_a_colleague_has_finished_says_who_did_it(web: Web) -> None:
    """A list shown before a colleague completed the task: claiming, giving back or assigning it says it is done
    and by whom (it was a 404 page: "no open task"), and a made-up id stays a 404."""
    number = start_case(web.db)
    task = task_of(web.db, number, "accept_application")
    complete(web.db, number, "accept_application", user="am.colleague")
    client = web.client("account_manager")
    claimed = client.post(f"/tasks/{task}/claim", {"next": "/tasks/"})
    assert claimed.status_code == 302 and claimed.headers["Location"] == "/tasks/"
    assert "该任务已不在待办中：am.colleague 已办理。" in text_of(client.get("/tasks/"))
    supervisor = web.client("supervisor")
    assert supervisor.post(f"/tasks/{task}/unclaim").status_code == 302
    assert "该任务已不在待办中：am.colleague 已办理。" in text_of(supervisor.get("/tasks/"))
    assert supervisor.get(f"/tasks/{task}/assign").status_code == 302
    assert client.post("/tasks/0123456789abcdef0123456789abcdef/claim").status_code == 404


def test_a_claim_or_assignment_that_loses_the_race_to_a_completion_says_who_completed(
        web: Web, monkeypatch: pytest.MonkeyPatch) -> None:
    """The route read the task while it was open, a colleague completed it before the claim's UPDATE: the flash
    names who did it (it said 该任务已被他人领取, as if the task were merely claimed), and nothing is claimed."""
    number = start_case(web.db)
    task = task_of(web.db, number, "accept_application")
    with web.db.transaction() as session:
        seen = services.task_to_act_on(session, task)
        session.expunge(seen)
    complete(web.db, number, "accept_application", user="am.colleague")
    monkeypatch.setattr(services, "task_to_act_on", lambda _session, _task_id: seen)
    client = web.client("account_manager")
    assert client.post(f"/tasks/{task}/claim").status_code == 302
    shown = text_of(client.get("/tasks/"))
    assert "该任务已不在待办中：am.colleague 已办理。" in shown and "已被他人领取" not in shown
    supervisor = web.client("supervisor")
    assert supervisor.post(f"/tasks/{task}/assign", {"assignee": "account_manager"}).status_code == 302
    assert "该任务已不在待办中：am.colleague 已办理。" in text_of(supervisor.get("/tasks/"))
    assert task not in {row.id for row in open_tasks(web.db, number)}
