"""Moving running cases to another deployed version of the process (``baozhuang migrate``).

SpiffWorkflow aligns the case's task specs with the new version (``diff_workflow``) and re-points its tasks
(``migrate_workflow``); deciding whether that is safe is ours (ENGINE-NOTES.md, "Versions and migration"):

- A task spec that is removed, or changed, must not have a task that is completed, started, ready, waiting or in
  error in the case: the case did (or is doing) that step under the old definition.
- Except sequence-flow wiring (the spec's ``inputs``/``outputs``) on ready and waiting tasks: migration resets them,
  so what follows them is predicted afresh from the new version. That is how a case waiting before an inserted step
  later visits it. The same change on a completed task means the case already went a way the new version does not.
  A label or documentation change does not count on them either: the open task takes the new name (its row too,
  ``rename_open_tasks``). The order in which a step's flows are listed is no change at all.
- On a completed task, wiring changes that keep the flows this case took (the task it came from is still an input,
  the tasks it led to are still outputs: a merge gaining an incoming flow the case did not take) and label or
  documentation changes do not count: the case's way through the step exists in the new version as it went.
- A task in error may change in any way: it failed, so it did nothing; it is reset and runs again as the new
  version defines it. This is how a case stopped by a broken expression or decision table is repaired: deploy the
  fixed version and move the case; its retry jobs and open incidents for that task end (a new failure starts its
  retries anew), and the ``migrated`` event lists the incidents it closed.
- On a completed business rule task whose only change is its decision table (same decision, same result
  variables), the change counts only if the new table would give this case another result: it is not run again,
  so a table that decides this case's data the same is no change for it (``runner.migration_decisions``; a
  result that cannot be rechecked counts, and the reason says why).
- A changed form schema file, or a task moved to another role, counts as a change of the task (the engine's specs
  know the form's file name and the lane's name only).
- Changes around the case's position that it is shown untouched by do not count (``runner.migration_paths``,
  decisions 99-100): service and business rule tasks inserted on a flow the case already took whose results, run
  dry on its data (a decision evaluated with its pre- and post-script), only fill values it left empty or give it
  what it holds; a gateway's untaken flow retargeted; the content of an open task's form; a
  completed task's form that its recorded answer still passes; the flows after a running subprocess the case has
  not left (predicted anew, ``predict_stale_branches``). What those recomputations and a decision table's new
  output columns would have given the case where it holds nothing is written into its data (``Plan.fills``) and
  listed in the ``migrated`` event (``filled``).

An open task keeps its id, and so its draft (暂存): when its form changed, the draft is fitted to the new form as
the case moves (``runner.drafts.recheck_drafts``), what it loses kept with it as a notice for its author and named
(not its values) in the ``migrated`` event (``drafts``).

``migrate_workflow`` predicts afresh only below the tasks it resets. What follows a task the case has not reached,
hanging below a running one (after a running embedded subprocess, or after a task with a boundary timer), is
predicted again wherever it no longer matches the new flows (``predict_stale_branches``); a state that would still
hold a task of the old version, or would not restore on the new one, is not saved (the case is reported failed).

Migration resets waiting timers, which recomputes their deadlines with today's data and calendar: every timer that
was waiting gets its original deadline back, so SLA clocks do not restart.

A finished subprocess is no longer in a restored case (state format 3 drops it, ``runner.state_codec``): the
summary of its completed steps that the state keeps instead (``finished_steps``: calling element, subprocess spec,
task specs that completed) is checked the same way, against the diff of the two versions of that subprocess spec;
the completed steps at either end of a step's flows stand for the flows it took (``summary_still_wired``), so a merge
gaining an incoming flow moves the case whether its stage still runs or has finished.
Its names stay valid once the case has moved: a completed step that the new version renames counts as changed (its
name and id differ), so such a case is refused.

A refusal is worded for the analyst who edited the BPMN (``runner.migration_reasons``): each refused step by its
name, id and state, and what the target version changed in modeler terms; ``SpecChanges.explain`` turns the kinds
that counted into those phrases, so the words never decide anything. The steps are listed in process order
(``process_order``), one clause each; an unnamed gateway or event whose flow change a neighbour's clause already
says is left out (``refusal_clauses``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.util.diff import SpecDiff, WorkflowDiff, diff_workflow, migrate_workflow
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from . import drafts
from . import migration_paths as paths
from . import migration_reasons as wording
from .case import Case, HumanTask
from .migration_decisions import MISSING, recheck_decision, recheckable
from .models import Case as CaseRow
from .models import Incident, Job, OpenTask, ProcessVersion
from .process_folder import ProcessBundle
from .serialization import SERIALIZER
from .sla_checks import NO_LIMIT_PROPERTY
from .state import pack_state, unpack_state
from .state_codec import finished_steps
from .store import ConflictError, NotFoundError, Runtime, load_case, save_case

ACTIVE = TaskState.COMPLETED | TaskState.STARTED | TaskState.READY | TaskState.WAITING | TaskState.ERROR
RESET = TaskState.READY | TaskState.WAITING | TaskState.ERROR
"""The tasks ``migrate_workflow`` resets (its default, ready and waiting, plus failed ones): their successors are
predicted anew, and a failed task runs again under the new version's definition."""
NOT_RUN = TaskState.FUTURE | TaskState.LIKELY | TaskState.MAYBE
"""Tasks the case has not reached yet: what follows them is only predicted, so it may be predicted again."""
WIRING = frozenset({"inputs", "outputs"})
REMOVED = frozenset({"removed"})
LANE_NAME = "lane name"
"""A step's lane renamed, its role (the lane's id) unchanged: the engine keeps the lane's name on the step, the
runner reads only the role."""
LABELS = frozenset({"bpmn_name", "documentation", LANE_NAME})
"""What any step may change without refusing the case: its label, its text and its lane's name (the case's history
keeps the name it had when the step was done; an open task takes the new one)."""
CONDITIONS = frozenset({"cond_task_specs", "default_task_spec"})
TIMER_KEYS = ("event_value", "event_fired")
DECISION_TABLE = frozenset({"decision_table"})
"""A completed business rule task whose only change is this is rechecked on its case's data: a table that gives the
case what it recorded is no change for that case (``runner.migration_decisions``)."""


NOT_FOUND = "not found"
"""The outcome of a case number (``--case``) that names no case: not ``failed``, which says a case's move was
tried and undone (its moved state would not restore)."""


class MigrationError(Exception):
    """The request itself is wrong (ambiguous version, --from equal to --to)."""


class CaseNotFound(NotFoundError):
    """A case number to move names no case."""


@dataclass
class Outcome:
    """What happened to one case: ``migrated`` (or would, in a dry run), ``refused``, ``not found`` (no such case)
    or ``failed``, and why."""

    case_number: str
    result: str
    reason: str = ""
    from_version: str = ""
    to_version: str = ""
    open_tasks: list[str] = field(default_factory=list)
    open_task_names: list[str] = field(default_factory=list)  # as the analyst knows them, ids alongside
    waiting_messages: list[str] = field(default_factory=list)  # what else holds the case: 缴费, 表计在线 …
    revised_drafts: list[str] = field(default_factory=list)
    """Drafts of open tasks whose form changed, with the saved values taken out (``runner.drafts``)."""

    def line(self, dry_run: bool = False) -> str:
        if self.result == "migrated":
            verb = "would migrate" if dry_run else "migrated"
            shown = self.open_task_names or self.open_tasks
            open_tasks = f"; open tasks: {', '.join(shown)}" if shown else ""
            if self.waiting_messages:
                open_tasks += f"; waiting for message {', '.join(self.waiting_messages)}"
            if self.revised_drafts:
                open_tasks += f"; drafts fitted to the new forms, values taken out: {'; '.join(self.revised_drafts)}"
            return f"{self.case_number}: {verb} {self.from_version} -> {self.to_version}{open_tasks}"
        return f"{self.case_number}: {self.result}: {self.reason}"


@dataclass
class Plan:
    """The diffs of one case against the target version, and why it may not move (no problems: it may)."""

    top: Any
    subprocesses: dict[UUID, Any]
    problems: list[str]
    fills: dict[str, Any] = field(default_factory=dict)
    """Values the target version would have given the case where it holds none (a decision table's new column, a
    recomputation inserted on its path): written into its data when it moves (``migration_paths.fill_in``)."""


def label(version: ProcessVersion) -> str:
    return f"{version.id} ({version.version_hash[:12]})"


# -- choosing versions and cases ---------------------------------------------------------------------------------


MIN_HASH_PREFIX = 6
"""A hash prefix names a version only from this many characters on: a mistyped version number ("41") must not
quietly pick the version whose hash happens to start with those digits."""


def resolve_version(session: Session, ref: str) -> ProcessVersion:
    """A deployed version by id, else by a unique prefix (at least ``MIN_HASH_PREFIX`` characters) of its hash."""
    ref = ref.strip().lower()
    if ref.isdigit():
        version = session.get(ProcessVersion, int(ref))
        if version is not None:
            return version
    if len(ref) < MIN_HASH_PREFIX:
        raise NotFoundError(no_version(ref))
    matches = list(session.scalars(
        select(ProcessVersion).where(ProcessVersion.version_hash.startswith(ref, autoescape=True)).limit(5)
    ))
    if not matches:
        raise NotFoundError(no_version(ref))
    if len(matches) > 1:
        raise MigrationError(f"version {ref!r} is ambiguous: " + ", ".join(label(v) for v in matches))
    return matches[0]


def no_version(ref: str) -> str:
    """The same words for a version id and a hash prefix that name no version, pointing to the list."""
    return (f"no deployed version {ref!r} (give a version id, or at least {MIN_HASH_PREFIX} characters of its "
            "hash; `baozhuang versions` lists them)")


MOVABLE_OR_REFUSED = ("running", "suspended")
"""The statuses ``select_cases`` lists: running cases move, suspended ones are reported as refused (finished cases
stay on the version they ended on and are not listed)."""


def select_cases(session: Session, target: ProcessVersion, source: ProcessVersion | None,
                 numbers: Iterable[str] = ()) -> list[str]:
    """The cases to move: the given numbers as given, else every running or suspended case of ``source`` (or of
    any other version than the target), oldest first. Suspended cases are listed so that the report names them as
    refused (only running cases move) and the counts add up to the cases left on the old versions.
    """
    given = list(dict.fromkeys(number.strip() for number in numbers if number.strip()))
    if given:
        return given
    query = select(CaseRow.case_number).where(CaseRow.status.in_(MOVABLE_OR_REFUSED),
                                              CaseRow.version_id != target.id)
    if source is not None:
        query = query.where(CaseRow.version_id == source.id)
    return list(session.scalars(query.order_by(CaseRow.id)))


# -- deciding and migrating one workflow (no database) -----------------------------------------------------------


def plan_migration(workflow: Any, old: ProcessBundle, new: ProcessBundle) -> Plan:
    """Diff a running workflow against the new version and list what makes the move unsafe."""
    registry = SERIALIZER.registry
    try:
        top, subprocesses = diff_workflow(registry, workflow, new.spec, new.subprocess_specs)
    except Exception as err:  # the library's alignment gives up on shapes it does not know
        return Plan(None, {}, [f"the diff cannot be computed: {locate_diff_failure(workflow, new, err)}"])
    refused: dict[str, Refused] = {}

    def note(task: Any, kinds: Iterable[str], *phrases: str) -> None:
        note_spec(task.task_spec, TaskState.get_name(task.state).lower(), kinds, *phrases)

    def note_spec(spec: Any, state: str, kinds: Iterable[str], *phrases: str) -> None:
        step = refused.setdefault(element_name(spec), Refused(spec))
        step.states.add(state)
        step.kinds.update(kinds)
        step.phrases.extend(phrases)

    problems: list[str] = []
    diffs = [top]
    for sp_id, sp_diff in subprocesses.items():
        if sp_diff is None:
            owner = workflow.get_task_from_id(sp_id)
            name = workflow.subprocesses[sp_id].spec.name
            if owner is None:
                problems.append(f"{sp_id}: process {name} does not exist in the target version")
                continue
            missing = wording.missing_process(owner.task_spec, name, "the target version")
            problems.append(f"{wording.heading(owner.task_spec, [TaskState.get_name(owner.state).lower()])}: "
                            f"{missing}")
        else:
            diffs.append(sp_diff)
    changes = SpecChanges(old, new)
    skipped = paths.SkippedSteps({spec for diff in diffs for spec in diff.alignment.values() if spec is not None})
    for diff in diffs:
        for task in diff.removed:
            if task.has_state(ACTIVE):
                note(task, REMOVED, wording.REMOVED)
        for task, new_spec in diff.alignment.items():
            if new_spec is None or not task.has_state(ACTIVE):
                continue
            if task.has_state(TaskState.ERROR):
                continue  # it failed, so it did nothing: it runs again as the new version defines it (the fix)
            changed = changes.of(task.task_spec, new_spec) - LABELS  # an open task takes the new name
            if task.has_state(RESET):
                changed = changed - WIRING
                if task.has_state(TaskState.READY):  # not answered yet: the answer is given on the new form
                    changed = changed - paths.form_kinds(changed)
            elif task.has_state(TaskState.COMPLETED):
                changed = changed - path_still_wired(task, new_spec, diff.alignment)
                changed, skipped_phrases = changes.past(task, new_spec, changed, diff.alignment, skipped)
                if changed:
                    counted = changes.for_completed(task, new_spec, changed)
                    if counted:
                        note(task, changed, *counted, *skipped_phrases)
                    continue
            else:  # started (a running subprocess): what follows it, not reached yet, is predicted anew
                changed = (changed - paths.unreached_outputs(task)
                           - (path_still_wired(task, new_spec, diff.alignment) & {"inputs"}))
            if changed:
                note(task, changed, *changes.explain(task.task_spec, new_spec, changed))
    finished: dict[str, SpecDiff] = {}
    for caller, spec_name, names in finished_steps(workflow):
        old_spec, new_spec = old.subprocess_specs.get(spec_name), new.subprocess_specs.get(spec_name)
        if new_spec is None or old_spec is None:
            missing = "the target version" if new_spec is None else "the case's version"
            problems.append(finished_caller_problem(old, caller, spec_name, missing))
            continue
        if spec_name not in finished:
            finished[spec_name] = SpecDiff(registry, old_spec, new_spec)
        alignment = finished[spec_name].alignment
        for name in names:
            task_spec = old_spec.task_specs.get(name)
            if task_spec is None or task_spec not in alignment:
                problems.append(f"the diff cannot be computed: in process {spec_name}: element {name} has no "
                                "counterpart in the target version's alignment")
            elif alignment[task_spec] is None:
                note_spec(task_spec, "completed", REMOVED, wording.REMOVED)
            else:
                new_spec = alignment[task_spec]
                # as for a completed live task, with the summary's completed steps standing for the flows taken
                changed = (changes.of(task_spec, new_spec) - LABELS
                           - summary_still_wired(task_spec, new_spec, set(names), alignment))
                said: list[str] = []
                caller_task = completed_task(workflow, caller)
                if caller_task is not None:  # its answer went back to the caller with the subprocess's data
                    changed, said = changes.recorded_answer(caller_task, task_spec, new_spec, changed,
                                                            caller_task.data.get(name))
                if changed:
                    note_spec(task_spec, "completed", changed, *changes.explain(task_spec, new_spec, changed),
                              *said)
    problems.extend(refusal_clauses(list(refused.values()), process_order(old)))
    return Plan(top, subprocesses, problems, {**skipped.fills, **changes.fills})


@dataclass
class Refused:
    """One step that stops the case: the states the case has it in, what changed (the kinds that counted) and
    the phrases saying so."""

    spec: Any
    states: set[str] = field(default_factory=set)
    kinds: set[str] = field(default_factory=set)
    phrases: list[str] = field(default_factory=list)

    def clause(self) -> str:
        return f"{wording.heading(self.spec, self.states)}: {'; '.join(dict.fromkeys(self.phrases))}"


def refusal_clauses(steps: list[Refused], order: dict[tuple[str, str], tuple[int, ...]]) -> list[str]:
    """One clause per refused step, in process order (as the steps run). An unnamed gateway, start or end event
    whose only change is its flows is left out when a refused step at the other end of one of those flows already
    says it; alone, it is named by its kind (``exclusive gateway gw_draft_merge``)."""
    told = {element_name(step.spec) for step in steps if not wording.is_internal(step.spec)}
    kept = [step for step in steps if not (wording.is_internal(step.spec) and step.kinds <= WIRING
                                           and told & neighbours(step.spec))]
    unknown = (len(order),)

    def position(step: Refused) -> tuple[tuple[int, ...], str]:
        process = getattr(getattr(step.spec, "_wf_spec", None), "name", "")
        return order.get((process, step.spec.name), unknown), element_name(step.spec)

    return [step.clause() for step in sorted(kept, key=position)]


def neighbours(spec: Any) -> set[str]:
    """The elements a step's flows come from or go to (in its own version)."""
    return {element_name(other) for other in [*spec.inputs, *spec.outputs]}


def process_order(bundle: ProcessBundle) -> dict[tuple[str, str], tuple[int, ...]]:
    """Each task spec's place in the order a case meets the steps, by (process name, spec name): breadth first from
    the start of the main process along the flows, a subprocess's steps right after the element that runs it."""
    order: dict[tuple[str, str], tuple[int, ...]] = {}
    processes = {bundle.spec.name: bundle.spec, **bundle.subprocess_specs}

    def walk(process: Any, prefix: tuple[int, ...]) -> None:
        queue, seen = [process.start], {process.start.name}
        for spec in queue:  # the queue grows as the walk goes
            order[(process.name, spec.name)] = (*prefix, len(order))
            called = getattr(spec, "spec", None)
            if isinstance(called, str) and called in processes and (called, processes[called].start.name) \
                    not in order:
                walk(processes[called], order[(process.name, spec.name)])
            for following in spec.outputs:
                if following.name not in seen:
                    seen.add(following.name)
                    queue.append(following)

    walk(bundle.spec, ())
    return order


def completed_task(workflow: Any, element: str) -> Any:
    """The last completed task of an element of the top workflow, if any."""
    found = [task for task in workflow.tasks.values()
             if task.has_state(TaskState.COMPLETED) and element_name(task.task_spec) == element]
    return found[-1] if found else None


def finished_caller_problem(bundle: ProcessBundle, caller: str, spec_name: str, where: str) -> str:
    """A finished subprocess whose process ``where`` (a version) lacks, named by its calling element (completed:
    the case left it)."""
    for process in (bundle.spec, *bundle.subprocess_specs.values()):
        for spec in process.task_specs.values():
            if element_name(spec) == caller:
                return f"{wording.heading(spec, ['completed'])}: {wording.missing_process(spec, spec_name, where)}"
    return f"{caller} (completed): process {spec_name} does not exist in {where}"


def path_still_wired(task: Any, new_spec: Any, alignment: dict[Any, Any]) -> frozenset[str]:
    """The wiring changes of a completed task that do not touch the way the case went through it: ``inputs`` when
    the flow from the task it came from is still there, ``outputs`` when every step it led to is still one of its
    targets. (A merge that gets a new incoming flow, which this case did not take, does not stop the case.)"""
    kept = set()
    parent = task.parent
    if parent is None or alignment.get(parent) in new_spec.inputs:
        kept.add("inputs")
    taken = [child for child in task.children if child.has_state(ACTIVE)]
    if all(alignment.get(child) in new_spec.outputs for child in taken):
        kept.add("outputs")
    return frozenset(kept)


def summary_still_wired(old_spec: Any, new_spec: Any, completed: set[str],
                        alignment: dict[Any, Any]) -> frozenset[str]:
    """``path_still_wired`` for a step of a finished subprocess, whose summary keeps only which task specs
    completed: ``inputs`` when every step flowing into it that the case completed still flows into it, ``outputs``
    when every step it flows to that the case completed is still one of its targets. (The flows the case took are
    among those, so a merge gaining an incoming flow moves the case here as it does while the stage runs.)"""
    kept = set()
    for side in WIRING:
        now = getattr(new_spec, side)
        if all(alignment.get(other) in now for other in getattr(old_spec, side) if other.name in completed):
            kept.add(side)
    return frozenset(kept)


class SpecChanges:
    """Which attributes of a task spec differ between two versions, form file contents and roles included (the
    kinds the decision reads: ``of``), and what they mean in the modeler's terms (``explain``)."""

    def __init__(self, old: ProcessBundle, new: ProcessBundle) -> None:
        self.old, self.new = old, new
        self._cache: dict[tuple[int, int], frozenset[str]] = {}
        self._converted: dict[int, dict[str, Any]] = {}
        self.fills: dict[str, Any] = {}  # what rechecked decisions' new columns give the case

    def of(self, old_spec: Any, new_spec: Any) -> frozenset[str]:
        key = (id(old_spec), id(new_spec))
        if key not in self._cache:
            self._cache[key] = self._compare(old_spec, new_spec)
        return self._cache[key]

    def explain(self, old_spec: Any, new_spec: Any, kinds: frozenset[str]) -> list[str]:
        """The phrases for ``kinds`` (some of what ``of`` found: those that count for the task's state)."""
        return self._words(old_spec, new_spec).phrases(kinds)

    def for_completed(self, task: Any, new_spec: Any, kinds: frozenset[str]) -> list[str]:
        """The phrases for the changes (``kinds``) of a completed task that count for its case: none when the only
        change is its decision table (same decision, same result variables) and the new table gives this case the
        data it recorded (``runner.migration_decisions``); what it would give instead when not; today's phrase and
        why when the case's result cannot be rechecked."""
        old_spec = task.task_spec
        if kinds != DECISION_TABLE or not recheckable(old_spec, new_spec):
            return self.explain(old_spec, new_spec, kinds)
        check = recheck_decision(task, old_spec, new_spec)
        if check.same:
            self.fills.update(check.new_columns)
            return []
        words = self._words(old_spec, new_spec)
        if check.failure:
            return [wording.decision_not_rechecked(phrase, check.failure) for phrase in words.phrases(kinds)]
        return [wording.decision_result_change(words.decision_name(), check.differences, MISSING)]

    def past(self, task: Any, new_spec: Any, kinds: frozenset[str], alignment: dict[Any, Any],
             skipped: paths.SkippedSteps) -> tuple[frozenset[str], list[str]]:
        """The changes of a completed task that count for its case, less those ``runner.migration_paths`` finds
        the case untouched by (recomputations inserted on its path that change nothing it holds, a gateway's
        untaken flow retargeted, a form its recorded answer still fits); and why inserted steps do count."""
        phrases: list[str] = []
        if kinds & WIRING:
            kept, phrases = skipped.excused(task, new_spec, alignment)
            kinds = kinds - kept
        if kinds & CONDITIONS:
            kinds = kinds - paths.untaken_conditions(task, self._convert(task.task_spec), self._convert(new_spec))
        kinds, said = self.recorded_answer(task, task.task_spec, new_spec, kinds,
                                           task.data.get(element_name(task.task_spec)))
        return kinds, phrases + said

    def recorded_answer(self, context: Any, old_spec: Any, new_spec: Any, kinds: frozenset[str],
                        answer: Any) -> tuple[frozenset[str], list[str]]:
        """``kinds`` less its form changes when the case's recorded ``answer`` to the step passes the new form
        (checks evaluated on the data of task ``context``); else why it does not."""
        forms = paths.form_kinds(kinds)
        if not forms:
            return kinds, []
        problem = paths.answer_problem(context, answer, self.old.forms.get(form_file(old_spec) or "") or {},
                                       self.new.forms.get(form_file(new_spec) or "") or {})
        if problem is None:
            return kinds - forms, []
        return kinds, [problem] if problem else []

    def _words(self, old_spec: Any, new_spec: Any) -> wording.ChangeWords:
        old_form, new_form = form_file(old_spec), form_file(new_spec)
        forms = (self.old.forms.get(old_form or "") or {}, self.new.forms.get(new_form or "") or {})
        roles = (self.old.roles.get(getattr(old_spec, "bpmn_id", None) or ""),
                 self.new.roles.get(getattr(new_spec, "bpmn_id", None) or ""))
        return wording.ChangeWords(old_spec, new_spec, self._convert(old_spec), self._convert(new_spec), forms,
                                   roles)

    def _convert(self, spec: Any) -> dict[str, Any]:
        if id(spec) not in self._converted:
            self._converted[id(spec)] = without_check_only_properties(SERIALIZER.registry.convert(spec))
        return self._converted[id(spec)]

    def _compare(self, old_spec: Any, new_spec: Any) -> frozenset[str]:
        before, after = self._convert(old_spec), self._convert(new_spec)
        if before.get("typename") != after.get("typename"):
            return frozenset({"typename"})
        changed = {key for key in before.keys() | after.keys() if before.get(key) != after.get(key)
                   and not (key in WIRING and sorted(before[key] or []) == sorted(after.get(key) or []))}
        # the order of a step's flows in the file means nothing to the engine (a gateway's conditions keep theirs)
        old_form, new_form = form_file(old_spec), form_file(new_spec)
        if old_form and old_form == new_form and self.old.forms.get(old_form) != self.new.forms.get(new_form):
            changed.add(f"form {new_form}")
        old_id, new_id = getattr(old_spec, "bpmn_id", None), getattr(new_spec, "bpmn_id", None)
        if old_id and self.old.roles.get(old_id) != self.new.roles.get(new_id or ""):
            changed.add("role")
        elif "lane" in changed:  # the same role under another lane name: a label
            changed.discard("lane")
            changed.add(LANE_NAME)
        return frozenset(changed)


def without_check_only_properties(converted: dict[str, Any]) -> dict[str, Any]:
    """A serialized task spec without the properties only ``validate`` reads (``timeLimit`` = ``none``): marking
    a step as meant to have no time limit changes nothing a case does, so it is no change to migrate across."""
    extensions = converted.get("extensions") or {}
    properties = extensions.get("properties") or {}
    if NO_LIMIT_PROPERTY not in properties:
        return converted
    kept = {key: value for key, value in properties.items() if key != NO_LIMIT_PROPERTY}
    return {**converted, "extensions": {**extensions, "properties": kept}}


def form_file(spec: Any) -> str | None:
    extensions = getattr(spec, "extensions", None) or {}
    name: str | None = extensions.get("properties", {}).get("formJsonSchemaFilename")
    return name


def element_name(spec: Any) -> str:
    """The BPMN id of a spec, or the engine's name for its bookkeeping specs (``X.BoundaryEventSplit``)."""
    return str(getattr(spec, "bpmn_id", None) or spec.name)


def locate_diff_failure(workflow: Any, new: ProcessBundle, err: Exception) -> str:
    """Say which process's alignment failed and on which element, diffing each (sub)process on its own."""
    parts = [(workflow, new.spec)] + [
        (sp, new.subprocess_specs.get(sp.spec.name)) for sp in workflow.subprocesses.values()
    ]
    found = []
    for process, new_spec in parts:
        if new_spec is None:
            continue
        try:
            WorkflowDiff(process, SpecDiff(SERIALIZER.registry, process.spec, new_spec))
        except Exception as inner:
            found.append(f"in process {process.spec.name}: {describe_error(inner)}")
    return "; ".join(found) or describe_error(err)


def describe_error(err: Exception) -> str:
    if isinstance(err, KeyError) and err.args and hasattr(err.args[0], "name"):
        return f"element {element_name(err.args[0])} has no counterpart in the target version's alignment"
    return f"{type(err).__name__}: {err}"


def apply_migration(case: Case, plan: Plan, new: ProcessBundle) -> None:
    """Move the case's workflow (top level and every subprocess) onto the new version, timers keeping deadlines."""
    workflow = case.workflow
    case._record_due_timers()  # a timer past its deadline fires now, logged `fired` as in any other transaction
    timers = waiting_timers(workflow)
    workflow.subprocess_specs = new.subprocess_specs  # before the resets: a subprocess they start is a new one
    migrate_workflow(plan.top, workflow, new.spec, reset_mask=RESET)
    for sp_id, sp_diff in plan.subprocesses.items():
        subprocess = workflow.subprocesses.get(sp_id)
        if subprocess is not None:
            migrate_workflow(sp_diff, subprocess, new.subprocess_specs[subprocess.spec.name], reset_mask=RESET)
    for process in [workflow, *workflow.subprocesses.values()]:
        predict_stale_branches(process)
    restore_timers(workflow, timers)
    plan.fills = paths.fill_in(workflow, plan.fills)  # what was written, for the `migrated` event
    stale = tasks_of_other_versions(workflow, new)
    if stale:
        raise MigrationError("after the move, these tasks still have the old version's definition: "
                             + ", ".join(stale))
    case.bundle = new


def predict_stale_branches(process: Any) -> list[str]:
    """Predict again what follows each task the case has not reached yet whose predicted successors no longer
    match its outgoing flows in the new version; return their element ids.

    ``migrate_workflow`` predicts afresh only below the ready and waiting tasks it resets. A task not reached yet
    that hangs below a running one — the flow after a running embedded subprocess, or after a task with a boundary
    event (the boundary's split is running) — keeps the successors predicted from the old version: the case would
    follow the old wiring there (skip an inserted step) or hold a task whose step the new version removed (a state
    that no longer restores). Re-predicting such a branch is what the library does when it predicts a new tree:
    ``_predict`` from the task, its own flows included. A running task none of whose successors was reached (a
    running embedded subprocess whose outgoing flow now leads to an inserted step) is predicted again the same way:
    its children were predicted from the old flows too, and it is not one the library resets.
    """
    repredicted = []
    for task in list(process.tasks.values()):
        if task.id not in process.tasks or not _predicted_from_other_flows(task):
            continue
        if task.has_state(NOT_RUN):
            mask = TaskState.PREDICTED_MASK | TaskState.FUTURE
        elif task.has_state(TaskState.STARTED) and not any(child.has_state(ACTIVE) for child in task.children):
            mask = TaskState.PREDICTED_MASK | TaskState.FUTURE | TaskState.STARTED  # nothing after it reached
        else:
            continue
        task._drop_children(force=True)
        task.task_spec._predict(task, mask=mask)
        repredicted.append(element_name(task.task_spec))
    return repredicted


def _predicted_from_other_flows(task: Any) -> bool:
    """Whether the task's predicted children are not exactly its spec's outputs (none predicted yet is fine)."""
    children = [child.task_spec for child in task.children if not child.triggered]
    if not children:
        return False
    outputs = task.task_spec.outputs
    return any(spec not in outputs for spec in children) or any(spec not in children for spec in outputs)


def tasks_of_other_versions(workflow: Any, new: ProcessBundle) -> list[str]:
    """Tasks whose spec is not the new version's (of their own process): a state holding one would not restore."""
    found = []
    for process in [workflow, *workflow.subprocesses.values()]:
        specs = process.spec.task_specs
        for task in process.tasks.values():
            if specs.get(task.task_spec.name) is not task.task_spec:
                found.append(f"{element_name(task.task_spec)} ({TaskState.get_name(task.state).lower()})")
    return sorted(set(found))


@dataclass
class SavedTimer:
    process: UUID | None
    spec_name: str
    values: dict[str, Any]


def waiting_timers(workflow: Any) -> dict[UUID, SavedTimer]:
    """The deadline state of every waiting timer, by task id."""
    saved = {}
    for task in workflow.get_tasks(state=TaskState.WAITING):
        if isinstance(getattr(task.task_spec, "event_definition", None), TimerEventDefinition):
            values = {key: task.internal_data[key] for key in TIMER_KEYS if key in task.internal_data}
            saved[task.id] = SavedTimer(task.workflow.parent_task_id, task.task_spec.name, values)
    return saved


def restore_timers(workflow: Any, saved: dict[UUID, SavedTimer]) -> None:
    """Give each waiting timer its pre-migration deadline back (same task, else same spec in the same process).

    The reset recomputed ``event_value`` and, if SpiffWorkflow's real-time check found it past, set ``event_fired``:
    both go back to what they were. A timer the new version adds starts now, with a freshly computed deadline.
    """
    by_spec = {(timer.process, timer.spec_name): timer for timer in saved.values()}
    for task in workflow.get_tasks(state=TaskState.WAITING):
        if not isinstance(getattr(task.task_spec, "event_definition", None), TimerEventDefinition):
            continue
        timer = saved.get(task.id) or by_spec.get((task.workflow.parent_task_id, task.task_spec.name))
        if timer is None:
            continue
        for key in TIMER_KEYS:
            if key in timer.values:
                task.internal_data[key] = timer.values[key]
            else:
                task.internal_data.pop(key, None)


# -- one case, one transaction -----------------------------------------------------------------------------------


def migrate_case(session: Session, runtime: Runtime, case_number: str, target_id: int,
                 source_id: int | None = None, user: str = "cli", dry_run: bool = False) -> Outcome:
    """Move one running case to version ``target_id`` inside the caller's transaction.

    A refusal changes nothing. A dry run does the move in memory and does not save it (the caller rolls back).
    """
    target = session.get(ProcessVersion, target_id)
    if target is None:
        raise NotFoundError(f"no process version {target_id}")
    try:
        loaded = load_case(session, runtime, case_number)
    except NotFoundError as err:
        if session.scalar(select(CaseRow.id).where(CaseRow.case_number == case_number)) is None:
            raise CaseNotFound("no case has this number") from err
        raise
    row = loaded.row
    current = session.get(ProcessVersion, row.version_id)
    assert current is not None
    outcome = Outcome(case_number, "refused", from_version=label(current), to_version=label(target))
    if row.status != "running":
        outcome.reason = f"the case is {row.status}; only running cases move"
    elif row.version_id == target.id:
        outcome.reason = f"the case already runs version {label(target)}"
    elif source_id is not None and row.version_id != source_id:
        source = session.get(ProcessVersion, source_id)
        named = f" {label(source)}" if source is not None else ""
        outcome.reason = f"the case runs version {label(current)}, not the --from version{named}"
    if outcome.reason:
        return outcome
    new_bundle = runtime.bundle(target)
    plan = plan_migration(loaded.case.workflow, loaded.case.bundle, new_bundle)
    if plan.problems:
        outcome.reason = " | ".join(plan.problems)
        return outcome
    failed = [task_id for task_id, _element in loaded.case.failed_tasks()]
    old_bundle, open_before = loaded.case.bundle, loaded.case.ready_tasks()
    apply_migration(loaded.case, plan, new_bundle)
    event = loaded.case.case_event("case", "migrated", user)
    event.data = {"from": current.id, "to": target.id, "from_hash": current.version_hash,
                  "to_hash": target.version_hash}
    if plan.fills:
        event.data["filled"] = plan.fills
    if failed:  # they run again under the new version: their retries and incidents end (a new failure starts anew)
        event.data["resolved_incidents"] = resolve_failures(session, runtime, row.id, failed)
    loaded.case.history.append(event)
    loaded.case.run_engine()  # the new version may have made an engine task ready
    check_restores(loaded.case, new_bundle)
    outcome.result = "migrated"
    ready = loaded.case.ready_tasks()
    # the drafts of open tasks whose form changed, fitted to the new form (a dry run's session is rolled back)
    revised = drafts.recheck_drafts(session, changed_forms(open_before, ready, old_bundle, new_bundle),
                                    runtime.clock.now(), f"{label(current)} -> {label(target)}")
    if revised:
        event.data["drafts"] = revised
        outcome.revised_drafts = [f"{entry['step']} ({entry['element_id']}), saved by {entry['user']}: "
                                  f"{', '.join(entry['dropped'])}" for entry in revised]
    outcome.open_tasks = [task.element_id for task in ready]
    outcome.open_task_names = [f"{task.name} ({task.element_id})" if task.name else task.element_id for task in ready]
    outcome.waiting_messages = list(dict.fromkeys(loaded.case.waiting_messages()))
    if not dry_run:
        row.version_id = target.id
        save_case(session, runtime, loaded)
        rename_open_tasks(session, row.id, ready)
    return outcome


def rename_open_tasks(session: Session, case_id: int, ready: list[HumanTask]) -> None:
    """Give the open-task rows the names the target version gives their steps: the rows a save keeps as they are
    (their claim and follow-up stay) would otherwise show a renamed step's old name in the work lists."""
    for task in ready:
        session.execute(update(OpenTask).where(OpenTask.case_id == case_id, OpenTask.id == task.id,
                                               OpenTask.name != task.name).values(name=task.name))


def changed_forms(before: list[HumanTask], after: list[HumanTask], old: ProcessBundle, new: ProcessBundle
                  ) -> list[drafts.ChangedForm]:
    """The tasks open before and after the move whose form's content differs: their drafts are fitted to the new
    form."""
    forms_before = {task.id: old.forms.get(task.form_schema) if task.form_schema else None for task in before}
    changed = []
    for task in after:
        if task.id not in forms_before:
            continue
        new_form = new.forms.get(task.form_schema) if task.form_schema else None
        if new_form != forms_before[task.id]:
            changed.append(drafts.ChangedForm(task.id, task.element_id, task.name, forms_before[task.id], new_form))
    return changed


def resolve_failures(session: Session, runtime: Runtime, case_id: int, task_ids: list[str]) -> list[int]:
    """End the retry jobs and open incidents of failed tasks that the move runs again; the incidents' ids."""
    session.execute(update(Job).where(Job.kind == "retry", Job.case_id == case_id, Job.task_id.in_(task_ids))
                    .values(attempts=0, status="done"))
    incidents = list(session.scalars(select(Incident).where(Incident.case_id == case_id,
                                                            Incident.task_id.in_(task_ids),
                                                            Incident.resolved_at.is_(None)).order_by(Incident.id)))
    for incident in incidents:
        incident.resolved_at = runtime.clock.now()
    return [incident.id for incident in incidents]


def check_restores(case: Case, bundle: ProcessBundle) -> None:
    """The moved state must load on the target version before it is saved: else the case could never be opened
    again (nor moved back)."""
    try:
        unpack_state(pack_state(case.workflow), bundle.spec, bundle.subprocess_specs, case.engine)
    except Exception as err:
        raise MigrationError(f"the moved case would not load on the target version ({describe_error(err)}); "
                             "it stays on its version") from err


def migrate_cases(sessions: sessionmaker[Session], runtime: Runtime, to_ref: str, from_ref: str | None = None,
                  case_numbers: Iterable[str] = (), user: str = "cli", dry_run: bool = False) -> list[Outcome]:
    """Move the selected cases one transaction each; a case that fails is rolled back and the others go on."""
    with sessions.begin() as session:
        target = resolve_version(session, to_ref)
        source = resolve_version(session, from_ref) if from_ref else None
        if source is not None and source.id == target.id:
            raise MigrationError(f"--from and --to both name version {label(target)}")
        numbers = select_cases(session, target, source, case_numbers)
        target_id, source_id = target.id, source.id if source is not None else None
    return [migrate_one(sessions, runtime, number, target_id, source_id, user, dry_run) for number in numbers]


def migrate_one(sessions: sessionmaker[Session], runtime: Runtime, case_number: str, target_id: int,
                source_id: int | None, user: str, dry_run: bool) -> Outcome:
    session = sessions()
    try:
        session.begin()
        outcome = migrate_case(session, runtime, case_number, target_id, source_id, user, dry_run)
        if outcome.result == "migrated" and not dry_run:
            session.commit()
        else:
            session.rollback()
        return outcome
    except CaseNotFound as err:  # a case number given with --case that names no case
        session.rollback()
        return Outcome(case_number, NOT_FOUND, reason=str(err))
    except Exception as err:  # one broken case must not stop the others: report it and go on
        session.rollback()
        known = NotFoundError | ConflictError | MigrationError
        reason = str(err) if isinstance(err, known) else f"{type(err).__name__}: {err}"
        return Outcome(case_number, "failed", reason=reason)
    finally:
        session.close()


def counts(outcomes: Iterable[Outcome]) -> dict[str, int]:
    """How many cases were migrated, refused, not found and failed."""
    result = {"migrated": 0, "refused": 0, NOT_FOUND: 0, "failed": 0}
    for outcome in outcomes:
        result[outcome.result] += 1
    return result
