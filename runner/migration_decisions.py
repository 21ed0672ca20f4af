"""Whether a completed business rule task would decide the same for its case under the target version's table.

A completed decision is not run again when its case moves, so a changed table matters to a case only where it
would give that case another result. ``recheck_decision`` evaluates both tables on the data the engine evaluated
the old one on and compares with what the case recorded.

The data a business rule task decided on: SpiffWorkflow 3.2's ``BusinessRuleTaskMixin._run_hook`` merges the
decision's result (``DMNEngine.result``, output names with dots built into nested dicts) into the task's data with
``DeepMerge.merge``; the task's data are what it inherited from its parent when it became ready
(``TaskSpec._update_hook`` → ``Task._inherit_data``). The parent is completed and keeps its data, so the inputs are
the parent's data. They are trusted only if the case's own table, evaluated on them now, gives exactly the data the
task recorded (parent's data merged with the result): a pre- or post-script, data the parent changed later, or an
expression depending on the day would break that, and the case is then refused as before (``failure`` says why).
An output column the case's table did not have, and the case therefore holds no value of, is no difference: what
the case decided is unchanged; what the new column gives it is filled in when the case moves (``new_columns``,
decision 99).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from SpiffWorkflow.util.deep_merge import DeepMerge

MISSING = object()
"""An output the result does not hold (no rule matched, or the column is new)."""


@dataclass
class Recheck:
    """``same``: the new table gives the case the data it recorded; else ``differences`` (output name, what the
    new table gives, what the case got) or ``failure`` (why the case's result could not be rechecked)."""

    same: bool = False
    differences: list[tuple[str, Any, Any]] = field(default_factory=list)
    failure: str = ""
    new_columns: dict[str, Any] = field(default_factory=dict)
    """What the new table's added output columns give the case (a value, not None): the move fills them in."""


def output_names(spec: Any) -> list[str]:
    return [str(output.name or output.label) for output in spec.dmnEngine.decision_table.outputs]


def result_variables(spec: Any) -> frozenset[str]:
    """The top-level task-data names a business rule task's decision writes (``limits`` for ``limits.x``)."""
    return frozenset(name.split(".", 1)[0] for name in output_names(spec))


def recheckable(old_spec: Any, new_spec: Any) -> bool:
    """Both are business rule tasks writing the same result variables (the calling element and the decision it
    calls are the same: the caller checks that only the table changed)."""
    return (hasattr(old_spec, "dmnEngine") and hasattr(new_spec, "dmnEngine")
            and result_variables(old_spec) == result_variables(new_spec))


def recheck_decision(task: Any, old_spec: Any, new_spec: Any) -> Recheck:
    """Evaluate ``new_spec``'s table on the data ``task`` (completed, of ``old_spec``) decided on."""
    if getattr(old_spec, "prescript", None) or getattr(old_spec, "postscript", None):
        return Recheck(failure="the task has a pre- or post-script, so the data it decided on are not known")
    if task.parent is None:
        return Recheck(failure="the data it decided on are not known")
    inputs = task.parent.data
    try:
        old_result = evaluate(old_spec, task, inputs)
    except Exception as err:
        return Recheck(failure=f"the case's own table no longer evaluates on its data ({describe(err)})")
    if merged(inputs, old_result) != task.data:
        return Recheck(failure="the data it decided on are not known (the case's own table, evaluated on them "
                               "again, does not give what the case recorded)")
    try:
        new_result = evaluate(new_spec, task, inputs)
    except Exception as err:
        return Recheck(failure=f"the new table fails on this case's data ({describe(err)})")
    if merged(inputs, new_result) == task.data:
        return Recheck(same=True)
    differences = []
    new_columns: dict[str, Any] = {}
    old_outputs = output_names(old_spec)
    for name in dict.fromkeys(old_outputs + output_names(new_spec)):
        now, got = lookup(new_result, name), lookup(task.data, name)
        if now is MISSING and got is MISSING:
            continue
        if name not in old_outputs and got is MISSING:
            if now is not MISSING and now is not None:
                new_columns[name] = now
            continue  # a column the case's table did not have: nothing the case decided differs
        if now is MISSING or got is MISSING or now != got:
            differences.append((name, now, got))
    return Recheck(same=not differences, differences=differences, new_columns=new_columns if not differences else {})


def evaluate(spec: Any, task: Any, inputs: dict[str, Any]) -> dict[str, Any]:
    """The result of ``spec``'s table on a copy of ``inputs``, with the case's script engine (its expression
    functions, clock and calendar), as the business rule task computes it. The task is a shallow copy of the case's:
    its data are never touched."""
    stand_in = copy.copy(task)
    stand_in.data = copy.deepcopy(inputs)
    stand_in.task_spec = spec
    result: dict[str, Any] = spec.dmnEngine.result(stand_in)
    return result


def merged(inputs: dict[str, Any], result: dict[str, Any]) -> Any:
    """The task's data after the decision: its inputs with the result merged in (``BusinessRuleTaskMixin``)."""
    return DeepMerge.merge(copy.deepcopy(inputs), copy.deepcopy(result))


def lookup(data: Any, name: str) -> Any:
    """The value at an output name's dotted path in ``data``, else ``MISSING``."""
    value = data
    for key in name.split("."):
        if not isinstance(value, dict) or key not in value:
            return MISSING
        value = value[key]
    return value


def describe(err: Exception) -> str:
    """``ZeroDivisionError: division by zero (in expression '8 / 0')``: the error an expression raised (the
    library wraps it in a ``WorkflowTaskException`` that keeps its type's name), and the library's message and
    notes; the library's own errors (a table matching no rule …) by their message alone."""
    message = " ".join(" ".join([str(err), *getattr(err, "__notes__", [])]).split()).removesuffix(".")
    kind = getattr(err, "error_type", type(err).__name__)
    if kind == "unknown":
        return message or type(err).__name__
    inner = err.__cause__ or err.__context__  # the expression's own error, when the library wrapped it
    if inner is not None and str(inner) and str(inner) not in message:
        return f"{kind}: {inner} ({message})" if message else f"{kind}: {inner}"
    return f"{kind}: {message}" if message else str(kind)
