"""The OpenAPI 3.1 document of ``/api/v1``, written by hand as Python data (served at ``/api/v1/openapi.json``).

It describes every path, parameter, body, response and the error shape; ``tests/test_api_schemathesis.py`` checks
the answers of the running app against it, so a change to a route or to ``representations.py`` must show here.
"""

from __future__ import annotations

from typing import Any

from runner import pii, services
from runner.case_queries import CASE_STATUSES
from runner.forms import MAX_FORM_BYTES

from ..labels import CATEGORY_LABELS
from .payloads import MAX_OFFSET, MAX_TEXT_PARAMETER, PATH_ID

Schema = dict[str, Any]

STAMP: Schema = {"type": ["string", "null"], "format": "date-time"}
TEXT_OR_NULL: Schema = {"type": ["string", "null"]}
ID_PATTERN = PATH_ID.pattern


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(properties: dict[str, Schema], required: list[str] | None = None, *, closed: bool = True) -> Schema:
    schema: Schema = {"type": "object", "properties": properties,
                      "required": list(properties) if required is None else required}
    if closed:
        schema["additionalProperties"] = False
    return schema


TASK = obj({
    "id": {"type": "string"}, "case_number": {"type": "string"}, "element_id": {"type": "string"},
    "name": {"type": "string"}, "lane": TEXT_OR_NULL, "assignee": TEXT_OR_NULL, "category": TEXT_OR_NULL,
    "customer_name": TEXT_OR_NULL, "created_at": {"type": "string", "format": "date-time"}, "due_at": STAMP,
    "follow_up_at": STAMP, "overdue": {"type": "boolean"},
    "due_estimated": {"type": "boolean", "description": "due_at was counted over a year without official holiday "
                      "data: a rule-based estimate without 调休 make-up days, which may move when the official "
                      "schedule is published"},
    "case_status": {"enum": list(CASE_STATUSES), "description": "the case's status: the tasks of a suspended case "
                    "take no claim, assignment or completion until it is resumed"},
    "four_eyes_blocked": {"type": "boolean", "description": "the requesting user completed the step this task's "
                          "four-eyes rule pairs it with: they can neither claim nor complete it (409)"},
})
TASK_DETAIL = obj({**TASK["properties"],
    "form": obj({"schema": {"type": ["object", "null"], "description": "JSON Schema of the form (null: no form)"},
                 "ui_schema": {"type": "object"}}),
    "documentation": {**TEXT_OR_NULL, "description": "the step's instructions (BPMN documentation)"}})
"""A Task with its form and instructions: flat (the properties of Task and its own), since Task is closed
(``additionalProperties: false``) and an ``allOf`` of the two would refuse every real answer."""
CASE = obj({
    "case_number": {"type": "string"}, "status": {"enum": list(CASE_STATUSES)}, "category": TEXT_OR_NULL,
    "customer_name": TEXT_OR_NULL, "version_id": {"type": "integer"},
    "created_at": {"type": "string", "format": "date-time"}, "updated_at": {"type": "string", "format": "date-time"},
    "completed_at": STAMP,
})
CASE_DETAIL = obj({**CASE["properties"],
    "summary": {"type": "object", "description": "limits, timeline, fees and KPIs as the process recorded them"},
    "open_tasks": {"type": "array", "items": ref("Task")}})
"""A Case with its summary and open tasks: flat, as ``TASK_DETAIL``."""

EVENT = obj({
    "id": {"type": "integer"}, "task_id": TEXT_OR_NULL, "element_id": {"type": "string"},
    "activity": {"type": "string", "description": "the step's name; 整个案件 for an event about the whole case "
                 "(element_id case: cancelled, suspended, running = resumed, migrated)"},
    "lifecycle": {"type": "string", "description": "of a step: enabled, started (claimed), completed, unclaimed, "
                  "assigned, cancelled, fired, failed, retried …; of the whole case: cancelled, suspended, running "
                  "(resumed), migrated"},
    "role": TEXT_OR_NULL,
    "user": {**TEXT_OR_NULL, "description": "who did it (assigned: the assignee; a message: who sent it; null: the "
             "system)"},
    "at": {"type": "string", "format": "date-time"},
    "details": {"type": "object", "description": "what the case page's timeline shows besides: by and previous "
                "(assigned), assignee and reason (unclaimed), reason and closed_incidents (cancelled, suspended), "
                "from and to (migrated), due_at (enabled), message and request_id (a delivered message). Never "
                "form data or a message's payload (personal data)",
                "properties": {"by": TEXT_OR_NULL, "previous": TEXT_OR_NULL, "assignee": TEXT_OR_NULL,
                               "reason": TEXT_OR_NULL, "due_at": STAMP, "message": {"type": "string"},
                               "request_id": TEXT_OR_NULL}},
})
STEP_DATA = obj({
    "event_id": {"type": "integer", "description": "the completion's id in the event log (history)"},
    "element_id": {"type": "string"}, "activity": {"type": "string", "description": "the step's name"},
    "user": {**TEXT_OR_NULL, "description": "who completed it (a caught message: who sent it)"},
    "at": {"type": "string", "format": "date-time"},
    "data": {"type": "object", "description": "the step's form data (a caught message: message, payload and "
             "request_id), personal fields masked unless reveal=true"},
})
CASE_DATA = obj({
    "case_number": {"type": "string"},
    "application": {"type": "object", "description": "the application as filed (the start form's fields), "
                    "personal fields (ID number, phone numbers) masked unless reveal=true"},
    "steps": {"type": "array", "items": ref("StepData"),
              "description": "the completed steps that carry data, oldest first"},
})
STEP = obj({
    "element_id": {"type": "string"}, "name": {"type": "string"}, "state": {"enum": ["done", "active"]},
    "lane": TEXT_OR_NULL, "completed_at": STAMP, "due_at": STAMP, "assignee": TEXT_OR_NULL,
    "kind": {"enum": ["task", "message", "timer"],
             "description": "an active step: an open task, or an event the case waits at (a message, a timer)"},
    "waiting_for": {**TEXT_OR_NULL, "description": "the message an active message step waits for"},
    "since": {**STAMP, "description": "when an active message or timer step began to wait"},
})
INCIDENT = obj({
    "id": {"type": "integer"}, "case_number": TEXT_OR_NULL, "task_id": {"type": "string"},
    "element_id": {"type": "string"}, "message": {"type": "string"}, "attempts": {"type": "integer"},
    "created_at": {"type": "string", "format": "date-time"}, "resolved_at": STAMP,
})
FAILED_MESSAGE = obj({
    "id": {"type": "integer"}, "case_number": TEXT_OR_NULL, "template": {"type": "string"},
    "channel": {"type": "string", "description": "sms, email, webhook, log …"},
    "recipient": obj({"role": {**TEXT_OR_NULL, "description": "the role it is for, e.g. customer"},
                      "customer_name": {**TEXT_OR_NULL, "description": "the case's customer (role customer)"},
                      "phone": {**TEXT_OR_NULL, "description": "a phone number from its parameters, masked "
                                                               "(138****5678)"}}),
    "attempts": {"type": "integer"}, "last_error": TEXT_OR_NULL,
    "created_at": {"type": "string", "format": "date-time"},
    "last_attempt_at": {"type": "string", "format": "date-time",
                        "description": "when its last attempt was due (the worker made it at its next pass)"},
})
ERROR = obj({"error": obj({
    "code": {"type": "string", "description": "machine-readable: not_found, validation_failed, invalid_token …"},
    "message": {"type": "string"},
    "fields": {"type": "array", "items": obj({"field": {"type": "string"}, "message": {"type": "string"}})},
}, required=["code", "message"])})


def page_of(item: str, extra: dict[str, Schema] | None = None) -> Schema:
    return obj({"items": {"type": "array", "items": ref(item)}, "total": {"type": "integer", "minimum": 0},
                "total_exact": {"type": "boolean", "description": "false: the list holds more than total - 1 items "
                                "(task lists count up to 10000, or to the end of the page asked for)"},
                "limit": {"type": "integer"}, "offset": {"type": "integer"}, **(extra or {})})


TASK_PAGE_LINKS: Schema = {
    "count_token": {"type": ["string", "null"], "description": "the total as counted for this page: send it with "
                    "the next page (as next does) to have it reused instead of counted again while nothing changed "
                    "(docs/api.md, Paging); null for due=overdue and due=today, which change with the clock"},
    "next": {"type": ["string", "null"], "description": "the next page's URL (same parameters, offset moved on, "
             "count_token added); null at the end of the list"}}


SCHEMAS: dict[str, Schema] = {
    "Task": TASK, "TaskDetail": TASK_DETAIL, "TaskPage": page_of("Task", TASK_PAGE_LINKS), "Case": CASE,
    "CaseDetail": CASE_DETAIL, "CasePage": page_of("Case"), "Event": EVENT, "CaseData": CASE_DATA,
    "StepData": STEP_DATA, "ProgressStep": STEP, "Incident": INCIDENT,
    "FailedMessage": FAILED_MESSAGE, "Error": ERROR,
}

ERROR_TEXT = {400: "Malformed request: invalid JSON, a body that is not an object, a bad query parameter",
              401: "No valid bearer token",
              403: "The token's user may not do this, or a read-only token was sent with a POST (read_only_token)",
              404: "No such resource",
              409: "Conflict with the current state (claimed by another, completed, case not waiting/running, "
                   "message not failed any more)",
              405: "The path exists but not with this method; the Allow header lists its methods",
              413: "Body over 1 MB", 415: "The body is not application/json",
              422: f"The body does not fit: per-field messages in error.fields (form data or a message payload "
                   f"over {MAX_FORM_BYTES} bytes: one entry, field \"\" for form data, payload for a payload)",
              429: "Too many invalid tokens from this address; see Retry-After (valid tokens are still accepted)",
              503: "The database stayed busy past its lock timeout; nothing was changed: send the same request "
                   "again after Retry-After seconds"}
EVERY_OPERATION = (400, 401, 429, 503)
WITH_A_BODY = (413, 415, 422)
NOTES = ("Errors: every error is JSON (the Error schema). Any other method on a documented path is answered 405 "
         "(method_not_allowed) with an Allow header; that response (E405) is not listed under each operation, "
         "since OpenAPI describes only the methods a path has.")


def errors(*statuses: int) -> dict[str, Schema]:
    """The error responses an operation can give (every operation: 400, 401, 429 after invalid tokens and 503 when
    the database is busy)."""
    return {str(status): {"$ref": f"#/components/responses/E{status}"}
            for status in sorted({*EVERY_OPERATION, *statuses})}


def body_errors(*statuses: int) -> dict[str, Schema]:
    """``errors`` of an operation with a JSON body: also 413, 415 and 422."""
    return errors(*WITH_A_BODY, *statuses)


def ok(schema: Schema, description: str = "OK", status: int = 200) -> dict[str, Schema]:
    return {str(status): {"description": description, "content": {"application/json": {"schema": schema}}}}


def created(schema: Schema, description: str, location: str) -> dict[str, Schema]:
    """A 201 answer with its ``Location`` header."""
    answer = ok(schema, description, 201)
    answer["201"]["headers"] = {"Location": {"description": location, "schema": {"type": "string"}}}
    return answer


def revealable(answer: dict[str, Schema]) -> dict[str, Schema]:
    """A 200 answer that may carry personal data in full, with its ``Cache-Control`` header."""
    answer["200"]["headers"] = {"Cache-Control": {"description": "no-store: never cached (personal data)",
                                                  "schema": {"type": "string"}}}
    return answer


def body(schema: Schema) -> Schema:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def path_param(name: str, description: str) -> Schema:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": {"type": "string", "pattern": ID_PATTERN}}


def query(name: str, schema: Schema, description: str) -> Schema:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}


TEXT_QUERY: Schema = {"type": "string", "maxLength": MAX_TEXT_PARAMETER}
PAGING = [query("limit", {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}, "page size"),
          query("offset", {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET, "default": 0}, "items to skip")]
CATEGORY = query("category", {"enum": list(CATEGORY_LABELS)}, "customer category")
TASK_ID = path_param("task_id", "the open task's id")
CASE_NUMBER = path_param("case_number", "the case number (e.g. YK20261126123456)")


def operation(summary: str, responses: dict[str, Schema], *, parameters: list[Schema] | None = None,
              request: Schema | None = None, tags: list[str]) -> Schema:
    op: Schema = {"summary": summary, "tags": tags, "responses": responses}
    if parameters:
        op["parameters"] = parameters
    if request is not None:
        op["requestBody"] = request
    return op


def paths() -> dict[str, Schema]:
    tasks, cases = ["tasks"], ["cases"]
    return {
        "/applications": {"post": operation(
            "Start a case from an application (account_manager, admin)", tags=cases,
            request=body(obj({"application": {"type": "object", "description": "fits the process's start form"},
                              "regime": {"type": "string", "description": "time-limit regime, e.g. statute"},
                              "request_id": {"type": "string", "pattern": services.REQUEST_ID.pattern,
                                             "description": "optional; the same id again answers with the case it "
                                                            "started (sending again after a timeout starts no "
                                                            "second case); another client's id is a 409"}},
                             required=["application"])),
            responses={**created(obj({"case_number": {"type": "string"}}), "Case started (or started before by "
                                 "this request_id)", "/api/v1/cases/{case_number}: the case"),
                       **body_errors(403, 409)})},
        "/applications/{case_number}/progress": {"get": operation(
            "Steps done and active, with due dates", tags=cases, parameters=[CASE_NUMBER],
            responses={**ok(obj({"case_number": {"type": "string"}, "status": {"enum": list(CASE_STATUSES)},
                                 "steps": {"type": "array", "items": ref("ProgressStep")}})),
                       **errors(403, 404)})},
        "/tasks": {"get": operation(
            "My tasks and my lanes' unclaimed tasks, earliest due first", tags=tasks, parameters=[
                query("scope", {"enum": ["all", "mine", "team"]}, "mine: claimed by me; team: every lane "
                      "(supervisors)"),
                query("due", {"enum": ["overdue", "today"]}, "overdue, or due today"), CATEGORY,
                query("step", TEXT_QUERY, "BPMN element id of the step"),
                query("q", TEXT_QUERY, "a case number, or part of the customer name"), *PAGING,
                query("count_token", TEXT_QUERY, "the count_token of an earlier page of the same list: its total "
                      "is reused while no task changed (else counted again); one this server did not issue is a "
                      "400")],
            responses={**ok(ref("TaskPage")), **errors(403)})},
        "/tasks/{task_id}": {"get": operation(
            "A task with its form (JSON Schema, UI schema) and instructions", tags=tasks, parameters=[TASK_ID],
            responses={**ok(ref("TaskDetail")), **errors(403, 404)})},
        "/tasks/{task_id}/claim": {"post": operation(
            "Claim an unclaimed task of my lane; 409 when another holds it, it is no longer open (done: the message "
            "says by whom), the case is not running, or a four-eyes rule keeps me from completing it (I did the step "
            "it is paired with); 404 for an id that was never a task", tags=tasks, parameters=[TASK_ID],
            responses={**ok(ref("Task")), **errors(403, 404, 409)})},
        "/tasks/{task_id}/unclaim": {"post": operation(
            "Give a claimed task back to its lane (assignee, supervisors); an unclaimed task stays so (200) for its "
            "lane; 409 when the case is suspended or cancelled, or the task is no longer open", tags=tasks,
            parameters=[TASK_ID],
            responses={**ok(ref("Task")), **errors(403, 404, 409)})},
        "/tasks/{task_id}/assign": {"post": operation(
            "Give the task to a member of its lane (supervisors); 409 when the case is suspended or cancelled, the "
            "task is no longer open, or the user did the step a four-eyes rule pairs it with", tags=tasks,
            parameters=[TASK_ID],
            request=body(obj({"user": {"type": "string", "description": "an active member of the task's lane (user "
                                                                         "names are not case-sensitive)"}})),
            responses={**ok(ref("Task")), **body_errors(403, 404, 409)})},
        "/tasks/{task_id}/complete": {"post": operation(
            "Complete the task with form data; the same request_id again answers like the first time", tags=tasks,
            parameters=[TASK_ID],
            request=body(obj({"data": {"type": "object", "description": "fits the task's form schema"},
                              "request_id": {"type": "string", "pattern": services.REQUEST_ID.pattern}},
                             required=["request_id"])),
            responses={**ok(obj({"case_number": {"type": "string"}, "task_id": {"type": "string"},
                                 "repeated": {"type": "boolean"}})), **body_errors(403, 404, 409)})},
        "/cases": {"get": operation(
            "Cases, newest first", tags=cases, parameters=[
                query("status", {"enum": list(CASE_STATUSES)}, "case status"), CATEGORY,
                query("q", TEXT_QUERY, "a case number, or part of the customer name"), *PAGING],
            responses={**ok(ref("CasePage")), **errors(403)})},
        "/cases/{case_number}": {"get": operation(
            "A case with its summary and open tasks", tags=cases, parameters=[CASE_NUMBER],
            responses={**ok(ref("CaseDetail")), **errors(403, 404)})},
        "/cases/{case_number}/history": {"get": operation(
            "The case's event log, oldest first", tags=cases, parameters=[CASE_NUMBER],
            responses={**ok(obj({"case_number": {"type": "string"},
                                 "events": {"type": "array", "items": ref("Event")}})), **errors(403, 404)})},
        "/cases/{case_number}/data": {"get": operation(
            "The application and the completed steps' data, personal fields masked; reveal=true: in full "
            f"({', '.join(pii.UNMASK_ROLES)}; anyone else 403), each such view logged in the data access log; "
            "never cached (Cache-Control: no-store)", tags=cases, parameters=[
                CASE_NUMBER, query("reveal", {"type": "boolean", "default": False},
                                   "personal fields in full (the view is logged)")],
            responses={**revealable(ok(ref("CaseData"))), **errors(403, 404)})},
        "/cases/{case_number}/messages": {"post": operation(
            "Deliver a message the case waits for, e.g. payment_confirmed (account_manager, supervisor, admin)",
            tags=cases, parameters=[CASE_NUMBER],
            request=body(obj({
                "name": {"type": "string"},
                "payload": {"type": "object", "description": f"at most {MAX_FORM_BYTES} bytes as JSON; no key "
                            "typename, no text-direction controls, U+FFFD or NUL in its text (422)"},
                "request_id": {"type": "string", "pattern": services.REQUEST_ID.pattern,
                               "description": "optional; the same id again answers like the first time (repeated: "
                                              "true) instead of a 409; with another message or payload it is a "
                                              "409"}},
                required=["name"])),
            responses={**ok(obj({"case_number": {"type": "string"}, "name": {"type": "string"},
                                 "delivered": {"const": True},
                                 "repeated": {"type": "boolean", "description": "delivered before, by a request "
                                                                                "with this request_id"}})),
                       **body_errors(403, 404, 409)})},
        "/cases/{case_number}/access-code": {"post": operation(
            "A new portal access code for the case (account_manager, supervisor, admin): the old one stops "
            "working; give it to the customer (with the case number it opens /portal/track). No body; never "
            "cached (Cache-Control: no-store)", tags=cases, parameters=[CASE_NUMBER],
            responses={**ok(obj({"case_number": {"type": "string"},
                                 "access_code": {"type": "string", "pattern": "^[A-Z2-9]{5}-[A-Z2-9]{5}$"}})),
                       **errors(403, 404)})},
        "/incidents": {"get": operation(
            "Incidents (failed service tasks), open ones unless all=true (supervisor, admin)", tags=["incidents"],
            parameters=[query("all", {"type": "boolean", "default": False}, "include resolved incidents")],
            responses={**ok(obj({"items": {"type": "array", "items": ref("Incident")}})), **errors(403)})},
        "/incidents/{incident_id}/retry": {"post": operation(
            "Run the failed task again now (supervisor, admin)", tags=["incidents"],
            parameters=[{"name": "incident_id", "in": "path", "required": True, "schema": {"type": "integer"}}],
            responses={**ok(obj({
                "id": {"type": "integer"}, "retried": {"const": True},
                "ok": {"type": "boolean", "description": "false when the task failed again at once"},
                "failures": {"type": "array", "items": obj({
                    "element_id": {"type": "string"}, "message": {"type": "string"},
                    "retry_at": {"type": ["string", "null"], "format": "date-time",
                                 "description": "when the worker retries it (its retries go on)"},
                    "incident_id": {"type": ["integer", "null"],
                                    "description": "the new incident when its retries are spent"}})}})),
                       **errors(403, 404, 409)})},
        "/failed-messages": {"get": operation(
            "Notifications the worker gave up on after its attempts, oldest first (supervisor, admin)",
            tags=["incidents"], parameters=[query("case", TEXT_QUERY, "only this case's")],
            responses={**ok(obj({"items": {"type": "array", "items": ref("FailedMessage")}})), **errors(403)})},
        "/failed-messages/{message_id}/retry": {"post": operation(
            "Send a failed notification again: pending, due now, same idempotency key (supervisor, admin); 409 "
            "when it is not failed any more", tags=["incidents"],
            parameters=[{"name": "message_id", "in": "path", "required": True, "schema": {"type": "integer"}}],
            responses={**ok(obj({"id": {"type": "integer"}, "sent_again": {"const": True}})),
                       **errors(403, 404, 409)})},
        "/failed-messages/retry": {"post": operation(
            "Send every failed notification again (supervisor, admin)", tags=["incidents"],
            responses={**ok(obj({"sent_again": {"type": "integer", "minimum": 0,
                                                "description": "how many"}})), **errors(403)})},
    }


def document() -> Schema:
    responses = {f"E{status}": {"description": text, "content": {"application/json": {"schema": ref("Error")}}}
                 for status, text in ERROR_TEXT.items()}
    responses["E401"]["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
    responses["E405"]["headers"] = {"Allow": {"schema": {"type": "string"}}}
    for status in (429, 503):
        responses[f"E{status}"]["headers"] = {"Retry-After": {"schema": {"type": "integer"}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "业扩报装 API", "version": "1.0.0",
                 "description": "Tasks, cases, applications, incidents and failed notifications of the 业扩报装 "
                                "process. Authenticate with a bearer token (`baozhuang token create USER`); see "
                                "docs/api.md.\n\n" + NOTES},
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearerAuth": []}],
        "tags": [{"name": "tasks"}, {"name": "cases"}, {"name": "incidents"}],
        "paths": paths(),
        "components": {
            "securitySchemes": {"bearerAuth": {
                "type": "http", "scheme": "bearer",
                "description": "a token from `baozhuang token create`: it acts as its user with the user's groups "
                               "at each request, expires after 90 days unless created with other --expires days or "
                               "--no-expiry, and has a scope: read-write, or read (GET only: any POST is 403 "
                               "read_only_token, before anything else is checked)"}},
            "schemas": SCHEMAS,
            "responses": responses,
        },
    }
