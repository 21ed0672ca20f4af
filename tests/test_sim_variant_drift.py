"""The shipped variant ``processes/variants/parallel_plan_review`` is a whole copy of ``baozhuang.bpmn``: it must be
today's process with the plan review made parallel and nothing else, or a what-if comparison measures the copy's
age instead of the change. (It had fallen behind the main model: 一证受理 taken for every case, no 受理条件满足？
check, no 回访 clock from archiving — one surveyor fewer looked like +4.8 working days and 0.7 督办 per case.)

After a change of ``processes/baozhuang.bpmn`` rebuild the variant from it (the plan stage of the variant is kept,
everything else is taken from the main model; ``runner.simulation.variant_rebuild``) with::

    baozhuang variant rebuild processes/variants/parallel_plan_review

(``.venv/bin/python -m tests.test_sim_variant_drift --write`` does the same; ``--check`` only reports.)
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path

from lxml import etree

from runner.simulation.variant_rebuild import c14n as _c14n
from runner.simulation.variant_rebuild import drift, rebuild, variant_parts

ROOT = Path(__file__).resolve().parent.parent
MAIN = ROOT / "processes" / "baozhuang.bpmn"
VARIANT = ROOT / "processes" / "variants" / "parallel_plan_review" / "baozhuang.bpmn"

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
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
    assert variant_parts(main_text, variant_text) == [PLAN_STAGE]  # what the variant rebuild keeps by itself
    expected = rebuild(main_text, variant_text, [PLAN_STAGE])
    assert _c14n(etree.fromstring(variant_text)) == _c14n(etree.fromstring(expected)), (
        f"{VARIANT.relative_to(ROOT)} differs from processes/baozhuang.bpmn outside the plan stage (供电方案答复) at "
        f"{', '.join(drift(expected, variant_text))}: rebuild it with "
        "`baozhuang variant rebuild processes/variants/parallel_plan_review`")


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


if __name__ == "__main__":  # kept for habit: ``baozhuang variant rebuild`` is the command
    from runner.cli import main

    if sys.argv[1:] not in (["--write"], ["--check"]):
        sys.exit("usage: python -m tests.test_sim_variant_drift --write|--check")
    check = ["--check"] if sys.argv[1:] == ["--check"] else []
    main(["variant", "rebuild", str(VARIANT.parent), "--keep", PLAN_STAGE, *check])
