"""The customer's "not now" is not ignored: a plan not signed goes back to 编制供电方案 (and through review again), a
contract not signed back to 拟定供用电合同; only a signature sets ``plan_signed`` (and the plan's validity) or
``contract_signed``. The limit of a redone step counts from the refusal, as a rectified inspection's counts from the
new report. A two-step (low-voltage) case accepted without a contract signs one before 装表接电.

Answers are given explicitly (never the forms' sample answers) for every decision these tests are about."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from runner.cli import main
from runner.clock import parse_iso, to_iso
from runner.process_folder import ProcessBundle
from runner.store import load_case
from runner.trial import TrialDriver, TrialOptions, run_trial
from runner.workdays import WorkingCalendar
from tests.conftest import PROCESSES
from tests.db import Db, advance_to, complete, open_tasks, start, visited

PLAN_REFUSED = {"signed": False, "remarks": "接入点距离太远，请调整"}
CONTRACT_REFUSED = {"signed": False, "remarks": "电价条款需再确认"}
SIGNED = {"signed": True}
ACCEPTED_WITHOUT_CONTRACT = {"decision": "accept", "one_certificate": False, "commitment_signed": False,
                             "contract_signed": False}
ACCEPTED_WITH_CONTRACT = {**ACCEPTED_WITHOUT_CONTRACT, "contract_signed": True}


def add_one_year(iso: str) -> str:
    moment = parse_iso(iso)
    return to_iso(moment.replace(year=moment.year + 1))


def after(steps: list[str], element: str, count: int) -> list[str]:
    """The ``count`` elements completed right after the first ``element``."""
    at = steps.index(element)
    return steps[at + 1:at + 1 + count]


# -- in memory: baozhuang try / runner.trial -----------------------------------------------------------------------


def test_try_with_both_refusals_loops_back_and_counts_only_the_signatures(tmp_path: Path) -> None:
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps({"sign_plan": [PLAN_REFUSED, SIGNED], "sign_contract": [CONTRACT_REFUSED, SIGNED]},
                                  ensure_ascii=False), encoding="utf-8")
    result = CliRunner().invoke(main, ["try", "--category", "hv_ordinary", "--answers", str(answers),
                                       "--processes", str(PROCESSES)])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    steps = printed["visited"]
    assert printed["completed"] is True
    # the refused plan goes back to drafting (no second survey), through review, to the customer again
    assert after(steps, "sign_plan", 7) == ["gw_plan_signed", "gw_plan_loop", "start_plan_stage", "gw_plan_revision",
                                           "gw_draft_merge", "draft_plan", "review_plan"]
    assert [steps.count(step) for step in ("site_survey", "draft_plan", "review_plan", "sign_plan")] == [1, 2, 2, 2]
    # the refused contract goes back to its draft, then to the customer again
    assert after(steps, "sign_contract", 4) == ["gw_contract_signed", "gw_contract_loop", "draft_contract",
                                               "sign_contract"]
    assert steps.count("draft_contract") == 2
    assert steps.index("sign_contract") < steps.index("install_meter")
    timeline = printed["summary"]["timeline"]
    assert timeline["plan_refused"] < timeline["plan_answered"] < timeline["plan_signed"]
    assert timeline["contract_refused"] < timeline["contract_sent"] < timeline["contract_signed"]
    assert printed["summary"]["plan_expires_at"] == add_one_year(timeline["plan_signed"])


def test_a_customer_who_never_signs_the_plan_never_gets_past_it(bundle: ProcessBundle) -> None:
    """The reviewer's case: 暂不签署 on every visit. Before the fix it went on to 装表接电 and ended completed."""
    driver = TrialDriver(bundle, TrialOptions(category="hv_ordinary", answers={"sign_plan": PLAN_REFUSED}))
    driver.case.start(driver.start_data)
    while driver.visits.get("sign_plan", 0) < 3:
        assert driver.step(), driver.case.visited[-5:]
    assert [task.element_id for task in driver.case.ready_tasks()] == ["draft_plan"]
    data = driver.case.data
    assert "plan_signed" not in data["timeline"] and "plan_expires_at" not in data
    assert not {"report_completion", "draft_contract", "install_meter"} & set(driver.case.visited)


def test_a_customer_who_never_signs_the_contract_is_not_energized(bundle: ProcessBundle) -> None:
    driver = TrialDriver(bundle, TrialOptions(category="hv_ordinary", answers={"sign_plan": SIGNED,
                                                                               "sign_contract": CONTRACT_REFUSED}))
    driver.case.start(driver.start_data)
    while driver.visits.get("sign_contract", 0) < 3:
        assert driver.step(), driver.case.visited[-5:]
    assert [task.element_id for task in driver.case.ready_tasks()] == ["draft_contract"]
    assert "contract_signed" not in driver.case.data["timeline"]
    assert "install_meter" not in driver.case.visited


def test_a_late_refusal_does_not_make_the_redone_steps_late(bundle: ProcessBundle) -> None:
    """The customer takes 40 days over each refusal, far past the first round's plan-reply and contract limits. The
    redone plan and contract get their limits from the refusal: no 督办 for time the customer held."""
    options = TrialOptions(category="hv_ordinary",
                           answers={"sign_plan": [PLAN_REFUSED, SIGNED], "sign_contract": [CONTRACT_REFUSED, SIGNED]},
                           delays={"sign_plan": [40 * 24, 0], "sign_contract": [40 * 24, 0]})
    result = run_trial(bundle, options)
    assert result.completed
    assert not {"escalate_plan_reply", "escalate_contract", "supervise_breach"} & set(result.visited)
    assert result.visited.count("draft_plan") == 2 and result.visited.count("draft_contract") == 2


@pytest.mark.parametrize("category", ["lv_residential", "lv_smallmicro"])
def test_a_two_step_case_accepted_without_a_contract_signs_one_before_energizing(bundle: ProcessBundle,
                                                                                 category: str) -> None:
    unsigned = run_trial(bundle, TrialOptions(category=category, answers={
        "accept_application": ACCEPTED_WITHOUT_CONTRACT, "sign_contract": SIGNED}))
    steps = unsigned.visited
    assert unsigned.completed
    assert after(steps, "gw_contract", 4) == ["gw_contract_loop", "draft_contract", "sign_contract",
                                             "gw_contract_signed"]
    assert steps.index("sign_contract") < steps.index("install_meter")
    timeline = unsigned.summary["timeline"]
    assert timeline["accepted"] < timeline["contract_sent"] < timeline["contract_signed"]

    signed = run_trial(bundle, TrialOptions(category=category, answers={
        "accept_application": ACCEPTED_WITH_CONTRACT}))
    assert signed.completed
    assert not {"draft_contract", "sign_contract"} & set(signed.visited)
    assert signed.summary["timeline"]["contract_signed"] == signed.summary["timeline"]["accepted"]


# -- stored cases: the services a portal or a worker calls --------------------------------------------------------


def stored(db: Db, number: str) -> dict[str, Any]:
    with db.reading() as session:
        data: dict[str, Any] = load_case(session, db.new_runtime(), number).case.data
        return data


def deadline(db: Db, number: str, timer: str) -> str:
    with db.reading() as session:
        timers = load_case(session, db.new_runtime(), number).case.pending_timers()
    [found] = [t for t in timers if t.element_id == timer]
    return to_iso(found.deadline)


def open_ids(db: Db, number: str) -> list[str]:
    return [task.element_id for task in open_tasks(db, number)]


def test_a_stored_case_sends_a_refused_plan_back_to_drafting(db: Db) -> None:
    number = start(db, "hv_ordinary")
    advance_to(db, number, "sign_plan")
    db.clock.advance(timedelta(days=40))  # past the plan-reply deadline counted from acceptance
    complete(db, number, "sign_plan", PLAN_REFUSED, user="customer.1")

    assert open_ids(db, number) == ["draft_plan"]  # not site_survey: the survey stands
    data = stored(db, number)
    assert data["timeline"]["plan_refused"] == to_iso(db.clock.now())
    assert "plan_signed" not in data["timeline"] and "plan_expires_at" not in data
    calendar: WorkingCalendar = db.runtime.calendar
    assert deadline(db, number, "timer_plan_reply") == to_iso(
        calendar.deadline(db.clock.now(), data["limits"]["plan_reply"]))

    complete(db, number, "draft_plan", data["draft_plan"], user="surveyor.1")  # the first round's plan, revised
    complete(db, number, "review_plan", {"decision": "approve"}, user="plan_reviewer.1")
    assert open_ids(db, number) == ["sign_plan"]
    complete(db, number, "sign_plan", SIGNED, user="customer.1")

    data = stored(db, number)
    assert data["timeline"]["plan_signed"] == to_iso(db.clock.now())
    assert data["plan_expires_at"] == add_one_year(data["timeline"]["plan_signed"])
    assert open_ids(db, number) == ["report_completion"]
    steps = visited(db, number)
    assert [steps.count(step) for step in ("site_survey", "draft_plan", "review_plan", "sign_plan")] == [1, 2, 2, 2]
    assert "escalate_plan_reply" not in steps


def test_a_stored_case_sends_a_refused_contract_back_to_its_draft(db: Db) -> None:
    number = start(db, "hv_ordinary")
    advance_to(db, number, "sign_contract")
    db.clock.advance(timedelta(days=30))  # past the contract deadline counted from the inspection
    complete(db, number, "sign_contract", CONTRACT_REFUSED, user="customer.1")

    assert open_ids(db, number) == ["draft_contract"]
    data = stored(db, number)
    assert data["timeline"]["contract_refused"] == to_iso(db.clock.now())
    assert "contract_signed" not in data["timeline"]
    calendar: WorkingCalendar = db.runtime.calendar
    assert deadline(db, number, "timer_contract") == to_iso(
        calendar.deadline(db.clock.now(), data["limits"]["contract"]))

    complete(db, number, "draft_contract", data["draft_contract"], user="account_manager.1")
    assert open_ids(db, number) == ["sign_contract"]
    complete(db, number, "sign_contract", SIGNED, user="customer.1")

    assert stored(db, number)["timeline"]["contract_signed"] == to_iso(db.clock.now())
    assert open_ids(db, number) == ["install_meter"]
    assert visited(db, number).count("draft_contract") == 2


def test_a_stored_two_step_case_accepted_without_a_contract_gets_one(db: Db) -> None:
    number = start(db, "lv_residential")
    complete(db, number, "accept_application", ACCEPTED_WITHOUT_CONTRACT, user="account_manager.1")

    assert open_ids(db, number) == ["draft_contract"]
    assert "contract_signed" not in stored(db, number)["timeline"]
    advance_to(db, number, "sign_contract", user="account_manager.1")
    complete(db, number, "sign_contract", SIGNED, user="customer.1")
    assert stored(db, number)["timeline"]["contract_signed"] == to_iso(db.clock.now())
    assert open_ids(db, number) == ["install_meter"]
