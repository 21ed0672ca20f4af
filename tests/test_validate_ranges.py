"""`baozhuang validate` finds the numbers no rule of a single-hit decision table matches (runner/range_checks.py):
an error inside the values a case can bring, a warning beyond every number the table names; and hints the Python
spelling of a FEEL range."""

from __future__ import annotations

from pathlib import Path

from handlers import build_registry
from runner.validation import folder_report
from tests.conftest import PROCESSES
from tests.test_validate import cell_line, problem_lines, replace_in, run_validate

LV_CELL = '<inputEntry id="rule_2_input_1"><text>10 &lt;= ? &lt;= 160</text>'
HV_CELL = '<inputEntry id="rule_4_input_2"><text>8000 &lt; ? &lt;= 40000</text>'
FIRST_CELL = '<inputEntry id="rule_1_input_1"><text>&lt; 10</text>'
GAP_TAIL = ("a case with such a value would stop at the business rule task (no rule matches); add a rule for it or "
            "widen a neighbouring rule's range")


def test_the_shipped_tables_have_no_numeric_gap() -> None:
    report = folder_report(PROCESSES, build_registry())
    assert report.problems == []
    assert not [warning for warning in report.warnings if warning.file.endswith(".dmn")]


def test_a_range_narrowed_by_an_analyst_leaves_a_gap_that_is_an_error(process_copy: Path) -> None:
    """The trial: 13 <= ? <= 160 deployed, and a case at 12.5 kW failed at 确定供电电压."""
    dmn = process_copy / "supply_voltage.dmn"
    replace_in(dmn, LV_CELL, LV_CELL.replace("10 &lt;=", "13 &lt;="))
    code, output = run_validate(process_copy)
    assert code == 1
    assert problem_lines(output) == [
        f'{dmn}:{cell_line(dmn, "<decision ")}: supply_voltage: no rule matches capacity["installed_kw"] in [10, 13) '
        f"(e.g. 11): {GAP_TAIL}"]


def test_a_point_gap_of_a_second_column_names_the_other_column(process_copy: Path) -> None:
    dmn = process_copy / "supply_voltage.dmn"
    replace_in(dmn, HV_CELL, HV_CELL.replace("&lt;= 40000", "&lt; 40000"))
    code, output = run_validate(process_copy)
    assert code == 1
    assert problem_lines(output) == [
        f'{dmn}:{cell_line(dmn, "<decision ")}: supply_voltage: no rule matches capacity["installed_kw"] > 160 '
        f'(e.g. 161) and capacity["transformer_kva"] = 40000: {GAP_TAIL}']


def test_a_gap_is_named_with_the_string_values_it_is_for(process_copy: Path) -> None:
    """customer_category: a small/micro LV customer of exactly 160 kW would match no rule."""
    dmn = process_copy / "customer_category.dmn"
    cell = '<inputEntry id="rule_6_input_4"><text>&lt;= 160</text>'
    replace_in(dmn, cell, cell.replace("&lt;= 160", "&lt; 160"))
    code, output = run_validate(process_copy)
    assert code == 1
    assert problem_lines(output) == [
        f'{dmn}:{cell_line(dmn, "<decision ")}: customer_category: no rule matches supply_voltage_kv < 10 (e.g. 9) '
        'and capacity["installed_kw"] = 160 for application["customer_type"] = "non_residential", '
        'application["enterprise_size"] = "small_micro", application["important_customer"] = False, '
        f'application["special_load"] = False: {GAP_TAIL}']


def test_values_beyond_every_number_named_are_only_a_warning(process_copy: Path) -> None:
    """0 <= ? < 10 leaves the negative capacities: not a value a case brings, as far as validate can tell."""
    dmn = process_copy / "supply_voltage.dmn"
    replace_in(dmn, FIRST_CELL, FIRST_CELL.replace("&lt; 10", "0 &lt;= ? &lt; 10"))
    code, output = run_validate(process_copy)
    assert code == 0, output
    report = folder_report(process_copy, build_registry())
    assert [str(warning) for warning in report.warnings if warning.file.endswith(".dmn")] == [
        f'{dmn}:{cell_line(dmn, "<decision ")}: supply_voltage: no rule matches capacity["installed_kw"] < 0 '
        "(e.g. -1): beyond every number the column's rules name, and no form field bounds it; if such a value can "
        "occur, a case with it would stop at the business rule task"]


def test_a_form_field_bounds_the_values_judged(process_copy: Path) -> None:
    """Read from the start form's declared_capacity_kw (exclusiveMinimum 0): 0 < ? < 10 leaves nothing out, 1 <= ?
    < 10 leaves (0, 1), which the form allows: an error although beyond every number the rules name."""
    dmn = process_copy / "supply_voltage.dmn"
    replace_in(dmn, '<text>capacity["installed_kw"]</text>', '<text>application["declared_capacity_kw"]</text>')
    replace_in(dmn, FIRST_CELL, FIRST_CELL.replace("&lt; 10", "0 &lt; ? &lt; 10"))
    report = folder_report(process_copy, build_registry())
    assert not [problem for problem in [*report.problems, *report.warnings] if problem.file.endswith(".dmn")]
    replace_in(dmn, "0 &lt; ? &lt; 10", "1 &lt;= ? &lt; 10")
    code, output = run_validate(process_copy)
    assert code == 1
    assert problem_lines(output) == [
        f'{dmn}:{cell_line(dmn, "<decision ")}: supply_voltage: no rule matches application["declared_capacity_kw"] '
        f"in (0, 1) (e.g. 0.5): {GAP_TAIL}"]


def test_a_first_table_with_a_catch_all_rule_has_no_gap(process_copy: Path) -> None:
    dmn = process_copy / "supply_voltage.dmn"
    replace_in(dmn, 'hitPolicy="UNIQUE"', 'hitPolicy="FIRST"')
    replace_in(dmn, LV_CELL, LV_CELL.replace("10 &lt;=", "13 &lt;="))
    replace_in(dmn, "    </decisionTable>",
               '      <rule id="rule_6">\n'
               '        <inputEntry id="rule_6_input_1"><text>-</text></inputEntry>\n'
               '        <inputEntry id="rule_6_input_2"><text>-</text></inputEntry>\n'
               '        <outputEntry id="rule_6_output_1"><text>0.38</text></outputEntry>\n'
               "      </rule>\n    </decisionTable>")
    code, output = run_validate(process_copy)
    assert code == 0, output


def test_a_feel_range_is_refused_with_the_python_spelling(process_copy: Path) -> None:
    dmn = process_copy / "supply_voltage.dmn"
    line = cell_line(dmn, LV_CELL)
    replace_in(dmn, LV_CELL, LV_CELL.replace("10 &lt;= ? &lt;= 160", "[10..160]"))
    code, output = run_validate(process_copy)
    assert code == 1
    assert problem_lines(output) == [
        f"{dmn}:{line}: rule_2: input entry does not compile: '[10..160]'; FEEL ranges are not read here (cells are "
        "Python): write 10 <= ? <= 160"]
