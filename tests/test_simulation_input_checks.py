"""Inputs a simulation refuses before any case runs: process folders that ``baozhuang validate`` refuses (broken XML,
a condition that does not compile, a missing folder) for ``baozhuang simulate`` and the web page, scenarios that can
bring no case, and every problem of a scenario file at once. Real files, the real CLI through click's runner, real
HTTP through the Flask test client."""

from __future__ import annotations

import html
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from runner.cli import main
from runner.simulation import run_processes
from runner.simulation.run_request import process_problems, scenario_templates
from runner.simulation.variants import process_names
from tests.conftest import PROCESSES
from tests.test_webui_simulation import form_for, raw_today, stored
from tests.webui_helpers import (
    Web,
    text_of,
    web_fixture,  # noqa: F401  (the web fixture)
)

TODAY = PROCESSES / "scenarios" / "today.yaml"
CONDITION = '<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">review_plan["decision"] == "approve"'
BROKEN_CONDITION = CONDITION.replace('== "approve"', '== = "approve"')


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def copy_processes(target: Path) -> Path:
    shutil.copytree(PROCESSES, target, ignore=shutil.ignore_patterns("variants", "scenarios"))
    return target


def without_closing_process_tag(folder: Path) -> int:
    """Delete the first ``</bpmn:process>`` of the folder's main BPMN; the line lxml then reports."""
    path = folder / "baozhuang.bpmn"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines.remove(next(line for line in lines if line.strip() == "</bpmn:process>"))
    path.write_text("".join(lines), encoding="utf-8")
    return len(lines)  # the mismatch shows at </bpmn:definitions>, the last line


def with_broken_condition(folder: Path) -> int:
    path = folder / "baozhuang.bpmn"
    text = path.read_text(encoding="utf-8")
    assert CONDITION in text
    path.write_text(text.replace(CONDITION, BROKEN_CONDITION), encoding="utf-8")
    return next(i for i, line in enumerate(text.splitlines(), start=1)
                if 'id="flow_gw_review_to_gw_high_risk"' in line)


def scenario(path: Path, body: str) -> Path:
    path.write_text(f"extends: {TODAY}\n{body}", encoding="utf-8")
    return path


@pytest.fixture
def bad(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working folder ``bad/`` holding drafts, with the working folder at ``tmp_path`` (paths as typed)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad").mkdir()
    return tmp_path / "bad"


# -- baozhuang simulate: the process folder ----------------------------------------------------------------------

def test_a_draft_with_broken_xml_is_named_like_validate_names_it(bad: Path) -> None:
    line = without_closing_process_tag(copy_processes(bad / "draft1"))
    scenario(bad / "draft1.yaml", "process: draft1\ncases: 3\n")
    code, validated, _err = invoke("validate", "bad/draft1")
    assert code == 1 and f"bad/draft1/baozhuang.bpmn:{line}: -: invalid XML" in validated
    for args in (["bad/draft1.yaml"], [str(TODAY), "--cases", "2", "--compare", "bad/draft1.yaml"]):
        code, stdout, stderr = invoke("simulate", *args)
        assert code == 1 and stdout == ""
        assert "Traceback" not in stderr and "XMLSyntaxError" not in stderr
        assert f"error: bad/draft1/baozhuang.bpmn:{line}: -: invalid XML: " in stderr
        assert "simulating" not in stderr  # refused before any case runs


def test_a_draft_validate_refuses_is_not_simulated(bad: Path) -> None:
    line = with_broken_condition(copy_processes(bad / "draft2"))
    scenario(bad / "draft2.yaml", "process: draft2\ncases: 2\n")  # too few cases to reach the flow
    validated = invoke("validate", "bad/draft2")[1].splitlines()
    assert validated == [f"bad/draft2/baozhuang.bpmn:{line}: flow_gw_review_to_gw_high_risk: expression does not "
                         """compile: invalid syntax: 'review_plan["decision"] == = "approve"'"""]
    code, stdout, stderr = invoke("simulate", "bad/draft2.yaml")
    assert code == 1 and stdout == ""
    assert stderr.splitlines() == [f"error: {problem}" for problem in validated]


def test_a_broken_overlay_names_the_overlay_file(bad: Path) -> None:
    base = copy_processes(bad / "processes")
    overlay = base / "variants" / "broken_xml"
    overlay.mkdir(parents=True)
    shutil.copyfile(base / "baozhuang.bpmn", overlay / "baozhuang.bpmn")
    line = without_closing_process_tag(overlay)
    scenario(bad / "variant.yaml", "process: processes/variants/broken_xml\ncases: 2\n")
    code, _out, stderr = invoke("simulate", "bad/variant.yaml")
    assert code == 1 and "Traceback" not in stderr
    assert stderr.startswith(f"error: bad/processes/variants/broken_xml/baozhuang.bpmn:{line}: -: invalid XML")
    assert "baozhuang-variants" not in stderr  # not the materialized copy


def test_a_missing_process_folder_is_said_to_be_missing(bad: Path) -> None:
    path = scenario(bad / "nodir.yaml", "process: nosuchdir\ncases: 2\n")
    code, _out, stderr = invoke("simulate", "bad/nodir.yaml")
    assert code == 1
    assert stderr.strip() == f"error: bad/nodir.yaml:2: process: the process folder {path.parent / 'nosuchdir'} " \
                             "does not exist"


def test_labels_skip_a_bpmn_file_that_does_not_parse(tmp_path: Path) -> None:
    folder = copy_processes(tmp_path / "draft")
    without_closing_process_tag(folder)
    names = process_names(folder)  # the other BPMN files are read, the broken one skipped: no exception
    escalation = process_names(PROCESSES.parent / "processes")
    assert names and set(names) < set(escalation)


# -- baozhuang simulate: the scenario ----------------------------------------------------------------------------

@pytest.mark.parametrize("gaps", ["{distribution: fixed, value: 0}", "{distribution: uniform, low: 0, high: 0}",
                                  "{distribution: exponential, mean: 2, max: 0}"])
def test_gaps_of_zero_hours_between_applications_are_refused_not_run_forever(bad: Path, gaps: str) -> None:
    """Before, ``horizon_days`` with such gaps brought applications at one moment without end: the run never ended."""
    scenario(bad / "gaps.yaml",
             f"arrivals:\n  lv_residential: {{per_working_day: null, interarrival_hours: {gaps}}}\n")
    code, stdout, stderr = invoke("simulate", "bad/gaps.yaml")
    assert code == 1 and stdout == ""
    assert stderr.startswith("error: bad/gaps.yaml:3: arrivals.lv_residential.interarrival_hours: the gap between "
                             "applications must be above 0 hours on average"), stderr


def test_every_arrival_rate_zero_is_refused_at_the_arrivals_key(bad: Path) -> None:
    categories = list(scenario_templates()["today"]["arrivals"])
    zero = "".join(f"  {category}: {{per_working_day: 0}}\n" for category in categories)
    scenario(bad / "zero.yaml", f"arrivals:\n{zero}")
    for extra in ([], ["--cases", "5"]):
        code, stdout, stderr = invoke("simulate", "bad/zero.yaml", *extra)
        assert code == 1 and stdout == ""
        assert stderr.startswith("error: bad/zero.yaml:2: arrivals: every arrival rate is 0"), stderr
    one = zero.replace("hv_important: {per_working_day: 0}", "hv_important: {per_working_day: null, per_day: 0.5}")
    scenario(bad / "one.yaml", f"arrivals:\n{one}cases: 1\n")
    code, _out, stderr = invoke("simulate", "bad/one.yaml")
    assert code == 0, stderr


def test_every_problem_of_a_scenario_file_is_reported_in_line_order(bad: Path) -> None:
    scenario(bad / "many.yaml", "regime: statue\ncases: 0\ndurations:\n"
                                "  site_survey: {distribution: lognormal, mean: -4, sd: 1.5}\n"
                                "case_data:\n  lv_residentail: {missing_property_proof: 0.1}\n")
    code, stdout, stderr = invoke("simulate", "bad/many.yaml")
    assert code == 1 and stdout == ""
    lines = stderr.splitlines()
    assert [line.split(": ")[1] for line in lines] == [
        "bad/many.yaml:2", "bad/many.yaml:3", "bad/many.yaml:5", "bad/many.yaml:7"]
    assert lines[0].startswith("error: bad/many.yaml:2: regime: 'statue' is not one of")
    assert lines[1].startswith("error: bad/many.yaml:3: cases: 0 is less than the minimum of 1")
    assert lines[2] == "error: bad/many.yaml:5: durations.site_survey.mean: mean must be > 0, got -4.0"
    assert lines[3] == "error: bad/many.yaml:7: case_data.lv_residentail: no arrivals for category 'lv_residentail'"


def test_a_valid_scenario_still_runs(bad: Path) -> None:
    code, stdout, stderr = invoke("simulate", str(TODAY), "--cases", "2")
    assert code == 0, stderr
    assert '"cases_arrived": [\n      2\n    ]' in stdout


# -- the web page ------------------------------------------------------------------------------------------------

def field_errors(body: str, field: str) -> list[str]:
    return [html.unescape(text) for text in re.findall(rf'id="err-{re.escape(field)}">([^<]*)<', body)]


def test_a_variant_with_broken_xml_is_a_400_at_its_process_field(web: Web, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    variants = tmp_path / "variants"
    (variants / "broken_xml").mkdir(parents=True)
    shutil.copyfile(PROCESSES / "baozhuang.bpmn", variants / "broken_xml" / "baozhuang.bpmn")
    line = without_closing_process_tag(variants / "broken_xml")
    monkeypatch.setattr(run_processes, "VARIANTS", variants)
    response = web.client("process_owner").post("/simulation/new", form_for(variant_process="variant:broken_xml"))
    assert response.status_code == 400
    [message] = field_errors(response.get_data(as_text=True), "variant_process")
    assert message.startswith(f"流程文件有误：processes/variants/broken_xml/baozhuang.bpmn:{line}: -: invalid XML: "), \
        message
    assert "baozhuang-simulation-check" not in text_of(response)
    assert stored(web) == []


def test_a_process_folder_validate_refuses_is_a_400_at_the_process_field(web: Web, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    folder = copy_processes(tmp_path / "processes")
    line = with_broken_condition(folder)
    monkeypatch.setattr(run_processes, "PROCESSES", folder)
    response = web.client("process_owner").post("/simulation/new", form_for(cases="5"))
    assert response.status_code == 400
    assert field_errors(response.get_data(as_text=True), "base_process") == [
        f"流程文件有误：processes/baozhuang.bpmn:{line}: flow_gw_review_to_gw_high_risk: expression does not compile: "
        """invalid syntax: 'review_plan["decision"] == = "approve"'"""]
    assert stored(web) == []


def test_every_arrival_rate_zero_is_a_400_at_the_arrival_fields(web: Web) -> None:
    client = web.client("process_owner")
    zero = {key: "0" for key in form_for() if key.startswith("arrivals.")}
    response = client.post("/simulation/new", form_for(cases="5", **zero))
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    for key in zero:
        assert field_errors(body, key), key
    arrivals = {category: {"per_day": 0} for category in scenario_templates()["today"]["arrivals"]}
    response = client.post("/simulation/new", form_for(mode="raw", scenario_raw=raw_today(arrivals=arrivals)))
    assert response.status_code == 400
    assert "所有类别的到达率都为 0，不会有申请到达" in html.unescape(text_of(response))
    assert stored(web) == []


def test_a_stored_process_that_does_not_load_is_a_problem_of_its_field(tmp_path: Path) -> None:
    folder = copy_processes(tmp_path / "copy")
    line = without_closing_process_tag(folder)
    problems = process_problems(scenario_templates()["today"], folder, "", "base_process", [(folder, "#3")])
    assert [(p.path, p.code) for p in problems] == [("base_process", "process")]
    assert problems[0].detail.startswith(f"#3/baozhuang.bpmn:{line}: invalid XML")
