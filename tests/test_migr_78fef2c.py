"""``baozhuang migrate`` from the previous release's model (commit 78fef2c) to today's ``processes/``.

Today's model inserts 计算供电电流 after 确定供电电压, 按方案确定收费标准 and 按方案核定费用 after
供电方案答复 and a payment ledger around 缴费确认, adds a ``whole_case`` column to ``time_limits.dmn`` and
tightens forms (no future dates, required files). Every running case was refused: each had passed 确定供电电压
and decided its time limits. Cases waiting before the fee steps now move and run to the end on today's model (the
fee is costed on the plan, the payment recorded in the ledger); cases past them, past a payment, or with a
recorded answer today's form refuses are still refused, saying why (decisions 99, 100 and 103). What today's model
would have given a moved case where it holds nothing (the load current, the small/micro whole-process target) is
filled in. The old files are in ``tests/data/migration_78fef2c`` (no git history needed).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from runner import migration, services
from runner.process_folder import ProcessBundle, load_process_folder
from runner.store import deploy, load_case
from runner.trial import TrialDriver, TrialOptions
from tests.db import Db, case_row, complete, drive_case_to_end, events, open_tasks, run_cli, start
from tests.test_migration import by_case, deploy_folder, timer_values

PROCESSES = Path(__file__).resolve().parent.parent / "processes"
OLD_FILES = Path(__file__).resolve().parent / "data" / "migration_78fef2c"
DAY = "2026-11-26"
"""The test clock's first day (tests.db.START): a date already past for every recorded answer."""
DATES = {"site_survey": "survey_date", "report_completion": "completion_date", "completion_check": "check_date",
         "interim_check": "check_date", "install_meter": "install_date", "archive_documents": "archive_date",
         "grid_works": "completed_date"}
"""The date each step records; the old forms' sample answers lie in December 2026, after the test clock."""
FEE_STEP = "按方案确定收费标准 (decide_plan_fee_rates)"
"""The first step inserted after 供电方案答复: a business rule task (with the plan's voltage as the case's), which
migration does not rerun to compare as it does an inserted service task (decision 103)."""
DUAL_PLAN = {"draft_plan": {"supply_points": 2}}
"""The plan grants the dual supply applied for: the fee follows the plan's sources (decision 103)."""


def old_folder(target: Path) -> Path:
    """``processes/`` as it was at 78fef2c: today's folder with that commit's versions of the changed files."""
    shutil.copytree(PROCESSES, target)
    for source in OLD_FILES.rglob("*"):
        if source.is_file() and source.name != "README.md":
            shutil.copyfile(source, target / source.relative_to(OLD_FILES))
    return target


def redeploy_today(db: Db) -> None:
    """Make today's ``processes/`` (the fixture's version) current again."""
    with db.transaction() as session:
        version, _created = deploy(session, db.runtime, PROCESSES, "test")
    assert version.id == db.version_id


def advance(db: Db, number: str, target: str) -> None:
    """Answer the case's tasks with their sample answers, dates being the test clock's first day, and deliver the
    messages it waits for, until ``target`` (an element id, or ``msg:<name>``) is where it waits."""
    for _ in range(200):
        tasks = open_tasks(db, number)
        with db.reading() as session:
            messages = load_case(session, db.runtime, number).case.waiting_messages()
        if target in [task.element_id for task in tasks] + [f"msg:{name}" for name in messages]:
            return
        if tasks:
            element = tasks[0].element_id
            complete(db, number, element, user=f"{tasks[0].lane or 'staff'}.1",
                     extra={DATES[element]: DAY} if element in DATES else None)
        else:
            assert messages, f"{number}: stuck before {target}"
            with db.transaction() as session:
                services.send_message(session, db.runtime, number, messages[0], {"confirmed_at": f"{DAY}T10:00+08:00"})
    raise AssertionError(f"{number}: {target} never reached")


def test_cases_before_the_fee_step_move_and_run_to_the_end_on_todays_model(db: Db, tmp_path: Path) -> None:
    deploy_folder(db, old_folder(tmp_path / "old"))
    at_survey = start(db, "hv_ordinary", dual_supply=True)
    advance(db, at_survey, "site_survey")
    at_review = start(db, "lv_other")
    advance(db, at_review, "review_plan")
    at_signing = start(db, "lv_other")
    advance(db, at_signing, "sign_plan")
    deadlines = timer_values(db, at_survey)
    redeploy_today(db)

    outcomes = by_case(migration.migrate_cases(db.sessions, db.runtime, str(db.version_id)))

    assert outcomes[at_survey].result == "migrated", outcomes[at_survey].reason
    assert outcomes[at_review].result == "migrated", outcomes[at_review].reason
    assert outcomes[at_signing].result == "refused"
    assert outcomes[at_signing].reason.startswith(
        "供电方案答复 (plan_stage, completed): its outgoing sequence flows changed (new target: "
        f"{FEE_STEP}; no longer to: 确认供电方案 (sign_plan))"), outcomes[at_signing].reason
    assert " | " not in outcomes[at_signing].reason  # its survey answer (a finished stage's) fits today's form
    assert case_row(db, at_signing).version_id != db.version_id
    assert timer_values(db, at_survey) == deadlines  # the SLA clocks keep their deadlines
    [moved] = [event for event in events(db, at_survey) if event.lifecycle == "migrated"]
    assert set(moved.data["filled"]) == {"capacity.current_a", "capacity.current_phases", "capacity.current_voltage_kv"}

    for number in (at_survey, at_review):
        result = drive_case_to_end(db, number, DUAL_PLAN if number == at_survey else None)
        assert "recalculate_fees" in result.visited and "assess_supply_current" not in result.visited
        assert result.data["fees"]["costed_on"] == "plan"
        assert result.data["capacity"]["current_a"] > 0  # 计算供电电流's figure, filled in by the move
        if number == at_survey:  # dual supply: a fee to pay, entered in the new ledger
            assert result.visited.index("record_payment") > result.visited.index("recalculate_fees")
            assert result.data["payments"]["settled"] is True


def test_the_command_moves_the_two_step_cases_and_refuses_the_one_waiting_for_payment(
        db: Db, tmp_path: Path) -> None:
    deploy_folder(db, old_folder(tmp_path / "old"))
    meter = start(db, "lv_residential")
    advance(db, meter, "install_meter")
    grid = start(db, "lv_smallmicro")
    advance(db, grid, "grid_works")
    paying = start(db, "hv_ordinary", dual_supply=True)
    advance(db, paying, "msg:payment_confirmed")
    redeploy_today(db)

    result = run_cli(db, tmp_path / "instance", "migrate", "--to", str(db.version_id), "--dry-run")

    assert result.exit_code == 0, result.output
    lines = {line.split(":", 1)[0]: line for line in result.output.splitlines()}
    assert "would migrate" in lines[meter] and lines[meter].endswith("open tasks: 装表接电 (install_meter)")
    assert "would migrate" in lines[grid] and lines[grid].endswith("open tasks: 配套电网工程 (grid_works)")
    assert lines[paying].startswith(f"{paying}: refused: 供电方案答复 (plan_stage, completed)"), lines[paying]
    assert ("需缴费？ (gw_payment, completed): it has a new outgoing flow to 开立缴费台账 (open_payment)"
            in lines[paying])
    assert "dry run, nothing changed: would have migrated 2, refused 1, failed 0" in result.output

    real = by_case(migration.migrate_cases(db.sessions, db.runtime, str(db.version_id), case_numbers=[grid]))
    assert real[grid].result == "migrated", real[grid].reason
    finished = drive_case_to_end(db, grid)
    # the new time_limits column gives a small/micro case its 15-day whole-process target, reported in its KPIs
    assert finished.data["limits"]["whole_case"] == 15
    assert finished.data["kpis"]["whole_case"]["limit_days"] == 15


# -- without a database: the answers a case recorded, against today's forms ---------------------------------------


def old_case_at(old: ProcessBundle, element_id: str, answers: dict[str, Any]) -> Any:
    driver = TrialDriver(old, TrialOptions(category="hv_ordinary", answers=answers))
    driver.case.start(driver.start_data)
    while not any(task.element_id == element_id for task in driver.case.ready_tasks()):
        assert driver.step(), f"{element_id} never became ready"
    return driver.case


def test_a_recorded_answer_todays_form_refuses_still_counts(tmp_path: Path) -> None:
    old = load_process_folder(old_folder(tmp_path / "old"))
    today = load_process_folder(PROCESSES)
    past = old_case_at(old, "draft_plan", {"site_survey": {"survey_date": DAY}})
    assert migration.plan_migration(past.workflow, old, today).problems == []
    # the old form's sample date (2026-12-01) is after the case's clock: today's form refuses it
    future = old_case_at(old, "draft_plan", {})
    [problem] = migration.plan_migration(future.workflow, old, today).problems
    assert problem.startswith("现场勘查 (site_survey, completed): its form site_survey.schema.json changed"), problem
    assert "the case's answer does not pass it (survey_date: 勘查日期不能晚于今天" in problem, problem
