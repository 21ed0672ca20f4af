"""Saving and restoring a running workflow (SpiffWorkflow's JSON serializer with the Spiff dialect).

Cases are stored through ``runner.state`` (no spec); this full form serves comparisons and round-trip checks.
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


def workflow_state(workflow: Any) -> dict[str, Any]:
    """The workflow as a plain dict, for comparing two workflows."""
    state: dict[str, Any] = SERIALIZER.to_dict(workflow)
    return state
