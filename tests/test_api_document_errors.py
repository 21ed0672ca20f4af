"""The OpenAPI document declares the errors the app gives that no generated request provokes: 413 for the operations
with a body, 503 (database busy, with Retry-After) for every operation, and 405 (with Allow) as a documented
response of the whole API; a real answer of each fits the declared Error schema and headers."""

from __future__ import annotations

import json
from typing import Any

import jsonschema

from runner import accounts
from runner.accounts import GROUPS
from tests.api_helpers import Api, api_fixture, issue_token  # noqa: F401  (the api fixture)
from tests.webui_helpers import start_case, task_of
from webui.api.openapi import document

DOCUMENT = document()
OPERATIONS = [(method.upper(), path, operation) for path, item in DOCUMENT["paths"].items()
              for method, operation in item.items()]


def declared(reference: dict[str, Any]) -> dict[str, Any]:
    name = reference["$ref"].rsplit("/", 1)[1]
    response: dict[str, Any] = DOCUMENT["components"]["responses"][name]
    return response


def error_schema() -> dict[str, Any]:
    return {**DOCUMENT["components"]["schemas"]["Error"], "components": DOCUMENT["components"]}


def test_every_operation_declares_busy_and_those_with_a_body_too_large() -> None:
    for method, path, operation in OPERATIONS:
        responses = operation["responses"]
        assert "Retry-After" in declared(responses["503"])["headers"], (method, path)
        assert ("413" in responses) == ("requestBody" in operation), (method, path)
        if "requestBody" in operation:
            assert {"415", "422"} <= set(responses), (method, path)
    assert "Allow" in DOCUMENT["components"]["responses"]["E405"]["headers"]
    assert "405" in DOCUMENT["info"]["description"] and "Allow" in DOCUMENT["info"]["description"]


def test_the_served_document_is_the_one_checked(api: Api) -> None:
    served = api.app.test_client().get("/api/v1/openapi.json")
    assert served.status_code == 200 and served.get_json() == json.loads(json.dumps(DOCUMENT))


def test_real_413_and_405_answers_fit_what_is_declared(api: Api) -> None:
    number = start_case(api.db)  # a real case and task: the body is read once they are found and allowed
    task = task_of(api.db, number, "accept_application")
    with api.db.transaction() as session:
        accounts.create_user(session, "everyone", "everyone-secret", api.db.clock.now(), groups=GROUPS,
                             password_method="pbkdf2:sha256:1000")
    token = issue_token(api.db, "everyone")
    big = json.dumps({"application": {"x": "y" * (2 * 1024 * 1024)}})
    for method, path, operation in OPERATIONS:
        if "requestBody" not in operation:
            continue
        url = path.replace("{case_number}", number).replace("{task_id}", task)
        response = api.call(method, url, token=token, data=big, headers={"Content-Type": "application/json"})
        assert response.status_code == 413, (method, path, response.status_code)
        jsonschema.validate(response.get_json(), error_schema())
    wrong = api.call("DELETE", "/tasks", "admin")
    assert wrong.status_code == 405 and "GET" in wrong.headers["Allow"]
    jsonschema.validate(wrong.get_json(), error_schema())
