"""The simulation page (webui/simulation): who may use it, creating runs through HTTP, bad scenarios answered 400
with their key path, and a run carried out by the worker's step with the real engine, then its report and JSON.
Real databases (SQLite and PostgreSQL), real HTTP through the Flask test client, CSRF on."""

from __future__ import annotations

import html
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
OWNERS = ("process_owner", "admin")
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
            "cases": 1, "jobs": 1}, now=web.db.clock.now())


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
        "id": run.id, "status": "queued", "progress": 0.0, "error": None, "status_label": "排队中"}
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
    assert re.search(r'id="err-pools\.surveyor\.count">0 is less than the minimum of 1', response.get_data(
        as_text=True))
    assert stored(web) == []


def test_bad_raw_scenarios_name_the_key_path(web: Web) -> None:
    client = web.client("process_owner")
    raw = '{"name": "x", "start": "2026-11-02", "cases": 5, "arrivals": {"lv_residential": {"per_working_day": 2}},' \
          ' "pools": {"surveyor": {"count": "two"}}, "colour": "red"}'
    response = client.post("/simulation/new", form_for(mode="raw", scenario_raw=raw))
    assert response.status_code == 400
    page = html.unescape(text_of(response))
    assert "pools.surveyor.count ：'two' is not of type 'integer'" in page
    assert "colour ：unknown key 'colour'" in page
    response = client.post("/simulation/new", form_for(mode="raw", scenario_raw="name: x\npools: [1,\n"))
    assert response.status_code == 400
    assert re.search(r"line \d+, column \d+", text_of(response))
    # the engine's own reading (beyond the schema): neither a horizon nor a case count
    raw = '{"name": "x", "start": "2026-11-02", "arrivals": {"lv_residential": {"per_working_day": 2}},' \
          ' "pools": {"surveyor": {"count": 1}}}'
    response = client.post("/simulation/new", form_for(mode="raw", scenario_raw=raw))
    assert response.status_code == 400 and "horizon_days" in text_of(response)
    response = client.post("/simulation/new", form_for(base_process="version:99999"))
    assert response.status_code == 400 and "请从列表中选择。" in text_of(response)
    assert stored(web) == []


def test_a_missing_run_is_404(web: Web) -> None:
    client = web.client("process_owner")
    assert client.get("/simulation/4242").status_code == 404
    assert client.get("/simulation/4242/status.json").status_code == 404


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
    assert result["comparison"]["replications"] == 2
    assert result["comparison"]["verdicts"]["zh"]
    assert result["sides"]["variant"]["kpis"]["pools"]["surveyor"]["size"] == 1

    page = client.get(f"/simulation/{run.id}")
    assert page.status_code == 200
    text = text_of(page)
    for heading in ("关键指标", "对比（对比方案 − 基准方案）", "95% 置信区间", "等待时间热力图（基准方案）",
                    "全部 办电时长 平均（工作日）"):
        assert heading in text, heading
    assert result["comparison"]["verdicts"]["zh"][0] in text
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


def test_a_run_without_a_variant_has_no_variant_heat_map(web: Web) -> None:
    run_id = queue_run(web)
    client = web.client("process_owner")
    assert client.get(f"/simulation/{run_id}?side=variant").status_code == 404
    assert client.get(f"/simulation/{run_id}?side=base").status_code == 200


def test_a_run_left_by_a_dead_worker_says_so(web: Web) -> None:
    run_id = queue_run(web)
    assert runs.claim(web.db.sessions, owner="dead", now=web.db.clock.now(), lease=timedelta(seconds=60)) == run_id
    client = web.client("process_owner")
    assert "等待其他 worker 接管" not in text_of(client.get("/simulation/"))
    web.db.clock.advance(timedelta(minutes=2))
    assert "运行中 等待其他 worker 接管" in text_of(client.get("/simulation/"))


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
