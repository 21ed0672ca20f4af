"""Simulation outputs: event logs (CSV, XES), the report folder, the variant overlay and ``baozhuang simulate``."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from lxml import etree

from handlers import build_registry
from runner.cli import main
from runner.process_folder import load_process_folder
from runner.simulation.batch import BatchResult, run_batch
from runner.simulation.eventlog import CSV_COLUMNS, write_csv, write_xes
from runner.simulation.kpis import compute_kpis
from runner.simulation.report import write_report
from runner.simulation.scenario import load_scenario
from runner.simulation.variants import materialize, overlay_key, process_names, resolve_process_folder
from runner.trial import TrialOptions, run_trial
from runner.validation import validate_folder
from runner.workdays import WorkingCalendar
from tests.conftest import PROCESSES, ROOT
from tests.simulation_fixtures import holiday_log

XES = "{http://www.xes-standard.org/}"
SCENARIOS = PROCESSES / "scenarios"
TODAY = SCENARIOS / "today.yaml"
WHAT_IF = SCENARIOS / "fewer_surveyors_parallel_review.yaml"
OVERLAY = PROCESSES / "variants" / "parallel_plan_review"
BPMNLINT = ROOT / "node_modules" / ".bin" / "bpmnlint"
OFFSET = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00$")


# -- event logs -------------------------------------------------------------------------------------------------------

def test_csv_has_the_prosimos_columns_then_case_attributes() -> None:
    out = io.StringIO()
    rows = write_csv(holiday_log(), out)
    table = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert rows == len(table) == 6  # six completed instances; C3's cancelled review_plan is in cancelled_steps.csv
    assert tuple(table[0])[:6] == ("case_id", "activity", "enable_time", "start_time", "end_time", "resource")
    assert tuple(table[0]) == (*CSV_COLUMNS, "capacity_kva")
    assert [r["element_id"] for r in table if r["cancelled"] == "true"] == []
    survey = next(r for r in table if r["case_id"] == "C1" and r["element_id"] == "site_survey")
    assert survey["activity"] == "现场勘查" and survey["resource"] == "surveyor#1"
    assert survey["enable_time"] == "2026-09-30T09:00:00+08:00" and survey["end_time"] == "2026-09-30T12:00:00+08:00"
    assert survey["capacity_kva"] == "8" and survey["category"] == "lv_residential"
    customer = next(r for r in table if r["element_id"] == "supply_materials")
    assert customer["resource"] == "" and customer["role"] == "customer"
    assert [r["case_id"] for r in table] == ["C1", "C1", "C1", "C2", "C3", "C3"]  # cases in arrival order


def test_xes_parses_back_with_lifecycle_resources_and_case_attributes() -> None:
    out = io.BytesIO()
    traces, events = write_xes(holiday_log(), out)
    root = etree.fromstring(out.getvalue())
    assert root.tag == f"{XES}log" and root.get("xes.version") == "1849.2016"
    assert {e.get("prefix") for e in root.iter(f"{XES}extension")} == {"concept", "time", "lifecycle", "org"}
    found = root.findall(f"{XES}trace")
    # C3's message wait has no start; engine work (C1's 确定办理路径) is one complete, as production logs it
    assert traces == len(found) == 4 and events == 7 * 3 - 1 - 2
    c1 = found[0]
    attributes = {a.get("key"): (etree.QName(a).localname, a.get("value")) for a in c1 if a.tag != f"{XES}event"}
    assert attributes["concept:name"] == ("string", "C1")
    assert attributes["capacity_kva"] == ("int", "8") and attributes["completed"] == ("boolean", "true")
    first = {a.get("key"): a.get("value") for a in c1.find(f"{XES}event")}
    assert first["concept:name"] == "确定办理路径" and first["lifecycle:transition"] == "complete"
    assert sum(any(a.get("value") == "确定办理路径" for a in e) for e in c1.findall(f"{XES}event")) == 1
    transitions = [
        {a.get("key"): a.get("value") for a in e}
        for e in c1.findall(f"{XES}event") if any(a.get("value") == "现场勘查" for a in e)
    ]
    assert [t["lifecycle:transition"] for t in transitions] == ["schedule", "start", "complete"]
    assert "org:resource" not in transitions[0] and transitions[2]["org:resource"] == "surveyor#1"
    assert all(OFFSET.match(t["time:timestamp"]) for t in transitions)
    assert found[3].find(f"{XES}event") is None  # C4 did nothing yet: an empty trace
    withdrawn = [{a.get("key"): a.get("value") for a in e} for e in found[2].findall(f"{XES}event")
                 if any(a.get("value") == "审核供电方案" for a in e)]
    assert [t["lifecycle:transition"] for t in withdrawn] == ["schedule", "start", "ate_abort"]


def test_report_folder_from_hand_made_results(tmp_path: Path) -> None:
    log = holiday_log()
    kpis = compute_kpis(log, WorkingCalendar.default())
    result = BatchResult(seed=1, replications=1, cases=None, base_name="holiday", base_kpis=[kpis], base_log=log,
                         names={"surveyor": "勘查"})
    files = write_report(result, tmp_path / "out", result.names)
    assert sorted(p.name for p in files) == ["cancelled_steps.csv", "event_log.csv", "event_log.xes", "kpis.json",
                                             "prosimos_log.csv", "report.html"]
    document = json.loads((tmp_path / "out" / "kpis.json").read_text(encoding="utf-8"))
    assert document["base"]["mean"]["cycle_time.all.mean_working_days"] == pytest.approx(14 / 3)
    html = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert html.count("<svg") == 5 and "办电时长分布" in html and "岗位利用率" in html and "勘查" in html
    assert "<script" not in html and "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")


# -- the variant overlay -------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def variant_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return materialize(PROCESSES, OVERLAY, tmp_path_factory.mktemp("variants"))


def test_materialize_lays_the_overlay_over_the_base_and_reuses_the_folder(variant_folder: Path,
                                                                          tmp_path: Path) -> None:
    overlay_text = (OVERLAY / "baozhuang.bpmn").read_text(encoding="utf-8")
    assert (variant_folder / "baozhuang.bpmn").read_text(encoding="utf-8") == overlay_text
    for name in ("escalation.bpmn", "risk_rules.dmn", "forms/review_plan.schema.json", "samples/hv_important.json"):
        assert (variant_folder / name).read_bytes() == (PROCESSES / name).read_bytes()
    assert materialize(PROCESSES, OVERLAY, variant_folder.parent) == variant_folder
    edited = tmp_path / "variants" / "edited"
    edited.mkdir(parents=True)
    (edited / "baozhuang.bpmn").write_text(overlay_text.replace("并行审核", "并行审查"), encoding="utf-8")
    assert overlay_key(PROCESSES, edited) != overlay_key(PROCESSES, OVERLAY)
    assert resolve_process_folder(PROCESSES) == PROCESSES  # not an overlay: used as it is


def test_variant_validates_after_materializing(variant_folder: Path) -> None:
    assert validate_folder(variant_folder, build_registry()) == []
    completed = subprocess.run([str(ROOT / ".venv" / "bin" / "baozhuang"), "validate", str(variant_folder)],
                               capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_variant_passes_bpmnlint() -> None:
    assert BPMNLINT.exists(), "bpmnlint is not installed: run `make setup` (npm ci)"
    completed = subprocess.run([str(BPMNLINT), str(OVERLAY / "baozhuang.bpmn")], capture_output=True, text=True,
                               cwd=ROOT, timeout=120)
    output = completed.stdout + completed.stderr
    errors = re.search(r"(\d+) errors?", output)
    assert completed.returncode == 0 and (errors is None or errors.group(1) == "0"), output


def test_variant_keeps_the_ids_of_the_review_steps(variant_folder: Path) -> None:
    base, variant = process_names(PROCESSES), process_names(variant_folder)
    for element in ("draft_plan", "review_plan", "approve_high_risk", "gw_review", "gw_high_risk", "end_plan_vetoed"):
        assert variant[element] == base[element]
    assert variant["gw_review_split"] == "并行审核"


def plan_steps(visited: list[str]) -> list[str]:
    return [e for e in visited if e in ("draft_plan", "review_plan", "approve_high_risk", "end_plan_stage",
                                        "end_plan_vetoed")]


@pytest.mark.parametrize(("category", "answers", "expected"), [
    ("lv_other", {}, ["draft_plan", "review_plan", "end_plan_stage"]),
    ("hv_important", {}, ["draft_plan", "review_plan", "approve_high_risk", "end_plan_stage"]),
    ("hv_important", {"review_plan": [{"decision": "revise", "comments": "调整接入点"}, {"decision": "approve"}]},
     ["draft_plan", "review_plan", "approve_high_risk"] * 2 + ["end_plan_stage"]),
    ("hv_important", {"approve_high_risk": [{"decision": "revise", "comments": "补充风险措施"},
                                            {"decision": "approve"}]},
     ["draft_plan", "review_plan", "approve_high_risk"] * 2 + ["end_plan_stage"]),
    ("hv_important", {"approve_high_risk": {"decision": "reject", "comments": "负荷性质不符"}},
     ["draft_plan", "review_plan", "approve_high_risk", "end_plan_vetoed"]),
])
def test_variant_reviews_in_parallel_on_every_path(variant_folder: Path, category: str, answers: dict[str, Any],
                                                   expected: list[str]) -> None:
    bundle = load_process_folder(variant_folder)
    result = run_trial(bundle, TrialOptions(category=category, answers=answers))
    assert result.completed
    steps = plan_steps(result.visited)
    # review_plan and approve_high_risk are both ready once draft_plan is done: their order is the driver's
    assert sorted(steps) == sorted(expected) and steps[0] == "draft_plan" and steps[-1] == expected[-1]


# -- batches and the command line ------------------------------------------------------------------------------

def test_parallel_workers_give_the_same_kpis_as_one_process() -> None:
    base, variant = load_scenario(TODAY), load_scenario(WHAT_IF)
    here = run_batch(base, variant, replications=2, cases=3, jobs=1)
    fractions: list[float] = []
    pooled = run_batch(base, variant, replications=2, cases=3, jobs=2, progress=fractions.append)
    assert pooled.base_kpis == here.base_kpis and pooled.variant_kpis == here.variant_kpis
    assert fractions[0] == 0.0 and fractions[-1] == 1.0 and fractions == sorted(fractions)
    assert here.comparison is not None and here.comparison.replications == 2
    assert here.base_log is not None and len(here.base_log.cases) == 3


class Stop(Exception):
    pass


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_progress_callback_that_raises_aborts_the_batch(jobs: int) -> None:
    def progress(fraction: float) -> None:
        if fraction > 0:
            raise Stop

    with pytest.raises(Stop):
        run_batch(load_scenario(TODAY), replications=2, cases=2, jobs=jobs, progress=progress)


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["simulate", *args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_simulate_compares_and_writes_the_same_files_for_the_same_seed(tmp_path: Path) -> None:
    outputs = []
    for run in ("a", "b"):
        code, stdout, stderr = invoke(str(TODAY), "--compare", str(WHAT_IF), "--cases", "4", "--replications", "2",
                                      "--seed", "7", "--out", str(tmp_path / run))
        assert code == 0, stderr
        assert "simulating" in stderr
        outputs.append(stdout)
    summary = json.loads(outputs[0])
    assert summary["seed"] == 7 and summary["replications"] == 2
    assert summary["base"]["cases_requested"] == summary["variant"]["cases_requested"] == 4
    assert summary["base"]["cases_arrived"] == summary["variant"]["cases_arrived"] == [4, 4]
    assert "warning" not in stderr  # every requested case arrived
    assert summary["base"]["scenario"] == "today" and summary["variant"]["scenario"] == WHAT_IF.stem
    assert "cycle_time.all.mean_working_days" in summary["base"]["kpis"]
    assert summary["comparison"]["verdicts"]["zh"][0].startswith("平均办电时长")
    assert outputs[0] == outputs[1]
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == ["cancelled_steps.csv", "comparison.json", "event_log.csv", "event_log.xes", "kpis.json",
                     "prosimos_log.csv", "report.html", "variant_cancelled_steps.csv", "variant_event_log.csv",
                     "variant_event_log.xes", "variant_prosimos_log.csv"]
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_a_different_seed_gives_different_cases(tmp_path: Path) -> None:
    first = json.loads(invoke(str(TODAY), "--cases", "3", "--seed", "1")[1])
    second = json.loads(invoke(str(TODAY), "--cases", "3", "--seed", "2")[1])
    assert first["base"]["kpis"] != second["base"]["kpis"]


def test_a_bad_scenario_is_named_with_file_and_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    text = TODAY.read_text(encoding="utf-8").replace("surveyor: {count: 3,", "surveyor: {count: three,")
    broken.write_text(text, encoding="utf-8")
    line = next(i for i, row in enumerate(text.splitlines(), start=1) if "count: three" in row)
    code, stdout, stderr = invoke(str(broken), "--cases", "2")
    assert code == 1 and stdout == ""
    assert f"broken.yaml:{line}: pools.surveyor.count" in stderr


def test_missing_files_and_wrong_option_combinations_are_refused(tmp_path: Path) -> None:
    code, _out, stderr = invoke(str(tmp_path / "nowhere.yaml"))
    assert code == 1 and "nowhere.yaml" in stderr and "cannot read" in stderr
    code, _out, stderr = invoke()
    assert code == 2 and "give a SCENARIO file" in stderr
    code, _out, stderr = invoke("--prosimos-json", str(ROOT / "tests/data/prosimos/loan_application.json"))
    assert code == 2 and "--prosimos-json needs --bpmn" in stderr


def test_a_prosimos_model_can_be_simulated(tmp_path: Path) -> None:
    data = ROOT / "tests" / "data" / "prosimos"
    code, stdout, stderr = invoke("--bpmn", str(data / "loan_application.bpmn"), "--prosimos-json",
                                  str(data / "loan_application.json"), "--cases", "5", "--out", str(tmp_path))
    assert code == 0, stderr
    assert json.loads(stdout)["base"]["kpis"]["cycle_time.all.completed_share"] > 0
    assert (tmp_path / "event_log.xes").is_file()


# -- what the user asked for versus what ran, and scenarios that do not fit the process ------------------------------

def extending_today(tmp_path: Path, text: str, name: str = "mine.yaml") -> Path:
    """A scenario file that starts from today.yaml and lays ``text`` over it."""
    path = tmp_path / name
    path.write_text(f"extends: {TODAY}\n{text}", encoding="utf-8")
    return path


def line_of_text(path: Path, fragment: str) -> int:
    return next(i for i, row in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1) if fragment in row)


def test_the_cases_that_really_arrived_are_reported_and_a_short_window_is_warned_about(tmp_path: Path) -> None:
    short = extending_today(tmp_path, "name: one-morning\nhorizon_days: 0.1\n")  # Monday 00:00–02:24: no arrival
    code, stdout, stderr = invoke(str(short), "--cases", "30", "--replications", "2", "--out", str(tmp_path / "out"))
    assert code == 0, stderr
    summary = json.loads(stdout)
    assert summary["base"]["cases_requested"] == 30 and summary["base"]["cases_arrived"] == [0, 0]
    assert "warning: one-morning: only 0 of the 30 requested cases arrived (per replication)" in stderr
    assert "horizon_days" in stderr
    html = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "每次到达 0 户" in html and "每次 30 户" not in html
    assert "<p class=warning>注意：基准方案（one-morning）：请求 30 户" in html
    document = json.loads((tmp_path / "out" / "kpis.json").read_text(encoding="utf-8"))
    assert (document["base"]["cases_requested"], document["base"]["cases_arrived"]) == (30, [0, 0])


@pytest.mark.parametrize(("text", "key"), [
    ("horizon_days: .nan\n", "horizon_days"),
    ("horizon_days: .inf\n", "horizon_days"),
    ("arrivals:\n  lv_residential: {per_working_day: .nan}\n", "arrivals.lv_residential.per_working_day"),
    ("durations:\n  site_survey: {distribution: normal, mean: -.inf, sd: 1}\n", "durations.site_survey.mean"),
])
def test_a_number_that_is_not_finite_is_refused_with_file_line_and_key(tmp_path: Path, text: str, key: str) -> None:
    path = extending_today(tmp_path, text)
    code, stdout, stderr = invoke(str(path), "--cases", "2")
    assert code == 1 and stdout == ""
    assert f"mine.yaml:{line_of_text(path, text.splitlines()[-1].strip())}: {key}: must be a finite number" in stderr
    assert "Traceback" not in stderr


def test_a_misspelt_pool_is_refused_naming_the_key_and_the_lanes(tmp_path: Path) -> None:
    path = extending_today(tmp_path, "pools:\n  surveyer: {count: 1}\n")
    code, _out, stderr = invoke(str(path), "--cases", "2")
    assert code == 1
    assert (f"mine.yaml:{line_of_text(path, 'surveyer')}: pools.surveyer: no lane with role 'surveyer' in the "
            "process (staff lanes: ") in stderr
    assert "surveyor" in stderr.split("(staff lanes: ")[1] and "customer" not in stderr.split("(staff lanes: ")[1]


def test_a_process_folder_without_the_process_is_named_by_the_process_key(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    path = extending_today(tmp_path, "process: empty\n")
    code, _out, stderr = invoke(str(path), "--cases", "2")
    assert code == 1
    assert (f"error: {path}:{line_of_text(path, 'process: empty')}: process: no baozhuang.bpmn in "
            f"{(tmp_path / 'empty').resolve()}") in stderr
    assert "was not found" not in stderr


def test_every_mismatch_with_the_process_is_reported_at_once_with_its_line(tmp_path: Path) -> None:
    path = extending_today(tmp_path, "durations:\n  site_survy: 2\ncustomer_delays:\n  nowhere: 1\n"
                                     "pools:\n  installer: null\n")
    code, _out, stderr = invoke(str(path), "--cases", "2")
    assert code == 1
    assert f"mine.yaml:{line_of_text(path, 'site_survy')}: durations.site_survy: not a staff task" in stderr
    assert f"mine.yaml:{line_of_text(path, 'nowhere')}: customer_delays.nowhere: not a customer task" in stderr
    # the file that removed the installers' pool is the one named
    assert f"mine.yaml:{line_of_text(path, 'pools:')}: pools: no pool for lane role 'installer'" in stderr


def test_an_unknown_branch_flow_is_named_with_its_line(tmp_path: Path) -> None:
    path = extending_today(tmp_path, "branch_probabilities:\n  no_such_flow: 0.5\n")
    code, _out, stderr = invoke(str(path), "--cases", "2")
    assert code == 1
    assert f"mine.yaml:{line_of_text(path, 'no_such_flow')}: branch_probabilities.no_such_flow: " in stderr
