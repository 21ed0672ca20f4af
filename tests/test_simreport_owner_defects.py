"""A new process owner's defects in the simulation result report (the run page and `baozhuang simulate --out`'s
report.html), fixed: work still waiting at the stop counts in a step's mean wait (a lower bound, marked †) so a
bottleneck whose queue never moved no longer looks idle; a KPI that one side only has is in the comparison (0 where
its absence means 0, else "—" without a difference); every negative number with a true minus sign; a run of its own
lists the same queue rows as within a comparison; a case's whole-case limit looked up once. Real components: the
engine through the CLI, the KPIs, the what-if, the CLI's report.html, the web page over HTTP."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from runner.cli import main
from runner.simulation import kpis as kpis_module
from runner.simulation.batch import BatchResult, mean_flat
from runner.simulation.kpis import compute_kpis, flat_kpis, on_time_kpis, queued_pools
from runner.simulation.model import OpenStep, PoolUsage, QueueSample, SimActivity, SimCase, SimulationLog
from runner.simulation.report import (
    WAITING_OPEN_NOTE,
    difference_text,
    queue_lines,
    render_html,
    value_text,
)
from runner.simulation.run_execute import heatmap, queue_chart
from runner.simulation.whatif import HEADLINES, MINUS, compare_flat, true_minus, verdict
from runner.workdays import WorkingCalendar
from tests.conftest import PROCESSES
from tests.simulation_fixtures import at, holiday_log
from tests.test_simreport_trial_fixes import store_result
from tests.webui_helpers import (
    Web,
    web_fixture,  # noqa: F401  (the web fixture)
)

SCENARIOS = PROCESSES / "scenarios"
TODAY = SCENARIOS / "today.yaml"
WHAT_IF = SCENARIOS / "fewer_surveyors_parallel_review.yaml"
SURVEY_WAIT = "waiting.site_survey.mean_hours"
BREACH_ON_TIME = "on_time.step.supervise_breach.share"


def survey_log(seed: int = 1, *, escalated: bool = False) -> SimulationLog:
    """A run stopped on 11-20 09:00. Case A's survey waited 2 h and was done; case B's became ready on 11-19 09:00
    and was still in the surveyors' queue at the stop (waited 24 h so far); case C's was started after 5 h and was
    being worked on at the stop; case D waited on the customer (no wait). B, C and D arrived on 11-10.
    ``escalated``: A's survey was escalated (督办, a step of its own, 1 h wait) and the supervisor queued for it;
    the pools cost less."""
    start, end = at("2026-11-02", 0), at("2026-11-20")
    cases = [SimCase("A", "lv_other", start, at("2026-11-04"), {}, [], None, int(escalated))]
    cases += [SimCase(case_id, "lv_other", at("2026-11-10"), None, {}, [], None, 0) for case_id in ("B", "C", "D")]
    activities = [SimActivity("A", "site_survey", "现场勘查", "user", "surveyor", "surveyor#1", at("2026-11-02", 9),
                              at("2026-11-02", 11), at("2026-11-02", 13))]
    queues = [QueueSample(at("2026-11-19"), "surveyor", 1)]
    if escalated:
        activities.append(SimActivity("A", "supervise_breach", "督办", "user", "supervisor", "supervisor#1",
                                      at("2026-11-03", 9), at("2026-11-03", 10), at("2026-11-03", 11),
                                      at("2026-11-04")))
        queues += [QueueSample(at("2026-11-03", 9), "supervisor", 1),
                   QueueSample(at("2026-11-03", 10), "supervisor", 0)]
    open_steps = [OpenStep("B", "site_survey", "现场勘查", "user", "surveyor", at("2026-11-19"), None),
                  OpenStep("C", "site_survey", "现场勘查", "user", "surveyor", at("2026-11-18"),
                           at("2026-11-18", 14)),
                  OpenStep("D", "supply_materials", "提交资料", "customer", "customer", at("2026-11-19"), None)]
    pools = [PoolUsage("surveyor", 2, 100.0, 50.0, 100.0), PoolUsage("supervisor", 1, 100.0, 1.0, 160.0)]
    costs = {"surveyor": 80.0 if escalated else 100.0, "supervisor": 2.0 if escalated else 0.0}
    return SimulationLog("survey", seed, start, end, cases=cases, activities=activities, pools=pools,
                         queues=queues, costs=costs, open_steps=open_steps)


# -- 1. work still waiting at the stop counts in a step's mean wait ---------------------------------------------------


def test_work_still_waiting_at_the_stop_counts_up_to_the_stop_and_is_marked() -> None:
    activities = compute_kpis(survey_log(), WorkingCalendar.default())["activities"]
    survey = activities["site_survey"]
    # done: 2 h; still queued: 24 h so far (a lower bound); started at the stop: its 5 h wait is known
    assert survey["mean_waiting_hours"] == pytest.approx((2 + 24 + 5) / 3)
    assert (survey["count"], survey["waiting_count"], survey["waiting_open"]) == (1, 3, 1)
    assert survey["mean_processing_hours"] == pytest.approx(2.0)  # processing: completed instances only
    # a step that only ever waited at the stop has its figure too (the customer's: no wait, not censored)
    assert activities["supply_materials"] == {
        "activity": "提交资料", "kind": "customer", "lane": "customer", "count": 0, "cancelled": 0,
        "mean_waiting_hours": 0.0, "mean_processing_hours": None, "waiting_count": 1, "waiting_open": 0}


def test_a_bottleneck_whose_queue_never_moved_has_a_wait_in_the_heat_map_and_the_full_list() -> None:
    """The trial: with 现场勘查 at a 5,000 h mean, the cases queued in front of it never started, and the step
    showed no wait at all. One replication without any done survey: the heat map has it, marked, and shows the
    figure of the flat KPIs (the mean over the replications of each one's mean)."""
    stuck = survey_log()
    stuck.activities = []
    replications = [compute_kpis(log, WorkingCalendar.default()) for log in (stuck, survey_log(2))]
    heat = heatmap(replications)["site_survey"]
    assert heat["mean_waiting_hours"] == pytest.approx(mean_flat([flat_kpis(k) for k in replications])[SURVEY_WAIT])
    assert heat["mean_waiting_hours"] == pytest.approx(((24 + 5) / 2 + (2 + 24 + 5) / 3) / 2)
    assert (heat["count"], heat["open"]) == (5, 2)


def slow_survey(tmp_path: Path) -> Path:
    scenario = tmp_path / "slow_survey.yaml"
    scenario.write_text(f"extends: {TODAY}\nname: slow_survey\ndurations:\n"
                        "  site_survey: {distribution: lognormal, mean: 5000, sd: 1.5}\n", encoding="utf-8")
    return scenario


def simulate(*args: str) -> None:
    result = CliRunner().invoke(main, ["simulate", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr


def test_the_trials_slow_survey_shows_its_wait_marked_in_the_cli_report(tmp_path: Path) -> None:
    out = tmp_path / "out"
    simulate(str(TODAY), "--compare", str(slow_survey(tmp_path)), "--cases", "40", "--replications", "2",
             "--seed", "3", "--out", str(out))
    document = json.loads((out / "kpis.json").read_text(encoding="utf-8"))
    surveys = [replication["activities"]["site_survey"] for replication in document["variant"]["replications"]]
    assert all(survey["waiting_open"] > 0 for survey in surveys), surveys
    comparison = json.loads((out / "comparison.json").read_text(encoding="utf-8"))
    keys = [row["key"] for row in comparison["kpis"]]
    # every KPI either side has is compared or shown one-sided: none is dropped
    assert set(keys) == set(document["base"]["mean"]) | set(document["variant"]["mean"])
    survey_row = next(row for row in comparison["kpis"] if row["key"] == SURVEY_WAIT)
    assert survey_row["variant_mean"] == pytest.approx(document["variant"]["mean"][SURVEY_WAIT])
    page = html.unescape((out / "report.html").read_text(encoding="utf-8"))
    title = re.search(r'<td title="([^"]*)">现场勘查 平均等待（日历小时） †</td>', page)
    assert title is not None
    still = sum(survey["waiting_open"] for survey in surveys)
    assert f"基准方案 0 件、对比方案 {still} 件" in title.group(1) and "实际等待至少为此值" in title.group(1)
    assert WAITING_OPEN_NOTE in page
    # 3. no hyphen-minus before a figure anywhere in the tables or the verdicts, the JSON keeps numbers
    assert not re.search(r"(?<![\w.\-])-\d", page.split("<h2>图表</h2>")[0]), re.findall(r".{30}-\d.{10}", page)
    assert MINUS in page and isinstance(survey_row["mean_difference"], float)


# -- 2. a KPI one side only has ---------------------------------------------------------------------------------------


def test_a_kpi_one_side_lacks_is_zero_when_absence_means_zero_else_one_sided() -> None:
    base = [{"cost.per_case": 10.0, "queue.supervisor.max_length": 1.0, "waiting.x.mean_hours": 3.0}
            for _ in range(3)]
    variant = [{"cost.per_case": 9.0 + r, "escalations.total": 2.0 + r, "queue.supervisor.max_length": 1.0,
                BREACH_ON_TIME: 0.5, "waiting.supervise_breach.mean_hours": 4.0 + r} for r in range(3)]
    comparison = compare_flat(base, variant)
    escalations = comparison.row("escalations.total")  # the base had no 督办: 0 of them
    assert (escalations.base_mean, escalations.variant_mean, escalations.pairs) == (0.0, 3.0, 3)
    assert escalations.mean_difference == pytest.approx(3.0) and escalations.outcome == "worse"
    for key, base_mean, variant_mean in ((BREACH_ON_TIME, None, 0.5), ("waiting.supervise_breach.mean_hours", None,
                                                                        5.0), ("waiting.x.mean_hours", 3.0, None)):
        row = comparison.row(key)  # undefined where absent: the one value, no difference
        assert (row.base_mean, row.variant_mean, row.mean_difference, row.ci_low, row.ci_high) == (
            base_mean, pytest.approx(variant_mean) if variant_mean is not None else None, None, None, None), row
        assert (row.outcome, row.pairs, row.significant, row.material) == ("one_sided", 0, False, False)
    assert json.loads(json.dumps(comparison.to_dict()))["kpis"][0]["key"] == "cost.per_case"
    result = BatchResult(seed=1, replications=3, cases=None, base_name="a", base_kpis=[], variant_name="b",
                         comparison=comparison)
    page = html.unescape(render_html(result, {"supervise_breach": "督办"}))
    assert "<tr class=one_sided><td>督办 按期率</td><td>—</td><td>50.0%</td><td>—</td><td>—</td>" \
           "<td>仅一方有此指标</td></tr>" in page
    assert "“仅一方有此指标”" in page


def test_a_one_sided_headline_says_which_side_has_it() -> None:
    comparison = compare_flat([{"cost.per_case": 1.0}] * 2, [{"time_to_connect.all.mean_working_days": 9.0}] * 2)
    zh, en = verdict(comparison.row("time_to_connect.all.mean_working_days"),
                     HEADLINES["time_to_connect.all.mean_working_days"])
    assert zh == "平均办电时长：仅对比方案有此指标，无法比较"
    assert en == "Mean time to connect: only the variant has this figure; not compared"
    assert zh in comparison.verdicts_zh


def compared_sides() -> tuple[list[SimulationLog], list[SimulationLog]]:
    return [survey_log(seed) for seed in (1, 2, 3)], [survey_log(seed, escalated=True) for seed in (1, 2, 3)]


def side(logs: list[SimulationLog]) -> dict[str, Any]:
    kpis = [compute_kpis(log, WorkingCalendar.default()) for log in logs]
    return {"scenario": "x", "kpis": kpis[0], "flat": mean_flat([flat_kpis(k) for k in kpis]),
            "cases_arrived": [k["cycle_time"]["all"]["arrived"] for k in kpis], "heatmap": heatmap(kpis)}


def test_the_run_page_marks_open_waits_shows_one_sided_kpis_and_true_minus_signs(web: Web) -> None:
    base, variant = compared_sides()
    comparison = compare_flat([flat_kpis(compute_kpis(log)) for log in base],
                              [flat_kpis(compute_kpis(log)) for log in variant]).to_dict()
    comparison["verdicts"]["zh"] = ["平均办电时长无显著变化 (差值 -1.5 个工作日, 95% CI [−3.3, 0.3])"]  # stored so
    run_id = store_result(web, {"replications": 3, "seed": 1, "cases": None,
                                "sides": {"base": side(base), "variant": side(variant)},
                                "comparison": json.loads(json.dumps(comparison))})
    client = web.client("process_owner")
    body = html.unescape(client.get(f"/simulation/{run_id}").get_data(as_text=True))
    table = body.split('<table class="sim-waiting">')[1].split("</table>")[0]
    assert re.search(r'现场勘查</th><td class="sim-censored" title="含截至仿真结束仍在等待的工作 3 件（各次重复合计），'
                     r'实际等待至少为此值">10\.3 †</td>', table), table
    assert 'id="sim-waiting-open-note"' in body and "† 含截至仿真结束仍在等待的工作，实际等待至少为此值" in body
    assert 'data-open-label="† 含截至仿真结束仍在等待的工作' in body  # the heat map's badges say it too
    full = body.split('<details class="sim-more">')[1].split("</details>")[0]
    assert re.search(r'title="含截至仿真结束仍在等待的工作（各次重复合计：基准方案 3 件、对比方案 3 件），'
                     r'实际等待至少为此值">现场勘查 平均等待（日历小时） †</th><td>10\.33</td><td>10\.33</td>',
                     full), full
    assert 'id="sim-compared-waiting-open-note"' in full
    assert re.search(r"<th scope=\"row\">督办 按期率</th><td>—</td><td>100\.0%</td><td>—</td>\s*<td>—</td>"
                     r"<td>仅一方有此指标</td>", full), full
    assert 'id="sim-one-sided-note"' in body
    assert re.search(r"营销主管 最长排队（件，全程）</th><td>0\.00</td><td>1\.00</td><td>\+1\.00</td>", full), full
    assert re.search(r"勘查人员 工作量成本（元）</th><td>100\.00</td><td>80\.00</td><td>−20\.00</td>", full), full
    assert "(差值 −1.5 个工作日, 95% CI [−3.3, 0.3])" in body  # a verdict stored before: shown with the true sign
    assert not re.search(r"<td>-\d", body)
    client.get("/auth/language/en")
    english = html.unescape(client.get(f"/simulation/{run_id}").get_data(as_text=True))
    assert "Includes 3 tasks still waiting when the simulation stopped" in english
    assert "One side only" in english and "the real mean wait is at least this" in english


# -- 3. negative numbers ----------------------------------------------------------------------------------------------


def test_differences_and_values_carry_a_true_minus_sign() -> None:
    assert difference_text("cost.per_case", -3.3) == "−3.30"
    assert difference_text("cost.per_case", -11000) == "−11,000.00"
    assert difference_text("on_time.case.share", -0.1456) == "−14.56 pp"
    assert difference_text("cost.per_case", 3.3) == "+3.30"
    # a tiny difference keeps its sign (which way it went), a true one
    assert difference_text("cost.per_case", -0.001) == "−0.00" and difference_text("cost.per_case", 0.001) == "+0.00"
    assert difference_text("cost.per_case", None) == "—"
    assert value_text("cost.per_case", -2.5) == "−2.50" and value_text("cost.per_case", -0.001) == "0.00"
    assert true_minus("差值 -1.5 个工作日 (95% CI [-3.3, 0.0]) P50-P90 2026-11-02 -0.0") == \
        "差值 −1.5 个工作日 (95% CI [−3.3, 0.0]) P50-P90 2026-11-02 −0.0"


# -- 4. the same queue rows alone and compared ------------------------------------------------------------------------


def test_a_pool_no_task_reached_has_a_queue_of_zero() -> None:
    """The supervisor has no queue sample without any 督办: its queue rows were missing from a run of its own and
    there in a comparison with a side that escalated."""
    kpis = compute_kpis(survey_log(), WorkingCalendar.default())
    assert sorted(kpis["queues"]) == ["supervisor", "surveyor"]
    assert all(day["max"] == 0 and day["mean"] == 0 for day in kpis["queues"]["supervisor"])
    flat = flat_kpis(kpis)
    assert flat["queue.supervisor.max_length"] == 0.0 and flat["queue.supervisor.mean_length_while_arriving"] == 0.0
    assert queued_pools(kpis["queues"]) == ["surveyor"]


def test_a_side_draws_the_same_queue_lines_alone_and_compared() -> None:
    base, variant = compared_sides()
    alone = BatchResult(seed=1, replications=3, cases=None, base_name="a",
                        base_kpis=[compute_kpis(log) for log in base])
    both = BatchResult(seed=1, replications=3, cases=None, base_name="a", base_kpis=alone.base_kpis,
                       variant_name="b", variant_kpis=[compute_kpis(log) for log in variant])
    base_lines = [name for name in queue_lines(both, {}) if name.startswith("基准方案")]
    assert list(queue_lines(alone, {})) == base_lines == ["基准方案·勘查人员"]
    assert [name for name in queue_lines(both, {}) if name.startswith("对比方案")] == ["对比方案·营销主管",
                                                                                       "对比方案·勘查人员"]
    stored = {"base": side(base)}
    chart_alone, chart_both = queue_chart(stored), queue_chart({**stored, "variant": side(variant)})
    assert chart_alone["base"] == chart_both["base"] and list(chart_both["base"]) == ["surveyor"]
    assert chart_both["pools"] == ["supervisor", "surveyor"] and list(chart_both["variant"]) == chart_both["pools"]


def test_todays_run_lists_the_same_queue_rows_alone_and_compared(tmp_path: Path) -> None:
    """The trial: the same scenario and seed listed fewer queue rows alone than as the base of a comparison."""
    alone, compared = tmp_path / "alone", tmp_path / "compared"
    simulate(str(TODAY), "--cases", "40", "--seed", "5", "--out", str(alone))
    simulate(str(TODAY), "--compare", str(WHAT_IF), "--cases", "40", "--seed", "5", "--out", str(compared))
    documents = [json.loads((out / "kpis.json").read_text(encoding="utf-8")) for out in (alone, compared)]
    assert documents[0]["base"]["replications"] == documents[1]["base"]["replications"]
    pools = {key for key in documents[0]["base"]["mean"] if key.startswith("queue.")}
    assert pools == {key for key in documents[1]["variant"]["mean"] if key.startswith("queue.")}
    assert {key.split(".")[1] for key in pools} == set(documents[0]["base"]["replications"][0]["pools"])

    def base_lines(out: Path) -> list[str]:
        page = html.unescape((out / "report.html").read_text(encoding="utf-8"))
        chart = page.split("<h3>排队长度")[1]
        return re.findall(r"class=small>(基准方案·[^<]*)</text>", chart)

    assert base_lines(alone) == base_lines(compared) and base_lines(alone)


# -- 5. the whole-case limit looked up once ---------------------------------------------------------------------------


def test_each_cases_limit_is_looked_up_once(monkeypatch: pytest.MonkeyPatch) -> None:
    log = holiday_log()
    calls: list[str] = []
    deadline = kpis_module.case_deadline

    def counted(case: SimCase, *args: Any) -> Any:
        calls.append(case.case_id)
        return deadline(case, *args)

    expected = on_time_kpis(log, WorkingCalendar.default(), {"hv_ordinary": 8})
    monkeypatch.setattr(kpis_module, "case_deadline", counted)
    assert on_time_kpis(log, WorkingCalendar.default(), {"hv_ordinary": 8}) == expected
    assert sorted(calls) == sorted(case.case_id for case in log.cases)
