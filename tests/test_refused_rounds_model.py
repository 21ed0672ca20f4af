"""The model records every round the customer refused (暂不签署 the plan, 暂不签订 the contract) in the timeline, so
that the Getting-Electricity KPIs deduct each of them as the customer's time (handlers/kpis.py), not only the
latest: a stored case driven to its end with the plan refused twice and the contract once."""

from __future__ import annotations

from tests.db import Db, case_row, drive_case_to_end, start

PLAN_REFUSED = [{"signed": False, "remarks": "接入点距离太远，请调整"}, {"signed": False, "remarks": "仍需调整"},
                {"signed": True}]
CONTRACT_REFUSED = [{"signed": False, "remarks": "电价条款需再确认"}, {"signed": True}]


def test_every_refused_round_is_in_the_timeline_and_the_kpis(db: Db) -> None:
    number = start(db, "hv_ordinary")
    drive_case_to_end(db, number, {"sign_plan": PLAN_REFUSED, "sign_contract": CONTRACT_REFUSED})
    summary = case_row(db, number).summary
    timeline = summary["timeline"]
    plan_rounds, contract_rounds = timeline["plan_refused_rounds"], timeline["contract_refused_rounds"]
    assert len(plan_rounds) == 2 and len(contract_rounds) == 1, timeline
    assert plan_rounds[-1] == [timeline["plan_refused_answered"], timeline["plan_refused"]]
    assert plan_rounds[0][1] < plan_rounds[1][0]  # the first refusal came before the second answer
    assert contract_rounds[0] == [timeline["contract_refused_sent"], timeline["contract_refused"]]
    periods = [period["period"] for period in summary["kpis"]["customer_held_periods"]]
    assert periods.count("plan_refused") == 2 and periods.count("contract_refused") == 1, periods
