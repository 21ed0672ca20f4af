"""The process owner's simulation page and CLI after review: warnings for cases that did not arrive or were still
open at the stop (web and CLI), a window without arrival days refused, every scenario problem at once in plain words,
10 replications by default, a plausible start date and the estimated days named, n/a utilisation of a pool never on
shift, and the dead worker's hint on the run page. Runner-level checks with the real engine (small runs), the page
through real HTTP (Flask test client, CSRF on) on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from runner.cli import main
from runner.simulation import runs
from runner.simulation.arrivals import expected_arrivals
from runner.simulation.batch import run_batch
from runner.simulation.kpis import flat_kpis
from runner.simulation.report import (
    calendar_spans,
    estimated_note,
    estimated_note_zh,
    off_shift_pools,
    render_html,
    shortfalls,
)
from runner.simulation.run_execute import summarise
from runner.simulation.run_request import scenario_templates
from runner.simulation.scenario import scenario_from_dict
from runner.workdays import WorkingCalendar
from tests.test_webui_simulation import form_for, queue_run, run_worker_step, stored
from tests.webui_helpers import (
    Web,
    text_of,
    web_fixture,  # noqa: F401  (the web fixture)
)

ROOT = Path(__file__).resolve().parent.parent
ONE_STEP = ROOT / "tests" / "data" / "simulation" / "one_step"


def one_step(**changes: Any) -> dict[str, Any]:
    """The one-step model (a clerk pool on office hours, one task of 2 working hours)."""
    return {"name": "one", "start": "2026-11-02", "horizon_days": 14, "max_days": 60, "seed": 5, "process": ".",
            "samples": "samples", "arrivals": {"one": {"per_working_day": 5}},
            "calendars": {"office": {"working_days": "cn", "shifts": ["08:30-12:00", "13:30-17:30"]}},
            "pools": {"clerk": {"count": 1, "calendar": "office"}}, "durations": {"work": 2}, **changes}


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["simulate", *args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def raw_form(scenario: dict[str, Any], **changes: str) -> dict[str, str]:
    """The advanced editor's form with ``scenario`` (JSON)."""
    return {**form_for(), "mode": "raw", "scenario_raw": json.dumps(scenario, ensure_ascii=False), **changes}


def today(**changes: Any) -> dict[str, Any]:
    return {**scenario_templates()["today"], **changes}


# -- 1. cases that did not arrive, or were still open at the stop: on the web page too -------------------------------

def test_the_run_page_warns_of_missing_and_open_cases_in_both_languages(web: Web, tmp_path: Path) -> None:
    client = web.client("process_owner")
    scenario = {key: value for key, value in today(cases=12, max_days=1).items() if key != "horizon_days"}
    assert client.post("/simulation/new", raw_form(scenario, replications="2")).status_code == 302
    [run] = stored(web)
    outcome = run_worker_step(web, tmp_path)
    assert outcome is not None and outcome.outcome == "done", outcome
    result = client.get(f"/simulation/{run.id}/result.json").get_json()
    arrived = result["sides"]["base"]["cases_arrived"]
    assert len(arrived) == 2 and max(arrived) < 12  # one day of arrivals brings fewer than 12
    [short] = result["warnings"]["shortfalls"]
    assert (short["side"], short["requested"], short["arrived"]) == ("base", 12, arrived)
    [cut] = result["warnings"]["open_at_stop"]
    assert cut["days"] == 1 and cut["replications"] == 2

    text = text_of(client.get(f"/simulation/{run.id}"))
    low, high = min(arrived), max(arrived)
    counts = str(low) if low == high else f"{low}–{high}"
    assert f"基准方案（{result['sides']['base']['scenario']}）：请求 12 户" in text
    assert f"每次仅到达 {counts} 户" in text
    assert "时钟在开始后 1 天（场景的 max_days）停止时" in text
    client.get("/auth/language/en")
    english = text_of(client.get(f"/simulation/{run.id}"))
    assert "12 cases were requested" in english
    assert "the clock stopped 1 days after the start (max_days of the scenario)" in english


def test_a_stored_result_without_warnings_still_warns_from_replication_0(web: Web) -> None:
    base = today(cases=40)
    run_id = queue_run(web, {"base": {"process": "folder", "scenario": base}, "variant": None, "replications": 1,
                             "seed": 1, "cases": 40})
    kpis = {"cycle_time": {"all": {"arrived": 7, "count": 3}}, "pools": {},
            "period": {"start": "2026-11-02T00:00:00+08:00", "end": "2026-11-03T00:00:00+08:00",
                       "stopped_by": "max_days"}}
    with web.db.transaction() as session:
        run = runs.get_run(session, run_id)
        run.status, run.progress = "done", 1.0
        flat = {"cycle_time.all.completed_share": 3 / 7, "cycle_time.all.mean_working_days": 0.5}
        run.result = {"replications": 1, "seed": 1, "cases": 40, "comparison": None,
                      "sides": {"base": {"scenario": "现状", "kpis": kpis, "flat": flat, "heatmap": {}}}}
    client = web.client("process_owner")
    page = client.get(f"/simulation/{run_id}")
    text = text_of(page)
    assert "基准方案（现状）：请求 40 户" in text and "每次仅到达 7 户" in text
    assert "到达的 7 户中 4 户" in text
    # the mean over the 3 completed cases is marked: shorter is not better here
    assert "全部 全流程时长 平均（工作日） † 0.50" in text
    assert 'title="仅计已办结案件（办结率 42.9%）；其余案件未计入，时长偏短"' in page.get_data(as_text=True)
    assert "† 此时长只计已办结" in text
    client.get("/auth/language/en")
    english = text_of(client.get(f"/simulation/{run_id}"))
    assert "Base (现状): 40 cases were requested, but only 7 arrived" in english
    assert "do not read it as faster handling" in english


# -- 2. a window in which no application can arrive ------------------------------------------------------------------

def spring_festival(**changes: Any) -> dict[str, Any]:
    return {key: value for key, value in today(start="2026-02-16", horizon_days=3, **changes).items()
            if key != "cases"}


def test_the_arrival_estimate_follows_the_real_calendar() -> None:
    def expected(data: dict[str, Any]) -> float:
        return expected_arrivals(scenario_from_dict({**data, "process": str(ROOT / "processes")}, "<t>"))

    assert expected(spring_festival()) == 0.0  # 2026-02-16..18: Spring Festival days off
    week = expected(today(start="2026-11-02", horizon_days=7))  # Monday: five working days
    rate = sum(spec.get("per_working_day", 0) for spec in today()["arrivals"].values())
    assert abs(week - 5 * rate) < 1e-6


def test_the_web_form_refuses_a_window_without_arrival_days(web: Web) -> None:
    client = web.client("process_owner")
    response = client.post("/simulation/new", form_for(start="2026-02-16", horizon_days="3", cases=""))
    assert response.status_code == 400
    assert "按到达日历，2026-02-16 至 2026-02-18 没有可受理申请的日子" in text_of(response)
    assert stored(web) == []
    client.get("/auth/language/en")
    response = client.post("/simulation/new", form_for(start="2026-02-16", horizon_days="3", cases=""))
    assert "no day on which applications are accepted from 2026-02-16 to 2026-02-18" in text_of(response)


def extending_today(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mine.yaml"
    path.write_text(f"extends: {ROOT / 'processes' / 'scenarios' / 'today.yaml'}\n{text}", encoding="utf-8")
    return path


def test_the_cli_refuses_a_window_without_arrival_days(tmp_path: Path) -> None:
    code, _out, err = invoke(str(extending_today(tmp_path, 'start: "2026-02-16"\nhorizon_days: 3\n')))
    assert code == 1
    assert "horizon_days: no application can arrive from 2026-02-16 to 2026-02-18" in err


def test_shortfalls_warn_when_no_case_arrived_even_without_a_count() -> None:
    scenario = scenario_from_dict(one_step(start="2026-02-16", horizon_days=3), base_dir=ONE_STEP)
    result = run_batch(scenario, None, replications=1, seed=1)
    [short] = shortfalls(result, {"base": None})
    assert short.requested is None and short.arrived == [0]
    assert "no case arrived" in short.message() and "没有案件到达" in short.message_zh()


# -- 3. every problem at once, in plain words ------------------------------------------------------------------------

def test_every_scenario_problem_is_reported_at_once(web: Web) -> None:
    scenario = today(calendars={"field": {"working_days": "cn", "shifts": ["25:00-26:00"]}},
                     pools={**today()["pools"], "surveyor": {**today()["pools"]["surveyor"], "count": -1}})
    client = web.client("process_owner")
    response = client.post("/simulation/new", raw_form(scenario))
    assert response.status_code == 400
    text = text_of(response)
    assert "不能小于 1" in text
    assert "班次 25:00-26:00 中的 25:00 超出范围" in text
    empty = today(calendars={"field": {"working_days": [], "shifts": ["08:00-12:00"]}})
    text = text_of(client.post("/simulation/new", raw_form(empty)))
    assert "请至少填写一个工作日" in text and "is not valid under any of the given schemas" not in text
    client.get("/auth/language/en")
    text = text_of(client.post("/simulation/new", raw_form(scenario)))
    assert "25:00 in shift 25:00-26:00 is out of range" in text


def test_the_cli_names_every_problem_too() -> None:
    data = one_step(calendars={"office": {"working_days": "cn", "shifts": ["25:00-26:00"]}},
                    pools={"clerk": {"count": -1, "calendar": "office"}})
    try:
        scenario_from_dict(data, base_dir=ONE_STEP)
    except Exception as err:  # noqa: BLE001 - ScenarioError: its lines
        text = str(err)
    assert "pools.clerk.count" in text and "25:00 is out of range" in text
    data = one_step(calendars={"office": {"working_days": [], "shifts": ["08:00-12:00"]}})
    try:
        scenario_from_dict(data, base_dir=ONE_STEP)
    except Exception as err:  # noqa: BLE001
        text = str(err)
    assert "working_days needs at least one weekday" in text


# -- 4. replications ------------------------------------------------------------------------------------------------

def test_the_form_defaults_to_ten_replications(web: Web) -> None:
    body = web.client("process_owner").get("/simulation/new").get_data(as_text=True)
    assert 'name="replications"' in body and 'value="10"' in body


# -- 5. start dates -------------------------------------------------------------------------------------------------

def test_a_start_far_outside_the_calendar_data_is_refused(web: Web) -> None:
    client = web.client("process_owner")
    known = WorkingCalendar.default().known_years()
    for start in ("1900-01-01", "2200-01-01"):
        response = client.post("/simulation/new", form_for(start=start))
        assert response.status_code == 400, start
        assert f"开始日期应在 {known[0]}-01-01 至 {known[-1] + 10}-12-31 之间" in text_of(response)
    assert stored(web) == []


def test_the_estimate_note_names_the_runs_own_days() -> None:
    known = WorkingCalendar.default().known_years()

    def spans(start: str, end: str) -> list[tuple[str, str]]:
        return calendar_spans({"calendar": {"estimated": True}, "period": {"start": start, "end": end}})

    before = spans(f"{known[0] - 1}-12-30T00:00:00+08:00", f"{known[0]}-01-05T00:00:00+08:00")
    assert before == [(f"{known[0] - 1}-12-30", f"{known[0] - 1}-12-31")]
    assert estimated_note_zh(before) == (f"{known[0]}-01-01 之前的工作日为估算（无官方节假日安排，不含调休）："
                                         f"本次运行中 {known[0] - 1}-12-30 至 {known[0] - 1}-12-31")
    after = spans(f"{known[-1]}-12-30T00:00:00+08:00", f"{known[-1] + 1}-01-03T00:00:00+08:00")
    assert after == [(f"{known[-1] + 1}-01-01", f"{known[-1] + 1}-01-03")]
    assert estimated_note(after).startswith(f"working days after {known[-1]}-12-31 are estimated")
    assert spans("1900-01-01T00:00:00+08:00", "1900-03-01T00:00:00+08:00") == [("1900-01-01", "1900-03-01")]
    assert spans(f"{known[-1]}-03-02T00:00:00+08:00", f"{known[-1]}-05-01T00:00:00+08:00") == []


def test_the_run_page_names_the_estimated_days(web: Web) -> None:
    known = WorkingCalendar.default().known_years()
    run_id = queue_run(web)
    kpis = {"cycle_time": {"all": {"arrived": 3, "count": 3}}, "pools": {},
            "calendar": {"estimated": True, "estimated_after": f"{known[-1]}-12-31"},
            "period": {"start": f"{known[-1]}-12-21T00:00:00+08:00", "end": f"{known[-1] + 1}-01-10T00:00:00+08:00"}}
    with web.db.transaction() as session:
        run = runs.get_run(session, run_id)
        run.status, run.progress = "done", 1.0
        run.result = {"replications": 1, "seed": 1, "cases": 1, "comparison": None,
                      "sides": {"base": {"scenario": "现状", "kpis": kpis, "flat": {}, "heatmap": {}}}}
    text = text_of(web.client("process_owner").get(f"/simulation/{run_id}"))
    assert f"注意：本次运行中 {known[-1] + 1}-01-01 至 {known[-1] + 1}-01-10 的工作日为估算" in text


# -- 6. a pool never on shift while cases arrive ---------------------------------------------------------------------

def saturday_clerk() -> dict[str, Any]:
    """Arrivals Monday to Wednesday, the clerk works Saturdays only."""
    return one_step(horizon_days=3, max_days=30, calendars={"office": {"working_days": ["sat"],
                                                                       "shifts": ["08:30-17:30"]}})


def test_a_pool_never_on_shift_while_cases_arrive_is_na_and_warned(tmp_path: Path) -> None:
    scenario = scenario_from_dict(saturday_clerk(), base_dir=ONE_STEP)
    result = run_batch(scenario, None, replications=1, seed=1)
    kpis = result.base_kpis[0]
    assert kpis["cycle_time"]["all"]["arrived"] > 0
    assert kpis["pools"]["clerk"]["utilisation_while_arriving"] is None
    assert "utilisation_while_arriving.clerk" not in flat_kpis(kpis)  # no 0 % in the means
    [pool] = off_shift_pools(result)
    assert pool.pool == "clerk" and "n/a" in pool.message()
    html = render_html(result, {})
    assert "没有在岗时间" in html and "clerk: —" in html
    stored_result = summarise(result)
    assert stored_result["sides"]["base"]["unmeasured_loads"] == ["utilisation_while_arriving.clerk"]
    assert stored_result["charts"]["utilisation"] == {"pools": ["clerk"], "base": [None]}
    assert [item["pool"] for item in stored_result["warnings"]["off_shift"]] == ["clerk"]


def test_the_cli_json_shows_null_utilisation(tmp_path: Path) -> None:
    path = extending_today(tmp_path, 'start: "2026-11-02"\nhorizon_days: 3\nmax_days: 60\ncalendars:\n'
                                     '  field: {working_days: [sat], shifts: ["08:00-12:00"]}\n')
    code, out, err = invoke(str(path))
    assert code == 0, err
    summary = json.loads(out)
    assert summary["base"]["kpis"]["utilisation_while_arriving.surveyor"] is None
    assert isinstance(summary["base"]["kpis"]["utilisation_while_arriving.account_manager"], float)
    assert "pool surveyor has no on-shift hours while cases arrive" in err


# -- 7. a run whose worker died -------------------------------------------------------------------------------------

def test_the_run_page_says_when_its_worker_died(web: Web) -> None:
    run_id = queue_run(web)
    assert runs.claim(web.db.sessions, owner="dead", now=web.db.clock.now(), lease=timedelta(seconds=60)) == run_id
    client = web.client("process_owner")
    page = client.get(f"/simulation/{run_id}").get_data(as_text=True)
    assert 'id="sim-stalled" hidden' in page
    assert client.get(f"/simulation/{run_id}/status.json").get_json()["stalled"] is False
    web.db.clock.advance(timedelta(minutes=2))
    page_text = text_of(client.get(f"/simulation/{run_id}"))
    assert "运行中" in page_text and "等待后台服务接手" in page_text
    assert 'id="sim-stalled" hidden' not in client.get(f"/simulation/{run_id}").get_data(as_text=True)
    state = client.get(f"/simulation/{run_id}/status.json").get_json()
    assert state["stalled"] is True and state["stalled_label"].startswith("等待后台服务接手")
