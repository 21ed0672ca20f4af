"""The fees follow the approved supply plan (高可靠性供电费 on the plan's transformer rating, not the applied one),
an earlier figure the customer was shown is kept, and the case data holds the supply current once the voltage is
decided (decision 84; DOMAIN §3, §5)."""

from __future__ import annotations

from datetime import datetime

from handlers import HandlerContext, MemoryArchive, MemoryOutbox
from handlers.fees import fee_calculation
from runner.clock import SHANGHAI
from runner.process_folder import ProcessBundle
from runner.store import load_case
from runner.workdays import WorkingCalendar
from tests.db import Db, advance_to, complete, open_task, start
from tests.trials import trial

BIG_FACTORY = {"declared_capacity_kw": 1400, "equipment": [
    {"name": "注塑机", "count": 28, "unit_kw": 50, "demand_factor": 0.7, "power_factor": 0.8}]}
PLAN_630 = {"transformer_kva": 630, "supply_points": 2}
"""A plan granting the dual supply applied for (the fee follows the plan's sources: decision 103)."""


def context() -> HandlerContext:
    return HandlerContext("BZ-TEST", lambda: datetime(2026, 11, 26, 10, tzinfo=SHANGHAI), WorkingCalendar.default(),
                          MemoryOutbox(), MemoryArchive())


def test_the_fee_billed_follows_the_plans_transformer_not_the_applied_capacity(bundle: ProcessBundle) -> None:
    driver, result = trial(bundle, "hv_ordinary", BIG_FACTORY, dual_supply=True,
                           answers={"draft_plan": PLAN_630})
    assert result.summary["capacity"]["transformer_kva"] == 1600  # what the application asks for
    fees = result.summary["fees"]
    assert fees["items"][0]["basis"] == "200 元/kVA × 630 kVA" and fees["total"] == 200 * 630
    assert fees["costed_on"] == "plan" and "earlier" not in fees  # the acceptance estimate was never shown
    assert result.visited.index("recalculate_fees") < result.visited.index("sign_plan")
    assert driver.case.data["payments"]["due"] == 200 * 630  # what billing is asked for


def test_a_plan_redrafted_after_a_refusal_is_costed_again_and_the_figure_shown_before_is_kept(
        bundle: ProcessBundle) -> None:
    _, result = trial(bundle, "hv_ordinary", BIG_FACTORY, dual_supply=True, answers={
        "draft_plan": [{**PLAN_630, "transformer_kva": 1600}, PLAN_630],
        "sign_plan": [{"signed": False, "remarks": "容量过大，请按 630 kVA 修改"}, {"signed": True}]})
    fees = result.summary["fees"]
    assert fees["total"] == 200 * 630
    [earlier] = fees["earlier"]
    assert earlier["total"] == 200 * 1600 and earlier["costed_on"] == "plan"
    assert earlier["items"][0]["basis"] == "200 元/kVA × 1600 kVA" and earlier["replaced_at"]


def test_a_figure_recomputed_unchanged_is_not_recorded_as_earlier() -> None:
    rates = {"high_reliability_per_kva": 200}
    shown = fee_calculation(context(), "hv_ordinary", True, 630, rates, "plan")
    again = fee_calculation(context(), "hv_ordinary", True, 630, rates, "plan", previous=shown)
    assert "earlier" not in again and again["total"] == shown["total"] == 126000
    estimate = fee_calculation(context(), "hv_ordinary", True, 1600, rates)
    assert estimate["costed_on"] == "application"
    assert "earlier" not in fee_calculation(context(), "hv_ordinary", True, 630, rates, "plan", previous=estimate)


def test_the_plan_answer_sheet_the_customer_signs_carries_the_plans_fee(db: Db) -> None:
    number = start(db, "hv_ordinary", dual_supply=True, **BIG_FACTORY)
    advance_to(db, number, "draft_plan")
    complete(db, number, "draft_plan", user=f"{open_task(db, number, 'draft_plan').lane}.1", extra=PLAN_630)
    advance_to(db, number, "sign_plan")
    with db.reading() as session:
        data = load_case(session, db.runtime, number).case.data
    assert data["draft_plan"]["transformer_kva"] == 630 and data["capacity"]["transformer_kva"] == 1600
    assert data["fees"]["total"] == 200 * 630 and data["fees"]["costed_on"] == "plan"


def test_the_case_holds_the_supply_current_once_the_voltage_is_decided(db: Db) -> None:
    number = start(db, "hv_ordinary")
    with db.reading() as session:
        data = load_case(session, db.runtime, number).case.data
    capacity = data["capacity"]
    assert capacity["current_voltage_kv"] == data["supply_voltage_kv"] == 10
    assert capacity["current_phases"] == 3 and capacity["current_a"] > 0
    # I = S_hv / (√3 · U), S_hv with the transformer losses
    assert abs(capacity["current_a"] - capacity["hv_apparent_kva"] / (3 ** 0.5 * 10)) < 0.1


def test_a_low_voltage_case_gets_its_current_at_its_own_voltage(bundle: ProcessBundle) -> None:
    _, result = trial(bundle, "lv_residential")
    capacity = result.summary["capacity"]
    assert capacity["current_voltage_kv"] == result.summary["supply_voltage_kv"] == 0.22
    assert capacity["current_phases"] == 1
    assert abs(capacity["current_a"] - capacity["apparent_kva"] / 0.22) < 0.1
