"""Form data checks on the server: JSON Schema validation, plus the limits every form shares."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Sized
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker, ValidationError, validators
from jsonschema._utils import equal, uniq
from jsonschema.exceptions import UndefinedTypeCheck

from .resident_id import resident_id_problem
from .strict_json import non_finite_path

MAX_FORM_BYTES = 256 * 1024
FORBIDDEN_KEYS = frozenset({"typename"})  # breaks SpiffWorkflow's deserializer (ENGINE-NOTES.md)
BIDI_CONTROLS = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
"""Invisible characters that change the direction of the text around them (``abc``, a right-to-left override
U+202E and ``def`` show as ``abcfed``): refused in every string of form data, so that nothing a customer or a client
sends can make a name, a number or a remark read differently on a staff page than it was stored."""
BIDI_CONTROL_MESSAGE = "contains an invisible text-direction control character ({codes}), which is not allowed"
REPLACEMENT_CHARACTER = "\ufffd"
"""What a web form's bytes that are not UTF-8 become once decoded (the web framework replaces each such sequence with
U+FFFD): refused in every string of form data, so that a customer's name or address is never stored with its
characters silently turned into question marks. The sender is asked to type the text again."""
NOT_UTF8_MESSAGE = "contains characters that could not be read (sent in an encoding other than UTF-8: U+FFFD)"
RESIDENT_ID_FORMAT = "cn-resident-id"
"""JSON Schema ``format`` of a citizen ID number (``runner.resident_id``): shape, birth date and check digit."""
RESIDENT_ID_MESSAGE = "is not a valid resident ID number"


def _resident_id(value: object) -> bool:
    """The ``cn-resident-id`` format check: a string must be a valid citizen ID number (other values are left to
    ``type``); the reason goes with the error as its cause."""
    if not isinstance(value, str):
        return True
    problem = resident_id_problem(value)
    if problem:
        raise ValueError(problem)
    return True


FORMAT_CHECKER = FormatChecker(formats=())
"""The formats Draft 2020-12 checks, plus ``cn-resident-id``: the one checker every form is validated with."""
FORMAT_CHECKER.checkers = {**Draft202012Validator.FORMAT_CHECKER.checkers}
FORMAT_CHECKER.checks(RESIDENT_ID_FORMAT, raises=ValueError)(_resident_id)


LOAD_PLAUSIBILITY = "x-load-plausibility"
"""A start form's keyword (``processes/forms/apply.schema.json``) for applications no utility would take as typed:
``{"residential_max_kw": 160, "max_ratio": 10}`` — a residential supply is low voltage, so neither the declared
capacity (``declared_capacity_kw``) nor the equipment's installed total (Σ ``count`` · ``unit_kw`` of
``equipment``, what the supply-voltage table reads) may pass ``residential_max_kw``; and the equipment's total and
the declared capacity may not differ by more than ``max_ratio`` times either way (a rating typed in W instead of
kW, a count with three zeros too many). Checked with the schema, so every way in (portal, API, ``start_case``, the
trial and the simulator) refuses the same applications (``load_problems``)."""


COMPLETION_CHECKS = "x-completion-checks"
"""A task form's keyword for rules that need the case's data, not just the answer: a list of
``{"field": "decision", "refuse_when": "<expression>", "message": "…", "detail": "<expression>"}``. When a task is
completed, each ``refuse_when`` is evaluated like a gateway condition on the task's data, with the submitted
answer as ``answer``; a true value refuses the completion with ``message`` (followed by the text ``detail``
evaluates to, when given) at ``field`` ("" for the whole form), as a schema error would (``completion_problems``).
``baozhuang validate`` checks their shape and that the expressions compile (``completion_check_problems``)."""


def completion_checks(schema: dict[str, Any]) -> list[dict[str, str]]:
    """The form's completion checks (``COMPLETION_CHECKS``), none when it has none."""
    checks = schema.get(COMPLETION_CHECKS)
    return checks if isinstance(checks, list) else []


def completion_problems(schema: dict[str, Any], evaluate: Callable[[str], Any]) -> list[tuple[str, str]]:
    """(field, message) of every completion check whose ``refuse_when`` ``evaluate`` finds true."""
    problems = []
    for check in completion_checks(schema):
        if evaluate(check["refuse_when"]):
            detail = check.get("detail")
            problems.append((check.get("field", ""), check["message"] + (str(evaluate(detail)) if detail else "")))
    return problems


def completion_check_problems(schema: dict[str, Any]) -> list[str]:
    """What is wrong with a form's completion checks: the shape, an unknown field, an expression that does not
    compile (``baozhuang validate`` names the form file)."""
    checks = schema.get(COMPLETION_CHECKS)
    if checks is None:
        return []
    if not isinstance(checks, list):
        return [f"{COMPLETION_CHECKS} must be a list"]
    problems = []
    fields = schema.get("properties") or {}
    for index, check in enumerate(checks):
        where = f"{COMPLETION_CHECKS}[{index}]"
        if not isinstance(check, dict) or set(check) - {"field", "refuse_when", "message", "detail"}:
            problems.append(f"{where} must be an object with field, refuse_when, message and optional detail")
            continue
        if not isinstance(check.get("message"), str) or not check["message"].strip():
            problems.append(f"{where}.message must be a text")
        field_name = check.get("field", "")
        if not isinstance(field_name, str) or (field_name and field_name not in fields):
            problems.append(f"{where}.field names no field of the form: {field_name!r}")
        for key in ("refuse_when", "detail"):
            text = check.get(key)
            if text is None and key == "detail":
                continue
            problem = expression_problem(text, f"{where}.{key}")
            if problem:
                problems.append(problem)
    return problems


def expression_problem(text: Any, where: str) -> str | None:
    """Why ``text``, a form's expression named ``where`` (a completion check's, a sample's), is no Python
    expression: not text, or text that does not compile; None when it is one."""
    if not isinstance(text, str) or not text.strip():
        return f"{where} must be an expression"
    try:
        compile(text.strip(), where, "eval")
    except SyntaxError as err:
        return f"{where} does not compile: {err.msg}: {text.strip()[:80]!r}"
    return None


@dataclass(frozen=True)
class LoadProblem:
    """An implausible load: ``code`` (``residential_capacity``, ``residential_equipment``,
    ``equipment_above_declared``, ``declared_above_equipment``), the field, the message, and the figures in kW for
    a view to word it in its own language."""

    code: str
    path: str
    message: str
    declared_kw: float | None
    equipment_kw: float | None
    limit: float


def _kw(value: float) -> str:
    return f"{value:.12g}"


def load_problems(rules: Any, application: Any) -> list[LoadProblem]:
    """What ``LOAD_PLAUSIBILITY`` ``rules`` find wrong with an application (values of a wrong type are left to the
    schema)."""
    if not isinstance(rules, dict) or not isinstance(application, dict):
        return []
    declared = _number(application.get("declared_capacity_kw"))
    declared = declared if declared is not None and declared > 0 else None
    rows = application.get("equipment")
    total = 0.0
    for row in rows if isinstance(rows, list) else []:
        count = _number(row.get("count")) if isinstance(row, dict) else None
        unit = _number(row.get("unit_kw")) if isinstance(row, dict) else None
        total += count * unit if count is not None and unit is not None else 0.0
    equipment = total if total > 0 else None
    found: list[LoadProblem] = []
    limit = _number(rules.get("residential_max_kw"))
    if limit is not None and application.get("customer_type") == "residential":
        if declared is not None and declared > limit:
            found.append(LoadProblem("residential_capacity", "declared_capacity_kw",
                                     f"a residential supply is low voltage, at most {_kw(limit)} kW: {_kw(declared)} "
                                     "kW is more (a larger supply is a non-residential application)",
                                     declared, equipment, limit))
        if equipment is not None and equipment > limit:
            found.append(LoadProblem("residential_equipment", "equipment",
                                     f"the equipment adds up to {_kw(equipment)} kW: a residential supply is low "
                                     f"voltage, at most {_kw(limit)} kW", declared, equipment, limit))
    ratio = _number(rules.get("max_ratio"))
    if ratio is not None and declared is not None and equipment is not None:
        if equipment > ratio * declared:
            found.append(LoadProblem("equipment_above_declared", "equipment",
                                     f"the equipment adds up to {_kw(equipment)} kW, more than {_kw(ratio)} times the "
                                     f"declared capacity of {_kw(declared)} kW: check the counts and the ratings "
                                     "(kW, not W)", declared, equipment, ratio))
        elif declared > ratio * equipment:
            found.append(LoadProblem("declared_above_equipment", "declared_capacity_kw",
                                     f"the declared capacity of {_kw(declared)} kW is more than {_kw(ratio)} times "
                                     f"what the equipment adds up to ({_kw(equipment)} kW): check both",
                                     declared, equipment, ratio))
    return found


def _number(value: Any) -> float | None:
    """A JSON number as a float; None for anything else (``True`` is no number here, nor NaN)."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value == value:
        return float(value)
    return None


def _load_plausibility(validator: Any, rules: Any, instance: Any, schema: dict[str, Any]) -> Iterator[ValidationError]:
    for problem in load_problems(rules, instance):
        yield ValidationError(problem.message, path=[problem.path], instance=instance.get(problem.path))


FormValidator = validators.extend(  # type: ignore[no-untyped-call]  # jsonschema's own annotations stop here
    Draft202012Validator, {LOAD_PLAUSIBILITY: _load_plausibility})
"""Draft 2020-12 with ``LOAD_PLAUSIBILITY``: what every form is validated with."""


class FormValidationError(Exception):
    """Form data that does not fit its schema; ``errors`` pairs a field path with a message."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{path or '(form)'}: {message}" for path, message in errors))
        self.errors = errors


_FORBIDDEN_KEY_TEXTS = tuple(json.dumps(key, ensure_ascii=False) for key in sorted(FORBIDDEN_KEYS))
"""Each reserved key as ``json.dumps`` writes a key of that name (``"typename"``, quotes included)."""


def forbidden_key_paths(value: Any, path: str = "") -> list[str]:
    """Paths of any key, at any depth, that task data may not carry."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            if key in FORBIDDEN_KEYS:
                found.append(child)
            found.extend(forbidden_key_paths(item, child))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(forbidden_key_paths(item, f"{path}[{index}]"))
    return found


def validate_form_data(schema: dict[str, Any], data: Any) -> None:
    """Raise ``FormValidationError`` listing every problem; return quietly when the data fits."""
    if not isinstance(data, dict):
        raise FormValidationError([("", "form data must be a JSON object")])
    text = json.dumps(data, ensure_ascii=False)  # one text for the size and the text checks
    too_large = size_problem(data, "form data", text)
    if too_large:
        raise FormValidationError([("", too_large)])
    errors = text_problems(data, text)
    validator, quick = _validators(schema)
    if not errors and quick(data):
        return
    reported = {path for path, _message in errors}
    for error in sorted(validator.iter_errors(data), key=_error_order):
        for path, message in located(error):
            if path not in reported:  # one message per field: a choice's list of values says what ``type`` says
                reported.add(path)
                errors.append((path, message))
    if errors:
        raise FormValidationError(errors)


def _error_order(error: Any) -> tuple[list[Any], bool]:
    """Errors by field, the most telling of a field's first: a wrong choice (``oneOf`` of labelled values: its
    message lists them), a resident ID number that fails its check (the message says which part is wrong) or an
    implausible load (``LOAD_PLAUSIBILITY``: a residential capacity says its limit) before what ``type``,
    ``pattern`` or ``maximum`` say of the same value."""
    telling = (error.validator == "oneOf" and labelled_values(error.validator_value) is not None) or (
        error.validator == "format" and error.validator_value == RESIDENT_ID_FORMAT) or (
        error.validator == LOAD_PLAUSIBILITY)
    return list(error.absolute_path), not telling


def size_problem(data: Any, what: str, text: str | None = None) -> str | None:
    """Why ``data`` is too large to store (over ``MAX_FORM_BYTES`` as UTF-8 JSON), else None. ``text``: the
    caller's ``json.dumps(data, ensure_ascii=False)``, when it has it."""
    size = len((json.dumps(data, ensure_ascii=False) if text is None else text).encode())
    return f"{what} larger than {MAX_FORM_BYTES} bytes ({size} bytes)" if size > MAX_FORM_BYTES else None


def text_problems(data: Any, text: str | None = None) -> list[tuple[str, str]]:
    """(path, message) for what no data may hold, whatever its schema: reserved key names, text-direction control
    characters and U+FFFD, at any depth. ``text``: the caller's ``json.dumps(data, ensure_ascii=False)``."""
    if text is None:
        text = json.dumps(data, ensure_ascii=False)  # only ASCII control characters come out escaped
    # a reserved key is in the text as its JSON string: no such string, no walk for the keys' paths
    named = any(needle in text for needle in _FORBIDDEN_KEY_TEXTS)
    errors = [(path, "reserved key name") for path in forbidden_key_paths(data)] if named else []
    if BIDI_CONTROLS.search(text):
        errors.extend(bidi_control_errors(data))
    if REPLACEMENT_CHARACTER in text:
        errors.extend((path, NOT_UTF8_MESSAGE) for path in unreadable_text_paths(data))
    return errors


NUL_MESSAGE = "contains a NUL character (U+0000), which cannot be stored"


def validate_message_payload(payload: Any) -> None:
    """A message's payload (it has no schema) within the rules every form's data keeps: a JSON object of at most
    ``MAX_FORM_BYTES``, no reserved key names, no text-direction controls, no U+FFFD, and no NUL (which
    PostgreSQL cannot store). ``FormValidationError`` with the fields under ``payload``."""
    if not isinstance(payload, dict):
        raise FormValidationError([("payload", "must be a JSON object")])
    text = json.dumps(payload, ensure_ascii=False)
    too_large = size_problem(payload, "payload", text)
    if too_large:
        raise FormValidationError([("payload", too_large)])
    errors = text_problems(payload, text)
    errors.extend((path, NUL_MESSAGE) for path, _text in strings_with(payload, lambda text: "\x00" in text))
    if (non_finite := non_finite_path(payload)) is not None:
        errors.append((non_finite, NON_FINITE_MESSAGE))
    if errors:
        raise FormValidationError([(f"payload.{path}", message) for path, message in errors])


NON_FINITE_MESSAGE = "must be a finite number (NaN and Infinity are not JSON)"


def strings_with(value: Any, test: Callable[[str], bool], path: str = "") -> list[tuple[str, str]]:
    """(path, text) of every key and string, at any depth, for which ``test`` is true (a key at its entry's path)."""
    if isinstance(value, str):
        return [(path, value)] if test(value) else []
    found: list[tuple[str, str]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            found.extend(strings_with(key, test, child) + strings_with(item, test, child))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(strings_with(item, test, f"{path}[{index}]"))
    return found


def bidi_control_errors(value: Any) -> list[tuple[str, str]]:
    """(path, message) for every key and string, at any depth, holding a text-direction control character."""
    return [(path, BIDI_CONTROL_MESSAGE.format(codes=", ".join(sorted({f"U+{ord(char):04X}"
                                                                      for char in BIDI_CONTROLS.findall(text)}))))
            for path, text in strings_with(value, lambda text: BIDI_CONTROLS.search(text) is not None)]


def unreadable_text_paths(value: Any) -> list[str]:
    """Paths of every key and string, at any depth, holding U+FFFD (``REPLACEMENT_CHARACTER``)."""
    return [path for path, _text in strings_with(value, lambda text: REPLACEMENT_CHARACTER in text)]


MAX_MESSAGE_CHARS = 200
"""A message quoting the value (``'…' is too long``) is cut to about this length: the caller sent the value, it
needs no echo. The value is clipped, never the reason that follows it."""
MAX_ECHO_CHARS = 60
"""How much of a long value a message quotes (then ``…``)."""


def located(error: Any) -> list[tuple[str, str]]:
    """A jsonschema error as (field path, message). A missing field and an unknown one are reported at that field,
    not at the object holding it (jsonschema puts them there), so a form or client can point at it."""
    path = list(error.absolute_path)
    instance = error.instance
    if error.validator == "required" and isinstance(instance, dict):
        missing = [name for name in error.validator_value
                   if name not in instance and error.message == f"{name!r} is a required property"]
        if missing:
            return [(json_path([*path, missing[0]]), error.message)]
    if error.validator == "additionalProperties" and isinstance(instance, dict) and error.validator_value is False:
        known = set(error.schema.get("properties", {}))
        patterns = [re.compile(pattern) for pattern in error.schema.get("patternProperties", {})]
        unknown = [key for key in instance if key not in known and not any(p.search(key) for p in patterns)]
        if unknown:
            return [(json_path([*path, key]), f"Additional properties are not allowed ({key!r} was unexpected)")
                    for key in unknown]
    message = error.message
    choices = labelled_values(error.validator_value) if error.validator == "oneOf" else None
    if choices is not None:  # jsonschema says only "not valid under any of the given schemas"
        message = f"{instance!r} is not one of " + ", ".join(
            f"{value!r} ({label})" if label else repr(value) for value, label in choices)
    if error.validator == "format" and error.validator_value == RESIDENT_ID_FORMAT and error.cause is not None:
        message = f"{instance!r} {RESIDENT_ID_MESSAGE}: {error.cause}"
    return [(json_path(path), clip_echo(message, instance))]


def labelled_values(branches: Any) -> list[tuple[Any, str | None]] | None:
    """The (value, title) of a ``oneOf`` of labelled values (``{"const": …, "title": …}`` branches, as
    ``quick_schema`` reads them), else None."""
    if not isinstance(branches, list) or not branches or not all(
            isinstance(branch, dict) and "const" in branch and set(branch) - {"const"} <= ANNOTATIONS
            for branch in branches):
        return None
    return [(branch["const"], branch.get("title")) for branch in branches]


def clip_echo(message: str, instance: Any) -> str:
    """A message over ``MAX_MESSAGE_CHARS`` with the value it quotes (jsonschema's ``repr``) clipped to
    ``MAX_ECHO_CHARS``, so that the reason after it (``is too long``, ``does not match …``) stays whole; a message
    that quotes no value is cut at its end as a last resort."""
    if len(message) <= MAX_MESSAGE_CHARS:
        return message
    echoed = repr(instance)
    if len(echoed) > MAX_ECHO_CHARS and echoed in message:
        message = message.replace(echoed, echoed[:MAX_ECHO_CHARS] + "…")
    if len(message) > MAX_MESSAGE_CHARS * 2:
        message = message[:MAX_MESSAGE_CHARS * 2] + "…"
    return message


_VALIDATORS: dict[int, tuple[dict[str, Any], Any, Callable[[Any], bool]]] = {}
_MAX_VALIDATORS = 1024


def _validators(schema: dict[str, Any]) -> tuple[Any, Callable[[Any], bool]]:
    """The schema's validator, and a check that tells the same valid data apart faster: ``compiled_check`` of
    ``quick_schema``, else (a keyword it does not compile) the quick schema's validator's ``is_valid``. The quick
    check decides, the full validator words the errors. One pair per schema object (forms live as long as their
    parsed version): building a validator per submission was a sizeable share of a task completion. Keyed by
    identity, with the schema kept so an id is never reused."""
    cached = _VALIDATORS.get(id(schema))
    if cached is not None and cached[0] is schema:
        return cached[1], cached[2]
    if len(_VALIDATORS) >= _MAX_VALIDATORS:
        _VALIDATORS.clear()
    validator = FormValidator(schema, format_checker=FORMAT_CHECKER)
    faster = quick_schema(schema)
    quick = compiled_check(faster)
    if quick is None:
        quick = (validator if faster is schema else FormValidator(faster, format_checker=FORMAT_CHECKER)).is_valid
    _VALIDATORS[id(schema)] = (schema, validator, quick)
    return validator, quick


# -- a compiled validity check --------------------------------------------------------------------------------------
# jsonschema walks a schema anew for every instance and makes a validator object per subschema it descends into:
# about 200 µs for a task form that is valid. ``compiled_check`` turns the keywords the forms use into nested
# closures once, each doing what jsonschema's own keyword function (``jsonschema._keywords``) tests, in the
# schema's order and stopping at the first failure as ``is_valid`` does; it answers only valid or not.

class _NotCompiled(Exception):
    """A schema (part) ``compiled_check`` leaves to jsonschema."""


_Check = Callable[[Any], bool]
_TYPES = FormValidator.TYPE_CHECKER


def compiled_check(schema: Any) -> _Check | None:
    """A function telling whether an instance is valid under ``schema`` exactly as ``FormValidator(schema,
    format_checker=FORMAT_CHECKER).is_valid`` does, without jsonschema's per-call walk; None when the schema uses a
    keyword (or a keyword value) not compiled here — references (``$ref``, ``$id`` …), ``patternProperties``,
    ``prefixItems``, ``unevaluated…``, ``dependent…``, ``contains``, ``multipleOf``, ``…Properties`` counts, a
    subschema with its own ``$schema`` — then the caller validates with jsonschema. Keywords jsonschema does not
    know are ignored, as jsonschema ignores them."""
    if _holds_key(schema, REFERENCES):
        return None
    try:
        return _compile(schema, root=True)
    except _NotCompiled:
        return None


def _compile(schema: Any, root: bool = False) -> _Check:
    if schema is True:
        return lambda _instance: True
    if schema is False:
        return lambda _instance: False
    if not isinstance(schema, dict) or (not root and "$schema" in schema):  # ``$schema`` switches the validator
        raise _NotCompiled
    checks = []
    for keyword, value in schema.items():
        if keyword not in FormValidator.VALIDATORS:
            continue  # jsonschema ignores it too (``then``/``else`` are read by ``if``)
        build = _BUILDERS.get(keyword)
        if build is None:
            raise _NotCompiled
        checks.append(build(value, schema))
    if not checks:
        return lambda _instance: True
    if len(checks) == 1:
        return checks[0]
    return lambda instance: all(check(instance) for check in checks)


def _schemas(value: Any) -> list[_Check]:
    if not isinstance(value, list):
        raise _NotCompiled
    return [_compile(each) for each in value]


def _type_names(value: Any) -> list[str]:
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise _NotCompiled
    for name in names:
        try:
            _TYPES.is_type(None, name)
        except UndefinedTypeCheck as err:  # jsonschema raises ``UnknownType`` when it meets one
            raise _NotCompiled from err
    return names


def _count(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise _NotCompiled
    return value


def _limit(value: Any) -> int | float:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise _NotCompiled
    return value


def _type(value: Any, _schema: dict[str, Any]) -> _Check:
    names = _type_names(value)
    is_type = _TYPES.is_type
    return lambda instance: any(is_type(instance, name) for name in names)


def _enum(value: Any, _schema: dict[str, Any]) -> _Check:
    if not isinstance(value, list):
        raise _NotCompiled
    return lambda instance: any(equal(each, instance) for each in value)


def _const(value: Any, _schema: dict[str, Any]) -> _Check:
    return lambda instance: bool(equal(instance, value))


def _properties(value: Any, _schema: dict[str, Any]) -> _Check:
    if not isinstance(value, dict):
        raise _NotCompiled
    checks = [(name, _compile(sub)) for name, sub in value.items()]
    return lambda instance: not isinstance(instance, dict) or all(
        check(instance[name]) for name, check in checks if name in instance)


def _required(value: Any, _schema: dict[str, Any]) -> _Check:
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        raise _NotCompiled
    return lambda instance: not isinstance(instance, dict) or all(name in instance for name in value)


def _additional_properties(value: Any, schema: dict[str, Any]) -> _Check:
    known = schema.get("properties", {})
    if "patternProperties" in schema or not isinstance(known, dict):
        raise _NotCompiled
    if isinstance(value, dict):
        check = _compile(value)
        return lambda instance: not isinstance(instance, dict) or all(
            check(item) for key, item in instance.items() if key not in known)
    if not value:
        return lambda instance: not isinstance(instance, dict) or all(key in known for key in instance)
    return lambda _instance: True


def _items(value: Any, schema: dict[str, Any]) -> _Check:
    if "prefixItems" in schema:
        raise _NotCompiled
    if value is False:
        return lambda instance: not isinstance(instance, list) or not instance
    check = _compile(value)
    return lambda instance: not isinstance(instance, list) or all(check(item) for item in instance)


def _unique_items(value: Any, _schema: dict[str, Any]) -> _Check:
    if not value:
        return lambda _instance: True
    return lambda instance: not isinstance(instance, list) or bool(uniq(instance))


def _pattern(value: Any, _schema: dict[str, Any]) -> _Check:
    if not isinstance(value, str):
        raise _NotCompiled
    try:
        search = re.compile(value).search  # what ``re.search(value, …)`` compiles and caches
    except re.error as err:
        raise _NotCompiled from err
    return lambda instance: not isinstance(instance, str) or search(instance) is not None


def _length_check(kind: type[Sized], too_far: Callable[[int, int], bool]) -> Callable[[Any, dict[str, Any]], _Check]:
    """``minItems``/``maxItems`` (``kind`` list), ``minLength``/``maxLength`` (str): a ``kind`` instance whose length
    is ``too_far`` from the bound fails; anything else passes, as in jsonschema."""
    def build(value: Any, _schema: dict[str, Any]) -> _Check:
        bound = _count(value)
        return lambda instance: not isinstance(instance, kind) or not too_far(len(instance), bound)
    return build


def _number_check(test: Callable[[Any, Any], bool]) -> Callable[[Any, dict[str, Any]], _Check]:
    def build(value: Any, _schema: dict[str, Any]) -> _Check:
        bound = _limit(value)
        is_type = _TYPES.is_type
        return lambda instance: not is_type(instance, "number") or test(instance, bound)
    return build


def _format(value: Any, _schema: dict[str, Any]) -> _Check:
    return lambda instance: FORMAT_CHECKER.conforms(instance, value)


def _all_of(value: Any, _schema: dict[str, Any]) -> _Check:
    checks = _schemas(value)
    return lambda instance: all(check(instance) for check in checks)


def _any_of(value: Any, _schema: dict[str, Any]) -> _Check:
    checks = _schemas(value)
    return lambda instance: any(check(instance) for check in checks)


def _one_of(value: Any, _schema: dict[str, Any]) -> _Check:
    checks = _schemas(value)

    def exactly_one(instance: Any) -> bool:
        valid = (index for index, check in enumerate(checks) if check(instance))
        first = next(valid, None)
        return first is not None and next(valid, None) is None
    return exactly_one


def _not(value: Any, _schema: dict[str, Any]) -> _Check:
    check = _compile(value)
    return lambda instance: not check(instance)


def _if(value: Any, schema: dict[str, Any]) -> _Check:
    condition = _compile(value)
    then = _compile(schema["then"]) if "then" in schema else None
    otherwise = _compile(schema["else"]) if "else" in schema else None

    def branch(instance: Any) -> bool:
        if condition(instance):
            return then is None or then(instance)
        return otherwise is None or otherwise(instance)
    return branch


def _plausible(value: Any, schema: dict[str, Any]) -> _Check:
    return lambda instance: next(_load_plausibility(None, value, instance, schema), None) is None


_BUILDERS: dict[str, Callable[[Any, dict[str, Any]], _Check]] = {
    "type": _type, "enum": _enum, "const": _const, "properties": _properties, "required": _required,
    "additionalProperties": _additional_properties, "items": _items,
    "minItems": _length_check(list, lambda length, bound: length < bound),
    "maxItems": _length_check(list, lambda length, bound: length > bound),
    "uniqueItems": _unique_items, "pattern": _pattern,
    "minLength": _length_check(str, lambda length, bound: length < bound),
    "maxLength": _length_check(str, lambda length, bound: length > bound),
    # the number bounds as jsonschema words its failure (``not <``, not ``>=``: NaN passes)
    "minimum": _number_check(lambda number, bound: not number < bound),
    "maximum": _number_check(lambda number, bound: not number > bound),
    "exclusiveMinimum": _number_check(lambda number, bound: not number <= bound),
    "exclusiveMaximum": _number_check(lambda number, bound: not number >= bound),
    "format": _format, "allOf": _all_of, "anyOf": _any_of, "oneOf": _one_of, "not": _not, "if": _if,
    LOAD_PLAUSIBILITY: _plausible,
}
"""What ``compiled_check`` compiles: per keyword, a builder of the check (value, the schema holding it)."""


ANNOTATIONS = frozenset({"title", "description", "$comment", "deprecated", "readOnly", "writeOnly", "examples",
                         "default"})
"""Keywords that never decide validity: a ``oneOf`` branch holding only these besides ``const`` is a labelled
value."""
VALUES = frozenset({"const", "enum", "default", "examples"})
"""Keywords whose values are data, not schemas: never rewritten."""
REFERENCES = frozenset({"$ref", "$dynamicRef", "$recursiveRef", "$anchor", "$dynamicAnchor", "$id"})


def quick_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A schema that accepts exactly the data ``schema`` accepts, cheaper to check: every ``oneOf`` of labelled
    values (the forms' way to give choices their Chinese titles: ``{"const": …, "title": …}`` branches) becomes
    an ``enum`` of those values. ``oneOf`` asks that exactly one branch match, so jsonschema checks them all; with
    pairwise different values (``jsonschema``'s own equality, as ``enum`` and ``const`` use) "exactly one" is
    "any", which is ``enum``. Left as it is (the same object returned) when nothing qualifies, or when the schema
    refers to its own parts (a reference could point into a rewritten ``oneOf``). Error messages still come from
    the original schema: the rewrite only decides faster that data are valid."""
    if _holds_key(schema, REFERENCES):
        return schema
    rewritten = _labelled_values_as_enums(schema)
    return schema if rewritten == schema else rewritten


def _labelled_values_as_enums(value: Any) -> Any:
    if isinstance(value, list):
        return [_labelled_values_as_enums(item) for item in value]
    if not isinstance(value, dict):
        return value
    out = {key: item if key in VALUES else _labelled_values_as_enums(item) for key, item in value.items()}
    branches = out.get("oneOf")
    if "enum" not in out and isinstance(branches, list) and branches and all(
            isinstance(branch, dict) and "const" in branch and set(branch) - {"const"} <= ANNOTATIONS
            for branch in branches):
        consts = [branch["const"] for branch in branches]
        if all(not equal(consts[i], consts[j]) for i in range(len(consts)) for j in range(i)):
            del out["oneOf"]
            out["enum"] = consts
    return out


def _holds_key(value: Any, keys: frozenset[str]) -> bool:
    if isinstance(value, dict):
        return any(key in keys for key in value) or any(_holds_key(item, keys) for item in value.values())
    if isinstance(value, list):
        return any(_holds_key(item, keys) for item in value)
    return False


def json_path(parts: Any) -> str:
    """``equipment[2].count`` style path for an error location."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def default_instance(schema: dict[str, Any]) -> Any:
    """The form's sample answer, the happy path (``baozhuang try``, the simulator, the demo and the tests answer
    with it): each field's first ``examples`` value, else its ``default`` (objects recursively). Never what a
    person's form opens with: that is ``form_defaults``."""
    return _instance(schema, samples=True)


def form_defaults(schema: dict[str, Any]) -> Any:
    """What a form may show before anyone answers: the ``default`` values alone (objects recursively). Sample
    answers are ``examples``, not defaults, so a form never opens with a made-up date, result, number or ticked
    attestation (docs/decisions.md)."""
    return _instance(schema, samples=False)


def _instance(schema: dict[str, Any], samples: bool) -> Any:
    examples = schema.get("examples")
    if samples and isinstance(examples, list) and examples:
        return examples[0]
    if "default" in schema:
        return schema["default"]
    if schema.get("type") == "object":
        result = {}
        for name, subschema in schema.get("properties", {}).items():
            value = _instance(subschema, samples)
            if value is not None:
                result[name] = value
        return result
    return None


class _NotJsonLike(Exception):
    """A value the fingerprint does not cover: validate it as always."""


def _fingerprint(value: Any) -> Any:
    """A hashable picture of JSON-like data that tells apart everything validation could: the type of every value
    (``True`` is not ``1``, a tuple is not a list), the text of every float (``-0.0`` is not ``0.0``), key order."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return (kind, value)
    if kind is float:
        return (kind, repr(value))
    if kind is dict:
        return (kind, tuple((key, _fingerprint(item)) if type(key) is str else _not_json_like()
                            for key, item in value.items()))
    if kind is list:
        return (kind, tuple(_fingerprint(item) for item in value))
    return _not_json_like()


def _not_json_like() -> Any:
    raise _NotJsonLike


class ValidatedFormData:
    """``validate_form_data`` with a memory of the (schema, data) pairs that passed, for the simulator: its answers
    come from the scenario (checked when it is loaded) and are submitted again and again, equal but not the same
    objects. Data equal to one that passed against the same schema object pass without running the validator
    again; anything else, and every failure, goes through ``validate_form_data``. Real user input is not routed
    here (``runner.case.Case.validate_form``)."""

    def __init__(self, limit: int = 4096) -> None:
        self.limit = limit
        self._passed: dict[tuple[int, Any], dict[str, Any]] = {}

    def validate(self, schema: dict[str, Any], data: Any) -> None:
        try:
            key = (id(schema), _fingerprint(data))
        except (_NotJsonLike, RecursionError):
            validate_form_data(schema, data)
            return
        if self._passed.get(key) is schema:
            return
        validate_form_data(schema, data)
        if len(self._passed) >= self.limit:
            self._passed.clear()
        self._passed[key] = schema  # kept, so that the schema's id cannot be reused while the entry lives
