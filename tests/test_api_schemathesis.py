"""Schemathesis against the OpenAPI document of ``/api/v1``, through the Flask app (WSGI, no server), on both
databases: for every operation, requests generated from the document (valid ones, and ones that break it) with a
token of a user in every group. No answer may be a server error, and every answer must be documented: its status,
its content type and its body's schema. Bounded (``MAX_EXAMPLES`` per operation and mode) to stay well under a
minute per database.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from runner import accounts
from runner.accounts import GROUPS
from tests.api_helpers import Api, api_fixture, issue_token  # noqa: F401  (the api fixture)
from tests.webui_helpers import start_case

MAX_EXAMPLES = 12
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def test_the_document_is_valid_and_describes_every_route(api: Api) -> None:
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", api.app)
    operations = [result.ok() for result in schema.get_all_operations()]  # ok() raises on an invalid operation
    documented = {(operation.method.upper(), operation.path) for operation in operations}
    routes = set()
    for rule in api.app.url_map.iter_rules():
        if rule.endpoint.startswith("api.") and rule.endpoint != "api.openapi":
            path = rule.rule.removeprefix("/api/v1").replace("<", "{").replace(">", "}")
            routes |= {(method, path) for method in rule.methods or () if method not in ("HEAD", "OPTIONS")}
    assert documented == routes


def test_generated_requests_get_documented_answers(api: Api) -> None:
    number = start_case(api.db)  # something to find: a case, its open task
    with api.db.transaction() as session:
        accounts.create_user(session, "everyone", "everyone-secret", api.db.clock.now(), groups=GROUPS,
                             password_method="pbkdf2:sha256:1000")
    headers = {"Authorization": f"Bearer {issue_token(api.db, 'everyone')}"}
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", api.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    calls = {operation.label: sum(exercise(operation, mode, headers) for mode in GenerationMode)
             for operation in operations}
    assert all(calls.values()), calls  # every operation was called
    assert api.get(f"/cases/{number}", "admin").status_code == 200


def exercise(operation: Any, mode: GenerationMode, headers: dict[str, str]) -> int:
    """Call one operation with requests generated in ``mode``, checking each answer; how many were sent."""
    sent: list[Any] = []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    def run(case: Any) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS)
        sent.append(case)

    try:
        run()
    except Exception as err:  # name the operation and mode that failed
        pytest.fail(f"{operation.label} ({mode.value}): {err}")
    return len(sent)
