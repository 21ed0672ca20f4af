"""Which process a new simulation starts from (a new-user trial): the deployed version new cases start on is marked
current and is the default base when ``processes/`` holds the same files; the folder says whether it holds
undeployed edits; deployment times are China Standard Time, as the CLI shows them; analysts may simulate too. Real
HTTP on both databases."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import select

from runner.clock import shown_time
from runner.models import ProcessVersion
from runner.simulation import run_processes
from tests.webui_helpers import (
    Web,
    password_of,
    web_fixture,  # noqa: F401  (the web fixture)
)


def _options(html: str, select_id: str) -> list[tuple[str, bool, str]]:
    block = html[html.index(f'id="{select_id}"'):]
    block = block[:block.index("</select>")]
    return [(value, bool(selected.strip()), re.sub(r"\s+", " ", label).strip())
            for value, selected, label in re.findall(r'<option value="([^"]*)"\s*([^>]*)>([^<]*)</option>', block)]


def test_the_current_version_is_marked_and_the_default_base(web: Web) -> None:
    with web.db.reading() as session:
        version = session.scalars(select(ProcessVersion).order_by(ProcessVersion.id.desc())).first()
        assert version is not None
        folder_is_deployed = version.version_hash == run_processes.content_hash(run_processes.PROCESSES)
        deployed_at = shown_time(version.deployed_at)
    assert folder_is_deployed  # the test database deploys processes/ as it is
    html = web.client("process_owner").get("/simulation/new").get_data(as_text=True)
    options = _options(html, "f-base_process")
    chosen = [value for value, selected, _label in options if selected]
    assert chosen == [f"version:{version.id}"]
    labels = dict((value, label) for value, _selected, label in options)
    assert labels[f"version:{version.id}"].endswith("（当前生效）")
    assert deployed_at in labels[f"version:{version.id}"]  # China Standard Time, as `baozhuang versions` shows it
    assert labels["folder"] == f"processes/ （与已部署版本 #{version.id} 相同）"


def test_a_folder_with_undeployed_edits_stays_the_default_and_says_so(web: Web, monkeypatch: object,
                                                                      tmp_path: Path) -> None:
    import shutil

    edited = tmp_path / "processes"
    shutil.copytree(run_processes.PROCESSES, edited)
    main = edited / run_processes.MAIN_PROCESS_FILE
    main.write_text(main.read_text(encoding="utf-8").replace("业务受理", "业务受理（试行）", 1), encoding="utf-8")
    monkeypatch.setattr(run_processes, "PROCESSES", edited)  # type: ignore[attr-defined]
    html = web.client("process_owner").get("/simulation/new").get_data(as_text=True)
    options = _options(html, "f-base_process")
    assert [value for value, selected, _label in options if selected] == ["folder"]
    assert dict((value, label) for value, _s, label in options)["folder"] == "processes/ （含尚未部署的修改）"


def test_an_analyst_may_simulate_and_starts_there(web: Web) -> None:
    client = web.client()
    client.get("/auth/login")
    response = client.post("/auth/login", {"username": "analyst", "password": password_of("analyst")})
    assert response.status_code == 302 and response.headers["Location"] == "/simulation/"
    assert client.get("/simulation/new").status_code == 200
    assert 'href="/simulation/"' in client.get("/simulation/").get_data(as_text=True)
