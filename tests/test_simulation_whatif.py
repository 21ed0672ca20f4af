"""Paired what-if comparison: confidence intervals, significance and verdicts (runner/simulation/whatif.py)."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta

import pytest

from runner.simulation.batch import BatchResult, mean_flat
from runner.simulation.kpis import compute_kpis, flat_kpis, pool_load_keys
from runner.simulation.model import PoolUsage, SimulationLog
from runner.simulation.report import queue_lines, render_html
from runner.simulation.run_execute import charts, queue_chart, utilisation_chart
from runner.simulation.whatif import compare, compare_flat, paired_interval
from runner.workdays import TZ
from tests.simulation_fixtures import scaled_log
from webui.simulation.report import build_report


def test_paired_interval_matches_a_hand_computed_student_t_interval() -> None:
    mean, low, high = paired_interval([1.0, 2.0, 3.0])
    # sd = 1, n = 3, t(0.975, 2) = 4.302653 → half width 4.302653 / sqrt(3) = 2.484138
    assert mean == 2.0
    assert low == pytest.approx(2.0 - 2.484138, abs=1e-5) and high == pytest.approx(2.0 + 2.484138, abs=1e-5)
    assert paired_interval([5.0]) == (5.0, None, None)


def noisy_pairs(shift: float, n: int = 10) -> tuple[list[dict[str, float]], list[dict[str, float]]]:
    rng = random.Random(7)
    base, variant = [], []
    for _ in range(n):
        common = rng.gauss(10.0, 2.0)  # common random numbers: both see the same noise ...
        base.append({"time_to_connect.all.mean_working_days": common + rng.gauss(0, 0.3), "on_time.case.share": 0.8})
        variant.append({"time_to_connect.all.mean_working_days": common - shift + rng.gauss(0, 0.3),
                        "on_time.case.share": 0.8})
    return base, variant


def test_a_clear_difference_is_significant_and_better() -> None:
    base, variant = noisy_pairs(shift=2.0)
    row = compare_flat(base, variant).row("time_to_connect.all.mean_working_days")
    assert row.significant and row.outcome == "better"
    assert row.ci_high is not None and row.ci_high < 0
    assert row.mean_difference == pytest.approx(row.variant_mean - row.base_mean)
    assert row.pairs == 10


def test_identical_scenarios_show_no_difference() -> None:
    base, _ = noisy_pairs(shift=0.0)
    comparison = compare_flat(base, [dict(b) for b in base])
    for row in comparison.rows:
        assert not row.significant and row.outcome == "no_difference" and row.mean_difference == 0.0


def test_noise_alone_is_not_significant() -> None:
    base, variant = noisy_pairs(shift=0.0)
    row = compare_flat(base, variant).row("time_to_connect.all.mean_working_days")
    assert row.ci_low is not None and row.ci_high is not None and row.ci_low < 0 < row.ci_high
    assert not row.significant


def test_a_worse_share_is_worse() -> None:
    base = [{"on_time.case.share": 0.9 + i / 100} for i in range(5)]
    variant = [{"on_time.case.share": 0.7 + i / 100 + (i % 2) / 200} for i in range(5)]
    row = compare_flat(base, variant).row("on_time.case.share")
    assert row.outcome == "worse" and row.direction == "higher"


def test_verdicts_in_chinese_and_english() -> None:
    base, variant = noisy_pairs(shift=2.0)
    comparison = compare_flat(base, variant)
    zh, en = comparison.verdicts_zh, comparison.verdicts_en
    assert zh[0].startswith("平均办电时长缩短 ") and "个工作日 (95% CI " in zh[0]
    assert en[0].startswith("Mean time to connect down by ") and "working days (95% CI" in en[0]
    assert zh[1].startswith("整体按期率（全流程时限）无显著变化")
    json.dumps(comparison.to_dict(), ensure_ascii=False, allow_nan=False)


def test_compare_from_logs_uses_the_kpis_of_each_replication() -> None:
    base = [scaled_log(1.0 + r / 50, seed=r) for r in range(4)]
    faster = [scaled_log(0.5 + r / 40, seed=r) for r in range(4)]
    comparison = compare(base, faster)
    assert comparison.row("cycle_time.all.mean_calendar_days").outcome == "better"
    assert comparison.row("utilisation.surveyor").outcome == "changed"
    assert comparison.to_dict()["replications"] == 4


def test_unpaired_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="same positive number"):
        compare_flat([{"a": 1.0}], [])


# -- utilisation: one figure (the load while cases arrive) in verdicts, tables and charts ---------------------------

POOLS = ("surveyor", "installer")
SHIFT_HOURS_PER_DAY = 8.0


def pool_log(seed: int, busy_hours: dict[str, float], arriving: dict[str, float], run_days: float) -> SimulationLog:
    """A replication whose pools worked ``busy_hours`` during a run of ``run_days`` days (one person per pool, eight
    hours a day on shift), with the load the engine measured from the start to the last arrival."""
    start = datetime(2026, 11, 2, tzinfo=TZ)
    pools = [PoolUsage(pool, 1, run_days * SHIFT_HOURS_PER_DAY * 3600, busy_hours[pool] * 3600) for pool in POOLS]
    return SimulationLog(scenario_name="pools", seed=seed, started_at=start,
                         ended_at=start + timedelta(days=run_days), pools=pools,
                         stats={"utilisation_while_arriving": dict(arriving)})


def same_work(longer_tail: bool) -> list[SimulationLog]:
    """Five replications of the same staff work; with ``longer_tail`` the runs go on 10–14 days longer (e.g. slower
    customers after the last staff step), which dilutes only the whole-run utilisation."""
    return [pool_log(r, {"surveyor": 60.0 + r, "installer": 40.0 + 2 * r},
                     {"surveyor": 0.55 + r / 100, "installer": 0.35 + r / 50}, 20.0 + (10 + r if longer_tail else 0))
            for r in range(5)]


def test_pools_with_identical_work_get_no_utilisation_verdict_when_only_the_run_length_differs() -> None:
    comparison = compare(same_work(longer_tail=False), same_work(longer_tail=True))
    for pool in POOLS:
        assert comparison.row(f"utilisation.{pool}").outcome == "changed"  # whole run: diluted by the tail …
        assert comparison.row(f"utilisation_while_arriving.{pool}").outcome == "no_difference"  # … not the load
    assert not [v for v in comparison.verdicts_zh if "利用率" in v]
    assert not [v for v in comparison.verdicts_en if "utilisation" in v]


def busier_surveyors() -> tuple[list[SimulationLog], list[SimulationLog]]:
    base = same_work(longer_tail=False)
    variant = [pool_log(r, {"surveyor": 75.0 + r, "installer": 40.0 + 2 * r},
                        {"surveyor": 0.65 + r / 100 + (r % 2) / 400, "installer": 0.35 + r / 50}, 30.0 + r)
               for r in range(5)]
    return base, variant


def test_the_utilisation_verdict_reads_the_figure_the_tables_and_charts_show() -> None:
    base, variant = busier_surveyors()
    comparison = compare(base, variant, names={"surveyor": "勘查人员"})
    row = comparison.row("utilisation_while_arriving.surveyor")
    assert row.outcome == "changed"
    [zh] = [v for v in comparison.verdicts_zh if "利用率" in v]
    [en] = [v for v in comparison.verdicts_en if "utilisation" in v]
    assert zh.startswith(f"勘查人员利用率（到达期间）提高 {row.mean_difference * 100:.1f} 个百分点 (95% CI ")
    assert en.startswith(f"Surveyor utilisation while cases arrive up by {row.mean_difference * 100:.1f} percentage")

    base_flat = mean_flat([flat_kpis(compute_kpis(log)) for log in base])
    variant_flat = mean_flat([flat_kpis(compute_kpis(log)) for log in variant])
    assert (base_flat["utilisation_while_arriving.surveyor"], variant_flat["utilisation_while_arriving.surveyor"]) \
        == pytest.approx((row.base_mean, row.variant_mean))

    # the web page: summary and comparison tables show the same figure and difference as the verdict
    stored = {"replications": 5, "comparison": comparison.to_dict(),
              "sides": {"base": {"flat": base_flat}, "variant": {"flat": variant_flat}}}
    page = build_report(stored)
    [summary] = [r for r in page.kpis if r.key.startswith("utilisation") and "surveyor" in r.key]
    assert summary.key == row.key
    assert (summary.base, summary.variant) == (f"{row.base_mean * 100:.1f}%", f"{row.variant_mean * 100:.1f}%")
    [compared] = [r for r in page.comparison if r.key.startswith("utilisation") and "surveyor" in r.key]
    assert compared.key == row.key and compared.difference == f"{row.mean_difference * 100:+,.2f} pp"
    assert "utilisation.surveyor" in {r.key for r in page.more}  # the whole-run figure: only in the full list

    # the web chart: the same means
    chart = utilisation_chart(stored["sides"])
    index = chart["pools"].index("surveyor")
    assert (chart["base"][index], chart["variant"][index]) == pytest.approx((row.base_mean, row.variant_mean))


def test_a_pool_without_the_load_while_arriving_falls_back_to_the_whole_run() -> None:
    base = [{"utilisation.archivist": 0.2 + r / 100} for r in range(4)]
    variant = [{"utilisation.archivist": 0.4 + r / 100 + (r % 2) / 300} for r in range(4)]
    comparison = compare_flat(base, variant)
    assert [v for v in comparison.verdicts_en if v.startswith("Archivist utilisation over the whole run up by")]
    assert pool_load_keys(["utilisation.archivist", "utilisation.surveyor", "utilisation_while_arriving.surveyor"]) \
        == {"archivist": "utilisation.archivist", "surveyor": "utilisation_while_arriving.surveyor"}


def test_the_cli_report_shows_the_verdicts_figure_in_its_main_table_and_chart() -> None:
    base, variant = busier_surveyors()
    comparison = compare(base, variant, names={"surveyor": "勘查人员"})
    row = comparison.row("utilisation_while_arriving.surveyor")
    result = BatchResult(seed=1, replications=5, cases=None, base_name="a",
                         base_kpis=[compute_kpis(log) for log in base], variant_name="b",
                         variant_kpis=[compute_kpis(log) for log in variant], comparison=comparison)
    html = render_html(result, {"surveyor": "勘查人员"})
    main_table = html.split("<h2>指标对比</h2>")[1].split("<details>")[0]
    assert "<td>勘查人员 利用率（到达期间）</td>" in main_table and "利用率（全程）" not in main_table
    chart = html.split("<h3>岗位利用率（到达期间）</h3>")[1].split("</svg>")[0]
    assert f"<title>基准方案 勘查人员: {row.base_mean * 100:.0f}%</title>" in chart
    assert f"<title>对比方案 勘查人员: {row.variant_mean * 100:.0f}%</title>" in chart


def test_the_web_queue_chart_puts_both_sides_on_one_day_axis() -> None:
    """The variant's queues are drawn beside the base's (the chart drew the base alone, on the base's days): the
    days of both sides up to the last day anything queued; a day a side has no figure for is None, not 0."""
    def series(*means: float, start: int = 1) -> list[dict[str, object]]:
        return [{"day": f"2027-03-{start + i:02d}", "mean": mean, "max": mean} for i, mean in enumerate(means)]

    sides = {"base": {"kpis": {"queues": {"surveyor": series(0.5, 1.0, 0.0, 0.0), "clerk": series(0, 0, 0, 0)}}},
             "variant": {"kpis": {"queues": {"surveyor": series(0.5, 2.0, 3.0, 1.0, 0.5, 0.0),
                                             "installer": series(0.0, 0.25, start=3)}}}}
    chart = queue_chart(sides)
    assert chart["pools"] == ["installer", "surveyor"]  # the clerks never queued
    assert chart["days"] == [f"2027-03-{day:02d}" for day in range(1, 6)]  # to the variant's last queue
    # the installers queued on the variant only: no base line, as the base draws it in a run of its own
    assert chart["base"] == {"surveyor": [0.5, 1.0, 0.0, 0.0, None]}
    assert chart["variant"] == {"installer": [None, None, 0.0, 0.25, None], "surveyor": [0.5, 2.0, 3.0, 1.0, 0.5]}
    assert queue_chart({"base": {"kpis": {"queues": {}}}}) == {"pools": [], "days": [], "base": {}}
    tail = {"base": {"kpis": {"queues": {"surveyor": series(2.0, 0.5, 0.0, 0.01, 0.0, 0.02)}}}}  # a stray waiter
    assert queue_chart(tail)["days"] == ["2027-03-01", "2027-03-02"]  # the chart ends with the real queue
    cli = queue_lines(BatchResult(seed=1, replications=1, cases=None, base_name="today",
                                  base_kpis=[tail["base"]["kpis"]]), {})
    assert [[day for day, _mean in points] for points, _colour, _dashed in cli.values()] == [
        ["2027-03-01", "2027-03-02"]]  # the CLI report's chart ends on the same day (it drew the stray waiters)


def test_the_web_on_time_chart_has_a_step_only_a_later_replication_ran() -> None:
    """The chart's steps came from replication 0's KPIs: a rare branch (督办) taken only in replication 2 was in the
    tables (the replications' mean) and missing from the chart."""
    def side(steps: dict[str, str], flat: dict[str, float]) -> dict[str, object]:
        return {"kpis": {"on_time": {"steps": {eid: {"activity": name} for eid, name in steps.items()}},
                         "queues": {}}, "flat": flat, "cycle_days": []}

    sides = {"base": side({"draft_plan": "编制供电方案"}, {"on_time.step.draft_plan.share": 0.9,
                                                      "on_time.step.escalate.share": 0.5,
                                                      "on_time.case.share": 0.8})}
    on_time = charts(sides, {"escalate": "督办"})["on_time_steps"]
    assert on_time == {"ids": ["draft_plan", "escalate"], "labels": ["编制供电方案", "督办"], "base": [0.9, 0.5]}
    assert charts(sides)["on_time_steps"]["labels"] == ["编制供电方案", "escalate"]  # no name known: the id


def test_a_step_one_side_never_ran_reads_dash_not_zero_in_the_cli_reports_chart() -> None:
    """督办 (no escalation in the base) read base "0%" on the on-time chart: no figure is not 0 % on time."""
    from runner.simulation.report import _keyed_series, bar_chart

    sides = {"base": {"on_time.step.review_plan.share": 1.0},
             "variant": {"on_time.step.review_plan.share": 0.95, "on_time.step.supervise_breach.share": 1.0}}
    steps, series = _keyed_series(sides, "on_time.step.", ".share")
    assert steps == ["review_plan", "supervise_breach"]
    assert series == {"base": [1.0, None], "variant": [0.95, 1.0]}
    svg = bar_chart("各环节按期率", steps, series, percent=True)
    assert "基准方案 supervise_breach: —" in svg or "supervise_breach: —" in svg
    assert ">0%<" not in svg and ">95%<" in svg
