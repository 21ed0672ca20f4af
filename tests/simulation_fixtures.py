"""Hand-made SimulationLogs with known KPI answers, for the KPI, what-if, event-log and report tests; calendars and
roles shared by the engine tests."""

from __future__ import annotations

from datetime import datetime, timedelta

from runner.simulation.model import PoolUsage, QueueSample, SimActivity, SimCase, SimulationLog
from runner.workdays import TZ

ALWAYS = {"working_days": "all", "shifts": ["00:00-24:00"]}
"""A shift calendar on duty around the clock, every day."""
ALL_DAY = {"working_days": "all", "windows": [{"hours": "00:00-24:00"}]}
"""An arrival calendar open around the clock, every day."""
ROLES = ("account_manager", "surveyor", "plan_reviewer", "inspector", "installer", "archivist", "followup_agent",
         "supervisor")
"""The lane roles of the process, each of which needs a pool."""


def at(day: str, hour: float = 9.0) -> datetime:
    """An Asia/Shanghai datetime on ISO ``day`` at ``hour`` (fractions are minutes)."""
    return datetime.fromisoformat(day).replace(tzinfo=TZ) + timedelta(hours=hour)


def activity(case_id: str, element_id: str, *, kind: str = "user", lane: str | None = "surveyor",
             resource: str | None = "surveyor#1", enable: datetime, start: datetime, end: datetime,
             due: datetime | None = None, name: str | None = None) -> SimActivity:
    return SimActivity(
        case_id=case_id, element_id=element_id, activity=name or element_id, kind=kind, lane=lane,
        resource=resource, enable_time=enable, start_time=start, end_time=end, due_at=due,
    )


def holiday_log(seed: int = 1) -> SimulationLog:
    """Four cases around the 2026 National Day holiday (10-01..10-07 off, 10-10 a make-up Saturday).

    - C1 lv_residential: 2026-09-30 09:00 → 2026-10-09 17:00: 9⅓ calendar days, 2 working days
      (10-08, 10-09); due 10-09 23:59 → on time; 1 escalation.
    - C2 lv_residential: 2026-10-12 09:00 → 2026-10-16 09:00: 4 calendar days, 4 working days; due 10-14 → late.
    - C3 hv_ordinary: 2026-10-12 09:00 → 2026-10-22 09:00: 10 calendar days, 8 working days; no case deadline.
    - C4 hv_ordinary: arrived 2026-10-20, not completed.

    Six completed activity instances and one cancelled (C3's review_plan).
    """
    cases = [
        SimCase("C1", "lv_residential", at("2026-09-30"), at("2026-10-09", 17), {"capacity_kva": 8},
                ["accept_application", "site_survey", "supply_materials"], at("2026-10-09", 23.999), 1),
        SimCase("C2", "lv_residential", at("2026-10-12"), at("2026-10-16"), {"capacity_kva": 10},
                ["accept_application", "site_survey"], at("2026-10-14", 23.999), 0),
        SimCase("C3", "hv_ordinary", at("2026-10-12"), at("2026-10-22"), {"capacity_kva": 800},
                ["accept_application", "site_survey"], None, 2),
        SimCase("C4", "hv_ordinary", at("2026-10-20"), None, {"capacity_kva": 630}, [], None, 0),
    ]
    activities = [
        # site_survey: waits 1 h, 3 h; works 2 h, 1 h; one on time, one late.
        activity("C1", "site_survey", enable=at("2026-09-30", 9), start=at("2026-09-30", 10),
                 end=at("2026-09-30", 12), due=at("2026-09-30", 18), name="现场勘查"),
        activity("C2", "site_survey", resource="surveyor#2", enable=at("2026-10-12", 9), start=at("2026-10-12", 12),
                 end=at("2026-10-12", 13), due=at("2026-10-12", 12.5), name="现场勘查"),
        activity("C3", "site_survey", enable=at("2026-10-12", 9), start=at("2026-10-12", 9),
                 end=at("2026-10-12", 15), name="现场勘查"),
        activity("C1", "supply_materials", kind="customer", lane="customer", resource=None,
                 enable=at("2026-09-30", 12), start=at("2026-09-30", 12), end=at("2026-10-08", 12), name="补充资料"),
        activity("C3", "wait_payment", kind="message", lane="customer", resource=None,
                 enable=at("2026-10-13", 9), start=at("2026-10-13", 9), end=at("2026-10-14", 9), name="等待缴费"),
        activity("C1", "decide_route", kind="decision", lane="account_manager", resource=None,
                 enable=at("2026-09-30", 9), start=at("2026-09-30", 9), end=at("2026-09-30", 9), name="确定办理路径"),
        # withdrawn by another branch before it was done: no on-time flag, no waiting/processing figures; its CSV
        # row is marked cancelled
        SimActivity("C3", "review_plan", "审核供电方案", "user", "plan_reviewer", "plan_reviewer#1",
                    at("2026-10-13", 9), at("2026-10-13", 10), at("2026-10-13", 11), at("2026-10-13", 10.5), True),
    ]
    pools = [
        PoolUsage("surveyor", 2, available_seconds=100 * 3600, busy_seconds=25 * 3600),
        PoolUsage("account_manager", 1, available_seconds=0.0, busy_seconds=0.0),
    ]
    queues = [
        QueueSample(at("2026-10-12", 9), "surveyor", 2),
        QueueSample(at("2026-10-12", 15), "surveyor", 1),
        QueueSample(at("2026-10-13", 0), "surveyor", 0),
    ]
    return SimulationLog(
        scenario_name="holiday", seed=seed, started_at=at("2026-09-30", 0), ended_at=at("2026-10-23", 0),
        cases=cases, activities=activities, pools=pools, queues=queues,
        costs={"surveyor": 25 * 80.0, "account_manager": 0.0}, stats={"activity_instances": len(activities)},
    )


def scaled_log(factor: float, seed: int, name: str = "scaled") -> SimulationLog:
    """Three completed lv_other cases whose durations are ``factor`` × (2, 3, 4) calendar days from Mon 2026-11-02."""
    start = at("2026-11-02")
    cases = [
        SimCase(f"S{i}", "lv_other", start, start + timedelta(days=factor * days), {}, [], None, 0)
        for i, days in enumerate((2, 3, 4), start=1)
    ]
    return SimulationLog(
        scenario_name=name, seed=seed, started_at=start, ended_at=start + timedelta(days=30), cases=cases,
        pools=[PoolUsage("surveyor", 2, 100 * 3600, factor * 20 * 3600)],
        costs={"surveyor": factor * 20 * 80.0},
    )
