"""Our DMN engine: SpiffWorkflow's ``DMNEngine`` that fails loudly where the library lets a table mistake pass.

SpiffWorkflow 3.2 stops a UNIQUE table at its first matching rule, so two overlapping rules (a new row added, the
old one left in) silently give the upper one; and a table without a matching rule gives no outputs at all, so a
case runs on without them and fails far away (``name 'limits' is not defined`` at the first timer). With
``CaseDecisionEngine`` a UNIQUE table checks every rule and refuses more than one match, and a table with a
single-result hit policy (anything but COLLECT) refuses no match; both name the DMN file, the decision, the
matched rule ids and the input values. COLLECT keeps its meaning (no match: nothing collected), and so do the
other hit policies (every matching rule is found, the first one's outputs are taken).

The error is a ``WorkflowTaskException`` raised inside the business rule task, so a case's task goes to ERROR at
the business rule task itself, with this message as its incident.

Input entries are Python, as the library reads them (``"a"``, ``< 10``, ``? in ["a", "b"]``), and also the FEEL
unary tests a DMN modeler (dmn-js, Camunda Modeler) writes when several values are picked or a test negated:
``"lv_smallmicro","lv_other"`` and ``2,3,4`` match if any listed test matches, ``not("lv_residential")`` and
``not(2,3)`` when none does (``feel_unary_tests``). In Python such a cell would compare the value with a tuple, or
with ``False``, and never match.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.dmn.engine.DMNEngine import DMNEngine
from SpiffWorkflow.dmn.specs.model import HitPolicy
from SpiffWorkflow.spiff.serializer.task_spec import BusinessRuleTaskConverter

FEEL_INPUT = "dmninputexpr"
"""The name the column's value goes by in a translated entry (as ``DMNEngine.evaluate`` names it)."""
QUESTION_MARK = re.compile(r'(\?)(?=(?:[^\'"]|[\'"][^\'"]*[\'"])*$)')  # outside quotes, as DMNEngine.evaluate
NEGATION = re.compile(r"not\s*\(")


def feel_unary_tests(text: str, name: str = FEEL_INPUT) -> str | None:
    """The Python test of ``name`` an input entry written as a FEEL list of unary tests (``"a","b"``, ``1, 2``,
    ``< 3, > 9``) or a negation (``not("a")``, ``not(1, 2)``) stands for; None for any other entry (the library's
    reading applies). Each listed test is read as the library reads a whole cell: an expression is compared for
    equality, ``< 10`` gets the value put in front, ``?`` stands for it."""
    text = text.strip()
    negated = NEGATION.match(text)
    if negated and _closing(text, negated.end() - 1) == len(text) - 1:
        inner = _split_top_level(text[negated.end():-1])
        tests = [_unary_test(part, name) for part in inner]
        return None if None in tests else f"not ({' or '.join(f'({test})' for test in tests)})"
    parts = _split_top_level(text)
    if len(parts) < 2:
        return None
    tests = [_unary_test(part, name) for part in parts]
    return None if None in tests else " or ".join(f"({test})" for test in tests)


def _unary_test(text: str, name: str) -> str | None:
    text = text.strip()
    if not text:
        return None
    if QUESTION_MARK.search(text):
        candidates = [QUESTION_MARK.sub(name, text)]
    else:
        candidates = [f"({name}) == ({text})", f"{name} {text}"]
    for candidate in candidates:
        try:
            ast.parse(candidate, mode="eval")
            return candidate
        except SyntaxError:
            continue
    return None


def _outside_quotes(text: str, start: int = 0) -> Iterator[tuple[int, str, int]]:
    """Each character of ``text`` from ``start`` that is outside quotes, with the bracket depth after it."""
    depth, quote, index = 0, "", start
    while index < len(text):
        char = text[index]
        if quote:
            if char == "\\":
                index += 1
            elif char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        else:
            if char in "([{":
                depth += 1
            elif char in ")]}":
                depth -= 1
            yield index, char, depth
        index += 1


def _split_top_level(text: str) -> list[str]:
    """``text`` split at the commas outside quotes and brackets."""
    parts, start = [], 0
    for index, char, depth in _outside_quotes(text):
        if char == "," and depth == 0:
            parts.append(text[start:index])
            start = index + 1
    parts.append(text[start:])
    return parts


def _closing(text: str, opening: int) -> int:
    """The index of the bracket closing the one at ``opening`` (outside quotes); -1 if none."""
    for index, char, depth in _outside_quotes(text, opening):
        if char in ")]}" and depth == 0:
            return index
    return -1


class CaseDecisionEngine(DMNEngine):  # type: ignore[misc]
    """A decision table that refuses several matches under UNIQUE and no match under a single-result policy."""

    def __init__(self, decision_table: Any, decision_id: str | None = None, decision_name: str | None = None,
                 file: str | None = None) -> None:
        super().__init__(decision_table)
        self.decision_id = decision_id or decision_table.id
        self.decision_name = decision_name or decision_table.name or ""
        self.file = Path(file).name if file else None

    def matching_rules(self, task: Any) -> list[Any]:
        """Every rule that matches the task's data, in table order, whatever the hit policy."""
        return [rule for rule in self.decision_table.rules if self._DMNEngine__check_rule(rule, task)]

    def evaluate(self, input_expr: str, match_expr: str | None, task: Any) -> Any:
        """``DMNEngine.evaluate``; an entry written as FEEL unary tests (``feel_unary_tests``) is evaluated as the
        Python test it stands for."""
        test = feel_unary_tests(match_expr) if match_expr is not None else None
        if test is None:
            return super().evaluate(input_expr, match_expr, task)
        script_engine = task.workflow.script_engine
        value = script_engine.evaluate(task, input_expr)
        return script_engine.evaluate(task, test, external_context={FEEL_INPUT: value})

    def decide(self, task: Any) -> list[Any]:
        """Every matching rule, in table order; under UNIQUE more than one is an error."""
        matched = self.matching_rules(task)
        if self.decision_table.hit_policy == HitPolicy.UNIQUE.value and len(matched) > 1:
            ids = ", ".join(rule.id for rule in matched)
            raise WorkflowTaskException(
                f"{self.describe()}: hit policy UNIQUE, but rules {ids} all match {self.inputs_of(task)}", task=task)
        return matched

    def result(self, task: Any) -> dict[str, Any]:
        """The outputs, as ``DMNEngine.result`` gives them; no match is an error unless the policy is COLLECT."""
        matched = self.decide(task)
        if self.decision_table.hit_policy == HitPolicy.COLLECT.value:
            result: dict[str, Any] = {}
            for rule in matched:
                for key, value in rule.output_as_dict(task).items():
                    result.setdefault(key, []).append(value)
            return result
        if not matched:
            raise WorkflowTaskException(f"{self.describe()}: no rule matches {self.inputs_of(task)}", task=task)
        outputs: dict[str, Any] = matched[0].output_as_dict(task)
        return outputs

    def describe(self) -> str:
        """``time_limits.dmn: decision "time_limits" (确定办理时限)``."""
        name = f" ({self.decision_name})" if self.decision_name and self.decision_name != self.decision_id else ""
        where = f"{self.file}: " if self.file else ""
        return f'{where}decision "{self.decision_id}"{name}'

    def inputs_of(self, task: Any) -> str:
        """The table's input expressions with their values on the task's data."""
        values = []
        script_engine = task.workflow.script_engine
        for table_input in self.decision_table.inputs:
            expression = table_input.expression or table_input.label
            try:
                value = repr(script_engine.evaluate(task, expression))
            except Exception as err:  # shown, not raised: the message is about the table
                value = f"(fails: {type(err).__name__}: {err})"
            values.append(f"{expression.strip()} = {value}")
        return ", ".join(values) or "(no inputs)"


class CaseBusinessRuleTaskConverter(BusinessRuleTaskConverter):  # type: ignore[misc]
    """Restores a business rule task with a ``CaseDecisionEngine`` (the serialized form is the library's)."""

    def from_dict(self, dct: dict[str, Any]) -> Any:
        spec = super().from_dict(dct)
        spec.dmnEngine = CaseDecisionEngine(spec.dmnEngine.decision_table)
        return spec
