"""The advanced editor (and the rest of the new-run form) against input no scenario should be: every answer is
the form again with the problem at its field (400) or a stored run (302), never a server error. Real HTTP."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from runner.cli import main
from runner.simulation.scenario import MAX_SCENARIO_DEPTH
from tests.test_webui_simulation import form_for, stored
from tests.webui_helpers import (
    Web,
    text_of,
    web_fixture,  # noqa: F401  (the web fixture)
)

ROOT = Path(__file__).resolve().parent.parent
ODD_SCENARIOS = ["[]", "null", "1", '"x"', "{", "[" * 5000 + "]" * 5000, "{" * 3000, '{"a": ' * 200 + "1" + "}" * 200,
                 '{"pools": 5}', '{"cases": 1e400}', "a: b: c", "!!python/object/apply:os.system ['ls']",
                 '{"seed": -1}', '{"start": "2026-02-30"}', '{"arrivals": {"x": {"per_working_day": "NaN"}}}',
                 "\x00", '{"extends": "today.yaml"}', "- - - - - " * 400]


@pytest.mark.parametrize("field", ["scenario_raw", "variant_raw"])
def test_odd_scenarios_are_answered_at_their_field(web: Web, field: str) -> None:
    client = web.client("process_owner")
    for raw in ODD_SCENARIOS:
        form = form_for(mode="raw", scenario_raw="{}", variant_process="variant:parallel_plan_review")
        form[field] = raw
        response = client.post("/simulation/new", form)
        assert response.status_code == 400, (field, raw[:40], response.status_code)
    assert stored(web) == []


def test_a_scenario_nested_too_deeply_says_so(web: Web) -> None:
    client = web.client("process_owner")
    deep = '{"name": "x", "note": ' + "[" * (MAX_SCENARIO_DEPTH + 5) + "]" * (MAX_SCENARIO_DEPTH + 5) + "}"
    for text in (deep, "[" * 5000 + "]" * 5000):
        page = text_of(client.post("/simulation/new", form_for(mode="raw", scenario_raw=text)))
        assert f"场景的嵌套层数过多（最多 {MAX_SCENARIO_DEPTH} 层）" in page, page[:600]


def test_odd_form_values_are_answered_at_their_field(web: Web) -> None:
    client = web.client("process_owner")
    for field, value in (("replications", "1e9"), ("base_process", "version:99999999999999999999"),
                         ("base_process", "variant:../../etc"), ("variant_process", "version:-1"),
                         ("cases", "99999999999999999999"), ("start", "9999-99-99"), ("seed", "1e400"),
                         ("name", "x" * 5000), ("pools.surveyor.count", "9" * 400)):
        response = client.post("/simulation/new", form_for(**{field: value}))
        assert response.status_code == 400, (field, value, response.status_code)
    assert stored(web) == []


def test_a_pool_count_beyond_the_schema_is_refused_in_the_cli_too(tmp_path: Path) -> None:
    """A count of a few more digits than meant (the form's field, or a scenario file) is refused with the key and
    the limit, before any resource is made (it made one object per person: minutes and gigabytes)."""
    scenario = tmp_path / "big.yaml"
    scenario.write_text(f"extends: {ROOT / 'processes' / 'scenarios' / 'today.yaml'}\npools:\n"
                        "  surveyor: {count: 300000000}\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["simulate", str(scenario), "--cases", "5"])
    assert result.exit_code != 0
    assert "big.yaml:3" in result.output and "pools.surveyor.count" in result.output and "10000" in result.output


def test_the_form_refuses_a_pool_count_beyond_the_schema(web: Web) -> None:
    client = web.client("process_owner")
    for field in ("pools.surveyor.count", "variant.pools.surveyor.count"):
        form = form_for(**{field: "300000000"})
        if field.startswith("variant."):
            form["variant_process"] = "folder"
        page = text_of(client.post("/simulation/new", form))
        assert "不能大于 10000" in page, (field, page[:400])
    assert stored(web) == []


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_a_scenario_file_nested_too_deeply_is_one_error_line(tmp_path: Path, suffix: str) -> None:
    scenario = tmp_path / f"deep{suffix}"
    for depth in (5000, MAX_SCENARIO_DEPTH + 2):
        scenario.write_text('{"name": "x", "note": ' + "[" * depth + "]" * depth + "}", encoding="utf-8")
        result = CliRunner().invoke(main, ["simulate", str(scenario), "--cases", "5"])
        assert result.exit_code != 0 and result.exception is None or isinstance(result.exception, SystemExit)
        assert f"deep{suffix}" in result.output and f"nested more than {MAX_SCENARIO_DEPTH} levels deep" in \
            result.output, result.output[-600:]
        assert "Traceback" not in result.output
