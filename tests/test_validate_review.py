"""Review fixes of ``baozhuang validate``: an analyst's one-place mistakes that used to validate and deploy are
refused at their file, line and element (a lane of an unknown role, a second file defining a decision or process,
a timer that computes no date, a name nothing defines, a gap in the time-limit table, a message reference typo,
fractional working days, a step in two lanes); FEEL unary tests in DMN cells match as the modeler meant; a timer
that gives no date fails its case's timer task instead of the request; ``try --regime`` knows the folder's regimes.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from runner import services
from runner.cli import main
from runner.decisions import DecisionError, evaluate, load_decisions
from runner.models import Incident
from runner.store import DeployError, deploy
from tests.db import Db, case_row, events, open_tasks, sample
from tests.test_validate import cell_line as line_of
from tests.test_validate import problem_lines, replace_in, run_validate
from tests.worker_helpers import run_retries_out

ACCEPTANCE_TIMER = ('working_deadline(limits["acceptance"], timeline.get("materials_supplied", timeline["applied"]))'
                    "</bpmn:timeDate>")
CATEGORY_CELL = '<inputEntry id="rule_2_input_2"><text>? in ["lv_smallmicro", "lv_other"]</text>'


# -- 1: lanes --------------------------------------------------------------------------------------------------------


def test_a_lane_of_an_unknown_role_is_refused_at_its_line(process_copy: Path) -> None:
    bpmn = process_copy / "baozhuang.bpmn"
    line = line_of(bpmn, '<bpmn:lane id="lane_surveyor"')
    replace_in(bpmn, '<bpmn:lane id="lane_surveyor"', '<bpmn:lane id="lane_surveyors"')
    code, output = run_validate(process_copy)
    assert code == 1
    [problem] = problem_lines(output)
    assert problem.startswith(f'{bpmn}:{line}: lane_surveyors: lane of unknown role "surveyors" (did you mean '
                              "lane_surveyor?)"), problem
    assert "account_manager, surveyor, plan_reviewer" in problem and problem.endswith(", customer"), problem


def test_the_customer_lane_and_every_staff_lane_are_known(process_copy: Path) -> None:
    code, output = run_validate(process_copy)
    assert code == 0, output


def test_a_step_listed_in_two_lanes_is_refused(process_copy: Path) -> None:
    bpmn = process_copy / "baozhuang.bpmn"
    replace_in(bpmn, '<bpmn:lane id="lane_archivist" name="归档">',
               '<bpmn:lane id="lane_archivist" name="归档">\n        <bpmn:flowNodeRef>site_survey</bpmn:flowNodeRef>')
    line = line_of(bpmn, '<bpmn:lane id="lane_archivist"') + 1
    code, output = run_validate(process_copy)
    assert code == 1
    assert any(problem.startswith(f"{bpmn}:{line}: site_survey: listed in lane lane_archivist and in lane "
                                  "lane_surveyor (line ") for problem in problem_lines(output)), output


# -- 2: a second file defining a decision or a process ---------------------------------------------------------------


def test_a_backup_dmn_defining_the_same_decision_is_refused_naming_both(process_copy: Path, db: Db) -> None:
    backup = process_copy / "time_limits_old.dmn"
    shutil.copy(process_copy / "time_limits.dmn", backup)
    replace_in(backup, "<text>8</text>", "<text>80</text>")  # the old limits, which would silently win
    code, output = run_validate(process_copy)
    assert code == 1
    assert problem_lines(output) == [
        f'{backup}:3: time_limits: decision "time_limits" is already defined in {process_copy / "time_limits.dmn"}:3: '
        "a folder holds each decision once; delete or move out the copy (a backup?) you do not mean to deploy"]
    with pytest.raises(DecisionError, match="already defined in"):
        load_decisions(process_copy)
    with db.transaction() as session, pytest.raises(DeployError) as refused:
        deploy(session, db.runtime, process_copy, "analyst")
    assert "time_limits_old.dmn:3: time_limits: decision " in str(refused.value), refused.value


def test_a_backup_bpmn_defining_the_same_process_names_both_files_and_lines(process_copy: Path) -> None:
    original = process_copy / "baozhuang.bpmn"
    shutil.copy(original, process_copy / "baozhuang-old.bpmn")  # sorts first: the original is the second one
    line = line_of(original, '<bpmn:process id="baozhuang"')
    code, output = run_validate(process_copy)
    assert code == 1
    assert problem_lines(output) == [
        f'{original}:{line}: baozhuang: process "baozhuang" is already defined in {process_copy / "baozhuang-old.bpmn"}'
        f":{line}: a folder holds each process once; delete or move out the copy (a backup?) you do not mean to "
        "deploy"], output


# -- 3: timers -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("expression", "said"), [
    ('"P5D"', 'timeDate "P5D" is an ISO duration, not a date/time: a timeDate must compute when the timer fires, '
              'e.g. working_deadline(5, timeline["accepted"])'),
    ("P3D", "timeDate P3D is an ISO duration, not a date/time: a timeDate must compute when the timer fires, e.g. "
            'working_deadline(3, timeline["accepted"]) (3 working days after a date of the case) or '
            "add_calendar_days(now(), 3)"),
    ("5", "timeDate 5 is a fixed value, not a date/time"),
    ('{"days": 3}', 'timeDate {"days": 3} is a fixed value, not a date/time'),
    ('"2026-12-01T00:00:00+08:00"', 'timeDate "2026-12-01T00:00:00+08:00" is a fixed date, the same for every case'),
], ids=["quoted-duration", "bare-duration", "number", "dict", "fixed-date"])
def test_a_timer_that_computes_no_date_is_refused_at_the_timer(process_copy: Path, expression: str,
                                                                said: str) -> None:
    bpmn = process_copy / "baozhuang.bpmn"
    line = line_of(bpmn, '<bpmn:boundaryEvent id="timer_acceptance"')
    replace_in(bpmn, ACCEPTANCE_TIMER, f"{expression}</bpmn:timeDate>")
    code, output = run_validate(process_copy)
    assert code == 1
    [problem] = problem_lines(output)
    assert problem.startswith(f"{bpmn}:{line}: timer_acceptance: {said}"), problem
    assert "NameError" not in output and "not defined" not in output


def test_a_sample_reaching_a_timer_that_gives_no_date_names_the_timer(process_copy: Path) -> None:
    bpmn = process_copy / "baozhuang.bpmn"
    line = line_of(bpmn, '<bpmn:boundaryEvent id="timer_acceptance"')
    replace_in(bpmn, ACCEPTANCE_TIMER, '{"days": limits["acceptance"]}</bpmn:timeDate>')  # computed: not static
    code, output = run_validate(process_copy)
    assert code == 1
    problems = problem_lines(output)
    assert problems and all(problem.startswith(f"{bpmn}:{line}: timer_acceptance: sample ") for problem in problems)
    assert ("timer timer_acceptance (时限：业务受理): its timeDate {\"days\": limits[\"acceptance\"]} gave "
            "{'days': 1}, not a date/time") in problems[0], problems[0]


def test_a_timer_that_gives_no_date_fails_its_task_not_the_request(process_copy: Path, db: Db,
                                                                  tmp_path: Path) -> None:
    """A version deployed without samples (nothing tries the timer): the case meets the timer when its application
    waits for acceptance. The request succeeds; the timer task fails as a broken script does (a ``failed`` event,
    retries, then an incident naming the timer), and the step it guards goes on."""
    shutil.rmtree(process_copy / "samples")
    replace_in(process_copy / "baozhuang.bpmn", ACCEPTANCE_TIMER, '{"days": limits["acceptance"]}</bpmn:timeDate>')
    with db.transaction() as session:
        deploy(session, db.runtime, process_copy, "analyst")
    data = sample("lv_residential")
    data.pop("case_number", None)
    data.pop("applied_at", None)
    with db.transaction() as session:  # no TypeError out of the engine
        number = services.start_case(session, db.runtime, data, "portal")
    assert [event.element_id for event in events(db, number) if event.lifecycle == "failed"] == ["timer_acceptance"]
    assert any(task.element_id == "accept_application" for task in open_tasks(db, number))
    incident_id = run_retries_out(db, db.runtime, case_row(db, number).id, tmp_path)
    assert incident_id is not None
    with db.reading() as session:
        incident = session.get(Incident, incident_id)
        assert incident is not None and incident.element_id == "timer_acceptance"
        assert incident.message.startswith("timer timer_acceptance (时限：业务受理): its timeDate "
                                           '{"days": limits["acceptance"]} gave {\'days\': 1}, not a date/time'), \
            incident.message


# -- 4: FEEL unary tests in DMN cells --------------------------------------------------------------------------------


TIME_LIMITS_DATA = {"regime": "statute", "application": {"dual_supply": False}}


@pytest.mark.parametrize(("cell", "matches", "misses"), [
    ('"lv_smallmicro","lv_other"', ("lv_smallmicro", "lv_other"), ("lv_residential", "hv_ordinary")),
    ('not("lv_residential", "hv_ordinary", "hv_important")', ("lv_smallmicro", "lv_other"), ("hv_important",)),
], ids=["list", "not"])
def test_feel_unary_tests_written_by_the_modeler_match(process_copy: Path, cell: str, matches: tuple[str, ...],
                                                       misses: tuple[str, ...]) -> None:
    replace_in(process_copy / "time_limits.dmn", CATEGORY_CELL, f'<inputEntry id="rule_2_input_2"><text>{cell}</text>')
    code, output = run_validate(process_copy)
    assert code == 0, output
    engine = load_decisions(process_copy)["time_limits"]
    for category in matches:
        result = evaluate(engine, {**TIME_LIMITS_DATA, "category": category})
        assert result.matched_rules == ["rule_2"] and result.outputs["limits"]["plan_reply"] == 8, category
    for category in misses:
        assert "rule_2" not in evaluate(engine, {**TIME_LIMITS_DATA, "category": category}).matched_rules
    runner = CliRunner()
    decided = runner.invoke(main, ["decide", "time_limits", "--processes", str(process_copy), "--data",
                                   json.dumps({**TIME_LIMITS_DATA, "category": matches[-1]})])
    assert decided.exit_code == 0 and json.loads(decided.output)["matched_rules"] == ["rule_2"], decided.output


NUMBERS_DMN = """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="d" name="d" namespace="http://x">
  <decision id="size" name="size">
    <decisionTable id="t" hitPolicy="FIRST">
      <input id="i"><inputExpression id="e" typeRef="number"><text>n</text></inputExpression></input>
      <output id="o" name="size" typeRef="string" />
      <rule id="small"><inputEntry id="s1"><text>2,3,4</text></inputEntry><outputEntry id="s2"><text>"small"</text>
        </outputEntry></rule>
      <rule id="odd"><inputEntry id="o1"><text>not(&lt; 5, 6)</text></inputEntry><outputEntry id="o2"><text>"big"</text>
        </outputEntry></rule>
      <rule id="other"><inputEntry id="x1"><text>-</text></inputEntry><outputEntry id="x2"><text>"other"</text>
        </outputEntry></rule>
    </decisionTable>
  </decision>
</definitions>
"""


@pytest.mark.parametrize(("n", "rules"), [(3, ["small", "other"]), (1, ["other"]), (6, ["other"]),
                                          (7, ["odd", "other"])])
def test_feel_number_lists_and_negated_tests(tmp_path: Path, n: int, rules: list[str]) -> None:
    (tmp_path / "size.dmn").write_text(NUMBERS_DMN, encoding="utf-8")
    assert evaluate(load_decisions(tmp_path)["size"], {"n": n}).matched_rules == rules


def test_a_typo_in_a_feel_list_is_found_like_any_literal(process_copy: Path) -> None:
    dmn = process_copy / "time_limits.dmn"
    replace_in(dmn, CATEGORY_CELL, '<inputEntry id="rule_2_input_2"><text>"lv_smallmicro","lv_othr"</text>')
    code, output = run_validate(process_copy)
    assert code == 1
    assert f'{dmn}:{line_of(dmn, "lv_othr")}: rule_2: input entry rule_2_input_2 (category): "lv_othr" is no value ' \
           "category can have" in output, output


# -- 5: names nothing defines, gaps in the time-limit table ----------------------------------------------------------


def test_a_condition_reading_a_name_nothing_defines_is_refused(process_copy: Path) -> None:
    bpmn = process_copy / "baozhuang.bpmn"
    replace_in(bpmn, 'approve_high_risk["decision"] == "reject"', 'aprove_high_risk["decision"] == "reject"')
    line = line_of(bpmn, "aprove_high_risk") - 1  # the flow's line, its condition below it
    code, output = run_validate(process_copy)
    assert code == 1
    [problem] = problem_lines(output)
    assert problem.startswith(f"{bpmn}:{line}: ") and ": reads aprove_high_risk (did you mean approve_high_risk?), " \
        "which nothing in this folder defines" in problem, problem


def test_a_regime_without_rules_for_some_categories_is_refused(process_copy: Path) -> None:
    dmn = process_copy / "time_limits.dmn"
    replace_in(dmn, '<inputEntry id="rule_1_input_1"><text>"statute"</text>',
               '<inputEntry id="rule_1_input_1"><text>"shanghai"</text>')  # a new regime, one rule of four
    code, output = run_validate(process_copy)
    assert code == 1
    [problem] = problem_lines(output)
    assert problem.startswith(f'{dmn}:3: time_limits: no rule matches regime = "shanghai", category = '), problem
    assert 'regime = "statute", category = "lv_residential"' in problem, problem


# -- 6, 7: message references, number columns ------------------------------------------------------------------------


def test_a_message_reference_typo_is_named_at_its_line(process_copy: Path) -> None:
    bpmn = process_copy / "baozhuang.bpmn"
    replace_in(bpmn, 'messageRef="message_meter_online"', 'messageRef="message_meter_onlin"')
    line = line_of(bpmn, "message_meter_onlin\"")
    code, output = run_validate(process_copy)
    assert code == 1
    assert problem_lines(output) == [
        f"{bpmn}:{line}: wait_meter_online: messageRef 'message_meter_onlin' names no message of this file "
        "(bpmn:message ids: message_meter_online, message_payment_confirmed)"], output


PLAN_REPLY_CELL = '<outputEntry id="rule_2_output_2"><text>8</text>'


def test_fractional_working_days_are_refused(process_copy: Path) -> None:
    dmn = process_copy / "time_limits.dmn"
    line = line_of(dmn, PLAN_REPLY_CELL)
    replace_in(dmn, PLAN_REPLY_CELL, '<outputEntry id="rule_2_output_2"><text>2.5</text>')
    code, output = run_validate(process_copy)
    assert code == 1
    assert problem_lines(output) == [
        f"{dmn}:{line}: rule_2: output entry rule_2_output_2 (limits.plan_reply, typeRef='number'): 2.5 is not a "
        "whole number of working days: the model counts working days with working_deadline, which would take 2; "
        "write a whole number"], output


@pytest.mark.parametrize(("type_ref", "cell", "message"), [
    ("integer", "2.5", "2.5 is not a whole number, as typeRef integer asks"),
    ("integer", '"8 days"', '"8 days" is a string, not a integer'),
    ("double", "True", "True is a boolean, not a double"),
])
def test_camunda_number_types_are_checked(process_copy: Path, type_ref: str, cell: str, message: str) -> None:
    dmn = process_copy / "time_limits.dmn"
    replace_in(dmn, 'name="limits.plan_reply" typeRef="number"', f'name="limits.plan_reply" typeRef="{type_ref}"')
    line = line_of(dmn, PLAN_REPLY_CELL)
    replace_in(dmn, PLAN_REPLY_CELL, f'<outputEntry id="rule_2_output_2"><text>{cell}</text>')
    code, output = run_validate(process_copy)
    assert code == 1
    assert problem_lines(output) == [
        f"{dmn}:{line}: rule_2: output entry rule_2_output_2 (limits.plan_reply, typeRef='{type_ref}'): {message}"]


# -- 8: try --regime -------------------------------------------------------------------------------------------------


def test_try_accepts_a_regime_the_folder_adds_and_names_the_known_ones(process_copy: Path) -> None:
    dmn = process_copy / "time_limits.dmn"
    dmn.write_text(dmn.read_text(encoding="utf-8").replace('"csg"', '"shanghai"'), encoding="utf-8")
    runner = CliRunner()
    tried = runner.invoke(main, ["try", "--category", "lv_residential", "--regime", "shanghai", "--processes",
                                 str(process_copy)])
    assert tried.exit_code == 0, tried.output
    refused = runner.invoke(main, ["try", "--category", "lv_residential", "--regime", "csg", "--processes",
                                   str(process_copy)])
    assert refused.exit_code == 2
    assert f"'csg' is no regime of {dmn}; it knows sgcc_commitment, sgcc_internal, shanghai, statute" \
        in refused.output, refused.output
