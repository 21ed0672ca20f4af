"""Staff steps without a time limit: a warning of ``baozhuang validate`` (``runner.validation.FolderReport``).

Every utility-side step carries a boundary timer (its SLA, docs/process-model.md "Timers"): on the task itself, or
on a stage (embedded subprocess) holding it, or on the call activity that calls its process. A new staff task
without one is probably an oversight: the step would never be escalated (督办) nor show a due date. Some steps have
no limit on purpose; such a task says so with the property ``timeLimit`` = ``none``
(``<spiffworkflow:property name="timeLimit" value="none" />``) and is not warned about. Customer tasks (lane
``lane_customer``) are the customer's time and never carry one.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .diagram_checks import element_called
from .form_field_checks import HUMAN_TASK_TAGS
from .process_folder import BPMN_NS, LANE_PREFIX, NS, Problem, lane_roles

CUSTOMER_ROLE = "customer"
NO_LIMIT_PROPERTY = "timeLimit"
NO_LIMIT_VALUE = "none"
SCOPES = ("subProcess", "transaction", "adHocSubProcess", "callActivity")


def untimed_staff_tasks(trees: dict[Path, Any]) -> Iterator[Problem]:
    """A warning for each staff user task that no boundary timer guards (see the module's description)."""
    timed = _timed_elements(trees)
    calls = {call.get("calledElement"): call for tree in trees.values()
             for call in tree.iter(f"{{{BPMN_NS}}}callActivity") if call.get("calledElement")}
    for path, tree in trees.items():
        roles = lane_roles(tree)
        for tag in HUMAN_TASK_TAGS:
            for task in tree.iterfind(f".//bpmn:{tag}", NS):
                task_id = task.get("id", "-")
                role = roles.get(task_id) or next((roles[owner.get("id")] for owner in task.iterancestors()
                                                    if owner.get("id") in roles), None)
                if role is None or role == CUSTOMER_ROLE or _marked(task) or _guarded(task, timed, calls, set()):
                    continue
                yield Problem(str(path), task.sourceline, task_id,
                              f"{element_called(task, 'user task')} in {LANE_PREFIX}{role} has no time limit: "
                              "no boundary timer on it, on a stage holding it or on the call activity calling its "
                              "process, though every utility step has one (docs/process-model.md, Timers); add a "
                              "non-interrupting timer (working_deadline(limits[…], …)) and its 督办, or mark it as "
                              f'having none: <spiffworkflow:property name="{NO_LIMIT_PROPERTY}" '
                              f'value="{NO_LIMIT_VALUE}" />')


def _timed_elements(trees: dict[Path, Any]) -> set[str]:
    """Ids of the elements a timer boundary event is attached to."""
    return {event.get("attachedToRef") for tree in trees.values() for event in tree.iter(f"{{{BPMN_NS}}}boundaryEvent")
            if event.find("bpmn:timerEventDefinition", NS) is not None and event.get("attachedToRef")}


def _guarded(element: Any, timed: set[str], calls: dict[str, Any], seen: set[str]) -> bool:
    """Whether a timer is attached to the element, to a subprocess holding it, or to a call activity calling the
    process holding it (and so on up)."""
    for owner in [element, *element.iterancestors()]:
        if owner.get("id") in timed:
            return True
        if owner.tag == f"{{{BPMN_NS}}}process":
            process_id = owner.get("id")
            call = calls.get(process_id)
            if call is None or process_id in seen:
                return False
            return _guarded(call, timed, calls, seen | {process_id})
    return False


def _marked(task: Any) -> bool:
    return any(prop.get("name") == NO_LIMIT_PROPERTY and (prop.get("value") or "").strip().lower() == NO_LIMIT_VALUE
               for prop in task.iterfind("bpmn:extensionElements/spiffworkflow:properties/spiffworkflow:property",
                                         NS))
