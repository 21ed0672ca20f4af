"""``runner.fast_workflow`` behaves exactly as SpiffWorkflow's own ``BpmnWorkflow``.

Three levels: whole trials (every sample category and the answer variants of the path tests, timers and SLA
escalations included) run once on each class must give the same history, data, outbox and final task tree; at every
query the engine makes during those trials, the fast answer must equal the library's; and on random task trees
(random states, deep chains past the iterator's depth limit) ``walk_tasks`` must yield what the library's iterators
yield.
"""

from __future__ import annotations

import copy
import hashlib
import inspect
import logging
import pickle
import random
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from types import SimpleNamespace
from typing import Any
from uuid import UUID

import pytest
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.control import EventSplit, _EndJoin
from SpiffWorkflow.bpmn.specs.mixins.events.event_types import CatchingEvent
from SpiffWorkflow.bpmn.specs.mixins.events.intermediate_event import EventBasedGateway
from SpiffWorkflow.bpmn.specs.mixins.inclusive_gateway import InclusiveGateway
from SpiffWorkflow.bpmn.specs.mixins.subworkflow_task import CallActivity, SubWorkflowTask
from SpiffWorkflow.bpmn.specs.mixins.unstructured_join import UnstructuredJoin
from SpiffWorkflow.bpmn.util.task import BpmnTaskFilter, BpmnTaskIterator
from SpiffWorkflow.specs.base import TaskSpec
from SpiffWorkflow.specs.ExclusiveChoice import ExclusiveChoice
from SpiffWorkflow.specs.MultiChoice import MultiChoice
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.deep_merge import DeepMerge
from SpiffWorkflow.util.task import TaskFilter, TaskIterator, TaskState
from SpiffWorkflow.workflow import Workflow

from runner.case import Case, HumanTask
from runner.data_copies import exact_copy, json_copy
from runner.dialect import CaseCallActivity, CaseSubWorkflowTask, serializer_registry
from runner.fast_workflow import (
    FastBpmnSubWorkflow,
    FastBpmnWorkflow,
    FastTask,
    TaskId,
    end_join_may_fire,
    fast_uuid4,
    task_id_of,
)
from runner.process_folder import ProcessBundle, load_process_folder
from runner.serialization import workflow_state
from runner.state import pack_state, unpack_state
from runner.task_queries import MAX_DEPTH, DepthUnknown, cached_tree_path, tree_path, walk_tasks
from runner.trial import TrialDriver, TrialOptions
from tests.test_paths import SCENARIOS

LATE = {"site_survey": 24 * 40.0}  # a late survey: SLA timers fire, the supervisor is escalated to
SAMPLES = [("lv_residential", False), ("lv_smallmicro", False), ("lv_other", False), ("hv_ordinary", False),
           ("hv_important", False), ("hv_ordinary", True)]  # the last one is samples/hv_ordinary_dual.json


def _variants() -> list[tuple[str, TrialOptions]]:
    variants = [(f"{category}{'_dual' if dual else ''}", TrialOptions(category=category, dual_supply=dual))
                for category, dual in SAMPLES]
    variants += [(f"{category}_late_survey", TrialOptions(category=category, delays=LATE))
                 for category in ("hv_ordinary", "hv_important", "lv_other")]
    variants += [  # the 回访 race: the customer's survey first (the call withdrawn), and a late call (breach, 督办)
        ("customer_answers_survey", TrialOptions(category="lv_other", first=("customer_survey",), answers={
            "customer_survey": {"satisfaction": "dissatisfied", "issues": ["fees"], "comments": "收费解释不清"}})),
        ("late_followup_call", TrialOptions(category="lv_residential", delays={"followup_call": 24 * 7.0})),
    ]
    seen: set[str] = set()
    for (gateway, target), scenario in SCENARIOS.items():
        key = repr(scenario)
        if scenario.unchecked:  # needs the forms' completion checks taken out (test_paths runs it so)
            continue
        if (scenario.answers or scenario.delays or scenario.dual) and key not in seen:
            seen.add(key)
            variants.append((f"{gateway}->{target}", TrialOptions(
                category=scenario.category, dual_supply=scenario.dual, answers=scenario.answers,
                delays=scenario.delays)))
    return variants


VARIANTS = _variants()


@contextmanager
def workflow_class(cls: type[Any]) -> Iterator[None]:
    saved = Case.workflow_class
    Case.workflow_class = cls
    try:
        yield
    finally:
        Case.workflow_class = saved


def tree_shape(workflow: Any) -> list[tuple[str, int, str]]:
    """Every task the library's own walk finds, in its order: spec, state, spec of the parent."""
    return [(task.task_spec.name, task.state, task.parent.task_spec.name if task.parent else "")
            for task in Workflow.get_tasks(workflow)]


def run_trial(bundle: ProcessBundle, options: TrialOptions, cls: type[Any],
              driver_class: type[TrialDriver] = TrialDriver) -> dict[str, Any]:
    with workflow_class(cls):
        driver = driver_class(bundle, options)
    assert type(driver.case.workflow) is cls
    result = driver.run()
    return {
        "visited": result.visited,
        "events": [(e.element_id, e.name, e.lifecycle, e.at, e.role, e.user, e.data) for e in driver.case.history],
        "data": driver.case.data,
        "summary": result.summary,
        "outbox": result.outbox,
        "ended_at": result.ended_at,
        "failures": [(f.element_id, f.message) for f in driver.case.failures],
        "tree": tree_shape(driver.case.workflow),
        "subprocesses": sorted(sp.spec.name for sp in driver.case.workflow.subprocesses.values()),
    }


@pytest.mark.parametrize(("name", "options"), VARIANTS, ids=[name for name, _ in VARIANTS])
def test_same_trial_on_both_classes(bundle: ProcessBundle, name: str, options: TrialOptions) -> None:
    library = run_trial(bundle, options, BpmnWorkflow)
    fast = run_trial(bundle, options, FastBpmnWorkflow)
    assert library["visited"], name
    for key in library:
        assert fast[key] == library[key], f"{name}: {key} differs"


def test_variants_cover_timers_escalations_and_loops(bundle: ProcessBundle) -> None:
    """The variants above do reach what makes the engine loop hard: fired timers, rework loops, rejections."""
    lifecycles: set[str] = set()
    visited: list[str] = []
    for _name, options in VARIANTS:
        result = run_trial(bundle, options, FastBpmnWorkflow)
        lifecycles |= {event[2] for event in result["events"]}
        visited += result["visited"]
    assert "fired" in lifecycles
    for element in ("notify_rejection", "rectify_defects", "rectify_interim_defects", "notify_plan_expired"):
        assert element in visited, element


def test_cases_start_on_the_fast_class(bundle: ProcessBundle) -> None:
    driver = TrialDriver(bundle, TrialOptions(category="hv_important"))
    assert type(driver.case.workflow) is FastBpmnWorkflow
    driver.run()
    assert driver.case.workflow.subprocesses
    assert all(type(sp) is FastBpmnSubWorkflow for sp in driver.case.workflow.subprocesses.values())


# -- every query of the engine, checked against the library while trials run ----------------------------------------

class CheckedMixin:
    """Answers every query the fast way and checks it against the library's answer on the same tree."""

    mismatches: list[str] = []
    queries = 0

    def get_tasks(self, first_task: Any = None, **kwargs: Any) -> list[Any]:
        fast: list[Any] = super().get_tasks(first_task, **kwargs)  # type: ignore[misc]
        library = Workflow.get_tasks(self, first_task, **kwargs)
        CheckedMixin.queries += 1
        if fast != library:
            CheckedMixin.mismatches.append(f"get_tasks({kwargs})")
        return fast

    def get_next_task(self, first_task: Any = None, **kwargs: Any) -> Any:
        fast = super().get_next_task(first_task, **kwargs)  # type: ignore[misc]
        if fast is not Workflow.get_next_task(self, first_task, **kwargs):
            CheckedMixin.mismatches.append(f"get_next_task({kwargs})")
        return fast

    def has_engine_work(self) -> bool:
        fast: bool = super().has_engine_work()  # type: ignore[misc]
        library = any(not task.task_spec.manual for task in Workflow.get_tasks(self, state=TaskState.READY))
        if library and not fast:
            CheckedMixin.mismatches.append("has_engine_work")
        return fast

    def ready_engine_tasks(self) -> list[Any]:
        """What ``_do_engine_steps`` runs: the tasks the library's READY walk finds that are not manual."""
        fast: list[Any] = super().ready_engine_tasks()  # type: ignore[misc]
        library = Workflow.get_tasks(self, state=TaskState.READY)
        CheckedMixin.queries += 1
        if [t for t in fast if not t.task_spec.manual] != [t for t in library if not t.task_spec.manual]:
            CheckedMixin.mismatches.append("ready_engine_tasks")
        return fast

    def update_waiting_tasks(self) -> None:
        library = list(TaskIterator(self.task_tree, state=TaskState.WAITING))  # type: ignore[attr-defined]
        fast = list(walk_tasks(self.task_tree, TaskState.WAITING, into_subprocesses=False))  # type: ignore[attr-defined]
        if fast != library:
            CheckedMixin.mismatches.append("update_waiting_tasks")
        super().update_waiting_tasks()  # type: ignore[misc]

    def is_completed(self) -> bool:
        library = self.completed or next(  # type: ignore[attr-defined]
            TaskIterator(self.task_tree, state=TaskState.NOT_FINISHED_MASK), None) is None  # type: ignore[attr-defined]
        fast: bool = super().is_completed()  # type: ignore[misc]
        if fast != library:
            CheckedMixin.mismatches.append("is_completed")
        return fast


class CheckedSubWorkflow(CheckedMixin, FastBpmnSubWorkflow):
    pass


class CheckedWorkflow(CheckedMixin, FastBpmnWorkflow):
    subprocess_class = CheckedSubWorkflow


@pytest.mark.parametrize(("name", "options"), VARIANTS[:9], ids=[name for name, _ in VARIANTS[:9]])
def test_every_query_answers_as_the_library(bundle: ProcessBundle, name: str, options: TrialOptions) -> None:
    CheckedMixin.mismatches = []
    CheckedMixin.queries = 0
    checked = run_trial(bundle, options, CheckedWorkflow)
    assert CheckedMixin.queries > 50
    assert CheckedMixin.mismatches == []
    assert checked["visited"] == run_trial(bundle, options, BpmnWorkflow)["visited"]


# -- FastTask ---------------------------------------------------------------------------------------------------------

def all_tasks(workflow: Any) -> list[Any]:
    return [task for wf in (workflow, *workflow.subprocesses.values()) for task in wf.tasks.values()]


def test_new_trees_are_made_of_fast_tasks_written_as_library_tasks(bundle: ProcessBundle) -> None:
    driver = TrialDriver(bundle, TrialOptions(category="hv_important"))
    driver.run()
    tasks = all_tasks(driver.case.workflow)
    assert len(tasks) > 100
    assert {type(task) for task in tasks} == {FastTask}
    state = workflow_state(driver.case.workflow)
    assert {task["typename"] for task in state["tasks"].values()} == {"Task"}
    assert "thread_id_pool" not in FastTask.__dict__  # thread ids come from the library class's one pool


def _spiff_log(caplog: pytest.LogCaptureFixture, bundle: ProcessBundle, cls: type[Any]) -> list[tuple[Any, ...]]:
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="spiff"):
        run_trial(bundle, TrialOptions(category="lv_other"), cls)
    return [(r.name, r.levelno, r.getMessage(), getattr(r, "task_spec", None), getattr(r, "state", None),
             getattr(r, "task_type", None), "elapsed" in r.__dict__) for r in caplog.records
            if r.name.startswith("spiff")]


def test_state_changes_are_logged_as_by_the_library_when_logging_is_on(
        bundle: ProcessBundle, caplog: pytest.LogCaptureFixture) -> None:
    """With the ``spiff`` loggers enabled, the fast task logs every state change with the library's extras."""
    library = _spiff_log(caplog, bundle, BpmnWorkflow)
    fast = _spiff_log(caplog, bundle, FastBpmnWorkflow)
    assert sum(1 for record in library if record[2].startswith("State changed")) > 100
    assert fast == library


def _random_value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(10 if depth < 3 else 5)
    if kind < 5:
        return rng.choice(["x", 3, 2.5, True, None, "", -0.0])
    if kind < 7:
        return {f"k{i}": _random_value(rng, depth + 1) for i in range(rng.randrange(4))}
    if kind < 9:
        return [_random_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return rng.choice([{1, 2}, (1, [2]), OrderedDict(a=[1]), date(2026, 11, 26), {3: "int key"}])


def test_inherited_data_and_ancestry_match_the_library(bundle: ProcessBundle) -> None:
    rng = random.Random(11)
    workflow = random_tree(bundle, rng, 300, 0.8)
    tasks = list(workflow.tasks.values())
    spec = tasks[1].task_spec
    for parent in rng.sample(tasks, 60):
        parent.data = {f"v{i}": _random_value(rng) for i in range(rng.randrange(6))}
        fast, library = FastTask(workflow, spec, parent), Task(workflow, spec, parent)
        if rng.random() < 0.3:  # data already there: the library's merge
            fast.data, library.data = {"own": [1]}, {"own": [1]}
        fast._inherit_data()
        Task._inherit_data(library)
        assert fast.data == library.data
        assert list(fast.data) == list(library.data)
        for key, value in library.data.items():  # the same values copied one level deep, the same ones shared
            assert (fast.data[key] is parent.data.get(key)) == (value is parent.data.get(key)), key
            assert type(fast.data[key]) is type(value)
            if type(value) in (dict, list):  # one level deep only: what the copy holds is the parent's
                inner = list(value.values()) if type(value) is dict else value
                fast_inner = list(fast.data[key].values()) if type(value) is dict else fast.data[key]
                assert all(a is b for a, b in zip(fast_inner, inner, strict=True)), key
    for _ in range(400):
        task, other = rng.choice(tasks), rng.choice(tasks)
        assert FastTask.is_descendant_of(task, other) == Task.is_descendant_of(task, other)


def test_json_copy_is_a_deep_copy() -> None:
    rng = random.Random(5)
    for _ in range(300):
        value = _random_value(rng)
        copied = json_copy(value)
        assert copied == copy.deepcopy(value)
        assert type(copied) is type(value)

        def mutable_ids(item: Any) -> set[int]:
            found = {id(item)} if isinstance(item, dict | list | set) else set()
            children = item.values() if isinstance(item, dict) else item if isinstance(item, list | tuple) else ()
            for child in children:
                found |= mutable_ids(child)
            return found

        assert not mutable_ids(copied) & mutable_ids(value)


def test_exact_copy_is_deepcopy_sharing_included() -> None:
    rng = random.Random(6)
    for _ in range(300):
        value = _random_value(rng)
        copied, expected = exact_copy(value), copy.deepcopy(value)
        assert copied == expected
        assert type(copied) is type(expected)
        assert repr(copied) == repr(expected)  # the same order of keys
    shared: list[Any] = [1, {"a": 2}]
    value = {"x": shared, "y": shared, "z": [shared]}
    copied = exact_copy(value)
    assert copied == value and copied["x"] is copied["y"] is copied["z"][0] and copied["x"] is not shared
    loop: dict[str, Any] = {"a": []}
    loop["a"].append(loop)
    copied = exact_copy(loop)
    assert copied["a"][0] is copied and copied is not loop
    tree = {"a": [{"b": "c"}, 1.5], "d": {"e": None}}
    copied = exact_copy(tree)
    assert copied == tree and copied["a"] is not tree["a"] and copied["a"][0] is not tree["a"][0]
    assert copied["d"] is not tree["d"]


def test_fast_uuid4_is_a_version_4_uuid() -> None:
    ids = [fast_uuid4() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    for value in ids[:200]:
        assert type(value) is TaskId and value.version == 4 and value.variant == "specified in RFC 4122"
        again = UUID(str(value))
        assert again == value and value == again and hash(again) == hash(value) and again.int == value.int
        assert value.is_safe == again.is_safe and repr(value) == repr(again) and str(value) == str(again)
        assert {value: 1}[again] == 1 and {again: 2}[value] == 2 and value != UUID(int=value.int ^ 1)
        for copied in (copy.copy(value), copy.deepcopy(value), pickle.loads(pickle.dumps(value))):
            assert type(copied) is UUID and copied == value and hash(copied) == hash(value)
    assert task_id_of(7) == UUID(int=7) and hash(task_id_of(2**128 - 1)) == hash(UUID(int=2**128 - 1))


def test_subprocess_specs_copy_data_as_the_library_does(bundle: ProcessBundle) -> None:
    """Our subprocess and call-activity specs give deepcopy's results, and are written as the library's classes."""
    specs = [spec for process in (bundle.spec, *bundle.subprocess_specs.values())
             for spec in process.task_specs.values()]
    ours = [spec for spec in specs if isinstance(spec, CaseSubWorkflowTask | CaseCallActivity)]
    assert {type(spec) for spec in ours} == {CaseSubWorkflowTask, CaseCallActivity}
    registry = serializer_registry()
    for spec in ours:
        library_class = type(spec).serialized_as
        assert registry.typenames[type(spec)] == registry.typenames[library_class]
    rng = random.Random(8)

    class Holder:
        def __init__(self, data: Any) -> None:
            self.data = data
            self.last_task = self

        def set_data(self, **kwargs: Any) -> None:
            self.data.update(kwargs)

    class Sub:
        spec = type("S", (), {"io_specification": None})()

        def __init__(self, data: Any) -> None:
            self.last_task = Holder(data)
            self.start = Holder({})

        def get_next_task(self, *args: Any, **kwargs: Any) -> Any:
            return self.start

    for _ in range(100):
        data = {f"v{i}": _random_value(rng) for i in range(5)}
        data["twice"] = data["again"] = [1, [2]]
        for spec in ours:
            library_update = CallActivity.update_data if isinstance(spec, CaseCallActivity) else \
                SubWorkflowTask.update_data
            mine, theirs = Holder(None), Holder(None)
            spec.update_data(mine, Sub(data))
            library_update(spec, theirs, Sub(data))
            assert repr(mine.data) == repr(theirs.data) and mine.data["twice"] is mine.data["again"]
            if isinstance(spec, CaseSubWorkflowTask):
                mine_sub, theirs_sub = Sub({}), Sub({})
                spec.copy_data(Holder(data), mine_sub)
                SubWorkflowTask.copy_data(spec, Holder(data), theirs_sub)
                assert repr(mine_sub.start.data) == repr(theirs_sub.start.data)
                assert mine_sub.start.data["twice"] is mine_sub.start.data["again"]
                assert mine_sub.start.data["twice"] is not data["twice"]


def fast_random_tree(bundle: ProcessBundle, rng: random.Random, size: int) -> Any:
    """A new top workflow (its tree made of ``FastTask``, paths cached) grown at random below its root."""
    workflow = FastBpmnWorkflow(bundle.spec, bundle.subprocess_specs)
    assert workflow._paths_cached
    spec = next(spec for spec in bundle.spec.task_specs.values() if spec.manual)
    tasks = list(workflow.tasks.values())
    for _ in range(size):
        parent = tasks[-1] if rng.random() < 0.7 else rng.choice(tasks)
        tasks.append(FastTask(workflow, spec, parent, state=rng.choice(STATES)))
    return workflow


def change_at_random(workflow: Any, rng: random.Random, spec: Any) -> None:
    """One random change of a tree: a task's state set (6 in 10), a task of ``spec`` added under any task (3 in 10,
    always while the tree is small) or a branch removed."""
    tasks = list(workflow.tasks.values())
    change = rng.random()
    if change < 0.6:
        rng.choice(tasks)._set_state(rng.choice(STATES))
    elif change < 0.9 or len(tasks) < 20:
        FastTask(workflow, spec, rng.choice(tasks), state=rng.choice(STATES))
    else:
        workflow._remove_task(rng.choice(tasks[1:]).id)


@pytest.mark.parametrize("seed", range(6))
def test_cached_paths_follow_every_change_of_the_tree(bundle: ProcessBundle, seed: int) -> None:
    """Queries keep answering as the library's walk while states go up and down and branches are added and
    removed: the paths kept on tasks are dropped whenever the tree changes in a way that matters."""
    rng = random.Random(seed)
    workflow = fast_random_tree(bundle, rng, 120)
    spec = next(spec for spec in bundle.spec.task_specs.values() if spec.manual)
    queries = [{"state": TaskState.READY}, {"state": TaskState.WAITING | TaskState.READY},
               {"state": TaskState.COMPLETED}, {"state": TaskState.MAYBE}, {"state": TaskState.READY, "manual": True},
               {"spec_name": spec.name}, {"spec_name": spec.name, "state": TaskState.WAITING},
               {"spec_name": workflow.task_tree.task_spec.name}, {"spec_name": "no such spec"}]
    for _ in range(150):
        change_at_random(workflow, rng, spec)
        for query in queries:
            library = list(BpmnTaskIterator(workflow.task_tree, **query))
            assert workflow.get_tasks(**query) == library, query
        for task in rng.sample(list(workflow.tasks.values()), min(10, len(workflow.tasks))):
            for state in (TaskState.READY, TaskState.COMPLETED, TaskState.ANY_MASK):
                assert (cached_tree_path(task, workflow, state) is None) == (
                    tree_path(task, workflow.task_tree, state) is None)
        assert workflow.is_completed() == (next(TaskIterator(workflow.task_tree, state=TaskState.NOT_FINISHED_MASK),
                                                None) is None)
        workflow.completed = False
        tasks = list(workflow.tasks.values())
        for end_at in (spec.name, workflow.task_tree.task_spec.name, "End"):  # names met high and low in the tree
            join = SimpleNamespace(name=end_at)  # all _EndJoin's check reads of its spec
            for task in rng.sample(tasks, min(6, len(tasks))):
                assert end_join_may_fire(join, task) == _EndJoin._check_threshold_unstructured(join, task)
        for _ in range(30):
            task, other = rng.choice(tasks), rng.choice(tasks)
            assert FastTask.is_descendant_of(task, other) == Task.is_descendant_of(task, other)
            assert task.children == Task.children.fget(task)  # type: ignore[attr-defined]
        by_state: dict[int, set[Any]] = {}
        for task in workflow.tasks.values():
            by_state.setdefault(task.state, set()).add(task.id)
        assert {state: set(bucket) for state, bucket in workflow._by_state.items() if bucket} == by_state
        by_name: dict[str, set[Any]] = {}
        for task in workflow.tasks.values():
            by_name.setdefault(task.task_spec.name, set()).add(task.id)
        assert {name: set(bucket) for name, bucket in workflow._by_name.items() if bucket} == by_name


def test_queries_by_spec_name_follow_a_migration(bundle: ProcessBundle) -> None:
    """``migrate_workflow`` gives the workflow its new spec, then tasks new specs: the index by name is made again."""
    workflow = FastBpmnWorkflow(bundle.spec, bundle.subprocess_specs)
    tasks = list(workflow.tasks.values())
    old_name, new_spec = tasks[1].task_spec.name, tasks[2].task_spec
    assert workflow.get_tasks(spec_name=old_name) == list(BpmnTaskIterator(workflow.task_tree, spec_name=old_name))
    workflow.spec = load_process_folder(bundle.root).spec  # as migrate_workflow does, with a renamed task
    tasks[1].task_spec = new_spec
    for name in (old_name, new_spec.name):
        library = list(BpmnTaskIterator(workflow.task_tree, spec_name=name))
        assert workflow.get_tasks(spec_name=name) == library and (library or name == old_name)
    workflow._remove_task(tasks[1].id)
    assert workflow.get_tasks(spec_name=new_spec.name) == list(BpmnTaskIterator(workflow.task_tree,
                                                                                spec_name=new_spec.name))


# -- serialization and restore --------------------------------------------------------------------------------------

def test_serialized_exactly_as_the_library_class(bundle: ProcessBundle) -> None:
    driver = TrialDriver(bundle, TrialOptions(category="hv_important"))
    driver.case.start(driver.start_data)
    for _ in range(12):
        driver.step()
    workflow = driver.case.workflow
    assert workflow.subprocesses
    state = workflow_state(workflow)
    assert state["typename"] == "BpmnWorkflow"
    assert {sub["typename"] for sub in state["subprocesses"].values()} == {"BpmnSubWorkflow"}
    restored = unpack_state(pack_state(workflow), bundle.spec, bundle.subprocess_specs, driver.case.engine)
    assert workflow_state(restored) == workflow_state(workflow)


class RestoringDriver(TrialDriver):
    """Saves and restores the case before every user task, as the durable runner does between requests."""

    def answer(self, task: HumanTask) -> None:
        self.case.restore(self.case.save_state())
        super().answer(task)


@pytest.mark.parametrize(("category", "dual"), SAMPLES)
def test_save_and_restore_at_every_user_task_changes_nothing(bundle: ProcessBundle, category: str,
                                                             dual: bool) -> None:
    options = TrialOptions(category=category, dual_supply=dual, delays=LATE if category == "hv_ordinary" else {})
    library = run_trial(bundle, options, BpmnWorkflow)
    restored = run_trial(bundle, options, FastBpmnWorkflow, RestoringDriver)
    for key in ("visited", "events", "data", "outbox"):
        assert restored[key] == library[key], key


# -- walk_tasks on random trees -------------------------------------------------------------------------------------

STATES = [TaskState.MAYBE, TaskState.LIKELY, TaskState.FUTURE, TaskState.WAITING, TaskState.READY,
          TaskState.STARTED, TaskState.COMPLETED, TaskState.ERROR, TaskState.CANCELLED]
COMMON_STATES = [TaskState.COMPLETED, TaskState.COMPLETED, TaskState.FUTURE, TaskState.MAYBE]
FILTERS: list[dict[str, Any]] = [
    {}, {"state": TaskState.READY}, {"state": TaskState.WAITING}, {"state": TaskState.COMPLETED},
    {"state": TaskState.READY, "manual": True}, {"state": TaskState.READY, "manual": False},
    {"state": TaskState.NOT_FINISHED_MASK}, {"state": TaskState.FINISHED_MASK}, {"state": TaskState.MAYBE},
    {"state": TaskState.PREDICTED_MASK | TaskState.COMPLETED}, {"spec_name": "manual"}, {"spec_name": "engine"},
]


def random_tree(bundle: ProcessBundle, rng: random.Random, size: int, chain: float, rare: float = 1.0) -> Any:
    """A workflow whose tree has ``size`` extra tasks of random states; ``chain`` is how likely a task hangs
    below the previous one (deep trees) rather than below a random earlier one; with ``rare`` below 1, most tasks
    are COMPLETED, FUTURE or MAYBE and the other states are rare (few matches: ordered by their paths)."""
    workflow = FastBpmnWorkflow(bundle.spec, bundle.subprocess_specs, deserializing=True)
    workflow.task_tree = root = Task(workflow, workflow.spec.start, state=TaskState.COMPLETED)
    user_spec = next(spec for spec in bundle.spec.task_specs.values() if spec.manual)
    engine_spec = next(spec for spec in bundle.spec.task_specs.values() if not spec.manual and spec.name != "Start")
    user_spec_name, engine_spec_name = user_spec.name, engine_spec.name
    tasks = [root]
    for _ in range(size):
        parent = tasks[-1] if rng.random() < chain else rng.choice(tasks)
        spec = user_spec if rng.random() < 0.3 else engine_spec
        state = rng.choice(STATES) if rng.random() < rare else rng.choice(COMMON_STATES)
        tasks.append(Task(workflow, spec, parent, state=state))
    workflow.names = {"manual": user_spec_name, "engine": engine_spec_name}
    return workflow


def _query(workflow: Any, query: dict[str, Any]) -> dict[str, Any]:
    return {key: workflow.names.get(value, value) if key == "spec_name" else value for key, value in query.items()}


@pytest.mark.parametrize(("size", "chain", "rare"), [
    (30, 0.3, 1.0), (200, 0.7, 1.0), (600, 0.95, 1.0), (1500, 0.9, 1.0), (2500, 0.99, 1.0),
    (40, 0.5, 0.1), (300, 0.8, 0.02), (900, 0.95, 0.01), (1200, 0.9, 0.005)])
def test_walk_yields_what_the_library_iterators_yield(bundle: ProcessBundle, size: int, chain: float,
                                                      rare: float) -> None:
    rng = random.Random(size)
    for _ in range(5):
        workflow = random_tree(bundle, rng, size, chain, rare)
        starts = [None, *rng.sample(list(workflow.tasks.values()), 3)]
        for query in FILTERS:
            query = _query(workflow, query)
            for start in starts:
                library = list(BpmnTaskIterator(start or workflow.task_tree, **query))
                assert workflow.get_tasks(start, **query) == library, query
                assert workflow.get_next_task(start, **query) is (library[0] if library else None), query
            assert list(walk_tasks(workflow.task_tree, into_subprocesses=False, **query)) == list(
                TaskIterator(workflow.task_tree, **query)), query


def test_walk_stops_descending_where_the_library_does(bundle: ProcessBundle) -> None:
    workflow = random_tree(bundle, random.Random(7), MAX_DEPTH + 300, 1.0)
    library = list(BpmnTaskIterator(workflow.task_tree))
    assert len(library) < len(workflow.tasks)  # the library's depth limit cut the chain
    assert list(walk_tasks(workflow.task_tree)) == library
    assert workflow.get_tasks() == library
    with pytest.raises(DepthUnknown):
        list(walk_tasks(workflow.task_tree, track_depth=False))


# -- a tripwire for library upgrades ---------------------------------------------------------------------------------

COPIED_LIBRARY_CODE = {  # what runner/fast_workflow.py copies or relies on, as in SpiffWorkflow 3.2
    (BpmnWorkflow, "_do_engine_steps"): "1c52d09d52f72038",
    (BpmnWorkflow, "create_subprocess"): "d29d0ee4716cc3ba",
    (TaskIterator, "__init__"): "86cd5292d76b19c4",
    (TaskIterator, "_next"): "55dbe46635bd176b",
    (TaskIterator, "_update_depth"): "b018c506c9b027fe",
    (TaskIterator, "_handle_leaf_depth"): "d873a71707f4a5c6",
    (BpmnTaskIterator, "_next"): "344c7da965a176ec",
    (TaskFilter, "matches"): "a495446080b6cf4e",
    (BpmnTaskFilter, "matches"): "08e50e44d4836004",
    (Workflow, "update_waiting_tasks"): "258ee4cb217fa709",
    (Workflow, "is_completed"): "4f7a3c15bec818e9",
    (Workflow, "get_tasks"): "7dc3413faeb71c5c",
    (Workflow, "get_next_task"): "311da14be801667a",
    (Workflow, "__init__"): "a179a75739481275",
    (Task, "_add_child"): "05ec96e943da475e",
    (Task, "__init__"): "5d98d6df6c602dfb",
    (BpmnWorkflow, "delete_subprocess"): "26a037abac4b944a",
    (SubWorkflowTask, "copy_data"): "b8027b97865ac984",
    (SubWorkflowTask, "update_data"): "fd9d6adb6660065e",
    (CallActivity, "update_data"): "b01cfea791d0d151",
    (Workflow, "_remove_task"): "3be421d7182884f3",
    (Task, "_set_state"): "86c4c1d22dc9b70f",
    (Task, "_inherit_data"): "881f3fbdcf64c763",
    (Task, "is_descendant_of"): "e3322602ff369793",
    (Task, "_assign_new_thread_id"): "bf1baf45e16dc0b1",
    (Task, "_ready"): "4c051bb2c2a3d259",
    (Task, "_child_added_notify"): "20404a6f18bf0476",
    (Task, "has_state"): "51bfc706797e11e1",
    (DeepMerge, "merge"): "b629957b3d77fa37",
    (Task, "run"): "976c46e260fe7f72",
    (Task, "complete"): "3ad34f7ae962ad90",
    (Task, "_sync_children"): "a8916be3877073d1",
    (TaskSpec, "_run"): "dac36fd701341359",
    (TaskSpec, "_on_complete"): "95d4b21bfa422d45",
    (TaskSpec, "_update"): "6b138d31ca684e6b",
    (TaskSpec, "_predict"): "e205cac4587d51d4",
    (TaskSpec, "_predict_hook"): "8ab02e385bce239a",
    (ExclusiveChoice, "_run_hook"): "dbcfd06a134b43ef",
    (MultiChoice, "_predict_hook"): "34ac6ad9dcd4024b",
    (CatchingEvent, "_predict_hook"): "6e8475dd7340c36a",
    (EventSplit, "_predict_hook"): "cc306d0b73d499ba",
    (EventBasedGateway, "_predict_hook"): "b8c4d35129a9946c",
    (UnstructuredJoin, "_update_hook"): "dbaba6701e234236",
    (_EndJoin, "_check_threshold_unstructured"): "e466d541083a5bf8",
    (InclusiveGateway, "_check_threshold_unstructured"): "813fa3b93a629ea6",
}


@pytest.mark.parametrize(("owner", "name"), list(COPIED_LIBRARY_CODE), ids=lambda value: getattr(value, "__name__",
                                                                                                 value))
def test_the_library_code_copied_is_unchanged(owner: type[Any], name: str) -> None:
    """A SpiffWorkflow upgrade that changes these must be read against runner/fast_workflow.py first."""
    source = inspect.getsource(getattr(owner, name))
    assert hashlib.sha256(source.encode()).hexdigest()[:16] == COPIED_LIBRARY_CODE[(owner, name)]
