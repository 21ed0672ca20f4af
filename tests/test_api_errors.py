"""Errors of the API: always the JSON error shape with the right 4xx, never a 500 for bad input (garbage is fed to
every endpoint of the OpenAPI document), and a role matrix: every endpoint × every group (allowed / 403) and
without a token (401)."""

from __future__ import annotations

import json
import re
import sqlite3
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from runner import accounts, services
from runner.accounts import GROUPS
from tests.api_helpers import Api, api_fixture, error_of, issue_token  # noqa: F401  (the api fixture)
from tests.webui_helpers import NO_GROUP, start_case, task_of
from webui.api.openapi import document

OPERATIONS = [(method.upper(), path) for path, item in document()["paths"].items() for method in item]
BODIES: list[tuple[str, bytes | str, str | None]] = [
    ("no body", b"", None),
    ("form encoded", "user=x&data=1", "application/x-www-form-urlencoded"),
    ("text", "hello", "text/plain"),
    ("malformed", "{", "application/json"),
    ("not utf-8", b"\xff\xfe{}", "application/json"),
    ("array", "[1, 2]", "application/json"),
    ("null", "null", "application/json"),
    ("string", '"x"', "application/json"),
    ("empty object", "{}", "application/json"),
    ("wrong types", '{"application": 1, "data": "x", "request_id": 5, "user": [], "name": {}, "payload": 3}',
     "application/json"),
    ("NUL", '{"application": {"customer_name": "a\\u0000b"}, "name": "x\\u0000", "user": "\\u0000",'
            ' "data": {}, "request_id": "abcdefgh\\u0000"}', "application/json"),
    ("lone surrogate", '{"application": {"customer_name": "\\ud800"}, "name": "\\udfff", "user": "\\ud800"}',
     "application/json"),
    ("infinity", '{"application": {"declared_capacity_kw": 1e999}, "data": {"x": NaN}}', "application/json"),
    ("deep", "[" * 100_000 + "]" * 100_000, "application/json"),
    ("huge number", '{"application": {"declared_capacity_kw": ' + "9" * 5000 + "}}", "application/json"),
    ("reserved key", '{"application": {"typename": "x"}, "data": {"typename": 1}, "request_id": "abcdefgh1",'
                     ' "name": "payment_confirmed", "payload": {"a": {"typename": 1}}}', "application/json"),
]
GARBAGE_IDS = ["%00", "%ff%fe", "..", "' OR 1=1 --", "x" * 300, "-1", "99999999999999999999999", "%F0%9F%98%80"]
ALL_GROUPS = "everyone"


@pytest.fixture(name="world")
def world_fixture(api: Api) -> dict[str, str]:
    """A case with an open task, and a user in every group (the most doors open)."""
    number = start_case(api.db)
    with api.db.transaction() as session:
        accounts.create_user(session, ALL_GROUPS, "everyone-secret", api.db.clock.now(), groups=GROUPS,
                             password_method="pbkdf2:sha256:1000")
    api.tokens[ALL_GROUPS] = issue_token(api.db, ALL_GROUPS)
    return {"case_number": number, "task_id": task_of(api.db, number, "accept_application"), "incident_id": "1",
            "message_id": "1"}


def filled(path: str, values: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: values[m[1]], path)


def assert_client_error(response: Any, what: str) -> None:
    assert response.status_code < 500, f"{what}: {response.status_code} {response.get_data(as_text=True)[:300]}"
    if response.status_code >= 400:
        error_of(response)


def test_garbage_bodies_get_a_json_4xx_from_every_endpoint(api: Api, world: dict[str, str]) -> None:
    for method, path in OPERATIONS:
        url = filled(path, world)
        for name, data, content_type in BODIES:
            headers = {"Content-Type": content_type} if content_type else {}
            response = api.call(method, url, ALL_GROUPS, data=data, headers=headers)
            assert_client_error(response, f"{method} {url} with {name}")
            if method == "POST" and name in ("form encoded", "text"):
                assert response.status_code in (200, 404, 409, 415), (method, url, name, response.status_code)


def test_specific_statuses_for_bad_bodies(api: Api, world: dict[str, str]) -> None:
    url = "/applications"

    def post(data: bytes | str, content_type: str) -> tuple[int, str]:
        response = api.call("POST", url, ALL_GROUPS, data=data, headers={"Content-Type": content_type})
        return response.status_code, error_of(response)["code"]

    assert post("application=x", "application/x-www-form-urlencoded") == (415, "unsupported_media_type")
    assert post("{", "application/json") == (400, "malformed_json")
    assert post("[]", "application/json") == (400, "body_not_object")
    assert post('{"application": {"customer_name": "\\u0000"}}', "application/json") == (400, "unstorable_text")
    assert post('{"application": {"x": Infinity}}', "application/json") == (400, "malformed_json")
    assert post('{"application": {}}', "application/json")[0] == 422
    assert post(json.dumps({"application": {"x": "y" * (2 * 1024 * 1024)}}), "application/json") == \
        (413, "payload_too_large")


def test_garbage_ids_and_query_strings_never_break_anything(api: Api, world: dict[str, str]) -> None:
    for method, path in OPERATIONS:
        for garbage in GARBAGE_IDS:
            url = filled(path, {key: garbage for key in world})
            response = api.call(method, url, ALL_GROUPS, json={"request_id": "abcdefgh1", "user": "x", "name": "x"})
            assert_client_error(response, f"{method} {url}")
            if "{" in path:
                assert response.status_code in (404, 405, 422), (method, url, response.status_code)
    for query in ("limit=%00", "q=%00", "q=%ff", "step=%00x", "offset=1e9", "limit=" + "9" * 5000,
                  "all=yes", "status=%00", "category=" + "x" * 1000, "scope=team&scope=mine", "due=%C0%80"):
        for path in ("/tasks", "/cases", "/incidents", "/failed-messages"):
            response = api.get(f"{path}?{query}", ALL_GROUPS)
            assert_client_error(response, f"GET {path}?{query}")


def test_unknown_paths_and_methods_are_json(api: Api) -> None:
    for url in ("/api/v1/", "/api/v1/nothing", "/api/v1/tasks/x/y/z", "/api/v2/tasks"):
        response = api.app.test_client().get(url, headers={"Authorization": f"Bearer {api.tokens['admin']}"})
        assert response.status_code == 404 and error_of(response)["code"] == "not_found", url
    response = api.call("DELETE", "/cases", "admin")
    assert response.status_code == 405 and error_of(response)["code"] == "method_not_allowed"
    assert "GET" in response.headers["Allow"]
    assert api.call("GET", "/tasks/x/claim", "admin").status_code == 405
    page = api.app.test_client().get("/no-such-page")  # outside the API the HTML error page stays
    assert page.status_code == 404 and page.mimetype == "text/html"


# -- every endpoint × role ---------------------------------------------------------------------------------------

ANY_STAFF = tuple(GROUPS)
ROLES: dict[tuple[str, str], tuple[str, ...]] = {
    ("POST", "/applications"): ("account_manager", "admin"),
    ("GET", "/applications/{case_number}/progress"): ANY_STAFF,
    ("GET", "/tasks"): ANY_STAFF,
    ("GET", "/tasks/{task_id}"): ("account_manager", "supervisor"),  # the task's lane, supervisors
    ("POST", "/tasks/{task_id}/claim"): ("account_manager",),
    ("POST", "/tasks/{task_id}/unclaim"): ("account_manager", "supervisor"),  # assignee (after a claim), supervisors
    ("POST", "/tasks/{task_id}/assign"): ("supervisor",),
    ("POST", "/tasks/{task_id}/complete"): ("account_manager",),
    ("GET", "/cases"): ANY_STAFF,
    ("GET", "/cases/{case_number}"): ANY_STAFF,
    ("GET", "/cases/{case_number}/history"): ANY_STAFF,
    ("GET", "/cases/{case_number}/data"): ANY_STAFF,
    ("POST", "/cases/{case_number}/messages"): ("account_manager", "supervisor", "admin"),
    ("POST", "/cases/{case_number}/access-code"): ("account_manager", "supervisor", "admin"),
    ("GET", "/incidents"): ("supervisor", "admin"),
    ("POST", "/incidents/{incident_id}/retry"): ("supervisor", "admin"),
    ("GET", "/failed-messages"): ("supervisor", "admin"),
    ("POST", "/failed-messages/{message_id}/retry"): ("supervisor", "admin"),
    ("POST", "/failed-messages/retry"): ("supervisor", "admin"),
}
BODY = {"user": "account_manager", "request_id": "abcdefgh1", "data": {"x": 1}, "name": "payment_confirmed",
        "application": {}}


def test_the_role_table_covers_the_document() -> None:
    assert sorted(ROLES) == sorted(OPERATIONS)


@pytest.mark.parametrize(("method", "path"), sorted(ROLES))
def test_every_endpoint_by_role(api: Api, method: str, path: str) -> None:
    number = start_case(api.db)
    values = {"case_number": number, "task_id": task_of(api.db, number, "accept_application"), "incident_id": "1",
              "message_id": "1"}
    url = filled(path, values)
    if path.endswith("/unclaim"):  # the assignee may give it back: let the account manager hold it
        assert api.post(f"/tasks/{values['task_id']}/claim", "account_manager").status_code == 200
    assert api.call(method, url, json=BODY).status_code == 401
    for user in (*GROUPS, NO_GROUP):
        response = api.call(method, url, user, json=BODY if method == "POST" else None)
        if user in ROLES[(method, path)]:
            assert response.status_code not in (401, 403), (user, response.get_json())
            assert response.status_code < 500
        else:
            assert response.status_code == 403, (user, response.status_code, response.get_data(as_text=True))
            assert error_of(response)["code"] == "forbidden"


def _locked(*_args: Any, **_kwargs: Any) -> Any:
    raise OperationalError("SELECT …", {}, sqlite3.OperationalError("database is locked"))


def test_a_database_busy_past_its_timeout_is_a_503_to_retry_not_a_500(api: Api, monkeypatch: pytest.MonkeyPatch
                                                                      ) -> None:
    monkeypatch.setattr(services, "list_tasks", _locked)
    response = api.get("/tasks", "account_manager")
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    assert error_of(response)["code"] == "busy" and "nothing was changed" in error_of(response)["message"]


def test_other_database_errors_stay_a_500(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise OperationalError("SELECT …", {}, sqlite3.OperationalError("disk I/O error"))

    monkeypatch.setattr(services, "list_tasks", broken)
    monkeypatch.setitem(api.app.config, "PROPAGATE_EXCEPTIONS", False)  # as in production, not as in testing
    response = api.get("/tasks", "account_manager")
    assert response.status_code == 500 and error_of(response)["code"] == "server_error"
