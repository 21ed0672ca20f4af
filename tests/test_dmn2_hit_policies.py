"""Every DMN 1.3 hit policy run as the standard defines it (``runner.hit_policies``, ``runner.decision_engine``).

The tables of tests/data/dmn2 overlap on purpose: under first match (what SpiffWorkflow 3.2 does for every
policy but COLLECT, and what our engine did before) each gives another answer, which every case here checks too.
``baozhuang decide`` and the simulator's parser (``runner.simulation.branching.load_with_overrides``) run the same
engine, and a business rule task keeps the table's aggregation and listed values through a serializer round trip.
"""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from SpiffWorkflow.dmn.engine.DMNEngine import DMNEngine

from runner.cli import main
from runner.decision_engine import CaseDecisionEngine
from runner.decisions import DecisionError, evaluate, load_decisions
from runner.dialect import serializer_registry
from runner.hit_policies import TableSemantics, UnlistedValue, listed_values, rank, unrunnable
from runner.process_folder import load_process_folder
from runner.simulation.branching import load_with_overrides
from tests.conftest import PROCESSES, ROOT

TABLES = ROOT / "tests" / "data" / "dmn2"

# decision, amount, expected outputs, expected rules (in the policy's order)
CASES = [
    ("any_agree", 5000, {"route": "review"}, ["rule_1", "rule_2"]),
    ("priority", 5000, {"level": "high"}, ["rule_3", "rule_2", "rule_1"]),
    ("priority", 500, {"level": "medium"}, ["rule_2", "rule_1"]),
    ("priority_compound", 500, {"decision": "accept", "offer": "basic"}, ["rule_2", "rule_1"]),
    ("priority_compound", 5000, {"decision": "reject", "offer": "basic"}, ["rule_3", "rule_2", "rule_1"]),
    ("rule_order", 5000, {"level": ["low", "medium", "high"]}, ["rule_1", "rule_2", "rule_3"]),
    ("output_order", 5000, {"level": ["high", "medium", "low"]}, ["rule_3", "rule_2", "rule_1"]),
    ("collect_sum", 5000, {"fee": 60}, ["rule_1", "rule_2", "rule_3"]),
    ("collect_count", 5000, {"fee": 3}, ["rule_1", "rule_2", "rule_3"]),
    ("collect_min", 5000, {"fee": 10}, ["rule_1", "rule_2", "rule_3"]),
    ("collect_max", 5000, {"fee": 30}, ["rule_1", "rule_2", "rule_3"]),
]
IDS = [f"{decision}-{amount}" for decision, amount, _, _ in CASES]


@pytest.fixture(scope="module")
def engines() -> dict[str, Any]:
    return load_decisions(TABLES)


def first_match(engine: CaseDecisionEngine, data: dict[str, Any]) -> dict[str, Any]:
    """What SpiffWorkflow's own engine gives for the table: the first matching rule (or, under the multiple-hit
    policies it does not know, that rule alone)."""
    return evaluate(DMNEngine(engine.decision_table), data).outputs


@pytest.mark.parametrize(("decision", "amount", "outputs", "rules"), CASES, ids=IDS)
def test_each_hit_policy_gives_what_dmn_defines(engines: dict[str, Any], decision: str, amount: int,
                                                outputs: dict[str, Any], rules: list[str]) -> None:
    result = evaluate(engines[decision], {"amount": amount})
    assert result.outputs == outputs
    assert result.matched_rules == rules
    if decision != "any_agree":  # ANY agreeing rules give the first one's outputs, by definition
        assert first_match(engines[decision], {"amount": amount}) != outputs


@pytest.mark.parametrize(("decision", "amount", "outputs", "rules"), CASES, ids=IDS)
def test_decide_prints_the_same(decision: str, amount: int, outputs: dict[str, Any], rules: list[str]) -> None:
    result = CliRunner().invoke(main, ["decide", decision, "--data", json.dumps({"amount": amount}),
                                       "--processes", str(TABLES)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"outputs": outputs, "matched_rules": rules}


def test_an_any_table_whose_matching_rules_disagree_is_an_error_naming_them(engines: dict[str, Any]) -> None:
    with pytest.raises(DecisionError) as caught:
        evaluate(engines["any_conflict"], {"amount": 5000})
    assert str(caught.value) == (
        'any_conflict.dmn: decision "any_conflict" (任一（冲突）): hit policy ANY, but the matching rules give '
        "different outputs (rule_1 gives route = 'review'; rule_2 gives route = 'reject') for amount = 5000")
    assert evaluate(engines["any_conflict"], {"amount": 50}).outputs == {"route": "review"}  # one match: fine


def test_no_match(engines: dict[str, Any]) -> None:
    """A single-hit table matching nothing is an error; a multiple-hit one collects nothing; COUNT of nothing is 0,
    SUM, MIN and MAX of nothing FEEL's null."""
    for policy in ("any_agree", "priority", "rule_order", "output_order"):
        engine = engines[policy]
        table = copy.copy(engine.decision_table)
        table.rules = []  # nothing can match
        empty = CaseDecisionEngine(table, policy, None, f"{policy}.dmn", engine.semantics)
        if policy in ("any_agree", "priority"):
            with pytest.raises(DecisionError, match=rf"{policy}.dmn: .*no rule matches amount = 5"):
                evaluate(empty, {"amount": 5})
        else:
            assert evaluate(empty, {"amount": 5}).outputs == {}
    assert evaluate(engines["collect_count"], {"amount": -5}).outputs == {"fee": 0}
    for aggregation in ("sum", "min", "max"):
        assert evaluate(engines[f"collect_{aggregation}"], {"amount": -5}).outputs == {"fee": None}


def test_a_priority_output_outside_its_listed_values_is_an_error(engines: dict[str, Any]) -> None:
    engine = engines["priority"]
    table = copy.deepcopy(engine.decision_table)
    table.rules[2].outputEntries[0].text = '"urgent"'
    changed = CaseDecisionEngine(table, "priority", "优先级", "priority.dmn", engine.semantics)
    with pytest.raises(DecisionError) as caught:
        evaluate(changed, {"amount": 5000})
    assert str(caught.value) == ('priority.dmn: decision "priority" (优先级): hit policy PRIORITY: rule rule_3: '
                                 "level = 'urgent', which is not among its listed values ['high', 'medium', 'low']")


def test_a_sum_of_no_number_is_an_error(engines: dict[str, Any]) -> None:
    engine = engines["collect_sum"]
    table = copy.deepcopy(engine.decision_table)
    table.rules[1].outputEntries[0].text = '"10"'
    changed = CaseDecisionEngine(table, "collect_sum", None, "collect_sum.dmn", engine.semantics)
    with pytest.raises(DecisionError, match=r"COLLECT SUM of rules rule_1, rule_2, rule_3: SUM needs numbers, but "
                                            r"the rules give '10'"):
        evaluate(changed, {"amount": 5000})


@pytest.mark.parametrize(("decision", "reason"), [
    ("priority_unlisted", "hit policy PRIORITY ranks the rules by their outputs' listed allowed values, but no output "
                          "of this table lists its values"),
    ("sum_two_outputs", "hit policy COLLECT with aggregation SUM needs a table of one output (DMN 1.3 aggregates no "
                        "compound outputs); this table has 2"),
])
def test_what_cannot_be_run_as_dmn_defines_is_an_error_not_a_first_match(decision: str, reason: str) -> None:
    result = CliRunner().invoke(main, ["decide", decision, "--data", '{"amount": 5000}',
                                       "--processes", str(TABLES / "unrunnable")])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith(f"error: {decision}: {decision}.dmn: decision \"{decision}\"")
    assert reason in result.stderr


def test_the_engine_keeps_its_semantics_through_the_serializer(tmp_path: Path) -> None:
    """A business rule task restored from its dict (a stored spec) still ranks by the listed values."""
    bundle = load_process_folder(priority_category_folder(tmp_path))
    spec = bundle.spec.task_specs["decide_category"]
    registry = serializer_registry()
    restored_process = registry.restore(json.loads(json.dumps(registry.convert(bundle.spec))))
    restored = restored_process.task_specs["decide_category"]
    assert isinstance(restored.dmnEngine, CaseDecisionEngine)
    assert restored.dmnEngine.semantics == spec.dmnEngine.semantics
    assert restored.dmnEngine.describe() == 'customer_category.dmn: decision "customer_category" (确定客户类别)'
    assert evaluate(restored.dmnEngine, category_data()).outputs == {"category": "hv_ordinary"}


CATEGORIES_LISTED = '"hv_important","hv_ordinary","lv_other","lv_smallmicro","lv_residential"'
CATCH_ALL = """      <rule id="rule_0">
        <description>兜底：居民（最低优先级）</description>
        <inputEntry id="rule_0_input_1"><text>-</text></inputEntry>
        <inputEntry id="rule_0_input_2"><text>-</text></inputEntry>
        <inputEntry id="rule_0_input_3"><text>-</text></inputEntry>
        <inputEntry id="rule_0_input_4"><text>-</text></inputEntry>
        <inputEntry id="rule_0_input_5"><text>-</text></inputEntry>
        <inputEntry id="rule_0_input_6"><text>-</text></inputEntry>
        <outputEntry id="rule_0_output_1"><text>"lv_residential"</text></outputEntry>
      </rule>
"""


def priority_category_folder(target: Path) -> Path:
    """processes/ with customer_category.dmn under PRIORITY, its categories listed (important first), and a
    catch-all rule of the lowest category put first: under first match every case would be residential."""
    folder = target / "processes"
    shutil.copytree(PROCESSES, folder)
    dmn = folder / "customer_category.dmn"
    text = dmn.read_text(encoding="utf-8")
    output = '<output id="output_1" label="客户类别" name="category" typeRef="string" />'
    assert output in text and 'hitPolicy="UNIQUE"' in text
    text = text.replace('hitPolicy="UNIQUE"', 'hitPolicy="PRIORITY"').replace(
        output, output.replace(" />", ">") + f'\n        <outputValues id="output_1_values"><text>{CATEGORIES_LISTED}'
                                              "</text></outputValues>\n      </output>")
    text = text.replace('      <rule id="rule_1">', CATCH_ALL + '      <rule id="rule_1">', 1)
    dmn.write_text(text, encoding="utf-8")
    return folder


def category_data() -> dict[str, Any]:
    """An HV ordinary customer (10 kV, 800 kW, neither important nor a special load)."""
    sample = json.loads((PROCESSES / "samples" / "hv_ordinary.json").read_text(encoding="utf-8"))
    application = {**sample["application"], "important_customer": False, "special_load": False}
    return {"application": application, "supply_voltage_kv": 10, "capacity": {"installed_kw": 800}}


def test_the_simulator_and_decide_run_the_same_semantics(tmp_path: Path) -> None:
    """The simulator parses with its own parser (probability-decided gateways); its business rule task decides as
    ``baozhuang decide`` does on the same folder, and not as first match would."""
    folder = priority_category_folder(tmp_path)
    bundle, _ = load_with_overrides(folder, {})
    engine = bundle.spec.task_specs["decide_category"].dmnEngine
    data = category_data()
    simulated = evaluate(engine, data)
    printed = CliRunner().invoke(main, ["decide", "customer_category", "--data", json.dumps(data, ensure_ascii=False),
                                        "--processes", str(folder)])
    assert printed.exit_code == 0, printed.output
    assert json.loads(printed.stdout) == {"outputs": simulated.outputs, "matched_rules": simulated.matched_rules}
    assert simulated.outputs == {"category": "hv_ordinary"}
    assert simulated.matched_rules[-1] == "rule_0"  # the catch-all matched too, ranked last
    assert first_match(engine, data) == {"category": "lv_residential"}


@pytest.mark.parametrize(("text", "values"), [
    ('"high","medium","low"', ("high", "medium", "low")),
    ('"high", "low"', ("high", "low")),
    ("1, 2, 3", (1, 2, 3)),
    ('"only"', ("only",)),
    (">= 1", None),  # a test, not a list of values
    ('in ["a", "b"]', None),
    ("", None),
])
def test_listed_values_are_a_list_of_literals(text: str, values: tuple[Any, ...] | None) -> None:
    assert listed_values(text) == values


def test_a_listed_true_is_not_a_listed_one() -> None:
    semantics = TableSemantics(None, ((1, 0),))
    assert rank([0], semantics) == (1,)
    with pytest.raises(UnlistedValue):
        rank([True], semantics)


def test_what_stays_unrunnable() -> None:
    listed = TableSemantics(None, (("a", "b"),))
    assert unrunnable("PRIORITY", listed, 1) is None
    assert unrunnable("OUTPUT ORDER", TableSemantics(None, (None,)), 1) is not None
    assert unrunnable("FIRST", TableSemantics("SUM", ()), 1) == "aggregation SUM applies to hit policy COLLECT only, " \
                                                                 "not to FIRST"
    assert unrunnable("COLLECT", TableSemantics("COUNT", ()), 1) is None
    assert unrunnable("COLLECT", TableSemantics("COUNT", ()), 2) is not None
    for policy in ("UNIQUE", "ANY", "FIRST", "RULE ORDER", "COLLECT"):
        assert unrunnable(policy, TableSemantics(), 3) is None
