"""Which sequence flows a case took, read from SpiffWorkflow's task tree, for path-coverage tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lxml import etree
from SpiffWorkflow.util.task import TaskState

from runner.case import HumanTask
from runner.process_folder import NS
from runner.serialization import workflow_state
from runner.trial import TrialDriver

TAKEN = TaskState.READY | TaskState.WAITING | TaskState.STARTED | TaskState.COMPLETED | TaskState.ERROR


def gateway_flows(bpmn_file: Path) -> dict[str, list[tuple[str, str]]]:
    """For each exclusive or inclusive gateway with more than one outgoing flow: [(flow id, target id)]."""
    tree = etree.parse(str(bpmn_file))
    flows: dict[str, list[tuple[str, str]]] = {}
    gateways = {
        el.get("id")
        for tag in ("exclusiveGateway", "inclusiveGateway")
        for el in tree.iterfind(f".//bpmn:{tag}", NS)
    }
    for flow in tree.iterfind(".//bpmn:sequenceFlow", NS):
        source = flow.get("sourceRef")
        if source in gateways:
            flows.setdefault(source, []).append((flow.get("id"), flow.get("targetRef")))
    return {gateway: outgoing for gateway, outgoing in flows.items() if len(outgoing) > 1}


def _first_bpmn_ids(task: Any) -> set[str]:
    """The BPMN ids a child task stands for (looking through the engine's internal wrapper tasks)."""
    bpmn_id = getattr(task.task_spec, "bpmn_id", None)
    if bpmn_id:
        return {bpmn_id}
    found: set[str] = set()
    for child in task.children:
        found |= _first_bpmn_ids(child)
    return found


def taken_targets(workflow: Any) -> set[tuple[str, str]]:
    """(gateway id, target id) for every gateway outcome the case has taken so far."""
    taken: set[tuple[str, str]] = set()
    for task in workflow.get_tasks(state=TaskState.COMPLETED):
        gateway = getattr(task.task_spec, "bpmn_id", None)
        if gateway is None or "Gateway" not in type(task.task_spec).__name__:
            continue
        for child in task.children:
            if child.state & TAKEN:
                taken |= {(gateway, target) for target in _first_bpmn_ids(child)}
    return taken


class RoundTripDriver(TrialDriver):
    """A trial that saves and restores the workflow before every user task and checks that nothing changed."""

    round_trips = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.seen_taken: set[tuple[str, str]] = set()

    def taken(self) -> set[tuple[str, str]]:
        """``taken_targets`` over the whole run: a save drops finished subprocesses (state format 3), so the
        outcomes of gateways inside them are collected before each save."""
        return self.seen_taken | taken_targets(self.case.workflow)

    def answer(self, task: HumanTask) -> None:
        self.seen_taken |= taken_targets(self.case.workflow)
        stored = self.case.save_state()  # the stored form: state without the spec (saving empties the data of
        before = workflow_state(self.case.workflow)  # finished subprocesses in the live workflow too)
        self.case.restore(stored)
        assert workflow_state(self.case.workflow) == before, f"round trip changed the workflow at {task.element_id}"
        self.round_trips += 1
        super().answer(task)
