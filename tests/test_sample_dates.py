"""Sample answers date their records on the day the step is answered on the case's clock (``runner.sample_answers``):
the demo (``make run``), ``baozhuang try`` and the simulator no longer write a survey or an installation dated in
2019, the year of the forms' ``examples``, on a case applied years later. Only record dates (``"x-sample-date":
"today"`` in the form) are dated so: a rectification deadline or the day a customer asked for an extension keep their
example; what an answer gives itself is never changed."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest

from runner import autopilot
from runner.process_folder import load_process_folder
from runner.sample_answers import answer_over_sample, date_paths, on_day
from runner.simulation.engine import SimulationEngine, simulate
from runner.simulation.scenario import load_scenario
from runner.trial import TrialDriver, TrialOptions
from tests.db import PROCESSES, Db, events, start

TODAY = date(2026, 11, 28)


def test_record_dates_take_the_day_and_the_rest_stays() -> None:
    bundle = load_process_folder(PROCESSES)
    survey = bundle.form("site_survey.schema.json")
    assert answer_over_sample(survey, {})["survey_date"] == "2019-12-01"  # no day given: the examples, as before
    answered = answer_over_sample(survey, {}, TODAY)
    assert answered["survey_date"] == "2026-11-28"
    assert answer_over_sample(survey, {"survey_date": "2026-11-20"}, TODAY)["survey_date"] == "2026-11-20"
    deadline = answer_over_sample(bundle.form("assign_rectification.schema.json"), {}, TODAY)["deadline"]
    assert deadline == "2030-12-31"  # a deadline is no record of the day
    expiry = answer_over_sample(bundle.form("handle_plan_expiry.schema.json"), {}, TODAY)
    assert expiry["extension_requested_on"] == "2019-12-31"  # asked for before the plan lapsed: the model checks it
    assert {key: value for key, value in answered.items() if key != "survey_date"} == {
        key: value for key, value in answer_over_sample(survey, {}).items() if key != "survey_date"}


def test_every_record_date_of_the_model_is_marked() -> None:
    """The steps that record when their own work was done (each refuses a date after today) are the marked ones."""
    bundle = load_process_folder(PROCESSES)
    marked = {(form, path) for form in bundle.forms for path in date_paths(bundle.form(form))}
    assert marked == {
        ("site_survey.schema.json", ("survey_date",)), ("interim_check.schema.json", ("check_date",)),
        ("completion_check.schema.json", ("check_date",)), ("grid_works.schema.json", ("completed_date",)),
        ("install_meter.schema.json", ("install_date",)), ("perform_rectification.schema.json", ("completed_date",)),
        ("rectify_interim_defects.schema.json", ("completed_date",)),
        ("rectify_defects.schema.json", ("completed_date",)), ("report_completion.schema.json", ("completion_date",)),
        ("archive_documents.schema.json", ("archive_date",))}


def test_date_fields_inside_lists_are_found_and_dated() -> None:
    schema = {"type": "object", "properties": {
        "visits": {"type": "array", "items": {"type": "object", "properties": {
            "on": {"type": "string", "format": "date", "x-sample-date": "today"}, "note": {"type": "string"}}}},
        "signed": {"type": "string", "format": "date", "x-sample-date": "today"},
        "due": {"type": "string", "format": "date"}}}
    assert date_paths(schema) == [("visits", "[]", "on"), ("signed",)]
    value = {"visits": [{"on": "2019-12-01", "note": "a"}, {"on": "2031-01-01", "note": "b"}], "signed": 7,
             "due": "2019-01-01"}
    dated = on_day(value, "2026-11-28", date_paths(schema))
    assert dated == {"visits": [{"on": "2026-11-28", "note": "a"}, {"on": "2026-11-28", "note": "b"}], "signed": 7,
                     "due": "2019-01-01"}
    assert value["visits"][0]["on"] == "2019-12-01"  # the sample itself (shared by every case) is not changed


def test_a_trial_dates_the_survey_on_its_own_clock() -> None:
    bundle = load_process_folder(PROCESSES)
    driver = TrialDriver(bundle, TrialOptions(category="hv_ordinary"))
    applied = driver.clock.now().date()
    result = driver.run()
    assert result.completed
    data = driver.case.data
    surveyed = date.fromisoformat(data["site_survey"]["survey_date"])
    installed = date.fromisoformat(data["install_meter"]["install_date"])
    assert applied <= surveyed <= installed <= driver.clock.now().date()
    assert surveyed < installed  # each record has the day of its own step


def test_the_demo_autopilot_dates_records_on_the_runtime_clock(db: Db) -> None:
    number = start(db, "hv_ordinary")
    db.clock.advance(timedelta(days=3))
    done = autopilot.advance(db.sessions, db.runtime, number, until="answer_supply_plan")
    assert "site_survey" in done
    [surveyed] = [event for event in events(db, number)
                  if event.element_id == "site_survey" and event.lifecycle == "completed"]
    assert surveyed.data is not None
    assert surveyed.data["survey_date"] == db.clock.now().date().isoformat()


def test_the_simulator_dates_answers_on_the_virtual_day(monkeypatch: pytest.MonkeyPatch) -> None:
    scenario = load_scenario(PROCESSES / "scenarios" / "today.yaml")
    bundle = load_process_folder(scenario.process_dir)
    seen: list[tuple[str, str]] = []
    original = SimulationEngine.answer

    def recording(self: SimulationEngine, work: Any, now: datetime) -> dict[str, Any]:
        answer = original(self, work, now)
        if "survey_date" in answer:
            seen.append((answer["survey_date"], now.date().isoformat()))
        return answer

    monkeypatch.setattr(SimulationEngine, "answer", recording)
    simulate(scenario, bundle, cases=8, seed=5)
    assert seen and all(answered == day for answered, day in seen)
    assert len({day for _answered, day in seen}) > 1  # surveys on several days, each dated on its own
