"""An event-based gateway (wait for the payment or two days, whichever comes first) in a case of our own process
folder: the case lists its messages and its timer, each path wins in turn, the wait survives a save and restore,
and the simulator races the two (the gateway's events were invisible to ``waiting_messages`` and
``pending_timers``: a delivery was refused as "not waiting", the timer never fired)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from lxml import etree

from handlers import build_registry
from runner.case import Case, CaseError, CaseServices
from runner.clock import VirtualClock
from runner.flow_checks import event_gateway_targets
from runner.process_folder import ProcessBundle, load_process_folder
from runner.simulation.engine import SimulatedCase, SimulationError, simulate
from runner.simulation.scenario import Scenario, scenario_from_dict
from runner.workdays import TZ, WorkingCalendar
from tests.simulation_fixtures import ALL_DAY, ALWAYS

FOLDER = Path(__file__).resolve().parent / "data" / "simulation" / "payment_race"
MONDAY = datetime(2026, 11, 2, 9, tzinfo=TZ)


@pytest.fixture(scope="module")
def race() -> ProcessBundle:
    return load_process_folder(FOLDER)


def billed_case(bundle: ProcessBundle, clock: VirtualClock) -> Case:
    case = Case(bundle, CaseServices(clock=clock, calendar=WorkingCalendar.default(), registry=build_registry()),
                "T-1")
    case.start({"case_number": "T-1", "application": {}})
    [bill] = case.ready_tasks()
    case.complete_task(bill.id, {}, "clerk.1")
    return case


def race_scenario(cases: int, payment_days: object) -> Scenario:
    """The payment race on four always-working clerks, one application an hour, paid after ``payment_days``."""
    return scenario_from_dict({
        "name": "race", "start": "2026-11-02", "cases": cases, "seed": 3, "process": ".", "samples": "samples",
        "arrival_calendar": ALL_DAY, "arrivals": {"one": {"interarrival_hours": 1}}, "calendars": {"always": ALWAYS},
        "pools": {"clerk": {"count": 4, "calendar": "always"}},
        "durations": {"send_bill": 0.1, "connect": 0.1, "chase": 0.1},
        "customer_delays": {"payment_confirmed": payment_days}}, base_dir=FOLDER)


def ready_elements(case: Case) -> list[str]:
    return [task.element_id for task in case.ready_tasks()]


def test_the_payment_before_the_deadline_takes_the_connect_path(race: ProcessBundle) -> None:
    clock = VirtualClock(MONDAY)
    case = billed_case(race, clock)
    assert case.waiting_messages() == ["payment_confirmed"]
    assert "payment_confirmed" in case.known_messages()
    [timer] = case.pending_timers()
    assert (timer.element_id, timer.name, timer.deadline) == ("two_days", "two days", MONDAY + timedelta(days=2))
    restored = Case(race, case.services, "T-1", state=case.save_state())  # as the durable runner reloads it
    assert restored.waiting_messages() == ["payment_confirmed"] and restored.pending_timers() == [timer]
    clock.advance(timedelta(days=1))
    restored.deliver_message("payment_confirmed", {"amount": 120})
    assert ready_elements(restored) == ["connect"]
    assert restored.pending_timers() == [] and restored.waiting_messages() == []
    clock.advance(timedelta(days=2))
    assert restored.fire_due_timers() == 0 and ready_elements(restored) == ["connect"]


def test_the_deadline_before_the_payment_takes_the_chase_path(race: ProcessBundle) -> None:
    clock = VirtualClock(MONDAY)
    case = billed_case(race, clock)
    clock.advance(timedelta(days=1))
    assert case.fire_due_timers() == 0 and ready_elements(case) == []
    clock.advance(timedelta(days=1, seconds=1))
    assert case.fire_due_timers() == 1
    assert ready_elements(case) == ["chase"] and case.waiting_messages() == []
    assert [event.element_id for event in case.history if event.lifecycle == "fired"] == ["wait_payment"]
    with pytest.raises(CaseError, match="not waiting for message 'payment_confirmed'"):
        case.deliver_message("payment_confirmed", {})


def test_a_payment_after_the_deadline_is_refused_even_before_the_timer_fired(race: ProcessBundle) -> None:
    """The worker had not fired the timer yet when the payment came, a day late: the deadline came first, so the
    case takes the chase path and the message is refused saying so (SpiffWorkflow took both paths)."""
    clock = VirtualClock(MONDAY)
    case = billed_case(race, clock)
    clock.advance(timedelta(days=3))
    with pytest.raises(CaseError, match="not waiting for message 'payment_confirmed' any more: two days came first"):
        case.deliver_message("payment_confirmed", {"amount": 120})
    assert ready_elements(case) == ["chase"] and case.pending_timers() == []


def test_the_simulator_races_the_payment_against_the_deadline() -> None:
    """Payment after an exponential delay of mean 1 day against the 2-day timer: paid first in 1 − e⁻² = 86.5 %."""
    log = simulate(race_scenario(600, {"distribution": "exponential", "mean": 1}))
    assert all(case.completed for case in log.cases)
    connected = sum("connect" in case.visited for case in log.cases)
    chased = sum("chase" in case.visited for case in log.cases)
    assert connected + chased == 600 and abs(connected / 600 - 0.865) < 0.045, connected
    waits = {a.case_id: a for a in log.activities if a.element_id == "paid"}
    assert all(a.end_time - a.enable_time < timedelta(days=2) for a in waits.values())
    assert len(waits) == connected


def gateway_problems(text: str, tmp_path: Path) -> list[str]:
    path = tmp_path / "payment_race.bpmn"
    path.write_text(text, encoding="utf-8")
    return [f"{p.line}: {p.element}: {p.message}" for p in event_gateway_targets(path, etree.parse(str(path)))]


def test_validate_names_an_event_based_gateway_leading_to_a_task_or_to_two_timers(tmp_path: Path) -> None:
    text = (FOLDER / "payment_race.bpmn").read_text(encoding="utf-8")
    assert gateway_problems(text, tmp_path) == []
    line = next(number for number, row in enumerate(text.splitlines(), 1)
                if '<bpmn:eventBasedGateway id="wait_payment"' in row)
    to_task = text.replace('<bpmn:sequenceFlow id="flow_to_paid" sourceRef="wait_payment" targetRef="paid" />',
                           '<bpmn:sequenceFlow id="flow_to_paid" sourceRef="wait_payment" targetRef="connect" />')
    assert gateway_problems(to_task, tmp_path) == [
        f"{line}: wait_payment: 「paid in time?」 leads to 「connect」 (connect), a user task: an event-based "
        "gateway's flows lead to intermediate catch events (a message, a timer …) or receive tasks, and the first to "
        "happen decides"]
    message = '<bpmn:messageEventDefinition id="paid_definition" messageRef="message_payment_confirmed" />'
    two_timers = text.replace(message, '<bpmn:timerEventDefinition id="t2"><bpmn:timeDate>now()</bpmn:timeDate>'
                                       '</bpmn:timerEventDefinition>')
    assert gateway_problems(two_timers, tmp_path) == [
        f"{line}: wait_payment: 「paid in time?」 waits for 2 timers (paid, two_days): keep one, the earliest deadline "
        "(the gateway keeps a single deadline)"]


def test_a_payment_at_the_very_moment_of_the_deadline_loses_to_it_in_the_simulator() -> None:
    """A fixed 2-day payment delay against the 2-day timer: both fall on one instant; the deadline comes first (the
    simulator stopped with "not waiting for message … any more": the message was handled before the timer)."""
    log = simulate(race_scenario(20, 2))
    assert all(case.completed and "chase" in case.visited and "connect" not in case.visited for case in log.cases)


def test_a_timer_that_cannot_fire_stops_the_simulation_with_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """A timer the case keeps waiting on after its deadline (a gateway's timer the engine did not recognise looped the
    simulator for ever at one instant): an error naming the case and the deadline."""
    monkeypatch.setattr(SimulatedCase, "fire_due_timers", lambda self: 0)
    with pytest.raises(SimulationError, match=r"case SIM-\d+ \(one\): a timer due at 2026-11-0\dT.* did not fire"):
        simulate(race_scenario(2, 5))
