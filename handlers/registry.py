"""The handler registry: operator id → plain function ``fn(ctx, **params) -> dict``.

The operator ids are the ``spiffworkflow:serviceTaskOperator`` ids of the BPMN. A registry is an ordinary object:
:func:`handlers.build_registry` fills a fresh one, tests may build their own, nothing is global.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from handlers.context import HandlerContext

Handler = Callable[..., dict[str, Any]]
H = TypeVar("H", bound=Handler)


class UnknownOperatorError(LookupError):
    """No handler is registered under the requested operator id."""

    def __init__(self, name: str, known: list[str] | None = None) -> None:
        self.name = name
        hint = f"; known operators: {', '.join(known)}" if known else ""
        super().__init__(f"unknown service-task operator {name!r}{hint}")


class HandlerParameterError(TypeError):
    """The parameters of a service task do not match the handler's signature."""

    def __init__(self, name: str, missing: list[str], unknown: list[str]) -> None:
        self.name = name
        self.missing = missing
        self.unknown = unknown
        problems = []
        if missing:
            problems.append(f"missing parameter(s): {', '.join(missing)}")
        if unknown:
            problems.append(f"unknown parameter(s): {', '.join(unknown)}")
        super().__init__(f"operator {name!r}: {'; '.join(problems)}")


class HandlerResultError(TypeError):
    """A handler returned something that is not a JSON-able dict."""


class _Spec:
    """A registered handler and what :meth:`HandlerRegistry.call` needs to know of its signature."""

    def __init__(self, name: str, fn: Handler) -> None:
        parameters = list(inspect.signature(fn).parameters.values())
        if not parameters or parameters[0].kind not in (
            inspect.Parameter.POSITIONAL_ONLY,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
        ):
            raise TypeError(f"handler {name!r} must take the context as its first positional parameter")
        rest = parameters[1:]
        if any(p.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.POSITIONAL_ONLY) for p in rest):
            raise TypeError(f"handler {name!r}: parameters after the context must be passable by keyword")
        self.fn = fn
        self.accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in rest)
        named = [p for p in rest if p.kind is not inspect.Parameter.VAR_KEYWORD]
        self.allowed = frozenset(p.name for p in named)
        self.required = tuple(p.name for p in named if p.default is inspect.Parameter.empty)


class HandlerRegistry:
    """Maps operator ids to handler functions."""

    def __init__(self) -> None:
        self._specs: dict[str, _Spec] = {}

    def register(self, name: str) -> Callable[[H], H]:
        """Return a decorator that registers a handler under ``name`` and returns it unchanged.

        Raises:
            ValueError: If ``name`` is empty or already registered.
            TypeError: If the function does not take the context first and keyword parameters after it.
        """
        if not name:
            raise ValueError("operator name must not be empty")

        def decorator(fn: H) -> H:
            if name in self._specs:
                raise ValueError(f"operator {name!r} is already registered")
            self._specs[name] = _Spec(name, fn)
            return fn

        return decorator

    def get(self, name: str) -> Handler:
        """Return the handler registered under ``name``.

        Raises:
            UnknownOperatorError: If there is none.
        """
        try:
            return self._specs[name].fn
        except KeyError:
            raise UnknownOperatorError(name, self.names()) from None

    def names(self) -> list[str]:
        """Return the registered operator ids, sorted."""
        return sorted(self._specs)

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def call(self, name: str, ctx: HandlerContext, params: Mapping[str, Any]) -> dict[str, Any]:
        """Check ``params`` against the handler's signature, call it and check that the result is JSON-able.

        Raises:
            UnknownOperatorError: If no handler is registered under ``name``.
            HandlerParameterError: If required parameters are missing or unknown ones are given.
            HandlerResultError: If the handler returns anything but a dict of JSON values.
        """
        spec = self._specs.get(name)
        if spec is None:
            raise UnknownOperatorError(name, self.names())
        missing = [p for p in spec.required if p not in params]
        unknown = [] if spec.accepts_any else sorted(str(p) for p in params if p not in spec.allowed)
        if missing or unknown:
            raise HandlerParameterError(name, missing, unknown)
        result = spec.fn(ctx, **params)
        if not isinstance(result, dict):
            raise HandlerResultError(f"operator {name!r} returned {type(result).__name__}, expected dict")
        _check_json(result, name, "result")
        return result


def _check_json(value: Any, name: str, path: str) -> None:
    """Raise :class:`HandlerResultError` at the first value that is not plain JSON (its path worked out only then:
    building every value's path was most of the check's cost)."""
    if not _is_plain_json(value):
        _locate_non_json(value, name, path)


_PLAIN_LEAVES = frozenset({str, bool, int, type(None)})


def _is_plain_json(value: Any) -> bool:
    """Whether ``_locate_non_json`` would find nothing to object to. Values of exactly the built-in JSON types take
    the short way (``type`` lookups, leaves of a dict or list decided without a call); anything else, subclasses
    included, the general one (``_is_json_value``)."""
    kind = type(value)
    if kind in _PLAIN_LEAVES:
        return True
    if kind is float:
        return math.isfinite(value)
    if kind is dict:
        for key, item in value.items():
            if (type(key) is not str and not isinstance(key, str)) or (
                    type(item) not in _PLAIN_LEAVES and not _is_plain_json(item)):
                return False
        return True
    if kind is list:
        for item in value:
            if type(item) not in _PLAIN_LEAVES and not _is_plain_json(item):
                return False
        return True
    return _is_json_value(value)


def _is_json_value(value: Any) -> bool:
    """``_is_plain_json`` by ``isinstance`` (floats, subclasses of the JSON types)."""
    if value is None or isinstance(value, str | bool | int):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        for item in value:
            if not _is_plain_json(item):
                return False
        return True
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or not _is_plain_json(item):
                return False
        return True
    return False


def _locate_non_json(value: Any, name: str, path: str) -> None:
    """Raise :class:`HandlerResultError` at the first value that is not plain JSON."""
    if value is None or isinstance(value, str | bool | int):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise HandlerResultError(f"operator {name!r}: {path} is not a finite number ({value!r})")
        return
    if isinstance(value, list):
        for index, item in enumerate(value):
            _locate_non_json(item, name, f"{path}[{index}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise HandlerResultError(f"operator {name!r}: {path} has a non-string key {key!r}")
            _locate_non_json(item, name, f"{path}.{key}")
        return
    raise HandlerResultError(f"operator {name!r}: {path} is a {type(value).__name__}, not a JSON value")
