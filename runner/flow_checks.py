"""Every flow node of a BPMN process lies on a path: something leads to it and it leads somewhere.

SpiffWorkflow needs an outgoing sequence flow on every step but an end event: a step left without one (a flow
deleted in the modeler) makes the engine fail when a case reaches it ("At least one output required"), far from the
cause. A step nothing leads to is never reached, so whatever the analyst meant it to do silently never happens.
Both are reported at the step, before anything runs. Not judged: start events and boundary events (nothing leads
to them), end events (they lead nowhere), the contents of an event subprocess's trigger, compensation handlers
(reached by association), and elements of ad-hoc subprocesses (free order, no flows).

An error or escalation boundary event is reached only by a throw inside its activity: one whose activity holds no
such throw any more (the steps that threw were deleted) leaves its path dead, and is reported at the boundary event
(``uncaught_boundaries``).

An event-based gateway waits for the events its flows lead to, the first one decides: each flow must lead to an
intermediate catch event (or a receive task), and at most one of them may be a timer (the gateway's task keeps one
deadline: a second timer would share it) — ``event_gateway_targets``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .diagram_checks import FLOW_NODE_TAGS, element_called, kind_in_words, local_name
from .process_folder import BPMN_NS, NS, Problem

CONTAINER_TAGS = frozenset({"process", "subProcess", "transaction"})
"""Elements whose direct children are flow nodes joined by sequence flows."""
NO_INCOMING = frozenset({"startEvent", "boundaryEvent"})
NO_OUTGOING = frozenset({"endEvent"})


def unconnected_steps(path: Path, tree: Any) -> Iterator[Problem]:
    """A problem for every flow node without an outgoing (all but end events) or an incoming (all but start and
    boundary events) sequence flow in its own process or subprocess."""
    file = str(path)
    for container in tree.iter(*(f"{{{BPMN_NS}}}{tag}" for tag in CONTAINER_TAGS)):
        flows = list(container.iterfind("bpmn:sequenceFlow", NS))
        flow_ids = {flow.get("id") for flow in flows}
        sources = {flow.get("sourceRef") for flow in flows}
        targets = {flow.get("targetRef") for flow in flows}
        for node in container:
            kind = local_name(node)
            if kind not in FLOW_NODE_TAGS or node.get("isForCompensation") == "true":
                continue
            if kind == "subProcess" and node.get("triggeredByEvent") == "true":
                continue  # an event subprocess: started by its trigger, ends by itself
            node_id = node.get("id", "-")
            name = element_called(node, kind_in_words(kind))
            if kind not in NO_OUTGOING and not _listed(node, "outgoing", node_id, sources, flow_ids) \
                    and not _compensation_boundary(node):
                yield Problem(file, node.sourceline, node_id,
                              f"{name} has no outgoing sequence flow: a case reaching it could not go on; connect "
                              "it to the next step, or end the path with an end event")
            if kind not in NO_INCOMING and not _listed(node, "incoming", node_id, targets, flow_ids):
                yield Problem(file, node.sourceline, node_id,
                              f"{name} has no incoming sequence flow: no case ever reaches it; connect it, or "
                              "delete it")


def _listed(node: Any, direction: str, node_id: str, ends: set[str | None], flow_ids: set[str | None]) -> bool:
    """Whether a flow of the container starts (``outgoing``) or ends (``incoming``) at the node: its own
    ``sourceRef``/``targetRef``, or the node's ``bpmn:outgoing``/``bpmn:incoming`` naming an existing flow (so that a
    flow whose other reference is broken, reported on its own, brings no second problem here)."""
    return node_id in ends or any((child.text or "").strip() in flow_ids
                                  for child in node.iterfind(f"bpmn:{direction}", NS))


def _compensation_boundary(node: Any) -> bool:
    """A compensation boundary event: it leads to its handler by an association, not a sequence flow."""
    return local_name(node) == "boundaryEvent" and node.find("bpmn:compensateEventDefinition", NS) is not None


# -- error and escalation boundary events that nothing throws ---------------------------------------------------

THROWN = {"error": "errorRef", "escalation": "escalationRef"}
"""The events a boundary event catches from inside its activity, and the attribute naming which one."""
SCOPES = frozenset({"subProcess", "transaction", "callActivity"})
"""Activities whose inside throws to their boundary events (a task's error comes from no BPMN element)."""


def uncaught_boundaries(path: Path, tree: Any) -> Iterator[Problem]:
    """A problem for every error or escalation boundary event on a subprocess or call activity when nothing inside
    can throw what it catches (no end or throw event of that error or escalation — the same code —, or of any when
    it names none): the path after it can never run, typically left over when the steps that threw were deleted.
    A call activity whose process is in another file is not judged."""
    file = str(path)
    processes = {process.get("id"): process for process in tree.iterfind(".//bpmn:process", NS)}
    codes = {node.get("id"): node.get("errorCode") or node.get("escalationCode") or node.get("id")
             for node in tree.iter(f"{{{BPMN_NS}}}error", f"{{{BPMN_NS}}}escalation")}
    by_id = {node.get("id"): node for node in tree.iter() if isinstance(node.tag, str) and node.get("id")}
    for boundary in tree.iter(f"{{{BPMN_NS}}}boundaryEvent"):
        activity = by_id.get(boundary.get("attachedToRef"))
        if activity is None or local_name(activity) not in SCOPES:
            continue
        for kind, attribute in THROWN.items():
            caught = boundary.find(f"bpmn:{kind}EventDefinition", NS)
            if caught is None:
                continue
            thrown = _thrown_inside(activity, kind, processes)
            if thrown is None:
                continue  # a call into another file's process
            wanted = caught.get(attribute)
            if any(not wanted or codes.get(ref, ref) == codes.get(wanted, wanted) for ref in thrown):
                continue
            what = f'{kind} "{codes.get(wanted, wanted)}"' if wanted else f"any {kind}"
            where = element_called(activity, kind_in_words(local_name(activity)))
            yield Problem(file, boundary.sourceline, boundary.get("id", "-"),
                          f"{element_called(boundary, 'boundary event')} catches {what} from {where}, but nothing "
                          f"in it throws one: the path after it never runs; delete the boundary event and its "
                          f"path, or throw the {kind} where it should be raised")


def _thrown_inside(activity: Any, kind: str, processes: dict[str | None, Any]) -> list[str | None] | None:
    """The refs of the ``kind`` events thrown inside an activity (a subprocess's own elements, a called process of
    this file, and what they call in turn); None when it calls a process this file does not hold."""
    scopes = [activity]
    if local_name(activity) == "callActivity":
        called = processes.get(activity.get("calledElement"))
        if called is None:
            return None
        scopes = [called]
    thrown: list[str | None] = []
    seen: set[str | None] = set()
    while scopes:
        scope = scopes.pop()
        for event in scope.iter(f"{{{BPMN_NS}}}endEvent", f"{{{BPMN_NS}}}intermediateThrowEvent"):
            definitions = event.iterfind(f"bpmn:{kind}EventDefinition", NS)
            thrown.extend(definition.get(THROWN[kind]) for definition in definitions)
        for call in scope.iter(f"{{{BPMN_NS}}}callActivity"):
            name = call.get("calledElement")
            if name not in seen:
                seen.add(name)
                if name not in processes:
                    return None
                scopes.append(processes[name])
    return thrown


EVENT_GATEWAY_TARGETS = frozenset({"intermediateCatchEvent", "receiveTask"})


def event_gateway_targets(path: Path, tree: Any) -> Iterator[Problem]:
    """A problem for every event-based gateway with a flow to anything but a catch event or receive task, or with
    more than one timer event after it."""
    file = str(path)
    for container in tree.iter(*(f"{{{BPMN_NS}}}{tag}" for tag in CONTAINER_TAGS)):
        nodes = {node.get("id"): node for node in container if local_name(node) in FLOW_NODE_TAGS}
        flows = list(container.iterfind("bpmn:sequenceFlow", NS))
        for gateway in container.iterfind("bpmn:eventBasedGateway", NS):
            gateway_id = gateway.get("id", "-")
            name = element_called(gateway, "event-based gateway")
            targets = [nodes.get(flow.get("targetRef")) for flow in flows if flow.get("sourceRef") == gateway_id]
            timers = []
            for target in targets:
                if target is None:
                    continue
                kind = local_name(target)
                if kind not in EVENT_GATEWAY_TARGETS:
                    yield Problem(file, gateway.sourceline, gateway_id,
                                  f"{name} leads to {element_called(target, kind_in_words(kind))} "
                                  f"({target.get('id')}), a {kind_in_words(kind)}: an event-based gateway's flows "
                                  "lead to intermediate catch events (a message, a timer …) or receive tasks, and "
                                  "the first to happen decides")
                elif target.find("bpmn:timerEventDefinition", NS) is not None:
                    timers.append(target.get("id"))
            if len(timers) > 1:
                yield Problem(file, gateway.sourceline, gateway_id,
                              f"{name} waits for {len(timers)} timers ({', '.join(str(t) for t in timers)}): keep "
                              "one, the earliest deadline (the gateway keeps a single deadline)")


CONDITIONAL_GATEWAYS = ("exclusiveGateway", "inclusiveGateway")


def conditionless_flows(path: Path, tree: Any) -> Iterator[Problem]:
    """A flow leaving an exclusive or inclusive gateway that has other flows, with no condition and not the
    gateway's default: the parser refuses it ("Non-default exclusive outgoing sequence flow without condition",
    at no line); reported at the flow, saying what to do."""
    file = str(path)
    for container in tree.iter(*(f"{{{BPMN_NS}}}{tag}" for tag in CONTAINER_TAGS)):
        flows = list(container.iterfind("bpmn:sequenceFlow", NS))
        for tag in CONDITIONAL_GATEWAYS:
            for gateway in container.iterfind(f"bpmn:{tag}", NS):
                gateway_id = gateway.get("id", "-")
                leaving = [flow for flow in flows if flow.get("sourceRef") == gateway_id]
                if len(leaving) < 2:
                    continue  # a single flow without a condition is the gateway's way on
                default = gateway.get("default")
                if default and default not in {flow.get("id") for flow in leaving}:
                    continue  # a default naming no flow of the gateway is that problem (broken_references)
                for flow in leaving:
                    if flow.get("id") == default or (flow.findtext("bpmn:conditionExpression", None, NS) or "").strip():
                        continue
                    gateway_name = element_called(gateway, kind_in_words(tag))
                    said = f" (that is {default})" if default else ""
                    yield Problem(file, flow.sourceline, flow.get("id", "-"),
                                  f"{element_called(flow, 'sequence flow')} leaves {gateway_name} ({gateway_id}) "
                                  f"without a condition and is not its default flow{said}: give it a condition, or "
                                  f'make it the default (default="{flow.get("id", "")}" on the gateway; in the '
                                  "modeler: the wrench menu of the flow, Default flow)")
