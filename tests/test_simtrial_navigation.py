"""What a new process owner met on the way in and out of the simulation pages (a new-user trial): they start on the
simulation runs, not on an empty workbench; a deleted run's address leads back to the runs; 下载结果 saves a file;
the run page speaks of the background, not of `make run`'s worker; every page has an icon. Real HTTP on both
databases."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import update

from runner import accounts
from runner.models import SimulationRun
from runner.simulation import runs
from tests.test_simulation_runs import small_request
from tests.test_webui_simulation import queue_run, run_worker_step
from tests.webui_helpers import (
    FAST_HASH,
    Web,
    password_of,
    text_of,
    web_fixture,  # noqa: F401  (the web fixture)
)


def test_a_process_owner_starts_on_the_simulation_runs(web: Web) -> None:
    client = web.client()
    client.get("/auth/login")
    response = client.post("/auth/login", {"username": "process_owner", "password": password_of("process_owner")})
    assert response.status_code == 302 and response.headers["Location"] == "/simulation/"
    assert client.get("/").headers["Location"] == "/simulation/"
    assert client.get("/auth/login").headers["Location"] == "/simulation/"  # signed in already
    assert 'class="brand" href="/"' in client.get("/simulation/").get_data(as_text=True)


def test_staff_in_a_lane_start_on_their_workbench_even_when_they_own_the_process(web: Web) -> None:
    with web.db.transaction() as session:
        accounts.create_user(session, "owner_surveyor", password_of("owner_surveyor"), web.db.clock.now(),
                             groups=("process_owner", "surveyor"), password_method=FAST_HASH)
    for username in ("surveyor", "owner_surveyor", "admin"):
        client = web.client()
        client.get("/auth/login")
        response = client.post("/auth/login", {"username": username, "password": password_of(username)})
        assert response.headers["Location"] == "/tasks/", username
        assert client.get("/").headers["Location"] == "/tasks/", username
    anonymous = web.client().get("/")  # the address `make run` prints: the login page, then each one's home
    assert anonymous.headers["Location"] == "/auth/login"


def test_a_deleted_runs_address_leads_back_to_the_runs(web: Web) -> None:
    run_id = queue_run(web)
    with web.db.transaction() as session:
        session.execute(update(SimulationRun).where(SimulationRun.id == run_id).values(status="failed"))
    client = web.client("process_owner")
    assert client.post(f"/simulation/{run_id}/delete").status_code == 302
    response = client.get(f"/simulation/{run_id}")
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert "该仿真不存在（可能已被删除）。" in text_of(response)
    assert '<a href="/simulation/">返回流程仿真</a>' in html and "/tasks/" not in html.split("</nav>")[1]
    again = client.get(f"/simulation/new?from_run={run_id}")  # 以此为起点新建仿真 from a page still open
    assert again.status_code == 404 and '<a href="/simulation/">返回流程仿真</a>' in again.get_data(as_text=True)
    other = client.get("/tasks/no-such-task/form")  # any other 404 offers the start page
    assert other.status_code == 404 and '<a href="/">返回首页</a>' in other.get_data(as_text=True)


def test_the_result_link_downloads_a_file_and_the_charts_still_read_it(web: Web) -> None:
    run_id = queue_run(web, small_request())
    outcome = run_worker_step(web, Path(web.app.instance_path) / "simulations")
    assert outcome is not None and outcome.outcome == "done", outcome
    with web.db.reading() as session:
        result = runs.get_run(session, run_id).result
    client = web.client("process_owner")
    page = client.get(f"/simulation/{run_id}").get_data(as_text=True)
    assert f'href="/simulation/{run_id}/result.json?download=1" download>' in page
    download = client.get(f"/simulation/{run_id}/result.json?download=1")
    assert download.headers["Content-Disposition"] == f'attachment; filename="simulation-{run_id}.json"'
    assert json.loads(download.get_data(as_text=True)) == result
    charts = client.get(f"/simulation/{run_id}/result.json")  # what the page's scripts fetch
    assert "Content-Disposition" not in charts.headers and charts.get_json() == result


def test_the_run_page_speaks_of_the_background_not_of_the_worker(web: Web) -> None:
    run_id = queue_run(web)
    for lang, expected in (("zh_CN", "仿真在后台运行：可以离开本页"), ("en", "The simulation runs in the background")):
        client = web.client("process_owner")
        client.get(f"/auth/language/{lang}")
        text = text_of(client.get(f"/simulation/{run_id}"))
        assert expected in text and "make run" not in text and "worker" not in text, (lang, text[:400])


def test_every_page_has_an_icon(web: Web) -> None:
    for client, url in ((web.client("process_owner"), "/simulation/"), (web.client(), "/auth/login"),
                        (web.client(), "/portal/")):
        html = client.get(url).get_data(as_text=True)
        assert '<link rel="icon" type="image/svg+xml" href="/static/favicon.svg">' in html, url
    client = web.client()
    response = client.get("/favicon.ico")
    assert response.status_code == 301 and response.headers["Location"] == "/static/favicon.svg"
    icon = client.get("/static/favicon.svg")
    body = icon.get_data()
    icon.close()  # a static file's response holds the file open until closed
    assert icon.status_code == 200 and icon.mimetype == "image/svg+xml" and body.startswith(b"<svg")
