"""The simulation page (webui/simulation): who may use it, creating runs through HTTP, bad scenarios answered 400
with their key path, and a run carried out by the worker's step with the real engine, then its report and JSON.
Real databases (SQLite and PostgreSQL), real HTTP through the Flask test client, CSRF on."""

from __future__ import annotations

import html
import json
import re
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from runner.accounts import GROUPS
from runner.models import SimulationRun
from runner.simulation import runs
from runner.simulation.run_execute import make_execute
from runner.simulation.run_request import scenario_templates
from tests.webui_helpers import (
    NO_GROUP,
    Browser,
    Web,
    text_of,
    web_fixture,  # noqa: F401  (the web fixture)
)

STAFF = (*GROUPS, NO_GROUP)
OWNERS = ("process_owner", "analyst", "admin")  # analysts simulate a change before deploying it (decision 133)
SMALL_CASES = 6


def form_for(template: str = "today", **changes: str) -> dict[str, str]:
    """The new-run form as the page fills it from the template, with ``changes``."""
    scenario = scenario_templates()[template]
    form = {"name": "少一名勘查员", "template": template, "base_process": "folder", "variant_process": "",
            "replications": "2", "mode": "form", "start": str(scenario["start"]), "cases": "",
            "horizon_days": str(scenario.get("horizon_days", "")), "regime": str(scenario.get("regime", "statute")),
            "seed": str(scenario.get("seed", 1))}
    for category, arrival in scenario["arrivals"].items():
        for key in ("per_working_day", "per_day"):
            if key in arrival:
                form[f"arrivals.{category}.{key}"] = str(arrival[key])
    for pool, settings in scenario["pools"].items():
        form[f"pools.{pool}.count"] = str(settings["count"])
    for element, duration in scenario.get("durations", {}).items():
        if isinstance(duration, dict) and "mean" in duration:
            form[f"durations.{element}.mean"] = str(duration["mean"])
        elif isinstance(duration, dict) and "value" in duration:
            form[f"durations.{element}.value"] = str(duration["value"])
        elif isinstance(duration, int | float):
            form[f"durations.{element}"] = str(duration)
    form.update(changes)
    return form


def stored(web: Web) -> list[SimulationRun]:
    with web.db.reading() as session:
        return runs.list_runs(session)


def queue_run(web: Web, params: dict[str, Any] | None = None) -> int:
    with web.db.transaction() as session:
        return runs.create_run(session, name="基线", created_by="process_owner", params=params or {
            "base": {"process": "folder", "scenario": {}}, "variant": None, "replications": 1, "seed": 1,
            "cases": 1}, now=web.db.clock.now())


def run_worker_step(web: Web, output_root: Path) -> runs.StepOutcome | None:
    """What ``baozhuang worker`` does for a queued simulation, called directly."""
    return runs.run_next(web.db.sessions, owner="test-worker", clock=web.db.clock, lease=timedelta(minutes=5),
                         output_root=output_root, execute=make_execute(web.db.sessions))


def assert_login_redirect(client: Browser, response_status: int, location: str) -> None:
    assert response_status == 302
    assert location.startswith("/auth/login?next="), location


# -- who may use it ----------------------------------------------------------------------------------------------


def test_pages_are_for_process_owners_and_admins(web: Web) -> None:
    run_id = queue_run(web)
    for url in ("/simulation/", "/simulation/new", f"/simulation/{run_id}", f"/simulation/{run_id}/status.json",
                f"/simulation/{run_id}/result.json", f"/simulation/{run_id}/diagram.bpmn"):
        got = {user: web.client(user).get(url).status_code for user in STAFF}
        allowed = {"result.json": 409, "diagram.bpmn": 404}.get(url.rsplit("/", 1)[-1], 200)  # not run yet
        assert got == {user: allowed if user in OWNERS else 403 for user in STAFF}, url
        anonymous = web.client().get(url)
        assert_login_redirect(web.client(), anonymous.status_code, anonymous.headers.get("Location", ""))


def test_creating_a_run_is_for_process_owners_and_admins(web: Web) -> None:
    others = tuple(user for user in STAFF if user not in OWNERS)
    got = {user: web.client(user).post("/simulation/new", form_for()).status_code for user in others}
    assert got == dict.fromkeys(others, 403)
    anonymous = web.client().post("/simulation/new", form_for())
    assert_login_redirect(web.client(), anonymous.status_code, anonymous.headers["Location"])
    assert stored(web) == []
    for owner in OWNERS:
        assert web.client(owner).post("/simulation/new", form_for(name=f"{owner} 的仿真")).status_code == 302
    assert sorted(run.created_by for run in stored(web)) == sorted(OWNERS)


def test_csrf_is_required(web: Web) -> None:
    client = web.client("process_owner")
    assert client.post("/simulation/new", form_for(), csrf=False).status_code == 400
    assert stored(web) == []


def test_the_nav_link_shows_for_process_owners_only(web: Web) -> None:
    assert "流程仿真" in text_of(web.client("process_owner").get("/tasks/"))
    assert "流程仿真" not in text_of(web.client("surveyor").get("/tasks/"))


def test_schema_is_published(web: Web) -> None:
    response = web.client().get("/simulation/scenario.schema.json")
    assert response.status_code == 200
    assert response.get_json()["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_chart_js_is_served_from_node_modules(web: Web) -> None:
    response = web.client().get("/static/vendor/chart.umd.min.js")
    assert response.status_code == 200
    assert b"Chart" in response.get_data()[:5000]
    response.close()


# -- the form ----------------------------------------------------------------------------------------------------


def test_the_form_starts_from_the_template(web: Web) -> None:
    page = web.client("process_owner").get("/simulation/new")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    scenario = scenario_templates()["today"]
    surveyors = scenario["pools"]["surveyor"]["count"]
    assert re.search(rf'name="pools\.surveyor\.count" value="{surveyors}"', body)
    assert 'name="arrivals.lv_residential.per_working_day"' in body
    assert 'name="durations.site_survey.mean"' in body
    assert "现场勘查" in text_of(page)  # durations are labelled with the step names of the diagram
    assert 'value="variant:parallel_plan_review"' in body
    assert re.search(r'<option value="version:\d+"', body)  # the deployed version of the db fixture
    client_page = web.client("process_owner").get("/simulation/new?template=fewer_surveyors_parallel_review")
    assert client_page.status_code == 200  # a template naming a variant overlay preselects it
    assert '<option value="variant:parallel_plan_review" selected>' in client_page.get_data(as_text=True)
    assert web.client("process_owner").get("/simulation/new?template=nothing").status_code == 404


def test_creating_a_run_with_a_variant_stores_its_parameters(web: Web) -> None:
    client = web.client("process_owner")
    response = client.post("/simulation/new", form_for(
        variant_process="variant:parallel_plan_review", **{"variant.pools.surveyor.count": "1",
                                                           "pools.installer.count": "3", "cases": "40"}))
    assert response.status_code == 302
    [run] = stored(web)
    assert response.headers["Location"] == f"/simulation/{run.id}"
    assert (run.name, run.status, run.created_by) == ("少一名勘查员", "queued", "process_owner")
    params = run.params
    assert params["base"]["process"] == "folder"
    assert params["variant"]["process"] == "variant:parallel_plan_review"
    assert params["base"]["scenario"]["pools"]["installer"]["count"] == 3
    assert params["variant"]["scenario"]["pools"]["surveyor"]["count"] == 1
    assert params["base"]["scenario"]["pools"]["surveyor"]["count"] == scenario_templates()["today"]["pools"][
        "surveyor"]["count"]
    assert (params["replications"], params["cases"]) == (2, 40)
    assert "process" not in params["base"]["scenario"]  # the run places the chosen process itself
    page = client.get(f"/simulation/{run.id}")
    assert page.status_code == 200 and "排队中" in text_of(page)
    assert client.get(f"/simulation/{run.id}/status.json").get_json() == {
        "id": run.id, "status": "queued", "progress": 0.0, "error": None, "status_label": "排队中",
        "remaining_label": None}
    assert "少一名勘查员" in text_of(client.get("/simulation/"))


def test_bad_form_values_are_shown_at_their_fields(web: Web) -> None:
    client = web.client("process_owner")
    response = client.post("/simulation/new", form_for(**{"pools.surveyor.count": "两个", "replications": "99",
                                                         "name": ""}))
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert re.search(r'id="err-pools\.surveyor\.count">请输入整数。', body)
    assert re.search(r'id="err-replications">超出允许范围：1–30', body)
    assert 'value="两个"' in body  # the input is kept
    response = client.post("/simulation/new", form_for(**{"pools.surveyor.count": "0"}))
    assert response.status_code == 400
    assert re.search(r'id="err-pools\.surveyor\.count">不能小于 1。', response.get_data(as_text=True))
    response = client.post("/simulation/new", form_for(**{"durations.site_survey.mean": "0"}))
    assert response.status_code == 400
    assert re.search(r'id="err-durations\.site_survey\.mean">平均必须大于 0（现为 0）。', response.get_data(
        as_text=True))
    assert stored(web) == []


def test_field_messages_follow_the_language(web: Web) -> None:
    client = web.client("process_owner")
    client.get("/auth/language/en")
    response = client.post("/simulation/new", form_for(**{"pools.surveyor.count": "0", "horizon_days": "inf"}))
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert re.search(r'id="err-pools\.surveyor\.count">Must be at least 1\.', body)
    assert re.search(r'id="err-horizon_days">Enter a finite number \(not nan or inf\)\.', body)
    assert stored(web) == []


def test_numbers_must_be_finite(web: Web) -> None:
    client = web.client("process_owner")
    for path, text in (("horizon_days", "nan"), ("arrivals.lv_residential.per_working_day", "inf"),
                       ("durations.site_survey.mean", "-Infinity"), ("horizon_days", "NaN")):
        response = client.post("/simulation/new", form_for(**{path: text}))
        assert response.status_code == 400
        assert re.search(rf'id="err-{re.escape(path)}">请输入有限的数字（不能是 nan 或 inf）。',
                         response.get_data(as_text=True)), (path, text)
    assert stored(web) == []


def test_non_finite_numbers_of_the_editor_are_refused(web: Web) -> None:
    scenario = {**scenario_templates()["today"], "horizon_days": ".nan"}
    raw = "\n".join(f"{key}: {value if key == 'horizon_days' else json.dumps(value)}"
                    for key, value in scenario.items())
    response = web.client("process_owner").post("/simulation/new", form_for(mode="raw", scenario_raw=raw))
    assert response.status_code == 400
    assert "horizon_days ：请输入有限的数字（不能是 nan 或 inf）。" in html.unescape(text_of(response))
    assert stored(web) == []


def test_case_limits_are_enforced_at_submission(web: Web) -> None:
    client = web.client("process_owner")
    response = client.post("/simulation/new", form_for(cases="10000000", replications="30"))
    assert response.status_code == 400
    assert re.search(r'id="err-cases">案件数不能超过 20000。', response.get_data(as_text=True))
    response = client.post("/simulation/new", form_for(cases="20000", horizon_days="", replications="30"))
    assert response.status_code == 400
    assert re.search(r'id="err-replications">案件数 × 重复次数 × 方案数（1）约为 600000，超过上限 100000：',
                     response.get_data(as_text=True))
    response = client.post("/simulation/new", form_for(**{"horizon_days": "3000",
                                                         "arrivals.lv_residential.per_working_day": "60"}))
    assert response.status_code == 400
    assert re.search(r'id="err-horizon_days">按此到达时段与到达率，每次重复约有 \d+ 个案件，超过上限 20000',
                     response.get_data(as_text=True))
    response = client.post("/simulation/new", form_for(horizon_days="100000"))
    assert response.status_code == 400
    assert re.search(r'id="err-horizon_days">不能超过 3650 天。', response.get_data(as_text=True))
    assert stored(web) == []
    ok = client.post("/simulation/new", form_for(cases="20000", horizon_days="", replications="5"))  # at both limits
    assert ok.status_code == 302


def test_bad_raw_scenarios_name_the_key_path(web: Web) -> None:
    client = web.client("process_owner")
    raw = '{"name": "x", "start": "2026-11-02", "cases": 5, "arrivals": {"lv_residential": {"per_working_day": 2}},' \
          ' "pools": {"surveyor": {"count": "two"}}, "colour": "red"}'
    response = client.post("/simulation/new", form_for(mode="raw", scenario_raw=raw))
    assert response.status_code == 400
    page = html.unescape(text_of(response))
    assert "勘查人员 人数（pools.surveyor.count） ：应为整数。" in page
    assert "colour ：未知的键 colour。" in page
    response = client.post("/simulation/new", form_for(mode="raw", scenario_raw="name: x\npools: [1,\n"))
    assert response.status_code == 400
    assert re.search(r"语法错误：第 \d+ 行第 \d+ 列：", text_of(response))
    # the engine's own reading (beyond the schema): neither a horizon nor a case count
    raw = '{"name": "x", "start": "2026-11-02", "arrivals": {"lv_residential": {"per_working_day": 2}},' \
          ' "pools": {"surveyor": {"count": 1}}}'
    response = client.post("/simulation/new", form_for(mode="raw", scenario_raw=raw))
    assert response.status_code == 400
    assert "horizon_days ：请填写申请到达时段（天）或案件数，或两项都填。" in text_of(response)  # at the window
    response = client.post("/simulation/new", form_for(base_process="version:99999"))
    assert response.status_code == 400 and "请从列表中选择。" in text_of(response)
    assert stored(web) == []


def raw_today(**changes: Any) -> str:
    """The ``today`` template as the advanced editor holds it (JSON), with ``changes`` at the top level."""
    return json.dumps({**scenario_templates()["today"], **changes}, ensure_ascii=False)


def test_the_editor_checks_the_scenario_against_the_process_at_submission(web: Web) -> None:
    client = web.client("process_owner")
    pools = dict(scenario_templates()["today"]["pools"])
    without_archivist = {role: settings for role, settings in pools.items() if role != "archivist"}
    response = client.post("/simulation/new", form_for(mode="raw", scenario_raw=raw_today(pools=without_archivist)))
    assert response.status_code == 400
    page = html.unescape(text_of(response))
    assert "pools ：流程中岗位 archivist 的环节（" in page and "没有人员配置" in page
    misspelt = {**pools, "surveyer": pools["surveyor"]}
    response = client.post("/simulation/new", form_for(
        mode="raw", scenario_raw=raw_today(), variant_process="folder", variant_raw=raw_today(pools=misspelt)))
    assert response.status_code == 400
    assert "pools.surveyer ：流程中没有岗位 surveyer" in html.unescape(text_of(response))
    assert stored(web) == []


def test_a_variant_without_its_process_is_refused_not_dropped(web: Web) -> None:
    client = web.client("process_owner")
    message = "填写了对比方案，但未选择对比方案的流程"
    response = client.post("/simulation/new", form_for(mode="raw", scenario_raw=raw_today(), variant_raw=raw_today(
        seed=2)))
    assert response.status_code == 400
    assert re.search(rf'id="err-variant_process">{message}', response.get_data(as_text=True))
    assert 'seed": 2' in html.unescape(response.get_data(as_text=True))  # the variant is kept in its editor
    response = client.post("/simulation/new", form_for(**{"variant.pools.surveyor.count": "1"}))
    assert response.status_code == 400 and message in text_of(response)
    assert stored(web) == []
    same_process = client.post("/simulation/new", form_for(mode="raw", scenario_raw=raw_today(cases=5),
                                                           variant_process="folder", variant_raw=raw_today(seed=2)))
    assert same_process.status_code == 302  # two scenarios on one process: choose it as the variant's process too
    [run] = stored(web)
    assert (run.params["variant"]["process"], run.params["variant"]["scenario"]["seed"]) == ("folder", 2)


def test_extends_in_the_editor_is_explained(web: Web) -> None:
    response = web.client("process_owner").post("/simulation/new", form_for(
        mode="raw", scenario_raw="extends: today.yaml\nname: x\n"))
    assert response.status_code == 400
    page = html.unescape(text_of(response))
    assert "extends ：高级编辑器不支持 extends" in page
    assert "required" not in page
    assert stored(web) == []


def test_an_unknown_template_is_named(web: Web) -> None:
    response = web.client("process_owner").post("/simulation/new", {**form_for(), "template": "nothing"})
    assert response.status_code == 400
    assert "场景模板：未知的场景模板“nothing”：请重新载入模板后再提交。" in html.unescape(text_of(response))
    assert stored(web) == []


def test_a_missing_run_is_404(web: Web) -> None:
    client = web.client("process_owner")
    assert client.get("/simulation/4242").status_code == 404
    for url in ("/simulation/4242/status.json", "/simulation/4242/result.json"):
        response = client.get(url)
        assert (response.status_code, response.mimetype, response.get_json()) == (
            404, "application/json", {"error": "该仿真不存在。"}), url


def test_json_endpoints_answer_failures_in_json(web: Web) -> None:
    run_id = queue_run(web)
    response = web.client("surveyor").get(f"/simulation/{run_id}/status.json")
    assert (response.status_code, response.mimetype) == (403, "application/json")
    assert response.get_json()["error"]
    response = web.client("process_owner").get(f"/simulation/{run_id}/result.json")
    assert (response.status_code, response.get_json()) == (409, {"error": "not finished", "status": "queued"})


def test_the_run_page_shows_what_was_simulated(web: Web) -> None:
    base = {**scenario_templates()["today"], "cases": 40, "seed": 9}
    variant = {**base, "pools": {**base["pools"], "surveyor": {**base["pools"]["surveyor"], "count": 1}},
               "regime": "csg"}
    run_id = queue_run(web, {"base": {"process": "folder", "scenario": base},
                             "variant": {"process": "variant:parallel_plan_review", "scenario": variant},
                             "replications": 4, "seed": 9, "cases": 40})
    page = web.client("process_owner").get(f"/simulation/{run_id}")
    text = text_of(page)
    for expected in ("案件数 40", f"开始日期 {base['start']}", f"申请到达时段（天） {base['horizon_days']}",
                     "随机种子 9", "重复次数 4", "勘查人员 3 1", "regime statute csg"):
        assert expected in text, expected
    assert "实际到达案件数" not in text  # not run yet


# -- a run with the real engine ----------------------------------------------------------------------------------


@pytest.mark.parametrize("compare", [True])
def test_a_run_end_to_end(web: Web, tmp_path: Path, compare: bool) -> None:
    client = web.client("process_owner")
    changes = {"cases": str(SMALL_CASES), "name": "并行审核对比 " + uuid.uuid4().hex[:4]}
    if compare:
        changes.update({"variant_process": "variant:parallel_plan_review", "variant.pools.surveyor.count": "1"})
    assert client.post("/simulation/new", form_for(**changes)).status_code == 302
    [run] = stored(web)
    outcome = run_worker_step(web, tmp_path)
    assert outcome is not None and outcome.outcome == "done", outcome
    assert run_worker_step(web, tmp_path) is None  # nothing else queued

    status = client.get(f"/simulation/{run.id}/status.json").get_json()
    assert (status["status"], status["progress"]) == ("done", 1.0)
    result = client.get(f"/simulation/{run.id}/result.json").get_json()
    assert result["replications"] == 2 and result["cases"] == SMALL_CASES
    base = result["sides"]["base"]
    assert base["kpis"]["cycle_time"]["all"]["arrived"] == SMALL_CASES
    assert base["heatmap"] and all(entry["mean_waiting_hours"] >= 0 for entry in base["heatmap"].values())
    assert set(result["charts"]) == {"cycle_time", "on_time_steps", "utilisation", "queues"}
    on_time = result["charts"]["on_time_steps"]  # the replications' mean, as the tables show (not replication 0's)
    for side in ("base", "variant") if compare else ("base",):
        assert on_time[side] == [result["sides"][side]["flat"].get(f"on_time.step.{eid}.share")
                                 for eid in on_time["ids"]], side
    assert result["comparison"]["replications"] == 2
    assert result["comparison"]["verdicts"]["zh"]
    assert result["sides"]["variant"]["kpis"]["pools"]["surveyor"]["size"] == 1

    page = client.get(f"/simulation/{run.id}")
    assert page.status_code == 200
    text = text_of(page)
    arrived = result["sides"]["variant"]["kpis"]["cycle_time"]["all"]["arrived"]
    assert f"实际到达案件数（第 1 次重复） 基准方案 {SMALL_CASES} · 对比方案 {arrived}" in text
    for heading in ("关键指标", "对比（对比方案 − 基准方案）", "95% 置信区间", "等待时间热力图（基准方案）",
                    "全部 办电时长 平均（工作日）", "全部 全流程时长 平均（工作日）", "单户人员成本（在岗）（元）",
                    "单户工作量成本（元）"):
        assert heading in text, heading
    assert result["comparison"]["verdicts"]["zh"][0] in text
    # the variant has fewer surveyors: its paid cost of that pool is lower by their on-shift hours
    paid = {side: result["sides"][side]["kpis"]["cost"]["paid"]["pools"]["surveyor"] for side in ("base", "variant")}
    assert paid["variant"] < paid["base"]
    diagram = client.get(f"/simulation/{run.id}/diagram.bpmn")
    assert diagram.status_code == 200 and b"<bpmn:definitions" in diagram.get_data()[:2000]
    variant_diagram = client.get(f"/simulation/{run.id}/diagram.bpmn?side=variant").get_data(as_text=True)
    assert variant_diagram == (Path("processes/variants/parallel_plan_review/baozhuang.bpmn").read_text(
        encoding="utf-8"))
    # the heat map of either side: the page links to the other one, and the table follows the side shown
    assert f"/simulation/{run.id}?side=variant#heatmap" in page.get_data(as_text=True)
    variant_page = client.get(f"/simulation/{run.id}?side=variant")
    shown = variant_page.get_data(as_text=True)
    assert variant_page.status_code == 200 and "等待时间热力图（对比方案）" in text_of(variant_page)
    assert 'data-side="variant"' in shown and "diagram.bpmn?side=variant" in shown
    variant_heat = result["sides"]["variant"]["heatmap"]
    hottest = max(variant_heat.values(), key=lambda entry: entry["mean_waiting_hours"])
    assert f"{hottest['mean_waiting_hours']:.1f}" in text_of(variant_page)
    assert client.get(f"/simulation/{run.id}?side=other").status_code == 404
    client.get("/auth/language/en")
    assert "Paid staff cost per case (CNY)" in text_of(client.get(f"/simulation/{run.id}"))


def test_a_run_without_a_variant_has_no_variant_heat_map(web: Web) -> None:
    run_id = queue_run(web)
    client = web.client("process_owner")
    assert client.get(f"/simulation/{run_id}?side=variant").status_code == 404
    assert client.get(f"/simulation/{run_id}?side=base").status_code == 200


def test_a_run_left_by_a_dead_worker_says_so(web: Web) -> None:
    run_id = queue_run(web)
    assert runs.claim(web.db.sessions, owner="dead", now=web.db.clock.now(), lease=timedelta(seconds=60)) == run_id
    client = web.client("process_owner")
    assert "等待后台服务接手" not in text_of(client.get("/simulation/"))
    web.db.clock.advance(timedelta(minutes=2))
    assert "运行中 等待后台服务接手" in text_of(client.get("/simulation/"))


def test_a_queued_run_is_cancelled_from_its_page_by_owners_only(web: Web) -> None:
    run_id = queue_run(web)
    url = f"/simulation/{run_id}/cancel"
    others = tuple(user for user in STAFF if user not in OWNERS)
    assert {user: web.client(user).post(url).status_code for user in others} == dict.fromkeys(others, 403)
    anonymous = web.client().post(url)
    assert_login_redirect(web.client(), anonymous.status_code, anonymous.headers["Location"])
    owner = web.client("process_owner")
    page = owner.get(f"/simulation/{run_id}")
    assert 'id="sim-cancel"' in page.get_data(as_text=True) and "取消仿真" in text_of(page)
    assert owner.post(url, csrf=False).status_code == 400
    assert stored(web)[0].status == "queued"
    done = owner.post(url)
    assert done.status_code == 302 and done.headers["Location"].endswith(f"/simulation/{run_id}")
    page = owner.get(f"/simulation/{run_id}")
    assert "仿真已取消。" in text_of(page) and "已取消" in text_of(page)
    assert 'id="sim-cancel"' not in page.get_data(as_text=True)  # nothing left to cancel
    assert stored(web)[0].status == "cancelled"
    assert owner.get(f"/simulation/{run_id}/status.json").get_json()["status"] == "cancelled"
    again = owner.post(url)
    assert again.status_code == 302 and "该仿真已结束，无法取消。" in text_of(owner.get(f"/simulation/{run_id}"))
    assert owner.post("/simulation/999999/cancel").status_code == 404


def test_a_failed_run_says_so_in_chinese_and_keeps_the_detail(web: Web, tmp_path: Path) -> None:
    run_id = queue_run(web, {"base": {"process": "folder", "scenario": {"name": "x"}}, "variant": None,
                             "replications": 1, "seed": 1, "cases": 1})
    outcome = run_worker_step(web, tmp_path)
    assert outcome is not None and outcome.outcome == "failed"
    page = web.client("process_owner").get(f"/simulation/{run_id}")
    text = text_of(page)
    assert "仿真失败：场景无法在所选流程上运行，或仿真过程中出错。" in text
    body = page.get_data(as_text=True)
    assert re.search(r'<details class="sim-error-detail"><summary>技术细节</summary><pre>simulation run \(base\)',
                     body)
