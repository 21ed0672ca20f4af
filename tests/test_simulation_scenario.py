"""Scenario files: schema validation with file, line and key; distributions; round trip; the baseline file."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from runner.simulation.distributions import DistributionError, parse_distribution
from runner.simulation.scenario import (
    SCENARIO_SCHEMA_PATH,
    ScenarioError,
    format_path,
    load_scenario,
    read_scenario_data,
    scenario_from_dict,
)

ROOT = Path(__file__).resolve().parent.parent
TODAY = ROOT / "processes" / "scenarios" / "today.yaml"
WHAT_IF = ROOT / "processes" / "scenarios" / "fewer_surveyors_parallel_review.yaml"

GOOD = """\
name: small
start: "2026-11-02"
horizon_days: 5
arrivals:
  lv_residential: {per_working_day: 4}
pools:
  account_manager: {count: 2}
durations:
  site_survey: {distribution: lognormal, mean: 4, sd: 1}
"""


def write(tmp_path: Path, text: str, name: str = "scenario.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_schema_is_valid_draft_2020_12() -> None:
    schema = json.loads(SCENARIO_SCHEMA_PATH.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"].endswith("2020-12/schema")


def test_baseline_scenario_loads_and_round_trips() -> None:
    scenario = load_scenario(TODAY)
    assert scenario.name == "today" and scenario.process_dir == ROOT / "processes"
    assert scenario.samples_dir == ROOT / "processes" / "samples"
    assert set(scenario.pools) == {"account_manager", "surveyor", "plan_reviewer", "inspector", "installer",
                                   "archivist", "followup_agent", "supervisor"}
    again = scenario_from_dict(scenario.to_dict(), source=str(TODAY), base_dir=scenario.base_dir)
    assert again == scenario


def test_json_scenario_reads_like_yaml(tmp_path: Path) -> None:
    import yaml

    data = yaml.safe_load(GOOD)
    path = write(tmp_path, json.dumps(data, indent=2), "scenario.json")
    assert load_scenario(path).arrivals["lv_residential"].per_working_day == 4
    data["pools"]["account_manager"]["count"] = "two"
    text = json.dumps(data, indent=2)
    line = text.splitlines().index('      "count": "two"') + 1
    with pytest.raises(ScenarioError, match=rf"scenario.json:{line}: pools.account_manager.count: 'two' is not of"):
        load_scenario(write(tmp_path, text, "scenario.json"))


def test_data_from_the_web_page_names_the_source_and_key() -> None:
    with pytest.raises(ScenarioError, match=r"^web form: durations.work.sd: normal needs 'sd'$"):
        scenario_from_dict({"name": "x", "start": "2026-11-02", "cases": 3, "arrivals": {"a": {"per_day": 1}},
                            "pools": {"clerk": {"count": 1}},
                            "durations": {"work": {"distribution": "normal", "mean": 1}}}, source="web form")


@pytest.mark.parametrize(("old", "new", "line", "key", "message"), [
    ("horizon_days: 5", "horizon_days: five", 3, "horizon_days", "is not of type 'number'"),
    ("  account_manager: {count: 2}", "  account_manager: {count: 2, colour: red}", 7, "pools.account_manager.colour",
     "unknown key 'colour'"),
    ("mean: 4, sd: 1}", "mean: 4, sd: 1, spread: 2}", 9, "durations.site_survey.spread", "unknown parameter"),
    ("distribution: lognormal", "distribution: zipf", 9, "durations.site_survey.distribution", "zipf"),
    ("mean: 4, sd: 1}", "mean: -4, sd: 1}", 9, "durations.site_survey.mean", "must be > 0"),
    ("{per_working_day: 4}", "{per_working_day: 4, per_day: 2}", 5, "arrivals.lv_residential", "exactly one of"),
    ('start: "2026-11-02"', 'start: "2026-11-02T08:00"', 2, "start", "offset"),
])
def test_bad_scenario_names_file_line_and_key(tmp_path: Path, old: str, new: str, line: int, key: str,
                                              message: str) -> None:
    path = write(tmp_path, GOOD.replace(old, new))
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    error = caught.value
    assert (error.line, ".".join(str(p) for p in error.path)) == (line, key)
    assert str(error).startswith(f"{path}:{line}: {key}: ")
    assert message in str(error)


def test_syntax_errors_name_the_line(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"scenario.yaml:3: .*invalid YAML"):
        load_scenario(write(tmp_path, "name: x\nstart: 1\n  bad: [\n"))
    with pytest.raises(ScenarioError, match=r"scenario.json:2: .*invalid JSON"):
        load_scenario(write(tmp_path, '{"name": "x",\n "start": }', "scenario.json"))
    with pytest.raises(ScenarioError, match="horizon_days .* or cases"):
        load_scenario(write(tmp_path, GOOD.replace("horizon_days: 5\n", "")))


def test_unknown_calendar_reference(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r":7: pools.account_manager.calendar: unknown calendar 'night'"):
        load_scenario(write(tmp_path, GOOD.replace("{count: 2}", "{count: 2, calendar: night}")))


def test_distributions_sample_their_shapes() -> None:
    rng = random.Random(1)
    for spec, mean in [
        ({"distribution": "exponential", "mean": 2}, 2.0),
        ({"distribution": "lognormal", "mean": 4, "sd": 2}, 4.0),
        ({"distribution": "gamma", "mean": 3, "sd": 1}, 3.0),
        ({"distribution": "uniform", "low": 1, "high": 3}, 2.0),
        ({"distribution": "triangular", "low": 1, "mode": 2, "high": 6}, 3.0),
        ({"distribution": "normal", "mean": 5, "sd": 1}, 5.0),
        ({"distribution": "empirical", "samples": [1, 2, 6]}, 3.0),
    ]:
        distribution = parse_distribution(spec)
        values = [distribution.sample(rng) for _ in range(20000)]
        assert sum(values) / len(values) == pytest.approx(mean, rel=0.05), spec
        assert min(values) >= 0
        assert parse_distribution(distribution.to_dict()) == distribution
    assert parse_distribution(2.5).sample(rng) == 2.5
    clipped = parse_distribution({"distribution": "normal", "mean": 0, "sd": 5, "max": 1})
    assert all(0 <= clipped.sample(rng) <= 1 for _ in range(200))
    with pytest.raises(DistributionError, match="gamma needs"):
        parse_distribution({"distribution": "gamma", "mean": 3})
    with pytest.raises(DistributionError, match="low <= mode <= high"):
        parse_distribution({"distribution": "triangular", "low": 3, "mode": 1, "high": 4})


# -- inheritance: extends ---------------------------------------------------------------------------------------------

PARENT = """\
name: parent
start: "2026-11-02"
horizon_days: 5
process: procs
arrival_calendar:
  working_days: cn
  windows: [{hours: "08:30-12:00", weight: 3}, {hours: "13:30-17:30", weight: 2}]
arrivals:
  lv_residential: {per_working_day: 4}
calendars:
  field: {working_days: cn, shifts: ["08:00-12:00", "13:00-17:00"]}
pools:
  account_manager: {count: 2, hourly_cost: 90}
  surveyor: {count: 3, hourly_cost: 110, calendar: field}
durations:
  site_survey: {distribution: lognormal, mean: 4, sd: 1}
  draft_plan: 3
"""


def test_extends_merges_maps_and_replaces_lists_and_scalars(tmp_path: Path) -> None:
    write(tmp_path, PARENT, "parent.yaml")
    child = write(tmp_path, """\
extends: parent.yaml
name: child
arrival_calendar:
  windows: [{hours: "09:00-17:00"}]
pools:
  surveyor: {count: 2}
durations:
  site_survey: 5
  draft_plan: null
""", "child.yaml")
    scenario = load_scenario(child)
    assert scenario.name == "child" and scenario.horizon_days == 5
    assert scenario.pools["surveyor"].count == 2  # the child's count …
    assert (scenario.pools["surveyor"].hourly_cost, scenario.pools["surveyor"].calendar) == (110, "field")  # … merged
    assert scenario.pools["account_manager"].count == 2  # untouched in the child: inherited
    assert [w.hours for w in scenario.arrival_calendar.windows] == ["09:00-17:00"]  # a list replaces the parent's
    assert scenario.arrival_calendar.working_days == "cn"
    assert scenario.durations["site_survey"].default.to_dict() == 5  # a scalar replaces a whole mapping
    assert "draft_plan" not in scenario.durations  # null removes an inherited key
    assert scenario.source == str(child)
    data = read_scenario_data(child)
    assert "extends" not in data and data["pools"]["surveyor"] == {"count": 2, "hourly_cost": 110,
                                                                    "calendar": "field"}


def test_paths_keep_meaning_the_folder_of_the_file_that_sets_them(tmp_path: Path) -> None:
    (tmp_path / "base").mkdir()
    write(tmp_path / "base", PARENT, "parent.yaml")
    child = write(tmp_path, "extends: base/parent.yaml\nname: child\n", "child.yaml")
    assert load_scenario(child).process_dir == (tmp_path / "base" / "procs").resolve()
    own = write(tmp_path, "extends: base/parent.yaml\nname: child\nprocess: mine\n", "own.yaml")
    assert load_scenario(own).process_dir == (tmp_path / "mine").resolve()


@pytest.mark.parametrize(("where", "old", "new", "line", "key"), [
    # a bad value the parent holds is named in the parent, one the child holds in the child
    # the child sets the surveyors' count, the parent their (bad) hourly cost in the same merged mapping
    ("parent", "hourly_cost: 110", "hourly_cost: lots", 14, "pools.surveyor.hourly_cost"),
    ("child", "  surveyor: {count: 2}", "  surveyor: {count: -2}", 5, "pools.surveyor.count"),
    ("parent", "  site_survey: {distribution: lognormal, mean: 4, sd: 1}",
     "  site_survey: {distribution: lognormal, mean: -4, sd: 1}", 16, "durations.site_survey.mean"),
    ("child", "  surveyor: {count: 2}", "  surveyor: {count: 2, calendar: night}", 5, "pools.surveyor.calendar"),
    ("child", "name: child", "name: child\ncolour: red", 3, "colour"),
])
def test_errors_name_the_file_and_line_that_hold_the_bad_value(tmp_path: Path, where: str, old: str, new: str,
                                                               line: int, key: str) -> None:
    texts = {"parent": PARENT, "child": "extends: parent.yaml\nname: child\npools:\n  account_manager: {count: 1}\n"
                                         "  surveyor: {count: 2}\n"}
    texts[where] = texts[where].replace(old, new)
    assert texts[where].count(new) == 1
    write(tmp_path, texts["parent"], "parent.yaml")
    child = write(tmp_path, texts["child"], "child.yaml")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(child)
    error = caught.value
    assert (error.source, error.line, format_path(error.path)) == (str(tmp_path / f"{where}.yaml"), line, key)


def test_missing_required_keys_are_checked_after_the_merge(tmp_path: Path) -> None:
    write(tmp_path, PARENT, "parent.yaml")
    child = write(tmp_path, "extends: parent.yaml\npools: null\n", "child.yaml")
    with pytest.raises(ScenarioError, match="'pools' is a required property"):
        load_scenario(child)


def test_extends_cycles_and_missing_parents_are_refused(tmp_path: Path) -> None:
    write(tmp_path, "extends: b.yaml\n" + PARENT, "a.yaml")
    write(tmp_path, "name: b\nextends: a.yaml\n", "b.yaml")
    with pytest.raises(ScenarioError, match=r"b.yaml:2: extends: circular extends: .*a.yaml → .*b.yaml → .*a.yaml"):
        load_scenario(tmp_path / "a.yaml")
    with pytest.raises(ScenarioError, match=r"self.yaml:1: extends: circular"):
        load_scenario(write(tmp_path, "extends: self.yaml\n" + PARENT, "self.yaml"))
    with pytest.raises(ScenarioError, match=r"lost.yaml:1: extends: no such scenario file: .*nowhere.yaml"):
        load_scenario(write(tmp_path, "extends: nowhere.yaml\nname: x\n", "lost.yaml"))
    with pytest.raises(ScenarioError, match=r"web: extends: extends works in scenario files only"):
        scenario_from_dict({"extends": "today.yaml", "name": "x"}, source="web")


def test_what_if_file_is_today_with_one_surveyor_fewer_on_the_variant() -> None:
    text = WHAT_IF.read_text(encoding="utf-8")
    assert "extends: today.yaml" in text and "arrivals:" not in text  # only the differences
    today, what_if = load_scenario(TODAY).to_dict(), load_scenario(WHAT_IF).to_dict()
    differences = {key for key in today if today[key] != what_if[key]}
    assert differences == {"name", "description", "translations", "process", "pools"}  # its own texts
    assert what_if["process"] == "../variants/parallel_plan_review"
    assert what_if["pools"]["surveyor"]["count"] == today["pools"]["surveyor"]["count"] - 1
    assert {**what_if["pools"], "surveyor": today["pools"]["surveyor"]} == today["pools"]


# -- numbers must be finite -------------------------------------------------------------------------------------------

def test_nan_and_infinity_in_a_json_file_are_refused_with_line_and_key(tmp_path: Path) -> None:
    data = {"name": "x", "start": "2026-11-02", "cases": 3, "arrivals": {"a": {"per_day": 1}},
            "pools": {"clerk": {"count": 1}}, "answers": {"work": {"data": {"amount": 1}}}}
    text = json.dumps(data, indent=1).replace('"per_day": 1', '"per_day": NaN')
    path = write(tmp_path, text, "nan.json")
    line = next(i for i, row in enumerate(text.splitlines(), start=1) if "NaN" in row)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert str(caught.value) == f"{path}:{line}: arrivals.a.per_day: must be a finite number"
    with pytest.raises(ScenarioError, match=r"^web: answers\.work\.data\.amount: must be a finite number$"):
        scenario_from_dict({**data, "answers": {"work": {"data": {"amount": float("-inf")}}}}, source="web")


def test_finite_numbers_keep_loading() -> None:
    assert load_scenario(TODAY).horizon_days == 28


def test_the_scenario_keeps_the_lines_of_its_keys_for_problems_found_later(tmp_path: Path) -> None:
    write(tmp_path, PARENT, "parent.yaml")
    child = write(tmp_path, "extends: parent.yaml\nname: child\npools:\n  surveyor: {count: 2}\n", "child.yaml")
    scenario = load_scenario(child)
    assert scenario.where(("pools", "surveyor")) == f"{child}:4"
    assert scenario.where(("durations", "draft_plan")) == f"{tmp_path / 'parent.yaml'}:17"
    assert scenario.where(("durations", "no_such_task", "mean")) == f"{tmp_path / 'parent.yaml'}:15"  # its parent
    assert scenario_from_dict(scenario.to_dict(), source="web").where(("pools", "surveyor")) == "web"
