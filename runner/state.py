"""Workflow state without the spec: what a case row stores, restored onto the version's cached spec objects.

SpiffWorkflow's serializer embeds the whole spec in every workflow (ENGINE-NOTES.md). We compose its registry with
a workflow converter that leaves the specs out and, on restore, takes the parsed specs of the case's version. The
state is kept as compressed JSON bytes, never as a JSON column: task data are stored as deltas that must be restored
parent before child, which a JSONB column's key reordering would break.
"""

from __future__ import annotations

import json
import zlib
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter

from .dialect import SERIALIZER_CONFIG

STATE_FORMAT = 1


class SpecFreeWorkflowConverter(BpmnWorkflowConverter):  # type: ignore[misc]
    """Serializes a workflow without its specs; restores it onto specs handed in by the caller."""

    def to_dict(self, workflow: Any) -> dict[str, Any]:
        dct: dict[str, Any] = super().to_dict(workflow)
        dct.pop("spec")
        dct.pop("subprocess_specs")
        return dct

    def from_dict(self, dct: dict[str, Any], spec: Any = None, subprocess_specs: Any = None) -> Any:
        if spec is None:
            raise ValueError("restoring a workflow state needs the version's spec")
        workflow = self.target_class(spec, subprocess_specs, deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


STATE_SERIALIZER = BpmnWorkflowSerializer(
    BpmnWorkflowSerializer.configure({**SERIALIZER_CONFIG, BpmnWorkflow: SpecFreeWorkflowConverter})
)


def pack_state(workflow: Any) -> bytes:
    """The workflow's state (no spec) as compressed JSON, with our format number for later upgrades."""
    state = {"format": STATE_FORMAT, "workflow": STATE_SERIALIZER.to_dict(workflow)}
    return zlib.compress(json.dumps(state, separators=(",", ":"), ensure_ascii=False).encode(), 6)


def unpack_state(blob: bytes, spec: Any, subprocess_specs: dict[str, Any], script_engine: Any) -> Any:
    """Restore a workflow packed by ``pack_state`` onto the given (shared, cached) specs."""
    state = json.loads(zlib.decompress(blob))
    if state.get("format") != STATE_FORMAT:
        raise ValueError(f"unknown case state format {state.get('format')!r}")
    workflow = STATE_SERIALIZER.from_dict(state["workflow"], spec=spec, subprocess_specs=subprocess_specs)
    workflow.script_engine = script_engine
    return workflow
