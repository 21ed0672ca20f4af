"""Our DMN engine: SpiffWorkflow's ``DMNEngine`` running every DMN 1.3 hit policy, and failing loudly where the
library lets a table mistake pass.

SpiffWorkflow 3.2 stops a UNIQUE table at its first matching rule, so two overlapping rules (a new row added, the
old one left in) silently give the upper one; it runs ANY, PRIORITY and FIRST as first match and RULE ORDER and
OUTPUT ORDER as one row, ignores a COLLECT aggregation; and a table without a matching rule gives no outputs at
all, so a case runs on without them and fails far away (``name 'limits' is not defined`` at the first timer).
``CaseDecisionEngine`` runs each hit policy as DMN 1.3 defines it (``runner.hit_policies``: ANY checks that the
matching rules agree, PRIORITY and OUTPUT ORDER rank by the outputs' listed values, COLLECT aggregates); a UNIQUE
table refuses more than one match and a single-hit table refuses no match; each error names the DMN file, the
decision, the rule ids and the input values. A table it cannot run as DMN defines it (PRIORITY without listed
output values …) fails with the reason rather than run another way.

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
from functools import lru_cache
from pathlib import Path
from typing import Any

from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.dmn.engine.DMNEngine import DMNEngine
from SpiffWorkflow.dmn.specs.model import HitPolicy
from SpiffWorkflow.spiff.serializer.task_spec import BusinessRuleTaskConverter
from SpiffWorkflow.util.deep_merge import DeepMerge

from .hit_policies import MULTIPLE_HIT, RANKED, TableSemantics, UnlistedValue, aggregate, rank, unrunnable

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


AST_PARSE_VALIDATORS: set[Any] = {PythonScriptEngine.validate}
"""Script engine ``validate`` methods that accept and refuse exactly what ``ast.parse`` does (``cell_plan`` parses
with it; ``runner.script_engine`` adds its cached one)."""


@lru_cache(maxsize=8192)
def cell_plan(input_expr: str, match_expr: str) -> tuple[str, str | None] | None:
    """What ``CaseDecisionEngine._evaluate_texts`` evaluates for a cell, when every text parses: ``(expression,
    None)`` for one evaluation, ``(input, test)`` to evaluate the input, then the test with the input's value as
    ``FEEL_INPUT``. None when a text would fail to parse or anything else is off: the texts are then evaluated as
    they come, so that the error is the one they always give. Pure string work, remembered per pair of texts."""
    try:
        test = feel_unary_tests(match_expr)
        if test is not None:
            return input_expr, test
        match = QUESTION_MARK.sub(FEEL_INPUT, match_expr)  # DMNEngine.evaluate, step by step
        if FEEL_INPUT in match:
            return input_expr, match
        ast.parse(input_expr)
        try:
            ast.parse(match)
            needs_eq = True
        except SyntaxError:
            ast.parse(f"v {match}")
            needs_eq = False
        return (f"({input_expr}) == ({match})" if needs_eq else input_expr + match), None
    except Exception:  # noqa: BLE001 - the texts' own path raises it again, as it always did
        return None


class CaseDecisionEngine(DMNEngine):  # type: ignore[misc]
    """A decision table run as DMN 1.3 defines its hit policy (``runner.hit_policies``), refusing several matches
    under UNIQUE, disagreeing ones under ANY and no match under a single-hit policy."""

    def __init__(self, decision_table: Any, decision_id: str | None = None, decision_name: str | None = None,
                 file: str | None = None, semantics: TableSemantics | None = None) -> None:
        super().__init__(decision_table)
        self.decision_id = decision_id or decision_table.id
        self.decision_name = decision_name or decision_table.name or ""
        self.file = Path(file).name if file else None
        self.semantics = semantics or TableSemantics()

    def matching_rules(self, task: Any) -> list[Any]:
        """Every rule that matches the task's data, in table order, whatever the hit policy."""
        return [rule for rule in self.decision_table.rules if self._DMNEngine__check_rule(rule, task)]

    def evaluate(self, input_expr: str, match_expr: str | None, task: Any) -> Any:
        """``DMNEngine.evaluate``; an entry written as FEEL unary tests (``feel_unary_tests``) is evaluated as the
        Python test it stands for. What a cell's texts evaluate as (``cell_plan``) is worked out once per pair of
        texts: the same evaluations in the same order as ``_evaluate_texts``, without parsing the texts again."""
        if match_expr is None:
            return True
        script_engine = task.workflow.script_engine
        if getattr(script_engine.validate, "__func__", None) in AST_PARSE_VALIDATORS and type(input_expr) is str \
                and type(match_expr) is str:
            plan = cell_plan(input_expr, match_expr)
            if plan is not None:
                first, second = plan
                if second is None:
                    return script_engine.evaluate(task, first)
                value = script_engine.evaluate(task, first)
                return script_engine.evaluate(task, second, external_context={FEEL_INPUT: value})
        return self._evaluate_texts(input_expr, match_expr, task)

    def _evaluate_texts(self, input_expr: str, match_expr: str | None, task: Any) -> Any:
        """The cell evaluated from its texts: a FEEL list or negation as its Python test, else as the library
        does (which also reports every text that does not parse)."""
        test = feel_unary_tests(match_expr) if match_expr is not None else None
        if test is None:
            return super().evaluate(input_expr, match_expr, task)
        script_engine = task.workflow.script_engine
        value = script_engine.evaluate(task, input_expr)
        return script_engine.evaluate(task, test, external_context={FEEL_INPUT: value})

    def decide(self, task: Any) -> list[Any]:
        """The hits in the order the hit policy gives them: every matching rule in table order, under PRIORITY and
        OUTPUT ORDER highest rank first. Several under UNIQUE, or disagreeing ones under ANY, are an error."""
        return [rule for rule, _ in self.hits(task)]

    def hits(self, task: Any) -> list[tuple[Any, list[Any] | None]]:
        """``decide``'s rules, each with its output values where the policy needed them (ANY, PRIORITY, OUTPUT
        ORDER, an aggregation), else None."""
        policy = self.decision_table.hit_policy
        problem = unrunnable(policy, self.semantics, len(self.decision_table.outputs))
        if problem is not None:
            raise WorkflowTaskException(f"{self.describe()}: {problem}", task=task)
        matched = self.matching_rules(task)
        if policy == HitPolicy.UNIQUE.value and len(matched) > 1:
            ids = ", ".join(rule.id for rule in matched)
            raise WorkflowTaskException(
                f"{self.describe()}: hit policy UNIQUE, but rules {ids} all match {self.inputs_of(task)}", task=task)
        if policy not in ("ANY", *RANKED) and not self.semantics.aggregation:
            return [(rule, None) for rule in matched]
        evaluated = [(rule, output_values(rule, task)) for rule in matched]
        if policy == "ANY":
            differing = [(rule, values) for rule, values in evaluated if values != evaluated[0][1]]
            if differing:
                shown = "; ".join(f"{rule.id} gives {self.outputs_text(values)}"
                                  for rule, values in [evaluated[0], *differing])
                raise WorkflowTaskException(
                    f"{self.describe()}: hit policy ANY, but the matching rules give different outputs ({shown}) "
                    f"for {self.inputs_of(task)}", task=task)
        if policy in RANKED:
            ranks = []
            for rule, values in evaluated:
                try:
                    ranks.append(rank(values, self.semantics))
                except UnlistedValue as err:
                    output = self.decision_table.outputs[err.index]
                    raise WorkflowTaskException(
                        f"{self.describe()}: hit policy {policy}: rule {rule.id}: {output.name or output.label} = "
                        f"{err.value!r}, which is not among its listed values {list(err.listed)!r}", task=task) from err
            order = sorted(range(len(evaluated)), key=lambda index: ranks[index])  # stable: equals in table order
            evaluated = [evaluated[index] for index in order]
        return [(rule, values) for rule, values in evaluated]

    def result(self, task: Any) -> dict[str, Any]:
        """The outputs: a single-hit policy's one rule (no match is an error), a multiple-hit policy's list per
        output (nothing matched: no outputs), COLLECT's aggregation of its one output."""
        policy = self.decision_table.hit_policy
        hits = self.hits(task)
        aggregation = self.semantics.aggregation
        if aggregation:
            collected = [values[0] for _, values in hits if values]
            try:
                total = aggregate(aggregation, collected)
            except ValueError as err:
                ids = ", ".join(rule.id for rule, _ in hits)
                raise WorkflowTaskException(f"{self.describe()}: COLLECT {aggregation} of rules {ids}: {err}",
                                            task=task) from err
            return outputs_dict(self.decision_table.outputs, [total])
        if policy in MULTIPLE_HIT:
            result: dict[str, Any] = {}
            for rule, values in hits:
                outputs = rule.output_as_dict(task) if values is None else outputs_dict(rule_outputs(rule), values)
                for key, value in outputs.items():
                    result.setdefault(key, []).append(value)
            return result
        if not hits:
            raise WorkflowTaskException(f"{self.describe()}: no rule matches {self.inputs_of(task)}", task=task)
        rule, values = hits[0]
        chosen: dict[str, Any] = rule.output_as_dict(task) if values is None else outputs_dict(rule_outputs(rule),
                                                                                               values)
        return chosen

    def outputs_text(self, values: list[Any] | None) -> str:
        """``time_limit = 20, fee = 0``: a rule's outputs by their names."""
        names = [output.name or output.label or output.id for output in self.decision_table.outputs]
        return ", ".join(f"{name} = {value!r}" for name, value in zip(names, values or [], strict=False))

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


def output_values(rule: Any, task: Any) -> list[Any]:
    """A rule's output entries evaluated on the task's data, in column order (an empty entry gives ``""``, as
    ``Rule.output_as_dict``)."""
    script_engine = task.workflow.script_engine
    return [script_engine.evaluate(task, entry.text) if getattr(entry, "text", None) else ""
            for entry in rule.outputEntries]


def rule_outputs(rule: Any) -> list[Any]:
    """The output columns of a rule's entries, in order."""
    return [entry.output for entry in rule.outputEntries]


def outputs_dict(outputs: list[Any], values: list[Any]) -> dict[str, Any]:
    """Output values by name, a dotted name (``limits.plan_reply``) built into nested dicts: what
    ``Rule.output_as_dict`` gives for them."""
    result: dict[str, Any] = {}
    for output, value in zip(outputs, values, strict=False):
        key = output.name or output.label
        if "." in key:
            head, *rest = key.split(".")
            nested: Any = value
            for part in reversed(rest):
                nested = {part: nested}
            result[head] = DeepMerge.merge(result.get(head, {}), nested)
        else:
            result[key] = value
    return result


ENGINE_KEY = "case_engine"
"""Where a serialized decision table keeps what only ``CaseDecisionEngine`` knows (the library ignores it)."""


class CaseBusinessRuleTaskConverter(BusinessRuleTaskConverter):  # type: ignore[misc]
    """Writes and restores a business rule task with a ``CaseDecisionEngine``: the library's form, plus the
    decision's id, name and file and the table's aggregation and listed output values under ``case_engine``."""

    def to_dict(self, spec: Any) -> dict[str, Any]:
        dct: dict[str, Any] = super().to_dict(spec)
        engine = spec.dmnEngine
        if isinstance(engine, CaseDecisionEngine):
            dct["decision_table"][ENGINE_KEY] = {"decision_id": engine.decision_id,
                                                 "decision_name": engine.decision_name, "file": engine.file,
                                                 **engine.semantics.to_dict()}
        return dct

    def from_dict(self, dct: dict[str, Any]) -> Any:
        known = dct.get("decision_table", {}).pop(ENGINE_KEY, None) or {}
        spec = super().from_dict(dct)
        spec.dmnEngine = CaseDecisionEngine(spec.dmnEngine.decision_table, known.get("decision_id"),
                                            known.get("decision_name"), known.get("file"),
                                            TableSemantics.from_dict(known))
        return spec
