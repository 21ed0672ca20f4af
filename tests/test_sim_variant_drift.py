"""The shipped variant ``processes/variants/parallel_plan_review`` is a whole copy of ``baozhuang.bpmn``: it must be
today's process with the plan review made parallel and nothing else, or a what-if comparison measures the copy's
age instead of the change. (It had fallen behind the main model: 一证受理 taken for every case, no 受理条件满足？
check, no 回访 clock from archiving — one surveyor fewer looked like +4.8 working days and 0.7 督办 per case.)

After a change of ``processes/baozhuang.bpmn`` rebuild the variant from it (the plan stage of the variant is kept,
everything else is taken from the main model) with::

    .venv/bin/python -m tests.test_sim_variant_drift --write
"""

from __future__ import annotations

import copy
import re
import sys
from pathlib import Path

from lxml import etree

ROOT = Path(__file__).resolve().parent.parent
MAIN = ROOT / "processes" / "baozhuang.bpmn"
VARIANT = ROOT / "processes" / "variants" / "parallel_plan_review" / "baozhuang.bpmn"

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BPMNDI = "http://www.omg.org/spec/BPMN/20100524/DI"
SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core"
PLAN_STAGE = "plan_stage"

# The nodes the variant rewires (gateways and flows between them are its own); its tasks keep their forms and
# scripts, only their documentation, flows and (draft_plan) a post-script forgetting stale review results differ.
REWIRED_TASKS = ("draft_plan", "review_plan", "approve_high_risk")
REWIRED_NODES = frozenset({*REWIRED_TASKS, "gw_review", "gw_high_risk", "gw_draft_merge", "end_plan_stage",
                           "end_plan_vetoed", "gw_review_split", "gw_review_join", "gw_high_risk_done",
                           "gw_high_risk_decision", "gw_plan_approved"})


def _q(ns: str, tag: str) -> str:
    return f"{{{ns}}}{tag}"


def _plan_stage(tree: etree._ElementTree) -> etree._Element:
    [stage] = [e for e in tree.getroot().iter(_q(BPMN, "subProcess")) if e.get("id") == PLAN_STAGE]
    return stage


def _ids_below(element: etree._Element) -> set[str]:
    return {e.get("id") for e in element.iter() if e.get("id")} - {element.get("id")}


def _c14n(element: etree._Element) -> bytes:
    element = copy.deepcopy(element)
    for e in element.iter():  # indentation is not content
        if isinstance(e.tag, str):
            if e.text is not None and not e.text.strip():
                e.text = None
            if e.tail is not None and not e.tail.strip():
                e.tail = None
    text: bytes = etree.tostring(element, method="c14n")
    return text


def _span(lines: list[str], element: etree._Element) -> tuple[int, int]:
    """The lines [start, end) of a pretty-printed element (one opening tag per line; closed at its indentation)."""
    start = element.sourceline - 1
    opening = lines[start]
    indent = opening[: len(opening) - len(opening.lstrip())]
    if opening.rstrip().endswith("/>") or re.search(r"</[\w:]+>\s*$", opening):
        return start, start + 1
    end = start + 1
    while not (lines[end].startswith(indent + "</") and lines[end][len(indent)] == "<"):
        end += 1
    return start, end + 1


def _parse(text: bytes) -> etree._ElementTree:
    return etree.ElementTree(etree.fromstring(text))


def rebuild(main_text: bytes, variant_text: bytes) -> bytes:
    """The main model (its text, line for line) with the variant's plan stage: the subprocess's flow elements, their
    diagram shapes and edges, and their lane entries."""
    main, variant = _parse(main_text), _parse(variant_text)
    main_lines = main_text.decode("utf-8").splitlines(keepends=True)
    variant_lines = variant_text.decode("utf-8").splitlines(keepends=True)
    main_stage, variant_stage = _plan_stage(main), _plan_stage(variant)
    main_ids, variant_ids = _ids_below(main_stage), _ids_below(variant_stage)
    edits: list[tuple[int, int, list[str]]] = []  # replace main_lines[start:end] by the lines

    def text_of(lines: list[str], element: etree._Element) -> list[str]:
        start, end = _span(lines, element)
        return lines[start:end]

    # the subprocess's own parts (script, flows in and out) stay today's; its flow elements are the variant's
    children = [child for child in main_stage if isinstance(child.tag, str)]
    stage_start, stage_end = _span(main_lines, main_stage)
    own = [line for child in children if not child.get("id") for line in text_of(main_lines, child)]
    content = [line for child in variant_stage if isinstance(child.tag, str) and child.get("id")
               for line in text_of(variant_lines, child)]
    edits.append((stage_start + 1, stage_end - 1, own + content))
    # diagram: today's shapes (edges) of the plan stage out, the variant's in where the first of them was
    main_plane = next(main.getroot().iter(_q(BPMNDI, "BPMNPlane")))
    variant_plane = next(variant.getroot().iter(_q(BPMNDI, "BPMNPlane")))
    for kind in ("BPMNShape", "BPMNEdge"):
        old = [e for e in main_plane if e.tag == _q(BPMNDI, kind) and e.get("bpmnElement") in main_ids]
        new = [line for e in variant_plane if e.tag == _q(BPMNDI, kind) and e.get("bpmnElement") in variant_ids
               for line in text_of(variant_lines, e)]
        for index, element in enumerate(old):
            start, end = _span(main_lines, element)
            edits.append((start, end, new if index == 0 else []))
    # lanes: the plan stage's entries as the variant has them, after today's other entries of the lane
    variant_lanes = {lane.get("id"): lane for lane in variant.getroot().iter(_q(BPMN, "lane"))}
    for lane in main.getroot().iter(_q(BPMN, "lane")):
        refs = lane.findall(_q(BPMN, "flowNodeRef"))
        other = variant_lanes.get(lane.get("id"))
        wanted = [ref.text for ref in other.findall(_q(BPMN, "flowNodeRef"))
                  if ref.text in variant_ids] if other is not None else []
        if not refs and not wanted:
            continue
        indent = "        "
        if refs:
            line = main_lines[refs[0].sourceline - 1]
            indent = line[: len(line) - len(line.lstrip())]
        stage_refs = [ref for ref in refs if ref.text in main_ids]
        for ref in stage_refs:
            edits.append((ref.sourceline - 1, ref.sourceline, []))
        added = [f"{indent}<bpmn:flowNodeRef>{name}</bpmn:flowNodeRef>\n" for name in wanted]
        at = (stage_refs[0].sourceline - 1) if stage_refs else (refs[-1].sourceline if refs else None)
        if at is None:
            raise ValueError(f"lane {lane.get('id')} has no entries to place the plan stage's next to")
        edits.append((at, at, added))
    for start, end, replacement in sorted(edits, key=lambda edit: (edit[0], edit[1]), reverse=True):
        main_lines[start:end] = replacement
    return "".join(main_lines).encode("utf-8")


def _without_wiring(task: etree._Element) -> bytes:
    task = copy.deepcopy(task)
    for tag in ("incoming", "outgoing", "documentation"):
        for child in task.findall(_q(BPMN, tag)):
            task.remove(child)
    for script in task.iter(_q(SPIFF, "postScript")):
        if "review_plan" in (script.text or "") and "pop" in (script.text or ""):
            script.getparent().remove(script)
    for extensions in task.findall(_q(BPMN, "extensionElements")):
        if not len(extensions):
            task.remove(extensions)
    return _c14n(task)


def test_the_variant_is_todays_process_outside_the_plan_stage() -> None:
    main_text, variant_text = MAIN.read_bytes(), VARIANT.read_bytes()
    expected = etree.fromstring(rebuild(main_text, variant_text))
    actual = etree.fromstring(variant_text)
    assert _c14n(actual) == _c14n(expected), (
        f"{VARIANT.relative_to(ROOT)} differs from processes/baozhuang.bpmn outside the plan stage (供电方案答复): "
        "rebuild it with `.venv/bin/python -m tests.test_sim_variant_drift --write`")


def test_the_variants_plan_stage_changes_only_the_review_wiring() -> None:
    main = etree.ElementTree(etree.fromstring(MAIN.read_bytes()))
    variant = etree.ElementTree(etree.fromstring(VARIANT.read_bytes()))
    main_stage, variant_stage = _plan_stage(main), _plan_stage(variant)
    by_id = {e.get("id"): e for e in variant_stage.iter() if e.get("id")}
    rewired_flows = {e.get("id") for stage in (main_stage, variant_stage)
                     for e in stage.iter(_q(BPMN, "sequenceFlow"))
                     if e.get("sourceRef") in REWIRED_NODES or e.get("targetRef") in REWIRED_NODES}
    differing = []
    for element in main_stage.iter():
        name = element.get("id")
        if not name or name == PLAN_STAGE or name in REWIRED_NODES or name in rewired_flows:
            continue
        if name not in by_id or _c14n(by_id[name]) != _c14n(element):
            differing.append(name)
    assert not differing, f"the variant's plan stage differs from today's outside the review wiring: {differing}"
    for name in REWIRED_TASKS:  # same forms, scripts, lanes' work: only wiring and documentation differ
        [today] = [e for e in main_stage.iter() if e.get("id") == name]
        assert _without_wiring(by_id[name]) == _without_wiring(today), name
    assert {"gw_review_split", "gw_review_join"} <= set(by_id)  # and it is still the parallel review


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python -m tests.test_sim_variant_drift --write")
    VARIANT.write_bytes(rebuild(MAIN.read_bytes(), VARIANT.read_bytes()))
    print(f"rebuilt {VARIANT.relative_to(ROOT)} from {MAIN.relative_to(ROOT)}")
