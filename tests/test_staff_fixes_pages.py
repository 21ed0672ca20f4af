"""Fixes from a reviewer's walk through the task pages as staff: follow-up dates refused in words, due dates on the
rule-based holiday estimate flagged (pages and API), a form sent again with other answers says they were not saved,
the four-eyes rule shown before anyone acts (list, case page, form, assign dropdown, API), a suspended case's form
says so before submitting (and the API tells the case's status), staff by their display names, and the 413 page,
colons and the energize limit in the reader's language."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest

from runner import accounts, services
from tests.api_helpers import Api, api_fixture, issue_token  # noqa: F401  (the api fixture)
from tests.db import Db, advance_to, open_task
from tests.webui_helpers import FAST_HASH, Web, password_of, start_case, task_of, text_of, web_fixture  # noqa: F401

ESTIMATED = "（按估算日历）"
FOUR_EYES_NOTE = "您已办理 编制供电方案，按四眼原则不能办理本环节。"


def drafted_by_both(db: Db) -> tuple[str, str]:
    """A case at 审核供电方案 whose plan "both" (a surveyor and plan reviewer) drafted; its number and the task."""
    with db.transaction() as session:
        accounts.create_user(session, "both", password_of("both"), db.clock.now(), display_name="王两岗",
                             groups=("surveyor", "plan_reviewer"), password_method=FAST_HASH)
    number = start_case(db)
    advance_to(db, number, "review_plan", user="both")
    return number, open_task(db, number, "review_plan").id


def suspend(db: Db, number: str) -> None:
    with db.transaction() as session:
        services.set_case_status(session, db.runtime, number, "suspended", "supervisor", None)


def submit_button(html: str) -> str:
    found = re.search(r'<button type="submit" name="_action" value="complete"[^>]*>', html)
    assert found, "no submit button"
    return found[0]


# -- 3. follow-up dates ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["0001-01-01", "0001-01-02", "20261128", "2026-W48-6", "2026-11-25", "2031-11-27",
                                  "２０２６-１２-０１"])
def test_a_follow_up_date_out_of_shape_or_range_is_a_400_in_words(web: Web, text: str) -> None:
    number = start_case(web.db)
    task = task_of(web.db, number, "accept_application")
    client = web.client("account_manager")
    response = client.post(f"/tasks/{task}/follow-up", {"follow_up": text})
    assert response.status_code == 400
    assert "跟进日期格式应为 年-月-日，且在今天至 5 年内。" in text_of(response)
    assert open_task(web.db, number, "accept_application").follow_up_at is None


def test_a_follow_up_date_from_today_on_is_set_and_the_input_says_the_range(web: Web) -> None:
    number = start_case(web.db)  # the clock: 2026-11-26
    task = task_of(web.db, number, "accept_application")
    client = web.client("account_manager")
    html = client.get("/tasks/").get_data(as_text=True)
    assert 'min="2026-11-26" max="2031-11-26"' in html
    for day in ("2026-11-26", "2031-11-26"):
        response = client.post(f"/tasks/{task}/follow-up", {"follow_up": day})
        assert response.status_code == 302
        assert f"跟进日期已设为 {day}" in text_of(client.get("/tasks/"))


# -- 5. due dates on the estimated calendar --------------------------------------------------------------------------


def test_a_due_date_in_a_year_without_official_holidays_is_flagged(web: Web) -> None:
    web.db.clock.advance(timedelta(days=20))  # 2026-12-16: the plan's 20 working days end in 2027 (no data)
    number = start_case(web.db)
    advance_to(web.db, number, "draft_plan")
    client = web.client("surveyor")
    listed = client.get("/tasks/").get_data(as_text=True)
    [item] = re.findall(r'<li class="task card.*?</li>', listed, re.S)
    assert "编制供电方案" in item and ESTIMATED in item and "按规则估算（未含调休）" in item  # mark and tooltip
    page = client.get(f"/cases/{number}").get_data(as_text=True)
    sla = re.search(r'<section class="card" id="sla">.*?</section>', page, re.S)
    assert sla is not None
    rows = re.findall(r"<tr class=\"sla-.*?</tr>", sla[0], re.S)
    marked = {re.sub(r"<[^>]+>|\s", "", row.split("</td>")[0]): ESTIMATED in row for row in rows}
    assert marked["编制供电方案"] and not marked["业务受理"]  # accepted within 2026: official days only
    form = client.get(f"/tasks/{task_of(web.db, number, 'draft_plan')}").get_data(as_text=True)
    assert ESTIMATED in form


def test_a_due_date_within_official_years_is_not_flagged(web: Web) -> None:
    number = start_case(web.db)  # 2026-11-26: 受理 due within 2026
    assert ESTIMATED not in web.client("account_manager").get("/tasks/").get_data(as_text=True)
    assert number


def test_the_api_task_says_whether_its_due_date_is_estimated(api: Api) -> None:
    api.db.clock.advance(timedelta(days=20))
    number = start_case(api.db)
    listed = {task["element_id"]: task for task in api.get("/tasks?scope=team", "supervisor").get_json()["items"]}
    assert listed["accept_application"]["due_estimated"] is False
    advance_to(api.db, number, "draft_plan")
    task = open_task(api.db, number, "draft_plan").id
    assert api.get(f"/tasks/{task}", "surveyor").get_json()["due_estimated"] is True
    case = api.get(f"/cases/{number}", "supervisor").get_json()
    assert [t["due_estimated"] for t in case["open_tasks"]] == [True]


# -- 6. a form sent again with other answers -------------------------------------------------------------------------


def test_a_resent_form_with_other_answers_says_they_were_not_saved(web: Web) -> None:
    number = start_case(web.db)
    advance_to(web.db, number, "review_plan")
    task = task_of(web.db, number, "review_plan")
    client = web.client("plan_reviewer")
    request_id = uuid.uuid4().hex
    assert client.post(f"/tasks/{task}", {"decision": "approve", "request_id": request_id}).status_code == 302
    same = client.post(f"/tasks/{task}", {"decision": "approve", "request_id": request_id})
    assert same.status_code == 302
    assert "该任务已提交（重复提交已忽略）" in text_of(client.get("/tasks/"))
    other = client.post(f"/tasks/{task}", {"decision": "reject", "comments": "改", "request_id": request_id})
    assert other.status_code == 302
    shown = text_of(client.get("/tasks/"))
    assert "本次重新提交的内容与已保存的不同，未被保存" in shown and "重复提交已忽略" not in shown
    with web.db.transaction() as session:
        assert services.completed_with(session, task)["decision"] == "approve"


# -- 7. the four-eyes rule before anyone acts ------------------------------------------------------------------------


def test_the_drafter_sees_why_not_instead_of_claim_and_handle(web: Web) -> None:
    number, task = drafted_by_both(web.db)
    client = web.client("both")
    listed = client.get("/tasks/").get_data(as_text=True)
    [item] = [item for item in re.findall(r'<li class="task card.*?</li>', listed, re.S) if "审核供电方案" in item]
    assert FOUR_EYES_NOTE in item
    assert f"/tasks/{task}/claim" not in item and f'href="/tasks/{task}"' not in item
    case_page = client.get(f"/cases/{number}").get_data(as_text=True)
    assert FOUR_EYES_NOTE in case_page and f'href="/tasks/{task}"' not in case_page
    form = client.get(f"/tasks/{task}").get_data(as_text=True)
    assert "（四眼原则）：您已办理 编制供电方案" in form and "disabled" in submit_button(form)
    reviewer = web.client("plan_reviewer").get("/tasks/").get_data(as_text=True)
    assert f"/tasks/{task}/claim" in reviewer and FOUR_EYES_NOTE not in reviewer


def test_the_assign_dropdown_leaves_out_the_drafter_and_says_so(web: Web) -> None:
    number, task = drafted_by_both(web.db)
    page = web.client("supervisor").get(f"/tasks/{task}/assign").get_data(as_text=True)
    options = re.findall(r'<option value="([^"]+)"', page)
    assert "plan_reviewer" in options and "both" not in options
    assert "王两岗 已办理 编制供电方案，按四眼原则不能办理 审核供电方案，未列出。" in text_of_html(page)
    assert number


def test_the_api_list_marks_a_task_the_user_may_not_do(api: Api) -> None:
    _number, task = drafted_by_both(api.db)
    token = issue_token(api.db, "both")
    listed = {item["id"]: item for item in api.get("/tasks", token=token).get_json()["items"]}
    assert listed[task]["four_eyes_blocked"] is True
    others = {item["id"]: item for item in api.get("/tasks", "plan_reviewer").get_json()["items"]}
    assert others[task]["four_eyes_blocked"] is False
    assert api.get(f"/tasks/{task}", token=token).get_json()["four_eyes_blocked"] is True


# -- 8. a suspended case's form --------------------------------------------------------------------------------------


def test_a_suspended_case_s_form_says_so_and_cannot_be_submitted(web: Web) -> None:
    number = start_case(web.db)
    task = task_of(web.db, number, "accept_application")
    client = web.client("account_manager")
    assert "disabled" not in submit_button(client.get(f"/tasks/{task}").get_data(as_text=True))
    suspend(web.db, number)
    page = client.get(f"/tasks/{task}")
    assert "案件已挂起：恢复办理前不能提交本任务，可先暂存。" in text_of(page)
    assert "disabled" in submit_button(page.get_data(as_text=True))


def test_the_api_task_tells_its_case_status(api: Api) -> None:
    number = start_case(api.db)
    task = open_task(api.db, number, "accept_application").id
    assert api.get(f"/tasks/{task}", "account_manager").get_json()["case_status"] == "running"
    suspend(api.db, number)
    assert api.get(f"/tasks/{task}", "account_manager").get_json()["case_status"] == "suspended"
    [item] = [item for item in api.get("/tasks", "account_manager").get_json()["items"] if item["id"] == task]
    assert item["case_status"] == "suspended"


# -- 10. people by their names ---------------------------------------------------------------------------------------


def test_staff_are_shown_by_display_name_with_the_login_as_tooltip(web: Web) -> None:
    with web.db.transaction() as session:
        accounts.create_user(session, "inspector.li", password_of("inspector.li"), web.db.clock.now(),
                             display_name="李检查", groups=("account_manager",), password_method=FAST_HASH)
    number = start_case(web.db)
    task = task_of(web.db, number, "accept_application")
    client = web.client("inspector.li")
    client.post(f"/tasks/{task}/claim", {})
    shown = '<span class="person" title="inspector.li">李检查</span>'
    assert shown in client.get(f"/tasks/{task}").get_data(as_text=True)
    team = web.client("supervisor").get("/tasks/?scope=team").get_data(as_text=True)
    assert f"办理人：{shown}" in team
    case_page = web.client("supervisor").get(f"/cases/{number}").get_data(as_text=True)
    assert f"办理人：{shown}" in case_page
    assert f"<td>{shown}</td>" in case_page  # the timeline's 人员 (the claim)
    assert "办理人：inspector.li" not in text_of_html(team + case_page)


# -- 12. the reader's language ---------------------------------------------------------------------------------------


def test_a_post_over_the_size_limit_is_a_413_page_in_chinese(web: Web) -> None:
    number = start_case(web.db)
    task = task_of(web.db, number, "accept_application")
    client = web.client("account_manager")
    response = client.post(f"/tasks/{task}", {"remarks": "x" * (1024 * 1024 + 1), "request_id": uuid.uuid4().hex})
    assert response.status_code == 413
    shown = text_of(response)
    assert "413 · 提交的内容过大" in shown and "超过 1 MB 上限" in shown and "Request Entity Too Large" not in shown


def test_english_pages_use_ascii_colons_and_name_the_energize_limit(web: Web) -> None:
    number = start_case(web.db)
    client = web.client("supervisor")
    client.get("/auth/language/en")
    listed = text_of(client.get("/tasks/?scope=team"))
    assert "Lane: " in listed and "：" not in listed.replace("（", "")
    summary = text_of(client.get(f"/cases/{number}"))
    assert re.search(r"Energize \d", summary) and not re.search(r"Installer\d", summary)


def text_of_html(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()
