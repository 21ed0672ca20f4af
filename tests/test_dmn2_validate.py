"""What ``baozhuang validate`` (and so ``deploy``) says of the hit policies now that the engine runs them all:
only what it cannot run as DMN 1.3 defines it is refused, at the table; an ANY table's disagreeing rules are found
statically when their input entries are the same, else by the samples (the case the sample is fails there)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.test_dmn2_hit_policies import priority_category_folder
from tests.test_validate import cell_line, problem_lines, replace_in, run_validate

RULE_3_DUAL = '<inputEntry id="rule_3_input_3"><text>False</text>'
UNRUNNABLE = "the engine cannot run this table as DMN 1.3 defines it"


@pytest.mark.parametrize("policy", ["PRIORITY", "OUTPUT ORDER"])
def test_a_ranked_policy_without_listed_values_is_refused_at_the_table(process_copy: Path, policy: str) -> None:
    dmn = process_copy / "time_limits.dmn"
    replace_in(dmn, 'hitPolicy="UNIQUE"', f'hitPolicy="{policy}"')
    code, output = run_validate(process_copy)
    assert code == 1
    [problem] = problem_lines(output)
    assert problem == (
        f"{dmn}:{cell_line(dmn, '<decisionTable')}: time_limits: hit policy {policy} ranks the rules by their outputs' "
        "listed allowed values, but no output of this table lists its values (outputValues, highest priority first, "
        f'e.g. "high","medium","low"): {UNRUNNABLE}')


def test_a_priority_table_with_listed_values_is_valid(tmp_path: Path) -> None:
    code, output = run_validate(priority_category_folder(tmp_path))
    assert code == 0, output


def test_an_aggregation_of_two_outputs_is_refused(process_copy: Path) -> None:
    dmn = process_copy / "risk_rules.dmn"
    replace_in(dmn, 'hitPolicy="COLLECT"', 'hitPolicy="COLLECT" aggregation="COUNT"')
    code, output = run_validate(process_copy)
    assert code == 1
    [problem] = problem_lines(output)
    assert problem == (f"{dmn}:{cell_line(dmn, '<decisionTable')}: risk_rules: hit policy COLLECT with aggregation "
                       "COUNT needs a table of one output (DMN 1.3 aggregates no compound outputs); this table has 2: "
                       f"{UNRUNNABLE}")


def test_a_count_of_one_output_is_valid(process_copy: Path) -> None:
    """required_materials (one output, the list of materials) counted instead of listed: the engine runs it; the
    model then fails where it reads the list, which the samples report — not the hit policy."""
    dmn = process_copy / "required_materials.dmn"
    replace_in(dmn, 'hitPolicy="COLLECT"', 'hitPolicy="COLLECT" aggregation="COUNT"')
    code, output = run_validate(process_copy)
    assert UNRUNNABLE not in output
    assert "aggregation" not in output


def test_a_sum_of_a_text_is_refused_at_the_rule(process_copy: Path) -> None:
    dmn = process_copy / "required_materials.dmn"
    replace_in(dmn, 'hitPolicy="COLLECT"', 'hitPolicy="COLLECT" aggregation="SUM"')
    code, output = run_validate(process_copy)
    assert code == 1
    sums = [line for line in problem_lines(output) if "COLLECT SUM" in line]
    assert sums, output
    assert all(": COLLECT SUM adds the matching rules' outputs, but this rule gives " in line
               and line.endswith(", which is no number") for line in sums)


def test_any_rules_alike_but_disagreeing_are_refused_at_the_second(process_copy: Path) -> None:
    dmn = process_copy / "time_limits.dmn"
    replace_in(dmn, 'hitPolicy="UNIQUE"', 'hitPolicy="ANY"')
    text = dmn.read_text(encoding="utf-8")
    rule_2 = text[text.index('<rule id="rule_2">'):text.index("</rule>", text.index('<rule id="rule_2">')) + 7]
    copied = rule_2.replace("rule_2", "rule_copy")
    changed = re.sub(r'(<outputEntry id="rule_copy_output_1"><text>)[^<]*', r"\g<1>99", copied)
    assert changed != copied  # another first output
    dmn.write_text(text.replace("</decisionTable>", changed + "\n    </decisionTable>"), encoding="utf-8")
    code, output = run_validate(process_copy)
    assert code == 1
    [problem] = problem_lines(output)
    added, first = cell_line(dmn, '<rule id="rule_copy">'), cell_line(dmn, '<rule id="rule_2">')
    assert problem == (f"{dmn}:{added}: rule_copy: same input entries as rule_2 (line {first}) but other outputs: the "
                       "ANY table requires matching "
                       "rules to give the same outputs; a case meeting them would stop at its business rule task")


def test_any_rules_alike_and_agreeing_are_valid(process_copy: Path) -> None:
    dmn = process_copy / "time_limits.dmn"
    replace_in(dmn, 'hitPolicy="UNIQUE"', 'hitPolicy="ANY"')
    text = dmn.read_text(encoding="utf-8")
    rule_2 = text[text.index('<rule id="rule_2">'):text.index("</rule>", text.index('<rule id="rule_2">')) + 7]
    dmn.write_text(text.replace("</decisionTable>", rule_2.replace("rule_2", "rule_copy") + "\n    </decisionTable>"),
                   encoding="utf-8")
    code, output = run_validate(process_copy)
    assert code == 0, output


def test_any_rules_overlapping_and_disagreeing_fail_the_samples_at_the_rule(process_copy: Path) -> None:
    """With ANY and the statute's single-supply HV row widened to dual supply, the first match gave a dual-supply HV
    case 20 days to answer the plan instead of 45; now the samples meeting both rows fail at the first of them."""
    dmn = process_copy / "time_limits.dmn"
    replace_in(dmn, 'hitPolicy="UNIQUE"', 'hitPolicy="ANY"')
    replace_in(dmn, RULE_3_DUAL, '<inputEntry id="rule_3_input_3"><text>-</text>')
    code, output = run_validate(process_copy)
    assert code == 1
    problems = problem_lines(output)
    assert problems, output
    line = cell_line(dmn, '<rule id="rule_3">')
    for problem in problems:
        assert problem.startswith(f"{dmn}:{line}: decide_time_limits: sample hv_"), problem
        assert ('decision "time_limits" (确定办理时限): hit policy ANY, but the matching rules give different outputs '
                "(rule_3 gives limits.acceptance = 1, limits.plan_reply = 20,") in problem
    assert any("sample hv_ordinary_dual:" in problem for problem in problems)
