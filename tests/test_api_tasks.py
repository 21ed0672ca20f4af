"""``/api/v1/tasks``: the work list with filters and paging, a task with its form, claim → unclaim, assign, and
complete (validation errors per field, idempotent request ids, conflicts)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from runner import accounts
from runner.accounts import LANE_ROLES
from tests.api_helpers import (
    Api,
    api_fixture,  # noqa: F401  (the api fixture)
    error_of,
    issue_token,
)
from tests.db import advance_to, complete, form_defaults, open_task, open_tasks
from tests.webui_helpers import start_case, task_of


def items(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.get_data(as_text=True)
    found: list[dict[str, Any]] = response.get_json()["items"]
    return found


def test_a_new_case_task_shows_to_its_lane_only(api: Api) -> None:
    number = start_case(api.db, customer_name="示例电子有限公司")
    task = task_of(api.db, number, "accept_application")
    listed = api.get("/tasks", "account_manager").get_json()
    assert listed["total"] == 1 and (listed["limit"], listed["offset"]) == (50, 0)
    item = listed["items"][0]
    assert (item["id"], item["case_number"], item["customer_name"], item["lane"], item["assignee"]) == \
        (task, number, "示例电子有限公司", "account_manager", None)
    assert item["due_at"] is not None and item["overdue"] is False
    for role in LANE_ROLES:
        if role != "account_manager":
            assert items(api.get("/tasks", role)) == [], role
    assert [t["id"] for t in items(api.get("/tasks?scope=team", "supervisor"))] == [task]
    assert error_of(api.get("/tasks?scope=team", "surveyor"))["code"] == "forbidden"


def test_filters_search_and_due(api: Api) -> None:
    residential = start_case(api.db, "lv_residential", customer_name="王小明")
    ordinary = start_case(api.db, "hv_ordinary", customer_name="示例科技有限公司")
    advance_to(api.db, ordinary, "site_survey")
    assert [t["case_number"] for t in items(api.get("/tasks", "account_manager"))] == [residential]
    assert items(api.get("/tasks?category=hv_ordinary", "account_manager")) == []
    assert len(items(api.get("/tasks?category=hv_ordinary&step=site_survey", "surveyor"))) == 1
    assert items(api.get("/tasks?step=accept_application", "surveyor")) == []
    assert [t["case_number"] for t in items(api.get("/tasks?q=王小", "account_manager"))] == [residential]
    assert [t["case_number"] for t in items(api.get(f"/tasks?q={residential.lower()}", "account_manager"))] == \
        [residential]
    assert items(api.get("/tasks?q=示例科技", "account_manager")) == []
    assert items(api.get("/tasks?due=overdue", "account_manager")) == []
    due = open_task(api.db, residential, "accept_application").due_at
    assert due is not None
    api.db.clock.advance_to(due - timedelta(hours=1))
    assert len(items(api.get("/tasks?due=today", "account_manager"))) == 1
    api.db.clock.advance_to(due + timedelta(hours=1))
    overdue = items(api.get("/tasks?due=overdue", "account_manager"))
    assert len(overdue) == 1 and overdue[0]["overdue"] is True
    for bad in ("category=nope", "due=tomorrow", "scope=everyone", "limit=0", "limit=201", "offset=-1",
                "limit=x", "q=" + "x" * 101):
        response = api.get(f"/tasks?{bad}", "account_manager")
        assert response.status_code == 400 and error_of(response)["code"] == "invalid_parameter", bad


def test_paging_by_limit_and_offset_covers_every_task_once(api: Api) -> None:
    numbers = [start_case(api.db, "lv_residential") for _ in range(5)]
    expected = [t["id"] for t in items(api.get("/tasks", "account_manager"))]
    assert len(expected) == 5
    for limit in (1, 2, 3):
        for offset in range(0, 6):
            page = api.get(f"/tasks?limit={limit}&offset={offset}", "account_manager").get_json()
            assert page["total"] == 5
            assert [t["id"] for t in page["items"]] == expected[offset:offset + limit], (limit, offset)
    assert {t["case_number"] for t in items(api.get("/tasks", "account_manager"))} == set(numbers)


def test_a_task_comes_with_its_form_and_instructions(api: Api) -> None:
    number = start_case(api.db)
    task = task_of(api.db, number, "accept_application")
    detail = api.get(f"/tasks/{task}", "account_manager").get_json()
    assert detail["id"] == task and detail["case_number"] == number
    assert detail["form"]["schema"]["type"] == "object" and "decision" in detail["form"]["schema"]["properties"]
    assert isinstance(detail["form"]["ui_schema"], dict)
    assert detail["documentation"] and "受理" in detail["documentation"]
    assert api.get(f"/tasks/{task}", "supervisor").status_code == 200  # supervisors see every lane
    assert api.get(f"/tasks/{task}", "surveyor").status_code == 403
    assert api.get(f"/tasks/{task}").status_code == 401
    assert api.get(f"/tasks/{uuid.uuid4()}", "account_manager").status_code == 404
    assert api.get("/tasks/not%20an%20id", "account_manager").status_code == 404


def test_claim_unclaim_and_conflicting_claims(api: Api) -> None:
    number = start_case(api.db)
    task = task_of(api.db, number, "accept_application")
    assert api.post(f"/tasks/{task}/claim", "surveyor").status_code == 403
    assert api.post(f"/tasks/{task}/claim").status_code == 401
    claimed = api.post(f"/tasks/{task}/claim", "account_manager")
    assert claimed.status_code == 200 and claimed.get_json()["assignee"] == "account_manager"
    assert api.post(f"/tasks/{task}/claim", "account_manager").status_code == 200  # claiming it again: a no-op
    with api.db.transaction() as session:  # a second account manager
        accounts.create_user(session, "am.2", "am.2-secret", api.db.clock.now(), groups=("account_manager",),
                             password_method="pbkdf2:sha256:1000")
    other = issue_token(api.db, "am.2")
    response = api.post(f"/tasks/{task}/claim", token=other)
    assert response.status_code == 409 and "account_manager" in error_of(response)["message"]
    assert api.post(f"/tasks/{task}/unclaim", token=other).status_code == 403
    assert api.post(f"/tasks/{task}/unclaim", "account_manager").get_json()["assignee"] is None
    assert api.post(f"/tasks/{task}/claim", token=other).get_json()["assignee"] == "am.2"
    assert api.post(f"/tasks/{task}/unclaim", "supervisor").get_json()["assignee"] is None  # supervisors release
    assert open_task(api.db, number, "accept_application").assignee is None


def test_claiming_a_finished_task_is_a_conflict_that_says_who_did_it(api: Api) -> None:
    number = start_case(api.db)
    task = task_of(api.db, number, "accept_application")
    complete(api.db, number, "accept_application", user="am.colleague")
    for path, role, body in (("claim", "account_manager", None), ("unclaim", "supervisor", None),
                             ("assign", "supervisor", {"user": "account_manager"})):
        late = api.post(f"/tasks/{task}/{path}", role, json=body)
        assert late.status_code == 409, (path, late.get_json())
        assert error_of(late)["message"] == f"task {task} is no longer open: am.colleague completed it", path
    assert api.post("/tasks/0123456789abcdef0123456789abcdef/claim", "account_manager").status_code == 404


def test_supervisors_assign_to_members_of_the_lane(api: Api) -> None:
    number = start_case(api.db)
    task = task_of(api.db, number, "accept_application")
    assert api.post(f"/tasks/{task}/assign", "account_manager", json={"user": "account_manager"}).status_code == 403
    assert api.post(f"/tasks/{task}/assign", json={"user": "account_manager"}).status_code == 401
    refused = api.post(f"/tasks/{task}/assign", "supervisor", json={"user": "surveyor"})
    assert refused.status_code == 422 and error_of(refused)["fields"][0]["field"] == "user"
    assert api.post(f"/tasks/{task}/assign", "supervisor", json={"person": "x"}).status_code == 422
    assigned = api.post(f"/tasks/{task}/assign", "supervisor", json={"user": "account_manager"})
    assert assigned.status_code == 200 and assigned.get_json()["assignee"] == "account_manager"
    assert open_task(api.db, number, "accept_application").assignee == "account_manager"


def test_complete_validates_on_the_server_and_is_idempotent_per_request_id(api: Api) -> None:
    number = start_case(api.db)
    task = open_task(api.db, number, "accept_application")
    url = f"/tasks/{task.id}/complete"
    answer = form_defaults(api.db, task)
    bad = api.post(url, "account_manager", json={"data": {**answer, "decision": "maybe"}, "request_id": "req-00001"})
    assert bad.status_code == 422
    fields = error_of(bad)["fields"]
    assert [f["field"] for f in fields] == ["decision"] and fields[0]["message"]
    unknown = api.post(url, "account_manager", json={"data": {**answer, "foo": 1, "bar": 2}, "request_id": "req-00003"})
    assert unknown.status_code == 422 and sorted(f["field"] for f in error_of(unknown)["fields"]) == ["bar", "foo"]
    missing = api.post(url, "account_manager", json={"data": {}, "request_id": "req-00004"})
    assert missing.status_code == 422
    assert {f["field"] for f in error_of(missing)["fields"]} >= {"decision", "one_certificate"}
    assert "" not in {f["field"] for f in error_of(missing)["fields"]}
    long_text = "长" * 5000
    oversize = api.post(url, "account_manager",
                        json={"data": {**answer, "remarks": long_text}, "request_id": "req-00005"})
    assert oversize.status_code == 422 and long_text not in oversize.get_data(as_text=True)
    assert api.post(url, "account_manager", json={"data": answer, "request_id": "short"}).status_code == 422
    assert api.post(url, "surveyor", json={"data": answer, "request_id": "req-00002"}).status_code == 403
    assert api.post(url, json={"data": answer, "request_id": "req-00002"}).status_code == 401
    assert open_task(api.db, number, "accept_application").id == task.id  # nothing happened yet

    done = api.post(url, "account_manager", json={"data": answer, "request_id": "req-00002"})
    assert done.status_code == 200, done.get_json()
    assert done.get_json() == {"case_number": number, "task_id": task.id, "repeated": False}
    again = api.post(url, "account_manager", json={"data": answer, "request_id": "req-00002"})
    assert again.status_code == 200 and again.get_json()["repeated"] is True
    assert "site_survey" in {t.element_id for t in open_tasks(api.db, number)}
    late = api.post(url, "account_manager", json={"data": answer, "request_id": "req-00003"})
    assert late.status_code == 409 and "no longer open" in error_of(late)["message"]
    assert api.post(f"/tasks/{uuid.uuid4()}/complete", "account_manager",
                    json={"data": {}, "request_id": "req-00004"}).status_code == 404


def test_the_four_eyes_rule_refuses_a_completion_naming_both_steps(api: Api) -> None:
    with api.db.transaction() as session:
        accounts.create_user(session, "both", "both-secret", api.db.clock.now(), groups=("surveyor", "plan_reviewer"),
                             password_method="pbkdf2:sha256:1000")
    number = start_case(api.db)
    advance_to(api.db, number, "review_plan", user="both")  # "both" drafted the plan
    task = open_task(api.db, number, "review_plan")
    answer = {"data": form_defaults(api.db, task), "request_id": "req-four-eyes"}
    refused = api.post(f"/tasks/{task.id}/complete", token=issue_token(api.db, "both"), json=answer)
    assert refused.status_code == 409 and error_of(refused)["code"] == "conflict"
    message = error_of(refused)["message"]
    assert "four-eyes" in message and "审核供电方案 (review_plan)" in message and "编制供电方案 (draft_plan)" in message
    assert open_task(api.db, number, "review_plan").id == task.id
    done = api.post(f"/tasks/{task.id}/complete", "plan_reviewer", json={**answer, "request_id": "req-reviewer"})
    assert done.status_code == 200
