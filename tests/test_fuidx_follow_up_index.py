"""跟进到期 (``TaskFilter.follow_up_due``) through the follow-up indexes of migration 0014 (docs/decisions.md, 102), on
SQLite and PostgreSQL: the migration goes down and up and leaves the models matching the schema; the filter's pages,
totals and bounded badge counts are those of one plain scan of ``task_list._task_query``, for one lane, several
lanes, every lane's queue and 全部岗位 (claimed tasks too); and every statement of the list and of its badge reads
the lanes' tasks through ``ix_open_tasks_queue_follow_up`` / ``ix_open_tasks_claimed_follow_up``, never a lane's
whole queue or claimed tasks."""

from __future__ import annotations

import random
import re
from dataclasses import replace
from datetime import timedelta
from functools import partial
from typing import Any

import pytest
from alembic import command
from sqlalchemy import inspect, text, update
from sqlalchemy.orm import Session

from runner import schema, services
from runner.database import make_engine
from runner.models import OpenTask
from runner.services import TaskFilter
from tests.db import Db
from tests.statements import statements_run
from tests.test_task_name_search import LANES, add_tasks, plain_like_scan

FOLLOW_UP_INDEXES = {
    "ix_open_tasks_queue_follow_up": "assignee IS NULL",
    "ix_open_tasks_claimed_follow_up": "assignee IS NOT NULL",
}
"""The indexes of migration 0014 and how their predicates start (both end ``AND follow_up_at IS NOT NULL``)."""
COLUMNS = ["lane", "follow_up_at", "due_at", "id", "assignee", "category"]


def index_definitions(db: Db) -> dict[str, str]:
    """Name → the database's own text of each index on ``open_tasks`` (its CREATE statement)."""
    engine = make_engine(db.url)
    try:
        with engine.connect() as connection:
            if db.kind == "sqlite":
                rows = connection.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'index' "
                                               "AND tbl_name = 'open_tasks' AND sql IS NOT NULL"))
            else:
                rows = connection.execute(text("SELECT indexname, indexdef FROM pg_indexes "
                                               "WHERE tablename = 'open_tasks'"))
            return {name: definition for name, definition in rows}
    finally:
        engine.dispose()


def test_0014_goes_down_and_up_and_the_models_match(db: Db) -> None:
    add_follow_up_tasks(db, 60, seed=3)  # rows in the table while the indexes come and go
    db.engine.dispose()
    before = index_definitions(db)
    for name, predicate in FOLLOW_UP_INDEXES.items():
        assert re.search(rf"WHERE \(*{predicate}\)* AND \(*follow_up_at IS NOT NULL", before[name]), before[name]
    command.downgrade(schema.alembic_config(db.url), "0013")
    assert schema.current(db.url) == "0013"
    after_down = index_definitions(db)
    assert not set(FOLLOW_UP_INDEXES) & set(after_down) and "ix_open_tasks_claimed" in after_down

    schema.upgrade(db.url)
    assert schema.current(db.url) == schema.head()
    assert index_definitions(db) == before
    engine = make_engine(db.url)
    try:
        indexes = {index["name"]: index["column_names"] for index in inspect(engine).get_indexes("open_tasks")}
        assert all(indexes[name] == COLUMNS for name in FOLLOW_UP_INDEXES), indexes
        with engine.connect() as connection:
            assert schema.model_differences(connection) == []
    finally:
        engine.dispose()
    flt = TaskFilter("supervisor.1", LANES, include_claimed=True, follow_up_due=True)
    with db.reading() as session:  # the filter still works on the migrated schema
        got = services.list_tasks(session, db.runtime, flt)
    assert ([task.id for task in got.items], got.total) == plain_like_scan(db, flt, 1, 50) and got.total > 0


def add_follow_up_tasks(db: Db, count: int, seed: int, share: float = 0.35) -> list[dict[str, Any]]:
    """``count`` open tasks (``add_tasks``: three lanes, a fifth claimed, ``surveyor.1`` and others holding some),
    ``share`` of them with a follow-up date: some long past, some exactly now (due: ``<=``), some a second later
    and some days ahead (not due). Returns the rows as written, follow-up dates included."""
    rows = add_tasks(db, count, seed=seed)
    rng = random.Random(seed)
    now = db.clock.now()
    offsets = (timedelta(days=-9), timedelta(days=-1), timedelta(hours=-3), timedelta(0), timedelta(seconds=1),
               timedelta(days=2), timedelta(days=30))
    with db.transaction() as session:
        for row in rows:
            if rng.random() < share:
                row["follow_up_at"] = now + rng.choice(offsets)
                session.execute(update(OpenTask).where(OpenTask.id == row["id"])
                                .values(follow_up_at=row["follow_up_at"]))
    return rows


def shapes() -> list[TaskFilter]:
    """跟进到期 over one lane, several lanes, every lane's queue, 全部岗位, and with a category or only my own."""
    due = partial(TaskFilter, follow_up_due=True)
    return [
        due("surveyor.1", ("surveyor",)),
        due("installer.2", ("installer",)),
        due("surveyor.1", ("surveyor", "installer")),
        due("supervisor.1", LANES),
        due("supervisor.1", LANES, include_claimed=True),
        due("surveyor.1", LANES, include_claimed=True),
        due("surveyor.1", LANES, include_claimed=True, category="hv_ordinary"),
        due("account_manager.1", ("account_manager",), category="lv_residential"),
        due("installer.1", ("installer",), mine_only=True),
    ]


def test_follow_up_due_shows_and_counts_what_a_plain_scan_shows(db: Db) -> None:
    rows = add_follow_up_tasks(db, 360, seed=21)
    now = db.clock.now()
    due = [row for row in rows if row["follow_up_at"] is not None and row["follow_up_at"] <= now]
    assert len(due) >= 40 and any(row["follow_up_at"] == now for row in due)
    assert sum(1 for row in due if row["assignee"]) >= 8  # claimed tasks are due too
    totals = []
    for flt in shapes():
        expected_total = plain_like_scan(db, flt, 1, 1)[1]
        for page, size in ((1, 50), (2, 7), (1, 3)):
            with db.reading() as session:
                got = services.list_tasks(session, db.runtime, flt, page, size)
            assert ([task.id for task in got.items], got.total) == plain_like_scan(db, flt, page, size), flt
            assert all(task.follow_up_at is not None and task.follow_up_at <= now for task in got.items)
        for at_most in (10_000, expected_total, max(expected_total - 1, 0), 2):
            with db.reading() as session:
                counted = services.count_tasks(session, db.runtime, flt, at_most)
            assert counted == min(expected_total, at_most + 1), (flt, at_most)
        totals.append(expected_total)
    assert min(totals[:7]) > 0 and totals[4] > totals[3]  # every shape matched; 全部岗位 adds the claimed ones
    with db.transaction() as session:  # nobody's follow-up date has come: nothing, read through the same indexes
        session.execute(update(OpenTask).values(follow_up_at=now + timedelta(days=1)))
    for flt in shapes():
        with db.reading() as session:
            assert services.list_tasks(session, db.runtime, flt).total == 0
            assert services.count_tasks(session, db.runtime, flt, 10_000) == 0


def statements_of(db: Db, flt: TaskFilter) -> list[tuple[str, Any]]:
    """Every statement that ``list_tasks`` and the badge count (``count_tasks``) run for ``flt``."""

    def work(session: Session) -> None:
        services.list_tasks(session, db.runtime, flt)
        services.count_tasks(session, db.runtime, flt, 10_000)

    return statements_run(db, work)


def plan_lines(db: Db, flt: TaskFilter) -> list[str]:
    """The plans of those statements, one line per step (PostgreSQL: planned with sequential scans discouraged,
    as on a large table; the test's table is small)."""
    lines: list[str] = []
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        if db.kind == "postgresql":
            cursor.execute("ANALYZE open_tasks")
            cursor.execute("SET enable_seqscan = off")
        for statement, parameters in statements_of(db, flt):
            cursor.execute(("EXPLAIN QUERY PLAN " if db.kind == "sqlite" else "EXPLAIN ") + statement, parameters)
            lines += [str(row[-1] if db.kind == "sqlite" else row[0]) for row in cursor.fetchall()]
    finally:
        raw.rollback()
        raw.close()
    return lines


READS = {
    "sqlite": re.compile(r"\b(?:SCAN|SEARCH) open_tasks(?: USING (?:COVERING )?INDEX (\w+))?"),
    "postgresql": re.compile(r"(?:Seq Scan on open_tasks|Index Only Scan using (\w+) on open_tasks"
                             r"|Index Scan using (\w+) on open_tasks|Bitmap Index Scan on (\w+))"),
}
"""A read of ``open_tasks`` in a plan line, with the index it goes through (none: a scan of the table)."""
ALLOWED = {*FOLLOW_UP_INDEXES, "ix_open_tasks_mine", "sqlite_autoindex_open_tasks_1", "open_tasks_pkey"}
"""The follow-up indexes; my own tasks (few) by assignee; the page's rows by primary key."""


def indexes_read(db: Db, flt: TaskFilter) -> list[str]:
    """The index of every read of ``open_tasks`` in the plans of ``flt`` ('' for a table scan)."""
    found = []
    for line in plan_lines(db, flt):
        for match in READS[db.kind].finditer(line):
            found.append(next((name for name in match.groups() if name), ""))
    return found


@pytest.mark.parametrize("drop", [False, True], ids=["with-0014", "without-0014"])
def test_follow_up_due_reads_the_follow_up_indexes(db: Db, drop: bool) -> None:
    """With the indexes every lane's tasks are read through them; without (the schema before 0014) the same
    filters read the lanes' queues or claimed tasks whole: what the first case would miss. Few tasks have a
    follow-up date, as in use (and in the bench, where PostgreSQL's plans read only these indexes too)."""
    add_follow_up_tasks(db, 1500, seed=31, share=0.06)
    if drop:
        with db.transaction() as session:
            for name in FOLLOW_UP_INDEXES:
                session.execute(text(f"DROP INDEX {name}"))
    for flt in shapes():
        used = indexes_read(db, flt)
        assert used, flt
        others = [name for name in used if name not in ALLOWED]
        if drop:
            if not flt.mine_only:
                assert others, (flt, used)
            continue
        assert not others, (flt, used)
        lanes_read = {name for name in used if name in FOLLOW_UP_INDEXES}
        if not flt.mine_only:
            assert "ix_open_tasks_queue_follow_up" in lanes_read, (flt, used)
        if flt.include_claimed:
            assert "ix_open_tasks_claimed_follow_up" in lanes_read, (flt, used)
    flt = replace(shapes()[4], follow_up_due=False)  # without the filter nothing reads them
    assert not set(indexes_read(db, flt)) & set(FOLLOW_UP_INDEXES)
