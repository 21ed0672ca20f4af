"""The event log as process-mining and simulation input: CSV activity instances, or an IEEE 1849-2016 XES log.

The ``events`` table holds lifecycle events per engine task; here they become *activity instances*, paired by task
id. What counts as an activity is read from the BPMN of the version each case runs (elements only older versions
have still count, for cases migrated between versions):

- user and manual tasks: ``enabled`` → ``started`` → ``completed`` (resource: the user who completed it). Work
  starts when the task is claimed (``started``) or assigned by a supervisor (``assigned``); giving it back
  (``unclaimed``) ends that attempt, so the start is the one of the claim or assignment the completion ended.
  Without one (a task completed without claiming it) the runner's ``started`` logged at the moment of completion
  is the start, and the time shows as waiting, not processing;
- service, script, business-rule, send and plain tasks: only ``completed`` is logged, so they are instantaneous;
- message waits (intermediate message catch events, receive tasks): they end when the message arrives and are
  enabled when the element flowing into them completed, so the wait shows as the activity's waiting time;
- timers: each ``fired`` event is an instantaneous activity named by the timer (its later ``completed`` is not).

An instance without a start (engine work, a message wait, a timer) has no ``start`` event in XES, and in CSV its
``start_time`` is its ``end_time``: zero processing time, the wait between ``enable_time`` and ``end_time`` is
waiting time in both formats. An instance is named (``activity``, ``concept:name``) by its last event, the name
the step had when it ran to its end (a step renamed by a migration shows under its new name from then on). An
instance whose last event came before the case's latest ``migrated`` event (a step open when its case moved, and
still open or withdrawn at the case's end since) is named as the version the case runs names its element: the name
the migration gave it, which its open-task row shows too.

Gateways, start/end events, error events and sub-process or call-activity containers are left out (their children
are in the log). An instance still open when its case ended (cancelled case, or withdrawn by an interrupting or
terminating event, or by the other branch of a race) is aborted at that moment: CSV leaves it out; XES ends it in
``pi_abort`` when the whole case was cancelled (started or not), else in ``withdraw`` when it never started and
``ate_abort`` when it had (the IEEE 1849 standard lifecycle model). Instances of running cases that are still
open are left out of the CSV and appear in XES without an end.

A suspension of the case (``suspended`` … ``running``) gives every activity instance open at that moment a
``suspend`` event, and a ``resume`` event when the case was resumed (if the instance was still open), in XES. The
CSV has no lifecycle column: there the suspended time stays inside the waiting (or processing) time of the steps
that were open.

Events at the same moment are in the order of the ``events`` table's ids, which is causal: a step's ``complete``
precedes the ``schedule`` it caused (a message wait's ``schedule``, taken from its predecessor's completion, comes
right after that completion).

Cases are read in batches, each in a short transaction of its own (on SQLite a transaction takes the write lock),
and both writers stream, so a large log is never held in memory.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import IO, Any

from lxml import etree
from sqlalchemy import Row, Select, func, select
from sqlalchemy.orm import Session, sessionmaker

from . import case_queries
from .case_queries import DualSupply
from .clock import to_iso
from .models import Case as CaseRow
from .models import Event, ProcessVersion
from .process_folder import NS

BATCH_SIZE = 200
CSV_COLUMNS = (
    "case_id", "activity", "enable_time", "start_time", "end_time", "resource",
    "role", "element_id", "category", "regime", "dual_supply", "status", "process_version", "dual_supply_basis",
)
"""``dual_supply`` is the supply plan's once one decided it, else the application's; ``dual_supply_basis`` says
which (``plan`` | ``application``; ``case_queries.dual_supply``). Added last, so that the columns before keep their
places."""
XES_NS = "http://www.xes-standard.org/"
XES_VERSION = "1849.2016"  # the standard's XSD types xes.version as xs:decimal
XES_EXTENSIONS = (
    ("Concept", "concept", "http://www.xes-standard.org/concept.xesext"),
    ("Time", "time", "http://www.xes-standard.org/time.xesext"),
    ("Lifecycle", "lifecycle", "http://www.xes-standard.org/lifecycle.xesext"),
    ("Organizational", "org", "http://www.xes-standard.org/org.xesext"),
)
LOG_NAME = "业扩报装"


class Kind(StrEnum):
    """How an element shows in the exported log."""

    HUMAN = "human"
    ENGINE = "engine"
    WAIT = "wait"
    TIMER = "timer"


TASK_KINDS = {
    "userTask": Kind.HUMAN, "manualTask": Kind.HUMAN, "serviceTask": Kind.ENGINE, "scriptTask": Kind.ENGINE,
    "businessRuleTask": Kind.ENGINE, "sendTask": Kind.ENGINE, "task": Kind.ENGINE, "receiveTask": Kind.WAIT,
}


class ExportError(Exception):
    """The selection cannot be exported (e.g. an unknown case number)."""


@dataclass(frozen=True)
class Selection:
    """Which cases to export: all by default, or the given case numbers, or those created since a moment."""

    case_numbers: tuple[str, ...] = ()
    since: datetime | None = None


@dataclass(frozen=True)
class ProcessModel:
    """What the exporter needs from a version's BPMN: the kind of each activity, and what flows into each node."""

    kinds: dict[str, Kind]
    sources: dict[str, tuple[str, ...]]
    names: dict[str, str] = field(default_factory=dict)
    """Element id → the name this version gives it (the engine's ``bpmn_name``, the id when it has none): the
    name of a step that was open when its case migrated to this version (their events carry the old one)."""


def process_model(files: dict[str, str]) -> ProcessModel:
    """Classify the flow nodes of every BPMN file of a deployed version (``ProcessVersion.files``)."""
    kinds: dict[str, Kind] = {}
    sources: dict[str, list[str]] = {}
    names: dict[str, str] = {}
    for path, text in sorted(files.items()):
        if not path.endswith(".bpmn"):
            continue
        root = etree.fromstring(text.encode("utf-8"))
        for element in root.iter(f"{{{NS['bpmn']}}}*"):
            local, element_id = etree.QName(element).localname, element.get("id", "")
            if local in TASK_KINDS:
                kinds.setdefault(element_id, TASK_KINDS[local])
                names.setdefault(element_id, element.get("name") or element_id)
            elif local.endswith("Event") and element.find("bpmn:timerEventDefinition", NS) is not None:
                kinds.setdefault(element_id, Kind.TIMER)
            elif local == "intermediateCatchEvent" and element.find("bpmn:messageEventDefinition", NS) is not None:
                kinds.setdefault(element_id, Kind.WAIT)
            elif local == "sequenceFlow":
                sources.setdefault(element.get("targetRef", ""), []).append(element.get("sourceRef", ""))
    return ProcessModel(kinds, {target: tuple(found) for target, found in sources.items()}, names)


@dataclass(frozen=True, order=True)
class Stamp:
    """When a lifecycle step happened, with the id of the log row that says so (to order equal times); ``after``
    is 1 for a moment taken from another event's (a message wait enabled by its predecessor's completion), so that
    it follows that event."""

    at: datetime
    seq: int
    after: int = 0


@dataclass
class ActivityInstance:
    """One execution of an activity in a case, with the moments of its lifecycle."""

    activity: str
    element_id: str
    kind: Kind
    instance_id: str
    role: str | None
    resource: str | None = None
    enabled: Stamp | None = None
    started: Stamp | None = None
    completed: Stamp | None = None
    aborted: Stamp | None = None
    case_cancelled: bool = False
    """Aborted because the whole case was cancelled (XES ``pi_abort``)."""
    suspensions: list[tuple[Stamp, Stamp | None]] = field(default_factory=list)
    """(suspended, resumed or None) for each suspension of the case while the instance was open."""
    named_at: Stamp | None = None
    """When the event that named it (its last one) happened."""

    @property
    def first(self) -> Stamp:
        stamps = [s for s in (self.enabled, self.started, self.completed, self.aborted) if s is not None]
        return min(stamps)

    @property
    def end(self) -> Stamp | None:
        return self.completed or self.aborted

    @property
    def abort_transition(self) -> str:
        """The XES transition that ends an aborted instance: ``pi_abort`` when the case was cancelled, else
        ``withdraw`` for an instance that never started and ``ate_abort`` for one that had."""
        if self.case_cancelled:
            return "pi_abort"
        return "withdraw" if self.started is None else "ate_abort"

    def open_at(self, stamp: Stamp) -> bool:
        end = self.end
        return self.first < stamp and (end is None or end > stamp)


@dataclass
class CaseLog:
    """One case (a trace): its attributes and its activity instances, in the order they began."""

    case_number: str
    status: str
    category: str | None
    regime: str | None
    dual_supply: bool | None
    """As the customer applied (what the simulator's calibration counts: the share of applications)."""
    instances: list[ActivityInstance] = field(default_factory=list)
    version: str = ""
    """The process version the case runs (a migrated case: the one it moved to), ``<id> (<12 hash characters>)``
    as ``baozhuang versions`` and ``migrate`` show it."""
    supply: DualSupply | None = None
    """What the logs write as the case's dual supply: the supply plan's once one decided it, else the application's
    (``case_queries.dual_supply``); None: the application's flag, for a log built without a summary."""

    @property
    def shown_supply(self) -> DualSupply | None:
        if self.supply is not None:
            return self.supply
        return DualSupply(self.dual_supply, "application") if self.dual_supply is not None else None


class _Pairing:
    """Folds a case's events, in log order, into activity instances keyed by engine task id."""

    def __init__(self, model: ProcessModel) -> None:
        self.model = model
        self.open: dict[str, ActivityInstance] = {}
        self.instances: list[ActivityInstance] = []
        self.last_completed: dict[str, Stamp] = {}  # element id -> its latest completion
        self.timers_fired: set[str] = set()
        self.last: Stamp | None = None
        self.cancelled: Stamp | None = None  # the case's ``cancelled`` event
        self.migrated: Stamp | None = None  # the case's latest ``migrated`` event
        self.suspensions: list[tuple[Stamp, Stamp | None]] = []

    def add(self, event: Any) -> None:
        stamp = self.last = Stamp(event.at, event.id)
        kind = self.model.kinds.get(event.element_id)
        if event.task_id is None:
            self._case(event, stamp)
        elif kind is Kind.TIMER:
            self._timer(event, stamp)
        elif kind is not None:
            self._step(event, kind, stamp)
        if event.lifecycle == "completed":
            self.last_completed[event.element_id] = stamp

    def _case(self, event: Any, stamp: Stamp) -> None:
        """The case's own events: cancelled, migrated, suspended and resumed (``running``)."""
        if event.lifecycle == "cancelled":
            self.cancelled = stamp
        elif event.lifecycle == "migrated":
            self.migrated = stamp
        elif event.lifecycle == "suspended":
            self.suspensions.append((stamp, None))
        elif event.lifecycle == "running" and self.suspensions and self.suspensions[-1][1] is None:
            self.suspensions[-1] = (self.suspensions[-1][0], stamp)

    def _timer(self, event: Any, stamp: Stamp) -> None:
        # ``fired`` is the activity; the boundary event's ``completed`` right after it is the same occurrence
        if event.lifecycle == "fired" or (event.lifecycle == "completed" and event.task_id not in self.timers_fired):
            self.timers_fired.add(event.task_id)
            self.instances.append(ActivityInstance(event.activity, event.element_id, Kind.TIMER, event.task_id,
                                                   event.role, completed=stamp))

    def _step(self, event: Any, kind: Kind, stamp: Stamp) -> None:
        if event.lifecycle not in ("enabled", "started", "assigned", "unclaimed", "completed", "cancelled"):
            return
        instance = self.open.get(event.task_id)
        if instance is None:
            instance = ActivityInstance(event.activity, event.element_id, kind, event.task_id, event.role)
            self.open[event.task_id] = instance
        instance.activity, instance.named_at = event.activity, stamp  # its last event's: the name when it ran
        instance.role = event.role or instance.role
        if event.lifecycle == "enabled":
            instance.enabled = instance.enabled or stamp
            return
        if event.lifecycle in ("started", "assigned", "unclaimed"):
            self._start(instance, event, stamp)
            return
        del self.open[event.task_id]
        self.instances.append(instance)
        if event.lifecycle == "cancelled":
            instance.aborted = stamp
            instance.case_cancelled = self.cancelled is not None
            return
        instance.completed = stamp
        instance.resource = event.user or instance.resource
        if kind is Kind.WAIT and instance.enabled is None:  # waiting since what flows into it completed
            sources = self.model.sources.get(event.element_id, ())
            enabled = max((self.last_completed[s] for s in sources if s in self.last_completed), default=None)
            instance.enabled = None if enabled is None else Stamp(enabled.at, enabled.seq, after=1)

    @staticmethod
    def _start(instance: ActivityInstance, event: Any, stamp: Stamp) -> None:
        """Claims and assignments: the start is that of the latest claim or assignment still in force (a
        ``started`` while one is in force, e.g. the one logged at completion, is the same work)."""
        if event.lifecycle == "unclaimed":
            instance.started = None
            return
        if event.lifecycle == "assigned" or instance.started is None:
            instance.started = stamp
        instance.resource = event.user or instance.resource

    def result(self, case_ended: bool, case_cancelled: bool) -> list[ActivityInstance]:
        for instance in self.open.values():
            if case_ended and self.last is not None:
                # withdrawn when the case ended (cancel, terminate, interruption): at the cancellation if any
                instance.aborted = self.cancelled or self.last
                instance.case_cancelled = case_cancelled or self.cancelled is not None
            self.instances.append(instance)
        for instance in self.instances:
            if (self.migrated is not None and instance.named_at is not None and instance.named_at < self.migrated
                    and instance.open_at(self.migrated)):
                # open when the case last moved, nothing logged since: the name the case's version gives it now
                instance.activity = self.model.names.get(instance.element_id, instance.activity)
            instance.suspensions = [
                (suspended, resumed if resumed is not None and instance.open_at(resumed) else None)
                for suspended, resumed in self.suspensions if instance.open_at(suspended)]
        return sorted(self.instances, key=lambda instance: instance.first)


def activity_instances(events: Iterable[Any], model: ProcessModel, case_ended: bool,
                       case_cancelled: bool = False) -> list[ActivityInstance]:
    """Pair a case's events (``Event`` rows or rows with the same fields, in id order) into activity instances.

    Instances still open are aborted when ``case_ended`` — at the case's ``cancelled`` event, else at its last
    event —, else left open; ``case_cancelled`` (or a ``cancelled`` event of the case) marks those aborts as the
    whole case's.
    """
    pairing = _Pairing(model)
    for event in events:
        pairing.add(event)
    return pairing.result(case_ended, case_cancelled)


def _case_log(row: Row[Any], events: list[Any], model: ProcessModel, version: str = "") -> CaseLog:
    summary: dict[str, Any] = row.summary or {}
    regime, dual_supply = summary.get("regime"), summary.get("dual_supply")
    return CaseLog(
        case_number=row.case_number,
        status=row.status,
        category=row.category or summary.get("category"),
        regime=regime if isinstance(regime, str) else None,
        dual_supply=dual_supply if isinstance(dual_supply, bool) else None,
        instances=activity_instances(events, model, case_ended=row.status in ("completed", "cancelled"),
                                     case_cancelled=row.status == "cancelled"),
        version=version,
        supply=case_queries.dual_supply(summary),
    )


def check_selection(session: Session, selection: Selection) -> None:
    """Raise ``ExportError`` naming the requested case numbers that do not exist."""
    if not selection.case_numbers:
        return
    known = set(session.scalars(select(CaseRow.case_number).where(CaseRow.case_number.in_(selection.case_numbers))))
    missing = [number for number in selection.case_numbers if number not in known]
    if missing:
        raise ExportError(f"no case {', '.join(missing)}")


def iter_case_logs(sessions: sessionmaker[Session], selection: Selection,
                   batch_size: int = BATCH_SIZE) -> Iterator[CaseLog]:
    """The selected cases in id order, read ``batch_size`` at a time, each batch in a transaction of its own.

    Raises:
        ExportError: At once (before anything is read) if a requested case number does not exist.
    """
    query = select(CaseRow.id, CaseRow.case_number, CaseRow.version_id, CaseRow.status, CaseRow.category,
                   CaseRow.summary)
    if selection.case_numbers:
        query = query.where(CaseRow.case_number.in_(selection.case_numbers))
    if selection.since is not None:
        query = query.where(CaseRow.created_at >= selection.since)
    with sessions.begin() as session:
        check_selection(session, selection)
        newest = session.scalar(select(func.max(CaseRow.id))) or 0  # cases started meanwhile wait for next time
    return _batches(sessions, query.where(CaseRow.id <= newest).order_by(CaseRow.id), batch_size)


def version_labels(session: Session) -> dict[int, str]:
    """``<id> (<12 hash characters>)`` of every deployed version, as ``baozhuang versions`` lists them."""
    return {version_id: f"{version_id} ({version_hash[:12]})" for version_id, version_hash in session.execute(
        select(ProcessVersion.id, ProcessVersion.version_hash))}


def version_models(session: Session) -> dict[int, ProcessModel]:
    """The model of every deployed version, completed by the other versions' elements (newest first): a case
    migrated to another version keeps the activities it did under the old one."""
    own = {version_id: process_model(files) for version_id, files in session.execute(
        select(ProcessVersion.id, ProcessVersion.files).order_by(ProcessVersion.id.desc()))}
    kinds: dict[str, Kind] = {}
    sources: dict[str, tuple[str, ...]] = {}
    for model in own.values():
        kinds = {**model.kinds, **kinds}
        sources = {**model.sources, **sources}
    return {version_id: ProcessModel({**kinds, **model.kinds}, {**sources, **model.sources}, model.names)
            for version_id, model in own.items()}


def _batches(sessions: sessionmaker[Session], query: Select[Any], batch_size: int) -> Iterator[CaseLog]:
    models: dict[int, ProcessModel] = {}
    labels: dict[int, str] = {}
    after = 0
    while True:
        with sessions.begin() as session:
            rows = session.execute(query.where(CaseRow.id > after).limit(batch_size)).all()
            if not rows:
                return
            events: dict[int, list[Any]] = {row.id: [] for row in rows}
            for event in session.execute(
                select(Event.id, Event.case_id, Event.task_id, Event.element_id, Event.activity, Event.lifecycle,
                       Event.role, Event.user, Event.at)
                .where(Event.case_id.in_(list(events))).order_by(Event.case_id, Event.id)
            ):
                events[event.case_id].append(event)
            if not models or {row.version_id for row in rows} - set(models):
                models, labels = version_models(session), version_labels(session)
        for row in rows:
            yield _case_log(row, events[row.id], models[row.version_id], labels[row.version_id])
        after = rows[-1].id


# -- CSV -----------------------------------------------------------------------------------------------------------


def csv_rows(log: CaseLog) -> Iterator[list[str]]:
    """One row per completed activity instance, in the order they completed. An instance without a start (engine
    work, a message wait, a timer) starts when it ends: its wait is waiting time, as in XES (no ``start`` event)."""
    done = sorted((i for i in log.instances if i.completed is not None and i.aborted is None),
                  key=lambda i: i.completed or i.first)
    supply = log.shown_supply
    dual = "" if supply is None else str(supply.value).lower()
    basis = "" if supply is None else supply.basis
    for instance in done:
        assert instance.completed is not None
        end = instance.completed
        start = instance.started or end
        enable = instance.enabled or start
        yield [
            log.case_number, instance.activity, to_iso(enable.at), to_iso(start.at), to_iso(end.at),
            instance.resource or "", instance.role or "", instance.element_id, log.category or "",
            log.regime or "", dual, log.status, log.version, basis,
        ]


def write_csv(logs: Iterable[CaseLog], out: IO[str]) -> tuple[int, int]:
    """Write the CSV header and rows; return (cases, rows) written."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    cases = rows = 0
    for log in logs:
        cases += 1
        for row in csv_rows(log):
            writer.writerow(row)
            rows += 1
    return cases, rows


# -- XES -----------------------------------------------------------------------------------------------------------

TRANSITION_RANK = {"schedule": 0, "start": 1, "suspend": 2, "resume": 3, "complete": 4, "withdraw": 5,
                   "ate_abort": 5, "pi_abort": 5}
"""Orders the steps that share one log row (a case's suspension, or the event at which open instances were
aborted) — steps of different rows follow the rows' id order, which is causal."""


def xes_events(log: CaseLog) -> list[tuple[Stamp, str, ActivityInstance]]:
    """(when, lifecycle:transition, instance) for every lifecycle step of the case, in time order, equal times in
    the log's (causal) order."""
    steps: list[tuple[Stamp, str, ActivityInstance]] = []
    for instance in log.instances:
        for stamp, transition in ((instance.enabled, "schedule"), (instance.started, "start"),
                                  (instance.completed, "complete"), (instance.aborted, instance.abort_transition)):
            if stamp is not None:
                steps.append((stamp, transition, instance))
        for suspended, resumed in instance.suspensions:
            steps.append((suspended, "suspend", instance))
            if resumed is not None:
                steps.append((resumed, "resume", instance))
    return sorted(steps, key=lambda step: (step[0], TRANSITION_RANK[step[1]]))


class XesWriter:
    """Incremental XES writing: each element goes out as soon as it is made, indented with tabs (also used by the
    simulation's event log, ``runner.simulation.eventlog``)."""

    def __init__(self, xf: Any) -> None:
        self.xf = xf
        self.depth = 1

    def attribute(self, kind: str, key: str, value: str) -> None:
        with self.element(kind, key=key, value=value):
            pass

    @contextmanager
    def element(self, tag: str, **attributes: str) -> Iterator[None]:
        self.xf.write("\n" + "\t" * self.depth)
        with self.xf.element(f"{{{XES_NS}}}{tag}", attributes):
            self.depth += 1
            yield
            self.depth -= 1
            if tag in ("global", "trace", "event"):  # elements with children close on a line of their own
                self.xf.write("\n" + "\t" * self.depth)

    def header(self) -> None:
        for name, prefix, uri in XES_EXTENSIONS:
            with self.element("extension", name=name, prefix=prefix, uri=uri):
                pass
        with self.element("global", scope="trace"):
            self.attribute("string", "concept:name", "__INVALID__")
        with self.element("global", scope="event"):
            self.attribute("string", "concept:name", "__INVALID__")
            self.attribute("date", "time:timestamp", "1970-01-01T00:00:00+00:00")
            self.attribute("string", "lifecycle:transition", "complete")
            self.attribute("string", "element_id", "__INVALID__")  # the key of the Element classifier
        with self.element("classifier", name="Activity", keys="concept:name"):
            pass
        with self.element("classifier", name="Activity_lifecycle", keys="concept:name lifecycle:transition"):
            pass
        with self.element("classifier", name="Element", keys="element_id"):  # a renamed step stays one activity
            pass
        self.attribute("string", "concept:name", LOG_NAME)
        self.attribute("string", "lifecycle:model", "standard")

    def trace(self, log: CaseLog) -> int:
        """Write one case as a trace; return how many events it has."""
        steps = xes_events(log)
        with self.element("trace"):
            self.attribute("string", "concept:name", log.case_number)
            self.attribute("string", "status", log.status)
            if log.category:
                self.attribute("string", "category", log.category)
            if log.regime:
                self.attribute("string", "regime", log.regime)
            supply = log.shown_supply
            if supply is not None:
                self.attribute("boolean", "dual_supply", str(supply.value).lower())
                self.attribute("string", "dual_supply_basis", supply.basis)
            if log.version:
                self.attribute("string", "process_version", log.version)
            for stamp, transition, instance in steps:
                with self.element("event"):
                    self.attribute("string", "concept:name", instance.activity)
                    self.attribute("date", "time:timestamp", to_iso(stamp.at))
                    self.attribute("string", "lifecycle:transition", transition)
                    self.attribute("string", "concept:instance", instance.instance_id)
                    if instance.resource and transition in ("start", "complete"):
                        self.attribute("string", "org:resource", instance.resource)
                    if instance.role:
                        self.attribute("string", "org:role", instance.role)
                    self.attribute("string", "element_id", instance.element_id)
        return len(steps)


@contextmanager
def xes_document(out: IO[bytes]) -> Iterator[XesWriter]:
    """An XES log (UTF-8) with its header written, open for traces; the closing tag follows on exit."""
    with etree.xmlfile(out, encoding="utf-8") as xf:
        xf.write_declaration()
        with xf.element(f"{{{XES_NS}}}log", {"xes.version": XES_VERSION}, nsmap={None: XES_NS}):
            writer = XesWriter(xf)
            writer.header()
            yield writer
            xf.write("\n")


def write_xes(logs: Iterable[CaseLog], out: IO[bytes]) -> tuple[int, int]:
    """Write an XES log (UTF-8), one trace per case; return (traces, events) written."""
    traces = events = 0
    with xes_document(out) as writer:
        for log in logs:
            events += writer.trace(log)
            traces += 1
            writer.xf.flush()
    return traces, events
