"""Follow-ups of the 2026-11-27 reviews that join two fixes: the web 工作台 refuses a four-eyes claim or assignment
in the reader's language, and the REST API's progress shows the message a case waits for."""

from __future__ import annotations

from runner import accounts
from tests.api_helpers import Api, api_fixture  # noqa: F401  (the api fixture)
from tests.db import advance_to, open_task
from tests.test_api_cases import drive_until_waiting_for_a_message
from tests.webui_helpers import FAST_HASH, Web, password_of, start_case, text_of, web_fixture  # noqa: F401


def test_the_task_list_refuses_a_four_eyes_claim_and_assignment_in_chinese(web: Web) -> None:
    with web.db.transaction() as session:
        accounts.create_user(session, "both", password_of("both"), web.db.clock.now(),
                             groups=("surveyor", "plan_reviewer"), password_method=FAST_HASH)
    number = start_case(web.db)
    advance_to(web.db, number, "review_plan", user="both")  # "both" drafted the plan
    task = open_task(web.db, number, "review_plan").id
    both = web.client("both")
    refused = both.post(f"/tasks/{task}/claim", {})
    assert refused.status_code == 302
    shown = text_of(both.get("/tasks/"))
    assert "须由办理 编制供电方案 以外的人办理（四眼原则）" in shown and "已被他人领取" not in shown
    assert open_task(web.db, number, "review_plan").assignee is None
    supervisor = web.client("supervisor")
    supervisor.post(f"/tasks/{task}/assign", {"assignee": "both"})
    shown = text_of(supervisor.get("/tasks/?scope=team"))
    assert "both 已办理 编制供电方案，不能再办理 审核供电方案（四眼原则）" in shown
    assert open_task(web.db, number, "review_plan").assignee is None


def test_the_api_progress_shows_the_message_the_case_waits_for(api: Api) -> None:
    number = start_case(api.db)
    message = drive_until_waiting_for_a_message(api, number)
    progress = api.get(f"/applications/{number}/progress", "supervisor")
    assert progress.status_code == 200
    active = [step for step in progress.get_json()["steps"] if step["state"] == "active"]
    assert [(step["kind"], step["waiting_for"]) for step in active] == [("message", message)]
    assert active[0]["since"] is not None
