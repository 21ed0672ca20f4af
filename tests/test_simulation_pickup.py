"""Pickup delays: a ready staff task waits this many working hours in the lane's inbox before staff take it."""

from __future__ import annotations

from typing import Any

import pytest

from runner.simulation.engine import SimulationError, simulate
from runner.simulation.scenario import scenario_from_dict
from tests.test_simulation_engine import DATA, one_step

HOUR = 3600.0
OFFICE = {"working_days": "all", "shifts": ["09:00-17:00"]}


def staffed(count: int = 60, **overrides: Any) -> dict[str, Any]:
    """The one-step model with so many clerks around the clock that nobody ever queues for a busy one."""
    return one_step(cases=40, pools={"clerk": {"count": count, "calendar": "always"}}, **overrides)


def user_work(data: dict[str, Any], folder: str = "one_step") -> list[Any]:
    log = simulate(scenario_from_dict(data, base_dir=DATA / folder))
    return [a for a in log.activities if a.kind == "user"]


def test_without_a_pickup_delay_a_free_clerk_takes_the_task_at_once() -> None:
    work = user_work(staffed())
    assert len(work) == 40 and all(a.waiting_seconds == 0 for a in work)


def test_a_pickup_delay_holds_the_task_that_long_before_a_free_clerk_takes_it() -> None:
    work = user_work(staffed(pickup_delays={"work": 2.5}))
    assert len(work) == 40
    assert {a.waiting_seconds for a in work} == {2.5 * HOUR}
    drawn = user_work(staffed(pickup_delays={"work": {"distribution": "empirical", "samples": [0, 0, 4]}}))
    waits = sorted({a.waiting_seconds for a in drawn})
    assert waits == [0.0, 4 * HOUR]  # a zero draw joins the queue at once


def test_the_pickup_delay_counts_working_hours_on_the_lanes_shifts() -> None:
    """Applications at midnight, delay 2 h on a 09:00-17:00 shift: the task joins the queue at 11:00."""
    data = one_step(cases=5, arrivals={"one": {"interarrival_hours": 24}},
                    calendars={"office": OFFICE}, pools={"clerk": {"count": 3, "calendar": "office"}},
                    durations={"work": 1}, pickup_delays={"work": 2})
    work = user_work(data)
    assert len(work) == 5
    assert all(a.enable_time.hour == 0 and (a.start_time.hour, a.start_time.minute) == (11, 0) for a in work)


def test_arrivals_and_work_stay_the_same_with_and_without_pickup_delays() -> None:
    """Common random numbers: the delay draws from its own stream."""
    before = user_work(one_step(cases=30))
    after = user_work(one_step(cases=30, pickup_delays={"work": {"distribution": "exponential", "mean": 0.5}}))
    assert [a.enable_time for a in before] == [a.enable_time for a in sorted(after, key=lambda a: a.enable_time)]
    assert sorted(a.processing_seconds for a in before) == pytest.approx(sorted(a.processing_seconds for a in after))
    assert sum(a.waiting_seconds for a in after) > sum(a.waiting_seconds for a in before)


def test_queue_length_counts_tasks_still_in_their_pickup_delay() -> None:
    log = simulate(scenario_from_dict(staffed(pickup_delays={"work": 2.5}), base_dir=DATA / "one_step"))
    assert max(q.length for q in log.queues) >= 1  # nobody queues for a clerk: only the pickup delay shows
    assert log.queues[-1].length == 0


def test_a_timer_that_ends_a_task_during_its_pickup_delay_frees_its_inbox_slot() -> None:
    """The boundary timer fires at 4 h, before the 5 h pickup delay runs out: nobody ever starts the work."""
    data = one_step(cases=6, arrivals={"one": {"interarrival_hours": 1}}, durations={"work": 1},
                    pickup_delays={"work": 5})
    log = simulate(scenario_from_dict(data, base_dir=DATA / "timeout"))
    assert all(c.completed and c.visited[-1] == "end_timeout" for c in log.cases)
    assert not any(a.element_id == "work" and a.resource for a in log.activities)
    assert log.pools[0].busy_seconds == 0
    assert log.queues[-1].length == 0 and max(q.length for q in log.queues) >= 2


def test_a_pickup_delay_for_no_staff_task_is_refused_at_its_key() -> None:
    with pytest.raises(SimulationError, match=r"pickup_delays\.nowhere: not a staff task of the process"):
        simulate(scenario_from_dict(one_step(pickup_delays={"nowhere": 1}), base_dir=DATA / "one_step"))


def test_the_scenario_keeps_its_pickup_delays_through_to_dict() -> None:
    scenario = scenario_from_dict(one_step(pickup_delays={"work": {"distribution": "exponential", "mean": 2}}),
                                  base_dir=DATA / "one_step")
    again = scenario_from_dict(scenario.to_dict(), base_dir=DATA / "one_step")
    assert again.pickup_delays == scenario.pickup_delays and "work" in again.pickup_delays
