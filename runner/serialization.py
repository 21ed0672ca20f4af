"""Saving and restoring a running workflow (SpiffWorkflow's JSON serializer with the Spiff dialect).

The script engine is not part of the saved state: whoever restores a workflow gives it its engine again.
"""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer

from .dialect import serializer_registry

SERIALIZER = BpmnWorkflowSerializer(serializer_registry())


def dump_workflow(workflow: Any) -> str:
    """The workflow (spec and state) as a JSON string."""
    text: str = SERIALIZER.serialize_json(workflow)
    return text


def load_workflow(text: str, script_engine: Any) -> Any:
    """Restore a workflow from ``dump_workflow`` output and give it its script engine."""
    workflow = SERIALIZER.deserialize_json(text)
    workflow.script_engine = script_engine
    return workflow


def workflow_state(workflow: Any) -> dict[str, Any]:
    """The workflow as a plain dict, for comparing two workflows."""
    state: dict[str, Any] = SERIALIZER.to_dict(workflow)
    return state
