"""From the new-run form to the stored parameters of a simulation run, with every problem named by its key path.

The form starts from a scenario template (``processes/scenarios/*.yaml``) and offers its main parameters as fields
named by their key path in the scenario (``pools.surveyor.count``, ``arrivals.lv_residential.per_working_day``,
``durations.site_survey.mean`` …); the advanced editor holds the whole scenario as JSON or YAML instead. Either way
the scenario is checked against the published schema (``scenario.schema.json``, every error with its key path)
and then by the engine's own reading (``scenario_from_dict``). The variant to compare is another process (a
deployed version, the folder or an overlay) with, optionally, other staff counts — or a scenario of its own in the
advanced editor.

Stored parameters (``simulation_runs.params``)::

    {"base": {"process": "folder", "scenario": {...}},
     "variant": {"process": "variant:parallel_plan_review", "scenario": {...}} | None,
     "replications": 3, "seed": 1, "cases": 200 | None, "jobs": 1}
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from sqlalchemy.orm import Session

from .run_processes import SCENARIOS, ProcessChoiceError, check_choice
from .scenario import ScenarioError, format_path, read_scenario_data, scenario_from_dict

SCHEMA_PATH = Path(__file__).resolve().with_name("scenario.schema.json")
REGIMES = ("statute", "sgcc_commitment", "sgcc_internal", "csg")
MAX_REPLICATIONS = 30
MAX_CASES = 20000
RATE_KEYS = ("per_working_day", "per_day")
EDITABLE_DURATION_KEYS = ("mean", "value")
PLACED_BY_THE_RUN = ("process", "samples")
"""Scenario keys the run sets itself (the chosen process, the project's samples): dropped from what is shown."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the request: where (a form field / key path) and what.

    ``code`` is one of ``required``, ``integer``, ``number``, ``date``, ``choice``, ``range`` (the view words them),
    or ``schema``/``scenario``/``syntax`` whose ``detail`` says it (the schema validator's or the engine's words).
    """

    path: str
    code: str
    detail: str = ""


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
    """The scenario of the advanced editor (JSON or YAML); a syntax problem names the line."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problems.append(Problem(path, "syntax", f"{where}{getattr(err, 'problem', None) or err}"))
        return None
    if not isinstance(data, dict):
        problems.append(Problem(path, "syntax", "the scenario must be a mapping (a JSON object)"))
        return None
    return data


def schema_problems(scenario: Mapping[str, Any], prefix: str = "") -> list[Problem]:
    """Every violation of the published schema, at its key path (``(root)`` for the top level)."""
    validator = Draft202012Validator(published_schema())
    found = []
    for error in sorted(validator.iter_errors(dict(scenario)), key=lambda e: [str(p) for p in e.absolute_path]):
        parts = [str(part) for part in error.absolute_path]
        message = error.message
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            known = set(error.schema.get("properties", {}))
            extra = sorted(str(key) for key in error.instance if key not in known)
            if extra:  # point at the unknown key itself
                parts.append(extra[0])
                message = f"unknown key {extra[0]!r}"
        found.append(Problem(prefix + (".".join(parts) or "(root)"), "schema", message))
    return found


def engine_problems(scenario: Mapping[str, Any], prefix: str = "") -> list[Problem]:
    """What the engine's own reading of the scenario refuses (distribution parameters, unknown pools …)."""
    try:
        scenario_from_dict(with_project_paths(scenario), "<form>")
    except ScenarioError as err:
        return [Problem(prefix + (format_path(err.path) or "(root)"), "scenario", err.message)]
    return []


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
    if form.get("mode") == "raw":
        base = parse_raw(form.get("scenario_raw") or "", "scenario_raw", problems)
        variant_text = (form.get("variant_raw") or "").strip()
        variant = parse_raw(variant_text, "variant_raw", problems) if variant_text and variant_process else None
        prefixes = ("scenario_raw:", "variant_raw:")
    else:
        template = templates.get(form.get("template") or "")
        if template is None:
            problems.append(Problem("template", "choice"))
            raise RequestProblems(problems)
        base = apply_fields(template, form, problems)
        variant = _variant_from_form(base, form, problems) if variant_process else None
        prefixes = ("", "variant.")
    for scenario, prefix in ((base, prefixes[0]), (variant, prefixes[1])):
        if scenario is not None:
            found = schema_problems(scenario, prefix)
            problems.extend(found or engine_problems(scenario, prefix))
    if problems or base is None or base_process is None or replications is None:
        raise RequestProblems(problems)
    cases = base.get("cases")
    params = {"base": {"process": base_process, "scenario": _without_run_paths(base)},
              "variant": None if variant_process is None else {
                  "process": variant_process, "scenario": _without_run_paths(variant or base)},
              "replications": replications, "seed": int(base.get("seed", 0)),
              "cases": cases if isinstance(cases, int) else None, "jobs": 1}
    return RunRequest(name, params)


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
