"""Every API error is JSON: ``{"error": {"code": "...", "message": "...", "fields": [...]}}`` with its 4xx status.

The runner's refusals map to statuses as in the HTML views (``PermissionDenied`` → 403, ``NotFoundError`` → 404,
``ConflictError`` → 409, ``FormValidationError`` → 422 with one entry per field), except that a case in the wrong
state (``CaseError``) is a 409 conflict here. Routing errors (unknown path, wrong method) and anything Werkzeug
raises under ``/api/`` are answered as JSON too, by an app-level handler that leaves other paths to the HTML pages.
"""

from __future__ import annotations

from typing import Any, cast

from flask import Blueprint, Flask, Response, jsonify, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from runner.case import CaseError
from runner.forms import FormValidationError
from runner.services import PermissionDenied
from runner.store import ConflictError, NotFoundError

from ..errors.handlers import retry_after
from ..extensions import db

API_PREFIX = "/api/"

CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
         409: "conflict", 413: "payload_too_large", 415: "unsupported_media_type", 422: "validation_failed",
         429: "too_many_requests", 500: "server_error", 503: "busy"}


class ApiError(Exception):
    """A refusal with its status, machine-readable code and message (and, for 422, the fields at fault)."""

    def __init__(self, status: int, message: str, code: str | None = None,
                 fields: list[tuple[str, str]] | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code or CODES.get(status, "error")
        self.message = message
        self.fields = fields or []
        self.headers = headers or {}


def error_response(status: int, message: str, code: str | None = None,
                   fields: list[tuple[str, str]] | None = None, headers: dict[str, str] | None = None) -> Response:
    db.session.rollback()  # a refused request changes nothing
    body: dict[str, Any] = {"code": code or CODES.get(status, "error"), "message": message}
    if fields:
        body["fields"] = [{"field": field, "message": text} for field, text in fields]
    response = jsonify(error=body)
    response.status_code = status
    response.headers.update(headers or {})
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="baozhuang"'
    return response


def is_api_request() -> bool:
    return request.path.startswith(API_PREFIX)


def register_handlers(bp: Blueprint) -> None:
    """The blueprint's handlers for the runner's refusals."""

    @bp.errorhandler(ApiError)
    def api_error(err: ApiError) -> ResponseReturnValue:
        return error_response(err.status, err.message, err.code, err.fields, err.headers)

    @bp.errorhandler(PermissionDenied)
    def permission_denied(err: PermissionDenied) -> ResponseReturnValue:
        return error_response(403, str(err))

    @bp.errorhandler(NotFoundError)
    def not_found(err: NotFoundError) -> ResponseReturnValue:
        return error_response(404, str(err))

    @bp.errorhandler(ConflictError)
    def conflict(err: ConflictError) -> ResponseReturnValue:
        return error_response(409, str(err))

    @bp.errorhandler(CaseError)
    def case_error(err: CaseError) -> ResponseReturnValue:
        return error_response(409, str(err), "case_state")

    @bp.errorhandler(FormValidationError)
    def invalid(err: FormValidationError) -> ResponseReturnValue:
        return error_response(422, "the data does not fit the form; see fields", fields=err.errors)


def init_app(app: Flask) -> None:
    """Answer HTTP errors under ``/api/`` as JSON; every other path keeps the handler the app had (HTML pages).

    Called after ``webui.errors.init_app``, whose handler for ``HTTPException`` it wraps."""
    html_handler = app.error_handler_spec[None][None].get(HTTPException)

    def http_error(err: HTTPException) -> ResponseReturnValue:
        if not is_api_request():
            if html_handler is None:
                return err
            return cast(ResponseReturnValue, html_handler(err))
        status = err.code or 500
        headers = {}
        allowed = getattr(err, "valid_methods", None)
        if status == 405 and allowed:
            headers["Allow"] = ", ".join(allowed)
        headers.update(retry_after(err))
        message = err.description if status != 500 else "internal error; the request was not carried out"
        code = "unavailable" if status == 503 and not headers else None  # not busy (no Retry-After): gone, read-only
        return error_response(status, str(message or err.name), code, headers=headers)

    app.register_error_handler(HTTPException, http_error)
