"""A simulated replication as an event log: Prosimos/Simod CSV, or IEEE 1849-2016 XES.

Both use the shapes of the production export (:mod:`runner.export`), so a simulated log and a real one can be
compared with the same tools: CSV columns ``case_id, activity, enable_time, start_time, end_time, resource`` (what
Prosimos writes and Simod reads), then ``role, element_id, kind, category``, ``due_at`` (the step's deadline, empty
without one), ``cancelled`` and ``case_completed`` (``true``/``false``) and one column per case attribute; XES
with the concept, time, lifecycle (``schedule``/``start``/``complete``/``withdraw``/``ate_abort``) and
organizational extensions, one trace per case carrying the case attributes and ``completed``, each event of a step
with a deadline carrying ``due_at``.

As in the production export, the CSV (``write_csv``) holds the steps that completed only: a step that a timer or
another branch ended (``cancelled``) is left out of it, so that tools that know nothing of the ``cancelled``
column (pm4py, Simod) do not count it as done; those steps are in a file of their own with the same columns
(``write_cancelled_csv``, ``cancelled_steps.csv``: ``cancelled`` ``true``) and in the XES. There a cancelled step
ends in ``withdraw`` when it never started and in ``ate_abort`` when it had (the XES standard lifecycle model):
a staff step is logged once someone took it up, so it had started; a customer-side step withdrawn before the
customer finished it had not (the simulator has no moment the customer took it up: it draws only when the
customer finishes, counted from the enabling, and a withdrawn survey is one the customer never answered). No
simulated case is cancelled as a whole, so no step ends in ``pi_abort``.

A step without a start of its own — a message wait (the simulator records it as started at its enabling), a
customer-side step withdrawn before it was done — has no ``start`` event in XES and starts when it ends in the CSV
(``start_time`` = ``end_time``): the wait is waiting time in both, as in the production export. Engine work and
fired timers are instantaneous (``start_time`` = ``end_time``). Only the files change: the ``SimulationLog`` and
the KPIs computed from it keep the simulator's times.

Events at the same moment are in the order the simulator recorded the steps (a step's end before the steps it
enabled then; ``schedule`` → ``start`` → end within a step), not by transition. Each case attribute has one XES
type over the whole log (``float`` when any case has a float, ``int`` when all are integers, ``boolean`` when all
are booleans, else ``string``). Times are ISO 8601 in Asia/Shanghai with their offset; steps without a resource
(engine work, customer-side steps) have an empty resource and no ``org:resource``. The XES log is named after the
simulated scenario and marked as simulated (``log_name``), so a simulated log is not taken for the production
export's ``业扩报装``.

The extra CSV columns stay in event_log.csv (docs/simulation.md, "Event logs"): Prosimos writes its own extra
columns (case attributes, ``batch_id``) after the same six, and the Prosimos/Simod readers (pix-framework's
``read_csv_log``, log-distance-measures) pick their columns by name, so they read the file as it is.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime
from typing import IO, Any

from lxml import etree

from ..export import XES_NS, XES_VERSION, XesWriter
from ..workdays import to_iso
from .model import SimActivity, SimCase, SimulationLog

PROSIMOS_COLUMNS = ("case_id", "activity", "enable_time", "start_time", "end_time", "resource")
"""The columns Prosimos writes and Simod reads, first and unchanged."""
CSV_COLUMNS = (*PROSIMOS_COLUMNS, "role", "element_id", "kind", "category", "due_at", "cancelled", "case_completed")
CANCELLED_FILE = "cancelled_steps.csv"
"""The name of the file next to ``event_log.csv`` with the cancelled steps (``variant_`` prefixed as it is)."""
LOG_NAME = "{scenario} (仿真, simulated)"
"""The XES log's ``concept:name``: the simulated scenario's name, marked as simulated (仿真)."""
NO_START_KINDS = ("message",)
"""Kinds of steps that do not start before they end: waits for a message (the simulator records them as started
at their enabling)."""


def attribute_keys(log: SimulationLog) -> list[str]:
    """The case attribute names of the log, sorted, without those the fixed columns already hold."""
    keys = {key for case in log.cases for key in case.attributes}
    return sorted(keys - set(CSV_COLUMNS))


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float | str):
        return str(value)
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def activities_by_case(log: SimulationLog) -> dict[str, list[SimActivity]]:
    """Each case's activities in the order they ended, those that ended at the same moment in the order the
    simulator recorded them (causal: a step's end is recorded before the steps it enabled end)."""
    grouped: dict[str, list[SimActivity]] = defaultdict(list)
    for act in log.activities:
        grouped[act.case_id].append(act)
    for acts in grouped.values():
        acts.sort(key=lambda a: a.end_time)  # stable: the log's order for equal ends
    return grouped


def started(act: SimActivity) -> datetime | None:
    """When the step started, as the log files show it; None for a step without a start of its own (a message
    wait, a customer-side step withdrawn before it was done)."""
    if act.kind in NO_START_KINDS or (act.cancelled and act.resource is None):
        return None
    return act.start_time


def _steps_in_case_order(log: SimulationLog) -> Iterator[tuple[SimCase, SimActivity]]:
    """Every step with its case, case by case in arrival order, each case's steps in ``activities_by_case``'s."""
    grouped = activities_by_case(log)
    for case in sorted(log.cases, key=lambda c: (c.arrival, c.case_id)):
        for act in grouped.get(case.case_id, []):
            yield case, act


def _prosimos_cells(case: SimCase, act: SimActivity) -> list[str]:
    """A step's ``PROSIMOS_COLUMNS``: a step without a start of its own starts when it ends."""
    return [case.case_id, act.activity, to_iso(act.enable_time), to_iso(started(act) or act.end_time),
            to_iso(act.end_time), act.resource or ""]


def _write_rows(log: SimulationLog, out: IO[str], cancelled: bool) -> int:
    extra = attribute_keys(log)
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*CSV_COLUMNS, *extra])
    rows = 0
    for case, act in _steps_in_case_order(log):
        if act.cancelled != cancelled:
            continue
        writer.writerow([
            *_prosimos_cells(case, act), act.lane or "", act.element_id, act.kind, case.category,
            to_iso(act.due_at) if act.due_at is not None else "", _text(act.cancelled), _text(case.completed),
            *[_text(case.attributes.get(key)) for key in extra],
        ])
        rows += 1
    return rows


def write_csv(log: SimulationLog, out: IO[str]) -> int:
    """Write the header and one row per completed activity instance, case by case in arrival order; the rows
    written. Cancelled steps are left out (``write_cancelled_csv``), as in the production export."""
    return _write_rows(log, out, cancelled=False)


PROSIMOS_FILE = "prosimos_log.csv"
"""The log as Prosimos writes its own (``write_prosimos_csv``), beside ``event_log.csv``."""
EVENT_KINDS = ("message", "timer")
"""Steps that are BPMN events, not tasks: Prosimos's log has no rows for events."""


def write_prosimos_csv(log: SimulationLog, out: IO[str]) -> int:
    """Write the log in exactly the shape of Prosimos's own: the six ``PROSIMOS_COLUMNS`` and one row per completed
    task (no rows for message waits and fired timers, which are events), case by case in arrival order; the rows
    written. For comparing a simulated log with Prosimos's (log-distance-measures counts every row as an activity:
    the event rows of ``event_log.csv`` would count as activities Prosimos's log does not have)."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(PROSIMOS_COLUMNS)
    rows = 0
    for case, act in _steps_in_case_order(log):
        if not act.cancelled and act.kind not in EVENT_KINDS:
            writer.writerow(_prosimos_cells(case, act))
            rows += 1
    return rows


def write_cancelled_csv(log: SimulationLog, out: IO[str]) -> int:
    """Write the cancelled steps (a timer or another branch ended them) with ``write_csv``'s columns, ``cancelled``
    ``true``, case by case in arrival order; the rows written (``CANCELLED_FILE`` beside ``event_log.csv``)."""
    return _write_rows(log, out, cancelled=True)


def _xes_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    return "string"


def attribute_types(log: SimulationLog) -> dict[str, str]:
    """One XES type per case attribute over the whole log: the type of all its values when they agree, ``float``
    when they are ints and floats, else ``string`` (values that are None, lists or dicts are not written)."""
    found: dict[str, set[str]] = defaultdict(set)
    for case in log.cases:
        for key, value in case.attributes.items():
            if value is not None and not isinstance(value, dict | list):
                found[key].add(_xes_type(value))
    types = {}
    for key, kinds in found.items():
        if len(kinds) == 1:
            types[key] = next(iter(kinds))
        else:
            types[key] = "float" if kinds == {"int", "float"} else "string"
    return types


def _xes_text(kind: str, value: Any) -> str:
    """The text of a case attribute value written as ``kind``."""
    if kind == "float":
        return repr(float(value))
    if kind == "boolean":
        return str(value).lower()
    return _text(value)


TRANSITION_RANK = {"schedule": 0, "start": 1, "complete": 2, "withdraw": 2, "ate_abort": 2}
INSTANT_KINDS = ("service", "script", "decision", "timer")
"""Engine work and fired timers: one ``complete`` event each in XES, as the production export writes them (only
their completion, or the timer's firing, is logged there)."""


def _xes_steps(activities: list[SimActivity]) -> list[tuple[Any, str, int, SimActivity]]:
    """(when, lifecycle:transition, instance number, activity) of every lifecycle step, in time order, equal times
    in the order the steps were recorded (``activities``' order: causal) and, within a step, schedule → start →
    end. A cancelled activity (a timer or another branch ended it) ends in ``withdraw`` when it never started (a
    customer-side step), else in ``ate_abort``; a step without a start (``started``) has no ``start`` event; engine
    work and fired timers (``INSTANT_KINDS``) have their ``complete`` only."""
    steps = []
    for number, act in enumerate(activities, start=1):
        if act.kind in INSTANT_KINDS and not act.cancelled:  # as production logs them: one ``complete``
            steps.append((act.end_time, "complete", number, act))
            continue
        start = started(act)
        end = ("ate_abort" if start is not None else "withdraw") if act.cancelled else "complete"
        for at, transition in ((act.enable_time, "schedule"), (start, "start"), (act.end_time, end)):
            if at is not None:
                steps.append((at, transition, number, act))
    return sorted(steps, key=lambda step: (step[0], step[2], TRANSITION_RANK[step[1]]))


def _write_trace(writer: XesWriter, case: SimCase, activities: list[SimActivity], types: dict[str, str]) -> int:
    """One case as a trace with its attributes (typed by ``types``); return how many events it has."""
    steps = _xes_steps(activities)
    with writer.element("trace"):
        writer.attribute("string", "concept:name", case.case_id)
        writer.attribute("string", "category", case.category)
        writer.attribute("boolean", "completed", str(case.completed).lower())
        for key, value in sorted(case.attributes.items()):
            if value is not None and not isinstance(value, dict | list):
                writer.attribute(types[key], key, _xes_text(types[key], value))
        for at, transition, number, act in steps:
            with writer.element("event"):
                writer.attribute("string", "concept:name", act.activity)
                writer.attribute("date", "time:timestamp", to_iso(at))
                writer.attribute("string", "lifecycle:transition", transition)
                writer.attribute("string", "concept:instance", f"{case.case_id}#{number}")
                if act.resource and transition != "schedule":
                    writer.attribute("string", "org:resource", act.resource)
                if act.lane:
                    writer.attribute("string", "org:role", act.lane)
                writer.attribute("string", "element_id", act.element_id)
                if act.due_at is not None:
                    writer.attribute("date", "due_at", to_iso(act.due_at))
    return len(steps)


def log_name(log: SimulationLog) -> str:
    """The XES log's name: ``LOG_NAME`` with the scenario's name (a Prosimos model's process id)."""
    return LOG_NAME.format(scenario=log.scenario_name or "simulation")


class _NamedXesWriter(XesWriter):
    """The production export's writer, with the log's own ``concept:name`` (written by ``XesWriter.header`` at the
    top level, depth 1) replaced by ``name``; traces and events are deeper and keep theirs."""

    def __init__(self, xf: Any, name: str) -> None:
        super().__init__(xf)
        self.name = name

    def attribute(self, kind: str, key: str, value: str) -> None:
        super().attribute(kind, key, self.name if key == "concept:name" and self.depth == 1 else value)


def write_xes(log: SimulationLog, out: IO[bytes]) -> tuple[int, int]:
    """Write the log as XES (UTF-8), one trace per case in arrival order; (traces, events) written.

    The document is ``runner.export.xes_document``'s, with the log named by ``log_name``."""
    grouped = activities_by_case(log)
    types = attribute_types(log)
    traces = events = 0
    with etree.xmlfile(out, encoding="utf-8") as xf:
        xf.write_declaration()
        with xf.element(f"{{{XES_NS}}}log", {"xes.version": XES_VERSION}, nsmap={None: XES_NS}):
            writer = _NamedXesWriter(xf, log_name(log))
            writer.header()
            for case in sorted(log.cases, key=lambda c: (c.arrival, c.case_id)):
                events += _write_trace(writer, case, grouped.get(case.case_id, []), types)
                traces += 1
            xf.write("\n")
    return traces, events
