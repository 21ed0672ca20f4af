"""Searching the task list by a broad case-number prefix (a year, ``q=YK2026``; a month) matches most open tasks.
Reading every match through the case-number index and sorting them cost hundreds of milliseconds at 100,000 open
tasks (and the 工作台 page asks a dozen times, for its tab counts); such a prefix now reads each visible queue in
list order with the prefix as a filter, as the other filters do. A narrow prefix (a case, a day) keeps the index.

The tests check that both ways give the same page, total and step counts, and (SQLite, whose plans are stable
without statistics) that a broad prefix's page is read through the queue index, not the case-number index."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event

from runner import services, task_list
from runner.services import TaskFilter
from tests.db import Db, advance_to, start


@pytest.fixture()
def cases(db: Db) -> list[str]:
    """Six cases over two months: four at 业务受理 (account managers), two at 现场勘查 (surveyors); two of the
    acceptance tasks claimed, one by am.1 and one by am.2."""
    numbers = [start(db, "hv_ordinary", case_number=f"YK2026{month}{day}00000{n}")
               for n, (month, day) in enumerate([("10", "05"), ("10", "20"), ("11", "02"), ("11", "15"),
                                                  ("11", "20"), ("10", "09")])]
    for number in numbers[4:]:
        advance_to(db, number, "site_survey")
    with db.transaction() as session:
        for number, user in ((numbers[1], "am.1"), (numbers[2], "am.2")):
            task = next(t for t in services.case_tasks(session, number) if t.element_id == "accept_application")
            services.claim_task(session, task.id, user, ("account_manager",), now=db.clock.now())
    return numbers


def listing(db: Db, flt: TaskFilter, few: int, monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], int, Any]:
    monkeypatch.setattr(task_list, "FEW_CASE_NUMBERS", few)
    with db.reading() as session:
        page = services.list_tasks(session, db.runtime, flt, 1, 20)
        steps = [(step.element_id, step.count) for step in services.task_steps(session, db.runtime, flt)]
    return [task.case_number for task in page.items], page.total, steps


@pytest.mark.parametrize("prefix", ["YK2026", "yk2026", "YK202611", "YK20261"])
def test_a_broad_prefix_lists_what_the_case_number_index_lists(db: Db, cases: list[str], prefix: str,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    flt = TaskFilter(user="am.1", groups=("account_manager",), search=prefix)
    broad = listing(db, flt, 1, monkeypatch)  # every prefix here is "broad": more than one task has it
    narrow = listing(db, flt, 10**9, monkeypatch)  # the case-number index, as before
    assert broad == narrow
    expected = sorted(number for number in (cases[0], cases[1], cases[3])  # unclaimed, or am.1's own
                      if number.startswith(prefix.upper()))
    assert sorted(broad[0]) == expected and broad[1] == len(expected)
    assert broad[2] == ([("accept_application", len(expected))] if expected else [])


def test_other_filters_still_apply_to_a_broad_prefix(db: Db, cases: list[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    surveyors = TaskFilter(user="sv.1", groups=("surveyor",), search="YK2026", category="hv_ordinary")
    found = listing(db, surveyors, 1, monkeypatch)
    assert found == listing(db, surveyors, 10**9, monkeypatch)
    assert sorted(found[0]) == sorted([cases[4], cases[5]]) and found[2] == [("site_survey", 2)]
    mine = TaskFilter(user="am.2", groups=("account_manager",), search="YK2026", mine_only=True)
    assert listing(db, mine, 1, monkeypatch)[:2] == ([cases[2]], 1)
    nothing = TaskFilter(user="am.1", groups=("account_manager",), search="YK2025")
    assert listing(db, nothing, 1, monkeypatch)[:2] == ([], 0)


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_a_broad_prefix_reads_the_queue_index_not_the_case_number_index(db: Db, cases: list[str],
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(task_list, "FEW_CASE_NUMBERS", 1)
    statements: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, parameters))

    flt = TaskFilter(user="am.1", groups=("account_manager",), search="YK2026")
    with db.reading() as session:
        engine = session.get_bind()
        event.listen(engine, "before_cursor_execute", capture)
        try:
            services.list_tasks(session, db.runtime, flt, 1, 20)
        finally:
            event.remove(engine, "before_cursor_execute", capture)
        pages = [(sql, params) for sql, params in statements if "ORDER BY" in sql]
        assert pages, statements
        for sql, params in pages:
            plan = explain(session, sql, params)
            assert "ix_open_tasks_case_number" not in plan, plan
            assert "ix_open_tasks_queue" in plan, plan


def explain(session: Any, sql: str, params: Any) -> str:
    """SQLite's plan of a captured statement (positional parameters), as one line."""
    cursor = session.connection().connection.driver_connection.cursor()
    rows = cursor.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall()
    return " | ".join(str(row[-1]) for row in rows)
