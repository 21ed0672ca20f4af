"""The REST API as an integrator met it (review of /api/v1): real answers against the served OpenAPI document,
field messages that keep their reason, supervisors' view of every claimed task, messages with their sender and a
request id, four-eyes at claim time, release messages, the event log's details and stricter query parameters."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from werkzeug.test import TestResponse

from runner import accounts, services
from runner.forms import MAX_FORM_BYTES
from tests.api_helpers import Api, api_fixture, error_of, issue_token  # noqa: F401  (the api fixture)
from tests.db import advance_to, events, form_defaults, open_task, run_cli
from tests.test_api_cases import application, drive_until_waiting_for_a_message
from tests.webui_helpers import start_case, task_of


class Contract:
    """The served OpenAPI document: checks an answer against what it declares for the operation and status."""

    def __init__(self, api: Api) -> None:
        self.document = api.get("/openapi.json").get_json()
        self.checked: set[tuple[str, str, int]] = set()

    def check(self, response: TestResponse, method: str, path: str) -> Any:
        declared = self.document["paths"][path][method]["responses"]
        status = str(response.status_code)
        assert status in declared, f"{method} {path}: {status} not declared ({sorted(declared)})"
        answer = declared[status]
        if "$ref" in answer:
            answer = self.document["components"]["responses"][answer["$ref"].rsplit("/", 1)[1]]
        schema = {**answer["content"]["application/json"]["schema"], "components": self.document["components"]}
        body = response.get_json()
        errors = [error.message for error in Draft202012Validator(schema).iter_errors(body)]
        assert not errors, f"{method} {path} {status}: {errors}"
        for header in answer.get("headers", {}):
            assert header in response.headers, f"{method} {path} {status}: no {header} header"
        self.checked.add((method, path, response.status_code))
        return body


def test_real_answers_fit_the_served_openapi_document(api: Api) -> None:
    contract = Contract(api)
    created = api.post("/applications", "account_manager", json=application(customer_name="契约公司"))
    number = contract.check(created, "post", "/applications")["case_number"]
    task = task_of(api.db, number, "accept_application")
    detail = contract.check(api.get(f"/tasks/{task}", "account_manager"), "get", "/tasks/{task_id}")
    assert detail["form"]["schema"] and detail["documentation"]
    case = contract.check(api.get(f"/cases/{number}", "archivist"), "get", "/cases/{case_number}")
    assert case["open_tasks"] and case["summary"]
    contract.check(api.get("/tasks", "account_manager"), "get", "/tasks")
    contract.check(api.get("/tasks?scope=team", "supervisor"), "get", "/tasks")
    contract.check(api.get("/cases", "archivist"), "get", "/cases")
    contract.check(api.get(f"/applications/{number}/progress", "archivist"), "get",
                   "/applications/{case_number}/progress")
    contract.check(api.post(f"/tasks/{task}/claim", "account_manager"), "post", "/tasks/{task_id}/claim")
    contract.check(api.post(f"/tasks/{task}/unclaim", "account_manager"), "post", "/tasks/{task_id}/unclaim")
    contract.check(api.post(f"/tasks/{task}/assign", "supervisor", json={"user": "account_manager"}), "post",
                   "/tasks/{task_id}/assign")
    answer = {"data": form_defaults(api.db, open_task(api.db, number, "accept_application")),
              "request_id": "contract-0001"}
    contract.check(api.post(f"/tasks/{task}/complete", "account_manager", json=answer), "post",
                   "/tasks/{task_id}/complete")
    contract.check(api.get(f"/cases/{number}/history", "archivist"), "get", "/cases/{case_number}/history")
    contract.check(api.get("/incidents", "supervisor"), "get", "/incidents")
    contract.check(api.get("/failed-messages", "supervisor"), "get", "/failed-messages")
    contract.check(api.post("/failed-messages/retry", "supervisor"), "post", "/failed-messages/retry")
    name = drive_until_waiting_for_a_message(api, number)
    contract.check(api.post(f"/cases/{number}/messages", "account_manager", json={"name": name}), "post",
                   "/cases/{case_number}/messages")
    # the 409s of a suspended case's tasks are declared too
    second = start_case(api.db)
    queued = task_of(api.db, second, "accept_application")
    with api.db.transaction() as session:
        services.set_case_status(session, api.db.runtime, second, "suspended", "supervisor", reason="客户要求暂缓")
    for action, body in (("unclaim", None), ("assign", {"user": "account_manager"}), ("claim", None)):
        response = api.post(f"/tasks/{queued}/{action}", "supervisor" if action != "claim" else "account_manager",
                            json=body)
        assert response.status_code == 409, (action, response.get_json())
        contract.check(response, "post", f"/tasks/{{task_id}}/{action}")


def test_a_long_value_is_clipped_but_its_reason_is_kept(api: Api) -> None:
    number = start_case(api.db)
    task = open_task(api.db, number, "accept_application")
    data = {**form_defaults(api.db, task), "remarks": "x" * 1001}
    response = api.post(f"/tasks/{task.id}/complete", "account_manager",
                        json={"data": data, "request_id": "long-value-01"})
    assert response.status_code == 422
    [problem] = error_of(response)["fields"]
    assert problem["field"] == "remarks" and problem["message"].endswith("… is too long"), problem
    assert len(problem["message"]) < 100


def test_supervisors_see_tasks_claimed_by_others_in_scope_team(api: Api) -> None:
    claimed_case, queued_case = start_case(api.db, customer_name="甲公司"), start_case(api.db, customer_name="乙公司")
    claimed = task_of(api.db, claimed_case, "accept_application")
    assert api.post(f"/tasks/{claimed}/claim", "account_manager").status_code == 200
    team = api.get("/tasks?scope=team", "supervisor").get_json()
    assert team["total"] == 2
    assert {item["id"]: item["assignee"] for item in team["items"]} == {
        claimed: "account_manager", task_of(api.db, queued_case, "accept_application"): None}
    for search in (claimed_case, "甲"):  # by case number, by customer name
        found = api.get(f"/tasks?scope=team&q={search}", "supervisor").get_json()
        assert [item["id"] for item in found["items"]] == [claimed] and found["total"] == 1, search
    # the lane's own list still shows only what its members may take, and the supervisor's default list is theirs
    assert [item["id"] for item in api.get("/tasks", "account_manager").get_json()["items"]] != []
    assert api.get("/tasks", "supervisor").get_json()["total"] == 0


def test_a_message_records_its_sender_and_payload_and_may_be_sent_again(api: Api, tmp_path: Path) -> None:
    number = start_case(api.db)
    name = drive_until_waiting_for_a_message(api, number)
    url = f"/cases/{number}/messages"
    for bad, field in (({"note": "abc\u202edef"}, "payload.note"), ({"note": "\ufffd"}, "payload.note"),
                       ({"typename": "x"}, "payload.typename"), ({"blob": "x" * MAX_FORM_BYTES}, "payload")):
        refused = api.post(url, "account_manager", json={"name": name, "payload": bad})
        assert refused.status_code == 422, refused.get_json()
        assert [f["field"] for f in error_of(refused)["fields"]] == [field]
    nul = api.post(url, "account_manager", json={"name": name, "payload": {"note": "a\x00b"}})
    assert nul.status_code == 400 and error_of(nul)["code"] == "unstorable_text"
    body = {"name": name, "payload": {"amount": 12000}, "request_id": "billing-0001"}
    first = api.post(url, "account_manager", json=body)
    assert first.get_json() == {"case_number": number, "name": name, "delivered": True, "repeated": False}
    again = api.post(url, "account_manager", json=body)  # the billing system retries after a timeout
    assert again.status_code == 200 and again.get_json()["repeated"] is True
    other = api.post(url, "account_manager", json={**body, "payload": {"amount": 1}})
    assert other.status_code == 409 and "billing-0001" in error_of(other)["message"]
    without_id = api.post(url, "account_manager", json={"name": name})
    assert without_id.status_code == 409  # not waiting any more: no id, no memory
    caught = [event for event in events(api.db, number) if isinstance(event.data, dict)
              and event.data.get("message") == name]
    assert len(caught) == 1 and caught[0].lifecycle == "completed"
    assert (caught[0].user, caught[0].data) == ("account_manager", {"message": name, "payload": {"amount": 12000},
                                                                      "request_id": "billing-0001"})
    history = api.get(f"/cases/{number}/history", "archivist").get_json()["events"]
    [shown] = [event for event in history if event["id"] == caught[0].id]
    assert shown["user"] == "account_manager"
    assert shown["details"] == {"message": name, "request_id": "billing-0001"}  # never the payload


def test_the_message_command_records_its_user(api: Api, tmp_path: Path) -> None:
    number = start_case(api.db)
    name = drive_until_waiting_for_a_message(api, number)
    refused = run_cli(api.db, tmp_path, "message", number, name, "--payload", '{"typename": 1}')
    assert refused.exit_code == 1 and "reserved key name" in refused.stderr
    result = run_cli(api.db, tmp_path, "message", number, name, "--user", "billing.bot", "--request-id", "cli-00001")
    assert result.exit_code == 0, result.output
    again = run_cli(api.db, tmp_path, "message", number, name, "--user", "billing.bot", "--request-id", "cli-00001")
    assert again.exit_code == 0 and "already" in again.output
    [caught] = [event for event in events(api.db, number) if isinstance(event.data, dict)
                and event.data.get("message") == name]
    assert caught.user == "billing.bot" and (caught.data or {}).get("request_id") == "cli-00001"


def test_four_eyes_refuses_the_claim_and_the_assignment(api: Api) -> None:
    with api.db.transaction() as session:
        accounts.create_user(session, "both", "both-secret", api.db.clock.now(), groups=("surveyor", "plan_reviewer"),
                             password_method="pbkdf2:sha256:1000")
    number = start_case(api.db)
    advance_to(api.db, number, "review_plan", user="both")  # "both" drafted the plan
    task = open_task(api.db, number, "review_plan").id
    refused = api.post(f"/tasks/{task}/claim", token=issue_token(api.db, "both"))
    assert refused.status_code == 409
    message = error_of(refused)["message"]
    assert "four-eyes" in message and "(review_plan)" in message and "(draft_plan)" in message
    assigned = api.post(f"/tasks/{task}/assign", "supervisor", json={"user": "both"})
    assert assigned.status_code == 409 and "four-eyes" in error_of(assigned)["message"]
    assert open_task(api.db, number, "review_plan").assignee is None
    assert api.post(f"/tasks/{task}/claim", "plan_reviewer").status_code == 200


def test_releasing_says_why_not_and_an_unclaimed_task_stays_so(api: Api) -> None:
    number = start_case(api.db)
    task = task_of(api.db, number, "accept_application")
    for user in ("account_manager", "supervisor"):  # nothing to release: a no-op for the lane and supervisors
        response = api.post(f"/tasks/{task}/unclaim", user)
        assert response.status_code == 200 and response.get_json()["assignee"] is None, user
    other_lane = api.post(f"/tasks/{task}/unclaim", "surveyor")
    assert other_lane.status_code == 403 and "not in group account_manager" in error_of(other_lane)["message"]
    api.post(f"/tasks/{task}/claim", "account_manager")
    with api.db.transaction() as session:
        accounts.create_user(session, "am.2", "am.2-secret", api.db.clock.now(), groups=("account_manager",),
                             password_method="pbkdf2:sha256:1000")
    colleague = api.post(f"/tasks/{task}/unclaim", token=issue_token(api.db, "am.2"))
    assert colleague.status_code == 403
    assert "claimed by account_manager" in error_of(colleague)["message"] and "None" not in \
        error_of(colleague)["message"]
    assert not [event for event in events(api.db, number) if event.lifecycle == "unclaimed"]


def test_the_history_shows_who_assigned_and_why_a_case_was_suspended(api: Api) -> None:
    number = start_case(api.db)
    task = task_of(api.db, number, "accept_application")
    api.post(f"/tasks/{task}/claim", "account_manager")
    assert api.post(f"/tasks/{task}/assign", "supervisor", json={"user": "ACCOUNT_MANAGER"}).status_code == 200
    with api.db.transaction() as session:
        accounts.create_user(session, "am.2", "am.2-secret", api.db.clock.now(), groups=("account_manager",),
                             password_method="pbkdf2:sha256:1000")
    assert api.post(f"/tasks/{task}/assign", "supervisor", json={"user": "Am.2"}).status_code == 200
    with api.db.transaction() as session:
        services.set_case_status(session, api.db.runtime, number, "suspended", "supervisor", reason="客户要求暂缓")
    history = api.get(f"/cases/{number}/history", "archivist").get_json()["events"]
    [assigned] = [event for event in history if event["lifecycle"] == "assigned"]
    assert assigned["user"] == "am.2" and assigned["details"] == {"by": "supervisor", "previous": "account_manager"}
    [suspended] = [event for event in history if event["lifecycle"] == "suspended"]
    assert suspended["activity"] == "整个案件" and suspended["details"] == {"reason": "客户要求暂缓"}
    assert suspended["element_id"] == "case"
    enabled = [event for event in history if event["lifecycle"] == "enabled"]
    assert enabled and "due_at" in enabled[0]["details"]
    assert not [event for event in history if event["lifecycle"] == "completed" and event["details"]]  # no form data


def test_a_completion_repeated_with_other_data_is_a_conflict(api: Api) -> None:
    number = start_case(api.db)
    task = open_task(api.db, number, "accept_application")
    answer = form_defaults(api.db, task)
    url = f"/tasks/{task.id}/complete"
    assert api.post(url, "account_manager", json={"data": answer, "request_id": "same-0001"}).status_code == 200
    again = api.post(url, "account_manager", json={"data": answer, "request_id": "same-0001"})
    assert again.status_code == 200 and again.get_json()["repeated"] is True
    other = api.post(url, "account_manager", json={"data": {**answer, "decision": "reject"}, "request_id": "same-0001"})
    assert other.status_code == 409 and "other data" in error_of(other)["message"]


def test_choices_are_listed_and_said_once(api: Api) -> None:
    number = start_case(api.db)
    task = open_task(api.db, number, "accept_application")
    data = {**form_defaults(api.db, task), "decision": "bogus", "one_certificate": 3, "typename": 1}
    response = api.post(f"/tasks/{task.id}/complete", "account_manager",
                        json={"data": data, "request_id": "choices-0001"})
    fields = error_of(response)["fields"]
    assert sorted(f["field"] for f in fields) == ["decision", "one_certificate", "typename"], fields
    decision = next(f["message"] for f in fields if f["field"] == "decision")
    assert "'accept' (受理)" in decision and "'reject'" in decision


def test_unknown_query_parameters_and_wording(api: Api) -> None:
    for path, user in (("/tasks?lane=surveyor", "account_manager"), ("/cases?state=running", "archivist"),
                       ("/incidents?open=1", "supervisor"), ("/failed-messages?x=1", "supervisor")):
        response = api.get(path, user)
        assert response.status_code == 400, path
        assert error_of(response)["code"] == "invalid_parameter" and path.split("?")[1].split("=")[0] in \
            error_of(response)["message"]
    assert error_of(api.get("/cases/YK-NO-SUCH", "archivist"))["message"] == "no case YK-NO-SUCH"
    assert error_of(api.get("/cases/bad%20number", "archivist"))["message"] == "no case bad number"
    assert error_of(api.get(f"/tasks/{uuid.uuid4()}x", "archivist"))["code"] == "not_found"


def test_oversized_form_data_is_422_at_the_form(api: Api) -> None:
    number = start_case(api.db)
    task = open_task(api.db, number, "accept_application")
    data = {**form_defaults(api.db, task), "remarks": "x" * (MAX_FORM_BYTES + 1)}
    response = api.post(f"/tasks/{task.id}/complete", "account_manager",
                        json={"data": data, "request_id": "big-0001"})
    assert response.status_code == 422
    assert [f["field"] for f in error_of(response)["fields"]] == [""]
    assert f"larger than {MAX_FORM_BYTES} bytes" in error_of(response)["fields"][0]["message"]
