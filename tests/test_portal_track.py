"""Tracking a case in the portal: the access code signs the visitor in to that one case (a wrong code and an
unknown case look the same, attempts are rate-limited), the progress shows Chinese step names and dates without
staff names, and the customer completes their own tasks with the task-form renderer."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta

from sqlalchemy import select
from werkzeug.security import generate_password_hash

from runner import portal
from runner.clock import SHANGHAI
from runner.models import Case as CaseRow
from tests.db import Db, advance_to, events, fire_due_timers, open_task, open_tasks, start
from tests.webui_helpers import Browser, Web, start_case, task_of, text_of, web_fixture  # noqa: F401

CODE = "ABCDE23456"


def give_code(db: Db, number: str, code: str = CODE) -> None:
    with db.transaction() as session:
        row = session.scalar(select(CaseRow).where(CaseRow.case_number == number))
        assert row is not None
        row.access_code_hash = generate_password_hash(code, method=portal.ACCESS_CODE_HASH)


def signed_in(web: Web, number: str, code: str = CODE, address: str = "127.0.0.1") -> Browser:
    client = web.client(address=address)
    client.get("/portal/track")
    response = client.post("/portal/track", {"case_number": number, "access_code": code})
    assert response.status_code == 302, text_of(response)
    return client


def test_the_right_code_shows_the_progress_without_staff_names(web: Web) -> None:
    number = start_case(web.db, "hv_ordinary")
    give_code(web.db, number)
    advance_to(web.db, number, "site_survey")
    client = signed_in(web, number, code="abcde-23456")  # typed in lower case with the dash: accepted
    page = client.get("/portal/case")
    text = text_of(page)
    assert page.status_code == 200 and number in text
    assert "提交申请" in text and "业务受理" in text and "已完成" in text  # done steps by their BPMN names
    assert "现场勘查" in text and "办理中" in text and "时限" in text  # the current step and its due date
    assert "account_manager.1" not in text and "account_manager" not in page.get_data(as_text=True)
    assert "高压普通" in text


def current_steps(html: str) -> list[str]:
    """The text of each step the progress page shows as open."""
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", item)).strip()
            for item in re.findall(r'<li class="step current">(.*?)</li>', html, re.S)]


def test_the_escalation_of_a_late_step_is_not_shown_to_the_customer(web: Web) -> None:
    """业务受理 left undone past its deadline opens the internal 督办 (processes/escalation.bpmn) with a deadline
    of its own; the customer still sees 业务受理 as the step in progress, with its own deadline, and no 督办."""
    web.db.clock.advance_to(datetime(2026, 12, 2, 9, 0, tzinfo=SHANGHAI))  # Wednesday
    number = start(web.db, "lv_residential")
    acceptance_due = open_task(web.db, number, "accept_application").due_at
    assert acceptance_due is not None
    web.db.clock.advance_to(acceptance_due + timedelta(seconds=1))
    assert fire_due_timers(web.db, number) == 1
    supervision = open_task(web.db, number, "supervise_breach")
    assert supervision.due_at is not None and supervision.due_at.date() > acceptance_due.date()
    give_code(web.db, number)
    page = signed_in(web, number).get("/portal/case")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "督办" not in text_of(page)
    shown_time = "%Y-%m-%d %H:%M"
    assert current_steps(html) == [
        f"业务受理 办理中 时限 {acceptance_due.astimezone(SHANGHAI).strftime(shown_time)}"]
    assert supervision.due_at.astimezone(SHANGHAI).strftime(shown_time) not in html


def test_a_wrong_code_and_an_unknown_case_look_the_same(web: Web) -> None:
    number = start_case(web.db)
    give_code(web.db, number)
    client = web.client()
    client.get("/portal/track")
    wrong = client.post("/portal/track", {"case_number": number, "access_code": "ZZZZZ99999"})
    unknown = client.post("/portal/track", {"case_number": "YK20990101000000", "access_code": CODE})
    assert wrong.status_code == unknown.status_code == 400
    assert "案件编号或查询码不正确" in text_of(wrong)
    assert text_of(wrong).replace(number, "X") == text_of(unknown).replace("YK20990101000000", "X")
    assert client.get("/portal/case").status_code == 302  # not signed in


def test_ten_code_attempts_per_ten_minutes_per_address(web: Web) -> None:
    number = start_case(web.db)
    give_code(web.db, number)
    client = web.client(address="10.2.2.2")
    client.get("/portal/track")
    for _ in range(10):
        assert client.post("/portal/track", {"case_number": number, "access_code": "WRONG00000"}).status_code == 400
    refused = client.post("/portal/track", {"case_number": number, "access_code": CODE})  # even the right one
    assert refused.status_code == 429 and 0 < int(refused.headers["Retry-After"]) <= 600
    web.db.clock.advance(timedelta(minutes=10, seconds=1))
    assert client.post("/portal/track", {"case_number": number, "access_code": CODE}).status_code == 302


def test_the_customer_completes_their_task_through_the_portal(web: Web) -> None:
    number = start_case(web.db, "hv_ordinary")
    give_code(web.db, number)
    advance_to(web.db, number, "sign_plan")
    task = task_of(web.db, number, "sign_plan")
    client = signed_in(web, number)
    progress = client.get("/portal/case").get_data(as_text=True)
    assert "需要您办理" in progress and f"/portal/case/tasks/{task}" in progress
    form = client.get(f"/portal/case/tasks/{task}")
    html = form.get_data(as_text=True)
    assert form.status_code == 200 and 'name="signed"' in html and 'name="request_id"' in html
    request_id = re.search(r'name="request_id" value="([0-9a-f]{32})"', html)
    assert request_id
    response = client.post(f"/portal/case/tasks/{task}", {"signed": "true",
                                                          "request_id": request_id[1]})
    assert response.status_code == 302, text_of(response)
    assert "已提交" in text_of(client.get("/portal/case"))
    done = [event for event in events(web.db, number) if event.element_id == "sign_plan"
            and event.lifecycle == "completed"]
    assert [event.user for event in done] == [portal.customer_user(number)]
    assert all(task.element_id != "sign_plan" for task in open_tasks(web.db, number))


def test_invalid_customer_input_is_shown_again_and_changes_nothing(web: Web) -> None:
    number = start_case(web.db, "hv_ordinary")
    give_code(web.db, number)
    advance_to(web.db, number, "sign_plan")
    task = task_of(web.db, number, "sign_plan")
    client = signed_in(web, number)
    client.get(f"/portal/case/tasks/{task}")
    response = client.post(f"/portal/case/tasks/{task}", {"signed": "maybe", "request_id": uuid.uuid4().hex})
    assert response.status_code == 400 and "提交未成功" in text_of(response)
    assert task_of(web.db, number, "sign_plan") == task


def test_a_customer_sees_only_their_own_case_and_customer_tasks(web: Web) -> None:
    mine, theirs = start_case(web.db, "hv_ordinary"), start_case(web.db, "hv_ordinary")
    give_code(web.db, mine)
    advance_to(web.db, theirs, "sign_plan")
    client = signed_in(web, mine)
    foreign = client.get(f"/portal/case/tasks/{task_of(web.db, theirs, 'sign_plan')}")
    assert foreign.status_code == 404 and "该事项已办结或不存在" in text_of(foreign)
    assert "工作台" not in text_of(foreign)  # the portal's page, not the staff one
    staff_task = task_of(web.db, mine, "accept_application")  # a staff lane's task of my own case
    assert client.get(f"/portal/case/tasks/{staff_task}").status_code == 404
    response = client.post(f"/portal/case/tasks/{staff_task}", {"decision": "accept", "request_id": uuid.uuid4().hex})
    assert response.status_code == 404
    assert task_of(web.db, mine, "accept_application") == staff_task


def test_the_sign_in_expires_and_logout_ends_it(web: Web) -> None:
    number = start_case(web.db)
    give_code(web.db, number)
    client = signed_in(web, number)
    assert client.get("/portal/case").status_code == 200
    web.db.clock.advance(timedelta(minutes=31))
    assert client.get("/portal/case").status_code == 302
    client = signed_in(web, number)
    client.get("/portal/case")
    assert client.post("/portal/logout").status_code == 302
    assert client.get("/portal/case").status_code == 302
