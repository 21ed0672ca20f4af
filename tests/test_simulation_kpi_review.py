"""The statistician's review of the simulation KPIs (2026-11-27): queue while cases arrive, cases with every step on
time, event-log columns, censored durations, the estimated calendar, replication indices, negligible differences and
the order of scenario errors and progress (runner/simulation/kpis.py, whatif.py, report.py, eventlog.py,
runner/cli_simulate.py, runner/cli.py, webui/simulation/report.py)."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from lxml import etree
from sqlalchemy import select

from runner.cli import main
from runner.models import SimulationRun
from runner.simulation.batch import BatchResult
from runner.simulation.eventlog import PROSIMOS_COLUMNS, write_cancelled_csv, write_csv, write_xes
from runner.simulation.kpis import compute_kpis, flat_kpis
from runner.simulation.model import QueueSample, SimActivity, SimCase, SimulationLog
from runner.simulation.report import render_html, write_report
from runner.simulation.whatif import compare_flat, practical_threshold
from runner.workdays import WorkingCalendar
from tests.conftest import PROCESSES
from tests.simulation_fixtures import at, holiday_log
from tests.test_webui_simulation import queue_run
from tests.webui_helpers import (
    Web,
    text_of,
    web_fixture,  # noqa: F401  (the web fixture)
)

XES = "{http://www.xes-standard.org/}"
TODAY = PROCESSES / "scenarios" / "today.yaml"


# -- 1. the queue while cases arrive ---------------------------------------------------------------------------------

def queue_log(seed: int = 1, queued: int = 2, tail_days: int = 28) -> SimulationLog:
    """Two cases arriving 2026-11-02 00:00 and 11-04 00:00 (the last arrival: 48 h after the start); ``queued``
    surveyor tasks waiting the first day, none after; the run goes on ``tail_days`` after the last arrival."""
    start = at("2026-11-02", 0)
    cases = [SimCase("Q1", "lv_other", start, start + timedelta(days=1), {}, [], None, 0),
             SimCase("Q2", "lv_other", start + timedelta(days=2), start + timedelta(days=2 + tail_days), {}, [],
                     None, 0)]
    queues = [QueueSample(start, "surveyor", queued), QueueSample(start + timedelta(days=1), "surveyor", 0)]
    return SimulationLog(scenario_name="queue", seed=seed, started_at=start,
                         ended_at=start + timedelta(days=2 + tail_days), cases=cases, queues=queues)


def test_the_mean_queue_is_read_while_cases_arrive_and_the_whole_run_figure_is_named_as_such() -> None:
    flat = flat_kpis(compute_kpis(queue_log(), WorkingCalendar.default()))
    # 2 tasks for 24 h of the 48 h from the start to the last arrival: 1.0, time-weighted
    assert flat["queue.surveyor.mean_length_while_arriving"] == pytest.approx(1.0)
    # the mean of 30 daily means, diluted by the 28 days of tail
    assert flat["queue.surveyor.mean_length_whole_run"] == pytest.approx(2 / 30)
    assert "queue.surveyor.mean_length" not in flat


def test_a_longer_queue_while_arriving_gets_a_verdict_and_heads_the_report() -> None:
    base = [flat_kpis(compute_kpis(queue_log(seed, queued=2), WorkingCalendar.default())) for seed in (1, 2, 3)]
    variant = [flat_kpis(compute_kpis(queue_log(seed, queued=q, tail_days=60), WorkingCalendar.default()))
               for seed, q in ((1, 8), (2, 9), (3, 10))]
    comparison = compare_flat(base, variant)
    row = comparison.row("queue.surveyor.mean_length_while_arriving")
    assert row.outcome == "worse" and row.mean_difference == pytest.approx(3.5)
    assert any(v.startswith("勘查人员平均排队（到达期间）增加 3.50 件") for v in comparison.verdicts_zh)
    assert any(v.startswith("Surveyor mean queue while cases arrive up by 3.50 tasks") for v in comparison.verdicts_en)
    result = BatchResult(seed=1, replications=3, cases=None, base_name="a", base_kpis=[], variant_name="b",
                         comparison=comparison)
    html = render_html(result, {})
    main_table = html.split("<summary>")[0]
    assert "勘查人员 平均排队（件，到达期间，按时间加权）" in main_table
    assert "平均长度（全程，含最后到达后的尾期）" not in main_table  # the whole-run figure: in the full list only


# -- 2. cases with every step on time --------------------------------------------------------------------------------

def step(case_id: str, element: str, end_hour: float, due_hour: float, cancelled: bool = False) -> SimActivity:
    day = "2026-11-02"
    return SimActivity(case_id, element, element, "user", "surveyor", "surveyor#1", at(day, 9), at(day, 9),
                       at(day, end_hour), at(day, due_hour), cancelled)


def steps_log() -> SimulationLog:
    """A: both steps on time. B: draft_plan late, yet within its whole-case limit. C (open): a late step. D (open):
    on time so far. E: no time-limited step. F (hv): on time; its late step was cancelled."""
    start, end = at("2026-11-02", 0), at("2026-11-20")
    done = at("2026-11-03")

    def case(case_id: str, category: str, completed: bool) -> SimCase:
        attributes = {"utility_working_days": 3, "case_limit_working_days": 10}
        return SimCase(case_id, category, start, done if completed else None, attributes, [], None, 0)

    cases = [case("A", "lv_other", True), case("B", "lv_other", True), case("C", "lv_other", False),
             case("D", "lv_other", False), case("E", "lv_other", True), case("F", "hv_ordinary", True)]
    activities = [step("A", "draft_plan", 10, 12), step("A", "review_plan", 11, 12),
                  step("B", "draft_plan", 14, 12), step("B", "review_plan", 15, 16),
                  step("C", "draft_plan", 14, 12), step("D", "draft_plan", 10, 12),
                  step("F", "draft_plan", 10, 12), step("F", "review_plan", 14, 12, cancelled=True)]
    return SimulationLog(scenario_name="steps", seed=1, started_at=start, ended_at=end, cases=cases,
                         activities=activities)


def test_a_case_within_its_whole_limit_with_a_late_step_is_not_a_case_with_every_step_on_time() -> None:
    kpis = compute_kpis(steps_log(), WorkingCalendar.default())
    # the whole-case figure: every completed case kept its summed limit
    assert kpis["on_time"]["case"]["share"] == 1.0
    # A and F on time, B and C (open, already late) not; D (open, on time so far) and E (no limit) left out
    assert kpis["on_time"]["every_step"]["all"] == {"count": 4, "on_time": 2, "share": 0.5, "undecided": 1}
    assert kpis["on_time"]["every_step"]["lv_other"] == {"count": 3, "on_time": 1, "share": pytest.approx(1 / 3),
                                                         "undecided": 1}
    assert kpis["on_time"]["every_step"]["hv_ordinary"]["share"] == 1.0
    flat = flat_kpis(kpis)
    assert flat["on_time.every_step.all.share"] == 0.5
    assert flat["on_time.every_step.lv_other.share"] == pytest.approx(1 / 3)


def test_both_on_time_shares_get_verdicts_and_the_report_says_what_each_means() -> None:
    base = [{"on_time.case.share": 1.0, "on_time.every_step.all.share": 0.9 + i / 100} for i in range(3)]
    variant = [{"on_time.case.share": 1.0, "on_time.every_step.all.share": 0.6 + i / 100 + i / 300}
               for i in range(3)]
    comparison = compare_flat(base, variant)
    zh = comparison.verdicts_zh
    assert zh[0].startswith("整体按期率（全流程时限）无显著变化")
    assert zh[1].startswith("环节全部按期案件占比降低 ")
    assert comparison.verdicts_en[1].startswith("Share of cases with every step on time down by ")
    result = BatchResult(seed=1, replications=3, cases=None, base_name="a", base_kpis=[], variant_name="b",
                         comparison=comparison)
    html = render_html(result, {})
    assert "全部 环节全部按期案件占比" in html.split("<summary>")[0]
    assert "任一环节超期即不计为按期" in html and "单个环节超期可由其他环节提前完成抵消" in html


# -- 3. the event logs -----------------------------------------------------------------------------------------------

def test_the_csv_has_deadlines_the_case_state_and_the_cancelled_steps_marked() -> None:
    out = io.StringIO()
    write_csv(holiday_log(), out)
    table = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert tuple(table[0])[:6] == PROSIMOS_COLUMNS == ("case_id", "activity", "enable_time", "start_time",
                                                       "end_time", "resource")
    late = next(r for r in table if r["case_id"] == "C2" and r["element_id"] == "site_survey")
    assert late["due_at"] == "2026-10-12T12:30:00+08:00" and late["end_time"] > late["due_at"]
    assert late["cancelled"] == "false" and late["case_completed"] == "true"
    assert next(r for r in table if r["element_id"] == "supply_materials")["due_at"] == ""
    out = io.StringIO()
    write_cancelled_csv(holiday_log(), out)  # cancelled steps: a file of their own, as production leaves them out
    withdrawn = next(r for r in csv.DictReader(io.StringIO(out.getvalue())) if r["element_id"] == "review_plan")
    assert withdrawn["cancelled"] == "true" and withdrawn["case_id"] == "C3"
    assert withdrawn["resource"] == "plan_reviewer#1" and withdrawn["due_at"] == "2026-10-13T10:30:00+08:00"


def test_the_xes_events_carry_the_deadline_and_a_cancelled_step_ends_in_ate_abort() -> None:
    out = io.BytesIO()
    write_xes(holiday_log(), out)
    root = etree.fromstring(out.getvalue())
    traces = {t.find(f"{XES}string[@key='concept:name']").get("value"): t for t in root.findall(f"{XES}trace")}
    assert traces["C4"].find(f"{XES}boolean[@key='completed']").get("value") == "false"

    def events(case: str, element: str) -> list[dict[str, str]]:
        found = [{a.get("key"): a.get("value") for a in e} for e in traces[case].findall(f"{XES}event")]
        return [e for e in found if e["element_id"] == element]

    survey = events("C2", "site_survey")
    assert {e["due_at"] for e in survey} == {"2026-10-12T12:30:00+08:00"}
    assert [e["lifecycle:transition"] for e in survey] == ["schedule", "start", "complete"]
    assert all("due_at" not in e for e in events("C1", "supply_materials"))
    withdrawn = events("C3", "review_plan")
    assert [e["lifecycle:transition"] for e in withdrawn] == ["schedule", "start", "ate_abort"]
    assert withdrawn[-1]["due_at"] == "2026-10-13T10:30:00+08:00"


# -- 4. durations that leave cases out -------------------------------------------------------------------------------

def censored_flats(base_share: float, variant_share: float) -> tuple[list[dict[str, float]], list[dict[str, float]]]:
    base = [{"cycle_time.all.mean_working_days": 20.0 + i, "cycle_time.all.completed_share": base_share}
            for i in range(3)]
    variant = [{"cycle_time.all.mean_working_days": 18.0 + i + i / 10, "cycle_time.all.completed_share": variant_share}
               for i in range(3)]
    return base, variant


def test_a_duration_verdict_warns_when_it_leaves_open_cases_out() -> None:
    comparison = compare_flat(*censored_flats(0.918, 0.907))
    row = comparison.row("cycle_time.all.mean_working_days")
    assert row.completed_shares == (0.918, 0.907)
    [zh] = comparison.verdicts_zh
    assert zh.startswith("平均全流程时长缩短 ")
    assert zh.endswith("；注意：仅计已办结案件（基准方案 91.8%、对比方案 90.7%），未办结的案件未计入，两方案比例不同，"
                       "时长不可直接比较")
    assert "completed cases only (base 91.8%, variant 90.7%)" in comparison.verdicts_en[0]
    stored = next(r for r in comparison.to_dict()["kpis"] if r["key"] == "cycle_time.all.mean_working_days")
    assert stored["completed_shares"] == (0.918, 0.907)
    result = BatchResult(seed=1, replications=3, cases=None, base_name="a", base_kpis=[], variant_name="b",
                         comparison=comparison)
    html = render_html(result, {})
    assert "全部 全流程时长 平均（工作日） †" in html and "标 † 的时长只计已办结" in html

    everything = compare_flat(*censored_flats(1.0, 1.0))
    assert everything.row("cycle_time.all.mean_working_days").completed_shares is None
    assert "注意" not in everything.verdicts_zh[0]
    same = compare_flat(*censored_flats(0.9, 0.9))
    assert "仅计已办结案件（基准方案 90.0%、对比方案 90.0%）" in same.verdicts_zh[0]
    assert "不可直接比较" not in same.verdicts_zh[0]


def test_the_web_page_marks_the_censored_duration_and_shows_the_warning(web: Web) -> None:
    comparison = compare_flat(*censored_flats(0.918, 0.907))
    negligible = compare_flat(*lv_residential_flats())
    rows = [*comparison.to_dict()["kpis"], *negligible.to_dict()["kpis"]]
    verdicts = {"zh": [*comparison.verdicts_zh, *negligible.verdicts_zh],
                "en": [*comparison.verdicts_en, *negligible.verdicts_en]}
    result = {"replications": 3, "seed": 1, "cases": 300,
              "sides": {"base": {"flat": {"on_time.every_step.all.share": 0.9}},
                        "variant": {"flat": {"on_time.every_step.all.share": 0.7}}},
              "comparison": {"kpis": json.loads(json.dumps(rows)), "verdicts": verdicts}}
    run_id = queue_run(web)
    with web.db.transaction() as session:
        run = session.execute(select(SimulationRun).where(SimulationRun.id == run_id)).scalar_one()
        run.status, run.result, run.progress = "done", result, 1.0
    client = web.client("process_owner")
    response = client.get(f"/simulation/{run_id}")
    assert response.status_code == 200
    body, text = response.get_data(as_text=True), text_of(response)
    assert "未办结的案件未计入" in text and 'id="sim-censored-note"' in body
    assert 'title="仅计已办结案件：基准方案 91.8%、对比方案 90.7%；其余案件未计入"' in body
    assert "全部 环节全部按期案件占比" in text and "90.0%" in text
    assert "任一环节超期即不计为按期" in text
    assert "无实质差异" in text and 'id="sim-negligible-note"' in body
    client.get("/auth/language/en")
    english = text_of(client.get(f"/simulation/{run_id}"))
    assert "Negligible difference" in english and "share of cases with every step on time" in english
    assert "Completed cases only" in client.get(f"/simulation/{run_id}").get_data(as_text=True)


# -- 5. the estimated calendar ---------------------------------------------------------------------------------------

def test_calendar_show_lists_the_estimated_days_of_a_year_without_a_schedule() -> None:
    result = CliRunner().invoke(main, ["calendar", "show", "2027"])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].startswith("2027: no official schedule; rule-based estimate")
    assert lines[1].startswith("days off (estimated):  2027-01-01 ")
    assert "2027-10-01" in lines[1] and "2027-02-06" in lines[1]
    assert lines[2] == "make-up working days (estimated): none"
    official = CliRunner().invoke(main, ["calendar", "show", "2026"]).stdout.splitlines()
    assert official[1].startswith("days off:  2026-01-01") and "estimated" not in official[1]


# -- 6. replication indices ------------------------------------------------------------------------------------------

def test_each_replication_s_kpis_carry_their_index_beside_the_seed(tmp_path: Path) -> None:
    kpis = [compute_kpis(holiday_log(seed=7), WorkingCalendar.default()) for _ in range(2)]
    result = BatchResult(seed=7, replications=2, cases=None, base_name="holiday", base_kpis=kpis)
    write_report(result, tmp_path)
    document = json.loads((tmp_path / "kpis.json").read_text(encoding="utf-8"))
    replications = document["base"]["replications"]
    assert [(r["seed"], r["replication"]) for r in replications] == [(7, 0), (7, 1)]
    assert list(replications[0])[:3] == ["scenario", "seed", "replication"]


def test_the_replications_help_names_the_streams_not_seed_plus_r() -> None:
    text = CliRunner().invoke(main, ["simulate", "--help"]).stdout
    assert "(seed, r)" in " ".join(text.split()) and "seed+r" not in text


# -- 7. negligible differences ---------------------------------------------------------------------------------------

def lv_residential_flats() -> tuple[list[dict[str, float]], list[dict[str, float]]]:
    key = "cycle_time.lv_residential.mean_working_days"
    return ([{key: 1.20 + i / 1000} for i in range(3)], [{key: 1.19 + i / 1000 + i / 100000} for i in range(3)])


def test_a_significant_but_tiny_difference_reads_negligible_not_better() -> None:
    comparison = compare_flat(*lv_residential_flats())
    row = comparison.row("cycle_time.lv_residential.mean_working_days")
    assert row.significant and row.ci_high is not None and row.ci_high < 0
    assert row.outcome == "negligible" and row.threshold == pytest.approx(0.1)
    result = BatchResult(seed=1, replications=3, cases=None, base_name="a", base_kpis=[], variant_name="b",
                         comparison=comparison)
    html = render_html(result, {})
    assert "<td>无实质差异</td>" in html and "<td>改善</td>" not in html and "小于基准方案值的 1%" in html


def test_the_practical_threshold_is_relative_with_a_floor_per_unit() -> None:
    assert practical_threshold("cycle_time.all.mean_working_days", 40.0) == pytest.approx(0.4)
    assert practical_threshold("cycle_time.all.mean_working_days", 1.2) == pytest.approx(0.1)
    assert practical_threshold("on_time.case.share", 0.2) == pytest.approx(0.005)
    assert practical_threshold("utilisation_while_arriving.surveyor", 0.9) == pytest.approx(0.009)
    assert practical_threshold("cost.per_case", 10.0) == pytest.approx(1.0)
    assert practical_threshold("waiting.wait_days.mean_hours", 2.0) == pytest.approx(0.1)
    headline = compare_flat([{"time_to_connect.all.mean_working_days": 10.0 + i} for i in range(3)],
                            [{"time_to_connect.all.mean_working_days": 8.0 + i + i / 50} for i in range(3)])
    assert headline.row("time_to_connect.all.mean_working_days").outcome == "better"
    tiny = compare_flat([{"time_to_connect.all.mean_working_days": 10.0 + i} for i in range(3)],
                        [{"time_to_connect.all.mean_working_days": 9.95 + i + i / 1000} for i in range(3)])
    assert tiny.verdicts_zh[0].startswith("平均办电时长无实质差异 (差值 -0.0 个工作日")
    assert "below the practical threshold of 0.1 working days" in tiny.verdicts_en[0]


# -- 8. scenario errors before progress ------------------------------------------------------------------------------

def test_a_scenario_the_engine_refuses_fails_before_the_progress_bar(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(f"extends: {TODAY}\npools:\n  installer: null\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["simulate", str(path), "--cases", "2"], catch_exceptions=False)
    assert result.exit_code == 1 and result.stdout == ""
    assert "no pool for lane role 'installer'" in result.stderr
    assert "simulating" not in result.stderr

    variant = CliRunner().invoke(main, ["simulate", str(TODAY), "--compare", str(path), "--cases", "2",
                                        "--replications", "2"], catch_exceptions=False)
    assert variant.exit_code == 1 and "no pool for lane role 'installer'" in variant.stderr
    assert "simulating" not in variant.stderr
