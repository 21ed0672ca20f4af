"""How the simulation's results and the new-run form read to a new process owner (issue 5 review): the CLI's
report.html formats numbers as the web page does, a what-if template loads as a comparison with today, the form's
error summary names every problem by the field's label, few replications and impossible share intervals are said
so, step hours are calendar hours, and staff are listed in process order by their role names. Real HTTP through the
Flask test client, the real CLI through click's runner, the real engine."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from runner.cli import main
from runner.roles import ROLE_NAMES
from runner.simulation.report import interval_text, value_text
from runner.simulation.run_request import scenario_templates
from runner.simulation.whatif import HEADLINES, KpiComparison, verdict, verdicts
from tests.conftest import PROCESSES
from tests.test_webui_simulation import form_for, run_worker_step, stored
from tests.webui_helpers import (
    Web,
    text_of,
    web_fixture,  # noqa: F401  (the web fixture)
)

SCENARIOS = PROCESSES / "scenarios"
TODAY = SCENARIOS / "today.yaml"
WHAT_IF = SCENARIOS / "fewer_surveyors_parallel_review.yaml"
SCIENTIFIC = re.compile(r"\d(?:\.\d+)?e[+-]\d\d")


# -- 1. the CLI's report.html -----------------------------------------------------------------------------------------


def test_the_cli_report_formats_numbers_like_the_web_page_and_names_pools_by_role(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["simulate", str(TODAY), "--compare", str(WHAT_IF), "--cases", "6",
                                       "--replications", "2", "--seed", "7", "--out", str(tmp_path)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    page = html.unescape((tmp_path / "report.html").read_text(encoding="utf-8"))
    assert not SCIENTIFIC.search(page), SCIENTIFIC.search(page)
    rows = {cells[0]: cells[1:] for cells in (re.findall(r"<td[^>]*>(.*?)</td>", row)
                                              for row in re.findall(r"<tr class=\w+>(.*?)</tr>", page))}
    cost = rows["单户人员成本（在岗）（元）"]
    assert re.fullmatch(r"\d{1,3}(,\d{3})*\.\d\d", cost[0]), cost  # thousands separators, two decimals
    assert re.fullmatch(r"[+−]\d{1,3}(,\d{3})*\.\d\d", cost[2]), cost  # a true minus sign, as the intervals
    load = rows["勘查人员 利用率（到达期间）"]  # the role name, as the web page says it (not the lane's 勘查)
    assert re.fullmatch(r"\d+\.\d%", load[0]) and re.fullmatch(r"[+−]\d+\.\d\d pp", load[2]), load
    assert re.fullmatch(r"\d+\.\d%", rows["全部 办结率"][0])
    chart = page.split("<h3>岗位利用率（到达期间）</h3>")[1].split("<h3>")[0]
    labels = set(re.findall(r'text-anchor="end">([^<]+)</text>', chart))
    assert {"勘查人员", "检验人员"} <= labels <= set(ROLE_NAMES.values()), labels
    # two replications: the intervals are wide, and the page says so; step hours are calendar hours
    assert "重复次数较少（2 次）" in page and "建议至少 5–10 次重复" in page
    assert "现场勘查 平均等待（日历小时）" in page and "含班次之间的夜间、周末与节假日" in page


def test_a_share_interval_beyond_what_is_possible_is_clipped_and_marked() -> None:
    key = "utilisation_while_arriving.surveyor"
    wide = interval_text(key, -1.2001, 1.4914)
    assert (wide.text, wide.computed) == ("[−100.00, 100.00] pp", "[−120.01, 149.14] pp")
    narrow = interval_text(key, -0.05, 0.1)
    assert (narrow.text, narrow.clipped) == ("[−5.00, 10.00] pp", False)
    assert interval_text("cost.per_case", -12000.5, 3.25).text == "[−12,000.50, 3.25]"  # only shares are bounded
    assert value_text("cost.paid.per_case", 1195.3312) == "1,195.33" and value_text(key, 0.4851) == "48.5%"
    row = KpiComparison(key="on_time.case.share", direction="higher", pairs=2, base_mean=0.5, variant_mean=0.6,
                        mean_difference=0.1, ci_low=-1.3, ci_high=1.5, significant=False, outcome="no_difference")
    zh, en = verdict(row, HEADLINES["on_time.case.share"])
    assert "95% CI [−100.0, 100.0]，区间已截断至可能范围" in zh and "clipped to the possible range" in en
    assert "区间已截断" not in verdict(KpiComparison(**{**row.__dict__, "ci_low": -0.5, "ci_high": 0.7}),
                                   HEADLINES["on_time.case.share"])[0]
    load = KpiComparison(key="utilisation_while_arriving.surveyor", direction="neutral", pairs=5, base_mean=0.4,
                         variant_mean=0.55, mean_difference=0.15, ci_low=0.1, ci_high=0.2, significant=True,
                         outcome="changed")
    [zh] = verdicts([load], {"surveyor": "勘查"})[0]  # the CLI passes lane names: the role name wins
    assert zh.startswith("勘查人员利用率（到达期间）提高 15.0 个百分点"), zh


# -- 2. a what-if template loads as a comparison ----------------------------------------------------------------------


class FormReader(HTMLParser):
    """The values a browser would submit from the page's new-run form (inputs, selected options, textareas)."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, str] = {}
        self.in_form = False
        self.select: str | None = None
        self.textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.in_form = attributes.get("method") == "post"
        if not self.in_form:
            return
        name = attributes.get("name")
        if tag == "input" and name and (attributes.get("type") != "radio" or "checked" in attributes):
            self.values[name] = attributes.get("value", "")
        elif tag == "select":
            self.select = name
        elif tag == "option" and self.select and ("selected" in attributes or self.select not in self.values):
            self.values[self.select] = attributes.get("value", "")
        elif tag == "textarea" and name:
            self.textarea, self.values[name] = name, ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.in_form = False
        self.select = None if tag == "select" else self.select
        self.textarea = None if tag == "textarea" else self.textarea

    def handle_data(self, data: str) -> None:
        if self.textarea:
            self.values[self.textarea] += data


def form_of(page: str) -> dict[str, str]:
    reader = FormReader()
    reader.feed(page)
    return {key: value for key, value in reader.values.items() if key != "csrf_token"}


def test_a_what_if_template_loads_as_a_comparison_with_its_parent_ready_to_run(web: Web) -> None:
    client = web.client("process_owner")
    response = client.get("/simulation/new?template=fewer_surveyors_parallel_review")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    form = form_of(page)
    today = scenario_templates()["today"]
    assert form["template"] == "today" and form["loaded"] == "fewer_surveyors_parallel_review"
    today_process = f"version:{web.db.version_id}"  # the current version: processes/ holds the same files
    assert (form["base_process"], form["variant_process"]) == (today_process, "variant:parallel_plan_review")
    assert form["mode"] == "form" and form["name"] == "fewer_surveyors_parallel_review"
    assert form["pools.surveyor.count"] == str(today["pools"]["surveyor"]["count"])
    assert form["variant.pools.surveyor.count"] == "2"  # the what-if's own staff count
    assert form["variant.pools.inspector.count"] == ""  # as the base
    assert "已载入假设场景 fewer_surveyors_parallel_review：基准方案为它继承的模板 today" in text_of(response)
    assert '<option value="fewer_surveyors_parallel_review" selected>' in page  # the template chooser keeps it

    created = client.post("/simulation/new", {**form, "cases": "20"})  # submitted as loaded
    assert created.status_code == 302, text_of(created)[:2000]
    [run] = stored(web)
    base, variant = run.params["base"], run.params["variant"]
    assert (base["process"], variant["process"]) == (today_process, "variant:parallel_plan_review")
    assert base["scenario"]["pools"]["surveyor"]["count"] == today["pools"]["surveyor"]["count"]
    assert variant["scenario"]["pools"]["surveyor"]["count"] == 2
    assert {k: v for k, v in variant["scenario"].items() if k != "pools"} == \
        {k: v for k, v in base["scenario"].items() if k != "pools"}


def test_a_what_if_changing_more_than_staff_loads_both_scenarios_in_the_editor(web: Web, tmp_path: Path,
                                                                               monkeypatch: Any) -> None:
    from runner.simulation import run_processes, run_request
    from webui.simulation import form as form_module

    folder = tmp_path / "scenarios"
    folder.mkdir()
    (folder / "today.yaml").write_text(TODAY.read_text(encoding="utf-8").replace("process: ..", f"process: "
                                                                               f"{PROCESSES}").replace(
        "samples: ../samples", f"samples: {PROCESSES / 'samples'}"), encoding="utf-8")
    (folder / "slower_survey.yaml").write_text(
        "extends: today.yaml\nname: slower_survey\n"
        "durations:\n  site_survey: {distribution: lognormal, mean: 6, sd: 2}\n", encoding="utf-8")
    monkeypatch.setattr(run_request, "SCENARIOS", folder)
    monkeypatch.setattr(run_processes, "SCENARIOS", folder)
    monkeypatch.setattr(form_module, "SCENARIOS", folder)
    original = run_request.scenario_templates
    monkeypatch.setattr(run_request, "scenario_templates", lambda folder_=folder: original(folder_))
    original_process = run_request.template_process
    monkeypatch.setattr(run_request, "template_process", lambda name, folder_=folder: original_process(name, folder_))
    client = web.client("process_owner")
    response = client.get("/simulation/new?template=slower_survey")
    assert response.status_code == 200
    form = form_of(response.get_data(as_text=True))
    assert form["mode"] == "raw" and form["template"] == "today"
    assert '"mean": 6' in form["variant_raw"] and '"mean": 4' in form["scenario_raw"]
    assert form["variant_process"] == "folder"  # the what-if keeps its parent's process
    created = client.post("/simulation/new", {**form, "replications": "2"})
    assert created.status_code == 302, text_of(created)[:2000]
    [run] = stored(web)
    assert run.params["variant"]["scenario"]["durations"]["site_survey"]["mean"] == 6
    assert run.params["base"]["scenario"]["durations"]["site_survey"]["mean"] == 4


# -- 3. the form's error summary --------------------------------------------------------------------------------------


def summary_items(body: str) -> list[str]:
    listed = re.search(r'<ul class="sim-problems" id="sim-problem-list">(.*?)</ul>', body, flags=re.S)
    assert listed is not None, body[:3000]
    return [re.sub(r"<[^>]+>", "", item).strip() for item in re.findall(r"<li>(.*?)</li>", listed.group(1), re.S)]


def test_the_summary_lists_every_problem_by_its_label_at_the_field_typed_in(web: Web) -> None:
    client = web.client("process_owner")
    bad = {"arrivals.hv_ordinary.per_working_day": "-3", "pools.inspector.count": "-1", "pools.surveyor.count": "两",
           "durations.site_survey.mean": "x", "replications": "0", "name": ""}
    response = client.post("/simulation/new", form_for(variant_process="variant:parallel_plan_review", **bad))
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    items = summary_items(body)
    assert sorted(items) == sorted([
        "名称：请填写此项。", "重复次数：超出允许范围：1–30",
        "勘查人员 人数（基准方案）：请输入整数。", "现场勘查 · 平均（基准方案）：请输入数字。",
        "高压普通 · 每工作日（基准方案）：不能小于 0。", "检验人员 人数（基准方案）：不能小于 1。"]), items
    assert "variant.arrivals" not in body and "(root)" not in body
    assert 'id="err-arrivals.hv_ordinary.per_working_day">不能小于 0。' in body  # at the base field typed in
    assert 'id="err-pools.inspector.count">不能小于 1。' in body
    assert 'err-variant.pools.inspector.count' not in body  # the blank variant field is not blamed
    assert '<a href="#f-arrivals.hv_ordinary.per_working_day">' in body
    assert 'id="f-arrivals.hv_ordinary.per_working_day"' in body
    # a variant's own count is the variant's
    response = client.post("/simulation/new", form_for(variant_process="variant:parallel_plan_review",
                                                       **{"variant.pools.surveyor.count": "0"}))
    assert summary_items(response.get_data(as_text=True)) == ["勘查人员 人数（对比方案）：不能小于 1。"]
    assert 'id="err-variant.pools.surveyor.count">不能小于 1。' in response.get_data(as_text=True)
    assert stored(web) == []


def test_neither_cases_nor_a_window_is_shown_at_the_window_field_in_both_languages(web: Web) -> None:
    client = web.client("process_owner")
    response = client.post("/simulation/new", form_for(cases="", horizon_days=""))
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert summary_items(body) == ["申请到达时段（天）：请填写申请到达时段（天）或案件数，或两项都填。"]
    assert 'id="err-horizon_days">请填写申请到达时段（天）或案件数' in body and "(root)" not in body
    client.get("/auth/language/en")
    body = client.post("/simulation/new", form_for(cases="", horizon_days="")).get_data(as_text=True)
    assert "(root)" not in body
    [item] = summary_items(body)
    assert item.startswith("Arrival window (days): ") and "case count" in item, item
    # the advanced editor names the key path the person wrote, and the whole scenario in words
    raw = '{"name": "x", "start": "2026-11-02", "arrivals": {"lv_residential": {"per_working_day": 2}},' \
          ' "pools": {"surveyor": {"count": 1}}}'
    client.get("/auth/language/zh_CN")
    response = client.post("/simulation/new", form_for(mode="raw", scenario_raw=raw))
    assert response.status_code == 400
    assert "(root)" not in response.get_data(as_text=True)
    assert "基准场景（高级编辑器） · horizon_days：请填写申请到达时段（天）或案件数" in summary_items(
        response.get_data(as_text=True))[0]


def test_an_unknown_pool_names_the_process_staff_by_role_without_the_customer(web: Web) -> None:
    pools = dict(scenario_templates()["today"]["pools"])
    misspelt = {**pools, "surveyer": pools["surveyor"]}
    import json

    raw = json.dumps({**scenario_templates()["today"], "pools": misspelt}, ensure_ascii=False)
    response = web.client("process_owner").post("/simulation/new", form_for(mode="raw", scenario_raw=raw))
    assert response.status_code == 400
    text = html.unescape(text_of(response))
    [message] = re.findall(r"流程中没有岗位 surveyer（流程的岗位：([^）]*)）", text)[:1]
    lanes = message.split("、")
    assert "勘查人员" in lanes and "检验人员" in lanes and "客户" not in lanes and "customer" not in message


# -- 4–6. the run page ------------------------------------------------------------------------------------------------


def test_the_run_page_says_intervals_are_wide_hours_are_calendar_hours_and_lists_staff_in_process_order(
        web: Web, tmp_path: Path) -> None:
    client = web.client("process_owner")
    assert client.post("/simulation/new", form_for(cases="6", variant_process="variant:parallel_plan_review",
                                                   **{"variant.pools.surveyor.count": "2"})).status_code == 302
    [run] = stored(web)
    outcome = run_worker_step(web, tmp_path)
    assert outcome is not None and outcome.outcome == "done", outcome
    response = client.get(f"/simulation/{run.id}")
    body, text = response.get_data(as_text=True), text_of(response)
    assert 'id="sim-few-replications"' in body and "重复次数较少（2 次）" in text and "至少 5–10 次重复" in text
    assert "现场勘查 平均办理（日历小时）" in text and "现场勘查 平均等待（日历小时）" in text
    assert "平均办理（小时）" not in text and "平均等待（小时）" not in text
    assert "含班次之间的夜间、周末与节假日" in text
    assert "与热力图及其下表格的数值相同" in text and "各次重复平均值的平均" in text
    staff = re.search(r'<table class="sim-pools" id="sim-pool-counts">(.*?)</table>', body, flags=re.S)
    assert staff is not None
    order = re.findall(r'<th scope="row">([^<]+)</th>', staff.group(1))
    assert order[:4] == ["客户经理", "勘查人员", "方案审核", "检验人员"], order
    verdicts = re.search(r'<ul class="sim-verdicts">(.*?)</ul>', body, flags=re.S)
    assert verdicts is not None and "surveyor" not in verdicts.group(1)
    client.get("/auth/language/en")
    english = text_of(client.get(f"/simulation/{run.id}"))
    assert "calendar hours" in english and "5–10 replications" in english


def test_a_run_of_five_replications_has_no_warning_and_a_clipped_interval_is_marked(web: Web) -> None:
    from webui.simulation.report import build_report

    rows = [{"key": "utilisation_while_arriving.surveyor", "base_mean": 0.4, "variant_mean": 0.55,
             "mean_difference": 0.1456, "ci_low": -1.2001, "ci_high": 1.4914, "outcome": "no_difference"}]
    result = {"replications": 2, "sides": {"base": {"flat": {}}, "variant": {"flat": {}}},
              "comparison": {"kpis": rows, "verdicts": {}}}
    with web.app.test_request_context():
        report = build_report(result)
        assert report.few_replications and report.clipped
        [row] = report.comparison
        assert (row.interval, row.computed_interval) == ("[−100.00, 100.00] pp", "[−120.01, 149.14] pp")
        assert row.difference == "+14.56 pp"
        assert not build_report({**result, "replications": 5}).few_replications
        assert not build_report({**result, "replications": 1}).few_replications  # "too few to judge" says it
