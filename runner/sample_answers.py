"""A given answer laid over a form's sample answer, as ``baozhuang try``, the simulator and the demo driver
answer user tasks: the fields given win, the sample answer fills the rest — except sample fields the given ones rule
out. A follow-up call answered ``{"reached": false}`` must not keep the sample's ``satisfaction`` (the form refuses a
rating for a customer nobody reached); such sample fields are left out, so that a given answer means what a person
filling the form with those values would have sent.

A record date — a date field the form marks ``"x-sample-date": "today"``, such as a survey's or an installation's
date — is sampled as the day the step is answered on the case's clock (``today``), as the person recording it that
day would write it (the form's ``examples`` date, in 2019, only shows the format). Other dates keep their example:
a rectification deadline, a requested date, or the day a customer asked for an extension, which the model compares
with the plan's validity. Without ``today`` the examples stay as they are.

A field may also take its sample from the case (``"x-sample": "<expression>"``, evaluated on the task's data like a
completion check): the sample plan grants the supply the case asked for and was decided (``supply_points``: two
sources for a dual-supply application; ``supply_voltage_kv``: the voltage decided), instead of one fixed plan for
every case. An expression that gives None leaves the example. Without an evaluator (``evaluate``) the examples stay.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import Any

from .forms import FormValidationError, default_instance, expression_problem, validate_form_data

_TOP_KEY = re.compile(r"^([^.\[]+)")
SAMPLE_DATE = "x-sample-date"
"""The form keyword marking a record date: ``"today"``, the day the step is answered, in sample answers."""
SAMPLE_EXPRESSION = "x-sample"
"""The form keyword of a field whose sample answer is an expression on the case's data at the step."""


def sample_answer(schema: dict[str, Any], today: date | None = None) -> dict[str, Any]:
    """The form's sample answer (``runner.forms.default_instance``) as a dict, its dates on ``today`` when given."""
    sample = default_instance(schema)
    if not isinstance(sample, dict):
        return {}
    if today is not None:
        dated = on_day(sample, today.isoformat(), date_paths(schema))
        return dated if isinstance(dated, dict) else sample
    return sample


def date_paths(schema: dict[str, Any]) -> list[tuple[str, ...]]:
    """Where a form's record dates are (``SAMPLE_DATE`` "today"): each path of property names from the top (``"[]"``
    for every item of an array), e.g. ``("survey_date",)`` or ``("documents", "[]", "signed_on")``."""
    found: list[tuple[str, ...]] = []

    def walk(node: Any, path: tuple[str, ...]) -> None:
        if not isinstance(node, dict):
            return
        if node.get(SAMPLE_DATE) == "today" and path:
            found.append(path)
        for name, sub in (node.get("properties") or {}).items():
            walk(sub, (*path, name))
        if isinstance(node.get("items"), dict):
            walk(node["items"], (*path, "[]"))

    walk(schema, ())
    return found


def on_day(value: Any, day: str, paths: list[tuple[str, ...]]) -> Any:
    """A copy of ``value`` (a sample answer or a part of one) with the record date at each of ``paths``
    (``date_paths`` of its form) that holds a string set to ``day`` (ISO); the rest is shared, not copied."""
    for path in paths:
        value = _set_on_path(value, path, day)
    return value


def _set_on_path(value: Any, path: tuple[str, ...], day: str) -> Any:
    if not path:
        return day if isinstance(value, str) else value
    head, rest = path[0], path[1:]
    if head == "[]":
        return [_set_on_path(item, rest, day) for item in value] if isinstance(value, list) else value
    if not isinstance(value, dict) or head not in value:
        return value
    return {**value, head: _set_on_path(value[head], rest, day)}


def sample_fields_ruled_out(schema: dict[str, Any], given: dict[str, Any],
                            sample: dict[str, Any] | None = None) -> list[str]:
    """The sample answer's fields to leave out under ``given``: those the form refuses once ``given`` is laid over
    the sample answer (``sample``, when the caller has it already), and only those (a problem in the given fields
    themselves is left for the completion to report). Dropping one may uncover another (a field required only with
    another one), so this repeats."""
    answer = {**(sample_answer(schema) if sample is None else sample), **given}
    dropped: list[str] = []
    for _ in range(len(answer) + 1):
        try:
            validate_form_data(schema, answer)
        except FormValidationError as err:
            ruled_out = sorted({match.group(1) for path, _message in err.errors if (match := _TOP_KEY.match(path))}
                               & (answer.keys() - given.keys()))
            if not ruled_out:
                return dropped
            for key in ruled_out:
                del answer[key]
            dropped.extend(ruled_out)
        else:
            return dropped
    return dropped


def sample_expressions(schema: dict[str, Any]) -> dict[str, str]:
    """The top-level fields of a form whose sample is an expression (``SAMPLE_EXPRESSION``), with it."""
    return {name: sub[SAMPLE_EXPRESSION] for name, sub in (schema.get("properties") or {}).items()
            if isinstance(sub, dict) and isinstance(sub.get(SAMPLE_EXPRESSION), str)}


def sample_expression_problems(schema: dict[str, Any]) -> list[str]:
    """What is wrong with a form's sample expressions (``forms.expression_problem``, as for completion checks:
    ``baozhuang validate`` names the form file)."""
    problems = (expression_problem(sub[SAMPLE_EXPRESSION], f"{name}.{SAMPLE_EXPRESSION}")
                for name, sub in (schema.get("properties") or {}).items()
                if isinstance(sub, dict) and SAMPLE_EXPRESSION in sub)
    return [problem for problem in problems if problem]


def with_case_samples(schema: dict[str, Any], sample: dict[str, Any],
                      evaluate: Callable[[str], Any] | None) -> dict[str, Any]:
    """``sample`` with each ``SAMPLE_EXPRESSION`` field set to what ``evaluate`` gives for it (None: unchanged)."""
    if evaluate is None:
        return sample
    values = {name: evaluate(expression) for name, expression in sample_expressions(schema).items()}
    return {**sample, **{name: value for name, value in values.items() if value is not None}}


def answer_over_sample(schema: dict[str, Any] | None, given: dict[str, Any] | None,
                       today: date | None = None, evaluate: Callable[[str], Any] | None = None) -> dict[str, Any]:
    """``given`` laid over the form's sample answer (its dates on ``today``, its expressions through ``evaluate``
    on the case's data, when given), without the sample fields it rules out."""
    given = given or {}
    if not schema:
        return dict(given)
    sample = with_case_samples(schema, sample_answer(schema, today), evaluate)
    answer = {**sample, **given}
    if given:
        for key in sample_fields_ruled_out(schema, given, sample):
            del answer[key]
    return answer
