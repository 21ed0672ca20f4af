"""Test databases for the durable runner, and helpers that drive cases through them.

A pytest plugin (``tests/conftest.py`` loads it): the ``db`` fixture runs each test once on SQLite (a file under
``tmp_path``) and once on PostgreSQL (a fresh database with a random name on 127.0.0.1:5432, or on the server of
``TEST_POSTGRES_URL``, dropped afterwards). Both are brought to the schema with ``runner.schema.upgrade`` and hold one
deployed version of ``processes/``. PostgreSQL being unreachable fails those tests: CI starts a server (``.ci/run``).

The helpers (``start``, ``complete``, ``drive_case_to_end`` …) work through ``runner.services`` exactly as the web
UI and the worker do, one transaction per call; the worker's tests may import them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine, func, select
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker

from runner import schema, services
from runner.case import HumanTask
from runner.cli import main
from runner.clock import SHANGHAI, VirtualClock, to_iso
from runner.database import make_engine, session_factory
from runner.forms import default_instance
from runner.models import Case as CaseRow
from runner.models import Event, Job, OpenTask, ProcessVersion
from runner.process_folder import ProcessBundle, load_process_folder
from runner.sample_answers import with_case_samples
from runner.store import Runtime, deploy, load_case, save_case
from runner.trial import sample_application

ROOT = Path(__file__).resolve().parent.parent
PROCESSES = ROOT / "processes"
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DB_KINDS = ("sqlite", "postgresql")
START = datetime(2026, 11, 26, 9, 0, tzinfo=SHANGHAI)
"""Where every test database's clock starts: a Thursday, a working day."""
MAX_STEPS = 500


# -- the fixture -------------------------------------------------------------------------------------------------


@dataclass
class Db:
    """One test database: its URL, sessions, a runtime on a virtual clock, and the deployed version."""

    kind: str
    url: str
    engine: Engine
    sessions: sessionmaker[Session]
    clock: VirtualClock
    cache_dir: Path
    runtime: Runtime
    version_id: int

    def new_runtime(self) -> Runtime:
        """A runtime as after a process restart: same clock and cache folder, nothing parsed yet."""
        return Runtime(cache_dir=self.cache_dir, clock=self.clock)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: commit on success, roll back on error (as the web UI and the CLI do)."""
        with self.sessions.begin() as session:
            yield session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A session whose work is rolled back: for looking without changing."""
        with self.sessions() as session:
            yield session

    def count(self, model: Any, *where: Any) -> int:
        with self.reading() as session:
            return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


@dataclass
class _Shared:
    """What every test database reuses: the parsed processes and the fields of their deployed version."""

    bundle: ProcessBundle | None = None
    version_fields: dict[str, Any] | None = None
    postgres_error: str | None = None


_SHARED = _Shared()


def shared_bundle() -> ProcessBundle:
    """``processes/`` parsed once per test session."""
    if _SHARED.bundle is None:
        _SHARED.bundle = load_process_folder(PROCESSES)
    return _SHARED.bundle


def postgres_admin_url() -> URL:
    """The server the PostgreSQL tests create their databases on (``TEST_POSTGRES_URL`` or the local one)."""
    return make_url(os.environ.get("TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL)


def _libpq(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _admin_connection() -> psycopg.Connection[Any]:
    admin = postgres_admin_url()
    if _SHARED.postgres_error is None:
        try:
            return psycopg.connect(_libpq(admin), autocommit=True, connect_timeout=5)
        except psycopg.OperationalError as err:
            _SHARED.postgres_error = (
                f"PostgreSQL is not reachable at {admin.render_as_string(hide_password=True)}: "
                f"{str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__}\n"
                "The PostgreSQL half of the suite needs a server: start one (`make postgres`, as .ci/run does) "
                "or point TEST_POSTGRES_URL at one."
            )
    pytest.fail(_SHARED.postgres_error, pytrace=False)


@contextmanager
def _database_url(kind: str, tmp_path: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'baozhuang.sqlite3'}"
        return
    name = f"bz_test_{uuid.uuid4().hex[:16]}"
    with _admin_connection() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield postgres_admin_url().set(drivername="postgresql+psycopg", database=name).render_as_string(
            hide_password=False)
    finally:
        with _admin_connection() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _deploy_once(session: Session, runtime: Runtime) -> ProcessVersion:
    """Deploy ``processes/`` for real the first time; later databases get a copy of that version row (deploying
    validates and parses, ~0.2 s; the deploy itself is tested in tests/test_audit.py)."""
    if _SHARED.version_fields is None:
        version, _created = deploy(session, runtime, PROCESSES, "test")
        _SHARED.version_fields = {"version_hash": version.version_hash, "files": version.files,
                                  "spec_json": version.spec_json}
        return version
    version = ProcessVersion(**_SHARED.version_fields, deployed_at=runtime.clock.now(), deployed_by="test")
    session.add(version)
    session.flush()
    return version


@pytest.fixture(params=DB_KINDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Db]:
    """A migrated database holding one deployed version of ``processes/``, with a runtime on a virtual clock."""
    with _database_url(request.param, tmp_path) as url:
        schema.upgrade(url)
        # a throwaway database need not wait for its commits to reach the disk (semantics are unchanged)
        engine = make_engine(url) if request.param == "sqlite" else make_engine(
            url, connect_args={"options": "-c synchronous_commit=off"})
        try:
            clock = VirtualClock(START)
            cache_dir = tmp_path / "versions"
            runtime = Runtime(cache_dir=cache_dir, clock=clock)
            with session_factory(engine).begin() as session:
                version = _deploy_once(session, runtime)
                version_id, version_hash = version.id, version.version_hash
            if shared_bundle().version == version_hash:
                runtime.bundles[version_id] = shared_bundle()  # parsed once per session, not once per test
            yield Db(request.param, url, engine, session_factory(engine), clock, cache_dir, runtime, version_id)
        finally:
            engine.dispose()


# -- cases -------------------------------------------------------------------------------------------------------


def sample(category: str, dual_supply: bool = False) -> dict[str, Any]:
    """The sample start data of a category (``processes/samples``), as ``baozhuang try`` starts it."""
    return sample_application(shared_bundle(), category, dual_supply)


def start(db: Db, category: str = "hv_ordinary", *, dual_supply: bool = False, case_number: str | None = None,
          runtime: Runtime | None = None, **application: Any) -> str:
    """Start a case from the category's sample (application fields overridden by keywords); its case number."""
    data = sample(category, dual_supply)
    data.pop("case_number", None)
    data.pop("applied_at", None)  # the case clock's time
    data["application"] = {**data["application"], **application}
    with db.transaction() as session:
        return services.start_case(session, runtime or db.runtime, data, "portal", case_number=case_number)


def open_tasks(db: Db, case_number: str) -> list[OpenTask]:
    """The case's open-task rows, oldest first."""
    with db.reading() as session:
        return list(session.scalars(select(OpenTask).where(OpenTask.case_number == case_number)
                                    .order_by(OpenTask.created_at, OpenTask.id)))


def open_task(db: Db, case_number: str, element_id: str) -> OpenTask:
    """The one open task of an element (fails the test when there is none)."""
    found = [task for task in open_tasks(db, case_number) if task.element_id == element_id]
    assert len(found) == 1, f"{case_number}: open tasks {[t.element_id for t in open_tasks(db, case_number)]}"
    return found[0]


def case_row(db: Db, case_number: str) -> CaseRow:
    with db.reading() as session:
        row = session.scalar(select(CaseRow).where(CaseRow.case_number == case_number))
        assert row is not None, f"no case {case_number}"
        return row


def events(db: Db, case_number: str) -> list[Event]:
    with db.reading() as session:
        return list(session.scalars(select(Event).where(Event.case_number == case_number).order_by(Event.id)))


def visited(db: Db, case_number: str) -> list[str]:
    """Element ids in the order they completed, from the event log (what ``Case.visited`` is in memory)."""
    return [event.element_id for event in events(db, case_number) if event.lifecycle == "completed"]


def form_defaults(db: Db, task: OpenTask) -> dict[str, Any]:
    """The form's defaults: the happy-path answer to a task."""
    if not task.form_schema:
        return {}
    with db.reading() as session:
        bundle = db.runtime.bundle(_version_of(session, task.case_number))
    defaults = default_instance(bundle.form(task.form_schema))
    return defaults if isinstance(defaults, dict) else {}


def complete(db: Db, case_number: str, element_id: str, data: dict[str, Any] | None = None, *,
             user: str = "staff.1", extra: dict[str, Any] | None = None,
             request_id: str | None = None) -> services.Completion:
    """Complete the case's open task of ``element_id`` with ``data`` (default: the form's defaults, plus
    ``extra``)."""
    task = open_task(db, case_number, element_id)
    answer = data if data is not None else {**form_defaults(db, task), **(extra or {})}
    with db.transaction() as session:
        return services.complete_task(session, db.runtime, task.id, answer, user,
                                      request_id or uuid.uuid4().hex)


def advance_to(db: Db, case_number: str, element_id: str, user: str | None = None) -> None:
    """Answer the case's tasks with their defaults until ``element_id`` is open (a test's starting point); the
    clock stands still. Each task is done by ``user``, or else by ``<lane>.1``."""
    for _ in range(MAX_STEPS):
        tasks = open_tasks(db, case_number)
        if any(task.element_id == element_id for task in tasks):
            return
        assert tasks, f"{case_number}: no open task before {element_id} (visited {visited(db, case_number)[-5:]})"
        complete(db, case_number, tasks[0].element_id, user=user or f"{tasks[0].lane or 'staff'}.1")
    raise AssertionError(f"{case_number}: {element_id} never became open")


def fire_due_timers(db: Db, case_number: str, runtime: Runtime | None = None) -> int:
    """What the worker does when a case's timer job falls due: fire every due timer of the case and save.
    The pending ``timer`` jobs say whether anything is due (as they tell the worker)."""
    runtime = runtime or db.runtime
    with db.transaction() as session:
        due = session.scalar(select(func.count()).select_from(Job).join(CaseRow, CaseRow.id == Job.case_id).where(
            CaseRow.case_number == case_number, CaseRow.status == "running", Job.kind == "timer",
            Job.status == "pending", Job.due_at <= runtime.clock.now()))
        if not due:
            return 0
        loaded = load_case(session, runtime, case_number)
        fired = loaded.case.fire_due_timers()
        if fired:
            save_case(session, runtime, loaded)
        return fired


def _version_of(session: Session, case_number: str) -> ProcessVersion:
    version = session.scalar(select(ProcessVersion).join(CaseRow, CaseRow.version_id == ProcessVersion.id)
                             .where(CaseRow.case_number == case_number))
    assert version is not None
    return version


# -- driving a case to its end -----------------------------------------------------------------------------------


@dataclass
class DriveResult:
    """What driving a case did: completion, the visited elements (event log) and the final case data."""

    completed: bool
    visited: list[str]
    data: dict[str, Any]
    steps: int
    state_sizes: list[int] = field(default_factory=list)
    """Size in bytes of the case's stored state after each step."""


@dataclass
class _Next:
    """What the case waits for next, as seen in one read transaction."""

    task: HumanTask | None = None
    user: str | None = None
    answer: dict[str, Any] = field(default_factory=dict)
    message: str | None = None
    deadline: datetime | None = None


class CaseDriver:
    """Drives a stored case to its end the way ``runner.trial.TrialDriver`` drives one in memory — same answers
    (form defaults overridden by ``answers``), same users (``<role>.<n>``, another one where a four-eyes rule
    applies), same clock steps — but through ``runner.services``, one transaction per step.

    With ``restart_every_step`` each transaction gets a new ``Runtime`` (nothing parsed, nothing cached): the case
    then survives a simulated process restart between any two steps.
    """

    def __init__(self, db: Db, case_number: str, answers: dict[str, Any] | None = None, *,
                 hours_per_task: float = 2.0, restart_every_step: bool = False,
                 runtime: Runtime | None = None) -> None:
        self.db = db
        self.fixed_runtime = runtime
        self.case_number = case_number
        self.answers = answers or {}
        self.hours_per_task = hours_per_task
        self.restart_every_step = restart_every_step
        self.visits: dict[str, int] = {}
        self.state_sizes: list[int] = []

    def runtime(self) -> Runtime:
        """The runtime of the next transaction: a new one after a simulated restart, else the given (or db's)."""
        if self.restart_every_step:
            return self.db.new_runtime()
        return self.fixed_runtime or self.db.runtime

    def run(self) -> DriveResult:
        steps = 0
        while True:
            row = case_row(self.db, self.case_number)
            if row.status not in ("running", "completed"):
                raise AssertionError(f"{self.case_number} is {row.status}")
            if steps:
                self.state_sizes.append(len(row.state))
            if row.status == "completed":
                break
            if steps >= MAX_STEPS:
                raise AssertionError(f"{self.case_number} did not finish in {MAX_STEPS} steps")
            if not self.step():
                raise AssertionError(f"{self.case_number} is stuck after {visited(self.db, self.case_number)[-5:]}")
            steps += 1
        with self.db.reading() as session:
            data = load_case(session, self.runtime(), self.case_number).case.data
        return DriveResult(True, visited(self.db, self.case_number), data, steps, self.state_sizes)

    def step(self) -> bool:
        """Do the next thing a real case would see happen; False when nothing can happen any more."""
        runtime = self.runtime()  # after a restart: one new runtime for the whole step
        upcoming = self._next(runtime)
        clock = self.db.clock
        if upcoming.task is not None:
            task = upcoming.task
            clock.advance(timedelta(hours=self.hours_per_task))
            fire_due_timers(self.db, self.case_number, runtime)
            if self.db.count(OpenTask, OpenTask.id == task.id) == 0:
                return True  # a timer ended the task meanwhile (an interrupting one)
            with self.db.transaction() as session:
                services.complete_task(session, runtime, task.id, upcoming.answer, upcoming.user or "staff.1",
                                       uuid.uuid4().hex)
            return True
        if upcoming.message is not None:
            name = upcoming.message
            given = self.answers.get(name)
            payload = given if isinstance(given, dict) else {"confirmed_at": to_iso(clock.now())}
            clock.advance(timedelta(hours=self.hours_per_task))
            fire_due_timers(self.db, self.case_number, runtime)
            with self.db.transaction() as session:
                if name in load_case(session, runtime, self.case_number).case.waiting_messages():
                    services.send_message(session, runtime, self.case_number, name, payload)
            return True
        if upcoming.deadline is not None:
            clock.advance_to(upcoming.deadline + timedelta(seconds=1))
            fire_due_timers(self.db, self.case_number, runtime)
            return True
        return False

    def _next(self, runtime: Runtime) -> _Next:
        with self.db.reading() as session:
            case = load_case(session, runtime, self.case_number).case
            tasks = case.ready_tasks()
            if tasks:
                task = tasks[0]
                taken = case.last_user_of(task.four_eyes_with) if task.four_eyes_with else None
                visit = self.visits.get(task.element_id, 0)
                self.visits[task.element_id] = visit + 1
                answer = self.answer_for(task, visit, case.bundle, case.sample_evaluator(task.id))
                return _Next(task=task, user=user_for(task, taken), answer=answer)
            messages = case.waiting_messages()
            if messages:
                return _Next(message=messages[0])
            timers = case.pending_timers()
            return _Next(deadline=timers[0].deadline) if timers else _Next()

    def answer_for(self, task: HumanTask, visit: int, bundle: ProcessBundle,
                   evaluate: Callable[[str], Any] | None = None) -> dict[str, Any]:
        """The form's defaults (those taken from the case through ``evaluate``, as ``baozhuang try`` takes them:
        ``runner.sample_answers``), overridden by the answer given for the element (a list answers visit by
        visit)."""
        defaults = default_instance(bundle.form(task.form_schema)) if task.form_schema else {}
        if task.form_schema and isinstance(defaults, dict):
            defaults = with_case_samples(bundle.form(task.form_schema), defaults, evaluate)
        given = self.answers.get(task.element_id)
        if isinstance(given, list) and given:
            given = given[min(visit, len(given) - 1)]
        return {**(defaults if isinstance(defaults, dict) else {}), **(given or {})}


def user_for(task: HumanTask, taken: str | None) -> str:
    """``<role>.<n>``: the first user of the task's role who is not barred by a four-eyes rule."""
    role = task.role or "staff"
    for number in range(1, 10):
        user = f"{role}.{number}"
        if user != taken:
            return user
    raise AssertionError(f"no user left for {task.element_id}")


def drive_case_to_end(db: Db, case_number: str, answers: dict[str, Any] | None = None, *,
                      hours_per_task: float = 2.0, restart_every_step: bool = False) -> DriveResult:
    """Answer every open task with its form defaults (overridden by ``answers``, keyed by element id), deliver the
    messages the case waits for and fire its timers, until the case completes. See ``CaseDriver``."""
    return CaseDriver(db, case_number, answers, hours_per_task=hours_per_task,
                      restart_every_step=restart_every_step).run()


def run_cli(db: Db, instance: Path, *args: str, catch_exceptions: bool = True) -> Result:
    """``baozhuang ARGS`` in process against the test database (each command closes its own connection pool)."""
    env = {"DATABASE_URL": db.url, "BAOZHUANG_INSTANCE": str(instance)}
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=catch_exceptions)
