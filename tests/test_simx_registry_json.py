"""The handler registry's JSON check (``handlers.registry._is_plain_json``, with its short way for values of exactly
the built-in JSON types) accepts and refuses what the ``isinstance`` check it replaced did."""

from __future__ import annotations

import enum
import math
from collections import OrderedDict
from typing import Any

import pytest

from handlers.registry import HandlerRegistry, HandlerResultError, _is_plain_json


def reference(value: Any) -> bool:
    """The check as it was (``isinstance`` at every level)."""
    if value is None or isinstance(value, str | bool | int):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(reference(item) for item in value)
    if isinstance(value, dict):
        return all(isinstance(key, str) and reference(item) for key, item in value.items())
    return False


class Text(str):
    pass


class Number(int):
    pass


class Real(float):
    pass


class Rows(list):  # type: ignore[type-arg]
    pass


class Level(enum.IntEnum):
    HIGH = 1


VALUES: list[Any] = [
    None, "a", True, 0, 1.5, math.nan, math.inf, -math.inf, (1, 2), {1, 2}, b"x", object(), Text("a"), Number(3),
    Real(2.0), Real(math.nan), Level.HIGH, Rows([1, 2]), Rows([math.nan]), OrderedDict(a=1), OrderedDict(a=math.inf),
    [], {}, [1, "a", None, 2.5, [True, {"k": [1.0]}]], {"a": {"b": [1, {"c": math.nan}]}}, {1: "a"}, {Text("k"): 1},
    {"a": (1,)}, {"a": Rows([1])}, {"a": Real(1.0), "b": Number(1), "c": Text("t")}, [math.inf], [[[]]],
    {"a": [1, 2, {"b": None}], "c": 1e308}, {None: 1}, {"a": object()}, [{"a": 1}, {"b": float("nan")}],
]


@pytest.mark.parametrize("value", VALUES, ids=[f"v{index}" for index in range(len(VALUES))])
def test_same_verdict_as_the_isinstance_check(value: Any) -> None:
    assert _is_plain_json(value) is reference(value)


def test_a_handler_result_is_still_refused_where_it_is_not_json() -> None:
    registry = HandlerRegistry()
    registry.register("bad")(lambda ctx: {"rows": [{"load": math.nan}]})
    with pytest.raises(HandlerResultError, match=r"result\.rows\[0\]\.load is not a finite number"):
        registry.call("bad", None, {})  # type: ignore[arg-type]
