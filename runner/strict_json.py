"""JSON from outside (a command-line option, a request body, a file) held to what JSON is: numbers are finite.

Python's ``json`` reads ``NaN``, ``Infinity`` and ``1e400`` (as infinity) and writes them back as no JSON reader
takes them: PostgreSQL refuses them deep in a statement, SQLite stores them. ``finite_json`` refuses them while
reading the text; ``non_finite_path`` finds them in data read otherwise."""

from __future__ import annotations

import json
import math
from typing import Any


def finite_json(text: str | bytes) -> Any:
    """``json.loads`` refusing what is no JSON number: ``NaN``, ``Infinity``, ``-Infinity`` and a number that is
    infinite as a float (``1e400``); ``ValueError`` saying which."""
    return json.loads(text, parse_float=_finite_float, parse_int=_integer, parse_constant=_no_constant)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is out of range (numbers must be finite)")
    return value


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:  # Python's limit on converting long digit strings
        raise ValueError(f"an integer of {len(text.lstrip('-'))} digits is too long") from None


def _no_constant(text: str) -> Any:
    raise ValueError(f"{text} (numbers must be finite)")


def non_finite_path(value: Any, path: str = "") -> str | None:
    """The path (``a.b[2]``) of the first number in ``value`` that is NaN or infinite, if any (JSON has no such
    numbers; ``finite_json`` refuses them in the text)."""
    if isinstance(value, float) and not math.isfinite(value):
        return path or "(top)"
    if isinstance(value, dict):
        children = [(f"{path}.{key}" if path else str(key), item) for key, item in value.items()]
    elif isinstance(value, list):
        children = [(f"{path}[{index}]", item) for index, item in enumerate(value)]
    else:
        return None
    return next((found for child, item in children if (found := non_finite_path(item, child))), None)
