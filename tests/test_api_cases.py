"""``/api/v1/applications``, ``/cases`` and ``/incidents``: start a case, follow its progress, list and read cases
and their event log, deliver a message to a waiting case, and retry an incident."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from runner.case_queries import is_bookkeeping
from runner.models import Case as CaseRow
from runner.models import Job
from runner.store import Runtime, load_case
from runner.worker import Worker
from tests.api_helpers import Api, api_fixture, error_of  # noqa: F401  (the api fixture)
from tests.db import CaseDriver, advance_to, case_row, events, form_defaults, open_task, open_tasks, sample, start
from tests.webui_helpers import start_case
from tests.worker_helpers import registry_with


def application(category: str = "lv_residential", **fields: Any) -> dict[str, Any]:
    data = sample(category)
    return {"application": {**data["application"], **fields}, "regime": data["regime"]}


def test_an_application_starts_a_case(api: Api) -> None:
    response = api.post("/applications", "account_manager", json=application(customer_name="李四"))
    assert response.status_code == 201, response.get_json()
    number = response.get_json()["case_number"]
    assert response.headers["Location"] == f"/api/v1/cases/{number}"
    row = case_row(api.db, number)
    assert (row.status, row.category, row.customer_name) == ("running", "lv_residential", "李四")
    assert [t.element_id for t in open_tasks(api.db, number)] == ["accept_application"]
    assert events(api.db, number)[0].element_id == "start_application"
    assert api.post("/applications", "admin", json=application("hv_ordinary")).status_code == 201


def test_an_application_sent_again_with_its_request_id_starts_one_case(api: Api) -> None:
    body = {**application(customer_name="王五"), "request_id": "crm-4711-a"}
    first = api.post("/applications", "account_manager", json=body)
    again = api.post("/applications", "account_manager", json=body)  # a retry after a timeout

    assert (first.status_code, again.status_code) == (201, 201), again.get_json()
    assert again.get_json() == first.get_json() and again.headers["Location"] == first.headers["Location"]
    assert api.db.count(CaseRow) == 1
    other_client = api.post("/applications", "admin", json=body)
    assert other_client.status_code == 409 and "another client" in error_of(other_client)["message"]
    bad_id = api.post("/applications", "account_manager", json={**body, "request_id": "x"})
    assert bad_id.status_code == 422 and [f["field"] for f in error_of(bad_id)["fields"]] == ["request_id"]
    assert api.db.count(CaseRow) == 1


def test_an_invalid_application_is_422_per_field_and_creates_nothing(api: Api) -> None:
    before = api.db.count(CaseRow)
    body = application(phone="not a phone")
    del body["application"]["customer_name"]
    response = api.post("/applications", "account_manager", json=body)
    assert response.status_code == 422
    fields = {f["field"] for f in error_of(response)["fields"]}
    assert fields == {"application.phone", "application.customer_name"}  # the missing name at its own field
    unknown_regime = api.post("/applications", "account_manager", json={**application(), "regime": "fast"})
    assert [f["field"] for f in error_of(unknown_regime)["fields"]] == ["regime"]
    extra = api.post("/applications", "account_manager", json={**application(), "case_number": "X-1"})
    assert extra.status_code == 422 and error_of(extra)["fields"] == [{"field": "case_number",
                                                                      "message": "unknown field"}]
    assert api.post("/applications", "account_manager", json={"application": []}).status_code == 422
    assert api.db.count(CaseRow) == before


def test_a_resident_id_number_needs_its_check_digit_and_a_real_birth_date(api: Api) -> None:
    refused = {"110101199003071234": "the check digit should be 3, not 4",
               "110101199002311233": "the birth date 1990-02-31 is not a real date"}
    for id_type in ("id_card", "household_register"):
        for number, reason in refused.items():
            response = api.post("/applications", "account_manager",
                                json=application(id_type=id_type, id_number=number))
            assert response.status_code == 422, number
            [problem] = error_of(response)["fields"]
            assert problem["field"] == "application.id_number" and reason in problem["message"], problem
    assert api.db.count(CaseRow) == 0
    for id_type, number in (("id_card", "11010119900307109X"), ("passport", "E12345678")):
        ok = api.post("/applications", "account_manager", json=application(id_type=id_type, id_number=number))
        assert ok.status_code == 201, ok.get_json()


def test_text_direction_controls_are_refused_in_applications_and_task_forms(api: Api) -> None:
    response = api.post("/applications", "account_manager",
                        json=application(customer_name="张\u202e伟", remarks="请尽快安排😀\u202e测试"))
    assert response.status_code == 422
    fields = {f["field"]: f["message"] for f in error_of(response)["fields"]}
    assert set(fields) == {"application.customer_name", "application.remarks"}
    assert all("text-direction control character (U+202E)" in message for message in fields.values())
    assert api.db.count(CaseRow) == 0
    number = start(api.db, "lv_residential")
    task = open_task(api.db, number, "accept_application")
    answer = {**form_defaults(api.db, task), "remarks": "已核对\u200f\u2067材料"}
    completed = api.post(f"/tasks/{task.id}/complete", "account_manager",
                         json={"data": answer, "request_id": "req-bidi-1"})
    assert completed.status_code == 422
    assert error_of(completed)["fields"] == [{
        "field": "remarks",
        "message": "contains an invisible text-direction control character (U+200F, U+2067), which is not allowed"}]
    assert open_task(api.db, number, "accept_application").id == task.id


def test_only_account_managers_and_admins_apply(api: Api) -> None:
    for role in ("surveyor", "supervisor", "analyst", "nobody"):
        assert api.post("/applications", role, json=application()).status_code == 403, role
    assert api.post("/applications", json=application()).status_code == 401
    assert api.db.count(CaseRow) == 0


def test_progress_lists_steps_done_then_active_with_due_dates(api: Api) -> None:
    number = start_case(api.db)
    advance_to(api.db, number, "site_survey")
    response = api.get(f"/applications/{number}/progress", "surveyor")
    assert response.status_code == 200
    progress = response.get_json()
    assert progress["case_number"] == number and progress["status"] == "running"
    done = [step for step in progress["steps"] if step["state"] == "done"]
    active = [step for step in progress["steps"] if step["state"] == "active"]
    assert [step["element_id"] for step in done][0] == "start_application"
    assert "accept_application" in [step["element_id"] for step in done]
    assert all(step["completed_at"] for step in done)
    assert [step["element_id"] for step in active] == ["site_survey"]
    assert active[0]["due_at"] and active[0]["name"] == "现场勘查"
    assert progress["steps"][-1] == active[-1]
    assert api.get("/applications/YK-NO-SUCH/progress", "surveyor").status_code == 404
    assert api.get(f"/applications/{number}/progress", "nobody").status_code == 403
    assert api.get(f"/applications/{number}/progress").status_code == 401


def test_case_list_filters_and_paging(api: Api) -> None:
    residential = start_case(api.db, "lv_residential", customer_name="王小明")
    api.db.clock.advance(timedelta(minutes=1))
    ordinary = start_case(api.db, "hv_ordinary", customer_name="示例科技有限公司")
    listed = api.get("/cases", "analyst").get_json()
    assert [c["case_number"] for c in listed["items"]] == [ordinary, residential]  # newest first
    assert listed["total"] == 2
    assert [c["case_number"] for c in api.get("/cases?category=lv_residential", "analyst").get_json()["items"]] == \
        [residential]
    assert [c["case_number"] for c in api.get("/cases?q=示例科技", "analyst").get_json()["items"]] == [ordinary]
    assert [c["case_number"] for c in api.get(f"/cases?q={residential.lower()}", "analyst")
            .get_json()["items"]] == [residential]
    assert api.get("/cases?status=completed", "analyst").get_json() == {"items": [], "total": 0, "total_exact": True,
                                                                        "limit": 50, "offset": 0}
    second = api.get("/cases?limit=1&offset=1", "analyst").get_json()
    assert [c["case_number"] for c in second["items"]] == [residential] and second["total"] == 2
    assert api.get("/cases?status=lost", "analyst").status_code == 400
    assert api.get("/cases", "nobody").status_code == 403
    assert api.get("/cases").status_code == 401


def test_case_detail_and_history(api: Api) -> None:
    number = start_case(api.db)
    detail = api.get(f"/cases/{number}", "archivist").get_json()
    assert detail["case_number"] == number and detail["status"] == "running"
    assert [t["element_id"] for t in detail["open_tasks"]] == ["accept_application"]
    assert isinstance(detail["summary"], dict) and "limits" in detail["summary"]
    history = api.get(f"/cases/{number}/history", "archivist").get_json()
    assert [e["id"] for e in history["events"]] == [  # as the case page's timeline: no unnamed gateways
        e.id for e in events(api.db, number) if not is_bookkeeping(e)]
    assert all("data" not in e for e in history["events"])  # no form data (personal data) in the log view
    for path in (f"/cases/{number}", f"/cases/{number}/history"):
        assert api.get(path, "nobody").status_code == 403
        assert api.get(path).status_code == 401
    assert api.get("/cases/YK-NO-SUCH", "archivist").status_code == 404
    assert api.get("/cases/YK-NO-SUCH/history", "archivist").status_code == 404


def drive_until_waiting_for_a_message(api: Api, number: str) -> str:
    driver = CaseDriver(api.db, number)
    for _ in range(200):
        with api.db.reading() as session:
            waiting = load_case(session, api.db.runtime, number).case.waiting_messages()
        if waiting:
            return waiting[0]
        assert driver.step(), "the case never waited for a message"
    raise AssertionError("the case never waited for a message")


def test_a_message_reaches_a_waiting_case_and_is_refused_otherwise(api: Api) -> None:
    number = start_case(api.db)
    refused = api.post(f"/cases/{number}/messages", "account_manager", json={"name": "payment_confirmed"})
    assert refused.status_code == 409 and "not waiting" in error_of(refused)["message"]
    assert api.post("/cases/YK-NO-SUCH/messages", "account_manager", json={"name": "x"}).status_code == 404
    name = drive_until_waiting_for_a_message(api, number)
    assert api.post(f"/cases/{number}/messages", "surveyor", json={"name": name}).status_code == 403
    assert api.post(f"/cases/{number}/messages", json={"name": name}).status_code == 401
    reserved = api.post(f"/cases/{number}/messages", "account_manager",
                        json={"name": name, "payload": {"typename": "x"}})
    assert reserved.status_code == 422
    before = len(events(api.db, number))
    delivered = api.post(f"/cases/{number}/messages", "account_manager",
                         json={"name": name, "payload": {"confirmed_at": api.db.clock.now().isoformat()}})
    assert delivered.status_code == 200, delivered.get_json()
    assert delivered.get_json() == {"case_number": number, "name": name, "delivered": True, "repeated": False}
    assert len(events(api.db, number)) > before
    with api.db.reading() as session:
        assert name not in load_case(session, api.db.runtime, number).case.waiting_messages()


def make_incident(api: Api, tmp_path: Path) -> str:
    """A case whose capacity service fails until its retries are used up: one open incident (as in test_worker)."""

    def unavailable(ctx: Any, **params: Any) -> dict[str, Any]:
        raise RuntimeError("capacity service unavailable")

    runtime = Runtime(cache_dir=api.db.cache_dir, clock=api.db.clock,
                      registry=registry_with("capacity_assessment", unavailable))
    runtime.bundles.update(api.db.runtime.bundles)
    number = start(api.db, "hv_ordinary", runtime=runtime)
    worker = Worker(api.db.sessions, runtime, worker_id="test-worker")
    for _ in range(4):
        with api.db.reading() as session:
            job = session.scalar(select(Job).where(Job.kind == "retry", Job.status == "pending"))
        if job is None:
            break
        api.db.clock.advance_to(job.due_at)
        worker.run_once()
    return number


def test_incidents_are_listed_and_retried_by_supervisors(api: Api, tmp_path: Path) -> None:
    number = make_incident(api, tmp_path)
    assert api.get("/incidents", "account_manager").status_code == 403
    assert api.get("/incidents").status_code == 401
    listed = api.get("/incidents", "supervisor").get_json()["items"]
    assert len(listed) == 1 and listed[0]["case_number"] == number
    assert listed[0]["element_id"] == "assess_capacity" and "unavailable" in listed[0]["message"]
    incident = listed[0]["id"]
    assert api.post(f"/incidents/{incident}/retry", "account_manager").status_code == 403
    assert api.post(f"/incidents/{incident}/retry").status_code == 401
    retried = api.post(f"/incidents/{incident}/retry", "admin")  # the app's runtime has the working handler
    assert retried.status_code == 200
    assert retried.get_json() == {"id": incident, "retried": True, "ok": True, "failures": []}
    assert [t.element_id for t in open_tasks(api.db, number)] == ["accept_application"]
    assert api.get("/incidents", "supervisor").get_json()["items"] == []
    assert len(api.get("/incidents?all=true", "supervisor").get_json()["items"]) == 1
    assert api.post(f"/incidents/{incident}/retry", "supervisor").status_code == 404  # resolved
    assert api.post("/incidents/99999999999999999999/retry", "supervisor").status_code == 404
