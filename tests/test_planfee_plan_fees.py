"""The fees the customer signs and pays follow the approved plan: its number of sources and its voltage
(decision 103; DOMAIN §5).

高可靠性供电费 is charged for dual/multi-circuit supply only, at the ``fee_rates`` rate of the supply voltage. After
供电方案答复, 按方案确定收费标准 (``decide_plan_fee_rates``) makes the plan's voltage the case's and asks the same
``fee_rates`` table again; 按方案核定费用 (``recalculate_fees``) bills dual supply when the plan grants two or more
sources. Through ``baozhuang try`` (``TrialDriver``) and through the service layer on both databases.
"""

from __future__ import annotations

from typing import Any

from runner.process_folder import ProcessBundle
from runner.store import load_case
from tests.db import Db, advance_to, case_row, complete, drive_case_to_end, open_task, start
from tests.trials import trial

UNCHANGED = {"supply_voltage_kv": 10, "supply_points": 2, "transformer_kva": 630}
"""The dual-supply sample's plan as applied: 10 kV (the voltage decided at acceptance), two sources."""
ONE_SOURCE = {**UNCHANGED, "supply_points": 1}
AT_35_KV = {**UNCHANGED, "supply_voltage_kv": 35}


def test_a_dual_supply_application_whose_plan_grants_one_source_pays_no_reliability_fee(
        bundle: ProcessBundle) -> None:
    driver, result = trial(bundle, "hv_ordinary", dual_supply=True, answers={"draft_plan": ONE_SOURCE})
    assert driver.start_data["application"]["dual_supply"] is True
    fees = result.summary["fees"]
    assert fees["costed_on"] == "plan" and fees["items"] == [] and fees["total"] == 0
    assert "open_payment" not in result.visited and "payments" not in driver.case.data  # nothing billed


def test_a_plan_at_35_kv_is_billed_at_the_35_kv_rate_on_the_plans_kva(bundle: ProcessBundle) -> None:
    driver, result = trial(bundle, "hv_ordinary", dual_supply=True, answers={"draft_plan": AT_35_KV})
    data = driver.case.data
    assert data["capacity"]["current_voltage_kv"] == 10  # the voltage decided at acceptance
    assert data["fee_rates"]["high_reliability_per_kva"] == 170  # fee_rates.dmn: 10 < kV <= 35
    [item] = data["fees"]["items"]
    assert item["basis"] == "170 元/kVA × 630 kVA" and data["fees"]["total"] == 170 * 630
    assert data["payments"]["due"] == 170 * 630 and data["payments"]["settled"] is True
    # the case's supply voltage is the plan's from then on: the customer archive records it
    assert result.summary["supply_voltage_kv"] == 35 and data["archive"]["supply_voltage_kv"] == 35
    assert result.visited.index("decide_plan_fee_rates") < result.visited.index("recalculate_fees") \
        < result.visited.index("sign_plan")


def test_an_unchanged_plan_costs_what_it_cost_before(bundle: ProcessBundle) -> None:
    driver, result = trial(bundle, "hv_ordinary", dual_supply=True, answers={"draft_plan": UNCHANGED})
    fees = result.summary["fees"]
    assert fees["items"] == [{"code": "high_reliability", "name": "高可靠性供电费", "amount": 126000.0,
                              "basis": "200 元/kVA × 630 kVA"}]  # decision 84's figure
    assert fees["total"] == 126000 and driver.case.data["payments"]["due"] == 126000
    assert result.summary["supply_voltage_kv"] == 10


def test_a_single_supply_application_whose_plan_grants_two_sources_pays_the_fee(bundle: ProcessBundle) -> None:
    driver, result = trial(bundle, "hv_ordinary", answers={"draft_plan": UNCHANGED})
    assert driver.start_data["application"]["dual_supply"] is False
    assert result.summary["fees"]["total"] == 126000 and "open_payment" in result.visited


def test_a_plan_redrafted_to_one_source_after_a_refusal_keeps_the_fee_shown_before(bundle: ProcessBundle) -> None:
    _, result = trial(bundle, "hv_ordinary", dual_supply=True, answers={
        "draft_plan": [UNCHANGED, ONE_SOURCE],
        "sign_plan": [{"signed": False, "remarks": "请改为单电源供电"}, {"signed": True}]})
    fees = result.summary["fees"]
    assert fees["total"] == 0 and fees["items"] == []
    [earlier] = fees["earlier"]
    assert earlier["total"] == 126000 and earlier["costed_on"] == "plan"


# -- on a database, through the service layer ----------------------------------------------------------------------


def _at_signing(db: Db, plan: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A dual-supply 高压普通 case whose plan is answered with ``plan``, waiting for the customer's signature; its
    number and data."""
    number = start(db, "hv_ordinary", dual_supply=True)
    advance_to(db, number, "draft_plan")
    task = open_task(db, number, "draft_plan")
    complete(db, number, "draft_plan", user=f"{task.lane}.1", extra=plan)
    advance_to(db, number, "sign_plan")
    with db.reading() as session:
        return number, load_case(session, db.runtime, number).case.data


def test_on_a_database_the_plan_at_35_kv_is_what_the_customer_signs_and_pays(db: Db) -> None:
    number, data = _at_signing(db, AT_35_KV)
    assert data["fees"]["total"] == 170 * 630 and data["fees"]["costed_on"] == "plan"
    summary = case_row(db, number).summary
    assert summary["supply_voltage_kv"] == 35 and summary["fees"]["total"] == 170 * 630  # case page, API
    finished = drive_case_to_end(db, number)
    assert finished.data["payments"]["due"] == 170 * 630 and finished.data["payments"]["settled"] is True


def test_on_a_database_a_plan_with_one_source_is_signed_and_closed_without_a_fee(db: Db) -> None:
    number, data = _at_signing(db, ONE_SOURCE)
    assert data["application"]["dual_supply"] is True
    assert data["fees"]["items"] == [] and data["fees"]["total"] == 0
    finished = drive_case_to_end(db, number)
    assert "open_payment" not in finished.visited and "payments" not in finished.data
