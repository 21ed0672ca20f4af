"""``validate`` (and so ``deploy``) names a step left without an outgoing or incoming sequence flow, at the step.
Before, a deleted flow passed validate and made the engine fail when a case reached the step ("At least one output
required"), or showed only as a sample failing at some later timer."""

from __future__ import annotations

import re
from pathlib import Path

from tests.test_validate import problem_lines, run_validate


def drop_flow(folder: Path, flow_id: str) -> None:
    """Delete a sequence flow from the main BPMN as the modeler does: the flow, its references and its edge."""
    path = folder / "baozhuang.bpmn"
    text = path.read_text(encoding="utf-8")
    for pattern in (rf'\s*<bpmn:sequenceFlow id="{flow_id}"[^>]*/>', rf"\s*<bpmn:outgoing>{flow_id}</bpmn:outgoing>",
                    rf"\s*<bpmn:incoming>{flow_id}</bpmn:incoming>",
                    rf'\s*<bpmndi:BPMNEdge id="[^"]*" bpmnElement="{flow_id}"[^>]*>.*?</bpmndi:BPMNEdge>'):
        text, count = re.subn(pattern, "", text, flags=re.S)
        assert count == 1, pattern
    path.write_text(text, encoding="utf-8")


def line_of(folder: Path, element_id: str) -> int:
    lines = (folder / "baozhuang.bpmn").read_text(encoding="utf-8").splitlines()
    return next(number for number, line in enumerate(lines, 1) if f'id="{element_id}"' in line)


def test_a_step_without_an_outgoing_flow_is_named_at_the_step(process_copy: Path) -> None:
    drop_flow(process_copy, "flow_compute_kpis_to_gw_join_proof")
    code, output = run_validate(process_copy)
    assert code == 1
    assert problem_lines(output) == [
        f"{process_copy / 'baozhuang.bpmn'}:{line_of(process_copy, 'compute_kpis')}: compute_kpis: "
        "「获得电力指标」 has no outgoing sequence flow: a case reaching it could not go on; connect it to the next "
        "step, or end the path with an end event"]


def test_a_step_nothing_leads_to_is_named_at_the_step(process_copy: Path) -> None:
    incoming = re.search(r'<bpmn:sequenceFlow id="(\w+)" sourceRef="\w+" targetRef="archive_documents"',
                         (process_copy / "baozhuang.bpmn").read_text(encoding="utf-8"))
    assert incoming is not None
    drop_flow(process_copy, incoming[1])
    code, output = run_validate(process_copy)
    assert code == 1
    lines = problem_lines(output)
    assert (": archive_documents: 「资料归档」 has no incoming sequence flow: no case ever reaches it; connect it, "
            "or delete it") in "\n".join(lines), output
