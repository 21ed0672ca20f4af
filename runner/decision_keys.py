"""Keys read from a decision's result that no decision table gives: ``limits["plan_replyy"]`` in a timer, where
``time_limits.dmn`` writes ``limits.plan_reply``. SpiffWorkflow would fail only when the case reaches the timer
(a ``KeyError`` at run time, far from the typo); here ``validate`` names the element and the key.

A result object is a name some DMN output writes into with a dotted name (``limits.acceptance``). Its keys are
those outputs plus the keys a script of the folder assigns (``limits["extra"] = …``); a script that assigns the
whole name (``limits = …``) makes its keys unknowable, and it is not checked.

Likewise a name an expression (a gateway condition, a timer, a service parameter) reads that nothing can define
(``aprove_high_risk["decision"]`` for the task ``approve_high_risk``) fails only when a case takes that path
(``undefined_names``).
"""

from __future__ import annotations

import ast
import builtins
import difflib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from .process_folder import Problem


def decision_result_keys(dmn_trees: dict[Path, Any]) -> dict[str, dict[str, str]]:
    """Result object name → {key: file that writes it}, from the DMN outputs with dotted names."""
    keys: dict[str, dict[str, str]] = {}
    for path, tree in dmn_trees.items():
        for output in tree.iter("{*}output"):
            name = output.get("name") or ""
            head, _, rest = name.partition(".")
            if head and rest:
                keys.setdefault(head, {})[rest.split(".")[0]] = path.name
    return keys


def unknown_keys(file: str, expressions: Iterable[tuple[Any, str, str]], all_expressions: Iterable[str],
                 keys: dict[str, dict[str, str]]) -> Iterator[Problem]:
    """A problem per expression reading a key of a decision result that no table and no script gives."""
    known = {name: set(found) for name, found in keys.items()}
    for text in all_expressions:  # what the folder's scripts add to, or replace of, a result object
        for node in _walk(text, "exec"):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store) and node.id in known:
                known.pop(node.id)
            elif (isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Store)
                  and (assigned := _subscript_key(node)) is not None and assigned[0] in known):
                known[assigned[0]].add(assigned[1])
    for element, mode, text in expressions:
        for name, key in sorted({read for node in _walk(text, mode) if (read := _read_key(node)) is not None}):
            if name in known and key not in known[name]:
                files = ", ".join(sorted(set(keys[name].values())))
                yield Problem(file, element.sourceline if element is not None else 0,
                              element.get("id", "-") if element is not None else "-",
                              f'reads {name}["{key}"], which no decision table gives ({files} writes '
                              f'{", ".join(sorted(known[name]))})')


def _walk(text: str, mode: str) -> Iterator[ast.AST]:
    try:
        yield from ast.walk(ast.parse(text.strip(), mode=mode))
    except SyntaxError:
        return  # reported by the expression check


def _subscript_key(node: ast.AST) -> tuple[str, str] | None:
    if (isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name)
            and isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str)):
        return node.value.id, node.slice.value
    return None


def _read_key(node: ast.AST) -> tuple[str, str] | None:
    """``name["key"]`` read, or ``name.get("key", …)``."""
    if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load):
        return _subscript_key(node)
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
            and isinstance(node.func.value, ast.Name) and node.args and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)):
        return node.func.value.id, node.args[0].value
    return None


def undefined_names(file: str, expressions: Iterable[tuple[Any, str, str]], defined: set[str]) -> Iterator[Problem]:
    """A problem per expression (``eval`` mode) reading a name that nothing defines: no element id (a task's form
    data is stored under it), script assignment, decision output, start data key, variable, script-engine function
    or builtin (``defined`` holds the folder's; builtins are added here)."""
    known = defined | set(dir(builtins))
    for element, mode, text in expressions:
        if mode != "eval":
            continue
        nodes = list(_walk(text, mode))
        bound = {node.id for node in nodes if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store)}
        bound |= {arg.arg for node in nodes if isinstance(node, ast.arguments)
                  for arg in (*node.posonlyargs, *node.args, *node.kwonlyargs)}
        for name in sorted({node.id for node in nodes if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)
                            and node.id not in known and node.id not in bound}):
            close = difflib.get_close_matches(name, sorted(defined), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            yield Problem(file, element.sourceline if element is not None else 0,
                          element.get("id", "-") if element is not None else "-",
                          f"reads {name}{hint}, which nothing in this folder defines: no task, script, decision "
                          "output, start data or function has that name; a case taking this path would fail here")
