"""Changes around a case's position that ``baozhuang migrate`` lets through, each checked on the case itself.

``runner.migration`` refuses a case when a step it did, or is doing, changed. Some changes of such a step do not
touch what the case did or will do there; each is recognised here on the case's own tasks and data:

- **A recomputation inserted on a path the case already went** (``SkippedSteps``): the new version routes a flow
  the case took, A → B, through new service tasks (A → S … → B), e.g. 计算供电电流 between 确定供电电压 and
  确定客户类别. The case skipped them and will not run them. That is no change for the case only where running them
  would have changed none of the values it holds: each is run here, dry, on the data the case had after A (the
  handler gets an outbox and an archive of its own; one that would send or archive something counts), and its
  result may only fill values the case left empty (absent or None: 计算供电电流 states ``capacity.current_a``,
  which the old version left None); those values are then written into the case as it moves (``fill_in``,
  also for a decision table's new output column). A recomputation that changes a value the case holds
  (按方案核定费用 costing the fees on the plan) counts, and the refusal says which step would change which value.
  Inserted business rule tasks are treated the same way: their decision is evaluated on the case's data (after
  their pre-script, if any, and followed by their post-script, both on a copy), so a new DMN step that reproduces
  what the case holds, or only fills values it left empty, is no change for it, and one that would change a value
  the case holds (按方案确定收费标准 taking the plan's voltage) refuses it, naming the step and the values. A
  script task, gateway, event or user task on the skipped path counts as before.
- **A gateway's condition flow retargeted where the case did not go** (``untaken_conditions``): same conditions
  in the same order, only the target of a flow the case did not take differs (需缴费？ now leads to 开立缴费台账):
  the gateway would choose for the case as it did.
- **What follows a running step, the case not there yet** (``unreached_outputs``): a started task (a running
  embedded subprocess) whose outgoing flows changed, none of what follows it reached: like a step inserted after
  the case's position, it is predicted anew from the new version.
- **A form changed** (``FormRecheck``): on an open task nobody has answered yet, a change of its form file's
  content does not count: the answer will be given on the new form and checked by it. On a completed task, it
  does not count when the new form asks for no field the old one did not have and the case's recorded answer
  passes it (schema and completion checks, on the case's clock): a new check that dates be no later than today
  leaves a survey recorded last week as it is; a field made required that the answer lacks, or a new field, counts.
  A step of a finished subprocess is checked on the answer its caller got back with the subprocess's data.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Iterator
from typing import Any

from SpiffWorkflow.util.deep_merge import DeepMerge
from SpiffWorkflow.util.task import TaskState

from handlers.context import MemoryArchive, MemoryOutbox

from .forms import FormValidationError, completion_problems, validate_form_data
from .migration_decisions import describe
from .migration_reasons import clip

ACTIVE = TaskState.COMPLETED | TaskState.STARTED | TaskState.READY | TaskState.WAITING | TaskState.ERROR
MAX_SKIPPED = 4
"""At most this many inserted steps between two steps the case went through are looked at."""
EMPTY = object()
"""A value the case does not hold (a key it does not have)."""


# -- recomputations inserted on the case's path ------------------------------------------------------------------


class SkippedSteps:
    """The inserted service tasks a case went past, found per flow it took and run once each on its data."""

    def __init__(self, alignment_targets: set[Any]) -> None:
        self.targets = alignment_targets  # the new version's specs that stand for an old one (not inserted)
        self._checked: dict[tuple[int, int], tuple[list[Any], str | None]] = {}
        self.fills: dict[str, Any] = {}
        """The values accepted recomputations fill in (dotted path: value), for the move to write."""

    def excused(self, task: Any, new_spec: Any, alignment: dict[Any, Any]) -> tuple[frozenset[str], list[str]]:
        """The wiring kinds (``inputs``, ``outputs``) of ``task`` that only inserted recomputations explain, which
        change nothing the case holds; and the phrases for inserted steps that would change something."""
        kept: set[str] = set()
        phrases: list[str] = []
        parent = task.parent
        new_parent = alignment.get(parent) if parent is not None else None
        if new_parent is not None and new_parent not in new_spec.inputs:
            verdict = self._verdict(parent, new_parent, new_spec)
            if verdict is not None:
                if verdict[1] is None:
                    kept.add("inputs")
                else:
                    phrases.append(verdict[1])
        taken = [child for child in task.children if child.has_state(ACTIVE)]
        missing = [child for child in taken if alignment.get(child) not in new_spec.outputs]
        if taken and missing:
            verdicts = [self._verdict(task, new_spec, alignment.get(child)) for child in missing]
            if all(verdict is not None and verdict[1] is None for verdict in verdicts):
                kept.add("outputs")
            phrases.extend(verdict[1] for verdict in verdicts if verdict is not None and verdict[1])
        return frozenset(kept), list(dict.fromkeys(phrases))

    def _verdict(self, before: Any, new_from: Any, new_to: Any) -> tuple[list[Any], str | None] | None:
        """For the flow the case took from task ``before`` (now ``new_from``) to ``new_to``: the inserted steps
        and None when skipping them changes nothing for the case, else why; None when no such steps explain it."""
        if new_to is None:
            return None
        key = (id(before), id(new_to))
        if key not in self._checked:
            chain = self._chain(new_from, new_to)
            self._checked[key] = (chain, recheck_skipped(before, chain, self.fills)) if chain else ([], "")
        chain, reason = self._checked[key]
        return (chain, reason) if chain else None

    def _chain(self, new_from: Any, new_to: Any) -> list[Any]:
        """The single path new_from → S1 … Sn → new_to of inserted service or business rule tasks, each with one
        flow in and out."""
        for first in new_from.outputs:
            chain: list[Any] = []
            spec = first
            while spec is not new_to and len(chain) < MAX_SKIPPED:
                if spec in self.targets or not reruns_dry(spec):
                    break
                chain.append(spec)
                spec = spec.outputs[0]
            if spec is new_to and chain:
                return chain
        return []


def is_plain_service_task(spec: Any) -> bool:
    """A service task with one flow in and one out, no scripts and no boundary events of its own."""
    return (hasattr(spec, "operation_name") and hasattr(spec, "result_variable") and len(spec.inputs) == 1
            and len(spec.outputs) == 1 and not getattr(spec, "prescript", None)
            and not getattr(spec, "postscript", None))


def is_business_rule_task(spec: Any) -> bool:
    """A business rule task (a DMN decision) with one flow in and one out and no boundary events of its own; its
    pre- and post-scripts, if any, are run dry with it (they set what the decision reads, as 按方案确定收费标准's
    takes the plan's voltage)."""
    return hasattr(spec, "dmnEngine") and len(spec.inputs) == 1 and len(spec.outputs) == 1


def reruns_dry(spec: Any) -> bool:
    """Whether an inserted step can be run dry on a case's data to see what it would change."""
    return is_plain_service_task(spec) or is_business_rule_task(spec)


def recheck_skipped(before: Any, chain: list[Any], fills: dict[str, Any]) -> str | None:
    """Run the inserted service and business rule tasks ``chain`` on the data the case had after task ``before``:
    None when their results only fill values the case left empty or give it what it holds (the filled values are
    added to ``fills``), else what they would change, each value under the step that would change it first (a
    refusal's phrase)."""
    lead = f"the case went past {', '.join(step_name(spec) for spec in chain)}, which the target version inserted here"
    data = copy.deepcopy(before.data)
    changed_by: dict[str, Any] = {}  # path of a value the case holds -> the inserted step that changes it first
    for spec in chain:
        try:
            if is_business_rule_task(spec):
                data = decide_dry(before, spec, data)
            else:
                result, side_effects = run_dry(before, spec, data)
                if side_effects:
                    return f"{lead}; {step_name(spec)} would have {side_effects}"
                data[spec.result_variable] = result
        except Exception as err:
            return (f"{lead}; {step_name(spec)} cannot be rerun on the case's data to compare "
                    f"({describe(err)})")
        for path, _old, _new in overwritten(before.data, data):
            changed_by.setdefault(path, spec)
    changes = list(overwritten(before.data, data))
    if not changes:
        fills.update(filled(before.data, data))
        return None
    return f"{lead}; run on the case's data, {changes_by_step(changes, changed_by)}"


def step_name(spec: Any) -> str:
    return f"{spec.bpmn_name} ({spec.bpmn_id})" if spec.bpmn_name else str(spec.bpmn_id)


MAX_CHANGES = 4
"""A refusal quotes at most this many changed values, then counts the rest."""


def changes_by_step(changes: list[tuple[str, Any, Any]], changed_by: dict[str, Any]) -> str:
    """``按方案确定收费标准 (decide_plan_fee_rates) would change supply_voltage_kv to `10` (the case has `0.4`);
    按方案核定费用 (recalculate_fees) would change fees.total …``: the values the inserted steps would change, under
    the step that changes each first, in the order the steps run."""
    shown = changes[:MAX_CHANGES]
    steps = list(dict.fromkeys(changed_by.get(path) for path, _old, _new in shown))
    parts = []
    for spec in steps:
        values = "; ".join(f"{path} to `{clip(json.dumps(new, ensure_ascii=False))}` (the case has "
                           f"`{clip(json.dumps(old, ensure_ascii=False))}`)"
                           for path, old, new in shown if changed_by.get(path) is spec)
        parts.append(f"{step_name(spec) if spec is not None else 'they'} would change {values}")
    more = f"; {len(changes) - MAX_CHANGES} more" if len(changes) > MAX_CHANGES else ""
    return "; ".join(parts) + more


def decide_dry(before: Any, spec: Any, data: dict[str, Any]) -> dict[str, Any]:
    """The data an inserted business rule task would leave, run on a stand-in task holding a copy of ``data``
    with the case's script engine, as the engine runs it: its pre-script (when the task becomes ready), the
    decision's result merged into the data (``BusinessRuleTaskMixin._run_hook``), its post-script."""
    stand_in = copy.copy(before)
    stand_in.task_spec = spec
    stand_in.data = copy.deepcopy(data)
    engine = before.workflow.script_engine
    if getattr(spec, "prescript", None):
        engine.execute(stand_in, spec.prescript)
    decided = json.loads(json.dumps(spec.dmnEngine.result(stand_in), ensure_ascii=False))  # as a save keeps it
    stand_in.data = DeepMerge.merge(stand_in.data, decided)
    if getattr(spec, "postscript", None):
        engine.execute(stand_in, spec.postscript)
    result: dict[str, Any] = stand_in.data
    return result


def run_dry(before: Any, spec: Any, data: dict[str, Any]) -> tuple[Any, str]:
    """The result ``spec`` would store, evaluated on a stand-in task holding ``data``, with the case's script
    engine and a handler context whose outbox and archive are its own; and what it sent or archived, in words."""
    stand_in = copy.copy(before)
    stand_in.task_spec = spec
    stand_in.data = copy.deepcopy(data)
    engine = before.workflow.script_engine
    params = {name: value["value"] for name, value in spec.evaluate_params(stand_in).items()}
    outbox, archive = MemoryOutbox(), MemoryArchive()
    context = dataclasses.replace(engine.context_factory(stand_in), outbox=outbox, archive=archive)
    result = json.loads(json.dumps(engine.registry.call(spec.operation_name, context, params), ensure_ascii=False))
    effects = [f"sent {len(outbox.messages)} notification(s)"] if outbox.messages else []
    if len(archive):
        effects.append("updated the customer archive")
    return result, " and ".join(effects)


def overwritten(old: Any, new: Any, path: str = "") -> Iterator[tuple[str, Any, Any]]:
    """(path, value the case holds, value ``new`` has) wherever ``new`` changes or drops a value ``old`` holds;
    filling an absent or None value is no change."""
    if old is EMPTY or old is None:
        return
    if isinstance(old, dict) and isinstance(new, dict):
        for key, value in old.items():
            yield from overwritten(value, new.get(key, EMPTY), f"{path}.{key}" if path else str(key))
        return
    if new is EMPTY or old != new:
        yield path, old, None if new is EMPTY else new


def filled(old: Any, new: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """(path, value) wherever ``new`` holds a value (not None) where ``old`` holds none."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key, value in new.items():
            yield from filled(old.get(key, EMPTY), value, f"{path}.{key}" if path else str(key))
    elif (old is EMPTY or old is None) and new is not None and path:
        yield path, new


def fill_in(workflow: Any, fills: dict[str, Any]) -> dict[str, Any]:
    """Write ``fills`` (dotted path: value) into the data of every task the case reached, where it holds no value
    there yet; reassigning each top-level variable (task data share nested dicts: ENGINE-NOTES.md). Completed
    tasks too: a join merges the data of the branches that reached it, so a completed branch must not bring the
    empty value back. The values written, by path."""
    written: dict[str, Any] = {}
    for task in workflow.get_tasks(state=ACTIVE):
        for path, value in fills.items():
            top, *rest = path.split(".")
            replaced = with_value(task.data.get(top, EMPTY), rest, value)
            if replaced is not None:
                task.data[top] = replaced
                written[path] = value
    return written


def with_value(data: Any, keys: list[str], value: Any) -> Any:
    """A copy of ``data`` with ``value`` at ``keys`` where it holds none; None when it holds one there already or
    a step of the path is no dict."""
    if not keys:
        return value if data is EMPTY or data is None else None
    if not isinstance(data, dict):
        return None
    inner = with_value(data.get(keys[0], EMPTY), keys[1:], value)
    return None if inner is None else {**data, keys[0]: inner}


# -- gateways and running steps ----------------------------------------------------------------------------------


def untaken_conditions(task: Any, before: dict[str, Any], after: dict[str, Any]) -> frozenset[str]:
    """``cond_task_specs`` (and ``default_task_spec``) when a completed gateway keeps its conditions in order and
    only flows the case did not take lead elsewhere (serialized specs ``before``/``after``)."""
    taken = {child.task_spec.name for child in task.children if child.has_state(ACTIVE)}
    old, new = before.get("cond_task_specs") or [], after.get("cond_task_specs") or []
    if len(old) != len(new) or any(a["condition"] != b["condition"] for a, b in zip(old, new, strict=True)):
        return frozenset()
    if any(a["task_spec"] != b["task_spec"] and a["task_spec"] in taken for a, b in zip(old, new, strict=True)):
        return frozenset()
    kept = {"cond_task_specs"}
    if before.get("default_task_spec") not in taken:
        kept.add("default_task_spec")
    return frozenset(kept)


def unreached_outputs(task: Any) -> frozenset[str]:
    """``outputs`` of a started task none of whose successors the case reached: they are predicted anew."""
    if any(child.has_state(ACTIVE) for child in task.children):
        return frozenset()
    return frozenset({"outputs"})


# -- forms -------------------------------------------------------------------------------------------------------


def form_kinds(kinds: frozenset[str]) -> frozenset[str]:
    """The kinds that say a form file's content changed (``form <file>``)."""
    return frozenset(kind for kind in kinds if kind.startswith("form "))


def answer_problem(task: Any, answer: Any, old_form: dict[str, Any], new_form: dict[str, Any]) -> str | None:
    """None when a completed user task's recorded ``answer`` is one the new form takes as it is: the new form has
    no field the old one lacked, and the answer passes its schema and completion checks (evaluated on ``task``'s
    data, on the case's clock); else why not, in a refusal's words ("" for a new field: the form's own phrase
    names it)."""
    if set(new_form.get("properties") or {}) - set(old_form.get("properties") or {}):
        return ""
    if not isinstance(answer, dict):
        return "the case's answer to it is not known"
    try:
        validate_form_data(new_form, answer)
        engine = task.workflow.script_engine
        problems = completion_problems(new_form, lambda text: engine.evaluate(
            task, text, external_context={"answer": answer}))
    except FormValidationError as err:
        problems = err.errors
    except Exception as err:  # a check the model got wrong: the answer cannot be shown to pass
        return f"the case's answer cannot be checked against it ({type(err).__name__}: {err})"
    if not problems:
        return None
    return "the case's answer does not pass it (" + "; ".join(
        f"{path or 'form'}: {message}" for path, message in problems[:3]) + ")"
