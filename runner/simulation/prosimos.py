"""Prosimos / Simod interop: run a Prosimos simulation model (BPMN + JSON parameters, or a BPMN with BIMP's QBP
annotations) on our simulator.

A Prosimos model is a BPMN with plain ``task`` elements and condition-less gateways, plus a JSON file with the
arrival process, the branching probabilities, per-task duration distributions per resource, the resource pools and
their weekly calendars. ``load_prosimos`` turns that into our two inputs:

- a ``ProcessBundle``: the BPMN parsed with our dialect. SpiffWorkflow 3.2 parses ``bpmn:task`` into ``NoneTask``
  (``manual = True``), so a case offers it as a ready task like a user task, and the engine hands it to the pool of
  its lane (kind ``task``). Prosimos models have no lanes that matter, so the converted BPMN gets one lane
  ``lane_<pool>`` per pool. Its condition-less exclusive gateways would not parse (SpiffWorkflow wants a condition
  on every non-default flow): the scenario's ``branch_probabilities`` decide them, through the simulator's
  ``branching.load_with_overrides``; an inclusive split takes each flow with its probability, at least one (as
  Prosimos: one drawn by the probabilities when none came up), and its join waits for the flows taken
  (SpiffWorkflow's inclusive gateway); at an event-based gateway the event whose delay ends first decides. The
  simulator re-parses the folder the bundle came from to apply them, so the
  converted model is written as a process folder of its own (process id ``baozhuang``, the simulator's main
  process, plus an empty sample application) under a work folder;
- a ``Scenario`` (``scenario_from_dict``): one pool per Prosimos resource profile, weekly shift calendars, durations
  in hours (per resource where Prosimos has several resource types in a pool), the inter-arrival distribution and
  arrival calendar, the branching probabilities per sequence flow, and each intermediate catch event's
  ``event_distribution`` as a delay (``customer_delays``; the converted BPMN makes every such event a message wait).

Bad input is refused before any case runs, naming the user's file and the JSON key path
(``task_resource_distribution[3].resources[0]``) or the BPMN/QBP element and its line, in the file's units; flow
elements Prosimos does not simulate (service, script, user tasks …) are refused by their type.

Prosimos expresses a few things our scenario cannot (per-resource calendars, a task shared by several pools, shifts
that differ between weekdays, shifted exponentials …): they are converted to the closest form and listed in
``ProsimosConversion.gaps`` (also docs/simulation.md, "Prosimos/Simod interop"). JSON sections that would change the
results and are not simulated (batching, prioritisation, multitasking, branch rules) are refused; attribute sections,
a gateway execution limit and unknown keys are listed there too. Arrivals keep Prosimos's rule
(``interarrival_mode: prosimos``, ``arrivals.prosimos_arrival_times``), and a task with several outgoing flows —
Prosimos's implicit parallel split — gets a parallel gateway in the converted copy.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

from ..process_folder import (
    BPMN_NS,
    LANE_PREFIX,
    MAIN_PROCESS_ID,
    NotUtf8Error,
    ProcessBundle,
    content_hash,
    read_utf8,
)
from ..workdays import TZ
from .branching import SPLITTING_GATEWAYS, BranchError, load_with_overrides
from .scenario import MAX_CALENDAR_DAYS, MAX_WORKING_HOURS, PROSIMOS_ARRIVALS, Scenario, scenario_from_dict

QBP_NS = "http://www.qbp-simulator.com/Schema201212"
NS = {"bpmn": BPMN_NS, "qbp": QBP_NS}
WEEKDAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")
SCENARIO_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
HOUR = 3600.0
DAY = 86400.0
DEFAULT_CASES = 1000
CATEGORY = "default"
"""The one arrival stream of a Prosimos model (Prosimos has no case categories)."""
HISTOGRAM_SAMPLES = 100
CLIP_NOTE = "values outside the bounds are clipped (Prosimos draws again)"
POOL_NAME = re.compile(r"[^A-Za-z0-9_]")


class ProsimosError(ValueError):
    """The Prosimos model cannot be read; the message names the file (and the line or the key).

    Raised without the file inside the conversion (the message starts with the JSON key path or the BPMN element);
    ``line`` is then the line of a BPMN/QBP element, and ``in_file`` prefixes the file (``file:line:``)."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line

    def in_file(self, path: str | Path) -> ProsimosError:
        """This error with its file in front: ``file:line: …`` or ``file: …``."""
        return ProsimosError(f"{path}:{self.line}: {self}" if self.line else f"{path}: {self}")


Location = tuple[str, int | None]
"""Where a parameter is in the user's file: the JSON key path (``task_resource_distribution[3]``), or the QBP
element's name and its line."""


@dataclass
class ProsimosResource:
    """One resource type of a Prosimos pool: ``amount`` interchangeable resources with one calendar and cost."""

    id: str
    name: str
    amount: int
    cost_per_hour: float
    calendar: str | None


@dataclass
class ProsimosModel:
    """The simulation parameters of a Prosimos/Simod model, as read from its JSON (or QBP annotations).

    Distributions stay in Prosimos form here (``{"distribution_name", "distribution_params"}``, seconds)."""

    pools: dict[str, list[ProsimosResource]]  # pool id -> resource types
    pool_names: dict[str, str]
    arrival: dict[str, Any]
    arrival_calendar: list[dict[str, str]]
    branching: dict[str, dict[str, float]]  # gateway id -> flow id -> probability
    durations: dict[str, dict[str, dict[str, Any]]]  # task id -> resource type id -> distribution
    calendars: dict[str, list[dict[str, str]]]  # calendar id -> weekly time periods
    events: dict[str, dict[str, Any]] = field(default_factory=dict)  # event id -> distribution
    locations: dict[str, Location] = field(default_factory=dict)
    """``task:<id>``, ``resource:<task>:<resource>``, ``gateway:<id>``, ``flow:<id>``, ``event:<id>``,
    ``arrival``, ``pool:<id>``, ``calendar:<id>`` → where the user wrote it."""
    cases: int | None = None  # QBP processInstances
    start: date | None = None  # QBP startDateTime (its date)
    notes: list[str] = field(default_factory=list)
    """Warnings about the file itself (sections not simulated, unknown keys); ``convert`` puts them first in
    ``ProsimosConversion.gaps``."""
    arrival_calendar_given: bool = True
    """False when a JSON file has no (or an empty) ``arrival_time_calendar``: Prosimos then lets cases arrive
    when the resources of the first tasks work (``SimulationSetup.find_arrival_calendar``)."""

    def at(self, key: str, fallback: str) -> Location:
        """Where ``key`` is in the user's file (``fallback`` when not recorded)."""
        return self.locations.get(key, (fallback, None))


@dataclass
class ProsimosConversion:
    """The scenario (as a dict for ``scenario_from_dict``), the pool of every task, and what could not be kept."""

    scenario: dict[str, Any]
    task_pools: dict[str, str]
    gaps: list[str] = field(default_factory=list)
    start_from: str = "default"
    """Where the start came from: ``argument`` (the caller's), ``model`` (QBP startDateTime) or ``default``."""
    cases_from: str = "default"
    """Where the case count came from: ``argument``, ``model`` (QBP processInstances) or ``default``."""


# -- reading -------------------------------------------------------------------------------------------------------


def _require(data: dict[str, Any], key: str, where: str) -> Any:
    if not isinstance(data, dict) or key not in data:
        raise ProsimosError(f"{where}: missing key {key!r}")
    return data[key]


def read_prosimos_json(path: str | Path) -> ProsimosModel:
    """Read a Prosimos 2.x JSON parameter file; ``ProsimosError`` names the file, line or key on bad input."""
    path = Path(path)
    try:
        data = json.loads(read_utf8(path))
    except OSError as err:
        raise ProsimosError(f"{path}: cannot read: {err.strerror}") from err
    except NotUtf8Error as err:
        raise ProsimosError(str(err)) from None
    except json.JSONDecodeError as err:
        raise ProsimosError(f"{path}:{err.lineno}: invalid JSON: {err.msg}") from err
    if not isinstance(data, dict):
        raise ProsimosError(f"{path}:1: expected a JSON object")
    where = str(path)
    if data.get("model_type", "CRISP") == "FUZZY":
        raise ProsimosError(f"{where}: model_type FUZZY (probabilistic calendars) is not supported")
    notes = _check_sections(data, where)
    pools: dict[str, list[ProsimosResource]] = {}
    pool_names: dict[str, str] = {}
    locations: dict[str, Location] = {"arrival": ("arrival_time_distribution", None)}
    for index, pool in enumerate(_require(data, "resource_profiles", where)):
        at = f"{where}: resource_profiles[{index}]"
        pool_id = str(_require(pool, "id", at))
        pool_names[pool_id] = str(pool.get("name", pool_id))
        locations[f"pool:{pool_id}"] = (f"resource_profiles[{index}]", None)
        resources = []
        for r_index, resource in enumerate(_require(pool, "resource_list", at)):
            r_at = f"{at}.resource_list[{r_index}]"
            try:
                amount = int(resource.get("amount", 1))
                cost = float(resource.get("cost_per_hour", 0))
            except (TypeError, ValueError) as err:
                raise ProsimosError(f"{r_at}: amount and cost_per_hour must be numbers") from err
            if amount < 1:
                raise ProsimosError(f"{r_at}.amount: must be at least 1, got {amount}")
            calendar = _require(resource, "calendar", r_at)
            if not isinstance(calendar, str) or not calendar:
                raise ProsimosError(f"{r_at}.calendar: must be the id of one of resource_calendars")
            resources.append(ProsimosResource(str(_require(resource, "id", r_at)), str(resource.get("name", "")),
                                              amount, cost, calendar))
        pools[pool_id] = resources
    branching = _read_branching(_require(data, "gateway_branching_probabilities", where), where, locations)
    durations: dict[str, dict[str, dict[str, Any]]] = {}
    for index, task in enumerate(_require(data, "task_resource_distribution", where)):
        at = f"{where}: task_resource_distribution[{index}]"
        task_id = str(_require(task, "task_id", at))
        per_resource = durations.setdefault(task_id, {})
        locations.setdefault(f"task:{task_id}", (f"task_resource_distribution[{index}]", None))
        for r_index, resource in enumerate(_require(task, "resources", at)):
            r_at = f"{at}.resources[{r_index}]"
            resource_id = str(_require(resource, "resource_id", r_at))
            per_resource[resource_id] = {
                "distribution_name": _require(resource, "distribution_name", r_at),
                "distribution_params": _require(resource, "distribution_params", r_at),
            }
            locations[f"resource:{task_id}:{resource_id}"] = (
                f"task_resource_distribution[{index}].resources[{r_index}]", None)
    calendars: dict[str, list[dict[str, str]]] = {}
    for index, calendar in enumerate(_require(data, "resource_calendars", where)):
        at = f"{where}: resource_calendars[{index}]"
        calendar_id = str(_require(calendar, "id", at))
        periods = _require(calendar, "time_periods", f"{at} (calendar {calendar_id!r})")
        if not isinstance(periods, list):
            raise ProsimosError(f"{at}.time_periods: calendar {calendar_id!r}: must be a list of periods")
        calendars[calendar_id] = periods
        locations[f"calendar:{calendar_id}"] = (f"resource_calendars[{index}] (calendar {calendar_id!r})", None)
    events: dict[str, dict[str, Any]] = {}
    for index, event in enumerate(data.get("event_distribution", [])):
        event_id = str(_require(event, "event_id", f"{where}: event_distribution[{index}]"))
        events[event_id] = event
        locations[f"event:{event_id}"] = (f"event_distribution[{index}]", None)
    return ProsimosModel(pools, pool_names, _require(data, "arrival_time_distribution", where),
                         list(data.get("arrival_time_calendar") or []), branching, durations, calendars, events,
                         locations, notes=notes, arrival_calendar_given=bool(data.get("arrival_time_calendar")))


READ_SECTIONS = frozenset({
    "resource_profiles", "resource_calendars", "task_resource_distribution", "arrival_time_distribution",
    "arrival_time_calendar", "gateway_branching_probabilities", "event_distribution", "model_type"})
"""The top-level keys of a Prosimos 2.x JSON file that are converted (``model_type`` only as CRISP)."""
IGNORED_SECTIONS = frozenset({"granule_size"})
"""Keys Prosimos 2.1.0 itself ignores in a CRISP model (``granule_size`` is for FUZZY calendars)."""
REFUSED_SECTIONS = {
    "batch_processing": "runs the tasks it names in batches (a case waits for its batch to fill or fire)",
    "prioritisation_rules": "serves cases by priority instead of in arrival order",
    "multitask": "lets a resource work on several tasks at once",
    "branch_rules": "decides gateways by conditions on case attributes instead of their probabilities",
}
"""Sections of Prosimos 2.1.0 that change its results and are not simulated here: a non-empty one is refused."""
WARNED_SECTIONS = {
    "case_attributes": "gives every case attributes, written to its log",
    "event_attributes": "gives events attributes, written to its log",
    "global_attributes": "keeps global attributes, written to its log",
    "gateway_execution_limit": "stops taking a gateway's flows once the gateway ran that often in a case",
}
"""Sections of Prosimos 2.1.0 not simulated here that change no result read here on their own (attributes
matter only to the rules, which are refused): a non-empty one is warned about."""
PROSIMOS_GATEWAY_LIMIT = 1000
"""Prosimos 2.1.0's ``gateway_execution_limit`` when the file gives none (``DEFAULT_GATEWAY_EXECUTION_LIMIT``)."""


def _is_empty(value: Any) -> bool:
    """Whether a section holds nothing: null, ``[]``, ``{}``, ``""``, or a mapping whose lists and mappings are all
    empty (``{"type": "local", "values": []}``)."""
    if value is None or value in ([], {}, ""):
        return True
    if isinstance(value, dict):
        nested = [v for v in value.values() if isinstance(v, (list, dict))]
        return bool(nested) and all(_is_empty(v) for v in nested)
    return False


def _check_sections(data: dict[str, Any], where: str) -> list[str]:
    """Refuse a non-empty section that would make the results differ from Prosimos's (``REFUSED_SECTIONS``);
    return a warning for each non-empty section that is not simulated but changes no result on its own
    (``WARNED_SECTIONS``) and for each key Prosimos 2.1.0 does not know. Empty sections (Simod writes ``[]``)
    pass silently."""
    for section, what in REFUSED_SECTIONS.items():
        if section in data and not _is_empty(data[section]):
            raise ProsimosError(f"{where}: {section}: Prosimos {what}, which this simulator does not do: the results "
                                f"would differ from Prosimos's. Remove the {section} section (or leave it an empty "
                                "list) to simulate the model without it")
    notes = []
    for section, what in WARNED_SECTIONS.items():
        value = data.get(section)
        if section == "gateway_execution_limit":
            if not _is_empty(value) and value != PROSIMOS_GATEWAY_LIMIT:
                notes.append(f"{section}: {value!r}: Prosimos {what}; not simulated here (a gateway runs as often "
                             "as its probabilities take the case there)")
        elif not _is_empty(value):
            notes.append(f"{section}: Prosimos {what}; not simulated here (the cases carry no such attributes)")
    known = READ_SECTIONS | IGNORED_SECTIONS | set(REFUSED_SECTIONS) | set(WARNED_SECTIONS)
    for key in data:
        if key not in known:
            notes.append(f"{key}: not a section of a Prosimos 2.1.0 parameter file; ignored")
    return notes


def _read_branching(gateways: Any, where: str, locations: dict[str, Location]) -> dict[str, dict[str, float]]:
    """``gateway_branching_probabilities``: gateway id -> flow id -> probability (a JSON number in [0, 1])."""
    if not isinstance(gateways, list):
        raise ProsimosError(f"{where}: gateway_branching_probabilities: must be a list of gateways")
    branching: dict[str, dict[str, float]] = {}
    for index, gateway in enumerate(gateways):
        at = f"{where}: gateway_branching_probabilities[{index}]"
        gateway_id = str(_require(gateway, "gateway_id", at))
        locations[f"gateway:{gateway_id}"] = (f"gateway_branching_probabilities[{index}]", None)
        flows: dict[str, float] = {}
        for p_index, prob in enumerate(_require(gateway, "probabilities", at)):
            p_at = f"{at}.probabilities[{p_index}]"
            value = prob.get("value", math.nan) if isinstance(prob, dict) else math.nan
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ProsimosError(f"{p_at}.value: must be a number, got {value!r}")
            if not math.isnan(value) and not 0 <= value <= 1:
                raise ProsimosError(f"{p_at}.value: a probability must be between 0 and 1, got {value:g}")
            flow_id = str(_require(prob, "path_id", p_at))
            flows[flow_id] = float(value)
            locations[f"flow:{flow_id}"] = (f"gateway_branching_probabilities[{index}].probabilities[{p_index}]",
                                            None)
        branching[gateway_id] = _fill_missing_probabilities(flows)
    return branching


def _fill_missing_probabilities(flows: dict[str, float]) -> dict[str, float]:
    """Flows without a value share what the others leave of 1 (as Prosimos does)."""
    missing = [flow for flow, value in flows.items() if math.isnan(value)]
    if missing:
        rest = max(0.0, 1.0 - sum(v for v in flows.values() if not math.isnan(v)))
        for flow in missing:
            flows[flow] = rest / len(missing)
    return flows


def read_qbp(path: str | Path) -> ProsimosModel:
    """Read the simulation parameters of a BPMN with BIMP/QBP annotations (``qbp:processSimulationInfo``), with
    its ``processInstances`` (the case count) and the date of its ``startDateTime``."""
    path = Path(path)
    tree = _parse_xml(path)
    info = tree.find(".//qbp:processSimulationInfo", NS)
    if info is None:
        raise ProsimosError(f"{path}: no qbp:processSimulationInfo; give the Prosimos JSON parameters as well")

    def line(element: Any) -> str:
        return f"{path}:{element.sourceline}"

    calendars: dict[str, list[dict[str, str]]] = {}
    locations: dict[str, Location] = {}
    arrival_calendar_id = None
    for timetable in info.iterfind("qbp:timetables/qbp:timetable", NS):
        calendar_id = timetable.get("id", "")
        calendars[calendar_id] = [
            {"from": rule.get("fromWeekDay", ""), "to": rule.get("toWeekDay", ""),
             "beginTime": rule.get("fromTime", "").split("+")[0], "endTime": rule.get("toTime", "").split("+")[0]}
            for rule in timetable.iterfind("qbp:rules/qbp:rule", NS)]
        locations[f"calendar:{calendar_id}"] = (f"qbp:timetable {calendar_id!r}", timetable.sourceline)
        if "ARRIVAL" in calendar_id or (arrival_calendar_id is None and timetable.get("default") == "true"):
            arrival_calendar_id = calendar_id
    pools: dict[str, list[ProsimosResource]] = {}
    pool_names: dict[str, str] = {}
    for resource in info.iterfind("qbp:resources/qbp:resource", NS):
        pool_id = resource.get("id", "")
        pool_names[pool_id] = resource.get("name", pool_id)
        try:
            amount, cost = int(resource.get("totalAmount", "1")), float(resource.get("costPerHour", "0"))
        except ValueError as err:
            raise ProsimosError(f"{line(resource)}: totalAmount and costPerHour must be numbers") from err
        pools[pool_id] = [ProsimosResource(pool_id, pool_names[pool_id], amount, cost, resource.get("timetableId"))]
        locations[f"pool:{pool_id}"] = (f"qbp:resource {pool_id!r}", resource.sourceline)
    durations: dict[str, dict[str, dict[str, Any]]] = {}
    for element in info.iterfind("qbp:elements/qbp:element", NS):
        pool_id = element.findtext("qbp:resourceIds/qbp:resourceId", "", NS).strip()
        dist = element.find("qbp:durationDistribution", NS)
        if dist is None or pool_id not in pools:
            raise ProsimosError(f"{line(element)}: element {element.get('elementId')!r} needs a durationDistribution "
                                "and a known resourceId")
        task_id = element.get("elementId", "")
        durations.setdefault(task_id, {})[pool_id] = _qbp_distribution(dist, line(dist))
        locations[f"task:{task_id}"] = (f"qbp:element {task_id!r}", element.sourceline)
        locations[f"resource:{task_id}:{pool_id}"] = (f"qbp:element {task_id!r}: qbp:durationDistribution",
                                                      dist.sourceline)
    flow_gateway = {flow.get("id"): flow.get("sourceRef") for flow in tree.iterfind(".//bpmn:sequenceFlow", NS)}
    branching: dict[str, dict[str, float]] = {}
    for flow in info.iterfind("qbp:sequenceFlows/qbp:sequenceFlow", NS):
        flow_id = flow.get("elementId", "")
        gateway = flow_gateway.get(flow_id)
        if gateway is None:
            raise ProsimosError(f"{line(flow)}: unknown sequence flow {flow_id!r}")
        try:
            probability = float(flow.get("executionProbability", "0"))
        except ValueError:
            probability = math.nan
        if not 0 <= probability <= 1:
            raise ProsimosError(f"{line(flow)}: qbp:sequenceFlow {flow_id!r}: executionProbability must be a "
                                f"number between 0 and 1, got {flow.get('executionProbability')!r}")
        branching.setdefault(gateway, {})[flow_id] = probability
        locations[f"flow:{flow_id}"] = (f"qbp:sequenceFlow {flow_id!r}", flow.sourceline)
        locations.setdefault(f"gateway:{gateway}", (f"qbp:sequenceFlow {flow_id!r}", flow.sourceline))
    arrival = info.find("qbp:arrivalRateDistribution", NS)
    if arrival is None:
        raise ProsimosError(f"{line(info)}: no qbp:arrivalRateDistribution")
    locations["arrival"] = ("qbp:arrivalRateDistribution", arrival.sourceline)
    return ProsimosModel(pools, pool_names, _qbp_distribution(arrival, line(arrival)),
                         calendars.get(arrival_calendar_id or "", []), branching, durations, calendars,
                         locations=locations, cases=_qbp_cases(info, line(info)), start=_qbp_start(info, line(info)))


def _qbp_cases(info: Any, where: str) -> int | None:
    """``processInstances``: the number of cases BIMP/Prosimos simulate (None when absent)."""
    text = info.get("processInstances")
    if text is None or not text.strip():
        return None
    try:
        cases = int(text)
    except ValueError:
        cases = 0
    if cases < 1:
        raise ProsimosError(f"{where}: qbp:processSimulationInfo processInstances must be a whole number of at "
                            f"least 1, got {text!r}")
    return cases


def _qbp_start(info: Any, where: str) -> date | None:
    """The date of ``startDateTime`` as written (``2026-11-02T09:00:00.000Z`` → 2026-11-02); None when absent."""
    text = info.get("startDateTime")
    if text is None or not text.strip():
        return None
    try:
        return date.fromisoformat(text.strip()[:10])
    except ValueError:
        raise ProsimosError(f"{where}: qbp:processSimulationInfo startDateTime must start with a date "
                            f"YYYY-MM-DD, got {text!r}") from None


def _qbp_distribution(element: Any, where: str) -> dict[str, Any]:
    """A QBP ``durationDistribution`` / ``arrivalRateDistribution`` (seconds) in Prosimos 2.x form."""
    try:
        mean, arg1, arg2 = (float(element.get(key, "0")) for key in ("mean", "arg1", "arg2"))
    except ValueError as err:
        raise ProsimosError(f"{where}: mean, arg1 and arg2 must be numbers") from err
    kind = element.get("type", "").upper()
    params: dict[str, list[float]] = {
        "FIXED": [mean], "EXPONENTIAL": [arg1, 0.0, math.inf], "NORMAL": [mean, arg1, 0.0, math.inf],
        "UNIFORM": [arg1, arg2], "GAMMA": [mean, arg1, 0.0, math.inf], "LOGNORMAL": [mean, arg1, 0.0, math.inf],
    }
    names = {"FIXED": "fix", "EXPONENTIAL": "expon", "NORMAL": "norm", "UNIFORM": "uniform", "GAMMA": "gamma",
             "LOGNORMAL": "lognorm"}
    if kind == "TRIANGULAR":  # mean = mode, arg1 = min, arg2 = max: scipy's (c, loc, scale)
        span = arg2 - arg1
        return {"distribution_name": "triang",
                "distribution_params": [{"value": (mean - arg1) / span if span else 0.0}, {"value": arg1},
                                        {"value": span}]}
    if kind not in params:
        raise ProsimosError(f"{where}: unknown distribution type {kind!r}")
    return {"distribution_name": names[kind], "distribution_params": [{"value": v} for v in params[kind]]}


def _parse_xml(path: Path) -> Any:
    try:
        read_utf8(path)
        return etree.parse(str(path))
    except NotUtf8Error as err:
        raise ProsimosError(str(err)) from None
    except OSError as err:
        raise ProsimosError(f"{path}: cannot read: {err}") from err
    except etree.XMLSyntaxError as err:
        raise ProsimosError(f"{path}:{err.lineno}: invalid XML: {err.msg}") from err


# -- converting ----------------------------------------------------------------------------------------------------


def _values(spec: dict[str, Any], where: str, line: int | None = None) -> list[float]:
    raw = spec.get("distribution_params")
    if not isinstance(raw, list):
        raise ProsimosError(f"{where}: distribution_params must be a list", line)
    values = []
    for item in raw:
        value: Any = item.get("value") if isinstance(item, dict) else item
        try:
            values.append(float(value))
        except (TypeError, ValueError) as err:
            raise ProsimosError(f"{where}: distribution parameter {value!r} is not a number", line) from err
    return values


def _bounds(low: float, high: float, scale: float) -> dict[str, float]:
    """``min``/``max`` in ``scale`` seconds; a max beyond what a scenario may hold (``MAX_WORKING_HOURS``,
    ``MAX_CALENDAR_DAYS`` for days) is none: Simod and Prosimos write 1e9 s (31 years) for "no upper bound"."""
    bounds: dict[str, float] = {}
    if low > 0:
        bounds["min"] = low / scale
    limit = MAX_CALENDAR_DAYS if scale == DAY else MAX_WORKING_HOURS
    if math.isfinite(high) and high / scale <= limit:
        bounds["max"] = high / scale
    return bounds


def convert_distribution(spec: dict[str, Any], where: str, scale: float = HOUR,
                         gaps: list[str] | None = None, line: int | None = None) -> float | dict[str, Any]:
    """A Prosimos 2.x distribution (seconds) as a scenario distribution in ``scale`` seconds (hours by default).

    Prosimos 2.x parameters: ``fix`` (value), ``expon`` (mean, min, max), ``norm`` (mean, sd, min, max),
    ``lognorm`` / ``gamma`` (mean, variance, min, max), ``uniform`` (min, max), ``triang`` (scipy's c, loc, scale),
    ``histogram_sampling`` (arrivals: ``histogram_data`` cdf + bin midpoints, turned into empirical quantiles).
    Prosimos re-draws values outside [min, max]; our bounds clip them (noted in ``gaps`` when a bound is set).
    Parameters Prosimos cannot sample are refused (``check_parameters``), named by ``where`` (the user's JSON key
    path or QBP element; ``line`` its line) and in seconds, as the file gives them.
    """
    name = str(spec.get("distribution_name", ""))
    if name == "histogram_sampling":
        return _histogram(spec, where, scale, line)
    v = _values(spec, where, line)
    needed = {"fix": 1, "expon": 1, "norm": 2, "lognorm": 2, "gamma": 2, "uniform": 2, "triang": 3}
    if name not in needed:
        known = ", ".join([*needed, "histogram_sampling"])
        raise ProsimosError(f"{where}: unknown distribution {name!r}; known: {known}", line)
    if len(v) < needed[name]:
        raise ProsimosError(f"{where}: {name} needs {needed[name]} parameters, got {len(v)}", line)
    low = v[-2] if name in ("expon", "norm", "lognorm", "gamma") and len(v) >= needed[name] + 2 else 0.0
    high = v[-1] if name in ("expon", "norm", "lognorm", "gamma") and len(v) >= needed[name] + 2 else math.inf
    if name == "expon" and len(v) == 3:
        low, high = v[1], v[2]
    problem = check_parameters(name, v, low, high)
    if problem:
        raise ProsimosError(f"{where}: {problem}", line)
    bounds = _bounds(low, high, scale)
    if gaps is not None and name != "fix" and bounds:
        gaps.append(f"{where}: {name} bounds [{low:g}, {high:g}] s: {CLIP_NOTE}")
    if name == "fix":
        return v[0] / scale
    if name == "expon":
        mean = v[0]
        if low > 0 and gaps is not None:
            gaps.append(f"{where}: expon with min {low:g} s is shifted in Prosimos; here its mean is kept and "
                        "values below min are clipped")
        return {"distribution": "exponential", "mean": mean / scale, **bounds}
    if name == "norm":
        return {"distribution": "normal", "mean": v[0] / scale, "sd": v[1] / scale, **bounds}
    if name in ("lognorm", "gamma"):
        kind = "lognormal" if name == "lognorm" else "gamma"
        return {"distribution": kind, "mean": v[0] / scale, "sd": math.sqrt(v[1]) / scale, **bounds}
    if name == "uniform":
        return {"distribution": "uniform", "low": v[0] / scale, "high": v[1] / scale}
    c, loc, span = v[0], v[1], v[2]
    return {"distribution": "triangular", "low": loc / scale, "mode": (loc + c * span) / scale,
            "high": (loc + span) / scale}


def check_parameters(name: str, v: list[float], low: float, high: float) -> str | None:
    """Why Prosimos could not sample distribution ``name`` with parameters ``v`` (seconds), if it could not.

    Prosimos 2.1.0 (pix-framework 0.15's ``DurationDistribution``) fails on a ``gamma`` or ``lognorm`` with a
    variance of 0 or less or a mean of 0 or less (division by zero, or scipy's domain error), on an ``expon``
    whose mean is not above 0, on a negative ``norm`` sd and on a ``uniform`` whose max is below its min: such
    parameters are refused here too (before, a variance of 0 or less became a fixed value at the mean). A variance
    of 0 is refused as well, since Prosimos refuses it: a constant duration is ``fix``."""
    if not all(math.isfinite(x) for x in v[:{"fix": 1, "triang": 3}.get(name, 2)]):
        return f"{name} parameters must be finite numbers, got {', '.join(f'{x:g}' for x in v)}"
    if name == "fix" and v[0] < 0:
        return f"fix needs a value of 0 or more, got {v[0]:g}"
    if name == "expon" and v[0] <= 0:
        return f"expon needs a mean above 0, got {v[0]:g}"
    if name == "norm" and v[1] < 0:
        return f"norm needs a standard deviation of 0 or more, got {v[1]:g}"
    if name in ("lognorm", "gamma"):
        if v[0] <= 0:
            return f"{name} needs a mean above 0, got {v[0]:g}"
        if v[1] <= 0:
            return f"{name} needs a variance above 0, got {v[1]:g} (a constant duration is fix)"
    if name == "uniform" and v[1] < v[0]:
        return f"uniform needs min <= max, got min {v[0]:g} and max {v[1]:g} (seconds)"
    if name == "triang" and not (0 <= v[0] <= 1 and v[2] >= 0):
        return f"triang needs c between 0 and 1 and a scale of 0 or more, got c {v[0]:g} and scale {v[2]:g}"
    if high < low:
        return f"{name} needs min <= max, got min {low:g} and max {high:g} (seconds)"
    return None


def _histogram(spec: dict[str, Any], where: str, scale: float, line: int | None = None) -> dict[str, Any]:
    data = spec.get("histogram_data")
    if not isinstance(data, dict) or not data.get("cdf") or not data.get("bin_midpoints"):
        raise ProsimosError(f"{where}: histogram_sampling needs histogram_data with cdf and bin_midpoints", line)
    cdf = [float(x) for x in data["cdf"]]
    mids = [float(x) for x in data["bin_midpoints"]]
    samples = []
    for i in range(HISTOGRAM_SAMPLES):
        q = (i + 0.5) / HISTOGRAM_SAMPLES
        index = min(next((k for k, p in enumerate(cdf) if p >= q), len(mids) - 1), len(mids) - 1)
        samples.append(mids[index] / scale)
    return {"distribution": "empirical", "samples": samples}


def _clock(text: str) -> int:
    """``"09:00:00"`` (or with a date / offset) → minutes after midnight, 23:59:59 counting as 24:00."""
    match = re.search(r"(\d{1,2}):(\d{2})(?::(\d{2}))?", text)
    if not match:
        raise ProsimosError(f"time {text!r} is not HH:MM[:SS]")
    hours, minutes, seconds = int(match[1]), int(match[2]), int(match[3] or 0)
    total = hours * 60 + minutes + (1 if seconds >= 59 and minutes == 59 else 0)
    return min(total, 24 * 60)


def _weekly(periods: list[dict[str, str]], where: str) -> dict[int, tuple[tuple[int, int], ...]]:
    """Weekday → sorted, merged (start, end) minute intervals of a Prosimos calendar."""
    days: dict[int, list[tuple[int, int]]] = {}
    for period in periods:
        try:
            first, last = WEEKDAYS.index(period["from"].upper()), WEEKDAYS.index(period["to"].upper())
        except (KeyError, ValueError) as err:
            raise ProsimosError(f"{where}: bad weekday range in {period}") from err
        try:
            begin, end = _clock(str(period.get("beginTime", ""))), _clock(str(period.get("endTime", "")))
        except ProsimosError as err:
            raise ProsimosError(f"{where}: {err}") from None
        if end <= begin:
            continue
        day = first
        while True:
            days.setdefault(day, []).append((begin, end))
            if day == last:
                break
            day = (day + 1) % 7
    merged: dict[int, tuple[tuple[int, int], ...]] = {}
    for day, intervals in days.items():
        out: list[tuple[int, int]] = []
        for begin, end in sorted(intervals):
            if out and begin <= out[-1][1]:
                out[-1] = (out[-1][0], max(out[-1][1], end))
            else:
                out.append((begin, end))
        merged[day] = tuple(out)
    return merged


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def convert_calendar(periods: list[dict[str, str]], where: str) -> dict[str, Any]:
    """A Prosimos weekly calendar as a scenario shift calendar: ``working_days`` (the weekdays with work),
    ``shifts`` (the most common day's intervals) and, for weekdays whose intervals differ, ``weekday_shifts``."""
    weekly = _weekly(periods, where)
    if not weekly:
        raise ProsimosError(f"{where}: the calendar has no working time")
    shifts, _count = Counter(weekly.values()).most_common(1)[0]

    def texts(intervals: tuple[tuple[int, int], ...]) -> list[str]:
        return [f"{_hhmm(b)}-{_hhmm(e)}" for b, e in intervals]

    days = sorted(weekly)
    result: dict[str, Any] = {"working_days": "all" if len(days) == 7 else [SCENARIO_WEEKDAYS[d] for d in days],
                              "shifts": texts(shifts)}
    other = {SCENARIO_WEEKDAYS[day]: texts(weekly[day]) for day in days if weekly[day] != shifts}
    if other:
        result["weekday_shifts"] = other
    return result


def pool_key(pool_id: str) -> str:
    """A Prosimos pool id as a scenario pool name (letters, digits, ``_``; starting with a letter)."""
    key = POOL_NAME.sub("_", pool_id)
    return key if key[:1].isalpha() else f"pool_{key}"


def convert(model: ProsimosModel, *, name: str, start: datetime, cases: int,
            tasks: dict[str, str] | None = None, seed: int = 1,
            shape: BpmnShape | None = None) -> ProsimosConversion:
    """The scenario dict of a Prosimos model, the pool of each task, and the list of approximations made.

    ``tasks`` (task id → name, from the BPMN) lets tasks without a duration entry be noticed; ``shape`` (the BPMN's
    gateways and intermediate events, ``inspect_bpmn``) lets the JSON's gateways and events be checked against the
    BPMN and gives the events their delays. Errors name the user's key path (``task_resource_distribution[3]``,
    ``gateway_branching_probabilities[0].probabilities[1]`` …) or QBP element and line, without the file (the
    caller adds it, ``ProsimosError.in_file``)."""
    gaps: list[str] = list(model.notes)
    tasks = shape.tasks if shape is not None and tasks is None else tasks
    calendar_ids = {calendar_id: f"cal_{pool_key(calendar_id)}" for calendar_id in model.calendars}
    calendars = {}
    for cid, periods in model.calendars.items():
        where, line = model.at(f"calendar:{cid}", f"resource_calendars[{cid}]")
        try:
            calendars[calendar_ids[cid]] = convert_calendar(periods, where)
        except ProsimosError as err:
            raise ProsimosError(str(err), line) from None
    resource_pool = {r.id: pool for pool, resources in model.pools.items() for r in resources}
    resource_names: dict[str, list[str]] = {}
    pools: dict[str, Any] = {}
    for pool_id, resources in model.pools.items():
        key = pool_key(pool_id)
        count = sum(r.amount for r in resources)
        number = 1
        for resource in resources:
            resource_names[resource.id] = [f"{key}#{n}" for n in range(number, number + resource.amount)]
            number += resource.amount
        entry: dict[str, Any] = {"count": count,
                                 "hourly_cost": sum(r.cost_per_hour * r.amount for r in resources) / count}
        if len({r.cost_per_hour for r in resources}) > 1:
            gaps.append(f"pool {pool_id}: resources cost differently; the pool's hourly cost is their mean")
        used = Counter(r.calendar for r in resources for _ in range(r.amount) if r.calendar)
        if used:
            calendar = used.most_common(1)[0][0]
            if calendar not in calendar_ids:
                where, line = model.at(f"pool:{pool_id}", f"resource_profiles[{pool_id}]")
                raise ProsimosError(f"{where}: unknown calendar {calendar!r}", line)
            entry["calendar"] = calendar_ids[calendar]
            if len(used) > 1:
                gaps.append(f"pool {pool_id}: resources have different calendars ({', '.join(sorted(used))}); the "
                            f"pool works to {calendar}")
        pools[key] = entry
    durations: dict[str, Any] = {}
    task_pools: dict[str, str] = {}
    for task_id, per_resource in model.durations.items():
        task_where, task_line = model.at(f"task:{task_id}", f"task_resource_distribution[{task_id}]")
        if tasks is not None and task_id not in tasks:
            raise ProsimosError(f"{task_where}: task_id {task_id!r} is not a task of the BPMN (its tasks: "
                                f"{', '.join(sorted(tasks)) or 'none'})", task_line)
        known = {r: spec for r, spec in per_resource.items() if r in resource_pool}
        for unknown in sorted(set(per_resource) - set(known)):
            where, line = model.at(f"resource:{task_id}:{unknown}", task_where)
            raise ProsimosError(f"{where}: unknown resource {unknown!r} (task {task_id})", line)
        by_pool = Counter({pool: sum(r.amount for r in model.pools[pool] if r.id in known)
                           for pool in {resource_pool[r] for r in known}})
        if not by_pool:
            raise ProsimosError(f"{task_where}: task {task_id!r} has no resources: nobody could do it", task_line)
        pool = by_pool.most_common(1)[0][0]
        if len(by_pool) > 1:
            gaps.append(f"task {task_id}: Prosimos lets pools {', '.join(sorted(by_pool))} do it; here only "
                        f"{pool} (the one with most resources)")
        task_pools[task_id] = pool_key(pool)
        converted = {}
        for r, spec in known.items():
            if resource_pool[r] == pool:
                where, line = model.at(f"resource:{task_id}:{r}", f"task_resource_distribution[{task_id}][{r}]")
                converted[r] = convert_distribution(spec, where, gaps=gaps, line=line)
        distinct = {json.dumps(c, sort_keys=True) for c in converted.values()}
        first = next(iter(converted.values()))
        if len(distinct) == 1 and len(converted) == len(model.pools[pool]):
            durations[task_id] = first
        else:
            base = first if isinstance(first, dict) else {"distribution": "fixed", "value": first}
            per_name = {name: (c if isinstance(c, dict) else {"distribution": "fixed", "value": c})
                        for r, c in converted.items() for name in resource_names[r]}
            missing = [r.id for r in model.pools[pool] if r.id not in converted]
            if missing:
                gaps.append(f"task {task_id}: resources {', '.join(missing)} of pool {pool} may not do it in "
                            "Prosimos; here they take the task's first duration")
            durations[task_id] = {**base, "per_resource": per_name}
    for task_id in sorted(set(tasks or {}) - set(durations)):
        line = shape.lines.get(task_id) if shape is not None else None
        raise ProsimosError(f"task_resource_distribution: task {task_id!r} has no task_resource_distribution "
                            f"entry (the task is at line {line} of the BPMN): nobody could do it")
    where, line = model.at("arrival", "arrival_time_distribution")
    arrival = convert_distribution(model.arrival, where, gaps=gaps, line=line)
    arrivals: dict[str, Any] = {"interarrival_hours": arrival, "interarrival_mode": PROSIMOS_ARRIVALS}
    arrival_calendar, calendar_where = model.arrival_calendar, "arrival_time_calendar"
    if not model.arrival_calendar_given and shape is not None:
        arrival_calendar = _first_tasks_calendar(model, shape, gaps)
        calendar_where = "arrival_time_calendar (none given: the calendars of the first tasks' resources)"
    if arrival_calendar:
        shift = convert_calendar(arrival_calendar, calendar_where)
        arrivals["calendar"] = {"working_days": shift["working_days"],
                                "windows": [{"hours": hours} for hours in shift["shifts"]]}
        if "weekday_shifts" in shift:
            arrivals["calendar"]["weekday_windows"] = {day: [{"hours": hours} for hours in shifts]
                                                       for day, shifts in shift["weekday_shifts"].items()}
    branches = _branches(model, shape, gaps)
    delays = _event_delays(model, shape, gaps)
    clipped = [gap for gap in gaps if gap.endswith(CLIP_NOTE)]
    if clipped:
        gaps = [gap for gap in gaps if not gap.endswith(CLIP_NOTE)]
        gaps.append(f"{len(clipped)} distribution(s) have min/max bounds: {CLIP_NOTE}")
    scenario = {
        "name": name, "seed": seed, "start": start.isoformat(), "cases": cases, "max_days": CONVERTED_MAX_DAYS,
        "arrivals": {CATEGORY: arrivals}, "calendars": calendars, "pools": pools, "durations": durations,
        "branch_probabilities": branches,
    }
    if delays:
        scenario["customer_delays"] = delays
    return ProsimosConversion(scenario, task_pools, gaps)


def _first_tasks_calendar(model: ProsimosModel, shape: BpmnShape, gaps: list[str]) -> list[dict[str, str]]:
    """The arrival calendar Prosimos 2.1.0 uses when the JSON gives none (``find_arrival_calendar``): the union of
    the calendars of every resource that may do a task the start event enables (through gateways), as weekly
    periods. Prosimos walks one drawn branch of an exclusive split on the way; here every branch counts (noted)."""
    targets: dict[str, list[str]] = {}
    for flow in shape.process.iterfind("bpmn:sequenceFlow", NS):
        targets.setdefault(flow.get("sourceRef", ""), []).append(flow.get("targetRef", ""))
    starts = [e.get("id", "") for e in shape.process.iterfind("bpmn:startEvent", NS)]
    seen, todo, first = set(starts), list(starts), set()
    split = False
    while todo:
        element = todo.pop()
        for target in targets.get(element, []):
            if target in shape.tasks:
                first.add(target)
            elif target in shape.gateways and target not in seen:
                kind, outgoing = shape.gateways[target]
                split = split or (kind != "parallelGateway" and len(outgoing) > 1)
                seen.add(target)
                todo.append(target)
            elif target in shape.events and target not in seen:  # Prosimos fails there; look past the event
                seen.add(target)
                todo.append(target)
    resource_calendar = {r.id: r.calendar for resources in model.pools.values() for r in resources}
    used = sorted({calendar for task in first for r in model.durations.get(task, {})
                   if (calendar := resource_calendar.get(r)) is not None and calendar in model.calendars})
    if split:
        gaps.append("arrival_time_calendar: none given; Prosimos uses the calendars of the resources of the first "
                    "tasks on one randomly drawn branch of the split after the start; here of every branch's")
    weekly: dict[int, list[tuple[int, int]]] = {}
    for calendar in used:
        where, _line = model.at(f"calendar:{calendar}", f"resource_calendars[{calendar}]")
        for day, intervals in _weekly(model.calendars[calendar], where).items():
            weekly.setdefault(day, []).extend(intervals)
    return [{"from": WEEKDAYS[day], "to": WEEKDAYS[day], "beginTime": f"{_hhmm(begin)}:00",
             "endTime": f"{_hhmm(end)}:00"} for day in sorted(weekly) for begin, end in weekly[day]]


CONVERTED_MAX_DAYS = 3650
"""A converted model's clock stops this many days after the start (Prosimos runs every case to its end; the
scenario default, the arrival window plus 365 days, left a busy model's last cases open)."""


def _branches(model: ProsimosModel, shape: BpmnShape | None, gaps: list[str]) -> dict[str, float]:
    """The branching probabilities per sequence flow, each gateway and flow checked against the BPMN: a gateway
    that is not in the BPMN or a flow that does not leave it is refused; a parallel gateway's are left out (every
    flow is taken)."""
    branches: dict[str, float] = {}
    for gateway_id, flows in model.branching.items():
        where, line = model.at(f"gateway:{gateway_id}", f"gateway_branching_probabilities[{gateway_id}]")
        if shape is not None:
            if gateway_id not in shape.gateways:
                splits = sorted(g for g, (_kind, outgoing) in shape.gateways.items() if len(outgoing) > 1)
                raise ProsimosError(f"{where}: gateway_id {gateway_id!r} is not a gateway of the BPMN (its splitting "
                                    f"gateways: {', '.join(splits) or 'none'})", line)
            kind, outgoing = shape.gateways[gateway_id]
            for flow_id in flows:
                if flow_id not in outgoing:
                    f_where, f_line = model.at(f"flow:{flow_id}", where)
                    raise ProsimosError(f"{f_where}: path_id {flow_id!r} is not a sequence flow leaving gateway "
                                        f"{gateway_id!r} (its flows: {', '.join(outgoing) or 'none'})", f_line)
            if kind == "parallelGateway":
                gaps.append(f"{where}: gateway {gateway_id} is parallel: every flow is taken; its probabilities are "
                            "not used")
                continue
            if kind == "eventBasedGateway":
                gaps.append(f"{where}: gateway {gateway_id} is event-based: the event that happens first decides "
                            "(event_distribution); its probabilities are not used")
                continue
            total = sum(flows.values())
            if kind == "inclusiveGateway" and abs(total - 1.0) > 1e-6:
                gaps.append(f"{where}: inclusive gateway {gateway_id}: its probabilities add up to {total:g}, not 1: "
                            "Prosimos 2.1.0 fails on it ('probabilities do not sum to 1') whenever none of its flows "
                            "comes up; here one of them is then drawn with the probabilities as weights")
        branches.update(flows)
    return branches


def _event_delays(model: ProsimosModel, shape: BpmnShape | None, gaps: list[str]) -> dict[str, Any]:
    """Each intermediate catch event's delay in days (``customer_delays``), from ``event_distribution`` as in
    Prosimos (whatever the event's type: message, timer, signal …). An event without an entry — Prosimos stops
    with an error there — waits its timer's literal ISO 8601 duration if it has one, else completes at once; both
    are noted in ``gaps``."""
    delays: dict[str, Any] = {}
    events = shape.events if shape is not None else {}
    for event_id, (kind, duration) in events.items():
        spec = model.events.get(event_id)
        if spec is not None:
            where, line = model.at(f"event:{event_id}", f"event_distribution[{event_id}]")
            delays[event_id] = convert_distribution(spec, where, scale=DAY, gaps=gaps, line=line)
            continue
        line = shape.lines.get(event_id) if shape is not None else None
        at = f"intermediateCatchEvent {event_id} (line {line} of the BPMN)"
        if duration is not None:
            delays[event_id] = duration.total_seconds() / DAY
            gaps.append(f"event_distribution: no entry for {at}; it waits its timeDuration "
                        f"({duration.total_seconds():g} s)")
        else:
            delays[event_id] = 0.0
            gaps.append(f"event_distribution: no entry for {at} ({kind}); it completes at once (Prosimos needs an "
                        "entry for every intermediate event)")
    for event_id in sorted(set(model.events) - set(events)):
        where, _line = model.at(f"event:{event_id}", "event_distribution")
        gaps.append(f"{where}: event_id {event_id!r} is not an intermediate catch event of the BPMN; not used")
    return delays


# -- the BPMN ------------------------------------------------------------------------------------------------------

UNSUPPORTED = {
    "userTask": "user tasks", "manualTask": "manual tasks", "serviceTask": "service tasks",
    "scriptTask": "script tasks", "businessRuleTask": "business rule tasks", "sendTask": "send tasks",
    "receiveTask": "receive tasks", "subProcess": "sub-processes", "adHocSubProcess": "ad-hoc sub-processes",
    "transaction": "transactions", "callActivity": "call activities", "boundaryEvent": "boundary events",
    "intermediateThrowEvent": "intermediate throw events", "complexGateway": "complex gateways",
}
"""Flow elements of standard BPMN that Prosimos 2.1.0 does not simulate (its ``parse_simulation_model`` reads
plain tasks, start and end events, gateways and intermediate catch events only), with their name in an error
message."""
IMPLICIT_AND_SPLITS = frozenset({"task", "startEvent", "intermediateCatchEvent"})
"""Elements whose several outgoing flows Prosimos 2.1.0 all takes (``OutgoingFlowSelector``): an implicit
parallel split, which SpiffWorkflow refuses on a task or a catch event (``materialize`` inserts a gateway)."""
SUPPORTED_TEXT = ("Prosimos simulates plain tasks (bpmn:task), start and end events, exclusive, parallel, "
                  "inclusive and event-based gateways and intermediate catch events")
EVENT_MESSAGE_PREFIX = "prosimos_event_"


@dataclass
class BpmnShape:
    """What the conversion needs of a Prosimos BPMN's process."""

    process: Any
    tasks: dict[str, str]  # task id -> name
    gateways: dict[str, tuple[str, list[str]]]  # gateway id -> (element type, outgoing flow ids)
    events: dict[str, tuple[str, timedelta | None]]  # intermediate catch event id -> (its kind, literal duration)
    lines: dict[str, int]  # element id -> line
    and_splits: dict[str, list[str]] = field(default_factory=dict)
    """Task / event id -> its outgoing flow ids, for a task or event with several (Prosimos takes them all, an
    implicit parallel split; ``materialize`` puts a parallel gateway after it)."""


def _event_kind(event: Any) -> tuple[str, timedelta | None]:
    """The kind of an intermediate catch event (``timer``, ``message`` …) and a timer's literal ISO 8601
    ``timeDuration`` (``PT1H`` or ``"PT1H"``), if it has one."""
    for child in event:
        if isinstance(child.tag, str) and etree.QName(child).localname.endswith("EventDefinition"):
            kind = etree.QName(child).localname[:-len("EventDefinition")]
            text = (child.findtext("bpmn:timeDuration", "", NS) or "").strip().strip("\"'")
            if kind == "timer" and text:
                try:
                    return kind, TimerEventDefinition.get_timedelta_from_start(
                        TimerEventDefinition.parse_iso_duration(text))
                except Exception:  # noqa: BLE001 - an expression or a bad duration: no literal duration
                    return kind, None
            return kind, None
    return "none", None


def inspect_bpmn(tree: Any) -> BpmnShape:
    """The executable process of a Prosimos BPMN: its plain tasks, gateways and intermediate catch events; refuse
    what Prosimos does not simulate (``ProsimosError`` with the element's line)."""
    process = next((p for p in tree.iterfind("bpmn:process", NS) if p.get("isExecutable", "true") != "false"),
                   tree.find("bpmn:process", NS))
    if process is None:
        raise ProsimosError("the BPMN has no process")
    outgoing: dict[str, list[str]] = {}
    conditioned: dict[str, list[str]] = {}
    for flow in process.iterfind("bpmn:sequenceFlow", NS):
        outgoing.setdefault(flow.get("sourceRef", ""), []).append(flow.get("id", ""))
        if flow.find("bpmn:conditionExpression", NS) is not None:
            conditioned.setdefault(flow.get("sourceRef", ""), []).append(flow.get("id", ""))
    tasks: dict[str, str] = {}
    gateways: dict[str, tuple[str, list[str]]] = {}
    events: dict[str, tuple[str, timedelta | None]] = {}
    lines: dict[str, int] = {process.get("id", ""): process.sourceline}
    and_splits: dict[str, list[str]] = {}
    kinds = {element.get("id", ""): etree.QName(element).localname for element in process
             if isinstance(element.tag, str) and etree.QName(element).namespace == BPMN_NS}
    targets = {flow.get("id", ""): flow.get("targetRef", "") for flow in process.iterfind("bpmn:sequenceFlow", NS)}
    for element in process:
        if not isinstance(element.tag, str) or etree.QName(element).namespace != BPMN_NS:
            continue
        kind, element_id = etree.QName(element).localname, element.get("id", "")
        lines[element_id] = element.sourceline
        if kind in UNSUPPORTED:
            raise ProsimosError(f"{kind} {element_id}: {UNSUPPORTED[kind]} are not supported in a Prosimos model: "
                                f"{SUPPORTED_TEXT}", element.sourceline)
        if kind == "eventBasedGateway":
            for flow in outgoing.get(element_id, []):
                if kinds.get(targets[flow]) != "intermediateCatchEvent":
                    raise ProsimosError(f"{kind} {element_id}: its outgoing sequence flow {flow!r} leads to "
                                        f"{kinds.get(targets[flow], 'nothing')} {targets[flow]!r}: an event-based "
                                        "gateway's flows lead to intermediate catch events (the first to happen "
                                        "decides)", element.sourceline)
        if kind == "task":
            tasks[element_id] = element.get("name") or element_id
        elif kind.endswith("Gateway"):
            gateways[element_id] = (kind, outgoing.get(element_id, []))
        elif kind == "intermediateCatchEvent":
            events[element_id] = _event_kind(element)
        if kind in IMPLICIT_AND_SPLITS and len(outgoing.get(element_id, [])) > 1:
            if conditioned.get(element_id):
                raise ProsimosError(
                    f"{kind} {element_id}: its outgoing sequence flow {conditioned[element_id][0]!r} has a "
                    f"condition: a {kind} with several outgoing flows is a parallel split (Prosimos takes every "
                    "flow), which a condition cannot narrow down; remove the condition, or split at an exclusive "
                    "or inclusive gateway with gateway_branching_probabilities",
                    element.sourceline)
            and_splits[element_id] = outgoing[element_id]
    return BpmnShape(process, tasks, gateways, events, lines, and_splits)


def add_pool_lanes(process: Any, task_pools: dict[str, str]) -> None:
    """Replace the process's lanes by one lane ``lane_<pool>`` per pool holding its tasks (``bundle.roles``)."""
    for lane_set in process.findall("bpmn:laneSet", NS):
        process.remove(lane_set)
    lane_set = etree.Element(f"{{{BPMN_NS}}}laneSet", id=f"{process.get('id')}_pools")
    for pool in sorted(set(task_pools.values())):
        lane = etree.SubElement(lane_set, f"{{{BPMN_NS}}}lane", id=f"{LANE_PREFIX}{pool}", name=pool)
        for task_id in sorted(t for t, p in task_pools.items() if p == pool):
            etree.SubElement(lane, f"{{{BPMN_NS}}}flowNodeRef").text = task_id
    before = {"documentation", "extensionElements", "auditing", "monitoring", "categoryValueRef",
              "supportedInterfaceRef", "ioSpecification", "ioBinding"}
    index = sum(1 for child in process if isinstance(child.tag, str) and etree.QName(child).localname in before)
    process.insert(index, lane_set)


def _as_message_events(tree: Any, shape: BpmnShape) -> None:
    """Give every intermediate catch event a message definition of its own (message name = the event's id), in
    place of whatever it had (timer, message without a message, signal …): Prosimos delays every intermediate event
    by its ``event_distribution`` entry, and the simulator delays a message wait by the scenario's
    ``customer_delays`` entry of that name. Start events lose their definitions (arrivals come from the parameters)
    and end events all but ``terminate``."""
    root = tree.getroot()
    for element in shape.process:
        if not isinstance(element.tag, str):
            continue
        kind = etree.QName(element).localname
        if kind not in ("startEvent", "endEvent", "intermediateCatchEvent"):
            continue
        for child in list(element):
            name = etree.QName(child).localname if isinstance(child.tag, str) else ""
            if name.endswith("EventDefinition") and not (kind == "endEvent" and name == "terminateEventDefinition"):
                element.remove(child)
        if kind == "intermediateCatchEvent":
            event_id = element.get("id", "")
            message_id = f"{EVENT_MESSAGE_PREFIX}{event_id}"
            etree.SubElement(element, f"{{{BPMN_NS}}}messageEventDefinition", id=f"{message_id}_definition",
                             messageRef=message_id)
            root.insert(0, etree.Element(f"{{{BPMN_NS}}}message", id=message_id, name=event_id))


BPMNDI_NS = "http://www.omg.org/spec/BPMN/20100524/DI"
DC_NS = "http://www.omg.org/spec/DD/20100524/DC"
DI_NS = "http://www.omg.org/spec/DD/20100524/DI"
AND_SPLIT_SIZE = 30.0
"""Width and height of an inserted parallel gateway's shape on the converted copy's diagram."""


def _unique_id(taken: set[str], wanted: str) -> str:
    candidate, number = wanted, 1
    while candidate in taken:
        number += 1
        candidate = f"{wanted}_{number}"
    taken.add(candidate)
    return candidate


def _explicit_and_splits(tree: Any, shape: BpmnShape) -> None:
    """Put a parallel gateway after every task or event with several outgoing flows (``BpmnShape.and_splits``):
    the element gets one flow to the gateway and its flows leave the gateway, so that SpiffWorkflow runs it as
    Prosimos does (every flow taken). Where the element is drawn, the gateway and its new flow are drawn too (the
    gateway just right of the element, the element's old edges starting from it), so the copy's diagram stays
    complete."""
    if not shape.and_splits:
        return
    root = tree.getroot()
    taken = {element.get("id") for element in root.iter() if isinstance(element.tag, str) and element.get("id")}
    elements = {element.get("id"): element for element in shape.process if isinstance(element.tag, str)}
    flows = {flow.get("id"): flow for flow in shape.process.iterfind("bpmn:sequenceFlow", NS)}
    di = {"bpmndi": BPMNDI_NS, "dc": DC_NS, "di": DI_NS}
    for element_id, outgoing in shape.and_splits.items():
        element = elements[element_id]
        gateway_id = _unique_id(taken, f"{element_id}_and_split")
        link_id = _unique_id(taken, f"{element_id}_to_and_split")
        for ref in element.findall("bpmn:outgoing", NS):
            if (ref.text or "").strip() in outgoing:
                element.remove(ref)
        etree.SubElement(element, f"{{{BPMN_NS}}}outgoing").text = link_id
        gateway = etree.Element(f"{{{BPMN_NS}}}parallelGateway", id=gateway_id, gatewayDirection="Diverging")
        etree.SubElement(gateway, f"{{{BPMN_NS}}}incoming").text = link_id
        for flow_id in outgoing:
            etree.SubElement(gateway, f"{{{BPMN_NS}}}outgoing").text = flow_id
            flows[flow_id].set("sourceRef", gateway_id)
        element.addnext(gateway)
        shape.process.append(etree.Element(f"{{{BPMN_NS}}}sequenceFlow", id=link_id, sourceRef=element_id,
                                           targetRef=gateway_id))
        drawn = root.find(f".//bpmndi:BPMNShape[@bpmnElement='{element_id}']", di)
        bounds = drawn.find("dc:Bounds", di) if drawn is not None else None
        if bounds is None:
            continue
        x, y, width, height = (float(bounds.get(key, "0")) for key in ("x", "y", "width", "height"))
        middle, left = y + height / 2, x + width + AND_SPLIT_SIZE / 2
        plane = drawn.getparent()
        gateway_shape = etree.SubElement(plane, f"{{{BPMNDI_NS}}}BPMNShape", id=f"{gateway_id}_di",
                                         bpmnElement=gateway_id)
        etree.SubElement(gateway_shape, f"{{{DC_NS}}}Bounds", x=f"{left:g}", y=f"{middle - AND_SPLIT_SIZE / 2:g}",
                         width=f"{AND_SPLIT_SIZE:g}", height=f"{AND_SPLIT_SIZE:g}")
        edge = etree.SubElement(plane, f"{{{BPMNDI_NS}}}BPMNEdge", id=f"{link_id}_di", bpmnElement=link_id)
        for point_x in (x + width, left):
            etree.SubElement(edge, f"{{{DI_NS}}}waypoint", x=f"{point_x:g}", y=f"{middle:g}")
        for flow_id in outgoing:
            waypoint = root.find(f".//bpmndi:BPMNEdge[@bpmnElement='{flow_id}']/di:waypoint", di)
            if waypoint is not None:
                waypoint.set("x", f"{left + AND_SPLIT_SIZE:g}")
                waypoint.set("y", f"{middle:g}")


def materialize(tree: Any, process: Any, task_pools: dict[str, str], folder: Path, name: str,
                shape: BpmnShape | None = None) -> None:
    """Write the model as a process folder the simulator loads: the BPMN with pool lanes and its process renamed
    to ``MAIN_PROCESS_ID`` (the simulator's main process) and made executable (bpmn.io writes
    ``isExecutable="false"`` by default; Prosimos ignores it), without QBP annotations, its intermediate events as
    message waits (``_as_message_events``), a parallel gateway after each task or event with several outgoing
    flows (``_explicit_and_splits``), and an empty sample application for ``CATEGORY``. The user's file is only
    read."""
    for info in tree.getroot().findall(".//qbp:processSimulationInfo", NS):  # read already; not valid BPMN there
        info.getparent().remove(info)
    if shape is not None:
        _as_message_events(tree, shape)
        _explicit_and_splits(tree, shape)
    old_id = process.get("id", "")
    for element in tree.getroot().iter():
        for attribute in ("processRef", "bpmnElement"):
            if element.get(attribute) == old_id:
                element.set(attribute, MAIN_PROCESS_ID)
    process.set("id", MAIN_PROCESS_ID)
    process.set("isExecutable", "true")
    add_pool_lanes(process, task_pools)
    (folder / "samples").mkdir(parents=True, exist_ok=True)
    tree.write(str(folder / f"{name}.bpmn"), xml_declaration=True, encoding="UTF-8")
    (folder / "samples" / f"{CATEGORY}.json").write_text(json.dumps({"application": {}}), encoding="utf-8")


def _written_folder(workdir: Path, stem: str, write: Callable[[Path], None]) -> Path:
    """The folder ``write`` fills, named by its content (``<stem>-<content hash>``) and never changed once there:
    it is written under a temporary name and renamed into place, so that runs of the same model at once never read
    a half-written file (each rewrote one folder in place: ``XMLSyntaxError: Document is empty``). A run that finds
    the folder there already (the same content) uses it and drops its own."""
    workdir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{stem}-", dir=workdir))
    try:
        write(scratch)
        folder = workdir / f"{stem}-{content_hash(scratch)[:16]}"
        if not folder.exists():
            try:
                scratch.rename(folder)
            except OSError:  # another run put the same folder there meanwhile
                if not folder.exists():
                    raise
        return folder
    finally:
        if scratch.exists():
            shutil.rmtree(scratch, ignore_errors=True)


def default_workdir() -> Path:
    """Where converted models are written (one folder per model content): a folder in the temporary directory."""
    return Path(tempfile.gettempdir()) / "baozhuang-prosimos"


DEFAULT_START = date(2025, 1, 6)
"""A Monday with official holiday data: a fixed default start, so that a seed gives the same files on any day
(Prosimos starts at the moment it is run, which no seed can reproduce)."""


def default_start() -> datetime:
    """``DEFAULT_START`` 00:00 in Asia/Shanghai: never the wall clock, so the same seed gives byte-identical files."""
    return datetime.combine(DEFAULT_START, datetime.min.time(), TZ)


def load_prosimos_model(bpmn_path: str | Path, json_path: str | Path | None = None, *,
                        start: datetime | date | None = None, cases: int | None = None, seed: int = 1,
                        workdir: Path | None = None) -> tuple[ProsimosConversion, ProcessBundle]:
    """Read a Prosimos model (JSON parameters, or QBP annotations when ``json_path`` is None) into a scenario dict
    (with the approximations made) and a bundle. The converted process folder is written under ``workdir``
    (``default_workdir()``), in a folder named by the hash of its content (``_written_folder``), and the
    scenario's ``process`` and ``samples`` point at it, so that the scenario alone can be simulated again.

    ``start`` and ``cases`` win; else a QBP model's ``startDateTime`` (its date) and ``processInstances``; else
    ``default_start()`` and ``DEFAULT_CASES`` (``ProsimosConversion.start_from`` / ``cases_from`` say which).
    Errors name the given file and the JSON key path or the BPMN element and its line, before any case runs."""
    bpmn_path = Path(bpmn_path)
    params = Path(json_path) if json_path is not None else bpmn_path
    model = read_prosimos_json(json_path) if json_path is not None else read_qbp(bpmn_path)
    tree = _parse_xml(bpmn_path)
    try:
        shape = inspect_bpmn(tree)
    except ProsimosError as err:
        raise err.in_file(bpmn_path) from err
    process = shape.process
    user_process = process.get("id") or bpmn_path.stem
    when = start or model.start or default_start()
    moment = when if isinstance(when, datetime) else datetime.combine(when, datetime.min.time(), TZ)
    count = cases or model.cases or DEFAULT_CASES
    try:
        conversion = convert(model, name=process.get("id") or bpmn_path.stem, start=moment, cases=count,
                             seed=seed, shape=shape)
    except ProsimosError as err:
        raise err.in_file(params) from err
    unbranched = _unbranched_gateway(process, model)
    if unbranched:
        raise ProsimosError(f"{params}: gateway_branching_probabilities: {unbranched}")
    conversion.start_from = "argument" if start else "model" if model.start else "default"
    conversion.cases_from = "argument" if cases else "model" if model.cases else "default"
    folder = _written_folder(workdir or default_workdir(), bpmn_path.stem,
                             lambda into: materialize(tree, process, conversion.task_pools, into, bpmn_path.stem,
                                                      shape))
    conversion.scenario["process"] = str(folder)
    conversion.scenario["samples"] = str(folder / "samples")
    try:
        bundle, _table = load_with_overrides(folder, conversion.scenario["branch_probabilities"])
    except BranchError as err:
        where, line = model.at(f"flow:{err.flow}", "gateway_branching_probabilities")
        raise ProsimosError(f"{where}: {err}", line).in_file(params) from err
    except ValidationException as err:  # named after the given BPMN: the converted copy is ours, its lines differ
        raise _validation_error(err, shape, user_process).in_file(bpmn_path) from err
    return conversion, bundle


def _validation_error(err: ValidationException, shape: BpmnShape, user_process: str) -> ProsimosError:
    """SpiffWorkflow's complaint about the converted copy, in the user's terms: the user's process id instead of
    ``MAIN_PROCESS_ID`` (in the element and in the text), the element's line in the user's file, and no doubled
    full stop (SpiffWorkflow's ``str`` appends ``". "`` and its notes)."""
    element_id = user_process if err.id == MAIN_PROCESS_ID else (err.id or "")
    raw = str(err.args[0]) if err.args else type(err).__name__
    message = re.sub(rf"\b{MAIN_PROCESS_ID}\b", lambda _match: user_process,
                     raw.splitlines()[0] if raw else raw).rstrip(". ")
    if message.startswith("Multiple outgoing flows are not supported"):
        message = f"{element_id} has several outgoing sequence flows, which SpiffWorkflow cannot split at a {err.tag}"
    notes = [note.rstrip(". ") for note in getattr(err, "notes", []) if note]
    text = "; ".join([message, *notes])
    return ProsimosError(f"{err.tag or 'element'} {element_id or '-'}: {text}", shape.lines.get(element_id))


def _unbranched_gateway(process: Any, model: ProsimosModel) -> str | None:
    """Why an exclusive or inclusive split with a condition-less flow cannot be decided (no probabilities for it), if
    one can't (SpiffWorkflow would take the flow as a default: an inclusive split every such flow, always)."""
    outgoing: dict[str, list[Any]] = {}
    for flow in process.iterfind(".//bpmn:sequenceFlow", NS):
        outgoing.setdefault(flow.get("sourceRef", ""), []).append(flow)
    for gateway in (element for tag in SPLITTING_GATEWAYS for element in process.iterfind(f".//bpmn:{tag}", NS)):
        gateway_id = gateway.get("id", "")
        flows = outgoing.get(gateway_id, [])
        bare = [flow.get("id") for flow in flows if flow.find("bpmn:conditionExpression", NS) is None
                and flow.get("id") != gateway.get("default")]
        if len(flows) > 1 and bare and gateway_id not in model.branching:
            return (f"no probabilities for gateway {gateway_id!r} (line {gateway.sourceline} of the BPMN): its flow "
                    f"{bare[0]!r} has no condition")
    return None


def load_prosimos(bpmn_path: str | Path, json_path: str | Path | None = None, *,
                  start: datetime | date | None = None, cases: int | None = None, seed: int = 1,
                  workdir: Path | None = None) -> tuple[Scenario, ProcessBundle]:
    """A Prosimos/Simod model as our ``(Scenario, ProcessBundle)``; see the module docstring."""
    conversion, bundle = load_prosimos_model(bpmn_path, json_path, start=start, cases=cases, seed=seed,
                                             workdir=workdir)
    return scenario_from_dict(conversion.scenario, source=str(json_path or bpmn_path)), bundle
