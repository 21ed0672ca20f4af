"""A process owner's what-if, read as a new user would (issue 5, review of 2026-11-27 night): the shipped variant
differs from today only where it says (the plan review), so the steps before the plan stage happen alike in both;
and no value or interval end reads ``-0.00`` / ``95% CI -0.0–0.1`` (a tiny negative rounded away) on the run page,
in report.html or in a verdict (a difference keeps its sign: ``-0.00`` says which way it went). Real HTTP through
the Flask test client, the real CLI through click's runner, the real engine."""

from __future__ import annotations

import csv
import html
import json
import re
from collections import Counter
from pathlib import Path

from click.testing import CliRunner

from runner.cli import main
from runner.simulation.report import difference_text, interval_text, value_text
from runner.simulation.whatif import HEADLINES, KpiComparison, verdict
from tests.conftest import PROCESSES
from tests.test_webui_simulation import form_for, run_worker_step, stored
from tests.webui_helpers import (
    Web,
    text_of,
    web_fixture,  # noqa: F401  (the web fixture)
)

TODAY = PROCESSES / "scenarios" / "today.yaml"
WHAT_IF = PROCESSES / "scenarios" / "fewer_surveyors_parallel_review.yaml"
NEGATIVE_ZERO = re.compile(r"(?<![\d.,])-0(?:[.,]0+)?(?![\d.,]*[1-9])")
# an interval's low end (tables: "low … high"; verdicts: "95% CI low–high"), or its high end, at negative zero
ZERO_BOUND = re.compile(r"(?:(?<![\d.,])-0(?:[.,]0+)?(?:%| pp)? …|… -0(?:[.,]0+)?(?![\d.,]*[1-9])"
                        r"|CI -0(?:[.,]0+)?–|–-0(?:[.,]0+)?(?![\d.,]*[1-9])"
                        r"|\[[-−]0(?:\.0+)?,|, [-−]0(?:\.0+)?\])")  # the old "a … b", "a–b" and "[a, b]" forms
# steps a case passes before the plan stage (供电方案答复): the variant must not change them
BEFORE_THE_PLAN = ("accept_application", "supply_materials", "submit_property_proof", "verify_property_proof",
                   "refuse_acceptance", "supervise_breach")


def _steps(path: Path) -> Counter[str]:
    with path.open(encoding="utf-8", newline="") as handle:
        return Counter(row["element_id"] for row in csv.DictReader(handle)
                       if row["element_id"] in BEFORE_THE_PLAN)


def test_the_shipped_variant_changes_nothing_before_the_plan_review(tmp_path: Path) -> None:
    # common random numbers: the same applications and answers on both sides, so 受理, 一证受理 and 补交产权证明
    # happen alike; a stale copy of the model sent every variant case through 补交产权证明 (60 of 60 against 1)
    result = CliRunner().invoke(main, ["simulate", str(TODAY), "--compare", str(WHAT_IF), "--cases", "40",
                                       "--replications", "1", "--seed", "20261126", "--out", str(tmp_path)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    base, variant = _steps(tmp_path / "event_log.csv"), _steps(tmp_path / "variant_event_log.csv")
    assert base["accept_application"] >= 40
    assert variant == base, (base, variant)


def test_tiny_negatives_read_as_zero_in_tables_and_verdicts() -> None:
    assert value_text("cost.per_case", -0.0004) == "0.00"
    assert value_text("utilisation_while_arriving.surveyor", -0.0001) == "0.0%"
    assert difference_text("cycle_time.all.mean_working_days", -0.001) == "−0.00"  # a difference keeps its sign
    assert interval_text("queue.surveyor.mean_length_while_arriving", -0.0001, 0.002).text == "[0.00, 0.00]"
    assert interval_text("on_time.case.share", -0.00001, 0.3).text == "[0.00, 30.00] pp"
    assert interval_text("cost.per_case", -1.5, 2).text == "[−1.50, 2.00]"
    row = KpiComparison(key="time_to_connect.all.p90_working_days", direction="lower", pairs=5, base_mean=14.04,
                        variant_mean=14.06, mean_difference=0.02, ci_low=-0.04, ci_high=0.08, significant=False,
                        outcome="no_difference")
    zh, en = verdict(row, HEADLINES[row.key])
    assert "95% CI [0.0, 0.1]" in zh and "95% CI [0.0, 0.1]" in en, (zh, en)  # was "95% CI -0.0–0.1"
    assert not ZERO_BOUND.search(zh) and not ZERO_BOUND.search(en)
    wide = KpiComparison(**{**row.__dict__, "ci_low": -0.4})
    assert "95% CI [−0.4, 0.1]" in verdict(wide, HEADLINES[row.key])[0]


def test_the_run_page_and_report_html_show_no_negative_zero(web: Web, tmp_path: Path) -> None:
    client = web.client("process_owner")
    form = form_for(cases="20", replications="3", seed="7", variant_process="variant:parallel_plan_review",
                    **{"variant.pools.surveyor.count": "2"})
    assert client.post("/simulation/new", form).status_code == 302
    [run] = stored(web)
    outcome = run_worker_step(web, tmp_path / "runs")
    assert outcome is not None and outcome.outcome == "done", outcome
    rows = json.loads(client.get(f"/simulation/{run.id}/result.json").get_data(as_text=True))["comparison"]["kpis"]
    tiny = [(row["key"], name) for row in rows for name in ("mean_difference", "ci_low", "ci_high")
            if row.get(name) is not None and -0.005 < row[name] < 0]
    assert tiny  # the run has figures that used to read -0.00
    for language in ("zh_CN", "en"):
        client.get(f"/auth/language/{language}")
        text = text_of(client.get(f"/simulation/{run.id}"))
        assert ("关键指标" if language == "zh_CN" else "Key figures") in text
        # the KPI labels read alike: "All: time to connect, Mean (working days)" beside the whole case duration
        labels = (("全部 全流程时长 平均（工作日）", "全部 环节全部按期案件占比") if language == "zh_CN" else
                  ("All: whole case duration, Mean (working days)", "All: share of cases with every step on time"))
        assert all(name in text for name in labels), labels
        found = ZERO_BOUND.search(text)
        assert found is None, text[max(0, found.start() - 120):found.end() + 40]
    result = CliRunner().invoke(main, ["simulate", str(TODAY), "--compare", str(WHAT_IF), "--cases", "20",
                                       "--replications", "3", "--seed", "7", "--out", str(tmp_path / "cli")],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    page = html.unescape((tmp_path / "cli" / "report.html").read_text(encoding="utf-8"))
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", page) + re.findall(r"<li>([^<]*)</li>", page)
    assert not [cell for cell in cells if ZERO_BOUND.search(cell)]
    rows = re.findall(r"<tr class=\w+>(.*?)</tr>", page)
    values = [re.findall(r"<td[^>]*>([^<]*)</td>", row)[1:3] for row in rows]  # base and variant values
    assert not [value for pair in values for value in pair if NEGATIVE_ZERO.fullmatch(value.rstrip("%"))]


def test_scenario_problems_in_the_english_editor_use_english_punctuation(web: Web) -> None:
    client = web.client("process_owner")
    raw = ("name: typo\nstart: \"2026-11-02\"\nhorizon_days: 10\narrivals:\n  lv_residential: {per_working_day: 6}\n"
           "calendars:\n  office: {working_days: cn, shifts: []}\n"
           "pools:\n  surveyor: {count: 2, calender: office}\n")
    form = {**form_for(), "mode": "raw", "scenario_raw": raw, "variant_raw": ""}
    for language, colon in (("en", ": "), ("zh_CN", "：")):
        client.get(f"/auth/language/{language}")
        response = client.post("/simulation/new", form)
        assert response.status_code == 400
        body = response.get_data(as_text=True)
        editor = re.findall(r'<p class="field-error"><code>([^<]+)</code>([^<]*)</p>', body)
        unknown = "Unknown key calender." if language == "en" else "未知的键 calender。"
        assert ("pools.surveyor.calender", f"{colon}{unknown}") in editor, editor
        help_text = text_of(response)
        if language == "en":
            assert not [text for _, text in editor if "：" in text or "。" in text], editor
            assert re.search(r"scenario\.schema\.json ?\. The process", help_text), help_text
