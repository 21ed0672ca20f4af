"""``GET /api/v1/cases/{case_number}/data``: the application and the completed steps' data as the case page shows
them — personal fields masked for everyone, in full with ``reveal=true`` only for the roles that may see them so,
each such view logged (channel ``api``, the same paths as the page's 显示完整信息) — through the real app, its
bearer tokens and a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from runner import pii
from runner.accounts import GROUPS
from runner.models import DataAccess
from tests.api_helpers import Api, api_fixture, error_of  # noqa: F401  (the api fixture)
from tests.db import advance_to, complete, events, form_defaults, open_task
from tests.test_api_cases import drive_until_waiting_for_a_message
from tests.test_api_review_fixes import Contract
from tests.webui_helpers import NO_GROUP, Web, start_case

ID_NUMBER = "110101199003071233"
PHONE = "13812345678"
CONTACT = "13987654321"
MASKED = {ID_NUMBER: "110***********1233", PHONE: "138****5678", CONTACT: "139****4321"}


def case_at_completion_check(api: Api) -> str:
    """A case whose application and 竣工报验 (report_completion, the customer's step) hold personal data."""
    number = start_case(api.db, id_number=ID_NUMBER, phone=PHONE)
    advance_to(api.db, number, "report_completion")
    complete(api.db, number, "report_completion", user="customer.1", extra={"contact_phone": CONTACT})
    return number


def step_of(body: dict[str, Any], element_id: str) -> dict[str, Any]:
    found = [step for step in body["steps"] if step["element_id"] == element_id]
    assert len(found) == 1, [step["element_id"] for step in body["steps"]]
    return found[0]


def access_rows(api: Api) -> list[DataAccess]:
    with api.db.reading() as session:
        return list(session.scalars(select(DataAccess).order_by(DataAccess.id)))


def test_personal_fields_are_masked_without_reveal(api: Api) -> None:
    number = case_at_completion_check(api)
    contract = Contract(api)
    for user in ("surveyor", "account_manager"):  # may not unmask; may, but did not ask
        response = api.get(f"/cases/{number}/data", user)
        assert response.status_code == 200, response.get_json()
        body = contract.check(response, "get", "/cases/{case_number}/data")
        assert body["case_number"] == number and response.headers["Cache-Control"] == "no-store"
        assert body["application"]["id_number"] == MASKED[ID_NUMBER]
        assert body["application"]["phone"] == MASKED[PHONE]
        assert body["application"]["customer_name"]  # not personal in the masking sense: shown as filed
        assert step_of(body, "report_completion")["data"]["contact_phone"] == MASKED[CONTACT]
        text = response.get_data(as_text=True)
        assert ID_NUMBER not in text and PHONE not in text and CONTACT not in text, user
    assert access_rows(api) == []  # a masked view is not logged


def test_reveal_by_an_allowed_role_shows_everything_and_logs_the_same_paths_as_the_page(api: Api) -> None:
    number = case_at_completion_check(api)
    response = api.get(f"/cases/{number}/data?reveal=true", "account_manager")
    assert response.status_code == 200, response.get_json()
    body = Contract(api).check(response, "get", "/cases/{case_number}/data")
    assert response.headers["Cache-Control"] == "no-store"
    assert (body["application"]["id_number"], body["application"]["phone"]) == (ID_NUMBER, PHONE)
    assert step_of(body, "report_completion")["data"]["contact_phone"] == CONTACT

    [row] = access_rows(api)
    assert (row.user, row.case_number, row.channel) == ("account_manager", number, "api")
    assert {"id_number", "phone", "report_completion.contact_phone"} <= set(row.fields)

    web = Web(api.app, api.db).client("supervisor")  # the page's 显示完整信息 logs the same paths, channel web
    assert web.post(f"/cases/{number}/reveal").status_code == 303
    assert ID_NUMBER in web.get(f"/cases/{number}").get_data(as_text=True)
    api_row, web_row = access_rows(api)
    assert (web_row.channel, web_row.user) == ("web", "supervisor") and web_row.fields == api_row.fields

    masked_again = api.get(f"/cases/{number}/data", "account_manager")  # each reveal is asked for afresh
    assert ID_NUMBER not in masked_again.get_data(as_text=True) and len(access_rows(api)) == 2


def test_reveal_by_a_role_that_may_not_is_403_and_logs_nothing(api: Api) -> None:
    number = case_at_completion_check(api)
    for user in sorted(set(GROUPS) - set(pii.UNMASK_ROLES)):
        response = api.get(f"/cases/{number}/data?reveal=true", user)
        assert response.status_code == 403, (user, response.status_code)
        error = error_of(response)
        assert error["code"] == "forbidden" and "personal data in full" in error["message"], error
        assert "reveal=true" in error["message"] and user in error["message"]
        assert ID_NUMBER not in response.get_data(as_text=True)
        assert api.get(f"/cases/{number}/data?reveal=false", user).status_code == 200  # masked is theirs
    for user in pii.UNMASK_ROLES:
        assert api.get(f"/cases/{number}/data?reveal=true", user).status_code == 200, user
    assert api.get(f"/cases/{number}/data", NO_GROUP).status_code == 403  # no staff group at all
    assert api.get(f"/cases/{number}/data?reveal=true", NO_GROUP).status_code == 403
    assert [row.user for row in access_rows(api)] == list(pii.UNMASK_ROLES)  # only the allowed views


def test_a_task_completed_through_the_api_shows_its_data(api: Api) -> None:
    number = start_case(api.db)
    before = api.get(f"/cases/{number}/data", "archivist").get_json()
    assert before["steps"] == [] and before["application"]  # filed, nothing done yet

    task = open_task(api.db, number, "accept_application")
    answer = {**form_defaults(api.db, task), "remarks": "资料齐全，经 API 受理"}
    done = api.post(f"/tasks/{task.id}/complete", "account_manager", json={"data": answer, "request_id": "data-0001"})
    assert done.status_code == 200, done.get_json()

    body = api.get(f"/cases/{number}/data", "archivist").get_json()
    [completed] = [event for event in events(api.db, number)
                   if event.element_id == "accept_application" and event.lifecycle == "completed"]
    assert body["steps"] == [{"event_id": completed.id, "element_id": "accept_application",
                              "activity": completed.activity, "user": "account_manager",
                              "at": completed.at.isoformat(), "data": answer}]
    history = api.get(f"/cases/{number}/history", "archivist").get_json()["events"]
    assert "资料齐全" not in str(history)  # the event log still carries no form data


def test_a_caught_message_shows_its_payload_masked(api: Api) -> None:
    number = start_case(api.db)
    name = drive_until_waiting_for_a_message(api, number)
    payload = {"amount": 12000, "phone": PHONE}
    sent = api.post(f"/cases/{number}/messages", "account_manager",
                    json={"name": name, "payload": payload, "request_id": "billing-0042"})
    assert sent.status_code == 200, sent.get_json()
    body = api.get(f"/cases/{number}/data", "inspector").get_json()
    [caught] = [step for step in body["steps"] if step["data"].get("message") == name]
    assert caught["user"] == "account_manager"
    assert caught["data"] == {"message": name, "payload": {"amount": 12000, "phone": MASKED[PHONE]},
                              "request_id": "billing-0042"}
    assert all(step["data"] for step in body["steps"])  # only completions that carry data
    assert not {"enabled", "assigned"} & {step["element_id"] for step in body["steps"]}
    full = api.get(f"/cases/{number}/data?reveal=true", "supervisor").get_json()
    [caught] = [step for step in full["steps"] if step["data"].get("message") == name]
    assert caught["data"]["payload"] == payload
    [row] = access_rows(api)
    assert f"{caught['element_id']}.payload.phone" in row.fields and row.channel == "api"


def test_unknown_case_unknown_argument_bad_boolean_and_no_token(api: Api) -> None:
    number = start_case(api.db)
    missing = api.get("/cases/YK20990101000000/data", "archivist")
    assert missing.status_code == 404 and error_of(missing)["code"] == "not_found"
    assert "YK20990101000000" in error_of(missing)["message"]
    assert api.get("/cases/YK20990101000000", "archivist").status_code == 404  # as the case itself
    assert api.get("/cases/..%2Fx/data", "archivist").status_code == 404
    assert api.get("/cases/YK20990101000000/data?reveal=true", "account_manager").status_code == 404

    unknown = api.get(f"/cases/{number}/data?revael=true", "account_manager")
    assert unknown.status_code == 400 and error_of(unknown)["code"] == "invalid_parameter"
    assert "revael" in error_of(unknown)["message"] and "reveal" in error_of(unknown)["message"]
    for bad in ("yes", "1", "TRUE", "%00"):
        response = api.get(f"/cases/{number}/data?reveal={bad}", "account_manager")
        assert response.status_code == 400 and error_of(response)["code"] == "invalid_parameter", bad

    anonymous = api.get(f"/cases/{number}/data")
    assert anonymous.status_code == 401 and error_of(anonymous)["code"] == "unauthorized"
    assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")
    forged = api.get(f"/cases/{number}/data", token="bzt_not-a-real-token")
    assert forged.status_code == 401 and error_of(forged)["code"] == "invalid_token"
    assert access_rows(api) == []


def test_every_staff_group_reads_the_masked_data(api: Api) -> None:
    number = start_case(api.db, id_number=ID_NUMBER)
    for user in GROUPS:
        response = api.get(f"/cases/{number}/data", user)
        assert response.status_code == 200, user
        assert response.get_json()["application"]["id_number"] == MASKED[ID_NUMBER], user
