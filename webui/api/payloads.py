"""Reading what a client sends: the JSON body (415 for another content type, 400 for malformed JSON, a body that is
not an object, or text the databases cannot store) and query parameters (400 for a value out of range).

Text with NUL characters or lone surrogates is refused here: PostgreSQL cannot store the one, UTF-8 not the other.
"""

from __future__ import annotations

import re
from typing import Any

from flask import request

from runner.strict_json import finite_json

from .errors import ApiError

MAX_OFFSET = 1_000_000
MAX_TEXT_PARAMETER = 100
PATH_ID = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


def storable_text(value: str) -> bool:
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _unstorable_path(value: Any, path: str = "") -> str | None:
    """The path of the first key or string the databases could not store, if any."""
    if isinstance(value, str):
        return None if storable_text(value) else (path or "(body)")
    if isinstance(value, dict):
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            if not storable_text(key):
                return path or "(body)"
            found = _unstorable_path(item, child)
            if found:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _unstorable_path(item, f"{path}[{index}]")
            if found:
                return found
    return None


def json_body() -> dict[str, Any]:
    """The request body as a JSON object."""
    if request.mimetype != "application/json":
        raise ApiError(415, "send the body as JSON (Content-Type: application/json)")
    try:
        value = finite_json(request.get_data(cache=True))
    except (ValueError, RecursionError) as err:  # JSONDecodeError and bad UTF-8 are ValueErrors
        raise ApiError(400, f"the body is not valid JSON: {err}", "malformed_json") from None
    if not isinstance(value, dict):
        raise ApiError(400, "the body must be a JSON object", "body_not_object")
    bad = _unstorable_path(value)
    if bad:
        raise ApiError(400, f"{bad}: text with NUL characters or lone surrogates", "unstorable_text")
    return value


def known_fields(body: dict[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise ApiError(422, f"unknown field(s): {', '.join(unknown)}",
                       fields=[(name, "unknown field") for name in unknown])


def object_field(body: dict[str, Any], name: str, *, required: bool = True) -> dict[str, Any]:
    value = body.get(name)
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise ApiError(422, f"{name} must be a JSON object", fields=[(name, "must be an object")])
    return value


def string_field(body: dict[str, Any], name: str, pattern: re.Pattern[str] | None = None, *,
                 required: bool = True) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value or (pattern is not None and not pattern.match(value)):
        rule = f"a string matching {pattern.pattern}" if pattern is not None else "a non-empty string"
        raise ApiError(422, f"{name} must be {rule}", fields=[(name, f"must be {rule}")])
    return value


def known_args(*names: str) -> None:
    """400 naming every query parameter that is not one of ``names``: a misspelt or unsupported filter must not
    quietly answer with everything (or nothing)."""
    unknown = sorted(set(request.args) - set(names))
    if unknown:
        raise ApiError(400, f"unknown query parameter(s): {', '.join(name[:40] for name in unknown)} (this endpoint "
                       f"takes {', '.join(names) or 'none'})", "invalid_parameter")


def text_arg(name: str, choices: tuple[str, ...] | None = None) -> str | None:
    """An optional query parameter (stripped; at most ``MAX_TEXT_PARAMETER`` characters, or one of ``choices``)."""
    value = request.args.get(name)
    if value is None or not value.strip():
        return None
    value = value.strip()
    if not storable_text(value) or len(value) > MAX_TEXT_PARAMETER:
        raise ApiError(400, f"query parameter {name}: at most {MAX_TEXT_PARAMETER} characters, no NUL",
                       "invalid_parameter")
    if choices is not None and value not in choices:
        raise ApiError(400, f"query parameter {name} must be one of {', '.join(choices)}", "invalid_parameter")
    return value


def int_arg(name: str, default: int, low: int, high: int) -> int:
    value = request.args.get(name)
    if value is None or value == "":
        return default
    try:
        number = int(value.strip())
    except ValueError:
        raise ApiError(400, f"query parameter {name} must be an integer", "invalid_parameter") from None
    if not low <= number <= high:
        raise ApiError(400, f"query parameter {name} must be between {low} and {high}", "invalid_parameter")
    return number


def bool_arg(name: str, default: bool) -> bool:
    value = request.args.get(name)
    if value is None or value == "":
        return default
    if value in ("true", "false"):
        return value == "true"
    raise ApiError(400, f"query parameter {name} must be true or false", "invalid_parameter")


def path_id(value: str, what: str) -> str:
    """A case number or task id from the path; anything of another shape cannot exist (404)."""
    if not PATH_ID.match(value):
        raise ApiError(404, f"no {what} {value[:60]}")  # worded as the services word it
    return value
