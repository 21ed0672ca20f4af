"""A new process owner's trial of /simulation/new: a run started from a stored one keeps its values in the form mode
too (and says what the form cannot hold), values that would overflow the simulated clock are refused at their field
by the scenario schema (web form, advanced editor and ``baozhuang simulate`` alike) and a run that still overflows
says why in plain words, distribution parameters are named by their labels, an arrival rate beyond its bound is
refused at its own field, and the template chooser shows descriptions and keeps what was typed. Real HTTP through
the Flask test client on both databases, the real CLI, the real engine."""

from __future__ import annotations

import copy
import html
import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from lxml import html as lxml_html

from runner.cli import main
from runner.simulation import runs
from runner.simulation.batch import run_batch
from runner.simulation.engine import SimulationError
from runner.simulation.run_request import published_schema, scenario_templates, with_project_paths
from runner.simulation.scenario import (
    MAX_CALENDAR_DAYS,
    MAX_WORKING_HOURS,
    ScenarioError,
    load_scenario,
    scenario_from_dict,
)
from tests.conftest import PROCESSES
from tests.test_simrerun_from_run import page_form, params_of
from tests.test_webui_simulation import form_for, run_worker_step, stored
from tests.webui_helpers import (
    Web,
    text_of,
    web_fixture,  # noqa: F401  (the web fixture)
)

TODAY = PROCESSES / "scenarios" / "today.yaml"


def today(**changes: Any) -> dict[str, Any]:
    return {**copy.deepcopy(scenario_templates()["today"]), **changes}


def raw_form(base: dict[str, Any], variant: dict[str, Any] | None = None, **changes: str) -> dict[str, str]:
    form = {**form_for(), "mode": "raw", "scenario_raw": json.dumps(base, ensure_ascii=False)}
    if variant is not None:
        form.update(variant_process="variant:parallel_plan_review", variant_raw=json.dumps(variant, ensure_ascii=False))
    form.update(changes)
    return form


def error_at(body: str, path: str) -> list[str]:
    """The messages shown at the form field ``path``."""
    return [html.unescape(text) for text in re.findall(rf'id="err-{re.escape(path)}">([^<]*)<', body)]


def newest(web: Web) -> int:
    return max(run.id for run in stored(web))


# -- 1. 以此为起点新建仿真: the form mode holds the run too -----------------------------------------------------------

def test_the_form_mode_of_a_run_started_from_another_holds_its_values(web: Web) -> None:
    client = web.client("process_owner")
    response = client.post("/simulation/new", form_for(**{
        "variant_process": "variant:parallel_plan_review", "variant.pools.surveyor.count": "2", "cases": "40",
        "seed": "17", "pools.inspector.count": "4", "arrivals.hv_ordinary.per_working_day": "1.5",
        "durations.site_survey.mean": "5", "replications": "3"}))
    assert response.status_code == 302, text_of(response)[:600]
    first = newest(web)
    page = client.get(f"/simulation/new?from_run={first}").get_data(as_text=True)
    fields = page_form(page)
    assert fields["mode"] == "raw"  # the advanced editor first, as before
    assert (fields["variant.pools.surveyor.count"], fields["pools.surveyor.count"]) == ("2", "3")
    assert (fields["pools.inspector.count"], fields["arrivals.hv_ordinary.per_working_day"],
            fields["durations.site_survey.mean"], fields["cases"], fields["seed"], fields["replications"]) == (
        "4", "1.5", "5", "40", "17", "3")
    assert 'id="sim-unshown"' not in page  # the form holds all of it: nothing to warn of
    assert client.post("/simulation/new", {**fields, "mode": "form"}).status_code == 302
    second = newest(web)
    assert params_of(web, second) == params_of(web, first)  # the round trip, in the form mode
    assert params_of(web, second)["variant"]["scenario"]["pools"]["surveyor"]["count"] == 2
    assert client.post("/simulation/new", fields).status_code == 302  # and in the advanced editor, unchanged
    assert params_of(web, newest(web)) == params_of(web, first)


def test_the_form_mode_of_a_run_without_a_variant_round_trips(web: Web) -> None:
    client = web.client("process_owner")
    assert client.post("/simulation/new", form_for(cases="30", horizon_days="", regime="csg")).status_code == 302
    first = newest(web)
    fields = page_form(client.get(f"/simulation/new?from_run={first}").get_data(as_text=True))
    assert (fields["horizon_days"], fields["regime"], fields["variant_process"]) == ("", "csg", "")
    assert client.post("/simulation/new", {**fields, "mode": "form"}).status_code == 302
    assert params_of(web, newest(web)) == params_of(web, first)


def test_what_the_form_cannot_hold_is_listed_where_the_form_mode_shows(web: Web) -> None:
    client = web.client("process_owner")
    base = today(cases=20)
    base["customer_delays"]["sign_plan"] = {"distribution": "gamma", "mean": 5, "sd": 2}
    variant = copy.deepcopy(base)
    variant["pools"]["surveyor"]["count"] = 2
    variant["durations"]["site_survey"]["mean"] = 6
    variant["pools"]["surveyor"]["hourly_cost"] = 99
    assert client.post("/simulation/new", raw_form(base, variant)).status_code == 302
    first = newest(web)
    page = client.get(f"/simulation/new?from_run={first}").get_data(as_text=True)
    tree = lxml_html.fromstring(page)
    [warning] = tree.xpath('//div[@id="sim-unshown"]')
    assert warning.getparent().get("class") == "sim-form-mode"  # shown with the form mode, i.e. at the switch
    lines = [" ".join(item.text_content().split()) for item in warning.iter("li")]
    assert lines == ["确认供电方案 · 客户侧耗时（customer_delays） · 平均（基准方案）：该次仿真为 5，表单将提交 3",
                     "现场勘查 · 平均（对比方案）：该次仿真为 6，表单将提交 4",
                     "勘查人员 · 每小时成本（hourly_cost）（对比方案）：该次仿真为 99，表单将提交 110"], lines
    assert "表单无法显示该次仿真的 3 项设置" in text_of(client.get(f"/simulation/new?from_run={first}"))
    fields = page_form(page)
    assert fields["variant.pools.surveyor.count"] == "2"  # what the form can hold, it holds
    assert client.post("/simulation/new", fields).status_code == 302  # the editor, unchanged: the same run
    assert params_of(web, newest(web)) == params_of(web, first)
    # posted back with a problem, the page still warns (it knows the run it started from)
    response = client.post("/simulation/new", {**fields, "replications": "0"})
    assert response.status_code == 400 and 'id="sim-unshown"' in response.get_data(as_text=True)
    client.get("/auth/language/en")
    english = text_of(client.get(f"/simulation/new?from_run={first}"))
    assert "the form would submit 3" in english and "cannot show 3 settings of that run" in english
    assert "Surveyor · hourly cost (hourly_cost) (Variant)" in english


# -- 2. values that would overflow the simulated clock -------------------------------------------------------------

def test_a_duration_mean_beyond_its_bound_is_refused_at_its_field(web: Web) -> None:
    client = web.client("process_owner")
    for text in ("1e12", "10001"):
        response = client.post("/simulation/new", form_for(**{"durations.site_survey.mean": text}))
        assert response.status_code == 400
        assert error_at(response.get_data(as_text=True), "durations.site_survey.mean") == ["不能大于 10000。"], text
    assert client.post("/simulation/new", form_for(**{"durations.site_survey.mean": "10000", "cases": "5",
                                                       "replications": "1"})).status_code == 302
    assert len(stored(web)) == 1


def test_the_advanced_editor_refuses_what_would_overflow_the_clock_at_its_key(web: Web) -> None:
    base = today()
    base["customer_delays"]["sign_plan"] = {"distribution": "gamma", "mean": 1e12, "sd": 2}
    base["durations"]["review_plan"] = {"distribution": "lognormal", "mean": 1.5, "sd": 1e9}
    base["pickup_delays"] = {"archive_documents": 50000}
    base["max_days"] = 1e12
    response = web.client("process_owner").post("/simulation/new", raw_form(base))
    assert response.status_code == 400
    text = html.unescape(text_of(response))
    for line in ("确认供电方案 · 客户侧耗时 · 平均（customer_delays.sign_plan.mean） ：不能大于 3650。",
                 "审核供电方案 · 办理时长 · 标准差（durations.review_plan.sd） ：不能大于 10000。",
                 "资料归档 · 领取耗时（pickup_delays.archive_documents） ：不能大于 10000。",
                 "max_days ：不能超过 3650 天。"):
        assert line in text, line
    assert stored(web) == []


def test_the_cli_refuses_the_same_values_naming_file_and_line(tmp_path: Path) -> None:
    scenario = tmp_path / "huge.yaml"
    scenario.write_text(f"extends: {TODAY}\nname: huge\ndurations:\n  site_survey: {{mean: 1.0e+12}}\n"
                        "arrivals:\n  lv_residential: {per_working_day: 1.0e+9}\nstart: \"9999-06-01\"\n",
                        encoding="utf-8")
    result = CliRunner().invoke(main, ["simulate", str(scenario), "--cases", "3"], catch_exceptions=False)
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert any(f"{scenario}:4: durations.site_survey.mean: 1000000000000.0 is greater than the maximum of 10000"
               in line for line in errors), errors
    assert any(f"{scenario}:6: arrivals.lv_residential.per_working_day: 1000000000.0 is greater than the maximum "
               "of 10000" in line for line in errors), errors
    assert any(f"{scenario}:7: start: start must lie in the years 1900–2999" in line for line in errors), errors
    assert "Traceback" not in result.stderr


def test_the_bounds_keep_what_real_scenarios_use() -> None:
    bounds = published_schema()["$defs"]
    assert (bounds["hour_bounds"]["maximum"], bounds["day_bounds"]["maximum"]) == (
        MAX_WORKING_HOURS, MAX_CALENDAR_DAYS)
    scenario = load_scenario(TODAY)  # the shipped baseline and its what-if read as before
    assert scenario.durations["site_survey"].default.mean == pytest.approx(4.0)
    data = today(horizon_days=3650, max_days=3650, start="2030-01-07")
    data["durations"]["grid_works"] = {"distribution": "gamma", "mean": 2000, "sd": 500}  # a year of work
    data["customer_delays"]["submit_design"] = {"distribution": "gamma", "mean": 365, "sd": 100}  # a year
    scenario_from_dict(with_project_paths(data))
    with pytest.raises(ScenarioError, match=r"arrivals\.lv_other\.per_day: 10001 is greater than the maximum"):
        scenario_from_dict(with_project_paths({**data, "arrivals": {**data["arrivals"], "lv_other": {
            "per_day": 10001}}}))


def test_a_run_that_still_overflows_the_clock_says_why_in_plain_words(web: Web, tmp_path: Path) -> None:
    # within every parameter's bound, but shape × scale is a mean of 10⁸ hours
    data = today(cases=3)
    data["durations"]["accept_application"] = {"distribution": "gamma", "shape": 10000, "scale": 10000}
    with pytest.raises(SimulationError, match=r"durations\.accept_application: case SIM-\d+ drew [\d.]+e\+0[78] hours, "
                                              r"longer than the simulated clock can run"):
        run_batch(scenario_from_dict(with_project_paths(data)), None, 1, 1, 3)
    delays = today(cases=3, customer_delays={})  # every customer step on the default
    delays["defaults"]["customer_days"] = {"distribution": "gamma", "shape": 10000, "scale": 3650}
    with pytest.raises(SimulationError, match=r"defaults\.customer_days: case SIM-\d+ drew [\d.]+e\+07 days"):
        run_batch(scenario_from_dict(with_project_paths(delays)), None, 1, 1, 3)
    with web.db.transaction() as session:  # stored as it is (the page would not store it): the worker's message
        run_id = runs.create_run(session, name="太长", created_by="process_owner", params={
            "base": {"process": "folder", "scenario": data}, "variant": None, "replications": 1, "seed": 1,
            "cases": 3}, now=web.db.clock.now())
    outcome = run_worker_step(web, tmp_path)
    assert outcome is not None and outcome.outcome == "failed"
    with web.db.reading() as session:
        error = runs.get_run(session, run_id).error or ""
    assert "durations.accept_application" in error and "longer than the simulated clock can run" in error, error
    assert "OverflowError" not in error and "SimulationError" not in error


# -- 3. a distribution's parameter by its label ------------------------------------------------------------------------

def test_a_bad_mean_is_named_by_its_label_in_both_languages(web: Web) -> None:
    client = web.client("process_owner")
    for typed, chinese, english in (("-4", "平均不能为负数（现为 -4）。", "Mean cannot be negative (it is -4)."),
                                    ("0", "平均必须大于 0（现为 0）。", "Mean must be greater than 0 (it is 0)."),
                                    ("-0.5", "平均不能为负数（现为 -0.5）。", "Mean cannot be negative (it is -0.5).")):
        client.get("/auth/language/zh_CN")
        body = client.post("/simulation/new", form_for(**{"durations.site_survey.mean": typed})).get_data(
            as_text=True)
        assert error_at(body, "durations.site_survey.mean") == [chinese]
        client.get("/auth/language/en")
        body = client.post("/simulation/new", form_for(**{"durations.site_survey.mean": typed})).get_data(
            as_text=True)
        assert error_at(body, "durations.site_survey.mean") == [english]
    client.get("/auth/language/zh_CN")
    base = today()
    base["durations"]["site_survey"] = {"distribution": "lognormal", "mean": 4, "sd": -1}
    base["durations"]["review_plan"] = -2
    text = html.unescape(text_of(client.post("/simulation/new", raw_form(base))))
    assert "现场勘查 · 办理时长 · 标准差（durations.site_survey.sd） ：标准差不能为负数（现为 -1）。" in text
    assert "审核供电方案 · 办理时长（durations.review_plan） ：不能小于 0。" in text
    assert stored(web) == []


# -- 4. an arrival rate beyond its bound, at its own field -----------------------------------------------------------

def test_an_arrival_rate_beyond_its_bound_is_refused_at_its_field(web: Web) -> None:
    response = web.client("process_owner").post("/simulation/new", form_for(**{
        "arrivals.lv_residential.per_working_day": "1e9"}))
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert error_at(body, "arrivals.lv_residential.per_working_day") == ["不能大于 10000。"]
    assert error_at(body, "horizon_days") == []
    assert "低压居民 · 每工作日（基准方案） ：不能大于 10000。" in html.unescape(text_of(response))
    assert stored(web) == []


# -- 5. the template chooser -------------------------------------------------------------------------------------------

def test_the_template_chooser_shows_descriptions_with_the_file_name(web: Web) -> None:
    tree = lxml_html.fromstring(web.client("process_owner").get("/simulation/new").get_data(as_text=True))
    options = {option.get("value"): option.text_content() for option in tree.xpath('//select[@name="template"]/option')}
    templates = scenario_templates()
    assert options == {stem: f"{templates[stem]['description']}（{stem}）" for stem in templates}
    assert options["today"].startswith("当前流程基线") and options["fewer_surveyors_parallel_review"].startswith(
        "勘查人员减少 1 人")


def test_loading_a_template_keeps_the_name_and_replications_typed(web: Web) -> None:
    client = web.client("process_owner")

    def loaded(**args: str) -> dict[str, str]:
        query = "&".join(f"{key}={value}" for key, value in args.items())
        return page_form(client.get(f"/simulation/new?{query}").get_data(as_text=True))

    fields = loaded(template="fewer_surveyors_parallel_review", typed_name="我的试算", typed_replications="4",
                    **{"from": "today"})
    assert (fields["name"], fields["replications"]) == ("我的试算", "4")
    assert fields["variant_process"] == "variant:parallel_plan_review"  # what the template sets, it sets
    fields = loaded(template="fewer_surveyors_parallel_review", typed_name="today", typed_replications="10",
                    **{"from": "today"})
    assert fields["name"] == "fewer_surveyors_parallel_review"  # the earlier template's name: nobody typed it
    fields = loaded(template="today", typed_name="我的试算", typed_replications="6",
                    **{"from": "fewer_surveyors_parallel_review"})
    assert (fields["name"], fields["replications"], fields["variant_process"]) == ("我的试算", "6", "")
    assert loaded(template="today")["name"] == "today"
