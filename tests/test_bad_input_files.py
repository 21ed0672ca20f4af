"""Input files that are wrong in ways a user makes: not UTF-8, a value of the wrong type, a key left out, a decision
that is not there, an unquoted date, a folder that is not there. Each gets one line naming the file (and the line
or key), never a traceback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select

from runner.cli import main
from runner.models import ProcessVersion
from runner.process_folder import ProcessFolderError, load_process_folder
from tests.db import Db, run_cli
from tests.test_simulation_prosimos import params as prosimos_params

DATA = Path(__file__).resolve().parent / "data" / "prosimos"
BPMN = DATA / "loan_application.bpmn"
PARAMS = DATA / "loan_application.json"
NOT_UTF8 = "not UTF-8 text"
SAVE_AS = "save the file as UTF-8"


def to_gbk(path: Path, text: str | None = None) -> None:
    """Write ``text`` (else the file's own text) to ``path`` in GBK: Chinese text that is not UTF-8."""
    content = text if text is not None else path.read_text(encoding="utf-8")
    path.write_bytes(content.encode("gbk"))


def first_non_ascii_line(text: str) -> int:
    return next(number for number, line in enumerate(text.splitlines(), 1) if not line.isascii())


def no_traceback(result: Result) -> None:
    assert isinstance(result.exception, SystemExit) or result.exception is None, repr(result.exception)
    assert "Traceback" not in result.output


def validate(folder: Path) -> Result:
    result = CliRunner().invoke(main, ["validate", str(folder)])
    no_traceback(result)
    assert result.exit_code == 1, result.output
    return result


def simulate(*args: str) -> Result:
    result = CliRunner().invoke(main, ["simulate", *args])
    no_traceback(result)
    assert result.exit_code == 1, result.output
    return result


def error_line(result: Result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, result.output
    return lines[0]


# -- item 1: files that are not UTF-8 --------------------------------------------------------------------------------


def test_a_form_file_in_gbk_is_named_with_its_line(process_copy: Path) -> None:
    form = process_copy / "forms" / "site_survey.schema.json"
    line = first_non_ascii_line(form.read_text(encoding="utf-8"))
    to_gbk(form)
    output = validate(process_copy).output
    assert f"{form}:{line}: site_survey: {NOT_UTF8}" in output
    assert SAVE_AS in output


@pytest.mark.parametrize("name", ["time_limits.dmn", "followup.bpmn"])
def test_an_xml_file_in_gbk_declaring_utf8_is_named_with_its_line(process_copy: Path, name: str) -> None:
    path = process_copy / name
    text = path.read_text(encoding="utf-8")
    assert 'encoding="UTF-8"' in text.splitlines()[0]
    to_gbk(path)
    output = validate(process_copy).output
    assert f"{path}:{first_non_ascii_line(text)}: -: {NOT_UTF8}" in output, output
    assert SAVE_AS in output


def test_a_sample_in_gbk_is_refused_before_it_is_stored(process_copy: Path) -> None:
    sample = sorted((process_copy / "samples").glob("*.json"))[0]
    line = first_non_ascii_line(sample.read_text(encoding="utf-8"))
    to_gbk(sample)
    assert f"{sample}:{line}: -: {NOT_UTF8}" in validate(process_copy).output


def test_loading_a_folder_with_a_gbk_file_names_it(process_copy: Path) -> None:
    unreferenced = process_copy / "forms" / "extra.schema.json"  # read by the loader, checked by no task
    to_gbk(unreferenced, '{\n  "title": "额外"\n}\n')
    with pytest.raises(ProcessFolderError) as caught:
        load_process_folder(process_copy)
    assert caught.value.problems == [f"{unreferenced}:2: {NOT_UTF8} (byte 0xb6 on this line); {SAVE_AS}"]
    to_gbk(process_copy / "time_limits.dmn")
    with pytest.raises(ProcessFolderError) as caught:
        load_process_folder(process_copy)
    assert any(f"time_limits.dmn:2: -: {NOT_UTF8}" in line for line in caught.value.problems), caught.value.problems


def test_deploying_a_gbk_form_stores_nothing(db: Db, process_copy: Path, tmp_path: Path) -> None:
    to_gbk(process_copy / "forms" / "site_survey.schema.json")
    with db.reading() as session:
        before = session.scalar(select(func.count()).select_from(ProcessVersion))
    result = run_cli(db, tmp_path / "instance", "deploy", str(process_copy))
    no_traceback(result)
    assert result.exit_code == 1, result.output
    assert f"site_survey.schema.json:3: site_survey: {NOT_UTF8}" in result.stderr
    with db.reading() as session:
        assert session.scalar(select(func.count()).select_from(ProcessVersion)) == before


def test_a_gbk_scenario_file_is_named_with_its_line(tmp_path: Path) -> None:
    scenario = tmp_path / "gbk.yaml"
    to_gbk(scenario, 'name: "x"\ndescription: 高压新装\n')
    assert error_line(simulate(str(scenario))) == (
        f"error: {scenario}:2: (scenario): {NOT_UTF8} (byte 0xb8 on this line); {SAVE_AS}")


def test_prosimos_json_with_a_bad_byte_is_named_with_its_line(tmp_path: Path) -> None:
    params = tmp_path / "params.json"
    params.write_bytes(PARAMS.read_bytes().replace(b'"Clerks"', b'"Cl\xffrks"', 1))
    text = PARAMS.read_text(encoding="utf-8")
    line = text[:text.index('"Clerks"')].count("\n") + 1
    message = error_line(simulate("--bpmn", str(BPMN), "--prosimos-json", str(params), "--cases", "5"))
    assert message == f"error: {params}:{line}: {NOT_UTF8} (byte 0xff on this line); {SAVE_AS}"


def test_a_gbk_prosimos_bpmn_is_named_with_its_line(tmp_path: Path) -> None:
    bpmn = tmp_path / "loan.bpmn"
    text = BPMN.read_text(encoding="utf-8").replace('name="Register application"', 'name="登记申请"', 1)
    assert "登记申请" in text
    to_gbk(bpmn, text)
    message = error_line(simulate("--bpmn", str(bpmn), "--prosimos-json", str(PARAMS), "--cases", "5"))
    assert message.startswith(f"error: {bpmn}:{first_non_ascii_line(text)}: {NOT_UTF8}"), message


# -- items 2 and 3: Prosimos parameters --------------------------------------------------------------------------------


def simulate_prosimos(params: Path) -> str:
    return error_line(simulate("--bpmn", str(BPMN), "--prosimos-json", str(params), "--cases", "5"))


@pytest.mark.parametrize("value", ["abc", "0.8", None, True])
def test_a_branching_probability_must_be_a_number(tmp_path: Path, value: Any) -> None:
    def change(data: dict[str, Any]) -> None:
        data["gateway_branching_probabilities"][0]["probabilities"][0]["value"] = value

    params = prosimos_params(tmp_path, change)
    assert simulate_prosimos(params) == (
        f"error: {params}: gateway_branching_probabilities[0].probabilities[0].value: must be a number, got {value!r}")


def test_a_resource_without_a_calendar_is_named(tmp_path: Path) -> None:
    def change(data: dict[str, Any]) -> None:
        del data["resource_profiles"][1]["resource_list"][0]["calendar"]

    params = prosimos_params(tmp_path, change)
    assert simulate_prosimos(params) == (
        f"error: {params}: resource_profiles[1].resource_list[0]: missing key 'calendar'")


def test_missing_branching_probabilities_name_the_key_not_a_temporary_file(tmp_path: Path) -> None:
    params = prosimos_params(tmp_path, lambda data: data.pop("gateway_branching_probabilities"))
    assert simulate_prosimos(params) == f"error: {params}: missing key 'gateway_branching_probabilities'"


def test_a_gateway_left_out_of_the_branching_probabilities_is_named(tmp_path: Path) -> None:
    params = prosimos_params(tmp_path, lambda data: data["gateway_branching_probabilities"].pop())
    message = simulate_prosimos(params)
    assert message.startswith(f"error: {params}: gateway_branching_probabilities: no probabilities for gateway "
                              "'eligible'"), message
    assert "baozhuang-prosimos" not in message


def test_a_calendar_without_time_periods_is_named_by_its_id(tmp_path: Path) -> None:
    params = prosimos_params(tmp_path, lambda data: data["resource_calendars"][0].pop("time_periods"))
    assert simulate_prosimos(params) == (
        f"error: {params}: resource_calendars[0] (calendar 'office_hours'): missing key 'time_periods'")


# -- item 4: a decision that is not there ------------------------------------------------------------------------------


DECISIONS = "customer_category, fee_rates, followup_outcome, process_route, required_materials, risk_rules"


def called_decision_line(bpmn: Path, decision: str) -> int:
    lines = bpmn.read_text(encoding="utf-8").splitlines()
    return next(number for number, line in enumerate(lines, 1) if f"calledDecisionId>{decision}<" in line)


def test_an_unknown_decision_id_is_named_at_its_line(process_copy: Path) -> None:
    bpmn = process_copy / "baozhuang.bpmn"
    line = called_decision_line(bpmn, "supply_voltage")
    bpmn.write_text(bpmn.read_text(encoding="utf-8").replace(">supply_voltage<", ">supply_voltag<", 1),
                    encoding="utf-8")
    output = validate(process_copy).output
    assert f'{bpmn}:{line}: decide_voltage: no DMN decision "supply_voltag" (decisions in this folder: ' \
           f"{DECISIONS}, supply_voltage, time_limits)" in output.splitlines(), output
    assert f"{process_copy}:0" not in output


def test_a_deleted_dmn_file_names_the_task_that_calls_it(process_copy: Path) -> None:
    (process_copy / "time_limits.dmn").unlink()
    bpmn = process_copy / "baozhuang.bpmn"
    output = validate(process_copy).output
    expected = (f'{bpmn}:{called_decision_line(bpmn, "time_limits")}: decide_time_limits: no DMN decision '
                f'"time_limits" (decisions in this folder: {DECISIONS}, supply_voltage)')
    assert expected in output.splitlines(), output
    with pytest.raises(ProcessFolderError) as caught:
        load_process_folder(process_copy)
    assert expected in caught.value.problems


# -- item 5: an unquoted date --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("written", "quoted"), [("2026-11-02", "2026-11-02"),
                                                 ("2026-11-02 08:30:00+08:00", "2026-11-02 08:30:00+08:00")])
def test_an_unquoted_start_date_says_to_quote_it(tmp_path: Path, written: str, quoted: str) -> None:
    scenario = tmp_path / "today.yaml"
    scenario.write_text(f"name: x\ncases: 3\nstart: {written}\narrivals: {{new: {{per_working_day: 1}}}}\n"
                        "pools: {surveyor: {count: 1}}\n", encoding="utf-8")
    assert error_line(simulate(str(scenario))) == (
        f'error: {scenario}:3: start: write the date in quotes, e.g. start: "{quoted}" (unquoted, YAML reads it '
        "as a date, not as text)")


# -- item 6: calibrate outside the repository ------------------------------------------------------------------------


def test_calibrate_outside_the_repository_names_the_processes_option(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["calibrate", "--out", "baseline.yaml"],
                                env={"BAOZHUANG_INSTANCE": str(tmp_path / "instance")})
    no_traceback(result)
    assert result.exit_code == 1, result.output
    assert error_line(result) == (f"error: --processes: {tmp_path / 'processes'} does not exist (run in the "
                                  "repository, or give the process folder)")
    assert not (tmp_path / "baseline.yaml").exists()

