"""Concurrent completions of one task, on SQLite and PostgreSQL: the threads queue on the case row's lock, and each
one that waited must judge the task by what the writers before it committed (on PostgreSQL, READ COMMITTED re-reads
only the locked row: the task and request rows joined to it must be read again).

To make every completion wait, the test holds the case row's lock while the threads start and lets go once they
all wait for it (PostgreSQL: seen in ``pg_stat_activity``; SQLite: its writers queue at ``BEGIN IMMEDIATE``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import func, select, text

from runner import services
from runner.models import Case as CaseRow
from runner.models import CompletionRequest, Event
from runner.store import ConflictError
from tests.db import Db, case_row, complete, events, open_task, open_tasks, start
from tests.test_services import run_together

THREADS = 4
ACCEPT = {"decision": "accept", "one_certificate": False, "commitment_signed": False, "contract_signed": False}
WAIT_GUARD_SECONDS = 30.0
"""Only keeps a broken test from hanging: nothing measures how long anything takes."""


def _waiting_for_locks(db: Db) -> int:
    with db.engine.connect() as connection:
        return int(connection.scalar(text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"))
            or 0)


@contextmanager
def case_locked_until_waited(db: Db, case_number: str, waiters: int) -> Iterator[Callable[[], None]]:
    """Hold the case row's lock; the yielded function lets go once ``waiters`` transactions wait for a lock
    (PostgreSQL; SQLite's transactions wait at BEGIN, which cannot be seen, so it lets go at once)."""
    release = threading.Event()

    def hold() -> None:
        with db.transaction() as session:
            session.execute(select(CaseRow.id).where(CaseRow.case_number == case_number).with_for_update())
            holding.set()
            release.wait(WAIT_GUARD_SECONDS)

    holding = threading.Event()
    holder = threading.Thread(target=hold)
    holder.start()
    assert holding.wait(WAIT_GUARD_SECONDS)

    def let_go() -> None:
        if db.kind == "postgresql":
            give_up = time.monotonic() + WAIT_GUARD_SECONDS
            while _waiting_for_locks(db) < waiters and time.monotonic() < give_up:
                time.sleep(0.02)
        release.set()

    try:
        yield let_go
    finally:
        release.set()
        holder.join(WAIT_GUARD_SECONDS)


def complete_all_at_once(db: Db, number: str, request_ids: list[str], users: list[str]) -> list[Any]:
    """Each thread completes the acceptance task (own runtime, as separate processes would); results or errors."""
    task = open_task(db, number, "accept_application")
    started = threading.Barrier(THREADS + 1, timeout=WAIT_GUARD_SECONDS)

    def work(i: int) -> services.Completion:
        runtime = db.new_runtime()
        started.wait()
        with db.transaction() as session:
            return services.complete_task(session, runtime, task.id, ACCEPT, users[i], request_ids[i])

    with case_locked_until_waited(db, number, THREADS) as let_go:
        results: list[Any] = []
        runner = threading.Thread(target=lambda: results.extend(run_together(THREADS, work)))
        runner.start()
        started.wait()
        let_go()
        runner.join(2 * WAIT_GUARD_SECONDS)
    assert not runner.is_alive(), "the completions hung"
    return results


def test_one_request_id_sent_four_times_at_once_completes_once_and_repeats_the_answer(db: Db) -> None:
    number = start(db)
    task = open_task(db, number, "accept_application")
    results = complete_all_at_once(db, number, ["req-same"] * THREADS, ["am.1"] * THREADS)

    assert all(isinstance(result, services.Completion) for result in results), results
    assert sorted(result.repeated for result in results) == [False] + [True] * (THREADS - 1)
    assert {(result.case_number, result.task_id) for result in results} == {(number, task.id)}
    assert case_row(db, number).revision == 2  # started, then one completion
    assert db.count(CompletionRequest) == 1
    assert [e.user for e in events(db, number) if e.task_id == task.id and e.lifecycle == "completed"] == ["am.1"]
    assert "site_survey" in {t.element_id for t in open_tasks(db, number)}


def test_four_request_ids_at_once_one_completes_the_others_learn_who_did(db: Db) -> None:
    number = start(db)
    task = open_task(db, number, "accept_application")
    users = [f"am.{i + 1}" for i in range(THREADS)]
    results = complete_all_at_once(db, number, [f"req-{user}" for user in users], users)

    winners = [result for result in results if isinstance(result, services.Completion)]
    losers = [result for result in results if not isinstance(result, services.Completion)]
    assert len(winners) == 1 and winners[0].repeated is False, results
    with db.reading() as session:
        winner = session.scalar(select(CompletionRequest.user))
        assert session.scalar(select(func.count()).select_from(Event).where(
            Event.task_id == task.id, Event.lifecycle == "completed")) == 1
    assert all(isinstance(loser, ConflictError) for loser in losers), losers
    assert {str(loser) for loser in losers} == {f"task {task.id} is no longer open: {winner} completed it"}
    assert case_row(db, number).revision == 2


def test_claim_and_completion_losers_are_told_the_same_words(db: Db) -> None:
    """A claim that comes after someone completed the task, and a completion that comes after someone claimed it,
    get the words the completion race gives (who completed it; "already claimed by")."""
    number = start(db)
    task = open_task(db, number, "accept_application")
    with db.transaction() as session:
        services.claim_task(session, task.id, "am.1", now=db.clock.now())
    with db.transaction() as session, pytest.raises(ConflictError) as claimed:
        services.complete_task(session, db.runtime, task.id, {}, "am.2", request_id="req-am.2")
    assert str(claimed.value) == f"task {task.id} is already claimed by am.1"
    complete(db, number, "accept_application", user="am.1")
    with db.transaction() as session, pytest.raises(ConflictError) as late:
        services.claim_task(session, task.id, "am.3", now=db.clock.now())
    assert str(late.value) == f"task {task.id} is no longer open: am.1 completed it"
