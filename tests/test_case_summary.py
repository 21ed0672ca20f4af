"""The case's data and its stored summary are the main process's, whatever completed last: a 督办 escalation (a
non-interrupting boundary timer starting ``baozhuang_sla_escalation``, whose data hold only ``breach``) or a
parallel branch of the main process. Driven through the durable runner on both databases."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from runner import services
from runner.store import summarize
from tests.db import Db, case_row, complete, fire_due_timers, open_task, open_tasks, sample, start, visited

SUMMARY_KEYS = {"category", "supply_voltage_kv", "limits", "timeline", "regime", "dual_supply"}


def test_the_summary_is_the_case_data_as_json_reads_it_back() -> None:
    """``summarize`` gives what ``json.loads(json.dumps(summary, default=str))`` gives: new containers, and a value
    JSON has no type for as its text."""
    limits = {"acceptance": 1, "plan_reply": 45.5}
    data = {"category": "hv_important", "limits": limits, "timeline": {"applied": datetime(2026, 11, 26, tzinfo=UTC)},
            "fees": {"items": ({"amount": 1.5},)}, "regime": "statute", "application": {"dual_supply": True},
            "other": "not kept"}
    summary = summarize(data)
    expected = {key: data[key] for key in ("category", "limits", "timeline", "fees", "regime")}
    assert repr(summary) == repr(json.loads(json.dumps({**expected, "dual_supply": True}, default=str)))
    assert summary["timeline"] == {"applied": "2026-11-26 00:00:00+00:00"}
    assert summary["fees"]["items"] == [{"amount": 1.5}]
    plain = summarize({"limits": limits})
    assert plain == {"limits": limits} and plain["limits"] is not limits


def case_data(db: Db, number: str) -> dict[str, object]:
    with db.reading() as session:
        return services.case_data(session, db.new_runtime(), number)


def breach_acceptance(db: Db, number: str) -> None:
    """Let 业务受理 run past its time limit and fire the timer as the worker does."""
    acceptance = open_task(db, number, "accept_application")
    assert acceptance.due_at is not None
    db.clock.advance_to(acceptance.due_at + timedelta(seconds=1))
    assert fire_due_timers(db, number, db.new_runtime()) >= 1


def test_an_escalation_keeps_the_case_data_and_summary(db: Db) -> None:
    number = start(db, "hv_ordinary")
    before = case_row(db, number).summary
    assert SUMMARY_KEYS <= set(before)

    breach_acceptance(db, number)
    assert "timer_acceptance" in visited(db, number) and open_task(db, number, "supervise_breach")
    assert case_row(db, number).summary == before
    data = case_data(db, number)
    assert data["application"] and data["category"] == before["category"] and "breach" not in data

    complete(db, number, "supervise_breach", user="supervisor.1")
    assert "notify_breach" in visited(db, number)  # the escalation's last task completed last of all
    assert case_row(db, number).summary == before
    assert "supervise_breach" not in case_data(db, number)


def test_the_main_path_goes_on_after_an_escalation(db: Db) -> None:
    number = start(db, "hv_ordinary")
    breach_acceptance(db, number)
    complete(db, number, "accept_application", user="account_manager.1")
    assert "accept_application" in case_data(db, number)
    complete(db, number, "supervise_breach", user="supervisor.1")
    data = case_data(db, number)
    assert "accept_application" in data and "breach" not in data
    assert SUMMARY_KEYS <= set(case_row(db, number).summary)


def test_both_parallel_branches_results_are_in_the_case_data(db: Db) -> None:
    """After 受理 the property proof runs beside the main path: whichever branch completed last, the results of
    the other are in the case data."""
    number = start(db, "hv_ordinary", has_property_proof=False,  # 一证受理: the proof is handed in beside the main path
                   provided_materials=[m for m in sample("hv_ordinary")["application"]["provided_materials"]
                                       if m != "property_proof"])
    needs_proof = {"one_certificate": True, "commitment_signed": True}
    complete(db, number, "accept_application", user="account_manager.1", extra=needs_proof)
    branches = {task.element_id for task in open_tasks(db, number)}
    assert len(branches) >= 2, branches
    first, second = sorted(branches)
    complete(db, number, first)
    complete(db, number, second)
    data = case_data(db, number)
    assert first in data and second in data
    assert SUMMARY_KEYS <= set(case_row(db, number).summary)
