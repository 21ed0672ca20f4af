"""Fewer round trips per transaction, no weaker guarantees (docs/runner.md, "Round trips per transaction").

On PostgreSQL a save is two statements: the case row with everything that follows it but the events (open-task rows,
name pieces, drafts, timer jobs, a completion's request row), and the event log's append (lock the head, insert,
move the head). A completion reads its task, its locked case row and its request id in one statement on both
databases. These tests hold the guarantees those statements had before: one verified chain with several writers,
timer jobs cancelled and added exactly as before, nothing written by a refused save, a request id taken once, and
a bound on the statements of a completion."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, cast

import pytest
from sqlalchemy import event, func, select, update

from runner import audit, services
from runner.case import CaseEvent, PendingTimer
from runner.clock import to_iso
from runner.models import Case as CaseRow
from runner.models import ChainHead, Event, Job, OpenTask, OpenTaskNameGram
from runner.sqlite_statements import DriverStatement
from runner.store import ConflictError, load_case, save_case, sync_timer_jobs
from tests.db import START, Db, case_row, complete, drive_case_to_end, form_defaults, open_task, open_tasks, start


def _events(label: str, count: int) -> list[CaseEvent]:
    """Events with text the hash must take byte for byte: Chinese, quotes, an empty and a missing data."""
    data: list[dict[str, Any] | None] = [{"备注": f"{label} “引号” \\ \"x\"", "n": 1.5}, None, {}]
    return [CaseEvent(element_id=f"{label}_{i}", name=f"步骤 {label}", lifecycle="completed",
                      at=to_iso(START + timedelta(seconds=i)), task_id=None, role="经理", user=f"用户{label}",
                      data=data[i % len(data)]) for i in range(count)]


def _chain_holds(db: Db) -> list[Event]:
    """The whole log, after checking that it verifies and that the head points at its last row."""
    with db.reading() as session:
        result = audit.verify(session)
        log = list(session.scalars(select(Event).order_by(Event.id)))
        head = session.get(ChainHead, 1)
    assert (result.ok, result.problems, result.checked) == (True, [], len(log))
    assert head is not None and (head.last_hash, head.last_event_id) == (log[-1].hash, log[-1].id)
    return log


def test_an_appender_waits_for_the_head_and_chains_on_what_the_other_left(db: Db) -> None:
    """The head stays locked until the transaction ends: a second appender waits, then links to the first's last
    event (a head read before the first committed would fork the chain)."""
    start(db)  # some events before, and the head row exists
    first_appended, second_began = threading.Event(), threading.Event()
    finished: dict[str, float] = {}

    def first() -> None:
        with db.transaction() as session:
            audit.append(session, None, "FIRST", _events("a", 3))
            first_appended.set()
            assert second_began.wait(30)
            time.sleep(0.5)  # the second is waiting now (PostgreSQL: for the head; SQLite: for the write lock)
            finished["first"] = time.monotonic()

    def second() -> None:
        assert first_appended.wait(30)
        second_began.set()
        with db.transaction() as session:
            audit.append(session, None, "SECOND", _events("b", 2))
        finished["second"] = time.monotonic()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert set(finished) == {"first", "second"}
    assert finished["second"] > finished["first"]  # it waited for the first transaction
    log = _chain_holds(db)
    assert [e.case_number for e in log[-5:]] == ["FIRST"] * 3 + ["SECOND"] * 2
    assert log[-2].prev_hash == log[-3].hash


def test_many_concurrent_appenders_make_one_verified_chain(db: Db) -> None:
    writers, rounds = 4, 6
    barrier = threading.Barrier(writers, timeout=30)
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            barrier.wait()
            for i in range(rounds):
                with db.transaction() as session:
                    audit.append(session, None, f"W{n}", _events(f"{n}.{i}", 1 + (n + i) % 3))
        except BaseException as err:  # the test reports it
            errors.append(err)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    log = _chain_holds(db)
    assert len(log) == sum(1 + (n + i) % 3 for n in range(writers) for i in range(rounds))
    for n in range(writers):  # each transaction's events stay together, in order
        mine = [e.element_id for e in log if e.case_number == f"W{n}"]
        assert mine == [f"{n}.{i}_{k}" for i in range(rounds) for k in range(1 + (n + i) % 3)]


def test_stored_events_are_what_was_appended(db: Db) -> None:
    """The arrays the PostgreSQL statement takes store the same values as the multi-row INSERT does."""
    appended = _events("c", 3)
    with db.transaction() as session:
        audit.append(session, None, "C-1", appended)
    log = _chain_holds(db)
    assert log[0].prev_hash == audit.GENESIS  # the first append ever creates the head
    assert [(e.element_id, e.activity, e.lifecycle, e.role, e.user, e.data, e.at) for e in log] == [
        (a.element_id, a.name, a.lifecycle, a.role, a.user, a.data, datetime.fromisoformat(a.at).astimezone(UTC))
        for a in appended]


# -- timer jobs ----------------------------------------------------------------------------------------------------


def _bare_case(db: Db) -> int:
    with db.transaction() as session:
        row = CaseRow(case_number="TIMERS-1", version_id=db.version_id, status="running", revision=0, state=b"",
                      created_at=START, updated_at=START, summary={})
        session.add(row)
        session.flush()
        return row.id


def _sync(db: Db, case_id: int, *task_ids: str, fired: tuple[str, ...] = ()) -> list[tuple[Any, ...]]:
    """Sync the timer jobs of a case whose waiting timers are ``task_ids`` (and which fired the timers ``fired``);
    every timer job of the case after."""
    timers = [PendingTimer(task_id, f"el_{task_id}", "", START + timedelta(days=ord(task_id[0]) - 96))
              for task_id in task_ids]
    loaded = SimpleNamespace(case=SimpleNamespace(pending_timers=lambda: timers, fired_timers=set(fired)),
                             row=SimpleNamespace(id=case_id), written=None)
    with db.transaction() as session:
        sync_timer_jobs(session, cast(Any, loaded))
        return [tuple(row) for row in session.execute(
            select(Job.task_id, Job.element_id, Job.due_at, Job.status, Job.attempts)
            .where(Job.case_id == case_id, Job.kind == "timer").order_by(Job.id))]


def test_timer_jobs_are_cancelled_and_added_as_before(db: Db) -> None:
    """Pending jobs of timers no longer waiting are cancelled; a waiting timer that never had a job gets one; a
    timer that had one (of any status) gets no second; jobs of other statuses are left alone."""
    case_id = _bare_case(db)

    def due(task_id: str) -> datetime:
        return START + timedelta(days=ord(task_id) - 96)

    assert _sync(db, case_id, "a", "b") == [("a", "el_a", due("a"), "pending", 0),
                                            ("b", "el_b", due("b"), "pending", 0)]
    with db.transaction() as session:  # the worker ran b's job
        session.execute(update(Job).where(Job.task_id == "b").values(status="done"))
    assert _sync(db, case_id, "b", "c") == [("a", "el_a", due("a"), "cancelled", 0),
                                            ("b", "el_b", due("b"), "done", 0),
                                            ("c", "el_c", due("c"), "pending", 0)]
    assert _sync(db, case_id, "c") == _sync(db, case_id, "c")  # nothing to do: nothing changes
    assert _sync(db, case_id) == [("a", "el_a", due("a"), "cancelled", 0), ("b", "el_b", due("b"), "done", 0),
                                  ("c", "el_c", due("c"), "cancelled", 0)]
    assert _sync(db, case_id, "a", "d")[-1] == ("d", "el_d", due("d"), "pending", 0)
    assert db.count(Job, Job.task_id == "a") == 1 and db.count(Job, Job.status == "pending") == 1
    # d fired in another transaction than the worker's (a completion ran the engine past its deadline): done
    assert _sync(db, case_id, "e", fired=("d",))[-2:] == [("d", "el_d", due("d"), "done", 0),
                                                          ("e", "el_e", due("e"), "pending", 0)]


# -- the case row and its open tasks -----------------------------------------------------------------------------


def test_a_refused_save_deletes_no_open_task_and_appends_nothing(db: Db) -> None:
    """PostgreSQL writes the case row and deletes the rows of tasks no longer ready in one statement: when the
    revision check refuses the write, nothing is deleted either (seen inside the transaction, before rollback)."""
    number = start(db, customer_name="王小明")
    task = open_task(db, number, "accept_application")
    answer = form_defaults(db, task)
    with db.reading() as session:  # rolled back at the end
        pieces = session.scalar(select(func.count()).select_from(OpenTaskNameGram)
                                .where(OpenTaskNameGram.task_id == task.id))
        events_before = session.scalar(select(func.count()).select_from(Event))
        loaded = load_case(session, db.runtime, number)
        loaded.case.complete_task(task.id, answer, "am.1")
        session.execute(update(CaseRow).where(CaseRow.id == loaded.row.id)  # someone else's write
                        .values(revision=CaseRow.revision + 1).execution_options(synchronize_session=False))
        with pytest.raises(ConflictError):
            save_case(session, db.runtime, loaded)
        assert session.scalar(select(OpenTask.id).where(OpenTask.id == task.id)) == task.id
        assert pieces and session.scalar(select(func.count()).select_from(OpenTaskNameGram)
                                         .where(OpenTaskNameGram.task_id == task.id)) == pieces
        assert session.scalar(select(func.count()).select_from(Event)) == events_before
    complete(db, number, "accept_application", user="am.1")  # the case goes on
    assert "accept_application" not in [t.element_id for t in open_tasks(db, number)]
    with db.reading() as session:
        assert session.scalar(select(func.count()).select_from(OpenTaskNameGram)
                              .where(OpenTaskNameGram.task_id == task.id)) == 0


# -- how many statements ---------------------------------------------------------------------------------------------


@contextmanager
def statements(db: Db) -> Iterator[list[str]]:
    """Every statement sent to the database: through SQLAlchemy, and (SQLite) straight to the driver
    (``runner.sqlite_statements``; an ``executemany`` counts once)."""
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(" ".join(statement.split()))

    event.listen(db.engine, "before_cursor_execute", count)
    DriverStatement.executed = lambda statement: seen.append(" ".join(statement.split()))
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
        DriverStatement.executed = None


COMPLETION_STATEMENTS = {"postgresql": 3, "sqlite": 15}
"""A completion that adds one open task, withdraws one timer and arms another (accept_application of hv_ordinary).
PostgreSQL: the task with its case row (locked) and the earlier request's id; the case row with the request row, open
tasks, pieces, drafts and timer jobs; the events (was 14). SQLite: BEGIN IMMEDIATE, the same first read, the request
row, the case row, the three deletes, the open task, its pieces, the head's lock, the events, the head's move, the
jobs read, cancel and insert (was 17)."""


def test_a_completion_takes_a_bounded_number_of_statements(db: Db) -> None:
    number = start(db)
    task = open_task(db, number, "accept_application")
    answer = form_defaults(db, task)
    with statements(db) as seen, db.transaction() as session:
        services.complete_task(session, db.runtime, task.id, answer, "am.1", "counted-request")
    ours = [s for s in seen if not any(word in s for word in ("customer_archive", "outbox", "SAVEPOINT"))]
    assert len(ours) <= COMPLETION_STATEMENTS[db.kind], "\n".join(ours)  # (handlers' own rows not counted)
    if db.kind == "postgresql":
        assert sum("chain_head" in s for s in ours) == 1 and not any(s.startswith("SELECT jobs") for s in ours)


def test_sqlite_sets_the_indexed_case_columns_only_when_they_change(db: Db) -> None:
    """SQLite rewrites an index entry whenever its column is SET (``store._INDEXED_CASE_COLUMNS``): a completion
    that leaves status and category as they are does not set them; the save that completes the case sets the
    status, and the row holds what every save meant."""
    if db.kind != "sqlite":
        pytest.skip("PostgreSQL writes the row in its save statement (runner.postgres_statements)")
    number = start(db)
    category = case_row(db, number).category  # set by the start's save (it was empty)
    task = open_task(db, number, "accept_application")
    with statements(db) as seen, db.transaction() as session:
        services.complete_task(session, db.runtime, task.id, form_defaults(db, task), "am.1", "unchanged")
    written = [s for s in seen if s.startswith("UPDATE cases")]
    assert len(written) == 1 and "status=" not in written[0] and "category=" not in written[0], written
    assert "state=" in written[0] and "revision=" in written[0]
    drive_case_to_end(db, number)
    row = case_row(db, number)
    assert category and (row.status, row.category) == ("completed", category) and row.completed_at is not None


def test_a_repeated_request_is_answered_without_writing(db: Db) -> None:
    number = start(db)
    first = complete(db, number, "accept_application", user="am.1", request_id="again")
    with statements(db) as seen, db.transaction() as session:
        again = services.complete_task(session, db.runtime, first.task_id, {}, "am.1", "again")
    assert (again.repeated, again.case_number) == (True, number)
    reads = [s for s in seen if s.startswith("SELECT")]
    assert len(reads) == 2 and len(seen) == len(reads) + (db.kind == "sqlite"), seen  # (SQLite: BEGIN IMMEDIATE)


def test_one_request_id_on_two_cases_at_once_completes_one(db: Db) -> None:
    """The idempotency row goes in with the case row (PostgreSQL: one statement); a request id taken by a
    concurrent completion still makes the second a conflict that changes nothing."""
    numbers = [start(db), start(db)]
    tasks = [open_task(db, number, "accept_application") for number in numbers]
    answer = form_defaults(db, tasks[0])
    first_done, second_began = threading.Event(), threading.Event()
    outcome: dict[str, Any] = {}

    def first() -> None:
        with db.transaction() as session:
            services.complete_task(session, db.new_runtime(), tasks[0].id, answer, "am.1", "same-request")
            first_done.set()
            assert second_began.wait(30)
            time.sleep(0.5)  # the second is waiting now (PostgreSQL: for the request id; SQLite: for the write lock)
        outcome["first"] = "done"

    def second() -> None:
        assert first_done.wait(30)
        second_began.set()
        try:
            with db.transaction() as session:
                services.complete_task(session, db.new_runtime(), tasks[1].id, answer, "am.1", "same-request")
            outcome["second"] = "done"
        except ConflictError as err:
            outcome["second"] = err

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert outcome["first"] == "done" and isinstance(outcome["second"], ConflictError), outcome
    if db.kind == "postgresql":  # it read before the first committed, and met its row at the write
        assert "being completed concurrently" in str(outcome["second"])
    assert [case_revision(db, number) for number in numbers] == [2, 1]
    assert "accept_application" in [t.element_id for t in open_tasks(db, numbers[1])]


def case_revision(db: Db, number: str) -> int:
    with db.reading() as session:
        return int(session.scalar(select(CaseRow.revision).where(CaseRow.case_number == number)) or 0)
