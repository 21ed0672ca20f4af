"""A new user's trial of the simulation report (the run page and `baozhuang simulate --out`): cases stuck in an open
step past its limit count as late in 环节全部按期案件占比 (and the cases left out are said), one mean waiting time per
step in the heat map's table and the full list, intervals written [−3.3, 0.3], the CLI report's labels from the web
page's source, shares as percentages, footnotes only when used, and the English staff table's "Role". Real
components: the engine through the CLI, the KPIs, the what-if, the CLI's report.html, the web page over HTTP."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

import pytest
from babel.messages.pofile import read_po
from click.testing import CliRunner
from flask import Flask
from flask_babel import Babel, force_locale
from sqlalchemy import select

from runner.cli import main
from runner.models import SimulationRun
from runner.simulation import labels
from runner.simulation.batch import BatchResult, mean_flat
from runner.simulation.kpis import compute_kpis, direction, flat_kpis
from runner.simulation.model import OpenStep, SimActivity, SimCase, SimulationLog
from runner.simulation.report import (
    CENSORED_NOTE,
    NEGLIGIBLE_NOTE,
    ON_TIME_CENSORED_NOTE,
    interval_text,
    render_html,
    value_text,
)
from runner.simulation.run_execute import heatmap
from runner.simulation.whatif import HEADLINES, KpiComparison, compare_flat, verdict
from runner.workdays import WorkingCalendar
from tests.conftest import PROCESSES
from tests.simulation_fixtures import at
from tests.test_webui_simulation import queue_run
from tests.webui_helpers import (
    Web,
    text_of,
    web_fixture,  # noqa: F401  (the web fixture)
)
from webui.labels import CATEGORY_LABELS

SCENARIOS = PROCESSES / "scenarios"
TODAY = SCENARIOS / "today.yaml"
WHAT_IF = SCENARIOS / "fewer_surveyors_parallel_review.yaml"
CATALOGUE = Path(__file__).resolve().parent.parent / "webui" / "translations" / "en" / "LC_MESSAGES"
EVERY_STEP = "on_time.every_step.all.share"


# -- 1. an open step past its limit is known late ---------------------------------------------------------------------


def stuck_log(seed: int = 1, stuck: int = 1, waiting: int = 1) -> SimulationLog:
    """``A`` done with its survey on time; ``stuck`` open cases whose survey is still open a week past its deadline
    (known late); ``waiting`` open cases whose survey's deadline is after the stop (outcome unknown). Every case
    keeps its whole-case limit so far (3 of 10 utility days)."""
    start, end = at("2026-11-02", 0), at("2026-11-20")
    attributes = {"utility_working_days": 3, "case_limit_working_days": 10}
    cases = [SimCase("A", "lv_other", start, at("2026-11-04"), dict(attributes), [], None, 0)]
    activities = [SimActivity("A", "site_survey", "现场勘查", "user", "surveyor", "surveyor#1", at("2026-11-02"),
                              at("2026-11-02"), at("2026-11-02", 12), at("2026-11-03"))]
    open_steps = []
    for i in range(stuck):
        cases.append(SimCase(f"S{i}", "lv_other", start, None, dict(attributes), [], None, 1))
        open_steps.append(OpenStep(f"S{i}", "site_survey", "现场勘查", "user", "surveyor", at("2026-11-02"),
                                   at("2026-11-02", 10), at("2026-11-13")))
    for i in range(waiting):
        cases.append(SimCase(f"W{i}", "lv_other", at("2026-11-19"), None, dict(attributes), [], None, 0))
        open_steps.append(OpenStep(f"W{i}", "site_survey", "现场勘查", "user", "surveyor", at("2026-11-19"), None,
                                   at("2026-11-24")))
    return SimulationLog("stuck", seed, start, end, cases=cases, activities=activities, open_steps=open_steps)


def test_an_open_step_past_its_limit_makes_its_case_late_and_the_unknown_ones_are_counted() -> None:
    kpis = compute_kpis(stuck_log(), WorkingCalendar.default())
    on_time = kpis["on_time"]
    # the survey's own share sees the open, overdue one as late, and leaves out the one not yet due
    assert on_time["steps"]["site_survey"] == {"activity": "现场勘查", "count": 2, "on_time": 1, "share": 0.5,
                                               "undecided": 1}
    # A on time, S0 late (its open survey is a week overdue), W0 unknown: left out and counted
    assert on_time["every_step"]["all"] == {"count": 2, "on_time": 1, "share": 0.5, "undecided": 1}
    # the whole-case figure treats open cases alike: both are within their limit so far, so both are unknown
    assert on_time["case"] == {"count": 1, "on_time": 1, "share": 1.0, "undecided": 2}
    flat = flat_kpis(kpis)
    assert flat[EVERY_STEP] == 0.5 and flat["on_time.every_step.all.counted_share"] == pytest.approx(2 / 3)
    assert flat["on_time.case.counted_share"] == pytest.approx(1 / 3)
    assert direction("on_time.every_step.all.counted_share") == "neutral"  # judging more cases is not "better"


def slow_survey(tmp_path: Path) -> Path:
    scenario = tmp_path / "slow_survey.yaml"
    scenario.write_text(f"extends: {TODAY}\nname: slow_survey\ndurations:\n"
                        "  site_survey: {distribution: lognormal, mean: 5000, sd: 1.5}\n", encoding="utf-8")
    return scenario


def test_cases_stuck_in_a_survey_for_months_are_not_all_on_time_in_the_trials_run(tmp_path: Path) -> None:
    """The trial: 现场勘查 mean 5000 h, 50 cases. 整体按期率 counted the stuck cases late while 环节全部按期案件占比
    left them out (100 % of 40)."""
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["simulate", str(slow_survey(tmp_path)), "--cases", "50", "--replications",
                                       "1", "--out", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    [kpis] = json.loads((out / "kpis.json").read_text(encoding="utf-8"))["base"]["replications"]
    arrived, completed = kpis["cycle_time"]["all"]["arrived"], kpis["cycle_time"]["all"]["count"]
    assert arrived == 50 and completed < arrived
    every, case = kpis["on_time"]["every_step"]["all"], kpis["on_time"]["case"]
    survey = kpis["on_time"]["steps"]["site_survey"]
    assert survey["on_time"] == 0 and survey["count"] == arrived - completed  # each open case waits in its survey
    assert every["count"] + every["undecided"] == arrived and every["undecided"] == 0
    assert every["share"] <= case["share"] < 1.0  # every step on time can never beat the whole-case figure here


# -- 1. … and says so: the what-if, the CLI report, the web page ------------------------------------------------------


def stuck_comparison() -> tuple[list[SimulationLog], list[SimulationLog]]:
    base = [stuck_log(seed, stuck=1, waiting=1) for seed in (1, 2, 3)]
    variant = [stuck_log(seed, stuck=2 + seed % 2, waiting=3) for seed in (1, 2, 3)]
    return base, variant


def test_the_verdict_and_the_cli_report_say_which_cases_an_on_time_share_leaves_out() -> None:
    base, variant = stuck_comparison()
    base_kpis = [compute_kpis(log, WorkingCalendar.default()) for log in base]
    variant_kpis = [compute_kpis(log, WorkingCalendar.default()) for log in variant]
    comparison = compare_flat([flat_kpis(k) for k in base_kpis], [flat_kpis(k) for k in variant_kpis])
    row = comparison.row(EVERY_STEP)
    assert row.completed_shares == (pytest.approx(2 / 3), pytest.approx(comparison.row(
        "on_time.every_step.all.counted_share").variant_mean))
    zh = next(line for line in comparison.verdicts_zh if line.startswith("环节全部按期案件占比"))
    assert "仅计结果已知的案件（基准方案 66.7%" in zh and "未办结且尚未超出时限的案件结果未知，未计入" in zh
    en = next(line for line in comparison.verdicts_en if line.startswith("Share of cases with every step"))
    assert "cases with a known outcome only (base 66.7%" in en
    result = BatchResult(seed=1, replications=3, cases=None, base_name="a", base_kpis=base_kpis, variant_name="b",
                         variant_kpis=variant_kpis, comparison=comparison)
    page = html.unescape(render_html(result, {}))
    main_table = page.split("<h2>指标对比</h2>")[1].split("<details>")[0]
    title = re.search(r'<td title="([^"]*)">全部 环节全部按期案件占比 †</td>', main_table)
    assert title is not None, main_table
    assert "未计入：基准方案 1 户、对比方案 3 户" in title.group(1)  # the one open case not yet due, per replication
    assert ON_TIME_CENSORED_NOTE in page and CENSORED_NOTE in page  # the open cases have no duration either
    # the share judged is in the full list, not among the headline rows
    assert "结果已知案件占比" not in main_table and "全部 环节全部按期：结果已知案件占比" in page


def store_result(web: Web, result: dict[str, Any], params: dict[str, Any] | None = None) -> int:
    run_id = queue_run(web, params)
    with web.db.transaction() as session:
        run = session.execute(select(SimulationRun).where(SimulationRun.id == run_id)).scalar_one()
        run.status, run.result, run.progress = "done", result, 1.0
    return run_id


def side(logs: list[SimulationLog]) -> dict[str, Any]:
    kpis = [compute_kpis(log, WorkingCalendar.default()) for log in logs]
    return {"scenario": "x", "kpis": kpis[0], "flat": mean_flat([flat_kpis(k) for k in kpis]),
            "cases_arrived": [k["cycle_time"]["all"]["arrived"] for k in kpis], "heatmap": heatmap(kpis)}


def test_the_run_page_marks_an_on_time_share_that_leaves_open_cases_out(web: Web) -> None:
    base, variant = stuck_comparison()
    sides = {"base": side(base), "variant": side(variant)}
    comparison = compare_flat([flat_kpis(compute_kpis(log)) for log in base],
                              [flat_kpis(compute_kpis(log)) for log in variant])
    run_id = store_result(web, {"replications": 3, "seed": 1, "cases": None, "sides": sides,
                                "comparison": json.loads(json.dumps(comparison.to_dict()))})
    client = web.client("process_owner")
    body = client.get(f"/simulation/{run_id}").get_data(as_text=True)
    summary = body.split('<table class="sim-kpis">')[1].split("</table>")[0]
    assert re.search(r'title="仅计结果已知的案件（占到达案件 66\.7% / [\d.]+%）；每次未计入 1 / 3 户：'
                     r'未办结且尚未超出时限，结果未知">全部 环节全部按期案件占比 †', summary), summary
    assert 'id="sim-kpi-on-time-censored-note"' in body
    compared = body.split('<table class="sim-comparison">')[1].split("</table>")[0]
    assert "每次未计入基准方案 1 户、对比方案 3 户" in compared and "全部 环节全部按期案件占比 †" in compared
    assert 'id="sim-on-time-censored-note"' in body
    client.get("/auth/language/en")
    english = client.get(f"/simulation/{run_id}").get_data(as_text=True)
    assert "Cases with a known outcome only (66.7%" in english and "left out per replication" in english
    assert "An on-time share counts the cases with a known outcome only" in english


# -- 2. one mean waiting time per step --------------------------------------------------------------------------------


def waits(count: int, hours: float) -> dict[str, Any]:
    return {"activities": {"review_design": {"activity": "设计文件审核", "kind": "user", "lane": "plan_reviewer",
                                             "count": count, "cancelled": 0, "mean_waiting_hours": hours,
                                             "mean_processing_hours": 3.0}}}


def test_the_heat_map_and_the_full_list_show_the_same_mean_wait() -> None:
    """Replications that review a different number of designs: pooling their instances (the heat map) gave another
    figure than the mean of their means (the comparison's "全部指标"), e.g. 15.5 against 17.40 h."""
    kpis = [waits(3, 7.72), waits(2, 14.41), waits(4, 26.46)]
    flat_mean = (7.72 + 14.41 + 26.46) / 3
    assert heatmap(kpis)["review_design"]["mean_waiting_hours"] == pytest.approx(flat_mean)
    assert heatmap(kpis)["review_design"]["count"] == 9


def test_the_run_page_shows_one_wait_per_step_and_says_what_it_is(web: Web) -> None:
    kpis = [waits(3, 7.72), waits(2, 14.41), waits(4, 26.46)]
    pooled = {"review_design": {"name": "设计文件审核", "mean_waiting_hours": 19.0, "count": 9}}  # an older result
    flat = {"waiting.review_design.mean_hours": (7.72 + 14.41 + 26.46) / 3}
    rows = [{"key": "waiting.review_design.mean_hours", "base_mean": flat["waiting.review_design.mean_hours"],
             "variant_mean": 10.0, "mean_difference": -6.2, "ci_low": -9.0, "ci_high": -3.0, "outcome": "better"},
            {"key": "cost.per_case", "base_mean": 100.0, "variant_mean": 90.0, "mean_difference": -10.0,
             "ci_low": -12.0, "ci_high": -8.0, "outcome": "better"}]
    for heat in (heatmap(kpis), pooled):
        run_id = store_result(web, {"replications": 3, "seed": 1, "cases": 9,
                                    "sides": {"base": {"flat": flat, "heatmap": heat}, "variant": {"flat": {}}},
                                    "comparison": {"kpis": rows, "verdicts": {}}})
        client = web.client("process_owner")
        body = client.get(f"/simulation/{run_id}").get_data(as_text=True)
        table = body.split('<table class="sim-waiting">')[1].split("</table>")[0]
        assert re.search(r"设计文件审核</th><td>16\.2</td>", table), table
        assert "16.20" in body.split('<details class="sim-more">')[1]  # the full list: the same figure
        assert "按环节的每次办理平均；各次重复平均值的平均，与“全部指标”中的平均等待相同" in table
        assert "全部重复的所有案件合并平均" not in body
        client.get("/auth/language/en")
        english = client.get(f"/simulation/{run_id}").get_data(as_text=True)
        assert "Mean waiting time per step instance" in english and "the same figure as the mean wait" in english


# -- 3. intervals and verdicts that read --------------------------------------------------------------------------


def test_intervals_are_bracketed_with_a_true_minus_and_the_p90_verdict_has_its_space() -> None:
    row = KpiComparison(key="time_to_connect.all.p90_working_days", direction="lower", pairs=5, base_mean=20.0,
                        variant_mean=18.5, mean_difference=-1.5, ci_low=-3.3, ci_high=0.3, significant=False,
                        outcome="no_difference")
    zh, en = verdict(row, HEADLINES["time_to_connect.all.p90_working_days"])
    assert zh.startswith("办电时长 P90 无显著变化 (差值 -1.5 个工作日, 95% CI [−3.3, 0.3])"), zh
    assert "95% CI [−3.3, 0.3]" in en
    worse = KpiComparison(**{**row.__dict__, "mean_difference": 3.0, "ci_low": -5.9, "ci_high": 11.8})
    assert "95% CI [−5.9, 11.8]" in verdict(worse, HEADLINES["time_to_connect.all.p90_working_days"])[0]
    longer = KpiComparison(**{**row.__dict__, "mean_difference": 2.0, "ci_low": 1.1, "ci_high": 3.5,
                              "significant": True, "outcome": "worse"})
    assert verdict(longer, HEADLINES["time_to_connect.all.p90_working_days"])[0].startswith(
        "办电时长 P90 延长 2.0 个工作日 (95% CI [1.1, 3.5])")
    shorter = KpiComparison(**{**longer.__dict__, "key": "time_to_connect.all.mean_working_days",
                               "mean_difference": -2.0, "ci_low": -3.5, "ci_high": -1.1, "outcome": "better"})
    assert verdict(shorter, HEADLINES["time_to_connect.all.mean_working_days"])[0].startswith(
        "平均办电时长缩短 2.0 个工作日 (95% CI [1.1, 3.5])")  # no space after a Chinese label
    assert interval_text("cost.per_case", -3.3, 0.3).text == "[−3.30, 0.30]"
    assert interval_text("on_time.case.share", -0.059, 0.118).text == "[−5.90, 11.80] pp"
    assert interval_text("cost.per_case", -0.001, 0.3).text == "[0.00, 0.30]"  # no negative zero


# -- 4. the CLI report as the web page words it -----------------------------------------------------------------------


def test_the_cli_report_uses_the_web_pages_labels_and_shows_shares_as_percentages(tmp_path: Path) -> None:
    from webui.simulation.report import kpi_label as web_label

    result = CliRunner().invoke(main, ["simulate", str(TODAY), "--compare", str(WHAT_IF), "--cases", "6",
                                       "--replications", "2", "--seed", "7", "--out", str(tmp_path)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    page = html.unescape((tmp_path / "report.html").read_text(encoding="utf-8"))
    rows = {cells[0].removesuffix(" †"): cells[1:] for cells in (
        re.findall(r"<td[^>]*>(.*?)</td>", row) for row in re.findall(r"<tr class=\w+>(.*?)</tr>", page))}
    keys = [row["key"] for row in json.loads((tmp_path / "comparison.json").read_text(encoding="utf-8"))["kpis"]]
    names = {eid: str(activity["activity"]) for side in json.loads(
        (tmp_path / "kpis.json").read_text(encoding="utf-8")).values() if isinstance(side, dict) and "replications"
        in side for kpis in side["replications"] for eid, activity in kpis["activities"].items()}
    app = Flask(__name__)
    Babel(app, default_locale="zh_CN")
    with app.test_request_context():
        web = {web_label(key, names) for key in keys}
    assert set(rows) == web, sorted(set(rows) ^ web)
    assert "全部 办电时长 中位数（工作日）" in rows and "单户人员成本（在岗）（元）" in rows
    assert not any("P50" in label or "·" in label for label in rows)
    assert re.fullmatch(r"\d+\.\d%", rows["被督办案件占比"][0]), rows["被督办案件占比"]
    assert re.fullmatch(r"[+−]\d+\.\d\d pp", rows["被督办案件占比"][2]), rows["被督办案件占比"]
    assert value_text("escalations.cases_share", 0.01) == "1.0%"
    assert not re.search(r"-\d[\d.,]*–", page), re.search(r"-\d[\d.,]*–", page)  # no "-3.3–0.3"
    assert all(re.fullmatch(r"\[−?[\d,]+\.\d\d, −?[\d,]+\.\d\d\]( pp)?( \*)?|—", cells[3])
               for cells in rows.values()), [cells[3] for cells in rows.values()]


def test_the_negligible_footnote_appears_only_with_a_negligible_row() -> None:
    def report(variant_offset: float) -> str:
        base = [{"cost.per_case": 100.0 + r} for r in range(3)]
        variant = [{"cost.per_case": 100.0 + r + variant_offset} for r in range(3)]
        comparison = compare_flat(base, variant)
        return render_html(BatchResult(seed=1, replications=3, cases=None, base_name="a", base_kpis=[],
                                       variant_name="b", comparison=comparison), {})

    assert NEGLIGIBLE_NOTE not in report(30.0)  # worse, plainly
    assert "<td>无实质差异</td>" in report(0.2) and NEGLIGIBLE_NOTE in report(0.2)


def test_every_shared_label_is_in_the_english_catalogue_and_the_categories_are_the_web_pages() -> None:
    with (CATALOGUE / "messages.po").open("rb") as handle:
        catalogue = read_po(handle)
    for template in labels.templates():
        message = catalogue.get(template.msgid, context=template.context)
        assert message is not None and message.string, template
    app = Flask(__name__)
    Babel(app, default_locale="zh_CN")
    with app.test_request_context():
        assert {code: str(text) for code, text in CATEGORY_LABELS.items()} == labels.CATEGORY_NAMES


# -- 5. the staff table's "Role" --------------------------------------------------------------------------------------


def test_the_english_staff_table_says_role_and_the_task_list_keeps_its_lane(web: Web) -> None:
    run_id = queue_run(web, {"base": {"process": "folder", "scenario": {"pools": {"surveyor": {"count": 2}}}},
                             "variant": None, "replications": 1, "seed": 1, "cases": 1})
    client = web.client("process_owner")
    chinese = client.get(f"/simulation/{run_id}").get_data(as_text=True)
    assert re.search(r'id="sim-pool-counts">\s*<caption>[^<]*</caption>\s*<thead><tr><th>岗位</th>', chinese)
    client.get("/auth/language/en")
    page = client.get(f"/simulation/{run_id}").get_data(as_text=True)
    staff = page.split('id="sim-pool-counts">')[1].split("</table>")[0]
    assert "<th>Role</th>" in staff and "Lane" not in staff
    form = client.get("/simulation/new").get_data(as_text=True)  # the new run's staff table too
    assert "<thead><tr><th>Role</th>" in form and "<th>Lane</th>" not in form
    with web.app.test_request_context(), force_locale("en"):
        from webui.i18n import _

        assert _("岗位") == "Lane"  # the staff pages' 岗位：… of a task keeps its wording
    assert "Surveyor" in text_of(client.get(f"/simulation/{run_id}"))
