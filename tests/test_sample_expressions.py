"""Sample answers that take a value from the case (``"x-sample": "<expression>"`` in a form,
``runner.sample_answers``): the sample plan grants the supply the case asked for and was decided — two sources for a
dual-supply application, the voltage decided at acceptance, no transformer for a low-voltage connection — so that
``baozhuang try``, the demo and the simulator bill 高可靠性供电费 to dual-supply cases and keep a low-voltage case at
its voltage (decisions 103-105)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from handlers import build_registry
from runner.autopilot import advance
from runner.process_folder import ProcessBundle, load_process_folder
from runner.sample_answers import answer_over_sample, sample_expression_problems, sample_expressions
from runner.simulation.engine import simulate
from runner.simulation.scenario import load_scenario
from runner.validation import validate_folder
from tests.db import PROCESSES, Db, events, start
from tests.trials import trial


def test_the_sample_plan_follows_the_case_and_a_plain_sample_keeps_its_examples(bundle: ProcessBundle) -> None:
    schema = bundle.form("draft_plan.schema.json")
    assert set(sample_expressions(schema)) == {"supply_voltage_kv", "supply_points", "transformer_kva",
                                               "metering_scheme", "property_boundary", "plan_text"}
    case = {"supply_voltage_kv": 35, "application": {"dual_supply": True}}
    answer = answer_over_sample(schema, {}, evaluate=lambda text: eval(text, {}, dict(case)))  # noqa: S307
    assert (answer["supply_voltage_kv"], answer["supply_points"], answer["transformer_kva"]) == (35, 2, 630)
    low = {"supply_voltage_kv": 0.38, "application": {"dual_supply": False}}
    answer = answer_over_sample(schema, {}, evaluate=lambda text: eval(text, {}, dict(low)))  # noqa: S307
    assert (answer["supply_voltage_kv"], answer["supply_points"], answer["transformer_kva"]) == (0.38, 1, 0)
    assert answer_over_sample(schema, {"supply_points": 1}, evaluate=lambda text: eval(  # noqa: S307
        text, {}, dict(case)))["supply_points"] == 1  # what the answer gives wins
    examples = answer_over_sample(schema, {})
    assert (examples["supply_voltage_kv"], examples["supply_points"], examples["transformer_kva"]) == (10, 1, 630)
    assert answer_over_sample(schema, {}, evaluate=lambda text: None)["supply_points"] == 1  # None: the example


@pytest.mark.parametrize(("category", "dual", "voltage", "billed"), [
    ("hv_ordinary", True, 10, 126000.0), ("hv_ordinary", False, 10, 0), ("lv_other", False, 0.38, 0)])
def test_a_trial_answers_the_plan_as_the_case_asked_and_was_decided(bundle: ProcessBundle, category: str,
                                                                   dual: bool, voltage: float,
                                                                   billed: float) -> None:
    driver, result = trial(bundle, category, dual_supply=dual)
    plan = driver.case.data["draft_plan"]
    assert plan["supply_points"] == (2 if dual else 1) and plan["supply_voltage_kv"] == voltage
    assert plan["transformer_kva"] == (630 if voltage >= 10 else 0)
    assert plan["metering_scheme"] == ("high_supply_low_metering" if voltage >= 10 else "low_supply_low_metering")
    said = "低压供电" if voltage < 10 else "双电源供电" if dual else "单电源供电"
    assert plan["plan_text"].startswith(f"采用 {voltage:g}kV {said}"), plan["plan_text"]
    assert result.summary["supply_voltage_kv"] == voltage  # a low-voltage case stays low voltage after the plan
    assert result.summary["fees"]["total"] == billed
    assert ("open_payment" in result.visited) is bool(billed)


def test_the_demo_autopilot_bills_a_dual_supply_case(db: Db) -> None:
    number = start(db, "hv_ordinary", dual_supply=True)
    done = advance(db.sessions, db.runtime, number, until="confirm_payment")
    assert "draft_plan" in done
    [drafted] = [e for e in events(db, number) if e.element_id == "draft_plan" and e.lifecycle == "completed"]
    assert drafted.data is not None and drafted.data["supply_points"] == 2


def test_simulated_dual_supply_cases_wait_for_their_payment() -> None:
    scenario = load_scenario(PROCESSES / "scenarios" / "today.yaml")
    log = simulate(scenario, load_process_folder(scenario.process_dir), cases=40, seed=11)
    paid = {activity.case_id for activity in log.activities if activity.element_id == "wait_payment"}
    assert paid  # dual-supply HV cases are billed and open a payment ledger, as before the plan decided it


def test_validate_names_a_broken_sample_expression_at_its_form_file(tmp_path: Path) -> None:
    folder = tmp_path / "processes"
    shutil.copytree(PROCESSES, folder)
    form = folder / "forms" / "draft_plan.schema.json"
    schema = json.loads(form.read_text(encoding="utf-8"))
    schema["properties"]["supply_points"]["x-sample"] = "2 if application.get('dual_supply') else"
    form.write_text(json.dumps(schema, ensure_ascii=False, indent=2), encoding="utf-8")
    line = next(number for number, text in enumerate(form.read_text(encoding="utf-8").splitlines(), start=1)
                if "x-sample" in text)
    problems = [(p.line, p.message) for p in validate_folder(folder, build_registry()) if p.file == str(form)]
    assert any(found == line and "supply_points.x-sample does not compile" in message
               for found, message in problems), problems
    assert sample_expression_problems({"properties": {"a": {"x-sample": 3}}}) == [
        "a.x-sample must be an expression"]
