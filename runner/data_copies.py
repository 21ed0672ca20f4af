"""Copies of task data with exactly the results of the library's copies, cheaper: ``json_copy`` for JSON-like
data, ``exact_copy`` for ``copy.deepcopy``, ``json_round_trip`` for ``json.loads(json.dumps(…))``;
``ATOMIC_TYPES`` and ``SHALLOW_COPIED_TYPES`` tell what ``DeepMerge.merge`` takes over as it is and what it copies
one level deep (``runner.fast_workflow.FastTask``).
"""
from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable
from typing import Any

ATOMIC_TYPES = frozenset({str, int, float, bool, type(None)})
SHALLOW_COPIED_TYPES = (dict, list, set)  # what DeepMerge.merge copies one level deep


def json_copy(value: Any) -> Any:
    """A deep copy of JSON-like data (dicts with string keys, lists, str, int, float, bool, None) without
    ``copy.deepcopy``'s memo and dispatch; anything else is handed to ``copy.deepcopy``. The one difference: an
    object referenced twice is copied twice instead of staying shared (JSON cannot express sharing either)."""
    kind = type(value)
    if kind in ATOMIC_TYPES:
        return value
    if kind is dict:
        result = {}
        for key, item in value.items():
            if type(key) is not str:
                return copy.deepcopy(value)
            result[key] = item if type(item) in ATOMIC_TYPES else json_copy(item)
        return result
    if kind is list:
        return [item if type(item) in ATOMIC_TYPES else json_copy(item) for item in value]
    return copy.deepcopy(value)


class _NotATree(Exception):
    """The value holds something ``exact_copy`` does not copy itself: leave it all to ``copy.deepcopy``."""


def _tree_copy(value: Any, seen: set[int]) -> Any:
    """A copy of a dict or list: a shallow copy (same keys and items in the same order) whose containers are then
    replaced by their own copies, so that atomic items are copied by the C ``copy`` methods alone."""
    kind = type(value)
    if kind is dict:
        value_id = id(value)
        if value_id in seen:
            raise _NotATree
        seen.add(value_id)
        result = value.copy()
        for key, item in value.items():
            if type(key) not in ATOMIC_TYPES:
                raise _NotATree
            if type(item) not in ATOMIC_TYPES:
                result[key] = _tree_copy(item, seen)
        return result
    if kind is list:
        value_id = id(value)
        if value_id in seen:
            raise _NotATree
        seen.add(value_id)
        copied = value.copy()
        for index, item in enumerate(value):
            if type(item) not in ATOMIC_TYPES:
                copied[index] = _tree_copy(item, seen)
        return copied
    raise _NotATree


def exact_copy(value: Any) -> Any:
    """``copy.deepcopy(value)``, exactly: plain dicts and lists of str, int, float, bool and None in which no dict
    or list appears twice (a tree, as task data nearly always are) are copied without ``deepcopy``'s memo and
    dispatch, giving the same result (new dicts and lists, the same atomic values, the same order); anything else
    (other types, a container referenced twice, a cycle) goes to ``copy.deepcopy`` as a whole, so that sharing is
    kept as ``deepcopy`` keeps it."""
    if type(value) in ATOMIC_TYPES:
        return value
    try:
        return _tree_copy(value, set())
    except _NotATree:
        return copy.deepcopy(value)


class _NotPlainJson(Exception):
    """The value holds something ``json_round_trip`` leaves to the ``json`` module."""


def _plain_json_copy(value: Any) -> Any:
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is float:
        if not math.isfinite(value):
            raise _NotPlainJson
        return value
    if kind is dict:
        result = {}
        for key, item in value.items():
            if type(key) is not str:
                raise _NotPlainJson
            result[key] = _plain_json_copy(item)
        return result
    if kind is list:
        return [_plain_json_copy(item) for item in value]
    raise _NotPlainJson


def json_round_trip(value: Any, default: Callable[[Any], Any] | None = None) -> Any:
    """``json.loads(json.dumps(value, ensure_ascii=False, default=default))``, exactly: data made only of dicts with
    ``str`` keys, lists, ``str``, ``int``, ``bool``, ``None`` and finite ``float`` (of exactly those types) come back
    as the same values in new dicts and lists (a container referenced twice copied twice, as the text would give it)
    without the text; anything else (subclasses, tuples, NaN, a value only ``default`` can write …) goes through the
    ``json`` module as a whole. (``ensure_ascii`` changes the text, never what it reads back as.)"""
    try:
        return _plain_json_copy(value)
    except _NotPlainJson:
        return json.loads(json.dumps(value, ensure_ascii=False, default=default))
