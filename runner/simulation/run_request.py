"""From the new-run form to the stored parameters of a simulation run, with every problem named by its key path.

The form starts from a scenario template (``processes/scenarios/*.yaml``) and offers its main parameters as fields
named by their key path in the scenario (``pools.surveyor.count``, ``arrivals.lv_residential.per_working_day``,
``durations.site_survey.mean`` …); the advanced editor holds the whole scenario as JSON or YAML instead. Either way
the scenario is checked against the published schema (``scenario.schema.json``, every error with its key path),
by the engine's own reading (``scenario_from_dict``), against the limits of the shared worker (``MAX_CASES`` per
replication, ``MAX_SIMULATED_CASES`` for the whole run, ``MAX_DAYS``), and finally set up by the engine on the
chosen process exactly as the run will (``process_problems``), so that nothing that cannot run is stored. Every
number must be finite, and text typed for the variant without a variant process is refused, never dropped.
The variant to compare is another process (a deployed version, the folder or an overlay) with, optionally, other
staff counts — or a scenario of its own in the advanced editor.

Stored parameters (``simulation_runs.params``)::

    {"base": {"process": "folder", "scenario": {...}},
     "variant": {"process": "variant:parallel_plan_review", "scenario": {...}} | None,
     "replications": 3, "seed": 1, "cases": 200 | None}

How many processes run the replications is the worker's setting (``baozhuang worker --simulation-jobs``), not the
run's: the results do not depend on it. (Runs stored before 2026-11-28 also hold ``"jobs": 1``, which is ignored.)
"""

from __future__ import annotations

import copy
import json
import math
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from sqlalchemy.orm import Session

from .run_processes import SCENARIOS, ProcessChoiceError, check_choice, materialize, process_layers
from .scenario import (
    MAX_SCENARIO_DEPTH,
    SHIFT_TEXT,
    Scenario,
    ScenarioError,
    format_path,
    non_finite_paths,
    read_scenario_data,
    scenario_depth,
    scenario_from_dict,
)
from .variants import Layer, rename_paths, validation_problems

SCHEMA_PATH = Path(__file__).resolve().with_name("scenario.schema.json")
REGIMES = ("statute", "sgcc_commitment", "sgcc_internal", "csg")
MAX_REPLICATIONS = 30
MAX_CASES = 20000
"""Cases of one replication of one side (at ≈ 15 ms of CPU per case, about five minutes)."""
MAX_SIMULATED_CASES = 100000
"""Cases of the whole run: cases × replications × sides (about 25 minutes of the one shared worker)."""
START_YEARS_AHEAD = 10
"""A run may start up to this many years after the last year of official holiday data (``start_years``)."""
MAX_DAYS = 3650
"""Longest arrival window (``horizon_days``) and clock (``max_days``): ten years."""
RATE_KEYS = ("per_working_day", "per_day")
EDITABLE_DURATION_KEYS = ("mean", "value")
TRANSLATIONS = "translations."
"""Key paths of a scenario's texts in other languages (``translations.en.description``)."""
PLACED_BY_THE_RUN = ("process", "samples")
"""Scenario keys the run sets itself (the chosen process, the project's samples): dropped from what is shown."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the request: where (a form field / key path) and what.

    ``code`` names the problem and ``values`` its numbers, so that the view words it in the reader's language:
    the form's own checks (``required``, ``integer``, ``number``, ``finite``, ``date``, ``choice``, ``range``,
    ``template``, ``extends``, ``too_deep``, ``variant_without_process``, ``too_many_cases``, ``expected_cases``,
    ``no_arrivals``, ``start_range``, ``workload``, ``days``), the schema's (``working_days`` for an empty or
    unknown working-day list, ``minimum``, ``maximum``, ``exclusive_minimum``, ``exclusive_maximum``,
    ``type``, ``enum``, ``unknown_key``, ``missing``, ``one_rate`` for an arrival with none or several of its rates,
    ``time_range`` for a shift or window not ``HH:MM-HH:MM``, ``pool_name``, ``min_items``, ``empty``,
    ``unique_items``), or ``schema``/``scenario``/``engine``/``syntax`` whose ``detail`` says it (the schema
    validator's, the engine's or the parser's own words; a ``scenario`` problem inside a distribution carries its
    numbers in ``values``, for a problem with how they fit together: a triangular's low ≤ mode ≤ high).
    """

    path: str
    code: str
    detail: str = ""
    values: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class FormField:
    """A main parameter of the form: its key path in the scenario (also the input's name), group and value."""

    path: str
    group: str  # run|arrivals|pools|durations
    key: str  # the category, pool or element id it is about ('' for run-wide fields)
    kind: str  # int|number|date|regime
    value: Any


@dataclass
class RunRequest:
    """The checked request: what ``runs.create_run`` stores."""

    name: str
    params: dict[str, Any]


@dataclass
class RequestProblems(Exception):
    """The request cannot be run; ``problems`` say where and why."""

    problems: list[Problem] = field(default_factory=list)

    def by_path(self) -> dict[str, list[Problem]]:
        grouped: dict[str, list[Problem]] = {}
        for problem in self.problems:
            grouped.setdefault(problem.path, []).append(problem)
        return grouped


# -- templates and fields ----------------------------------------------------------------------------------------


@cache
def published_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return schema


def scenario_templates(folder: Path = SCENARIOS) -> dict[str, dict[str, Any]]:
    """The scenario files a run can start from, by file stem, without the keys the run sets itself."""
    templates: dict[str, dict[str, Any]] = {}
    for path in sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            data = read_scenario_data(path)  # with its ``extends`` chain merged in
        except ScenarioError:
            continue  # a broken template is the engine's tests' business; the form just does not offer it
        if isinstance(data, dict):
            templates.setdefault(path.stem, {k: v for k, v in data.items() if k not in PLACED_BY_THE_RUN})
    return templates


def template_process(name: str, folder: Path = SCENARIOS) -> str:
    """The process choice a template names with its ``process`` key: ``variant:<name>`` for an overlay under
    ``processes/variants``, else ``folder``."""
    from .run_processes import CHOICE, VARIANTS

    for suffix in (".yaml", ".json"):
        path = folder / f"{name}{suffix}"
        if not path.is_file():
            continue
        try:
            data = read_scenario_data(path)
        except ScenarioError:
            return "folder"
        process = data.get("process") if isinstance(data, dict) else None
        if isinstance(process, str):
            target = (folder / process).resolve()
            if target.parent == VARIANTS.resolve() and CHOICE.match(f"variant:{target.name}"):
                return f"variant:{target.name}"
    return "folder"


def form_fields(scenario: Mapping[str, Any]) -> list[FormField]:
    """The scenario's main parameters as form fields, in the order the form shows them."""
    fields = [FormField("start", "run", "", "date", scenario.get("start", "")),
              FormField("cases", "run", "", "int", scenario.get("cases", "")),
              FormField("horizon_days", "run", "", "number", scenario.get("horizon_days", "")),
              FormField("regime", "run", "", "regime", scenario.get("regime", "")),
              FormField("seed", "run", "", "int", scenario.get("seed", ""))]
    for category, arrival in _mapping(scenario.get("arrivals")).items():
        for key in RATE_KEYS:
            if isinstance(arrival, Mapping) and key in arrival:
                fields.append(FormField(f"arrivals.{category}.{key}", "arrivals", category, "number", arrival[key]))
    for pool, settings in _mapping(scenario.get("pools")).items():
        if isinstance(settings, Mapping):
            fields.append(FormField(f"pools.{pool}.count", "pools", pool, "int", settings.get("count", "")))
    for element, duration in _mapping(scenario.get("durations")).items():
        if isinstance(duration, int | float) and not isinstance(duration, bool):
            fields.append(FormField(f"durations.{element}", "durations", element, "number", duration))
        elif isinstance(duration, Mapping):
            for key in EDITABLE_DURATION_KEYS:
                if key in duration:
                    fields.append(FormField(f"durations.{element}.{key}", "durations", element, "number",
                                            duration[key]))
    return fields


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


# -- reading the form --------------------------------------------------------------------------------------------


def _parse_value(kind: str, text: str) -> Any:
    """The typed value of a field; ``ValueError`` with the problem code."""
    if kind == "int":
        try:
            return int(text)
        except ValueError:
            raise ValueError("integer") from None
    if kind == "number":
        try:
            number = float(text)
        except ValueError:
            raise ValueError("number") from None
        if not math.isfinite(number):  # float() reads "nan" and "inf"; no scenario number may be either
            raise ValueError("finite")
        return int(number) if number.is_integer() else number
    if kind == "date":  # an ISO date, or a datetime with its offset
        try:
            return date.fromisoformat(text).isoformat()
        except ValueError:
            pass
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError("date") from None
        if moment.tzinfo is None:
            raise ValueError("date")
        return moment.isoformat()
    if kind == "regime":
        if text not in REGIMES:
            raise ValueError("choice")
        return text
    raise AssertionError(kind)


def _set_path(data: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    target = data
    for part in parts[:-1]:
        child = target.get(part)
        if not isinstance(child, dict):
            child = target[part] = {}
        target = child
    if value is None:
        target.pop(parts[-1], None)
    else:
        target[parts[-1]] = value


def apply_fields(template: Mapping[str, Any], form: Mapping[str, str], problems: list[Problem],
                 prefix: str = "") -> dict[str, Any]:
    """The template with the form's values of its fields (``prefix`` + key path) put in; a blank run-wide field
    removes the key (e.g. ``cases`` blank → the horizon decides)."""
    scenario = copy.deepcopy(dict(template))
    for spec in form_fields(template):
        text = (form.get(prefix + spec.path) or "").strip()
        if not text:
            if spec.group == "run":
                _set_path(scenario, spec.path, None)
                continue
            problems.append(Problem(prefix + spec.path, "required"))
            continue
        try:
            _set_path(scenario, spec.path, _parse_value(spec.kind, text))
        except ValueError as err:
            problems.append(Problem(prefix + spec.path, str(err)))
    return scenario


def parse_raw(text: str, path: str, problems: list[Problem]) -> dict[str, Any] | None:
    """The scenario of the advanced editor (JSON or YAML); a syntax problem (``syntax``) names the line and column
    in ``values`` and the parser's own words in ``detail`` (``values["problem"]`` too)."""
    try:
        data = yaml.safe_load(text)
    except RecursionError:
        problems.append(Problem(path, "too_deep", values={"limit": MAX_SCENARIO_DEPTH}))
        return None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        problem = str(getattr(err, "problem", None) or err)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        values = {"problem": problem, **({"line": mark.line + 1, "column": mark.column + 1} if mark else {})}
        problems.append(Problem(path, "syntax", f"{where}{problem}", values))
        return None
    if not isinstance(data, dict):
        problems.append(Problem(path, "not_mapping", "the scenario must be a mapping (a JSON object)"))
        return None
    if scenario_depth(data) > MAX_SCENARIO_DEPTH:
        problems.append(Problem(path, "too_deep", values={"limit": MAX_SCENARIO_DEPTH}))
        return None
    if "extends" in data:  # a file-system path to merge in: scenario files only, the editor holds the whole scenario
        problems.append(Problem(f"{path}:extends", "extends"))
        return None
    found = [".".join(str(part) for part in where) for where in non_finite_paths(data)]
    if found:  # a scenario holds finite numbers only, and the stored parameters must stay valid JSON
        problems.extend(Problem(f"{path}:{where}", "finite") for where in found)
        return None
    return data


REQUIRED_MESSAGE = re.compile(r"^'([^']+)' is a required property$")
SCHEMA_CODES = {"minimum": "minimum", "maximum": "maximum", "exclusiveMinimum": "exclusive_minimum",
                "exclusiveMaximum": "exclusive_maximum", "type": "type", "enum": "enum", "minItems": "min_items",
                "minProperties": "min_items", "minLength": "empty", "uniqueItems": "unique_items"}
"""Schema violations the view words itself (with the limit, type or choices as ``values["limit"]``)."""


def schema_problems(scenario: Mapping[str, Any], prefix: str = "") -> list[Problem]:
    """Every violation of the published schema, at its key path (``(root)`` for the top level); a value that fits
    none of a ``oneOf``'s forms by the violations of the form its type chooses (an answer's list: its weights)."""
    validator = Draft202012Validator(published_schema())
    found = []
    errors = [leaf for error in validator.iter_errors(dict(scenario)) for leaf in _chosen_branch(error)]
    for error in sorted(errors, key=lambda e: [str(p) for p in e.absolute_path]):
        parts = [str(part) for part in error.absolute_path]
        problem = _schema_problem(error, parts)
        found.append(Problem(prefix + (".".join(problem[0]) or "(root)"), problem[1], error.message, problem[2]))
    return list(dict.fromkeys(found))


def _chosen_branch(error: Any) -> list[Any]:
    """The errors to report for ``error``: itself, or, for a ``oneOf``/``anyOf`` none of whose forms fits, those of
    the only form of the value's type (the list form of an answer, not "is not of type object")."""
    if error.validator not in ("oneOf", "anyOf") or not error.context:
        return [error]
    branches: dict[Any, list[Any]] = {}
    for sub in error.context:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    depth = len(error.absolute_path)
    typed = [subs for subs in branches.values()
             if not any(sub.validator == "type" and len(sub.absolute_path) == depth for sub in subs)]
    if len(typed) != 1:
        return [error]
    return [leaf for sub in typed[0] for leaf in _chosen_branch(sub)]


def _schema_problem(error: Any, parts: list[str]) -> tuple[list[str], str, dict[str, Any]]:
    """(key path, code, values) of one schema error: the unknown or missing key itself where there is one."""
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = set(error.schema.get("properties", {}))
        extra = sorted(str(key) for key in error.instance if key not in known)
        if extra:  # point at the unknown key itself
            return [*parts, extra[0]], "unknown_key", {"key": extra[0]}
    if len(parts) == 2 and parts[0] == "arrivals" and error.validator == "oneOf":
        return parts, "one_rate", {}  # none or several of per_working_day, per_day and interarrival_hours
    if "propertyNames" in error.schema_path and parts == ["pools"]:
        return [*parts, str(error.instance)], "pool_name", {"key": str(error.instance)}
    if error.validator == "pattern" and error.validator_value == SHIFT_TEXT:
        return parts, "time_range", {"got": error.instance}
    if error.validator == "required" and isinstance(error.instance, dict):
        named = REQUIRED_MESSAGE.match(error.message)  # one error per missing key, each naming its key
        missing = [named[1]] if named else [str(key) for key in error.validator_value if key not in error.instance]
        if missing:
            return [*parts, missing[0]], "missing", {}
    if "working_days" in parts:  # an empty list or an unknown day: none of cn, all or a list of weekdays
        return parts[:parts.index("working_days") + 1], "working_days", {}
    code = SCHEMA_CODES.get(str(error.validator))
    if code is None:
        return parts, "schema", {}
    if code == "maximum" and parts in (["horizon_days"], ["max_days"]):  # worded with its unit, as bound_problems
        return parts, "days", {"limit": error.validator_value}
    return parts, code, {"limit": error.validator_value}


def engine_problems(scenario: Mapping[str, Any], prefix: str = "") -> list[Problem]:
    """What the engine's own reading of the scenario refuses (distribution parameters, unknown pools …)."""
    try:
        scenario_from_dict(with_project_paths(scenario), "<form>")
    except ScenarioError as err:
        return _scenario_problems(err, scenario, prefix)
    return []


def _scenario_problems(err: ScenarioError, scenario: Mapping[str, Any], prefix: str) -> list[Problem]:
    """Every problem of a ``ScenarioError`` at its key path; one about the arrivals as a whole (every rate 0) at
    each arrival rate field of the form (the editor: at ``arrivals``)."""
    found: list[Problem] = []
    for problem in err.problems:
        path = format_path(problem.path) or "(root)"
        fields = [spec.path for spec in form_fields(scenario) if spec.group == "arrivals"] \
            if problem.path == ("arrivals",) and not prefix.endswith(":") else []
        values = _distribution_at(scenario, problem.path[:-1])
        found.extend(Problem(prefix + where, "scenario", problem.message, values) for where in fields or [path])
    return found


def _distribution_at(scenario: Mapping[str, Any], path: Sequence[str | int]) -> dict[str, Any]:
    """The numbers of the distribution at ``path`` (``{"low": 2, "mode": 1, "high": 3}``), so that a problem with
    how they fit together (a triangular's low ≤ mode ≤ high) can be shown with the values; ``{}`` when none."""
    value: Any = scenario
    for part in path:
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and isinstance(part, int) and 0 <= part < len(value):
            value = value[part]
        else:
            return {}
    if not isinstance(value, Mapping) or "distribution" not in value:
        return {}
    return {key: number for key, number in value.items()
            if isinstance(number, int | float) and not isinstance(number, bool)}


CHECK_SOURCE = "<check>"


def process_problems(scenario: Mapping[str, Any], folder: Path, prefix: str = "",
                     process_field: str | None = None, layers: Sequence[Layer] = ()) -> list[Problem]:
    """What the engine refuses when it sets up a replication of ``scenario`` on the process in ``folder``: the very
    checks the run makes when it starts (a lane role without a pool, a pool of no lane, durations or answers of
    steps the process does not have …), so that a scenario that cannot run is refused at submission, not later.
    A folder that cannot be loaded is a problem of ``process_field`` (default: the scenario's root), each file named
    as ``layers`` say (``variants.rename_paths``)."""
    from runner.process_folder import ProcessFolderError

    from .branching import BranchError, load_with_overrides
    from .engine import SimulationEngine, SimulationError

    try:
        parsed = scenario_from_dict(with_project_paths(scenario, folder), CHECK_SOURCE)
        if parsed.branch_probabilities:
            bundle = load_with_overrides(folder, parsed.branch_probabilities)[0]
        else:
            bundle = _load_process(folder)
        SimulationEngine(parsed, bundle, seed=parsed.seed, cases=parsed.cases, replication=0)
    except ScenarioError as err:
        return _scenario_problems(err, scenario, prefix)
    except ProcessFolderError as err:
        field = process_field or prefix + "(root)"
        return [Problem(field, "process", rename_paths(line, folder, layers) if layers else line)
                for line in err.problems]
    except BranchError as err:
        return [Problem(f"{prefix}branch_probabilities.{err.flow}", "scenario", str(err))]
    except SimulationError as err:
        return [_engine_problem(line, prefix) for line in str(err).splitlines() if line.strip()]
    return []


def _load_process(folder: Path) -> Any:
    from runner.process_folder import load_process_folder

    return load_process_folder(folder)


def _engine_problem(line: str, prefix: str) -> Problem:
    """One line of a ``SimulationError`` (``<check>: pools.x.count: …``) at its key path."""
    text = line.removeprefix(f"{CHECK_SOURCE}: ")
    path, sep, message = text.partition(": ")
    if not sep or " " in path:
        return Problem(prefix + "(root)", "engine", text)
    return Problem(prefix + path, "engine", message)


# -- limits ------------------------------------------------------------------------------------------------------


def expected_cases(scenario: Scenario) -> float:
    """How many applications one replication brings on average: ``cases`` stops the arrivals, unless the arrival
    window (``horizon_days``) ends first (``arrivals.expected_arrivals``: each category's rate on the real arrival
    days of the window)."""
    from .arrivals import expected_arrivals

    window = expected_arrivals(scenario)
    return min(float(scenario.cases), window) if scenario.cases is not None else window


def bound_problems(scenario: Mapping[str, Any], prefix: str) -> list[Problem]:
    """A case count, arrival window or clock beyond what one run may ask of the shared worker, or a start outside
    ``start_years``: read from the values as written, so that they are reported with every other problem."""
    problems = []
    cases = scenario.get("cases")
    if isinstance(cases, int) and cases > MAX_CASES:
        problems.append(Problem(prefix + "cases", "too_many_cases", values={"limit": MAX_CASES}))
    for key in ("horizon_days", "max_days"):
        days = scenario.get(key)
        if isinstance(days, int | float) and days > MAX_DAYS:
            problems.append(Problem(prefix + key, "days", values={"limit": MAX_DAYS}))
    start = _start_of(scenario.get("start"))
    if start is not None:
        problems.extend(start_problems(start, prefix))
    return problems


def _start_of(value: Any) -> datetime | None:
    """The start as the reading takes it (a date, or a datetime with its offset), None when it cannot."""
    if not isinstance(value, str):
        return None
    try:
        if len(value.strip()) == 10:
            return datetime.combine(date.fromisoformat(value.strip()), datetime.min.time())
        return datetime.fromisoformat(value.strip())
    except ValueError:
        return None


def limit_problems(scenario: Mapping[str, Any], prefix: str) -> list[Problem]:
    """``bound_problems``; when there are none, an arrival window that brings more cases than one replication may
    have, or none at all (the scenario must be readable)."""
    problems = bound_problems(scenario, prefix)
    if problems:
        return problems
    parsed = scenario_from_dict(with_project_paths(scenario), "<form>")
    expected = expected_cases(parsed)
    where = "horizon_days" if scenario.get("horizon_days") is not None else "cases"
    if expected > MAX_CASES:
        problems.append(Problem(prefix + where, "expected_cases",
                                values={"expected": round(expected), "limit": MAX_CASES}))
    elif expected <= 0:
        problems.append(no_arrivals_problem(parsed, prefix + where))
    return problems


def no_arrivals_problem(scenario: Scenario, where: str) -> Problem:
    """The arrival window (``horizon_days``) holds no arrival day with an open window (a holiday week on the
    official calendar): the run could bring no case and would only produce an empty report."""
    last = (scenario.start + timedelta(days=scenario.horizon_days or 0) - timedelta(microseconds=1)).date()
    return Problem(where, "no_arrivals", f"no application can arrive from {scenario.start.date()} to {last}: "
                   "the window holds no arrival day of the arrival calendar (holidays, weekends)",
                   values={"start": scenario.start.date().isoformat(), "end": last.isoformat()})


def start_years() -> tuple[int, int]:
    """The years a run may start in: from the first year of official holiday data to ``START_YEARS_AHEAD`` after
    its last (beyond the data every working day is estimated; far outside it a date is a typo)."""
    from runner.workdays import WorkingCalendar

    known = WorkingCalendar.default().known_years()
    return (known[0], known[-1] + START_YEARS_AHEAD) if known else (2000, 2100)


def start_problems(start: Scenario | datetime, prefix: str) -> list[Problem]:
    """A start date (of a scenario) outside ``start_years``."""
    low, high = start_years()
    year = (start.start if isinstance(start, Scenario) else start).year
    if low <= year <= high:
        return []
    return [Problem(prefix + "start", "start_range", f"start must lie in {low}–{high}",
                    values={"low": f"{low}-01-01", "high": f"{high}-12-31"})]


def workload_problems(sides: list[Mapping[str, Any]], cases: int | None, replications: int) -> list[Problem]:
    """Cases × replications × sides beyond ``MAX_SIMULATED_CASES`` (the run's ``cases`` applies to both sides)."""
    total = 0.0
    for scenario in sides:
        parsed = scenario_from_dict(with_project_paths(scenario), "<form>")
        total += min(float(cases), expected_cases(parsed)) if cases is not None else expected_cases(parsed)
    total *= replications
    if total <= MAX_SIMULATED_CASES:
        return []
    return [Problem("replications", "workload",
                    values={"total": round(total), "limit": MAX_SIMULATED_CASES, "sides": len(sides)})]


def with_project_paths(scenario: Mapping[str, Any], process: Path | None = None) -> dict[str, Any]:
    """The scenario with absolute ``process`` (default: the project's folder) and ``samples`` paths."""
    from .run_processes import PROCESSES, SAMPLES

    return {**scenario, "process": str(process or PROCESSES), "samples": str(SAMPLES)}


def _integer(form: Mapping[str, str], name: str, low: int, high: int, problems: list[Problem]) -> int | None:
    text = (form.get(name) or "").strip()
    if not text:
        problems.append(Problem(name, "required"))
        return None
    try:
        value = int(text)
    except ValueError:
        problems.append(Problem(name, "integer"))
        return None
    if not low <= value <= high:
        problems.append(Problem(name, "range", f"{low}–{high}"))
        return None
    return value


def _checked(session: Session, form: Mapping[str, str], name: str, problems: list[Problem]) -> str | None:
    try:
        return check_choice(session, (form.get(name) or "").strip())
    except ProcessChoiceError as err:
        problems.append(Problem(name, "choice", str(err)))
        return None


def build_request(session: Session, form: Mapping[str, str], templates: Mapping[str, Mapping[str, Any]]
                  ) -> RunRequest:
    """Check the submitted form and build the run's parameters; ``RequestProblems`` lists what is wrong.

    Form fields: ``name``, ``template``, ``base_process``, ``variant_process`` (blank: no comparison),
    ``replications``, ``mode`` (``form`` or ``raw``); in form mode the template's fields by key path and
    ``variant.pools.<pool>.count`` (blank: as the base); in raw mode ``scenario_raw`` and ``variant_raw`` (blank:
    the base scenario).
    """
    problems: list[Problem] = []
    name = (form.get("name") or "").strip()
    if not name or len(name) > 200:
        problems.append(Problem("name", "required"))
    base_process = _checked(session, form, "base_process", problems)
    variant_key = (form.get("variant_process") or "").strip()
    variant_process = _checked(session, form, "variant_process", problems) if variant_key else None
    replications = _integer(form, "replications", 1, MAX_REPLICATIONS, problems)
    if not variant_key and _variant_given(form):  # never drop what was typed for the variant
        problems.append(Problem("variant_process", "variant_without_process"))
    if form.get("mode") == "raw":
        base = parse_raw(form.get("scenario_raw") or "", "scenario_raw", problems)
        variant_text = (form.get("variant_raw") or "").strip()
        variant = parse_raw(variant_text, "variant_raw", problems) if variant_text and variant_process else None
        prefixes = ("scenario_raw:", "variant_raw:")
    else:
        template_name = form.get("template") or ""
        template = templates.get(template_name)
        if template is None:
            problems.append(Problem("template", "template", values={"name": template_name}))
            raise RequestProblems(problems)
        base = apply_fields(template, form, problems)
        variant = _variant_from_form(base, form, problems) if variant_process else None
        prefixes = ("", "variant.")
    written = [(base, prefixes[0])] + ([(variant, prefixes[1])] if variant is not None else [])
    for scenario, prefix in written:
        if scenario is not None:
            problems.extend(scenario_problems(scenario, prefix))
    if problems or base is None or base_process is None or replications is None:
        raise RequestProblems(problems)
    sides = [(base, base_process, prefixes[0])]
    if variant_process is not None:  # a blank variant scenario of the advanced editor is the base's
        sides.append((variant, variant_process, prefixes[1]) if variant is not None else
                     (base, variant_process, prefixes[0]))
    cases = base.get("cases")
    run_cases = cases if isinstance(cases, int) else None
    problems.extend(workload_problems([scenario for scenario, _process, _prefix in sides], run_cases, replications))
    problems.extend(_process_problems(session, sides))
    if problems:
        raise RequestProblems(problems)
    params = {"base": {"process": base_process, "scenario": _without_run_paths(base)},
              "variant": None if variant_process is None else {
                  "process": variant_process, "scenario": _without_run_paths(variant or base)},
              "replications": replications, "seed": int(base.get("seed", 0)), "cases": run_cases}
    return RunRequest(name, params)


@dataclass(frozen=True)
class Unshown:
    """A setting of a stored run that the form mode cannot hold: submitting the form gives ``form`` where the run
    had ``stored`` (None: no such key). ``path``: its key path, ``variant.`` before the variant's."""

    path: str
    stored: Any
    form: Any


@dataclass
class Rerun:
    """The new-run form of a stored run (``rerun_form``): both modes' fields, the template the form mode stands on,
    and what of the run the form mode cannot hold (empty: submitting either mode unchanged asks for the same run)."""

    fields: dict[str, str]
    template: str
    unshown: list[Unshown]


def rerun_form(params: Mapping[str, Any], templates: Mapping[str, Mapping[str, Any]],
               preferred: Sequence[str] = ()) -> Rerun:
    """The new-run form of a stored run (its ``params``), so that a process owner starts a new run from an earlier
    one — to change one thing, or to run a failed one again once fixed. The advanced editor's fields (shown first)
    are those ``build_request`` turns back into ``params``: its processes, replications and scenarios as JSON (the
    variant's blank when it is the base's). The form mode's fields hold the run's values too, on the template
    (``preferred`` first, then by name) whose form holds most of the run; ``unshown`` lists what it cannot hold."""
    base, variant, scenario, variant_scenario = _stored_sides(params)
    fields = {
        "mode": "raw",
        "base_process": str(base.get("process") or ""),
        "variant_process": str(variant.get("process") or ""),
        "replications": str(params.get("replications") or ""),
        "scenario_raw": json.dumps(scenario, ensure_ascii=False, indent=2),
        "variant_raw": "" if variant_scenario is None or variant_scenario == scenario else
        json.dumps(variant_scenario, ensure_ascii=False, indent=2),
    }
    best: tuple[str, dict[str, str], list[Unshown]] | None = None
    for name in dict.fromkeys([*(name for name in preferred if name in templates), *sorted(templates)]):
        form, unshown = form_of_run(templates[name], params)
        if best is None or len(unshown) < len(best[2]):
            best = (name, form, unshown)
        if not unshown:
            break
    if best is None:  # no template: the form mode has no fields (the page says so)
        return Rerun(fields, "", [])
    return Rerun({**best[1], **fields}, best[0], best[2])


def _stored_sides(params: Mapping[str, Any]) -> tuple[Mapping[str, Any], Mapping[str, Any], Mapping[str, Any],
                                                       Mapping[str, Any] | None]:
    """(base, variant, base scenario, variant scenario) of stored parameters (the variant's ``{}`` and None when
    there is none)."""
    base = params.get("base")
    base = base if isinstance(base, Mapping) else {}
    variant = params.get("variant")
    variant = variant if isinstance(variant, Mapping) else {}
    scenario = base.get("scenario")
    variant_scenario = variant.get("scenario")
    return (base, variant, scenario if isinstance(scenario, Mapping) else {},
            variant_scenario if isinstance(variant_scenario, Mapping) else None)


MISSING = object()


def form_of_run(template: Mapping[str, Any], params: Mapping[str, Any]) -> tuple[dict[str, str], list[Unshown]]:
    """The form mode's fields (on ``template``) holding a stored run's scenarios, and what they cannot hold: every
    key path where submitting them would store something else than the run (``params``) did."""
    _base, variant_side, base, variant = _stored_sides(params)
    compared = bool(variant_side)
    fields: dict[str, str] = {}
    for spec in form_fields(template):
        value = _at(base, spec.path)
        if not _fits(spec.kind, value):  # not in the run (or of another kind): the template's, listed below
            value = "" if spec.group == "run" else spec.value
        fields[spec.path] = "" if value is None else str(value)
    problems: list[Problem] = []
    shown = apply_fields(template, fields, problems)
    unshown = _differences(shown, base, "")
    if compared:
        stored = variant if variant is not None else base
        for pool, settings in _mapping(shown.get("pools")).items():
            count = _at(stored, f"pools.{pool}.count")
            if _fits("int", count) and count != _mapping(settings).get("count"):
                fields[f"variant.pools.{pool}.count"] = str(count)
        shown_variant = _variant_from_form(shown, fields, problems)
        in_base = {(item.path, _value_text(item.stored), _value_text(item.form)) for item in unshown}
        unshown += [item for item in _differences(shown_variant, stored, "variant.")
                    if (item.path.removeprefix("variant."), _value_text(item.stored), _value_text(item.form))
                    not in in_base]  # the base's own difference, found again in the variant's copy: listed once
    return fields, unshown


def _at(data: Mapping[str, Any], path: str) -> Any:
    value: Any = data
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return MISSING
        value = value[part]
    return value


def _fits(kind: str, value: Any) -> bool:
    """Whether a field of ``kind`` can show ``value`` so that reading it back gives the same value."""
    if isinstance(value, bool) or value is MISSING:
        return False
    if kind == "int":
        return isinstance(value, int)
    if kind == "number":
        return isinstance(value, int | float) and math.isfinite(value)
    if kind == "regime":
        return value in REGIMES
    return isinstance(value, str)


def _differences(shown: Mapping[str, Any], stored: Mapping[str, Any], prefix: str) -> list[Unshown]:
    """Every leaf (key path) where ``shown`` differs from ``stored``, but for the texts' translations (a stored run's
    from before its template had them, or another's: they change nothing simulated)."""
    flat_shown, flat_stored = _flatten(shown), _flatten(stored)
    return [Unshown(prefix + path, flat_stored.get(path), flat_shown.get(path))
            for path in sorted(set(flat_shown) | set(flat_stored))
            if flat_shown.get(path, MISSING) != flat_stored.get(path, MISSING) and not path.startswith(TRANSLATIONS)]


def scenario_problems(scenario: Mapping[str, Any], prefix: str) -> list[Problem]:
    """Every problem of one side's scenario at once, each once: the schema's violations, what the reading finds
    besides at other keys (a malformed shift beside a bad count; not the schema's violations the reading repeats in
    the validator's words), the bounds of the shared worker (a start beyond the holiday data …) and, when nothing
    else is wrong, the expected case count."""
    found = schema_problems(scenario, prefix)
    seen = {_dotted(problem.path) for problem in found}
    repeated = {problem.detail for problem in found}
    bounds = [problem for problem in bound_problems(scenario, prefix) if _dotted(problem.path) not in seen]
    seen |= {_dotted(problem.path) for problem in bounds}  # a start beyond the holiday data: the web's own range
    found += [problem for problem in engine_problems(scenario, prefix)
              if _dotted(problem.path) not in seen and problem.detail not in repeated]
    return found + bounds or limit_problems(scenario, prefix)


def _dotted(path: str) -> str:
    """A key path with list indexes as the schema's problems write them (``shifts.0``, not ``shifts[0]``)."""
    return re.sub(r"\[(\d+)\]", r".\1", path)


def _variant_given(form: Mapping[str, str]) -> bool:
    """Whether anything was typed for the variant (its scenario, or another staff count in the form)."""
    if form.get("mode") == "raw":
        return bool((form.get("variant_raw") or "").strip())
    return any(key.startswith("variant.") and (value or "").strip() for key, value in form.items())


PROCESS_FIELDS = ("base_process", "variant_process")


def _process_problems(session: Session, sides: list[tuple[dict[str, Any], str, str]]) -> list[Problem]:
    """Each side's process folder checked as ``baozhuang validate`` checks it (the project's folder and overlays:
    a deployed version passed these checks when it was deployed), then its scenario set up by the engine on it,
    copied as the run will copy it. A process problem is shown at the side's process field, naming the user's file
    (``processes/variants/<name>/baozhuang.bpmn:12: …``)."""
    problems: list[Problem] = []
    with tempfile.TemporaryDirectory(prefix="baozhuang-simulation-check-") as tmp:
        folders: dict[str, tuple[Path, list[str]]] = {}
        for index, (scenario, process, prefix) in enumerate(sides):
            layers = process_layers(process)
            if process not in folders:
                folder = materialize(session, process, Path(tmp) / f"process{index}")
                invalid = validation_problems(folder, layers) if not process.startswith("version:") else []
                folders[process] = (folder, invalid)
            folder, invalid = folders[process]
            found = ([Problem(PROCESS_FIELDS[index], "process", line) for line in invalid] if invalid
                     else process_problems(scenario, folder, prefix, PROCESS_FIELDS[index], layers))
            problems.extend(problem for problem in found if problem not in problems)
    return problems


def _variant_from_form(base: dict[str, Any], form: Mapping[str, str], problems: list[Problem]) -> dict[str, Any]:
    variant = copy.deepcopy(base)
    for pool in _mapping(base.get("pools")):
        field_name = f"variant.pools.{pool}.count"
        text = (form.get(field_name) or "").strip()
        if not text:
            continue
        try:
            variant["pools"][pool]["count"] = int(text)
        except ValueError:
            problems.append(Problem(field_name, "integer"))
    return variant


def _without_run_paths(scenario: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in scenario.items() if key not in PLACED_BY_THE_RUN}


# -- a stored run, for its page ----------------------------------------------------------------------------------


def run_summary(params: Mapping[str, Any], result: Mapping[str, Any] | None) -> dict[str, Any]:
    """What a stored run simulated, for its page: case count asked and arrived, arrival window, seed, staff per pool
    of each side and every other parameter the variant changed (key path, base value, variant value)."""
    base = params.get("base") or {}
    variant = params.get("variant") or None
    base_scenario = base.get("scenario") or {}
    variant_scenario = (variant or {}).get("scenario") or {}
    pools = sorted(set(_mapping(base_scenario.get("pools"))) | set(_mapping(variant_scenario.get("pools"))))
    return {
        "cases": params.get("cases"),
        "arrived": {side: _arrived(result, side) for side in ("base", "variant")},
        "start": base_scenario.get("start"), "horizon_days": base_scenario.get("horizon_days"),
        "seed": params.get("seed"), "replications": params.get("replications"),
        "pools": [(pool, _pool_count(base_scenario, pool), _pool_count(variant_scenario, pool) if variant else None)
                  for pool in pools],
        "changes": scenario_changes(base_scenario, variant_scenario) if variant else [],
    }


def _pool_count(scenario: Mapping[str, Any], pool: str) -> Any:
    return _mapping(_mapping(scenario.get("pools")).get(pool)).get("count")


def _arrived(result: Mapping[str, Any] | None, side: str) -> Any:
    """Cases that arrived in replication 0 of ``side`` (None before the run is done)."""
    kpis = _mapping(_mapping(_mapping(result).get("sides")).get(side)).get("kpis")
    return _mapping(_mapping(_mapping(kpis).get("cycle_time")).get("all")).get("arrived")


def scenario_changes(base: Mapping[str, Any], variant: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(key path, base value, variant value) of every leaf that differs, staff counts aside (shown per pool) and
    the texts' translations (which change nothing simulated)."""
    flat_base, flat_variant = _flatten(base), _flatten(variant)
    return [(path, _value_text(flat_base.get(path)), _value_text(flat_variant.get(path)))
            for path in sorted(set(flat_base) | set(flat_variant))
            if flat_base.get(path) != flat_variant.get(path) and not re.fullmatch(r"pools\.[^.]+\.count", path)
            and not path.startswith(TRANSLATIONS)]


def _flatten(value: Any, path: str = "") -> dict[str, Any]:
    if isinstance(value, Mapping) and value:
        flat: dict[str, Any] = {}
        for key, child in value.items():
            flat.update(_flatten(child, f"{path}.{key}" if path else str(key)))
        return flat
    return {path: value} if path else {}


def _value_text(value: Any) -> str:
    return "—" if value is None else value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
