"""A simulated replication as an event log: Prosimos/Simod CSV, or IEEE 1849-2016 XES.

Both use the shapes of the production export (:mod:`runner.export`), so a simulated log and a real one can be
compared with the same tools: CSV columns ``case_id, activity, enable_time, start_time, end_time, resource`` (what
Prosimos writes and Simod reads), then ``role, element_id, kind, category``, ``due_at`` (the step's deadline, empty
without one), ``cancelled`` and ``case_completed`` (``true``/``false``) and one column per case attribute; XES
with the concept, time, lifecycle (``schedule``/``start``/``complete``/``ate_abort``) and organizational extensions,
one trace per case carrying the case attributes and ``completed``, each event of a step with a deadline carrying
``due_at``. A step that a timer or another branch ended (``cancelled``) is a CSV row with ``cancelled`` ``true``
(filter those out before discovering a model from the file) and ends in ``ate_abort`` in XES: in the XES standard
lifecycle model that aborts a started activity instance, and every cancelled step in the log had started (a
customer-side step runs from its enabling, a staff step is logged once someone took it up); ``pi_abort`` would say
the whole case was aborted, which it was not. Times are ISO 8601 in Asia/Shanghai with their offset; steps without
a resource (engine work, customer-side steps) have an empty resource and no ``org:resource``. The XES log is named
after the simulated scenario and marked as simulated (``log_name``), so a simulated log is not taken for the
production export's ``业扩报装``.

The extra CSV columns stay in event_log.csv (docs/simulation.md, "Event logs"): Prosimos writes its own extra
columns (case attributes, ``batch_id``) after the same six, and the Prosimos/Simod readers (pix-framework's
``read_csv_log``, log-distance-measures) pick their columns by name, so they read the file as it is.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from typing import IO, Any

from lxml import etree

from ..export import XES_NS, XES_VERSION, XesWriter
from ..workdays import to_iso
from .model import SimActivity, SimCase, SimulationLog

PROSIMOS_COLUMNS = ("case_id", "activity", "enable_time", "start_time", "end_time", "resource")
"""The columns Prosimos writes and Simod reads, first and unchanged."""
CSV_COLUMNS = (*PROSIMOS_COLUMNS, "role", "element_id", "kind", "category", "due_at", "cancelled", "case_completed")
LOG_NAME = "{scenario} (仿真, simulated)"
"""The XES log's ``concept:name``: the simulated scenario's name, marked as simulated (仿真)."""


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
    """Each case's activities in the order they ended (then started)."""
    grouped: dict[str, list[SimActivity]] = defaultdict(list)
    for act in log.activities:
        grouped[act.case_id].append(act)
    for acts in grouped.values():
        acts.sort(key=lambda a: (a.end_time, a.start_time, a.enable_time))
    return grouped


def write_csv(log: SimulationLog, out: IO[str]) -> int:
    """Write the header and one row per activity instance (cancelled ones marked), case by case in arrival order;
    the rows written."""
    extra = attribute_keys(log)
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*CSV_COLUMNS, *extra])
    grouped = activities_by_case(log)
    rows = 0
    for case in sorted(log.cases, key=lambda c: (c.arrival, c.case_id)):
        attributes = [_text(case.attributes.get(key)) for key in extra]
        for act in grouped.get(case.case_id, []):
            writer.writerow([
                case.case_id, act.activity, to_iso(act.enable_time), to_iso(act.start_time), to_iso(act.end_time),
                act.resource or "", act.lane or "", act.element_id, act.kind, case.category,
                to_iso(act.due_at) if act.due_at is not None else "", _text(act.cancelled), _text(case.completed),
                *attributes,
            ])
            rows += 1
    return rows


def _xes_attribute(value: Any) -> tuple[str, str]:
    """The XES type and text of a case attribute value."""
    if isinstance(value, bool):
        return "boolean", str(value).lower()
    if isinstance(value, int):
        return "int", str(value)
    if isinstance(value, float):
        return "float", repr(value)
    return "string", _text(value)


TRANSITION_RANK = {"schedule": 0, "start": 1, "complete": 2, "ate_abort": 3}


def _xes_steps(activities: list[SimActivity]) -> list[tuple[Any, str, int, SimActivity]]:
    """(when, lifecycle:transition, instance number, activity) of every lifecycle step, in time order; a cancelled
    activity (a timer or another branch ended it) ends in ``ate_abort`` instead of ``complete``."""
    steps = []
    for number, act in enumerate(activities, start=1):
        end = "ate_abort" if act.cancelled else "complete"
        for at, transition in ((act.enable_time, "schedule"), (act.start_time, "start"), (act.end_time, end)):
            steps.append((at, transition, number, act))
    return sorted(steps, key=lambda step: (step[0], TRANSITION_RANK[step[1]], step[2]))


def _write_trace(writer: XesWriter, case: SimCase, activities: list[SimActivity]) -> int:
    """One case as a trace with its typed attributes; return how many events it has."""
    steps = _xes_steps(activities)
    with writer.element("trace"):
        writer.attribute("string", "concept:name", case.case_id)
        writer.attribute("string", "category", case.category)
        writer.attribute("boolean", "completed", str(case.completed).lower())
        for key, value in sorted(case.attributes.items()):
            if value is not None and not isinstance(value, dict | list):
                kind, text = _xes_attribute(value)
                writer.attribute(kind, key, text)
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
    traces = events = 0
    with etree.xmlfile(out, encoding="utf-8") as xf:
        xf.write_declaration()
        with xf.element(f"{{{XES_NS}}}log", {"xes.version": XES_VERSION}, nsmap={None: XES_NS}):
            writer = _NamedXesWriter(xf, log_name(log))
            writer.header()
            for case in sorted(log.cases, key=lambda c: (c.arrival, c.case_id)):
                events += _write_trace(writer, case, grouped.get(case.case_id, []))
                traces += 1
            xf.write("\n")
    return traces, events
