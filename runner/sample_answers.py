"""A given answer laid over a form's sample answer, as ``baozhuang try``, the simulator and the demo's autopilot
answer user tasks: the fields given win, the sample answer fills the rest — except sample fields the given ones rule
out. A follow-up call answered ``{"reached": false}`` must not keep the sample's ``satisfaction`` (the form refuses a
rating for a customer nobody reached); such sample fields are left out, so that a given answer means what a person
filling the form with those values would have sent.
"""

from __future__ import annotations

import re
from typing import Any

from .forms import FormValidationError, default_instance, validate_form_data

_TOP_KEY = re.compile(r"^([^.\[]+)")


def sample_answer(schema: dict[str, Any]) -> dict[str, Any]:
    """The form's sample answer (``runner.forms.default_instance``) as a dict."""
    sample = default_instance(schema)
    return sample if isinstance(sample, dict) else {}


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


def answer_over_sample(schema: dict[str, Any] | None, given: dict[str, Any] | None) -> dict[str, Any]:
    """``given`` laid over the form's sample answer, without the sample fields it rules out."""
    given = given or {}
    if not schema:
        return dict(given)
    sample = sample_answer(schema)
    answer = {**sample, **given}
    if given:
        for key in sample_fields_ruled_out(schema, given, sample):
            del answer[key]
    return answer
