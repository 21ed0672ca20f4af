"""A new process owner's defects on /simulation/new: the advanced editor's problems name each setting as the form
would, and where it is (step, pool, category), with the key path to find the line — in Chinese and English; scenario
templates carry their name and description in other languages (``translations``), which the English page shows; a
rerun's form mode drops the settings the form cannot hold only when the person ticks that they know it (checked by
the server too, keeping everything typed). Real HTTP through the Flask test client on both databases."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from lxml import html as lxml_html

from runner.simulation.run_request import run_summary, scenario_templates, schema_problems, with_project_paths
from runner.simulation.scenario import (
    ScenarioError,
    load_scenario,
    read_scenario_data,
    scenario_from_dict,
    translated,
)
from tests.test_simform_trial_fixes import newest, raw_form, today
from tests.test_simrerun_from_run import page_form, params_of
from tests.test_webui_simulation import stored
from tests.webui_helpers import (
    Web,
    text_of,
    web_fixture,  # noqa: F401  (the web fixture)
)
from webui.simulation.form import template_text


def editor_lines(body: str) -> list[str]:
    """The problems under the advanced editor, as a person reads them."""
    tree = lxml_html.fromstring(body)
    return [" ".join(p.text_content().split()) for p in tree.xpath(
        '//section[contains(@class, "sim-raw-mode")]//p[@class="field-error"]')]


def summary_lines(body: str) -> list[str]:
    tree = lxml_html.fromstring(body)
    return [" ".join(li.text_content().split()) for li in tree.xpath('//ul[@id="sim-problem-list"]/li')]


# -- 1. the advanced editor's problems, by name and place -------------------------------------------------------------

def bad_distributions() -> dict[str, Any]:
    base = today()
    base["durations"]["archive_documents"] = {"distribution": "uniform", "low": 5, "high": 1}
    base["durations"]["approve_high_risk"] = {"distribution": "triangular", "low": 2, "mode": 1, "high": 3}
    base["durations"]["grid_works"] = {"distribution": "triangular", "low": 1, "high": 3}
    base["durations"]["draft_plan"] = {"distribution": "gamma", "mean": 3}
    base["customer_delays"]["sign_plan"] = {"distribution": "gamma", "mean": 3, "sd": 2, "min": 5, "max": 1}
    base["pools"]["surveyor"]["hourly_cost"] = -5
    return base


def test_distribution_problems_name_the_setting_and_the_step_in_both_languages(web: Web) -> None:
    client = web.client("process_owner")
    body = client.post("/simulation/new", raw_form(bad_distributions())).get_data(as_text=True)
    lines = editor_lines(body)
    for line in ("资料归档 · 办理时长 · 上限（durations.archive_documents.high）："
                 "均匀分布的上限（1）不能小于下限（5）。",
                 "高风险审批 · 办理时长 · 众数（durations.approve_high_risk.mode）：三角分布须满足 下限 ≤ 众数 ≤ 上限"
                 "（现为下限 2、众数 1、上限 3）。",
                 "配套电网工程 · 办理时长 · 众数（durations.grid_works.mode）："
                 "三角分布（triangular）须填写众数（mode）。",
                 "编制供电方案 · 办理时长 · 形状参数（durations.draft_plan.shape）：伽马分布（gamma）须填写平均（mean）"
                 "与标准差（sd），或形状参数（shape）与尺度参数（scale），二者选一。",
                 "确认供电方案 · 客户侧耗时 · 最大值（customer_delays.sign_plan.max）："
                 "最大值（1）不能小于最小值（5）。",
                 "勘查人员 · 每小时成本（pools.surveyor.hourly_cost）：不能小于 0。"):
        assert line in lines, (line, lines)
    summary = summary_lines(body)
    assert "基准场景（高级编辑器） · 资料归档 · 办理时长 · 上限（durations.archive_documents.high）：" \
           "均匀分布的上限（1）不能小于下限（5）。" in summary, summary
    assert not [line for line in lines if "high（" in line or "max（" in line or "low ≤" in line], lines
    client.get("/auth/language/en")
    lines = editor_lines(client.post("/simulation/new", raw_form(bad_distributions())).get_data(as_text=True))
    for line in ("资料归档 · task hours · High (durations.archive_documents.high): The uniform distribution's high (1) "
                 "cannot be below its low (5).",
                 "高风险审批 · task hours · Mode (durations.approve_high_risk.mode): A triangular distribution needs "
                 "low ≤ mode ≤ high (it has low 2, mode 1, high 3).",
                 "确认供电方案 · customer's time · Maximum (customer_delays.sign_plan.max): The maximum (1) cannot be "
                 "below the minimum (5).",
                 "Surveyor · hourly cost (pools.surveyor.hourly_cost): Must be at least 0."):
        assert line in lines, (line, lines)
    assert not [line for line in lines if "：" in line or "。" in line or "须" in line], lines
    assert stored(web) == []


def test_schema_problems_of_arrivals_shifts_and_answers_are_worded_too(web: Web) -> None:
    client = web.client("process_owner")
    base = today()
    base["arrivals"]["lv_other"] = {"per_working_day": 1, "per_day": 2}
    base["calendars"]["field"]["shifts"] = ["8:00-12:00"]
    base["answers"]["review_plan"][0]["weight"] = -1
    base["durations"]["draft_contract"] = {"distribution": "weibull", "mean": 3}
    lines = editor_lines(client.post("/simulation/new", raw_form(base)).get_data(as_text=True))
    assert lines == [
        "审核供电方案 · 办理结果 · 第 1 项 · 权重（answers.review_plan.0.weight）：必须大于 0。",
        "低压其他（arrivals.lv_other）：每个申请类别须填写且只填写以下一项：每工作日（per_working_day）、每日（per_day）"
        "或到达间隔（interarrival_hours）。",
        "工作日历 field · 班次 · 第 1 项（calendars.field.shifts.0）：格式应为 HH:MM-HH:MM（如 08:30-12:00），"
        "现为 8:00-12:00。",
        "拟定供用电合同 · 办理时长 · 分布类型（durations.draft_contract.distribution）："
        "未知的分布 weibull：可用的分布为 "
        "固定值（fixed）、指数分布（exponential）、正态分布（normal）、对数正态分布（lognormal）、伽马分布（gamma）、"
        "均匀分布（uniform）、三角分布（triangular）、经验分布（empirical）。"], lines
    client.get("/auth/language/en")
    lines = editor_lines(client.post("/simulation/new", raw_form(base)).get_data(as_text=True))
    assert "LV other (arrivals.lv_other): Give exactly one of: per working day (per_working_day), per day (per_day) " \
           "or the gap between applications (interarrival_hours)." in lines, lines
    assert "working calendar field · shifts · item 1 (calendars.field.shifts.0): Write it as HH:MM-HH:MM " \
           "(e.g. 08:30-12:00); it is 8:00-12:00." in lines, lines


def test_a_key_that_is_itself_the_problem_is_shown_as_the_key(web: Web) -> None:
    base = today()
    base["pools"]["surveyor"]["calender"] = "field"  # an unknown key: no name to give it
    base["pools"]["surveyer"] = {"count": 1}  # an unknown pool: its code alone says it
    base["max_days"] = 5000  # a top-level key: the key itself, as before
    lines = editor_lines(web.client("process_owner").post("/simulation/new", raw_form(base)).get_data(as_text=True))
    assert "pools.surveyor.calender：未知的键 calender。" in lines, lines
    assert "max_days：不能超过 3650 天。" in lines, lines


def test_the_form_mode_keeps_its_short_field_messages(web: Web) -> None:
    from tests.test_webui_simulation import form_for

    body = web.client("process_owner").post("/simulation/new", form_for(**{
        "durations.site_survey.mean": "-4"})).get_data(as_text=True)
    assert "现场勘查 · 平均（基准方案）：平均不能为负数（现为 -4）。" in summary_lines(body)


def test_a_list_of_answers_is_checked_by_its_weights_not_as_an_object() -> None:
    base = today()
    base["answers"]["review_plan"][1]["weight"] = 0
    [problem] = schema_problems(base)
    assert (problem.path, problem.code) == ("answers.review_plan.1.weight", "exclusive_minimum")


# -- 2. templates in other languages ----------------------------------------------------------------------------------

def test_the_english_page_shows_the_templates_english_descriptions(web: Web) -> None:
    client = web.client("process_owner")

    def options() -> dict[str, str]:
        tree = lxml_html.fromstring(client.get("/simulation/new").get_data(as_text=True))
        return {option.get("value"): option.text_content() for option in tree.xpath(
            '//select[@name="template"]/option')}

    assert options()["today"].startswith("当前流程基线：")
    client.get("/auth/language/en")
    english = options()
    assert english["today"] == ("Today's baseline: current staffing, working calendars and estimated task durations "
                                "(today)"), english
    assert english["fewer_surveyors_parallel_review"].startswith("One surveyor fewer"), english
    assert not [text for text in english.values() if any("\u4e00" <= char <= "\u9fff" for char in text)], english


def write(folder: Path, name: str, data: dict[str, Any]) -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_a_file_writing_its_own_description_does_not_inherit_the_parents_translation(tmp_path: Path) -> None:
    parent = {**read_scenario_data(Path("processes/scenarios/today.yaml")), "process": "../..", "samples": "../s"}
    parent["translations"] = {"en": {"name": "Today", "description": "Today's baseline"}}
    write(tmp_path, "base.yaml", parent)
    write(tmp_path, "own.yaml", {"extends": "base.yaml", "name": "own", "description": "少一人"})
    write(tmp_path, "kept.yaml", {"extends": "base.yaml", "pools": {"surveyor": {"count": 2}}})
    write(tmp_path, "both.yaml", {"extends": "base.yaml", "description": "少一人",
                                  "translations": {"en": {"description": "One fewer"}}})
    own = read_scenario_data(tmp_path / "own.yaml")
    assert "translations" not in own  # both texts written anew: neither English one fits
    assert translated(own, "description", "en") == "少一人"
    kept = read_scenario_data(tmp_path / "kept.yaml")
    assert translated(kept, "description", "en_GB") == "Today's baseline"  # inherited text, inherited translation
    both = read_scenario_data(tmp_path / "both.yaml")
    assert both["translations"] == {"en": {"name": "Today", "description": "One fewer"}}
    assert translated(both, "description", "zh_CN") == "少一人"
    assert (template_text(both, "description", "en"), template_text(both, "name", "en")) == ("One fewer", "Today")
    assert template_text(own, "name", "en") == "own"


def test_translations_are_checked_by_the_schema_and_kept_by_the_engine() -> None:
    data = {**today(), "translations": {"en": {"name": "Today", "description": "Today's baseline"},
                                        "zh_Hant": {"description": "當前流程基線"}}}
    scenario = scenario_from_dict(with_project_paths(data))
    assert scenario.translations["en"]["name"] == "Today"
    again = scenario_from_dict(scenario.to_dict(), base_dir=scenario.base_dir)
    assert again.translations == scenario.translations
    plain = {key: value for key, value in today().items() if key != "translations"}
    assert "translations" not in scenario_from_dict(with_project_paths(plain)).to_dict()
    for bad in ({"en": {"title": "x"}}, {"en": {}}, {"en!": {"name": "x"}}, {"en": {"name": ""}}):
        with pytest.raises(ScenarioError, match=r"translations"):
            scenario_from_dict(with_project_paths({**today(), "translations": bad}))
    assert load_scenario(Path("processes/scenarios/today.yaml")).translations["en"]["description"].startswith(
        "Today's baseline")


def test_translations_are_not_a_setting_of_the_run() -> None:
    base = today()
    variant = {**copy.deepcopy(base), "translations": {"en": {"description": "other words"}}}
    summary = run_summary({"base": {"process": "folder", "scenario": base},
                           "variant": {"process": "folder", "scenario": variant}, "replications": 1}, None)
    assert summary["changes"] == []


def test_a_run_stored_before_the_templates_had_translations_reruns_without_a_warning(web: Web) -> None:
    client = web.client("process_owner")
    old = {key: value for key, value in scenario_templates()["today"].items() if key != "translations"}
    assert client.post("/simulation/new", raw_form({**old, "cases": 20})).status_code == 302
    page = client.get(f"/simulation/new?from_run={newest(web)}").get_data(as_text=True)
    assert 'id="sim-unshown"' not in page and 'name="discard_unshown"' not in page


# -- 3. a rerun's form mode drops settings only when the person says so ----------------------------------------------

def rerun_with_unshown(web: Web) -> tuple[int, dict[str, str]]:
    """A stored run with a variant duration of its own (the form cannot hold it), and its rerun page's fields."""
    client = web.client("process_owner")
    base = today(cases=20)
    variant = copy.deepcopy(base)
    variant["pools"]["surveyor"]["count"] = 2
    variant["durations"]["site_survey"]["mean"] = 6
    assert client.post("/simulation/new", raw_form(base, variant, replications="1")).status_code == 302
    first = newest(web)
    return first, page_form(client.get(f"/simulation/new?from_run={first}").get_data(as_text=True))


def test_the_form_mode_of_a_rerun_is_refused_without_the_tick_and_keeps_what_was_typed(web: Web) -> None:
    first, fields = rerun_with_unshown(web)
    client = web.client("process_owner")
    assert "discard_unshown" not in fields  # unticked as the page shows it
    typed = {**fields, "mode": "form", "pools.inspector.count": "4", "name": "再试一次"}
    response = client.post("/simulation/new", typed)
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    message = ("以表单方式提交将丢弃该次仿真中表单无法显示的 1 项设置（见上方列表）。要按表单内容运行，请勾选"
               "“我知道这些设置将被丢弃，按表单内容运行”；要保留这些设置，请改用“高级”编辑方式提交。")
    assert summary_lines(body) == [f"表单无法显示的设置：{message}"]
    tree = lxml_html.fromstring(body)
    [error] = tree.xpath('//p[@id="err-discard_unshown"]')
    assert error.text_content() == message
    assert error.getparent().get("id") == "sim-unshown"  # beside the list and the tick
    [tick] = tree.xpath('//input[@name="discard_unshown"]')
    assert tick.get("aria-invalid") == "true" and tick.get("checked") is None
    again = page_form(body)  # nothing typed is lost
    assert (again["mode"], again["pools.inspector.count"], again["name"], again["from_run"]) == (
        "form", "4", "再试一次", str(first))
    assert again["scenario_raw"] == fields["scenario_raw"] and again["variant_raw"] == fields["variant_raw"]
    assert len(stored(web)) == 1
    # problems of the form itself are shown with it, all at once
    response = client.post("/simulation/new", {**typed, "replications": "0"})
    assert response.status_code == 400 and len(summary_lines(response.get_data(as_text=True))) == 2
    client.get("/auth/language/en")
    english = text_of(client.post("/simulation/new", typed))
    assert "Submitting in form mode drops the 1 settings of that run that the form cannot show" in english
    assert "I know these settings will be dropped; run the form as it is" in english


def test_with_the_tick_the_form_mode_runs_what_the_form_holds(web: Web) -> None:
    first, fields = rerun_with_unshown(web)
    client = web.client("process_owner")
    response = client.post("/simulation/new", {**fields, "mode": "form", "discard_unshown": "1"})
    assert response.status_code == 302, text_of(response)[:800]
    second = params_of(web, newest(web))
    assert second["variant"]["scenario"]["pools"]["surveyor"]["count"] == 2  # what the form holds, it keeps
    assert second["variant"]["scenario"]["durations"]["site_survey"]["mean"] == 4  # the dropped setting
    assert params_of(web, first)["variant"]["scenario"]["durations"]["site_survey"]["mean"] == 6


def test_the_advanced_editor_and_a_rerun_the_form_holds_need_no_tick(web: Web) -> None:
    first, fields = rerun_with_unshown(web)
    client = web.client("process_owner")
    assert client.post("/simulation/new", fields).status_code == 302  # the editor, as the page opens: the same run
    assert params_of(web, newest(web)) == params_of(web, first)
    whole = {**json.loads(fields["scenario_raw"])}
    variant = copy.deepcopy(whole)
    variant["pools"]["surveyor"]["count"] = 2
    assert client.post("/simulation/new", raw_form(whole, variant, replications="1")).status_code == 302
    held = newest(web)
    page = client.get(f"/simulation/new?from_run={held}").get_data(as_text=True)
    assert 'name="discard_unshown"' not in page
    assert client.post("/simulation/new", {**page_form(page), "mode": "form"}).status_code == 302
    assert params_of(web, newest(web)) == params_of(web, held)
