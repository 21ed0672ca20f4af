"""全部岗位 (``TaskFilter.include_claimed``: every task of every lane, also those others hold) on SQLite and
PostgreSQL: the same pages and totals as one plain scan of ``task_list._task_query`` whatever the filter, and, with
``ix_open_tasks_claimed`` (docs/decisions.md, 91), no statement that walks every claimed task or the whole table; a
customer-name search reads the tasks others hold through the lane's name pieces like the lane's queue."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import pytest

from runner import services, task_list
from runner.services import TaskFilter
from tests.db import Db
from tests.statements import statements_run
from tests.test_task_name_search import LANES, add_tasks, fragments, plain_like_scan

CLAIMED_INDEX = ("CREATE INDEX IF NOT EXISTS ix_open_tasks_claimed ON open_tasks "
                 "(lane, due_at, id, assignee, category) WHERE assignee IS NOT NULL")
"""The index 全部岗位 needs (bench/bench_task_list.py ``CLAIMED_INDEX``); created here while no migration has it."""


def team(user: str = "supervisor.1", **filters: Any) -> TaskFilter:
    return TaskFilter(user, LANES, include_claimed=True, **filters)


@pytest.mark.parametrize("threshold", [None, 3], ids=["default", "lane-read-above-3"])
def test_every_lane_shows_what_a_plain_scan_shows(db: Db, threshold: int | None,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    if threshold is not None:  # most lanes then read in list order instead of through the name pieces
        monkeypatch.setitem(task_list.NAME_PIECE_CANDIDATES, db.kind, threshold)
    rows = add_tasks(db, 320, seed=11)
    held = sum(1 for row in rows if row["assignee"] is not None)
    shapes = [team(), team("surveyor.1"), team(category="hv_ordinary"), team("installer.1", overdue=True),
              TaskFilter("surveyor.1", ("surveyor", "installer"), include_claimed=True)]
    checked = matched_held = 0
    for number, search in enumerate([None, None, None, *fragments(rows, seed=13)]):
        flt = replace(shapes[number % len(shapes)], search=search)
        for page, size in ((1, 50), (2, 7)):
            with db.reading() as session:
                got = services.list_tasks(session, db.runtime, flt, page, size)
            expected_ids, expected_total = plain_like_scan(db, flt, page, size)
            assert ([task.id for task in got.items], got.total) == (expected_ids, expected_total), flt
            checked += 1
            matched_held += any(task.assignee not in (None, flt.user) for task in got.items)
    assert held >= 40 and checked >= 100 and matched_held >= 30  # tasks others hold were really listed


def plans(db: Db, flt: TaskFilter) -> list[str]:
    """SQLite's plan lines of every statement ``list_tasks`` runs for ``flt``."""
    statements = statements_run(db, lambda session: services.list_tasks(session, db.runtime, flt))
    lines = []
    raw = db.engine.raw_connection()
    try:
        for statement, parameters in statements:
            lines += [row[-1] for row in raw.cursor().execute(f"EXPLAIN QUERY PLAN {statement}", parameters)]
    finally:
        raw.close()
    return lines


def test_every_lane_reads_indexes_only(db: Db) -> None:
    if db.kind != "sqlite":
        pytest.skip("SQLite's plans, which do not depend on statistics; PostgreSQL's are in bench/README.md")
    rows = add_tasks(db, 320, seed=17)
    with db.transaction() as session:
        session.connection().exec_driver_sql(CLAIMED_INDEX)
    whole_scans = re.compile(r"^SCAN open_tasks\b|ix_open_tasks_mine \(assignee>\?\)")
    for flt in (team(), team(category="hv_ordinary"), team(overdue=True)):
        lines = plans(db, flt)
        assert not [line for line in lines if whole_scans.search(line)], (flt, lines)
        assert any("ix_open_tasks_claimed" in line for line in lines), lines
    name = next(row["customer_name"] for row in rows if row["assignee"] and row["customer_name"])
    lines = plans(db, team(search=name[:2]))  # few tasks hold its pieces: every lane is read through them
    assert not [line for line in lines if whole_scans.search(line) or "ix_open_tasks_claimed" in line], lines
