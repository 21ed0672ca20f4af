"""Durable cases: deployments, loading and saving a case under its revision, and everything that follows a save
(open-task rows, the event log, timer jobs, failures). One database transaction per call; no Flask here.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, func, insert, select, update
from sqlalchemy import case as sql_case
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.attributes import get_history, set_committed_value
from sqlalchemy.orm.base import PASSIVE_NO_INITIALIZE

from handlers import build_registry
from handlers.registry import HandlerRegistry

from . import audit
from . import postgres_statements as postgres
from .case import Case, CaseServices, catchable_messages
from .clock import Clock, SystemClock
from .data_copies import json_round_trip
from .models import Case as CaseRow
from .models import (
    CompletionRequest,
    Incident,
    Job,
    OpenTask,
    OpenTaskNameGram,
    ProcessVersion,
    TaskDraft,
    UtcDateTime,
    VersionActivation,
)
from .postgres_statements import CASE_COLUMNS
from .process_folder import SAMPLES_DIR, ProcessBundle, content_hash, load_process_folder, source_files
from .serialization import SERIALIZER
from .sinks import DbArchive, DbOutbox
from .sqlite_statements import DriverStatement, in_json_list, json_list
from .validation import folder_report
from .workdays import WorkingCalendar
from .workflow_cache import CachedWorkflow, RowsWritten, WorkflowCache

RETRY_LIMIT = 3
RETRY_BACKOFF_SECONDS = (60, 300, 1800)

# The statements every load and save runs are built once, on the tables: building a statement and walking it for
# its cache key cost more than running it (SQLite: 136 µs to build and run a case lookup, 68 µs to run it prebuilt).
_CASES = cast(Table, CaseRow.__table__)
_OPEN_TASKS = cast(Table, OpenTask.__table__)
_NAME_GRAMS = cast(Table, OpenTaskNameGram.__table__)
_DRAFTS = cast(Table, TaskDraft.__table__)
_JOBS = cast(Table, Job.__table__)
_CASE_FOR_CHANGE = select(CaseRow).where(CaseRow.case_number == bindparam("number")).with_for_update()
# SQLite: what a save runs after the engine, on the driver (``runner.sqlite_statements``: SQLAlchemy's work around a
# call cost more than SQLite's own); lists of ids go in as one JSON text. PostgreSQL: ``runner.postgres_statements``.
_SQLITE_ADD_COMPLETION_REQUEST = DriverStatement(insert(cast(Table, CompletionRequest.__table__)),
                                                 ("request_id", "case_id", "task_id", "user", "completed_at"))
_INDEXED_CASE_COLUMNS = ("status", "category")
"""Case-row columns with an index: SQLite rewrites an index entry whenever its column is SET, even to the value it
had (a WAL page each per save), so ``save_case`` sets them only when they change (``_sqlite_write_case``)."""
_SQLITE_DROP_GONE_TASKS = DriverStatement(
    delete(_OPEN_TASKS)
    .where(_OPEN_TASKS.c.case_id == bindparam("case_id"), ~in_json_list(_OPEN_TASKS.c.id, "ready"))
    .returning(_OPEN_TASKS.c.id))
_SQLITE_DROP_NAME_GRAMS = DriverStatement(delete(_NAME_GRAMS).where(in_json_list(_NAME_GRAMS.c.task_id, "gone")))
_SQLITE_DROP_DRAFTS = DriverStatement(delete(_DRAFTS).where(in_json_list(_DRAFTS.c.task_id, "gone")))
_OPEN_TASK_COLUMNS = ("id", "case_id", "case_number", "element_id", "name", "lane", "assignee", "created_at",
                      "due_at", "follow_up_at", "category", "customer_name", "customer_name_folded", "form_schema",
                      "form_ui_schema")
_SQLITE_ADD_OPEN_TASK = DriverStatement(  # one row a time, to learn from RETURNING whether it was added
    insert(_OPEN_TASKS).prefix_with("OR IGNORE").returning(_OPEN_TASKS.c.id), _OPEN_TASK_COLUMNS)
_SQLITE_ADD_NAME_GRAMS = DriverStatement(insert(_NAME_GRAMS).prefix_with("OR IGNORE"), ("gram", "lane", "task_id"))
_SQLITE_TIMER_JOBS = DriverStatement(select(_JOBS.c.task_id, _JOBS.c.status)
                                     .where(_JOBS.c.case_id == bindparam("case_id"), _JOBS.c.kind == "timer"))
_SQLITE_END_TIMER_JOBS = DriverStatement(  # pending jobs of timers no longer waiting: done if fired, else cancelled
    update(_JOBS)
    .where(_JOBS.c.case_id == bindparam("job_case_id"), _JOBS.c.kind == "timer", _JOBS.c.status == "pending",
           in_json_list(_JOBS.c.task_id, "stale"))
    .values(status=sql_case((in_json_list(_JOBS.c.task_id, "fired"), "done"), else_="cancelled")))
_SQLITE_ADD_TIMER_JOBS = DriverStatement(insert(_JOBS), ("kind", "case_id", "task_id", "element_id", "due_at", "status",
                                                     "attempts"))
_UTC = UtcDateTime()


class ConflictError(Exception):
    """Somebody else changed the case (or took the task) first; reload and try again."""


class NotFoundError(Exception):
    """No such case, task, version or incident."""


class DeployError(Exception):
    """The folder is not valid; ``problems`` lists every problem, one line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass
class Runtime:
    """What the durable runner needs besides a session: clock, calendar, handlers, a cache of parsed versions and
    one of live workflows (``runner.workflow_cache``: a load that finds its case unchanged skips the restore)."""

    cache_dir: Path
    clock: Clock = field(default_factory=SystemClock)
    calendar: WorkingCalendar = field(default_factory=WorkingCalendar.default)
    registry: HandlerRegistry = field(default_factory=build_registry)
    default_regime: str = "statute"
    bundles: dict[int, ProcessBundle] = field(default_factory=dict)
    workflows: WorkflowCache = field(default_factory=WorkflowCache)

    def bundle(self, version: ProcessVersion) -> ProcessBundle:
        """The parsed version, parsed once per process and version (files materialised under ``cache_dir``)."""
        cached = self.bundles.get(version.id)
        if cached is not None:
            return cached
        folder = self.cache_dir / version.version_hash
        if not folder.exists():
            # a staging folder of our own: processes (and threads) starting together must not share one
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=f".{version.version_hash}.", suffix=".tmp", dir=self.cache_dir))
            for relative, text in version.files.items():
                target = staging / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text, encoding="utf-8")
            try:
                staging.rename(folder)
            except OSError:  # another process materialised it first
                shutil.rmtree(staging, ignore_errors=True)
        bundle = load_process_folder(folder)
        if bundle.version != version.version_hash:
            raise RuntimeError(f"version {version.id}: files do not match their hash")
        self.bundles[version.id] = bundle
        return bundle

    def bundle_for_case(self, session: Session, row: CaseRow) -> ProcessBundle:
        """The parsed version a stored case runs (the version row, with its files, is read only on a cache miss)."""
        cached = self.bundles.get(row.version_id)
        if cached is not None:
            return cached
        version = session.get(ProcessVersion, row.version_id)
        if version is None:
            raise NotFoundError(f"case {row.case_number}: version {row.version_id} is missing")
        return self.bundle(version)


# -- deployments -------------------------------------------------------------------------------------------------


@dataclass
class Deployment:
    """What ``deploy`` did. ``version`` is the version new cases now start on; ``created``: its files were new;
    ``previous_id``: the version that was current before, when this deployment changed it (None when the folder is
    the current version already). Unpacks as ``version, created`` as the two-value result did."""

    version: ProcessVersion
    created: bool
    previous_id: int | None = None
    dropped_messages: list[str] = field(default_factory=list)
    """Messages the version that was current caught and this one does not (a renamed ``bpmn:message``): the systems
    sending them (the metering system's ``meter_online`` …) would get "no message" for every new case."""
    check_warnings: list[str] = field(default_factory=list)
    """What ``validate`` warns about in the folder (a staff step without a time limit, a decision table's range
    beyond every number it names …): said, never refused."""

    @property
    def rolled_back(self) -> bool:
        """An older version's files deployed again: that version is current again."""
        return not self.created and self.previous_id is not None

    def __iter__(self) -> Iterator[Any]:
        yield self.version
        yield self.created

    def message(self) -> str:
        """One line for the operator, e.g. ``version 3 (0a1b2c3d4e5f) is current again (was 4)``."""
        summary = f"version {self.version.id} ({self.version.version_hash[:12]})"
        if self.created:
            return f"deployed {summary}"
        if self.rolled_back:
            return f"{summary} is current again (was {self.previous_id})"
        return f"unchanged: {summary} is already deployed"

    def warnings(self) -> list[str]:
        """What the operator should check before going on (one line each)."""
        said = list(self.check_warnings)
        if self.dropped_messages:
            names = ", ".join(self.dropped_messages)
            said.append(f"version {self.version.id} catches no message {names} any more (version {self.previous_id} "
                        "did): the systems sending it get 'no message' for new cases; running cases keep their version")
        return said


def deploy(session: Session, runtime: Runtime, folder: str | Path, user: str, note: str | None = None
           ) -> Deployment:
    """Validate and store a process folder as a version and make it the one new cases start on.

    Files equal to an existing version's give back that version: nothing changes if it is current, else it is
    current again (a rollback, recorded like a deployment). Running cases keep their versions. Two deployments of
    the same new folder at once store it once: the one that loses the race (the unique hash) gets it back as
    unchanged instead of an error.
    """
    folder = Path(folder)
    report = folder_report(folder, runtime.registry)
    if report.problems:
        raise DeployError([str(problem) for problem in report.problems])
    deployment = _deploy_checked(session, runtime, folder, user, note)
    deployment.check_warnings = [str(warning) for warning in report.warnings]
    return deployment


def _deploy_checked(session: Session, runtime: Runtime, folder: Path, user: str, note: str | None) -> Deployment:
    """``deploy`` of a folder that passed ``validate``."""
    version_hash = content_hash(folder)
    existing = _version_by_hash(session, version_hash)
    if existing is None:
        previous = current_version_id(session)
        created = _insert_version(session, runtime, folder, version_hash, user, note)
        if created is not None:
            _activate(session, runtime, created, previous, user, note)
            return Deployment(created, True, previous, _dropped_messages(session, runtime, previous, created))
        existing = _version_by_hash(session, version_hash)  # another deployment stored it meanwhile
        if existing is None:
            raise RuntimeError(f"version {version_hash[:12]} was neither stored nor found")
    previous = current_version_id(session)
    if previous == existing.id:
        return Deployment(existing, False)
    _activate(session, runtime, existing, previous, user, note)
    return Deployment(existing, False, previous, _dropped_messages(session, runtime, previous, existing))


def _dropped_messages(session: Session, runtime: Runtime, previous_id: int | None, version: ProcessVersion
                      ) -> list[str]:
    """The message names the previous version catches and ``version`` does not."""
    previous = session.get(ProcessVersion, previous_id) if previous_id is not None else None
    if previous is None:
        return []
    return sorted(catchable_messages(runtime.bundle(previous)) - catchable_messages(runtime.bundle(version)))


def _version_by_hash(session: Session, version_hash: str) -> ProcessVersion | None:
    return session.scalar(select(ProcessVersion).where(ProcessVersion.version_hash == version_hash))


def _insert_version(session: Session, runtime: Runtime, folder: Path, version_hash: str, user: str,
                    note: str | None) -> ProcessVersion | None:
    """Store the folder as a new version; None if a concurrent deployment stored the same files first (an INSERT
    that does nothing on the unique hash: PostgreSQL waits for the other transaction, then skips the row)."""
    bundle = load_process_folder(folder)
    spec = {
        "spec": SERIALIZER.to_dict(bundle.spec),
        "subprocess_specs": {name: SERIALIZER.to_dict(sub) for name, sub in bundle.subprocess_specs.items()},
    }
    files = {path.relative_to(folder).as_posix(): path.read_text(encoding="utf-8") for path in source_files(folder)}
    samples = folder / SAMPLES_DIR
    for path in sorted(samples.glob("*.json")):
        files[path.relative_to(folder).as_posix()] = path.read_text(encoding="utf-8")
    table = cast(Table, ProcessVersion.__table__)
    dialect_insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = (dialect_insert(table)
                 .values(version_hash=version_hash, files=files, spec_json=json.dumps(spec, ensure_ascii=False),
                         deployed_at=runtime.clock.now(), deployed_by=user, note=note)
                 .on_conflict_do_nothing(index_elements=["version_hash"])
                 .returning(table.c.id))
    version_id = session.scalar(statement)
    return session.get(ProcessVersion, version_id) if version_id is not None else None


def _activate(session: Session, runtime: Runtime, version: ProcessVersion, previous: int | None, user: str,
              note: str | None) -> None:
    """Make ``version`` the one new cases start on, recording who did it and when."""
    session.add(VersionActivation(version_id=version.id, previous_version_id=previous,
                                  activated_at=runtime.clock.now(), activated_by=user, note=note))
    session.flush()


def current_version_id(session: Session) -> int | None:
    """The version new cases start on: that of the newest activation (the newest version where none is recorded,
    as for rows stored without ``deploy``); None before any deployment."""
    activated = session.scalar(_NEWEST_ACTIVATION)
    if activated is not None:
        return activated
    newest: int | None = session.scalar(_NEWEST_VERSION)
    return newest


# built once: every case start reads them
_NEWEST_ACTIVATION = select(VersionActivation.version_id).order_by(VersionActivation.id.desc()).limit(1)
_NEWEST_VERSION = select(func.max(ProcessVersion.id))


def latest_version(session: Session) -> ProcessVersion:
    """The version new cases start on (``current_version_id``): the newest deployed, or the one rolled back to."""
    version_id = current_version_id(session)
    version = session.get(ProcessVersion, version_id) if version_id is not None else None
    if version is None:
        raise NotFoundError("no process version is deployed: run `baozhuang deploy processes/`")
    return version


# -- loading and saving a case -----------------------------------------------------------------------------------


@dataclass
class LoadedCase:
    """A case row with its live engine case, ready for one change and one save."""

    row: CaseRow
    case: Case
    revision: int
    written: RowsWritten | None = None
    """What the side tables hold for the case at ``revision`` when this process's own committed save wrote them
    (a new case: nothing); None when not known, which makes the save read them (``sync_open_tasks``,
    ``sync_timer_jobs``)."""


def case_services(session: Session, runtime: Runtime) -> CaseServices:
    return CaseServices(
        clock=runtime.clock, calendar=runtime.calendar, registry=runtime.registry,
        outbox=DbOutbox(session, runtime.clock), archive=DbArchive(session, runtime.clock),
    )


def new_case(session: Session, runtime: Runtime, version: ProcessVersion, case_number: str) -> LoadedCase:
    now = runtime.clock.now()
    row = CaseRow(case_number=case_number, version_id=version.id, status="running", revision=0, state=b"",
                  created_at=now, updated_at=now, summary={})
    session.add(row)
    session.flush()
    case = Case(runtime.bundle(version), case_services(session, runtime), case_number)
    case.services.history_lookup = lambda element: audit.last_user_of(session, row.id, element)
    return LoadedCase(row, case, 0, RowsWritten(frozenset(), frozenset()))


def load_case(session: Session, runtime: Runtime, case_number: str) -> LoadedCase:
    """Load a case for a change, locking its row (PostgreSQL) so writers of one case queue up instead of
    interleaving their side-effect rows; SQLite's immediate transactions queue them already.
    """
    row = session.scalar(_CASE_FOR_CHANGE, {"number": case_number})
    if row is None:
        raise NotFoundError(f"no case {case_number}")
    return load_locked_row(session, runtime, row)


def load_locked_row(session: Session, runtime: Runtime, row: CaseRow) -> LoadedCase:
    """``load_case`` of a case row the caller has read with its lock (``FOR UPDATE``) in this transaction
    (``services.complete_task`` reads it together with the task)."""
    bundle = runtime.bundle_for_case(session, row)
    live = runtime.workflows.take(session, row.id, row.revision, row.version_id, row.state)
    if live is not None and live.workflow.spec is bundle.spec:
        case = Case(bundle, case_services(session, runtime), row.case_number, workflow=live.workflow)
        written = live.written
    else:
        case = Case(bundle, case_services(session, runtime), row.case_number, state=row.state)
        written = None
    case.services.history_lookup = lambda element: audit.last_user_of(session, row.id, element)
    return LoadedCase(row, case, row.revision, written)


def save_case(session: Session, runtime: Runtime, loaded: LoadedCase,
              completion: dict[str, Any] | None = None) -> None:
    """Write the case under its revision (a concurrent writer makes this raise ``ConflictError``), then bring
    the open-task rows, the event log, timer jobs and failures in line with it — all in the caller's transaction.
    Once that transaction commits, the live workflow is kept for the next load (so: save last, change nothing after).

    ``completion``: the idempotency row (``request_id``, ``task_id``, ``user``, ``completed_at``) of the task
    completion this save finishes (``services.complete_task``); a request id taken meanwhile raises ``ConflictError``.
    PostgreSQL writes all but the events in one statement (``postgres.SAVE``), the events in a second.
    """
    case, row = loaded.case, loaded.row
    now = runtime.clock.now()
    data = case.data
    status = "completed" if row.status == "running" and case.completed else row.status
    values: dict[str, Any] = {
        "state": case.save_state(), "revision": loaded.revision + 1, "updated_at": now, "status": status,
        "category": data.get("category") or row.category,
        "customer_name": (data.get("application") or {}).get("customer_name") or row.customer_name,
        "summary": summarize(data),
        "completed_at": now if status == "completed" and row.completed_at is None else row.completed_at,
    }
    if session.get_bind().dialect.name == "postgresql":  # everything but the events in one statement
        params = {"row_id": row.id, "read_revision": loaded.revision,
                  **{f"new_{name}": value for name, value in values.items()},
                  **_open_task_params(loaded, now, values["category"], values["customer_name"]),
                  **_timer_job_params(loaded), **(completion or {})}
        try:
            written = session.execute(postgres.SAVE_COMPLETION if completion else postgres.SAVE, params).first()
        except IntegrityError as err:
            table = getattr(getattr(err.orig, "diag", None), "table_name", None)  # psycopg's error details
            if completion is None or table != "completion_requests":
                raise
            raise _request_taken(completion) from err
        if written is None:
            raise ConflictError(f"case {row.case_number} was changed by someone else; reload and try again")
        _committed_values(loaded, values)
        _kept_after_commit(session, runtime, loaded, values["state"], None)
        audit.append(session, row.id, row.case_number, case.new_events())
        record_failures(session, runtime, loaded)
        return
    if completion is not None:
        try:
            _SQLITE_ADD_COMPLETION_REQUEST.execute(session, {**completion, "case_id": row.id})
        except IntegrityError as err:
            raise _request_taken(completion) from err
    params = {"row_id": row.id, "read_revision": loaded.revision,
              **{f"new_{name}": value for name, value in values.items()}}
    changed = tuple(name for name in _INDEXED_CASE_COLUMNS if values[name] != _stored_value(row, name))
    if _sqlite_write_case(changed).execute(session, params).rowcount != 1:
        raise ConflictError(f"case {row.case_number} was changed by someone else; reload and try again")
    _committed_values(loaded, values)
    open_tasks = sync_open_tasks(session, loaded)
    audit.append(session, row.id, row.case_number, case.new_events())
    timers = sync_timer_jobs(session, loaded)
    record_failures(session, runtime, loaded)
    _kept_after_commit(session, runtime, loaded, values["state"], RowsWritten(open_tasks, timers))


_UNKNOWN = object()


def _stored_value(row: CaseRow, name: str) -> Any:
    """What the row holds in the database for column ``name`` as this session knows it: the value before a change
    made in memory (``services`` sets ``status`` before saving), ``_UNKNOWN`` if it was not loaded (then written)."""
    history = get_history(row, name, PASSIVE_NO_INITIALIZE)  # ``inspect(row).attrs[name].history``, without
    # building the attribute states of every column of a row fresh from its query (each save: 20 µs)
    if history.deleted:
        return history.deleted[0]
    return history.unchanged[0] if history.unchanged else _UNKNOWN


@cache
def _sqlite_write_case(changed: tuple[str, ...]) -> DriverStatement:
    """SQLite: the case row's revision-checked UPDATE of every column ``save_case`` writes, except the indexed ones
    not in ``changed`` (their values are those the row holds at the read revision)."""
    columns = [name for name in CASE_COLUMNS if name not in _INDEXED_CASE_COLUMNS or name in changed]
    return DriverStatement(
        update(_CASES)
        .where(_CASES.c.id == bindparam("row_id"), _CASES.c.revision == bindparam("read_revision"))
        .values({name: bindparam(f"new_{name}", type_=_CASES.c[name].type) for name in columns}))


def _request_taken(completion: dict[str, Any]) -> ConflictError:
    return ConflictError(f"request id {completion['request_id']} is being completed concurrently")


def _committed_values(loaded: LoadedCase, values: dict[str, Any]) -> None:
    """The row as written (its committed values: no second UPDATE), at its new revision."""
    for key, value in values.items():
        set_committed_value(loaded.row, key, value)
    loaded.revision += 1


def _kept_after_commit(session: Session, runtime: Runtime, loaded: LoadedCase, state: bytes,
                       written: RowsWritten | None) -> None:
    """The live workflow kept once committed (at the revision ``_committed_values`` gave), with what the save
    wrote to the side tables."""
    loaded.written = written
    runtime.workflows.keep_after_commit(session, loaded.row.id, CachedWorkflow(
        loaded.case.workflow, loaded.revision, loaded.row.version_id, state, written))


SUMMARY_KEYS = ("category", "supply_voltage_kv", "limits", "timeline", "fees", "kpis", "regime")


def summarize(data: dict[str, Any]) -> dict[str, Any]:
    """What the case row keeps of the case data for lists, the case page and exports (``runner.export`` reads
    ``category``, ``regime`` and ``dual_supply``: the application's flag, lifted to the top). As JSON reads it back
    (``json.loads(json.dumps(summary, default=str))``: a value JSON has no type for as its text), copied without
    the text when it is plain JSON already (``json_round_trip``; every save summarizes)."""
    summary = {key: data[key] for key in SUMMARY_KEYS if key in data}
    application = data.get("application")
    if isinstance(application, dict) and isinstance(application.get("dual_supply"), bool):
        summary["dual_supply"] = application["dual_supply"]
    return json_round_trip(summary, default=str)  # type: ignore[no-any-return]


SUMMARY_BACKFILL_BATCH = 200


def backfill_summaries(sessions: sessionmaker[Session], runtime: Runtime,
                       batch_size: int = SUMMARY_BACKFILL_BATCH) -> int:
    """Recompute the summary of every case saved before the summary kept ``regime`` and ``dual_supply`` (what
    ``runner.export`` writes per case), from the case's own data in its stored state; return how many changed.

    One transaction per batch. A row is written only at the revision it was read at, and its revision stays: the
    summary is derived from the state, which does not change (a save meanwhile writes a full summary itself).
    Cases whose state cannot be restored keep their summary (the export then leaves the two columns empty).
    """
    changed, after = 0, 0
    while True:  # the database picks the rows without a regime: ``db upgrade`` runs this on every start
        with sessions.begin() as session:
            stale = list(session.scalars(select(_CASES.c.id).where(_CASES.c.id > after,
                                                                   _CASES.c.summary["regime"].as_string().is_(None))
                                         .order_by(_CASES.c.id).limit(batch_size)))
            if not stale:
                return changed
            after = stale[-1]
            for row in session.scalars(select(CaseRow).where(CaseRow.id.in_(stale))):
                summary = _summary_from_state(session, runtime, row)
                if summary is None or summary == row.summary:
                    continue
                written = session.execute(update(_CASES).where(_CASES.c.id == row.id,
                                                               _CASES.c.revision == row.revision)
                                          .values(summary=summary))
                changed += cast(CursorResult[Any], written).rowcount


def _summary_from_state(session: Session, runtime: Runtime, row: CaseRow) -> dict[str, Any] | None:
    """``summarize`` of the case data in a stored state, None if it cannot be restored."""
    try:
        case = Case(runtime.bundle_for_case(session, row), case_services(session, runtime), row.case_number,
                    state=row.state)
    except Exception:  # noqa: BLE001 - a damaged or foreign state keeps its old summary; the others go on
        return None
    return {**(row.summary or {}), **summarize(case.data)}


def name_grams(folded: str | None) -> set[str]:
    """The 1- and 2-character pieces of a folded customer name, each once (``open_task_name_grams``)."""
    if not folded:
        return set()
    return {*folded, *(folded[i:i + 2] for i in range(len(folded) - 1))}


def name_gram_rows(task_id: str, lane: str | None, folded: str | None) -> list[dict[str, str]]:
    """The ``open_task_name_grams`` rows of one open task."""
    return [{"gram": gram, "lane": lane or "", "task_id": task_id} for gram in sorted(name_grams(folded))]


def sync_open_tasks(session: Session, loaded: LoadedCase) -> frozenset[str]:
    """SQLite: delete the rows of the case's tasks that are no longer ready, insert a row for each ready human task
    that has none (no read: rows that exist keep their claim and follow-up); return the ids of the ready tasks.
    The name pieces of a task (``OpenTaskNameGram``) and its draft go with its row, the pieces come with it: each
    INSERT says through RETURNING whether it added its row, so a save that adds no open task writes no piece.
    When this process's own save of the revision wrote the rows (``loaded.written``), only the difference is
    written: no DELETE when no task left, no INSERT for a task that has its row. (On PostgreSQL ``save_case`` does
    all this in the statement that writes the case row: the open-task part of ``runner.postgres_statements``.)"""
    case, row = loaded.case, loaded.row
    ready = case.ready_tasks()
    ready_ids = frozenset(task.id for task in ready)
    known = loaded.written.open_tasks if loaded.written is not None else None
    gone: list[str] = []
    if known is None or not known <= ready_ids:
        # tasks done or withdrawn (a timer, the other branch of a race, a cancelled case): pieces and drafts go too
        gone = [task_id for task_id, in _SQLITE_DROP_GONE_TASKS.execute(
            session, {"case_id": row.id, "ready": json_list(task.id for task in ready)}).fetchall()]
    if gone:
        _SQLITE_DROP_NAME_GRAMS.execute(session, {"gone": json_list(gone)})
        _SQLITE_DROP_DRAFTS.execute(session, {"gone": json_list(gone)})
    new = [task for task in ready if known is None or task.id not in known]
    if not new:
        return ready_ids
    now = case.services.clock.now()
    customer = row.customer_name
    folded = customer.casefold() if customer else None
    grams = []
    for task in new:
        added = _SQLITE_ADD_OPEN_TASK.execute(session, {
            "id": task.id, "case_id": row.id, "case_number": row.case_number, "element_id": task.element_id,
            "name": task.name, "lane": task.role, "assignee": None, "created_at": now,
            "due_at": case.due_date(task.id), "follow_up_at": None, "category": row.category,
            "customer_name": customer, "customer_name_folded": folded,
            "form_schema": task.form_schema, "form_ui_schema": task.form_ui_schema}).fetchall()
        if added:
            grams += name_gram_rows(task.id, task.role, folded)
    _SQLITE_ADD_NAME_GRAMS.executemany(session, grams)
    return ready_ids


def _open_task_params(loaded: LoadedCase, now: datetime, category: str | None, customer: str | None
                      ) -> dict[str, Any]:
    """The parameters of the open-task part of ``runner.postgres_statements``: the ready tasks' rows and all their
    name pieces as arrays."""
    case, ready = loaded.case, loaded.case.ready_tasks()
    folded = customer.casefold() if customer else None
    pieces = [piece for task in ready for piece in name_gram_rows(task.id, task.role, folded)]
    return {
        "case_number": loaded.row.case_number, "created_at": now, "category": category,
        "customer_name": customer, "customer_name_folded": folded,
        "ready_ids": [task.id for task in ready], "element_ids": [task.element_id for task in ready],
        "names": [task.name for task in ready], "lanes": [task.role for task in ready],
        "due_ats": [_utc(case.due_date(task.id)) for task in ready],
        "form_schemas": [task.form_schema for task in ready],
        "form_ui_schemas": [task.form_ui_schema for task in ready],
        "grams": [piece["gram"] for piece in pieces], "gram_lanes": [piece["lane"] for piece in pieces],
        "gram_task_ids": [piece["task_id"] for piece in pieces],
    }


def sync_timer_jobs(session: Session, loaded: LoadedCase) -> frozenset[str]:
    """One ``timer`` job per waiting timer, due at its deadline; pending jobs of timers no longer waiting go.
    Returns the ids of the waiting timers. Nothing to write, and nothing read, when this process's own save of the
    revision left jobs for the very same timers (``loaded.written``) and none fired since. (PostgreSQL: one
    statement without a read, the timer-job part of ``runner.postgres_statements``; ``save_case`` runs it with the
    case row.)"""
    case, row = loaded.case, loaded.row
    if session.get_bind().dialect.name == "postgresql":
        params = _timer_job_params(loaded)
        session.execute(postgres.SYNC_TIMER_JOBS, {"row_id": row.id, **params})
        return frozenset(params["timer_task_ids"])
    pending = {timer.task_id: timer for timer in case.pending_timers()}
    if loaded.written is not None and not case.fired_timers and loaded.written.timers == pending.keys():
        return frozenset(pending)
    known = _SQLITE_TIMER_JOBS.execute(session, {"case_id": row.id}).fetchall()
    # one read of every timer job the case ever had (the unique key is kind, case, task)
    stale = sorted(task_id for task_id, status in known if status == "pending" and task_id not in pending)
    if stale:
        _SQLITE_END_TIMER_JOBS.execute(session, {"job_case_id": row.id, "stale": json_list(stale),
                                                 "fired": json_list(sorted(case.fired_timers))})
    seen = {task_id for task_id, _ in known}
    _SQLITE_ADD_TIMER_JOBS.executemany(session, [
        {"kind": "timer", "case_id": row.id, "task_id": task_id, "element_id": timer.element_id,
         "due_at": timer.deadline, "status": "pending", "attempts": 0}
        for task_id, timer in pending.items() if task_id not in seen])
    return frozenset(pending)


def _timer_job_params(loaded: LoadedCase) -> dict[str, Any]:
    """The parameters of ``runner.postgres_statements``' timer-job part: the waiting timers as arrays."""
    pending = {timer.task_id: timer for timer in loaded.case.pending_timers()}
    return {"timer_task_ids": list(pending), "timer_element_ids": [timer.element_id for timer in pending.values()],
            "timer_due_ats": [_utc(timer.deadline) for timer in pending.values()],
            "fired_timer_ids": sorted(loaded.case.fired_timers)}


def _utc(value: datetime | None) -> datetime | None:
    """An aware datetime as ``UtcDateTime`` stores it (naive UTC), for the array parameters of PostgreSQL."""
    return _UTC.process_bind_param(value, None)  # type: ignore[arg-type]


def open_incident(session: Session, case_id: int, task_id: str) -> Incident | None:
    """The unresolved incident of a task, if it has one (``services.retry_incident`` leaves it open while the task
    goes through its retries again)."""
    return session.scalar(select(Incident).where(Incident.case_id == case_id, Incident.task_id == task_id,
                                                 Incident.resolved_at.is_(None)).order_by(Incident.id).limit(1))


def record_failures(session: Session, runtime: Runtime, loaded: LoadedCase) -> None:
    """A failed engine task gets a retry job with backoff; once retries are spent, an incident.

    ``Job.attempts`` counts the failed retries: a failure while the task's retry job is pending is the outcome of
    that retry (a task in ERROR runs again only through a retry), so it counts one more; otherwise (first failure,
    or after an incident's retry reset the job) the count starts at 0.
    """
    row = loaded.row
    for failure in loaded.case.failures:
        job = session.scalar(select(Job).where(Job.kind == "retry", Job.case_id == row.id,
                                               Job.task_id == failure.task_id))
        attempts = job.attempts + 1 if job is not None and job.status == "pending" else 0
        if attempts >= RETRY_LIMIT:
            if job is not None:
                job.status, job.attempts = "failed", attempts
                job.last_error = failure.message
            incident = open_incident(session, row.id, failure.task_id)
            if incident is None:  # its failed runs: the first one and each retry
                session.add(Incident(case_id=row.id, task_id=failure.task_id, element_id=failure.element_id,
                                     message=failure.message, attempts=attempts + 1, created_at=runtime.clock.now()))
            else:  # retried by hand and failed through its retries again: still the one incident of the task
                incident.message, incident.attempts = failure.message, incident.attempts + attempts
            continue
        due = runtime.clock.now().timestamp() + RETRY_BACKOFF_SECONDS[min(attempts, len(RETRY_BACKOFF_SECONDS) - 1)]
        due_at = datetime.fromtimestamp(due, runtime.clock.now().tzinfo)
        if job is None:
            session.add(Job(kind="retry", case_id=row.id, task_id=failure.task_id, element_id=failure.element_id,
                            due_at=due_at, status="pending", attempts=0, last_error=failure.message))
        else:
            job.status, job.due_at, job.last_error, job.attempts = "pending", due_at, failure.message, attempts
    loaded.case.failures.clear()

