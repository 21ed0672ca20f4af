"""``/api/v1/applications``, ``/cases`` and ``/incidents``: start a case from an application, its progress, the
case list and detail, the event log, the application and steps' data (personal fields masked), messages to a
waiting case, and incidents with their retry."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, url_for
from flask.typing import ResponseReturnValue

from runner import case_queries, pii, portal, services
from runner.case_queries import CASE_STATUSES, CaseFilter
from runner.forms import FormValidationError
from runner.models import row_id
from runner.store import ConflictError

from ..extensions import runtime, session
from ..labels import CATEGORY_LABELS
from .auth import require_groups
from .errors import ApiError
from .payloads import (
    MAX_OFFSET,
    bool_arg,
    int_arg,
    json_body,
    known_args,
    known_fields,
    object_field,
    path_id,
    string_field,
    text_arg,
)
from .representations import (
    case_data_json,
    case_detail_json,
    case_json,
    event_json,
    incident_json,
    page_json,
    progress_json,
)

APPLICANT_GROUPS = ("account_manager", "admin")
"""Who may file an application for a customer (staff and system integrations)."""
MESSAGE_GROUPS = ("account_manager", "supervisor", "admin")
"""Who may tell a case that something happened outside (a payment confirmed …)."""
INCIDENT_GROUPS = ("supervisor", "admin")
ACCESS_CODE_GROUPS = (*portal.ACCESS_CODE_GROUPS, "admin")
"""Who may give a case a new portal access code (a CRM that filed the application hands it to the customer)."""
STEP_LIFECYCLES = ("completed",)
"""The events ``/cases/{n}/data`` returns the data of: completed steps (a task's form data, a caught message)."""
MAX_LIMIT = 200


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/applications", view_func=apply, methods=["POST"])
    bp.add_url_rule("/applications/<case_number>/progress", view_func=progress, methods=["GET"])
    bp.add_url_rule("/cases", view_func=list_cases, methods=["GET"])
    bp.add_url_rule("/cases/<case_number>", view_func=get_case, methods=["GET"])
    bp.add_url_rule("/cases/<case_number>/history", view_func=history, methods=["GET"])
    bp.add_url_rule("/cases/<case_number>/data", view_func=case_data, methods=["GET"])
    bp.add_url_rule("/cases/<case_number>/messages", view_func=send_message, methods=["POST"])
    bp.add_url_rule("/cases/<case_number>/access-code", view_func=reissue_access_code, methods=["POST"])
    bp.add_url_rule("/incidents", view_func=list_incidents, methods=["GET"])
    bp.add_url_rule("/incidents/<incident_id>/retry", view_func=retry_incident, methods=["POST"])


def apply() -> ResponseReturnValue:
    """Start a case: body ``{"application": {...start form...}, "regime": "...", "request_id": "..."}`` → 201 with
    the case number. With ``request_id`` (optional) a client may send the request again after a timeout: the same id
    with the same application and regime answers with the case it started (201 again, nothing new); another user's
    id, or the id with other data, is a 409 (nothing is started: the new data would be lost otherwise)."""
    account = require_groups(*APPLICANT_GROUPS)
    body = json_body()
    known_fields(body, ("application", "regime", "request_id"))
    data: dict[str, Any] = {"application": object_field(body, "application")}
    regime = string_field(body, "regime", required=False)
    if regime is not None:
        data["regime"] = regime
    request_id = string_field(body, "request_id", services.REQUEST_ID, required=False)
    requested_by = f"api:{account.username}"
    try:
        number = services.start_case(session(), runtime(), data, account.username, request_id=request_id,
                                     requested_by=requested_by)
    except services.StartRepeated as repeated:
        session().rollback()
        if repeated.requested_by != requested_by:
            raise ConflictError(f"request id {request_id} was used by another client") from None
        if repeated.same_data is False:
            raise ConflictError(f"request id {request_id} already started case {repeated.case_number} with other "
                                "data (application or regime): nothing was started; choose a new request id for a "
                                "new application") from None
        number = repeated.case_number
    session().commit()
    response = jsonify(case_number=number)
    response.status_code = 201
    response.headers["Location"] = url_for("api.get_case", case_number=number)
    return response


def progress(case_number: str) -> ResponseReturnValue:
    require_groups()
    return jsonify(progress_json(case_queries.case_progress(session(), path_id(case_number, "case"), runtime())))


def list_cases() -> ResponseReturnValue:
    require_groups()
    known_args("status", "category", "q", "limit", "offset")
    flt = CaseFilter(status=text_arg("status", CASE_STATUSES), category=text_arg("category", tuple(CATEGORY_LABELS)),
                     search=text_arg("q"))
    limit, offset = int_arg("limit", 50, 1, MAX_LIMIT), int_arg("offset", 0, 0, MAX_OFFSET)
    page = case_queries.list_cases(session(), flt, limit, offset)
    return jsonify(page_json([case_json(row) for row in page.items], page.total, limit, offset))


def get_case(case_number: str) -> ResponseReturnValue:
    require_groups()
    row = services.get_case(session(), path_id(case_number, "case"))
    tasks = services.case_tasks(session(), row.case_number)
    return jsonify(case_detail_json(row, tasks, runtime().clock.now()))


def history(case_number: str) -> ResponseReturnValue:
    """The case's event log as the case page's timeline lists it: without the bookkeeping of unnamed elements
    (gateways, merges: ``case_queries.is_bookkeeping``), whose ``activity`` would be a raw id, not a step's name."""
    require_groups()
    events = services.case_history(session(), path_id(case_number, "case"))
    return jsonify(case_number=case_number, events=[event_json(event) for event in events
                                                    if not case_queries.is_bookkeeping(event)])


def case_data(case_number: str) -> ResponseReturnValue:
    """The application and the data of the completed steps as the case page shows them, personal fields masked;
    ``?reveal=true`` in full for the roles that may see them so (``pii.UNMASK_ROLES``; anyone else: 403), which
    logs the view in ``data_access_log`` (channel ``api``). Never cached (``Cache-Control: no-store``)."""
    account = require_groups()
    known_args("reveal")
    reveal = bool_arg("reveal", False)
    if reveal and not pii.may_unmask(account.groups):
        raise ApiError(403, f"{account.username} may not see personal data in full (reveal=true needs one of "
                            f"{', '.join(pii.UNMASK_ROLES)}); without reveal the data comes masked")
    view = case_queries.case_data_view(session(), runtime(), path_id(case_number, "case"), account.username,
                                       account.groups, reveal=reveal, channel="api", lifecycles=STEP_LIFECYCLES)
    if view.revealed:
        session().commit()  # the access-log row
    response = jsonify(case_data_json(view))
    response.headers["Cache-Control"] = "no-store"  # names and addresses even when masked; in full when revealed
    return response


def send_message(case_number: str) -> ResponseReturnValue:
    """Body ``{"name": "payment_confirmed", "payload": {...}, "request_id": "..."}``; 409 when the case does not wait
    for it. The payload is checked as form data is (no schema: size, reserved keys, unreadable or direction-changing
    characters; 422 per field). With ``request_id`` (optional) a delivery sent again answers like the first time
    (``"repeated": true``) instead of a 409; the id with another message or payload is a 409."""
    account = require_groups(*MESSAGE_GROUPS)
    case_number = path_id(case_number, "case")
    body = json_body()
    known_fields(body, ("name", "payload", "request_id"))
    name = str(string_field(body, "name"))
    payload = object_field(body, "payload", required=False)
    request_id = string_field(body, "request_id", services.REQUEST_ID, required=False)
    try:
        delivery = services.send_message(session(), runtime(), case_number, name, payload, account.username,
                                         request_id=request_id)
    except FormValidationError as err:
        raise ApiError(422, "the payload is not accepted; see fields", fields=err.errors) from None
    session().commit()
    return jsonify(case_number=delivery.case_number, name=name, delivered=True, repeated=delivery.repeated)


def reissue_access_code(case_number: str) -> ResponseReturnValue:
    """A new portal access code for the case (the old one stops working), answered once and never cached: for the
    customer of a case filed through this API, who got no code, or one who lost theirs. No body."""
    account = require_groups(*ACCESS_CODE_GROUPS)
    case_number = path_id(case_number, "case")
    code = portal.reissue_access_code(session(), case_number, account.username)
    session().commit()
    response = jsonify(case_number=case_number, access_code=portal.format_code(code))
    response.headers["Cache-Control"] = "no-store"
    return response


def list_incidents() -> ResponseReturnValue:
    require_groups(*INCIDENT_GROUPS)
    known_args("all")
    incidents = services.list_incidents(session(), open_only=not bool_arg("all", False))
    numbers = case_queries.incident_case_numbers(session(), incidents)
    return jsonify(items=[incident_json(incident, numbers.get(incident.case_id)) for incident in incidents])


def retry_incident(incident_id: str) -> ResponseReturnValue:
    """Run the failed task again now (409 when its case is not running)."""
    account = require_groups(*INCIDENT_GROUPS)
    number = row_id(incident_id)
    if number is None:
        raise ApiError(404, f"no open incident {incident_id[:20]}")
    outcome = services.retry_incident(session(), runtime(), number, account.username)
    session().commit()
    failures = [{"element_id": f.element_id, "message": f.message,
                 "retry_at": f.retry_at.isoformat() if f.retry_at is not None else None,
                 "incident_id": f.incident_id} for f in outcome.failures]
    return jsonify(id=int(incident_id), retried=True, ok=outcome.ok, failures=failures)
