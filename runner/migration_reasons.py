"""Why ``baozhuang migrate`` refuses a case, in the words of the analyst who edited the BPMN in a modeler.

``runner.migration`` decides with the engine's view of a step (the attributes of its serialized task spec that
differ); this module says the same thing the way the modeler shows it: the step by its name and id, its state
("completed", "open" …), and what the target version changed — its form file, script, condition, decision table
(with the DMN decision it calls), timer expression, called process, lane and role, incoming or outgoing flows and
which ones; for a completed decision whose table changed, what the new table would give this case against what
it recorded (``decision_result_change``). Scripts and expressions are quoted clipped to a line, never whole.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

STATE_WORDS = {"completed": "completed", "started": "in progress", "ready": "open", "waiting": "waiting",
               "error": "failed"}
"""The engine's task states as the analyst says them: a ready user task is open in someone's work list, a started
one (a running subprocess, an activity whose boundary events are armed) is in progress."""
STATE_ORDER = ("completed", "started", "ready", "waiting", "error")
CLIP = 60
"""How much of a script line or an expression a reason quotes."""
MAX_ROWS = 8
"""A decision table's changed rows are listed by number up to this many, else counted."""
SPLIT, JOIN = ".BoundaryEventSplit", ".BoundaryEventJoin"
"""The engine's bookkeeping specs of an activity with boundary events (``<activity id><suffix>``)."""

TYPE_WORDS = {
    "UserTask": "user task", "ManualTask": "manual task", "ScriptTask": "script task", "ServiceTask": "service task",
    "BusinessRuleTask": "business rule task", "SendTask": "send task", "ReceiveTask": "receive task",
    "NoneTask": "task", "CallActivity": "call activity", "SubWorkflowTask": "subprocess",
    "TransactionSubprocess": "transaction subprocess", "ExclusiveGateway": "exclusive gateway",
    "InclusiveGateway": "inclusive gateway", "ParallelGateway": "parallel gateway",
    "EventBasedGateway": "event-based gateway", "StartEvent": "start event", "EndEvent": "end event",
    "IntermediateCatchEvent": "intermediate catch event", "IntermediateThrowEvent": "intermediate throw event",
    "BoundaryEvent": "boundary event", "RearmingBoundaryEvent": "boundary event",
}
ENGINE_DETAILS = frozenset({"description", "manual", "lookahead"})


# -- naming steps ------------------------------------------------------------------------------------------------


def step_label(spec: Any) -> str:
    """``审核供电方案 (review_plan)``; the id alone for an unnamed element; the engine's bookkeeping specs as the
    modeler element they stand for."""
    bpmn_id = getattr(spec, "bpmn_id", None)
    if bpmn_id:
        name = getattr(spec, "bpmn_name", None)
        return f"{name} ({bpmn_id})" if name else str(bpmn_id)
    name = str(spec.name)
    process = getattr(spec, "_wf_spec", None)
    for suffix in (SPLIT, JOIN):
        owner = process.task_specs.get(name[: -len(suffix)]) if process and name.endswith(suffix) else None
        if owner is not None:
            return f"the boundary events of {step_label(owner)}"
    process_name = getattr(process, "name", "")
    if name == "Start":
        return f"the start of process {process_name}"
    if name == "End" or name.endswith(".EndJoin"):
        return f"the end of process {process_name}"
    return name


def states_text(states: Iterable[str]) -> str:
    known = [state for state in STATE_ORDER if state in states]
    others = sorted(set(states) - set(known))
    return " and ".join(STATE_WORDS.get(state, state) for state in known + others)


def heading(spec: Any, states: Iterable[str]) -> str:
    """``审核供电方案 (review_plan, completed)``: the step, its id and the state the case has it in; an unnamed
    element by its kind and id (``exclusive gateway gw_draft_merge (completed)``)."""
    state = states_text(states)
    bpmn_id, name = getattr(spec, "bpmn_id", None), getattr(spec, "bpmn_name", None)
    if bpmn_id and name:
        return f"{name} ({bpmn_id}, {state})"
    kind = spec_kind(spec)
    if bpmn_id and kind:
        return f"{kind} {bpmn_id} ({state})"
    return f"{step_label(spec)} ({state})"


INTERNAL_KINDS = frozenset({"ExclusiveGateway", "InclusiveGateway", "ParallelGateway", "EventBasedGateway",
                            "StartEvent", "EndEvent"})
"""Elements that do no work of their own: left out of a refusal when unnamed and a neighbour's refusal already
says what changed about their flows (``runner.migration.plan_migration``)."""


def spec_kind(spec: Any) -> str | None:
    """The modeler's word for a spec's element (``exclusive gateway``), through the runner's own subclasses."""
    for cls in type(spec).__mro__:
        if cls.__name__ in TYPE_WORDS:
            return TYPE_WORDS[cls.__name__]
    return None


def is_internal(spec: Any) -> bool:
    """An unnamed gateway, start or end event, or one of the engine's bookkeeping specs (no BPMN id)."""
    if getattr(spec, "bpmn_name", None):
        return False
    return not getattr(spec, "bpmn_id", None) or any(cls.__name__ in INTERNAL_KINDS for cls in type(spec).__mro__)


REMOVED = "it is not in the target version (removed there, or its id changed)"


def missing_process(caller: Any, process_name: str, where: str) -> str:
    """Why a (sub)process the case ran or runs cannot move: ``where`` (a version) has no such process."""
    if getattr(caller, "bpmn_id", None) == process_name:  # an embedded subprocess: the process is the element
        return f"this subprocess does not exist in {where}"
    return f'the process it calls, "{process_name}", does not exist in {where}'


# -- what changed ------------------------------------------------------------------------------------------------


class ChangeWords:
    """The phrases for the changed attributes (``kinds``) of one step between two versions.

    ``before``/``after`` are the serialized task specs; ``old``/``new`` the specs themselves (for the names of
    the elements their flows lead to); ``forms`` and ``roles`` the two versions' form files and roles per element.
    """

    def __init__(self, old: Any, new: Any, before: dict[str, Any], after: dict[str, Any],
                 forms: tuple[dict[str, Any], dict[str, Any]], roles: tuple[str | None, str | None]) -> None:
        self.old, self.new, self.before, self.after = old, new, before, after
        self.forms, self.roles = forms, roles

    def phrases(self, kinds: frozenset[str]) -> list[str]:
        said: list[str] = []
        handled: set[str] = set()
        for keys, phrase in self._table():
            present = kinds & keys
            if present:
                handled |= present
                said.extend(phrase(kinds))
        for kind in sorted(kinds - handled):
            if kind.startswith("form "):
                said.append(self._form_content(kind[len("form "):]))
            else:
                said.append(f'its "{kind}" setting changed')
        said = list(dict.fromkeys(phrase for phrase in said if phrase))
        return said or [f"its definition changed ({', '.join(sorted(kinds))})"]

    def _table(self) -> list[tuple[frozenset[str], Callable[[frozenset[str]], list[str]]]]:
        return [
            (frozenset({"typename"}), lambda _k: [self._type()]),
            (frozenset({"extensions"}), self._extensions),
            (frozenset({"script"}), lambda _k: [script_change("its script", self._get("script"))]),
            (frozenset({"prescript"}), lambda _k: [script_change("its pre-script", self._get("prescript"))]),
            (frozenset({"postscript"}), lambda _k: [script_change("its post-script", self._get("postscript"))]),
            (frozenset({"decision_table"}), self._decision_table),
            (frozenset({"operation_name"}), lambda _k: [self._was("it now calls service", "operation_name")]),
            (frozenset({"operation_params"}), lambda _k: [self._service_parameters()]),
            (frozenset({"result_variable"}), lambda _k: [self._was("its service result goes to variable",
                                                                   "result_variable")]),
            (frozenset({"spec"}), lambda _k: [self._called_process()]),
            (frozenset({"event_definition"}), lambda _k: [self._event()]),
            (frozenset({"cancel_activity"}), lambda _k: [self._interrupting()]),
            (frozenset({"cond_task_specs", "default_task_spec"}), self._conditions),
            (frozenset({"inputs"}), lambda _k: [self._incoming()]),
            (frozenset({"outputs"}), lambda k: [] if "cond_task_specs" in k else [self._outgoing()]),
            # a gateway's conditions name each of its outgoing flows, those that came and went included
            (frozenset({"lane", "role"}), self._lane),
            (frozenset({"data_input_associations", "data_output_associations", "io_specification"}),
             lambda _k: ["its data inputs or outputs changed"]),
            (ENGINE_DETAILS, self._engine_details),
            (frozenset({"bpmn_name"}), lambda _k: [self._renamed()]),  # what the step does first, its label last
            (frozenset({"documentation"}), lambda _k: ["its documentation changed"]),
        ]

    def _engine_details(self, kinds: frozenset[str]) -> list[str]:
        if kinds & {"typename", "event_definition"}:
            return []  # the engine's description of the element follows its type and event
        return [f'its "{kind}" setting changed' for kind in sorted(kinds & ENGINE_DETAILS - {"description"})]

    def _get(self, key: str) -> tuple[Any, Any]:
        return self.before.get(key), self.after.get(key)

    def _was(self, prefix: str, key: str) -> str:
        old, new = self._get(key)
        return f'{prefix} "{new}" (was "{old}")'

    def _type(self) -> str:
        old, new = self._get("typename")
        return f"its type changed: {type_word(new)} (was {type_word(old)})"

    def _renamed(self) -> str:
        old, new = self._get("bpmn_name")
        return f'its name changed to "{new or ""}" (was "{old or ""}")'

    def _extensions(self, kinds: frozenset[str]) -> list[str]:
        old, new = (value or {} for value in self._get("extensions"))
        said = []
        old_props, new_props = old.get("properties", {}), new.get("properties", {})
        for key in sorted(old_props.keys() | new_props.keys()):
            before, after = old_props.get(key), new_props.get(key)
            if before == after:
                continue
            if key == "formJsonSchemaFilename":
                fields = form_changes(*self.forms) if before and after else []
                detail = f"; {'; '.join(fields)}" if fields else ""
                said.append(f"its form changed: now file {after or 'none'} (was {before or 'none'}{detail})")
            elif key == "formUiSchemaFilename":
                said.append(f"its form layout changed: now file {after or 'none'} (was {before or 'none'})")
            else:
                said.append(f'its property "{key}" changed: "{clip(after)}" (was "{clip(before)}")')
        covered = {"properties", "preScript", "postScript"}  # the prescript/postscript attributes say those
        if kinds & {"operation_name", "operation_params", "result_variable"}:
            covered.add("serviceTaskOperator")
        for key in sorted((old.keys() | new.keys()) - covered):
            if old.get(key) == new.get(key):
                continue
            if key == "calledDecisionId":
                said.append(f'it now calls DMN decision "{new.get(key)}" (was "{old.get(key)}")')
            elif key == "instructionsForEndUser":
                said.append("its instructions changed")
            elif key == "serviceTaskOperator":
                said.append("its service call changed")
            else:
                said.append(f'its extension "{key}" changed')
        return said

    def _decision_table(self, _kinds: frozenset[str]) -> list[str]:
        old, new = (value or {} for value in self._get("decision_table"))
        old_ref, new_ref = ((spec.get("extensions") or {}).get("calledDecisionId") for spec in (self.before,
                                                                                                 self.after))
        if old_ref != new_ref:
            return []  # another decision: saying it calls that one says it all
        decision = new_ref or new.get("id")
        parts = []
        if old.get("hit_policy") != new.get("hit_policy"):
            parts.append(f"hit policy {new.get('hit_policy')} (was {old.get('hit_policy')})")
        for key, word in (("inputs", "input columns"), ("outputs", "output columns")):
            if old.get(key) != new.get(key):
                parts.append(f"{word} changed")
        parts.extend(rule_changes(old.get("rules", []), new.get("rules", [])))
        detail = f": {'; '.join(parts)}" if parts else ""
        return [f'its decision table (DMN decision "{decision}") changed{detail}']

    def decision_name(self) -> str:
        """The DMN decision the step calls (its ``calledDecisionId``, else the table's id)."""
        decision = (self.after.get("extensions") or {}).get("calledDecisionId")
        return str(decision or (self.after.get("decision_table") or {}).get("id"))

    def _service_parameters(self) -> str:
        old, new = (value or {} for value in self._get("operation_params"))
        parts = []
        added = sorted(new.keys() - old.keys())
        removed = sorted(old.keys() - new.keys())
        changed = sorted(key for key in old.keys() & new.keys() if old[key] != new[key])
        if changed:
            parts.append("changed: " + ", ".join(f"{key} = `{clip(param_value(new[key]))}` "
                                                 f"(was `{clip(param_value(old[key]))}`)" for key in changed))
        if added:
            parts.append("new: " + ", ".join(added))
        if removed:
            parts.append("removed: " + ", ".join(removed))
        return f"its service parameters changed ({'; '.join(parts)})"

    def _called_process(self) -> str:
        old, new = self._get("spec")
        if self.after.get("typename") == "CallActivity":
            return f'it now calls process "{new}" (was "{old}")'
        return f'its subprocess changed: "{new}" (was "{old}")'

    def _event(self) -> str:
        old, new = (value or {} for value in self._get("event_definition"))
        old_kind, new_kind = event_word(old.get("typename", "")), event_word(new.get("typename", ""))
        if old_kind != new_kind:
            return f"its event type changed: {new_kind} (was {old_kind})"
        if new_kind == "timer" and old.get("expression") != new.get("expression"):
            return (f"its timer expression changed: `{clip(new.get('expression'))}` "
                    f"(was `{clip(old.get('expression'))}`)")
        if old.get("name") != new.get("name"):
            return f'it now uses {new_kind} "{new.get("name")}" (was "{old.get("name")}")'
        for key, word in (("code", "code"), ("expression", "expression"), ("message_var", "message variable"),
                          ("variable", "variable")):
            if old.get(key) != new.get(key):
                return f"its {new_kind} {word} changed: `{clip(new.get(key))}` (was `{clip(old.get(key))}`)"
        return f"its {new_kind} event definition changed"

    def _interrupting(self) -> str:
        interrupting = self.after.get("cancel_activity")
        return f"it is now an {'interrupting' if interrupting else 'non-interrupting'} boundary event"

    def _conditions(self, kinds: frozenset[str]) -> list[str]:
        """Each outgoing flow of a gateway by its target and condition (``none``: the default or an unconditional
        flow). Flows are matched per target, so a second flow to the same element is a new flow, not a changed
        condition; a target with one flow before and one after whose condition differs is a changed condition."""
        old, new = self._flows_by_target(self.before), self._flows_by_target(self.after)
        said = [*wrapping_changes(self.old, self.new)]
        for target in dict.fromkeys([*new, *old]):
            added = [condition for condition in new.get(target, []) if condition not in old.get(target, [])]
            gone = [condition for condition in old.get(target, []) if condition not in new.get(target, [])]
            if len(added) == 1 and len(gone) == 1 and len(old[target]) == len(new[target]):
                said.append(f"the condition of its flow to {self._target(target, self.new)} changed: "
                            f"`{clip(added[0]) or 'none'}` (was `{clip(gone[0]) or 'none'}`)")
                continue
            more = "one more" if target in old else "a new"
            said.extend(f"it has {more} outgoing flow to {self._target(target, self.new)}"
                        + (f" (condition `{clip(condition)}`)" if condition else " (no condition)")
                        for condition in added)
            said.extend(f"its flow to {self._target(target, self.old)}"
                        + (f" (condition `{clip(condition)}`)" if condition else "") + " is gone"
                        for condition in gone)
        old_default, new_default = (unwrapped(name) for name in self._get("default_task_spec"))
        if "default_task_spec" in kinds and old_default != new_default:
            said.append(f"its default flow now goes to {self._target(new_default, self.new)} "
                        f"(was {self._target(old_default, self.old)})")
        if not said:
            said.append("the order in which its outgoing flows' conditions are checked changed")
        return said

    @staticmethod
    def _flows_by_target(spec: dict[str, Any]) -> dict[str, list[str]]:
        """A gateway's outgoing flows: their conditions (empty: none) by target, in the gateway's order."""
        flows: dict[str, list[str]] = {}
        for entry in spec.get("cond_task_specs") or []:
            flows.setdefault(unwrapped(entry["task_spec"]) or "", []).append(entry["condition"] or "")
        return flows

    def _target(self, spec_name: str | None, spec: Any) -> str:
        if spec_name is None:
            return "none"
        target = spec._wf_spec.task_specs.get(spec_name)
        return step_label(target) if target is not None else spec_name

    def _incoming(self) -> str:
        return "its incoming sequence flows changed" + self._ends("inputs", "new source", "no longer from")

    def _outgoing(self) -> str:
        return "its outgoing sequence flows changed" + self._ends("outputs", "new target", "no longer to")

    def _ends(self, side: str, added_word: str, removed_word: str) -> str:
        """Which elements its flows come from (or go to) now and no longer, and how many flows join it to an
        element it had flows with before when that number changed (a second flow from the same gateway)."""
        old, new = flow_ends(self.old, side), flow_ends(self.new, side)
        old_count, new_count = Counter(key for key, _ in old), Counter(key for key, _ in new)
        labels = dict(old) | dict(new)
        added = [labels[key] for key in new_count if key not in old_count]
        removed = [labels[key] for key in old_count if key not in new_count]
        parts = []
        if added:
            parts.append(f"{added_word}: {', '.join(added)}")
        if removed:
            parts.append(f"{removed_word}: {', '.join(removed)}")
        way = "from" if side == "inputs" else "to"
        parts.extend(f"now {new_count[key]} flows {way} {labels[key]} (was {old_count[key]})"
                     for key in new_count if key in old_count and new_count[key] != old_count[key])
        if not parts and has_boundary_events(self.old) != has_boundary_events(self.new):
            attached = boundary_events(self.new)
            parts.append(f"boundary events were attached: {', '.join(attached)}" if attached
                         else "its boundary events were removed")
        if not parts and side == "outputs":
            parts.extend(wrapping_changes(self.old, self.new))
        if not parts:
            parts.append("the engine's wiring of its flows differs")
        return f" ({'; '.join(parts)})"

    def _lane(self, kinds: frozenset[str]) -> list[str]:
        old_lane, new_lane = self._get("lane")
        old_role, new_role = self.roles
        if "lane" in kinds and "role" in kinds:
            return [f"it moved to lane {new_lane} (role {new_role}; was lane {old_lane}, role {old_role})"]
        if "lane" in kinds:
            return [f"it moved to lane {new_lane} (was {old_lane})"]
        return [f"it moved to role {new_role} (was {old_role})"]

    def _form_content(self, filename: str) -> str:
        old, new = self.forms
        parts = form_changes(old, new)
        return f"its form {filename} changed ({'; '.join(parts)})" if parts else f"its form {filename} changed"


def decision_result_change(decision: str, differences: list[tuple[str, Any, Any]], missing: Any) -> str:
    """``its decision table (DMN decision "time_limits") now gives limits.plan_reply 6 (the case got 8)``: what a
    completed decision would give this case under the target version's table, against what it recorded."""
    parts = [f"{name} {value_word(now, missing)} (the case got {value_word(got, missing)})"
             for name, now, got in differences[:MAX_ROWS]]
    if len(differences) > MAX_ROWS:
        parts.append(f"{len(differences) - MAX_ROWS} more outputs differ")
    detail = ", ".join(parts) or "another result"
    return f'its decision table (DMN decision "{decision}") now gives {detail}'


def decision_not_rechecked(phrase: str, why: str) -> str:
    """Today's phrase for a changed table, and why the case's result under it could not be rechecked."""
    return f"{phrase}, and this case's result under it cannot be rechecked: {why}"


def value_word(value: Any, missing: Any) -> str:
    """A decision output as the DMN editor shows it: strings in double quotes, ``no value`` when absent."""
    if value is missing:
        return "no value"
    if isinstance(value, str):
        return clip(json.dumps(value, ensure_ascii=False))
    return clip(repr(value))


# -- small helpers -----------------------------------------------------------------------------------------------


def clip(value: Any, limit: int = CLIP) -> str:
    """One line of at most ``limit`` characters: a long script or expression is quoted, not dumped."""
    text = " ".join(str(value if value is not None else "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def script_change(what: str, values: tuple[Any, Any]) -> str:
    """``its script changed (line 2: `b = 2` (was `b = 1`))``: where the two texts first differ."""
    old, new = values
    if not old:
        return f"{what} was added"
    if not new:
        return f"{what} was removed"
    old_lines, new_lines = str(old).splitlines(), str(new).splitlines()
    for number, (before, after) in enumerate(zip(old_lines, new_lines, strict=False), start=1):
        if before != after:
            return f"{what} changed (line {number}: `{clip(after)}` (was `{clip(before)}`))"
    number = min(len(old_lines), len(new_lines)) + 1
    if len(new_lines) > len(old_lines):
        return f"{what} changed (line {number} added: `{clip(new_lines[number - 1])}`)"
    if len(old_lines) > len(new_lines):
        return f"{what} changed (line {number} removed: `{clip(old_lines[number - 1])}`)"
    return f"{what} changed (whitespace only)"


def rule_changes(old_rules: list[dict[str, Any]], new_rules: list[dict[str, Any]]) -> list[str]:
    """Which rows of a decision table changed, came or went, by the row numbers the DMN editor shows."""
    old = {rule.get("id"): rule for rule in old_rules}
    new = {rule.get("id"): rule for rule in new_rules}
    changed = [rule.get("row_number") for key, rule in new.items() if key in old and rule != old[key]]
    added = [rule.get("row_number") for key, rule in new.items() if key not in old]
    removed = [rule.get("row_number") for key, rule in old.items() if key not in new]
    parts = []
    for rows, word in ((changed, "changed"), (added, "added"), (removed, "removed")):
        if len(rows) > MAX_ROWS:
            parts.append(f"{len(rows)} rules {word}")
        elif rows:
            parts.append(f"{'rule' if len(rows) == 1 else 'rules'} {', '.join(str(row) for row in rows)} {word}")
    return parts


def form_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """The fields a form schema gained, lost or changed (its top-level ``properties``), and other edits."""
    old_fields, new_fields = old.get("properties") or {}, new.get("properties") or {}
    parts = []
    for names, word in ((sorted(new_fields.keys() - old_fields.keys()), "new"),
                        (sorted(old_fields.keys() - new_fields.keys()), "removed"),
                        (sorted(key for key in old_fields.keys() & new_fields.keys()
                                if old_fields[key] != new_fields[key]), "changed")):
            if names:
                parts.append(f"{word} {'field' if len(names) == 1 else 'fields'}: {', '.join(names)}")
    if old.get("required") != new.get("required"):
        parts.append("required fields changed")
    rest = {key for key in old.keys() | new.keys() if key not in {"properties", "required"}
            and old.get(key) != new.get(key)}
    if rest:
        parts.append("other settings changed: " + ", ".join(sorted(rest)))
    return parts


def param_value(param: Any) -> Any:
    return param.get("value") if isinstance(param, dict) else param


def type_word(typename: str | None) -> str:
    if not typename:
        return "unknown"
    return TYPE_WORDS.get(typename) or re.sub(r"(?<!^)(?=[A-Z])", " ", typename).lower()


def event_word(typename: str) -> str:
    """``CaseClockTimeDate`` → timer, ``MessageEventDefinition`` → message."""
    if any(word in typename for word in ("Time", "Duration", "Cycle")):
        return "timer"
    kind = typename.removesuffix("EventDefinition")
    return re.sub(r"(?<!^)(?=[A-Z])", " ", kind).lower() or "none"


def flow_ends(spec: Any, side: str) -> list[tuple[str, str]]:
    """The modeler elements at the other end of a step's incoming (``inputs``) or outgoing (``outputs``) flows, one
    (element id, label) per flow: the engine's boundary-event bookkeeping resolved to the activity and its real
    neighbours."""
    ends: list[tuple[str, str]] = []
    for other in getattr(spec, side):
        name = str(other.name)
        if name.endswith(JOIN):
            continue  # the join of an activity's boundary events: no flow of the diagram
        if name.endswith(SPLIT) and name[: -len(SPLIT)] == getattr(spec, "bpmn_id", None):
            ends.extend(flow_ends(other, side))  # this activity's own split: its inputs are the real sources
            continue
        owner = (other._wf_spec.task_specs.get(name[: -len(SPLIT)]) if name.endswith(SPLIT) else None) or other
        ends.append((element_key(owner), step_label(owner)))
    return ends


def unwrapped(name: str | None) -> str | None:
    """A target spec name with the engine's boundary-event split taken off: ``draft_plan.BoundaryEventSplit`` is a
    flow to ``draft_plan`` in the modeler."""
    return name[: -len(SPLIT)] if name and name.endswith(SPLIT) else name


def wrapping_changes(old: Any, new: Any) -> list[str]:
    """The steps a step's outgoing flows lead to that gained or lost boundary events (the engine then puts its
    split between them, so the step's own wiring differs though its flows in the diagram do not)."""
    def wrapped(spec: Any) -> dict[str, Any]:
        return {unwrapped(str(other.name)) or "": other for other in spec.outputs
                if str(other.name).endswith(SPLIT)}

    before, after = wrapped(old), wrapped(new)
    said = []
    for name in after.keys() - before.keys():
        target = new._wf_spec.task_specs.get(name)
        if target is not None:
            said.append(f"boundary events were attached to the step it leads to, {step_label(target)}: "
                        f"{', '.join(boundary_events(target))}")
    for name in before.keys() - after.keys():
        target = old._wf_spec.task_specs.get(name)
        if target is not None:
            said.append(f"the boundary events of the step it leads to, {step_label(target)}, were removed")
    return sorted(said)


def boundary_events(spec: Any) -> list[str]:
    """The boundary events attached to an activity, by name and id."""
    joins = [other for other in spec.outputs if str(other.name).endswith(JOIN)]
    return [step_label(event) for join in joins for event in join.inputs if event is not spec]


def element_key(spec: Any) -> str:
    return str(getattr(spec, "bpmn_id", None) or spec.name)


def has_boundary_events(spec: Any) -> bool:
    """Whether boundary events are attached to the activity (the engine then wraps it in a split and a join)."""
    return any(str(other.name).endswith(JOIN) for other in spec.outputs)
