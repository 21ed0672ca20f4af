"""The scenario file: what to simulate (arrivals, case data, staff, durations, answers) — YAML or JSON.

``load_scenario(path)`` reads and validates a file against ``scenario.schema.json`` (JSON Schema 2020-12) and then
checks what a schema cannot (distributions, shift times, calendar references). Every problem raises
``ScenarioError`` naming the file, the line and the key path, e.g.
``today.yaml:42: durations.site_survey.mean: must be a number, got 'four'``. docs/simulation.md documents every key.
"""

from __future__ import annotations

import copy
import json
import math
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from lxml import etree

from runner.process_folder import MAIN_PROCESS_ID, NS, NotUtf8Error, read_utf8
from runner.workdays import TZ

from .distributions import Distribution, DistributionError, fixed, parse_distribution
from .staff import WEEKDAYS, CalendarError, PoolSpec, ShiftSpec, parse_shift, parse_shifts
from .variants import overlay_base

SCENARIO_SCHEMA_PATH = Path(__file__).resolve().parent / "scenario.schema.json"
DEFAULT_PROCESS = "processes"
DEFAULT_SAMPLES = "processes/samples"
DEFAULT_CALENDAR = "office"
DEFAULT_SHIFTS = ShiftSpec("cn", ("08:30-12:00", "13:30-17:30"))
KeyPath = tuple[str | int, ...]
SHIFT_TEXT = r"^\d\d:\d\d-\d\d:\d\d$"
"""The schema's pattern of a shift or window (``HH:MM-HH:MM``); ``parse_shift`` checks the hours and minutes."""
MAX_WORKING_HOURS = 10_000.0
"""The schema's bound on working hours (``$defs/working_hours``: durations, pickup delays, inter-arrival gaps)."""
MAX_CALENDAR_DAYS = 3_650.0
"""The schema's bound on calendar days (``$defs/calendar_days``: customer delays)."""
START_YEARS = (1900, 2999)
"""The years a scenario may start in: the virtual clock holds dates up to 9999-12-31, and a run lasts at most
``max_days`` (3,650, the schema's bound) plus its longest task; a start far outside is a typo. (The web page keeps
to the years of the holiday data, ``run_request.start_years``.)"""


class ScenarioError(ValueError):
    """A scenario that cannot be used: ``file:line: key.path: message``.

    ``problems`` lists every problem found (this one first, the rest in file and line order; a file with several
    problems reports them all at once), and the text is one such line per problem."""

    def __init__(self, source: str, line: int | None, path: KeyPath, message: str,
                 more: Sequence[ScenarioError] = ()) -> None:
        self.source, self.line, self.path, self.message = source, line, path, message
        where = f"{source}:{line}" if line else source
        self.text = f"{where}: {format_path(path) or '(scenario)'}: {message}"
        self.problems: list[ScenarioError] = [self, *more]
        super().__init__("\n".join(problem.text for problem in self.problems))

    @classmethod
    def of(cls, problems: Sequence[ScenarioError]) -> ScenarioError:
        """One error holding ``problems`` (at least one), sorted by file and line."""
        ordered = sorted(problems, key=lambda p: (p.source, p.line or 0, format_path(p.path)))
        first = ordered[0]
        return cls(first.source, first.line, first.path, first.message, ordered[1:])


def format_path(path: KeyPath) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


# -- the scenario -----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ArrivalWindow:
    """Hours of an arrival day during which applications come in, with a relative weight."""

    hours: str
    weight: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        return {"hours": self.hours, "weight": self.weight}


@dataclass(frozen=True)
class ArrivalCalendar:
    """When applications arrive: which days (as in shift calendars) and weighted hours of the day."""

    working_days: str | tuple[str, ...] = "cn"
    windows: tuple[ArrivalWindow, ...] = (ArrivalWindow("08:30-17:30"),)
    weekday_windows: tuple[tuple[str, tuple[ArrivalWindow, ...]], ...] = ()
    """(weekday, its windows) for weekdays whose arrival days have other windows than ``windows``."""

    def windows_on(self, weekday: int) -> tuple[ArrivalWindow, ...]:
        """The windows of a day with this weekday (0 = Monday)."""
        name = WEEKDAYS[weekday]
        return next((windows for day, windows in self.weekday_windows if day == name), self.windows)

    def as_shifts(self, working_days: str | tuple[str, ...] | None = None) -> ShiftSpec:
        """The windows as a shift calendar (weights left out): when applications may come in."""
        return ShiftSpec(self.working_days if working_days is None else working_days,
                         tuple(w.hours for w in self.windows),
                         tuple((day, tuple(w.hours for w in windows)) for day, windows in self.weekday_windows))

    def to_dict(self) -> dict[str, Any]:
        days = self.working_days if isinstance(self.working_days, str) else list(self.working_days)
        result: dict[str, Any] = {"working_days": days, "windows": [w.to_dict() for w in self.windows]}
        if self.weekday_windows:
            result["weekday_windows"] = {day: [w.to_dict() for w in windows] for day, windows in self.weekday_windows}
        return result


OPEN_HOURS = "open_hours"
"""``interarrival_mode`` default: inter-arrival gaps count only the arrival calendar's window hours."""
PROSIMOS_ARRIVALS = "prosimos"
"""``interarrival_mode`` of converted Prosimos models: gaps are elapsed time, as in Prosimos 2.1.0."""


@dataclass(frozen=True)
class ArrivalSpec:
    """Arrivals of one category: a rate per arrival day, per calendar day, or an inter-arrival distribution."""

    category: str
    per_working_day: float | None = None
    per_day: float | None = None
    interarrival_hours: Distribution | None = None
    calendar: ArrivalCalendar | None = None  # None: the scenario's arrival_calendar
    interarrival_mode: str = OPEN_HOURS
    """How ``interarrival_hours`` gaps meet the calendar: ``open_hours`` (counted in window hours) or ``prosimos``
    (elapsed time; an arrival outside the windows moves to the next opening), see ``arrivals.py``."""

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        if self.per_working_day is not None:
            data["per_working_day"] = self.per_working_day
        if self.per_day is not None:
            data["per_day"] = self.per_day
        if self.interarrival_hours is not None:
            data["interarrival_hours"] = self.interarrival_hours.to_dict()
        if self.interarrival_mode != OPEN_HOURS:
            data["interarrival_mode"] = self.interarrival_mode
        if self.calendar is not None:
            data["calendar"] = self.calendar.to_dict()
        return data


@dataclass(frozen=True)
class CaseDataSpec:
    """How to generate the application of a category's case from its sample."""

    sample: str
    capacity_kva: Distribution | None = None
    dual_supply: float | None = None
    missing_property_proof: float = 0.0
    risk_flags: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"sample": self.sample, "missing_property_proof": self.missing_property_proof}
        if self.capacity_kva is not None:
            data["capacity_kva"] = self.capacity_kva.to_dict()
        if self.dual_supply is not None:
            data["dual_supply"] = self.dual_supply
        if self.risk_flags:
            data["risk_flags"] = dict(self.risk_flags)
        return data


@dataclass(frozen=True)
class DurationSpec:
    """A staff task's working time in hours, optionally different per resource (``surveyor#2``)."""

    default: Distribution
    per_resource: dict[str, Distribution] = field(default_factory=dict)

    def for_resource(self, resource: str | None) -> Distribution:
        return self.per_resource.get(resource or "", self.default)

    def to_dict(self) -> float | dict[str, Any]:
        base = self.default.to_dict()
        if not self.per_resource:
            return base
        data = dict(base) if isinstance(base, dict) else {"distribution": "fixed", "value": base}
        data["per_resource"] = {name: dist.to_dict() for name, dist in self.per_resource.items()}
        return data


@dataclass(frozen=True)
class Alternative:
    """One weighted answer of a user task (form data merged over the form's defaults)."""

    weight: float
    data: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"weight": self.weight, "data": self.data}


@dataclass
class Scenario:
    """A validated scenario. Paths (``process``, ``samples``) resolve against ``base_dir``."""

    name: str
    start: datetime
    arrivals: dict[str, ArrivalSpec]
    pools: dict[str, PoolSpec]
    description: str = ""
    translations: dict[str, dict[str, str]] = field(default_factory=dict)
    """The name and description in other languages, by language tag (``{"en": {"description": "…"}}``):
    :func:`translated` picks the one for a page's language."""
    seed: int = 1
    horizon_days: float | None = None
    cases: int | None = None
    max_days: float | None = None
    regime: str = "statute"
    process: str = DEFAULT_PROCESS
    samples: str = DEFAULT_SAMPLES
    arrival_calendar: ArrivalCalendar = field(default_factory=ArrivalCalendar)
    case_data: dict[str, CaseDataSpec] = field(default_factory=dict)
    calendars: dict[str, ShiftSpec] = field(default_factory=dict)
    durations: dict[str, DurationSpec] = field(default_factory=dict)
    customer_delays: dict[str, Distribution] = field(default_factory=dict)
    pickup_delays: dict[str, Distribution] = field(default_factory=dict)
    """Per staff task: working hours (on its lane's shifts) from ready until it joins the lane's queue."""
    default_task_hours: Distribution = field(default_factory=lambda: fixed(1.0))
    default_customer_days: Distribution = field(default_factory=lambda: fixed(1.0))
    answers: dict[str, tuple[Alternative, ...]] = field(default_factory=dict)
    branch_probabilities: dict[str, float] = field(default_factory=dict)
    source: str = "<scenario>"
    base_dir: Path = field(default_factory=Path.cwd)
    key_lines: dict[KeyPath, tuple[str, int | None]] = field(default_factory=dict, compare=False, repr=False)
    """Where the keys were written (file, line), for problems found only when a run starts (unknown tasks …)."""

    def where(self, path: KeyPath) -> str:
        """``file:line`` of the key at ``path`` (or of its nearest written parent), else the scenario's source."""
        for depth in range(len(path), -1, -1):
            if path[:depth] in self.key_lines:
                source, line = self.key_lines[path[:depth]]
                return f"{source}:{line}" if line else source
        return self.source

    @property
    def process_dir(self) -> Path:
        return (self.base_dir / self.process).resolve()

    @property
    def samples_dir(self) -> Path:
        return (self.base_dir / self.samples).resolve()

    def case_data_for(self, category: str) -> CaseDataSpec:
        return self.case_data.get(category) or CaseDataSpec(sample=category)

    def shift_spec(self, name: str) -> ShiftSpec:
        return self.calendars.get(name) or DEFAULT_SHIFTS

    def uses_official_workdays(self) -> bool:
        """Whether a calendar the run uses follows the Chinese official working days (``working_days: cn``, whose
        holidays are estimated beyond the official data): a pool's shift calendar (the default ``office`` one when
        not defined) or a category's arrival calendar (its own, else ``arrival_calendar``; ``per_day`` arrivals
        come on every day)."""
        shifts = [self.shift_spec(pool.calendar).working_days for pool in self.pools.values()]
        arrivals = ["all" if spec.per_day is not None else (spec.calendar or self.arrival_calendar).working_days
                    for spec in self.arrivals.values()]
        return any(days == "cn" for days in (*shifts, *arrivals))

    @property
    def end(self) -> datetime:
        """When the clock stops: ``max_days`` after start (default: the arrival window plus 365 days)."""
        days = self.max_days if self.max_days is not None else (self.horizon_days or 0.0) + 365.0
        return self.start + timedelta(days=days)

    def to_dict(self) -> dict[str, Any]:
        """The scenario as data ``scenario_from_dict`` reads back into an equal scenario."""
        data: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "seed": self.seed,
            "start": self.start.isoformat(),
            "regime": self.regime,
            "process": self.process,
            "samples": self.samples,
            "arrival_calendar": self.arrival_calendar.to_dict(),
            "arrivals": {name: spec.to_dict() for name, spec in self.arrivals.items()},
            "case_data": {name: spec.to_dict() for name, spec in self.case_data.items()},
            "calendars": {name: spec.to_dict() for name, spec in self.calendars.items()},
            "pools": {name: spec.to_dict() for name, spec in self.pools.items()},
            "durations": {name: spec.to_dict() for name, spec in self.durations.items()},
            "customer_delays": {name: dist.to_dict() for name, dist in self.customer_delays.items()},
            "pickup_delays": {name: dist.to_dict() for name, dist in self.pickup_delays.items()},
            "defaults": {"task_hours": self.default_task_hours.to_dict(),
                         "customer_days": self.default_customer_days.to_dict()},
            "answers": {name: [alt.to_dict() for alt in alts] for name, alts in self.answers.items()},
            "branch_probabilities": dict(self.branch_probabilities),
        }
        for key in ("horizon_days", "cases", "max_days"):
            if getattr(self, key) is not None:
                data[key] = getattr(self, key)
        if self.translations:
            data["translations"] = copy.deepcopy(self.translations)
        return data


# -- reading ----------------------------------------------------------------------------------------------------------

@cache
def scenario_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(SCENARIO_SCHEMA_PATH.read_text(encoding="utf-8"))
    return schema


def load_scenario(path: str | Path) -> Scenario:
    """Read a ``.yaml``/``.yml``/``.json`` scenario; relative paths in it resolve against its folder.

    A file may start from another with ``extends: other.yaml`` (relative to the file): see :func:`read_scenario_data`.
    Problems name the file and line that hold the offending value, parent files included.
    """
    path = Path(path)
    layers = _read_layers(path)
    data, below = _merging(layers)
    child = layers[0]

    def locate(key_path: KeyPath) -> tuple[str, int | None]:
        layer = _owner(layers, key_path, below)
        return layer.source, line_of(layer.node, key_path)

    return _build(data, child.source, child.folder, locate)


def read_scenario_data(path: str | Path) -> dict[str, Any]:
    """The scenario data of a file with its ``extends`` chain resolved, not yet validated.

    ``extends: today.yaml`` (a path relative to the file) starts from that file's data and lays this file's keys over
    it: mappings merge key by key, lists and scalars replace, and ``null`` removes an inherited key (as in JSON Merge
    Patch, RFC 7386). A parent may extend another file; a cycle is refused. ``process`` and ``samples`` keep meaning
    the folder relative to the file that sets them. Raises ``ScenarioError`` (file, line, key).
    """
    return _merge_layers(_read_layers(Path(path)))


TRANSLATED = ("name", "description")
"""The scenario's texts that ``translations`` may give in other languages."""


def translated(data: Mapping[str, Any], key: str, language: str | None) -> Any:
    """The scenario's ``name`` or ``description`` (``key``) in ``language`` (a language tag: ``en``, ``en_GB``,
    ``zh-Hant-TW`` …) from its ``translations`` — the tag itself, then its language alone (``en`` for ``en_GB``) —
    else as written (None when not written). ``data``: a scenario's data as read (``read_scenario_data``)."""
    translations = data.get("translations")
    if language and isinstance(translations, Mapping):
        tag = language.replace("-", "_")
        for candidate in dict.fromkeys([language, tag, tag.partition("_")[0]]):
            entry = translations.get(candidate)
            if isinstance(entry, Mapping) and isinstance(entry.get(key), str) and entry[key].strip():
                return entry[key]
    return data.get(key)


def scenario_from_dict(data: dict[str, Any], source: str = "<scenario>", base_dir: Path | None = None) -> Scenario:
    """Validate scenario data that did not come from a file (the web page); errors carry no line number."""
    if isinstance(data, dict) and "extends" in data:
        raise ScenarioError(source, None, ("extends",), "extends works in scenario files only; give the whole scenario")
    return _build(data, source, base_dir, lambda key_path: (source, None))


# -- files and inheritance --------------------------------------------------------------------------------------------

EXTENDS = "extends"
FOLDER_KEYS = ("process", "samples")  # paths relative to the file that sets them


@dataclass(frozen=True)
class _Layer:
    """One file of an ``extends`` chain: its data as written (``extends`` included) and its node tree for lines."""

    source: str
    folder: Path
    data: dict[str, Any]
    node: yaml.Node | None


MAX_SCENARIO_DEPTH = 32
"""Nesting levels of a scenario's data (a real one has about 6): deeper is refused before anything walks it;
brackets a few thousand deep made the parsers themselves fail with a RecursionError."""


def scenario_depth(data: Any) -> int:
    """How deep lists and mappings nest in ``data`` (a scalar: 0), without recursion; counting stops a level past
    ``MAX_SCENARIO_DEPTH``."""
    deepest, stack = 0, [(data, 1)]
    while stack:
        value, level = stack.pop()
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else None
        if children is None:
            continue
        deepest = max(deepest, level)
        if level <= MAX_SCENARIO_DEPTH:
            stack.extend((child, level + 1) for child in children)
    return deepest


TOO_DEEP = f"nested more than {MAX_SCENARIO_DEPTH} levels deep (are the brackets paired?)"


def _read_file(path: Path) -> _Layer:
    source = str(path)
    try:
        return _parse_file(path, source)
    except RecursionError:
        raise ScenarioError(source, None, (), TOO_DEEP) from None


def _parse_file(path: Path, source: str) -> _Layer:
    try:
        text = read_utf8(path)
    except OSError as err:
        raise ScenarioError(source, None, (), f"cannot read: {err.strerror or err}") from err
    except NotUtf8Error as err:
        raise ScenarioError(source, err.line, (), err.reason) from None
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ScenarioError(source, err.lineno, (), f"invalid JSON: {err.msg}") from err
    elif path.suffix.lower() in (".yaml", ".yml"):
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            raise ScenarioError(source, mark.line + 1 if mark else None, (), f"invalid YAML: {err}") from err
    else:
        raise ScenarioError(source, None, (), "a scenario file ends in .yaml, .yml or .json")
    try:
        node: yaml.Node | None = yaml.compose(text, Loader=yaml.SafeLoader)  # JSON is YAML: same tree, with lines
    except yaml.YAMLError:
        node = None
    if not isinstance(data, dict):
        raise ScenarioError(source, line_of(node, ()), (), "a scenario must be a mapping of keys")
    if scenario_depth(data) > MAX_SCENARIO_DEPTH:
        raise ScenarioError(source, None, (), TOO_DEEP)
    return _Layer(source, path.resolve().parent, data, node)


def _read_layers(path: Path) -> list[_Layer]:
    """The file and the files it extends, the file itself first."""
    layers = [_read_file(path)]
    seen = [path.resolve()]
    while EXTENDS in layers[-1].data:
        layer = layers[-1]
        target = layer.data[EXTENDS]
        where = line_of(layer.node, (EXTENDS,))
        if not isinstance(target, str) or not target.strip():
            raise ScenarioError(layer.source, where, (EXTENDS,), "give the path of the scenario file to start from")
        parent = layer.folder / target
        if parent.resolve() in seen:
            chain = " → ".join(str(p) for p in [*seen, parent.resolve()])
            raise ScenarioError(layer.source, where, (EXTENDS,), f"circular extends: {chain}")
        if not parent.is_file():
            raise ScenarioError(layer.source, where, (EXTENDS,), f"no such scenario file: {parent}")
        seen.append(parent.resolve())
        layers.append(_read_file(parent))
    return layers


def _merge_layers(layers: list[_Layer]) -> dict[str, Any]:
    return _merging(layers)[0]


def _merged_below(layers: list[_Layer]) -> list[dict[str, Any]]:
    """Per file, the merged data of the files it extends (the farthest ancestor's: ``{}``)."""
    return _merging(layers)[1]


def _merging(layers: list[_Layer]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The merged data of ``layers`` and, per file, the merged data of the files it extends."""
    merged: dict[str, Any] = {}
    below: list[dict[str, Any]] = []
    for layer in reversed(layers):  # the farthest ancestor first, the file itself last
        below.append(merged)
        own = {key: value for key, value in layer.data.items() if key != EXTENDS}
        for key in FOLDER_KEYS:
            if isinstance(own.get(key), str) and layer is not layers[0]:
                # keep naming the same folder when read from the extending file's folder
                own[key] = os.path.relpath(layer.folder / own[key], layers[0].folder)
        merged = merge_overlay(_untranslated(merged, own), own)
    return merged, below[::-1]


def _untranslated(inherited: dict[str, Any], own: Mapping[str, Any]) -> dict[str, Any]:
    """``inherited`` without the translations of the texts (``name``, ``description``) that ``own`` writes anew:
    a what-if with a description of its own must not show its parent's description in English."""
    texts = [key for key in TRANSLATED if key in own]
    translations = inherited.get("translations")
    if not texts or not isinstance(translations, dict):
        return inherited
    kept = {tag: {key: text for key, text in entry.items() if key not in texts} if isinstance(entry, dict) else entry
            for tag, entry in translations.items()}
    result = {key: value for key, value in inherited.items() if key != "translations"}
    if any(entry != {} for entry in kept.values()):
        result["translations"] = {tag: entry for tag, entry in kept.items() if entry != {}}
    return result


def merge_overlay(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """``overlay`` laid over ``base``: mappings merge, lists and scalars replace, ``None`` removes the key; a
    distribution mapping that names another ``distribution`` replaces the inherited one (:func:`replaces`)."""
    result = dict(base)
    for key, value in overlay.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict) and isinstance(result.get(key), dict) and not replaces(result[key], value):
            result[key] = merge_overlay(result[key], value)
        elif isinstance(value, dict):
            result[key] = merge_overlay({}, value)  # drop null markers inside a new mapping too
        else:
            result[key] = value
    return result


def replaces(inherited: Any, value: Any) -> bool:
    """Whether ``value``, laid over ``inherited``, replaces it instead of merging into it: a distribution mapping
    that names another ``distribution`` (``{distribution: exponential, mean: 4}`` over a lognormal keeps none of the
    lognormal's parameters, which the exponential would refuse)."""
    kind = value.get("distribution") if isinstance(value, dict) else None
    return isinstance(kind, str) and (not isinstance(inherited, dict) or inherited.get("distribution") != kind)


def _owner(layers: list[_Layer], path: KeyPath, below: Sequence[dict[str, Any]] | None = None) -> _Layer:
    """The file whose value ends up at ``path`` after merging (else the one holding most of the path).

    ``below[i]``: the merged data of the files ``layers[i]`` extends (:func:`_merged_below`); a file whose
    distribution mapping replaces the inherited one (:func:`replaces`) owns everything under it."""
    below = below if below is not None else _merged_below(layers)
    best, best_depth = layers[0], -1
    for layer, inherited in zip(layers, below, strict=True):  # the file itself first: it wins every tie
        value: Any = layer.data
        under: Any = inherited
        depth = 0
        replaced = False
        for part in path:
            if isinstance(value, dict) and part in value:
                value, depth = value[part], depth + 1
                under = under.get(part) if isinstance(under, dict) else None
            elif isinstance(value, list) and isinstance(part, int) and 0 <= part < len(value):
                value, depth, under = value[part], depth + 1, None
            else:
                break
            if replaces(under, value):
                replaced = True
        if replaced or depth == len(path) or (depth and not isinstance(value, dict)):
            return layer  # this file sets the value, or a list or scalar that replaces everything below
        if depth > best_depth:
            best, best_depth = layer, depth
    return best


def line_of(node: yaml.Node | None, path: KeyPath) -> int | None:
    """The 1-based line of the value at ``path`` (or of the deepest part of it that exists)."""
    if node is None:
        return None
    line = node.start_mark.line + 1
    for part in path:
        child = None
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == part:
                    child = value
                    line = key.start_mark.line + 1
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            child = node.value[part]
            line = child.start_mark.line + 1
        if child is None:
            break
        node = child
    return line


def _build(data: Any, source: str, base_dir: Path | None,
           locate: Callable[[KeyPath], tuple[str, int | None]]) -> Scenario:
    """The scenario of ``data``; ``ScenarioError`` holding every problem found (``problems``), not just the first:
    every number that is not finite; else every schema violation and what the reading finds besides (checked on
    the data without the violating parts, so that one typo does not hide the rest nor cause spurious problems). A
    value both refuse at the same key (a malformed shift: the schema's pattern and ``parse_shift``) is one problem,
    in the reading's words."""
    def fail(path: KeyPath, message: str) -> ScenarioError:
        where, line = locate(path)
        return ScenarioError(where, line, path, message)

    if not isinstance(data, dict):
        raise fail((), "a scenario must be a mapping of keys")
    not_finite = list(non_finite_paths(data, ()))
    if not_finite:  # before the schema: NaN passes every minimum and maximum check
        raise ScenarioError.of([fail(path, "must be a finite number") for path in not_finite])
    validator = Draft202012Validator(scenario_schema())
    found: list[ScenarioError] = []
    invalid: list[KeyPath] = []
    for error in validator.iter_errors(data):
        best = best_match([error])
        path, message = _describe(best)
        if not any(f.path == path and f.message == message for f in found):
            found.append(fail(path, message))
        invalid.append(tuple(error.absolute_path))
    if found:
        # a value the reading refuses where the schema did too (a malformed shift in a list: the schema's pattern
        # and parse_shift) is one problem, in the reading's words, which say what form is expected
        schema_found = len(found)
        replaced: set[int] = set()
        for path, message in _parse_problems_despite(data, invalid, source, base_dir):
            same = next((i for i in range(schema_found) if found[i].path == path and i not in replaced), None)
            if same is None:
                found.append(fail(path, message))
            else:
                found[same] = fail(path, message)
                replaced.add(same)
        raise ScenarioError.of(found)
    try:
        scenario = _parse(data, source, base_dir)
    except _KeyedErrors as err:
        raise ScenarioError.of([fail(e.path, str(e)) for e in err.errors]) from err
    written: list[KeyPath] = [(), *((key,) for key in FOLDER_KEYS), *_key_paths(data, KEY_LINE_DEPTH)]
    scenario.key_lines = {path: locate(path) for path in written}
    return scenario


def _parse_problems_despite(data: dict[str, Any], invalid: list[KeyPath], source: str,
                            base_dir: Path | None) -> list[tuple[KeyPath, str]]:
    """What the reading finds in ``data`` besides its schema violations (at ``invalid``): the data is read with the
    violating parts left out. Problems that leaving them out may cause (the ``cases``/``horizon_days`` rule, the
    arrivals as a whole, case data of a category whose arrivals were left out) are not reported; nor is anything
    when a violation is at the top level (a required key missing, not a mapping of keys)."""
    if any(not path for path in invalid):
        return []  # the top level itself is wrong: reading it would only guess
    arrivals_cut = any(path[:1] == ("arrivals",) for path in invalid)
    cuts = list(invalid)
    while True:
        try:
            _parse(_pruned(data, cuts), source, base_dir)
        except _KeyedErrors as err:
            # a pool on a calendar left out for its own violation names a calendar that is there, only wrong
            cut_calendars = {str(path[1]) for path in cuts if len(path) >= 2 and path[0] == "calendars"}
            # a key left out of its mapping is missing only because it was left out (a distribution's mean above
            # its bound: not "lognormal needs 'mean'"); a list item is not left out, and the reading words it
            removed = {path for path in cuts if isinstance(path[-1], str)}
            return [(e.path, str(e)) for e in err.errors if e.path and e.path != ("arrivals",)
                    and e.path not in removed and not (arrivals_cut and e.path[:1] == ("case_data",))
                    and not _on_cut_calendar(data, e.path, cut_calendars)]
        except (KeyError, TypeError, ValueError, AttributeError, IndexError):
            # a required value was left out (a pool's invalid count): leave out what holds it instead, so that the
            # rest (a malformed shift of a calendar) is still read; the top-level keys themselves are needed
            if all(len(path) <= 2 for path in cuts):
                return []  # what is left is not readable: the schema's problems say why
            cuts = [path[:-1] if len(path) > 2 else path for path in cuts]
            continue
        return []


def _on_cut_calendar(data: dict[str, Any], path: KeyPath, cut_calendars: set[str]) -> bool:
    """Whether ``path`` is ``pools.<role>.calendar`` naming one of ``cut_calendars``."""
    if len(path) != 3 or path[0] != "pools" or path[2] != "calendar":
        return False
    pools = data.get("pools")
    spec = pools.get(path[1]) if isinstance(pools, dict) else None
    return isinstance(spec, dict) and spec.get("calendar") in cut_calendars


def _pruned(data: dict[str, Any], cuts: list[KeyPath]) -> dict[str, Any]:
    """A copy of ``data`` without the values at ``cuts``."""
    pruned = copy.deepcopy(data)
    for path in cuts:
        parent: Any = pruned
        for part in path[:-1]:
            if isinstance(parent, dict):
                parent = parent.get(part)
            elif isinstance(parent, list) and isinstance(part, int) and 0 <= part < len(parent):
                parent = parent[part]
            else:
                parent = None  # already left out with a violation above it
        if isinstance(parent, dict):
            parent.pop(path[-1], None)
    return pruned


KEY_LINE_DEPTH = 3
"""Key paths whose lines a scenario keeps: deep enough for ``answers.<task>[n]`` and ``pools.<role>.count``."""


def _key_paths(data: Any, depth: int, prefix: KeyPath = ()) -> list[KeyPath]:
    """Every key path of ``data`` down to ``depth`` parts (mapping keys and list indexes)."""
    if depth == 0:
        return []
    children: list[tuple[str | int, Any]] = (list(data.items()) if isinstance(data, dict)
                                             else list(enumerate(data)) if isinstance(data, list) else [])
    paths: list[KeyPath] = []
    for key, value in children:
        paths.append((*prefix, key))
        paths += _key_paths(value, depth - 1, (*prefix, key))
    return paths


def non_finite_paths(value: Any, path: KeyPath = ()) -> Iterator[KeyPath]:
    """The path of every NaN or infinity in the data, in document order."""
    if isinstance(value, float) and not math.isfinite(value):
        yield path
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in children:
        yield from non_finite_paths(child, (*path, key))


MAIN_PROCESS_FILE = f"{MAIN_PROCESS_ID}.bpmn"


def check_process_folder(scenario: Scenario) -> None:
    """Refuse a ``process`` folder without the main process, naming the file and line of the ``process`` key.

    Checked when a run starts rather than when the file is read: a scenario file may be read (checked, compared,
    edited) without its process. The main process lives in ``baozhuang.bpmn`` (or any BPMN file of the folder
    that defines the process ``baozhuang``); an overlay folder (``<base>/variants/<name>``) takes it from its base.

    Raises:
        ScenarioError: If the folder does not exist, or no BPMN file of it defines the main process.
    """
    folder = scenario.process_dir
    source, line = scenario.key_lines.get(("process",), (scenario.source, None))
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise ScenarioError(source, line, ("process",), f"the process folder {folder} {what}")
    if (folder / MAIN_PROCESS_FILE).is_file() or overlay_base(folder) is not None \
            or any(_defines_main_process(path) for path in sorted(folder.glob("*.bpmn"))):
        return
    raise ScenarioError(source, line, ("process",), f"no {MAIN_PROCESS_FILE} in {folder}")


def _defines_main_process(path: Path) -> bool:
    try:
        tree = etree.parse(str(path))
    except (OSError, etree.XMLSyntaxError):
        return False  # loading the folder reports the broken file with its line
    return any(element.get("id") == MAIN_PROCESS_ID for element in tree.iter(f"{{{NS['bpmn']}}}process"))


def _describe(error: ValidationError) -> tuple[KeyPath, str]:
    path: KeyPath = tuple(error.absolute_path)
    schema: dict[str, Any] = error.schema if isinstance(error.schema, dict) else {}
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = set(schema.get("properties", {}))
        extra = sorted(key for key in error.instance if key not in known)
        if extra:
            allowed = ", ".join(sorted(known))
            return (*path, extra[0]), f"unknown key {extra[0]!r}" + (f"; allowed: {allowed}" if allowed else "")
    if error.validator == "required":
        return path, error.message
    if error.validator == "pattern" and error.validator_value == SHIFT_TEXT and isinstance(error.instance, str):
        try:
            parse_shift(error.instance)
        except CalendarError as err:
            return path, str(err)  # as the reading words it: one wording, whichever check finds it
    if "working_days" in path:  # an empty list or an unknown day: none of cn, all or a list of weekdays
        at = path[:path.index("working_days") + 1]
        return at, (f"working_days needs at least one weekday ({', '.join(WEEKDAYS)}), or cn (the official "
                    "working days) or all (every day)")
    if error.validator == "type" and isinstance(error.instance, date):
        return path, _unquoted_date(path, error.instance)
    if error.validator == "oneOf" and schema.get("oneOf") and all(
            set(option) == {"required"} for option in schema["oneOf"]):
        names = [option["required"][0] for option in schema["oneOf"]]
        return path, f"give exactly one of {', '.join(names)}"
    return path, error.message


def _unquoted_date(path: KeyPath, value: date) -> str:
    """YAML reads an unquoted ``2026-11-02`` as a date, not as the text the scenario wants: say to quote it."""
    text = value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()
    example = f'{path[-1]}: "{text}"' if path and isinstance(path[-1], str) else f'"{text}"'
    return f"write the date in quotes, e.g. {example} (unquoted, YAML reads it as a date, not as text)"


class _KeyedError(ValueError):
    def __init__(self, path: KeyPath, message: str) -> None:
        super().__init__(message)
        self.path = path


class _KeyedErrors(ValueError):
    """Every ``_KeyedError`` of one reading."""

    def __init__(self, errors: list[_KeyedError]) -> None:
        super().__init__("; ".join(str(error) for error in errors))
        self.errors = errors


def _distribution(value: Any, path: KeyPath) -> Distribution:
    try:
        return parse_distribution(value)
    except DistributionError as err:
        raise _KeyedError((*path, *err.path), str(err)) from err


def _start(value: str) -> datetime:
    try:
        if len(value.strip()) == 10:
            moment = datetime.combine(date.fromisoformat(value.strip()), time(0), tzinfo=TZ)
        else:
            moment = datetime.fromisoformat(value.strip())
    except ValueError as err:
        raise _KeyedError(("start",), f"not an ISO date or datetime: {value!r}") from err
    if moment.tzinfo is None:
        raise _KeyedError(("start",), "a start time needs an offset, e.g. +08:00")
    if not START_YEARS[0] <= moment.year <= START_YEARS[1]:
        raise _KeyedError(("start",), f"start must lie in the years {START_YEARS[0]}–{START_YEARS[1]} (got "
                                      f"{moment.year}): the simulated clock cannot hold dates far beyond")
    return moment.astimezone(TZ)


def _days(value: Any) -> str | tuple[str, ...]:
    return value if isinstance(value, str) else tuple(value)


def _arrival_calendar(data: dict[str, Any], path: KeyPath) -> ArrivalCalendar:
    def windows_of(entries: list[dict[str, Any]], at: KeyPath) -> tuple[ArrivalWindow, ...]:
        windows = []
        for index, window in enumerate(entries):
            try:
                parse_shift(window["hours"])
            except CalendarError as err:
                raise _KeyedError((*at, index, "hours"), str(err)) from err
            windows.append(ArrivalWindow(window["hours"], float(window.get("weight", 1.0))))
        try:
            parse_shifts(tuple(window.hours for window in windows), "windows")
        except CalendarError as err:
            raise _KeyedError(at, str(err)) from err
        return tuple(windows)

    return ArrivalCalendar(_days(data.get("working_days", "cn")), windows_of(data["windows"], (*path, "windows")),
                           tuple((day, windows_of(entries, (*path, "weekday_windows", day)))
                                 for day, entries in (data.get("weekday_windows") or {}).items()))


def _shift_problems(texts: Sequence[str], path: KeyPath) -> list[_KeyedError]:
    """A day's shifts checked one by one at ``path[index]`` (where the schema names a malformed one too, so that
    ``_build`` reports it once), then for overlaps at ``path`` when each is readable."""
    problems = []
    for index, text in enumerate(texts):
        try:
            parse_shift(text)
        except CalendarError as err:
            problems.append(_KeyedError((*path, index), str(err)))
    if not problems:
        try:
            parse_shifts(tuple(texts))
        except CalendarError as err:
            problems.append(_KeyedError(path, str(err)))
    return problems


def _unworked_weekdays(working_days: str | tuple[str, ...], days: Sequence[str], path: KeyPath) -> list[_KeyedError]:
    """Per-weekday shifts or windows (``days``, at ``path.<day>``) of weekdays a plain weekly ``working_days`` list
    leaves out: they would never be used. ``cn`` and ``all`` may work any weekday (a 调休 Sunday)."""
    if isinstance(working_days, str):
        return []
    worked = " ".join(day for day in WEEKDAYS if day in working_days)
    return [_KeyedError((*path, day), f"{day} is not one of this calendar's working_days ({worked}): add it there, "
                                      "or drop the entry")
            for day in days if day in WEEKDAYS and day not in working_days]


def _gaps_move_on(gaps: Distribution) -> bool:
    """Whether inter-arrival gaps drawn from ``gaps`` move the clock on: a mean above 0 and no upper clip at 0 or
    below (a single 0 draw is fine; only gaps of 0 throughout would bring applications without end)."""
    return gaps.mean > 0 and (gaps.high_bound is None or gaps.high_bound > 0)


def _parse(data: dict[str, Any], source: str, base_dir: Path | None) -> Scenario:
    """Read schema-valid data into a scenario; ``_KeyedErrors`` with every problem found. ``base_dir`` None: data
    given without a folder (relative paths resolve against the working folder)."""
    errors: list[_KeyedError] = []

    def dist(value: Any, path: KeyPath) -> Distribution:
        try:
            return _distribution(value, path)
        except _KeyedError as err:
            errors.append(err)
            return fixed(1.0)  # a stand-in: the scenario is refused anyway

    def arrival_calendar(value: dict[str, Any], path: KeyPath) -> ArrivalCalendar:
        try:
            return _arrival_calendar(value, path)
        except _KeyedError as err:
            errors.append(err)
            return ArrivalCalendar()

    if "horizon_days" not in data and "cases" not in data:
        errors.append(_KeyedError((), "give horizon_days (an arrival window) or cases (a case count), or both"))
    calendars: dict[str, ShiftSpec] = {}
    for name, spec in data.get("calendars", {}).items():
        shift_spec = ShiftSpec.from_dict(spec)
        at: KeyPath = ("calendars", name)
        errors += _shift_problems(shift_spec.shifts, (*at, "shifts"))
        for day, shifts in shift_spec.weekday_shifts:
            errors += _shift_problems(shifts, (*at, "weekday_shifts", day))
        errors += _unworked_weekdays(shift_spec.working_days, [day for day, _ in shift_spec.weekday_shifts],
                                     (*at, "weekday_shifts"))
        calendars[name] = shift_spec
    pools: dict[str, PoolSpec] = {}
    for role, spec in data["pools"].items():
        calendar = spec.get("calendar", DEFAULT_CALENDAR)
        if calendar not in calendars and calendar != DEFAULT_CALENDAR:
            errors.append(_KeyedError(("pools", role, "calendar"),
                                      f"unknown calendar {calendar!r}; define it under calendars"))
        pools[role] = PoolSpec(role, int(spec["count"]), float(spec.get("hourly_cost", 0.0)), calendar)
    arrivals: dict[str, ArrivalSpec] = {}
    for category, spec in data["arrivals"].items():
        path: KeyPath = ("arrivals", category)
        arrivals[category] = ArrivalSpec(
            category,
            per_working_day=spec.get("per_working_day"),
            per_day=spec.get("per_day"),
            interarrival_hours=(dist(spec["interarrival_hours"], (*path, "interarrival_hours"))
                                if "interarrival_hours" in spec else None),
            calendar=arrival_calendar(spec["calendar"], (*path, "calendar")) if "calendar" in spec else None,
            interarrival_mode=spec.get("interarrival_mode", OPEN_HOURS),
        )
        if "interarrival_mode" in spec and "interarrival_hours" not in spec:
            errors.append(_KeyedError((*path, "interarrival_mode"), "interarrival_mode applies to "
                                      "interarrival_hours arrivals only; remove it, or give interarrival_hours"))
        gaps = arrivals[category].interarrival_hours
        if gaps is not None and not _gaps_move_on(gaps):
            errors.append(_KeyedError((*path, "interarrival_hours"), "the gap between applications must be above 0 "
                                      "hours on average (and its max above 0): with gaps of 0 every application "
                                      "would arrive at the same moment, without end"))
    for category, spec in data["arrivals"].items():
        if "calendar" in spec and "per_day" not in spec:
            errors += _unworked_weekdays(_days(spec["calendar"].get("working_days", "cn")),
                                         list(spec["calendar"].get("weekday_windows") or {}),
                                         ("arrivals", category, "calendar", "weekday_windows"))
    shared = data.get("arrival_calendar")
    if shared is not None and not any("per_day" in spec for spec in data["arrivals"].values()
                                      if "calendar" not in spec):
        errors += _unworked_weekdays(_days(shared.get("working_days", "cn")),
                                     list(shared.get("weekday_windows") or {}), ("arrival_calendar", "weekday_windows"))
    errors += _sample_problems(data, base_dir)
    if arrivals and not any(_may_arrive(spec) for spec in arrivals.values()):
        errors.append(_KeyedError(("arrivals",), "every arrival rate is 0: no application would ever arrive; give "
                                                 "at least one category a rate above 0"))
    case_data: dict[str, CaseDataSpec] = {}
    for category, spec in data.get("case_data", {}).items():
        path = ("case_data", category)
        case_data[category] = CaseDataSpec(
            sample=spec.get("sample", category),
            capacity_kva=dist(spec["capacity_kva"], (*path, "capacity_kva")) if "capacity_kva" in spec
            else None,
            dual_supply=spec.get("dual_supply"),
            missing_property_proof=float(spec.get("missing_property_proof", 0.0)),
            risk_flags={k: float(v) for k, v in spec.get("risk_flags", {}).items()},
        )
    durations: dict[str, DurationSpec] = {}
    for element, spec in data.get("durations", {}).items():
        path = ("durations", element)
        if isinstance(spec, dict):
            base = {k: v for k, v in spec.items() if k != "per_resource"}
            per_resource = {name: dist(value, (*path, "per_resource", name))
                            for name, value in spec.get("per_resource", {}).items()}
            durations[element] = DurationSpec(dist(base, path), per_resource)
        else:
            durations[element] = DurationSpec(dist(spec, path))
    answers: dict[str, tuple[Alternative, ...]] = {}
    for element, spec in data.get("answers", {}).items():
        alternatives = spec if isinstance(spec, list) else [{"weight": 1.0, "data": spec}]
        answers[element] = tuple(Alternative(float(a["weight"]), dict(a["data"])) for a in alternatives)
    defaults = data.get("defaults", {})
    try:
        start = _start(data["start"])
    except _KeyedError as err:
        errors.append(err)
        start = datetime(2000, 1, 1, tzinfo=TZ)  # a stand-in: the scenario is refused anyway
    scenario = Scenario(
        name=data["name"],
        start=start,
        arrivals=arrivals,
        pools=pools,
        description=data.get("description", ""),
        translations=copy.deepcopy(data.get("translations", {})),
        seed=int(data.get("seed", 1)),
        horizon_days=data.get("horizon_days"),
        cases=data.get("cases"),
        max_days=data.get("max_days"),
        regime=data.get("regime", "statute"),
        process=data.get("process", DEFAULT_PROCESS),
        samples=data.get("samples", DEFAULT_SAMPLES),
        arrival_calendar=(arrival_calendar(data["arrival_calendar"], ("arrival_calendar",))
                          if "arrival_calendar" in data else ArrivalCalendar()),
        case_data=case_data,
        calendars=calendars,
        durations=durations,
        customer_delays={name: dist(value, ("customer_delays", name))
                         for name, value in data.get("customer_delays", {}).items()},
        pickup_delays={name: dist(value, ("pickup_delays", name))
                       for name, value in data.get("pickup_delays", {}).items()},
        default_task_hours=(dist(defaults["task_hours"], ("defaults", "task_hours"))
                            if "task_hours" in defaults else fixed(1.0)),
        default_customer_days=(dist(defaults["customer_days"], ("defaults", "customer_days"))
                               if "customer_days" in defaults else fixed(1.0)),
        answers=answers,
        branch_probabilities={k: float(v) for k, v in data.get("branch_probabilities", {}).items()},
        source=source,
        base_dir=base_dir or Path.cwd(),
    )
    for category in scenario.case_data:
        if category not in arrivals:
            errors.append(_KeyedError(("case_data", category), f"no arrivals for category {category!r}"))
    if errors:
        raise _KeyedErrors(errors)
    return scenario


def sample_categories(folder: Path) -> list[str]:
    """The application categories of a samples folder: its ``<category>.json`` files (a ``<category>_dual.json``
    is the dual-supply sample of its category, not a category)."""
    stems = {path.stem for path in folder.glob("*.json")}
    return sorted(stem for stem in stems
                  if not (stem.endswith(DUAL_SUFFIX) and stem.removesuffix(DUAL_SUFFIX) in stems))


DUAL_SUFFIX = "_dual"


def _sample_problems(data: dict[str, Any], base_dir: Path | None) -> list[_KeyedError]:
    """Arrival categories without a sample application: a misspelt category (``lv_residental``) is refused when the
    file is read, at its own key, not when its first case arrives. Left to the run (``SimulationEngine`` names a
    missing folder, the first case a missing sample): data given with neither a folder nor ``samples`` (its samples
    would be the working folder's), a samples folder that does not exist or holds no sample at all."""
    if base_dir is None and "samples" not in data:
        return []
    samples = data.get("samples", DEFAULT_SAMPLES)
    folder = ((base_dir or Path.cwd()) / samples).resolve() if isinstance(samples, str) else None
    if folder is None or not folder.is_dir() or not sample_categories(folder):
        return []
    problems = []
    case_data = data.get("case_data") or {}
    for category in data["arrivals"]:
        found = case_data.get(category)
        spec: dict[str, Any] = found if isinstance(found, dict) else {}
        sample = spec.get("sample", category)
        if not isinstance(sample, str) or (folder / f"{sample}.json").is_file():
            continue
        known = ", ".join(sample_categories(folder)) or "none"
        shown = _shown_folder(folder)
        if "sample" in spec:
            problems.append(_KeyedError(("case_data", category, "sample"), f"no sample application {sample}.json "
                                        f"in {shown}; known: {known}"))
        else:
            problems.append(_KeyedError(("arrivals", category), f"unknown category {category!r}; known: {known} "
                                        f"(the sample applications in {shown})"))
    return problems


def _shown_folder(folder: Path) -> str:
    """A folder relative to the working folder when below it, else absolute."""
    try:
        return str(folder.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(folder)


def _may_arrive(spec: ArrivalSpec) -> bool:
    """Whether a category's arrivals can bring a case at all: a rate above 0, or an inter-arrival distribution."""
    return bool(spec.per_working_day or spec.per_day or spec.interarrival_hours is not None)
