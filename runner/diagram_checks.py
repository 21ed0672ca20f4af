"""Every flow node and sequence flow of a BPMN file is drawn on its diagram (bpmndi).

SpiffWorkflow runs a process without its diagram; the case diagram, though, draws only what has a
``bpmndi:BPMNShape`` (flow nodes) or ``bpmndi:BPMNEdge`` (sequence flows), and leaves an undrawn element out without a
word. A shape may lie on any plane of the file: the process's own plane, or a separate plane of a collapsed
subprocess. A process that no plane shows and none of whose elements is drawn is one problem, not one per element.
A shape or edge left behind for an element that is no longer in the file is a problem too (``stale_drawings``),
reported once the file's other problems are fixed: an id changed by mistake is reported as what it breaks, and putting
it back mends its drawing as well.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .process_folder import BPMN_NS, NS, Problem

BPMNDI_NS = "http://www.omg.org/spec/BPMN/20100524/DI"
DI_NS = {**NS, "bpmndi": BPMNDI_NS}
FLOW_NODE_TAGS = frozenset({
    "task", "userTask", "manualTask", "serviceTask", "scriptTask", "businessRuleTask", "sendTask", "receiveTask",
    "callActivity", "subProcess", "transaction", "adHocSubProcess",
    "startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent",
    "exclusiveGateway", "parallelGateway", "inclusiveGateway", "eventBasedGateway", "complexGateway",
})
DRAW_IT = "draw it in the modeler"


def undrawn_elements(path: Path, tree: Any) -> Iterator[Problem]:
    """Flow nodes without a BPMNShape and sequence flows without a BPMNEdge on any plane of the file."""
    file = str(path)
    shapes = {shape.get("bpmnElement") for shape in tree.iterfind(".//bpmndi:BPMNShape", DI_NS)}
    edges = {edge.get("bpmnElement") for edge in tree.iterfind(".//bpmndi:BPMNEdge", DI_NS)}
    planes = _planned_processes(tree)
    for process in tree.iterfind(".//bpmn:process", NS):
        nodes = [el for el in process.iter(f"{{{BPMN_NS}}}*") if local_name(el) in FLOW_NODE_TAGS]
        flows = list(process.iter(f"{{{BPMN_NS}}}sequenceFlow"))
        if not nodes and not flows:
            continue
        drawn = any(node.get("id") in shapes for node in nodes) or any(flow.get("id") in edges for flow in flows)
        if process.get("id") not in planes and not drawn:
            yield Problem(file, process.sourceline, process.get("id", "-"),
                          f"{element_called(process, 'process')} has no diagram (no bpmndi:BPMNPlane shows it and "
                          f"none of its elements is drawn): {DRAW_IT}")
            continue
        for node in nodes:
            if node.get("id") not in shapes:
                yield _undrawn(file, node, kind_in_words(local_name(node)), "BPMNShape", "shape")
        for flow in flows:
            if flow.get("id") not in edges:
                yield _undrawn(file, flow, "sequence flow", "BPMNEdge", "edge")


def stale_drawings(path: Path, tree: Any) -> Iterator[Problem]:
    """Shapes, edges and planes whose ``bpmnElement`` names no element of the file: left behind when an element
    was deleted or its id changed in a text editor. The engine ignores them; bpmn.io opens the file with an
    "unresolved reference" warning and the case diagram's viewer drops them."""
    file = str(path)
    ids = {el.get("id") for el in tree.iter() if isinstance(el.tag, str) and el.get("id")}
    for tag in ("BPMNShape", "BPMNEdge", "BPMNPlane"):
        for drawing in tree.iterfind(f".//bpmndi:{tag}", DI_NS):
            target = drawing.get("bpmnElement")
            if target and target not in ids:
                yield Problem(file, drawing.sourceline, drawing.get("id") or target,
                              f'bpmndi:{tag} draws "{target}", which is no element of this file (deleted, or its id '
                              f"changed): delete this {tag.removeprefix('BPMN').lower()}, or point bpmnElement at "
                              "the element's new id")


def _planned_processes(tree: Any) -> set[str | None]:
    """Ids of the processes a BPMNPlane shows: directly, or through a collaboration's participants."""
    planned = {plane.get("bpmnElement") for plane in tree.iterfind(".//bpmndi:BPMNPlane", DI_NS)}
    for collaboration in tree.iterfind(".//bpmn:collaboration", NS):
        if collaboration.get("id") in planned:
            planned.update(p.get("processRef") for p in collaboration.iterfind("bpmn:participant", NS))
    return planned


def _undrawn(file: str, element: Any, kind: str, di_tag: str, drawing: str) -> Problem:
    element_id = element.get("id", "-")
    return Problem(file, element.sourceline, element_id,
                   f'{element_called(element, kind)} has no {drawing} on the diagram (bpmndi:{di_tag} '
                   f'bpmnElement="{element_id}"): {DRAW_IT}')


def element_called(element: Any, kind: str) -> str:
    """「name」 when the element has a name, else what kind of element it is."""
    name = " ".join((element.get("name") or "").split())
    return f"「{name}」" if name else kind


def local_name(element: Any) -> str:
    tag = element.tag
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def kind_in_words(tag: str) -> str:
    """A BPMN tag's local name in words: ``exclusiveGateway`` → ``exclusive gateway``, ``subProcess`` →
    ``subprocess``."""
    plain = tag.replace("subProcess", "subprocess").replace("SubProcess", "Subprocess")
    return re.sub(r"(?<!^)(?=[A-Z])", " ", plain).lower()
