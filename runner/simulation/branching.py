"""Branch-probability overrides: let the simulation decide chosen exclusive gateways by probability.

An analyst may replace the data-driven conditions of an exclusive gateway's outgoing flows with probabilities
(``branch_probabilities: {flow_id: p}``). The simulation parses the process folder with ``SimulationBpmnParser``,
a subclass of our dialect whose gateway parser rewrites the condition of every overridden flow at parse time into
``_sim_branch("<gateway>", "<flow>")``; the library classes and the production bundle stay untouched. At run time
the function draws one uniform number per gateway visit (from the case's stream) and answers whether it falls into
the flow's slot. The gateway's default flow takes the remaining probability.

An inclusive (OR) gateway's flows are decided as Prosimos decides them: each flow independently with its
probability, and when no flow came up, one of them drawn with the probabilities as weights (so at least one is
always taken); SpiffWorkflow's inclusive gateway then joins the flows that were taken.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnParser
from SpiffWorkflow.bpmn.parser.task_parsers import ConditionalGatewayParser
from SpiffWorkflow.bpmn.parser.util import full_tag
from SpiffWorkflow.spiff.parser.process import VALIDATOR

from runner.dialect import CaseBpmnParser
from runner.process_folder import (
    FORMS_DIR,
    MAIN_PROCESS_ID,
    NS,
    ProcessBundle,
    content_hash,
    lane_roles,
    start_form,
)

BRANCH_FUNCTION = "_sim_branch"
TOLERANCE = 1e-6


class BranchError(ValueError):
    """Overrides that do not fit the model; ``flow`` names the offending sequence flow (or gateway)."""

    def __init__(self, flow: str, message: str) -> None:
        super().__init__(message)
        self.flow = flow


@dataclass
class BranchTable:
    """Per overridden gateway: its overridden flows in evaluation order with their probabilities."""

    gateways: dict[str, list[tuple[str, float]]] = field(default_factory=dict)
    inclusive: set[str] = field(default_factory=set)
    """The inclusive gateways among ``gateways``: several of their flows may be taken."""
    with_default: set[str] = field(default_factory=set)
    """The inclusive gateways with a default flow: taken alone when none of the others came up."""

    def chooser(self, draw: Callable[[str, int], random.Random]) -> Callable[[str, str], bool]:
        """The ``_sim_branch`` function for one case; ``draw(gateway, visit)`` gives that visit's stream. The
        gateway evaluates its flows' conditions in order, each once per visit: the first flow's starts a visit."""
        visits: dict[str, int] = {}
        current: dict[str, float] = {}
        taken: dict[str, set[str]] = {}

        def sim_branch(gateway: str, flow: str) -> bool:
            flows = self.gateways[gateway]
            if flow == flows[0][0] or (gateway not in current and gateway not in taken):
                visit = visits.get(gateway, 0)
                visits[gateway] = visit + 1
                if gateway in self.inclusive:
                    taken[gateway] = inclusive_choice(flows, draw(gateway, visit), gateway in self.with_default)
                else:
                    current[gateway] = draw(gateway, visit).random()
            if gateway in self.inclusive:
                return flow in taken[gateway]
            u = current[gateway]
            low = 0.0
            for name, probability in flows:
                if name == flow:
                    return low <= u < low + probability
                low += probability
            return False

        return sim_branch


def inclusive_choice(flows: list[tuple[str, float]], stream: random.Random, has_default: bool = False) -> set[str]:
    """The flows an inclusive gateway takes on one visit, as Prosimos 2.1.0 chooses them
    (``Choice.get_multiple_flows``): each flow with its probability, one draw per flow in order; none came up →
    one flow drawn with the probabilities as weights (equal weights when they are all 0), or, ``has_default``,
    none of them (the gateway takes its default flow, as BPMN says)."""
    chosen = {flow for flow, probability in flows if stream.random() < probability}
    if chosen or has_default:
        return chosen
    total = sum(probability for _flow, probability in flows)
    u, low = stream.random() * (total or len(flows)), 0.0
    for flow, probability in flows:
        low += probability if total else 1.0
        if u < low:
            return {flow}
    return {flows[-1][0]}


SPLITTING_GATEWAYS = ("exclusiveGateway", "inclusiveGateway")


def gateway_flows(tree: Any) -> dict[str, tuple[str, list[str], str | None]]:
    """flow id → (gateway id, that gateway's outgoing flow ids, its default flow) for exclusive and inclusive
    gateways."""
    found: dict[str, tuple[str, list[str], str | None]] = {}
    for tag in SPLITTING_GATEWAYS:
        for gateway in tree.iterfind(f".//bpmn:{tag}", NS):
            gid = gateway.get("id", "")
            outgoing = [flow.get("id", "")
                        for flow in tree.iterfind(f".//bpmn:sequenceFlow[@sourceRef='{gid}']", NS)]
            for flow in outgoing:
                found[flow] = (gid, outgoing, gateway.get("default"))
    return found


def inclusive_gateways(trees: list[Any]) -> set[str]:
    return {gateway.get("id", "") for tree in trees for gateway in tree.iterfind(".//bpmn:inclusiveGateway", NS)}


def check_overrides(trees: list[Any], overrides: dict[str, float]) -> None:
    """Every overridden flow leaves an exclusive or an inclusive gateway and every conditional flow of its gateway
    is given; an exclusive gateway's probabilities add up to 1 (or at most 1 when a default flow takes the rest),
    an inclusive gateway's are each a flow's own chance (0–1; they need not add up to 1)."""
    flows: dict[str, tuple[str, list[str], str | None]] = {}
    for tree in trees:
        flows.update(gateway_flows(tree))
    inclusive = inclusive_gateways(trees)
    per_gateway: dict[str, float] = {}
    for flow, probability in overrides.items():
        if flow not in flows:
            raise BranchError(flow, f"{flow!r} is not a sequence flow leaving an exclusive or inclusive gateway")
        gateway, outgoing, default = flows[flow]
        if flow == default:
            raise BranchError(flow, f"{flow!r} is the default flow of {gateway}: it takes the remaining probability")
        per_gateway[gateway] = per_gateway.get(gateway, 0.0) + probability
        missing = [f for f in outgoing if f != default and f not in overrides]
        if missing:
            raise BranchError(flow, f"gateway {gateway}: give probabilities for all its flows (missing {missing})")
    for gateway, total in per_gateway.items():
        if gateway in inclusive:
            continue
        default = next(d for g, _o, d in flows.values() if g == gateway)
        if total > 1 + TOLERANCE or (default is None and abs(total - 1.0) > TOLERANCE):
            first = next(f for f in overrides if flows[f][0] == gateway)
            raise BranchError(first, f"gateway {gateway}: probabilities add up to {total:g}, "
                                     f"must be {'at most ' if default else ''}1")


class SimulationGatewayParser(ConditionalGatewayParser):  # type: ignore[misc]
    """Rewrites the condition of an overridden flow into a call of the simulation's branch function."""

    def parse_condition(self, sequence_flow: Any) -> Any:
        parser = self.process_parser.parser
        overrides: dict[str, float] = getattr(parser, "branch_overrides", {})
        flow = sequence_flow.get("id")
        if flow in overrides:
            gateway = self.node.get("id")
            parser.branch_table.gateways.setdefault(gateway, []).append((flow, overrides[flow]))
            if etree.QName(self.node).localname == "inclusiveGateway":
                parser.branch_table.inclusive.add(gateway)
                if self.node.get("default"):
                    parser.branch_table.with_default.add(gateway)
            return f"{BRANCH_FUNCTION}({gateway!r}, {flow!r})"
        return super().parse_condition(sequence_flow)


def _spec_class(tag: str) -> type:
    _parser, spec_class = CaseBpmnParser.OVERRIDE_PARSER_CLASSES.get(full_tag(tag)) or \
        BpmnParser.PARSER_CLASSES[full_tag(tag)]
    return spec_class  # type: ignore[no-any-return]


class SimulationBpmnParser(CaseBpmnParser):
    """Our dialect plus probability-decided exclusive and inclusive gateways (simulation only)."""

    OVERRIDE_PARSER_CLASSES = {
        **CaseBpmnParser.OVERRIDE_PARSER_CLASSES,
        **{full_tag(tag): (SimulationGatewayParser, _spec_class(tag)) for tag in SPLITTING_GATEWAYS},
    }

    def __init__(self, overrides: dict[str, float]) -> None:
        super().__init__(validator=VALIDATOR)
        self.branch_overrides = dict(overrides)
        self.branch_table = BranchTable()


def load_with_overrides(root: Path, overrides: dict[str, float],
                        main_process: str = MAIN_PROCESS_ID) -> tuple[ProcessBundle, BranchTable]:
    """Parse a process folder like ``load_process_folder`` but with the overridden gateways rewritten."""
    parser = SimulationBpmnParser(overrides)
    trees = []
    roles: dict[str, str] = {}
    main_start_form = None
    for path in sorted(root.glob("*.bpmn")):
        tree = etree.parse(str(path))
        trees.append(tree)
        parser.add_bpmn_xml(tree, filename=str(path))
        roles.update(lane_roles(tree))
        main_start_form = main_start_form or start_form(tree, main_process)
    check_overrides(trees, overrides)
    for path in sorted(root.glob("*.dmn")):
        parser.add_dmn_file(str(path))
    spec = parser.get_spec(main_process)
    subprocess_specs = parser.get_subprocess_specs(main_process)
    forms = {path.name: json.loads(path.read_text(encoding="utf-8"))
             for path in sorted((root / FORMS_DIR).glob("*.json"))}
    bundle = ProcessBundle(root, content_hash(root), spec, subprocess_specs, forms, roles, main_start_form)
    return bundle, parser.branch_table
