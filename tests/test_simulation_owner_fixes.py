"""A process owner's simulation findings, fixed: a misspelt arrival category refused when the scenario is read (web
form and CLI, at its own key), a distribution that changes kind in an ``extends`` file replacing the inherited one,
every form problem at once, one merged range of estimated days in both reports, one Chinese message per problem of
the advanced editor, one pair of side names and even histogram bins. Real engine, real files, the page through
real HTTP (Flask test client, CSRF on) on SQLite and PostgreSQL."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from runner.cli import main
from runner.simulation.batch import run_batch
from runner.simulation.report import estimated_days, estimated_note, merged_spans, render_html
from runner.simulation.run_execute import histogram, summarise
from runner.simulation.run_request import scenario_templates
from runner.simulation.scenario import ScenarioError, load_scenario, scenario_from_dict
from runner.workdays import WorkingCalendar
from tests.test_webui_simulation import form_for, queue_run, stored
from tests.webui_helpers import (
    Web,
    text_of,
    web_fixture,  # noqa: F401  (the web fixture)
)

ROOT = Path(__file__).resolve().parent.parent
TODAY = ROOT / "processes" / "scenarios" / "today.yaml"
ONE_STEP = ROOT / "tests" / "data" / "simulation" / "one_step"
KNOWN = "hv_important（高压重要）、hv_ordinary（高压普通）、lv_other（低压其他）、lv_residential（低压居民）、" \
        "lv_smallmicro（低压小微企业）"


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["simulate", *args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def extending_today(tmp_path: Path, text: str, name: str = "bad8.yaml") -> Path:
    path = tmp_path / name
    path.write_text(f"extends: {TODAY}\n{text}", encoding="utf-8")
    return path


def today(**changes: Any) -> dict[str, Any]:
    return {**scenario_templates()["today"], **changes}


def raw_form(scenario: dict[str, Any] | str, **changes: str) -> dict[str, str]:
    text = scenario if isinstance(scenario, str) else json.dumps(scenario, ensure_ascii=False)
    return {**form_for(), "mode": "raw", "scenario_raw": text, **changes}


def problems_of(page: str) -> list[str]:
    """The summary's lines on top of the form (label ：message)."""
    summary = page.split("请修正以下问题后再提交。", 1)[1].split("从场景模板开始", 1)[0]
    return [line.strip() for line in re.split(r"(?=基准场景（高级编辑器） · |对比场景（高级编辑器） · )", summary)
            if line.strip()]


# -- 1 and 2. a misspelt arrival category -----------------------------------------------------------------------------

def test_the_editor_refuses_a_misspelt_category_before_queueing(web: Web) -> None:
    scenario = today(cases=5)
    scenario["arrivals"] = {**scenario["arrivals"], "lv_residental": {"per_working_day": 3}}
    response = web.client("process_owner").post("/simulation/new", raw_form(scenario))
    assert response.status_code == 400
    page = html.unescape(text_of(response))
    assert (f"arrivals.lv_residental ：未知的申请类别 lv_residental：已知的类别为 {KNOWN}（每个类别须有一份样例申请）。"
            in page)
    assert stored(web) == []


def test_the_cli_names_a_misspelt_category_at_its_own_line_with_the_files_other_problems(tmp_path: Path) -> None:
    path = extending_today(tmp_path, "name: bad8\nregime: statue\narrivals: {lv_residental: {per_working_day: 3}}\n"
                                     "cases: 0\ndurations:\n"
                                     "  site_survey: {distribution: lognormal, mean: -4, sd: 1}\n")
    code, _out, err = invoke(str(path))
    assert code == 1
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert lines == [
        f"error: {path}:3: regime: 'statue' is not one of ['statute', 'sgcc_commitment', 'sgcc_internal', 'csg']",
        f"error: {path}:4: arrivals.lv_residental: unknown category 'lv_residental'; known: hv_important, "
        "hv_ordinary, lv_other, lv_residential, lv_smallmicro (the sample applications in processes/samples)",
        f"error: {path}:5: cases: 0 is less than the minimum of 1",
        f"error: {path}:7: durations.site_survey.mean: mean must be > 0, got -4.0"]
    assert "today.yaml" not in err and "simulating" not in err  # refused before any case runs


def test_a_sample_named_in_case_data_must_exist(tmp_path: Path) -> None:
    path = extending_today(tmp_path, "name: x\ncase_data:\n  lv_other: {sample: lv_othr}\n")
    try:
        load_scenario(path)
    except ScenarioError as err:
        assert [problem.text for problem in err.problems] == [
            f"{path}:4: case_data.lv_other.sample: no sample application lv_othr.json in processes/samples; known: "
            "hv_important, hv_ordinary, lv_other, lv_residential, lv_smallmicro"]
    else:
        raise AssertionError("a missing sample was accepted")


# -- 3. a distribution that changes kind replaces the inherited one ---------------------------------------------------

def test_a_distribution_of_another_kind_replaces_the_inherited_one(tmp_path: Path) -> None:
    bad = extending_today(tmp_path, "name: x\ndurations:\n  site_survey: {distribution: exponential, mean: -4}\n"
                                    "  draft_plan: {distribution: uniform, low: 5, high: 1}\n")
    try:
        load_scenario(bad)
    except ScenarioError as err:
        assert [problem.text for problem in err.problems] == [
            f"{bad}:4: durations.site_survey.mean: mean must be >= 0, got -4.0",
            f"{bad}:5: durations.draft_plan.high: high 1.0 is below low 5.0"]
    else:
        raise AssertionError("the user's own errors were not reported")
    good = extending_today(tmp_path, "name: x\ndurations:\n  site_survey: {distribution: exponential, mean: 4}\n"
                                     "  draft_plan: {distribution: gamma, mean: 5}\n", "good.yaml")
    scenario = load_scenario(good)
    survey, plan = scenario.durations["site_survey"].default, scenario.durations["draft_plan"].default
    assert (survey.kind, survey.params) == ("exponential", {"mean": 4.0})
    assert plan.kind == "gamma"  # the same kind merges: the inherited sd (1.5) is kept, the mean is the file's
    assert abs(plan.mean - 5.0) < 1e-9 and abs(plan.params["shape"] - (5.0 / 1.5) ** 2) < 1e-9
    assert scenario.where(("durations", "site_survey", "mean")) == f"{good}:4"


# -- 4. every problem of the form at once ---------------------------------------------------------------------------

def test_the_start_range_is_shown_with_the_other_problems(web: Web) -> None:
    response = web.client("process_owner").post("/simulation/new", form_for(**{
        "start": "2040-01-01", "pools.surveyor.count": "0", "durations.site_survey.mean": "-4"}))
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    high = WorkingCalendar.default().known_years()[-1] + 10
    assert re.search(rf'id="err-start">开始日期应在 \d{{4}}-01-01 至 {high}-12-31 之间', body)
    assert re.search(r'id="err-pools\.surveyor\.count">不能小于 1。', body)
    assert re.search(r'id="err-durations\.site_survey\.mean">平均不能为负数（现为 -4）。', body)
    assert stored(web) == []


# -- 5. one merged range of estimated days ---------------------------------------------------------------------------

def test_overlapping_spans_merge_into_one_range() -> None:
    assert merged_spans([("2027-01-01", "2027-03-03"), ("2027-01-01", "2027-03-22"), ("2027-01-01", "2027-02-10"),
                         ("2003-12-20", "2003-12-31")]) == [("2003-12-20", "2003-12-31"), ("2027-01-01", "2027-03-22")]
    assert merged_spans([("2027-01-01", "2027-01-05"), ("2027-01-06", "2027-01-09")]) == [("2027-01-01", "2027-01-09")]


def test_the_estimated_days_are_one_range_over_every_replication_in_the_cli_and_on_the_page(web: Web) -> None:
    last = WorkingCalendar.default().known_years()[-1]
    data = {"name": "one", "start": f"{last}-12-21", "horizon_days": 10, "max_days": 120, "seed": 3, "process": ".",
            "samples": "samples", "arrivals": {"one": {"per_working_day": 4}},
            "calendars": {"office": {"working_days": "cn", "shifts": ["08:30-12:00", "13:30-17:30"]}},
            "pools": {"clerk": {"count": 1, "calendar": "office"}},
            "durations": {"work": {"distribution": "exponential", "mean": 6}}}
    scenario = scenario_from_dict(data, base_dir=ONE_STEP)
    result = run_batch(scenario, None, replications=4, seed=3)
    ends = sorted({str(kpis["period"]["end"])[:10] for kpis in result.base_kpis})
    assert len(ends) > 1  # the replications end on different days
    spans = estimated_days(result, {"base": scenario})
    assert spans == [(f"{last + 1}-01-01", ends[-1])]
    assert estimated_note(spans).endswith(f"this run's {last + 1}-01-01 to {ends[-1]}")
    assert f"本次运行中 {last + 1}-01-01 至 {ends[-1]}</p>" in render_html(result, {}, None, {"base": scenario})
    stored_result = summarise(result, {"base": scenario})
    assert stored_result["estimated_days"] == [[f"{last + 1}-01-01", ends[-1]]]
    run_id = queue_run(web)
    with web.db.transaction() as session:
        from runner.simulation import runs

        run = runs.get_run(session, run_id)
        run.status, run.progress, run.result = "done", 1.0, json.loads(json.dumps(stored_result))
    text = text_of(web.client("process_owner").get(f"/simulation/{run_id}"))
    assert f"注意：本次运行中 {last + 1}-01-01 至 {ends[-1]} 的工作日为估算" in text


# -- 6. the advanced editor: one Chinese message per problem -------------------------------------------------------

def test_a_partial_scenario_gets_one_message_per_missing_key(web: Web) -> None:
    response = web.client("process_owner").post("/simulation/new", raw_form("pools: {surveyor: {count: 2}}"))
    assert response.status_code == 400
    assert problems_of(html.unescape(text_of(response))) == [
        "基准场景（高级编辑器） · name ：缺少此项。", "基准场景（高级编辑器） · start ：缺少此项。",
        "基准场景（高级编辑器） · arrivals ：缺少此项。"]
    response = web.client("process_owner").post("/simulation/new", raw_form(
        today(), variant_process="folder", variant_raw="pools: {surveyor: {count: 2}}"))
    assert response.status_code == 400
    lines = problems_of(html.unescape(text_of(response)))
    assert lines == [f"对比场景（高级编辑器） · {key} ：缺少此项。" for key in ("name", "start", "arrivals")]


def test_a_syntax_error_names_the_editor_line_and_column_in_chinese(web: Web) -> None:
    response = web.client("process_owner").post("/simulation/new", raw_form('name: x\nstart: "2026-11-02"\n'
                                                                            'pools:\n  a: {count: "2'))
    assert response.status_code == 400
    page = html.unescape(text_of(response))
    [line] = problems_of(page)
    assert re.fullmatch(r"基准场景（高级编辑器） · 整个场景 ：语法错误：第 4 行第 \d+ 列："
                        r"内容在此意外结束：括号、引号或列表是否未闭合？", line), line
    assert "scenario_raw" not in page and "line " not in page and "stream" not in page
    response = web.client("process_owner").post("/simulation/new", raw_form("[1, 2]"))
    assert problems_of(html.unescape(text_of(response))) == [
        "基准场景（高级编辑器） · 整个场景 ：场景应为键值映射（JSON 对象，或每行“键: 值”的 YAML），如 name: 方案一。"]


def test_a_negative_mean_is_worded_alike_in_the_form_and_the_editor(web: Web) -> None:
    client = web.client("process_owner")
    form = client.post("/simulation/new", form_for(**{"durations.site_survey.mean": "-4"}))  # lognormal: > 0
    scenario = today()
    scenario["durations"] = {**scenario["durations"], "site_survey": {"distribution": "exponential", "mean": -4}}
    editor = client.post("/simulation/new", raw_form(scenario))  # exponential: >= 0
    assert "现场勘查 · 平均（基准方案） ：平均不能为负数（现为 -4）。" in html.unescape(text_of(form))
    assert "现场勘查 · 办理时长 · 平均（durations.site_survey.mean） ：平均不能为负数（现为 -4）。" in html.unescape(
        text_of(editor))  # in the editor: the step and setting by name, the key path to find the line
    scenario["durations"]["site_survey"] = {"distribution": "uniform", "low": 5, "high": 1}
    page = html.unescape(text_of(client.post("/simulation/new", raw_form(scenario))))
    assert "现场勘查 · 办理时长 · 上限（durations.site_survey.high） ：均匀分布的上限（1）不能小于下限（5）。" in page


# -- 7. one pair of side names, even bins ----------------------------------------------------------------------------

def test_the_cli_report_names_the_sides_as_the_web_page_does() -> None:
    data = {"name": "one", "start": "2026-11-02", "horizon_days": 5, "max_days": 60, "seed": 5, "process": ".",
            "samples": "samples", "arrivals": {"one": {"per_working_day": 3}},
            "pools": {"clerk": {"count": 1}}, "durations": {"work": 2}}
    base = scenario_from_dict(data, base_dir=ONE_STEP)
    variant = scenario_from_dict({**data, "name": "two", "pools": {"clerk": {"count": 2}}}, base_dir=ONE_STEP)
    result = run_batch(base, variant, replications=2, seed=5)
    assert result.comparison is not None
    page = render_html(result, {})
    assert "<th>基准方案</th><th>对比方案</th>" in page
    assert "现状" not in page and "<th>方案</th>" not in page


def test_histogram_bins_are_even() -> None:
    shares = histogram({"base": [0.4, 6.8, 13.9, 27.3, 33.6, 40.2, 81.0], "variant": [2.0, 12.5]})
    edges = shares["edges"]
    widths = {b - a for a, b in zip(edges, edges[1:], strict=False)}
    assert widths == {10} and edges[0] == 0 and edges[-1] >= 81.0
    assert all(isinstance(edge, int) for edge in edges)
    assert abs(sum(shares["base"]) - 1.0) < 1e-9 and len(shares["base"]) == len(edges) - 1
    assert histogram({"base": [3.0, 3.0]})["edges"] == [3, 4]
