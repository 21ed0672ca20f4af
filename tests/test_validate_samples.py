"""`baozhuang validate` and `baozhuang deploy` run every sample of the folder's samples/ through the process in memory
(as `baozhuang try` does) and name a sample that fails at the element, or the decision table rule, that failed; a
string in a DMN input cell that its column can never hold is named at the cell without running anything."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select

from runner.models import ProcessVersion
from tests.db import Db, run_cli
from tests.test_validate import cell_line, element_line, problem_lines, replace_in, run_validate

CATEGORY_CELL = '<inputEntry id="rule_1_input_2"><text>"lv_residential"</text>'
SINGLE_SUPPLY_CELL = '<inputEntry id="rule_3_input_3"><text>False</text>'
DECISION = 'decision "time_limits" (确定办理时限)'
CATEGORIES = '"hv_important", "hv_ordinary", "lv_other", "lv_residential", "lv_smallmicro"'


def inputs(category: str, dual_supply: bool) -> str:
    return f"regime = 'statute', category = '{category}', application[\"dual_supply\"] = {dual_supply}"


def test_a_category_no_table_gives_is_named_at_its_cell(process_copy: Path) -> None:
    """"lv_residental": every lv_residential case would find no rule at decide_time_limits (an incident each)."""
    dmn = process_copy / "time_limits.dmn"
    line = cell_line(dmn, CATEGORY_CELL)
    replace_in(dmn, CATEGORY_CELL, CATEGORY_CELL.replace("lv_residential", "lv_residental"))
    code, output = run_validate(process_copy)
    assert code == 1
    assert problem_lines(output) == [
        f'{dmn}:{line}: rule_1: input entry rule_1_input_2 (category): "lv_residental" is no value category can '
        f'have: only customer_category.dmn sets category, to {CATEGORIES} (did you mean "lv_residential"?)']


def test_a_list_of_categories_is_read_item_by_item(process_copy: Path) -> None:
    dmn = process_copy / "time_limits.dmn"
    cell = '<inputEntry id="rule_2_input_2"><text>? in ["lv_smallmicro", "lv_other"]</text>'
    line = cell_line(dmn, cell)
    replace_in(dmn, cell, cell.replace('"lv_other"', '"lv_othr"'))
    code, output = run_validate(process_copy)
    assert code == 1
    assert problem_lines(output) == [
        f'{dmn}:{line}: rule_2: input entry rule_2_input_2 (category): "lv_othr" is no value category can have: '
        f'only customer_category.dmn sets category, to {CATEGORIES} (did you mean "lv_other"?)']


@pytest.mark.parametrize("allowed", ['in ["statute", "sgcc_commitment", "sgcc_internal", "csg"]',
                                     '"statute", "sgcc_commitment", "sgcc_internal", "csg"'],
                         ids=["input-entry", "modeler-list"])
def test_a_literal_outside_the_declared_input_values_is_named(process_copy: Path, allowed: str) -> None:
    """Allowed values are written as an input entry is, or as a DMN modeler lists them (literals and commas)."""
    dmn = process_copy / "time_limits.dmn"
    replace_in(dmn, "<text>regime</text>\n        </inputExpression>",
               "<text>regime</text>\n        </inputExpression>\n"
               f'        <inputValues id="input_1_values"><text>{allowed}</text></inputValues>')
    cell = '<inputEntry id="rule_5_input_1"><text>"sgcc_commitment"</text>'
    line = cell_line(dmn, cell)
    replace_in(dmn, cell, cell.replace("sgcc_commitment", "sgcc_comitment"))
    code, output = run_validate(process_copy)
    assert code == 1
    assert problem_lines(output) == [
        f'{dmn}:{line}: rule_5: input entry rule_5_input_1 (regime): "sgcc_comitment" is not among the column\'s '
        f"allowed values (inputValues: {allowed})"]


def test_overlapping_rules_are_named_by_the_samples_that_meet_them(process_copy: Path) -> None:
    """rule_3 (high voltage, single supply) made to match any supply overlaps rule_4 (dual supply) under UNIQUE: no
    two rules are the same, so only a case shows it; the dual-supply samples do."""
    dmn = process_copy / "time_limits.dmn"
    replace_in(dmn, SINGLE_SUPPLY_CELL, SINGLE_SUPPLY_CELL.replace("False", "-"))
    rule_3 = cell_line(dmn, '<rule id="rule_3">')
    code, output = run_validate(process_copy)
    assert code == 1
    assert problem_lines(output) == [
        f"{dmn}:{rule_3}: decide_time_limits: sample {sample}: {DECISION}: hit policy UNIQUE, but rules rule_3, "
        f"rule_4 all match {inputs(category, True)}. Business Rule Task '确定办理时限'."
        for sample, category in (("hv_important", "hv_important"), ("hv_ordinary_dual", "hv_ordinary"))]


def test_a_gap_is_named_at_the_decision_before_any_sample_runs(process_copy: Path) -> None:
    """rule_1 (residential) turned into a second small-business rule: no rule is left for residential cases, which
    the table shows (the categories are known), so no sample needs to run into it (the samples used to name it, and
    the overlap with rule_2, which ``decide`` and a sample still find once the gap is filled)."""
    dmn = process_copy / "time_limits.dmn"
    replace_in(dmn, CATEGORY_CELL, CATEGORY_CELL.replace("lv_residential", "lv_smallmicro"))
    decision = cell_line(dmn, '<decision id="time_limits"')
    code, output = run_validate(process_copy)
    assert code == 1
    assert problem_lines(output) == [
        f'{dmn}:{decision}: time_limits: no rule matches regime = "statute", category = "lv_residential": a case of '
        "it would stop at the business rule task; add rules for it"]


def test_a_name_a_script_sets_is_left_to_the_samples(process_copy: Path) -> None:
    """When a script may set ``category`` too, its values are not known from the tables: the typo is not judged on
    the file, and the lv_residential sample names it."""
    replace_in(process_copy / "baozhuang.bpmn", "has_property_proof = application[\"has_property_proof\"]",
               "has_property_proof = application[\"has_property_proof\"]\ncategory = None")
    dmn = process_copy / "time_limits.dmn"
    replace_in(dmn, CATEGORY_CELL, CATEGORY_CELL.replace("lv_residential", "lv_residental"))
    code, output = run_validate(process_copy)
    assert code == 1
    assert problem_lines(output) == [
        f"{dmn}:{cell_line(dmn, '<decision id=')}: decide_time_limits: sample lv_residential: {DECISION}: no rule "
        f"matches {inputs('lv_residential', False)}. Business Rule Task '确定办理时限'."]


def test_a_sample_failing_at_a_timer_is_named_at_the_timer(process_copy: Path) -> None:
    """A limit of None is no mistake the file shows (None is "no value"); the other-LV sample reaches the plan
    reply timer, which cannot compute a deadline from it."""
    replace_in(process_copy / "time_limits.dmn", '<outputEntry id="rule_2_output_2"><text>8</text>',
               '<outputEntry id="rule_2_output_2"><text>None</text>')
    bpmn = process_copy / "baozhuang.bpmn"
    code, output = run_validate(process_copy)
    assert code == 1
    assert problem_lines(output) == [
        f"{bpmn}:{element_line(bpmn, 'timer_plan_reply')}: timer_plan_reply: sample lv_other: Error evaluating "
        "expression 'working_deadline(limits[\"plan_reply\"], timeline.get(\"plan_refused\", "
        "timeline[\"accepted\"]))'. (TypeError: int() argument must be a string, "
        "a bytes-like object or a real number, not 'NoneType')"]


def test_a_folder_without_samples_is_not_tried(process_copy: Path) -> None:
    replace_in(process_copy / "time_limits.dmn", SINGLE_SUPPLY_CELL, SINGLE_SUPPLY_CELL.replace("False", "-"))
    shutil.rmtree(process_copy / "samples")
    code, output = run_validate(process_copy)
    assert code == 0, output


def rewrite_sample(folder: Path, name: str, change: dict[str, object], drop: tuple[str, ...] = ()) -> Path:
    path = folder / "samples" / f"{name}.json"
    sample = json.loads(path.read_text(encoding="utf-8"))
    sample.update(change)
    for key in drop:
        owner = sample
        *parents, last = key.split(".")
        for parent in parents:
            owner = owner[parent]
        del owner[last]
    path.write_text(json.dumps(sample, ensure_ascii=False, indent=2), encoding="utf-8")
    return path


def test_a_sample_the_process_refuses_is_named_at_its_field(process_copy: Path) -> None:
    regime = rewrite_sample(process_copy, "hv_ordinary", {"regime": "statue"})
    phone = rewrite_sample(process_copy, "lv_other", {}, drop=("application.phone",))
    regime_line, application_line = cell_line(regime, '"regime"'), cell_line(phone, '"application"')
    code, output = run_validate(process_copy)
    assert code == 1
    assert problem_lines(output) == [
        f"{regime}:{regime_line}: -: sample hv_ordinary: regime: unknown regime 'statue'; the time-limit table "
        "knows csg, sgcc_commitment, sgcc_internal, statute",
        f"{phone}:{application_line}: -: sample lv_other: application.phone: 'phone' is a required property"]


def test_a_sample_that_is_no_start_data_is_named_without_running_it(process_copy: Path) -> None:
    broken = process_copy / "samples" / "lv_other.json"
    broken.write_text('{\n  "applied_at": "2026-11-26T09:30:00+08:00",\n  "application": {\n', encoding="utf-8")
    undated = rewrite_sample(process_copy, "lv_smallmicro", {}, drop=("applied_at",))
    misdated = rewrite_sample(process_copy, "hv_ordinary", {"applied_at": "next Monday"})
    listed = process_copy / "samples" / "extra.json"
    listed.write_text("[]", encoding="utf-8")
    code, output = run_validate(process_copy)
    assert code == 1
    needs = 'a sample needs the time its case is applied for, ISO 8601 (e.g. "2026-11-26T09:30:00+08:00")'
    assert problem_lines(output) == [
        f"{listed}:1: -: a sample must hold a JSON object (the start data of a case)",
        f"{misdated}:{cell_line(misdated, 'applied_at')}: -: applied_at 'next Monday': {needs}",
        f"{broken}:4: -: invalid JSON: Expecting property name enclosed in double quotes",
        f"{undated}:1: -: no applied_at: {needs}"]


def test_deploy_refuses_a_folder_whose_sample_fails_and_stores_nothing(db: Db, process_copy: Path,
                                                                       tmp_path: Path) -> None:
    dmn = process_copy / "time_limits.dmn"
    replace_in(dmn, SINGLE_SUPPLY_CELL, SINGLE_SUPPLY_CELL.replace("False", "-"))
    _code, validated = run_validate(process_copy)
    assert problem_lines(validated)
    with db.reading() as session:
        before = session.scalar(select(func.count()).select_from(ProcessVersion))
    result = run_cli(db, tmp_path / "instance", "deploy", str(process_copy))
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    for line in problem_lines(validated):
        assert line in result.stderr, result.stderr
    assert result.stderr.rstrip().endswith(f"{len(problem_lines(validated))} problem(s) in {process_copy}: nothing "
                                           "deployed, the current version is unchanged")
    with db.reading() as session:
        assert session.scalar(select(func.count()).select_from(ProcessVersion)) == before


def test_a_required_field_without_a_default_is_named_at_its_task(process_copy: Path) -> None:
    """Every required field has a default (docs/process-model.md, Forms): a trial answers from the defaults alone."""
    form = process_copy / "forms" / "accept_application.schema.json"
    schema = json.loads(form.read_text(encoding="utf-8"))
    schema["required"].append("remark_code")
    schema["properties"]["remark_code"] = {"title": "备注编码", "type": "string"}
    form.write_text(json.dumps(schema, ensure_ascii=False, indent=2), encoding="utf-8")
    bpmn = process_copy / "baozhuang.bpmn"
    samples = sorted(path.stem for path in (process_copy / "samples").glob("*.json"))
    code, output = run_validate(process_copy)
    assert code == 1
    assert problem_lines(output) == [
        f"{bpmn}:{element_line(bpmn, 'accept_application')}: accept_application: sample {sample}: the form's default "
        "answer does not fit the form: remark_code: 'remark_code' is a required property" for sample in samples]
