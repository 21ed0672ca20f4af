"""``runner.sqlite_statements``: statements run on the SQLite driver store what ``session.execute`` stores, in the
session's transaction, and fail with SQLAlchemy's exceptions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy import Table, bindparam, create_engine, delete, event, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from runner import schema
from runner.database import make_engine, session_factory
from runner.environment import CommandEnvironment, DatabaseUnavailable
from runner.models import Case as CaseRow
from runner.models import Event, Job, ProcessVersion
from runner.sqlite_statements import DriverStatement, in_json_list, json_list

EVENTS = cast(Table, Event.__table__)
JOBS = cast(Table, Job.__table__)
CASES = cast(Table, CaseRow.__table__)
EVENT_COLUMNS = ("case_id", "case_number", "task_id", "element_id", "activity", "lifecycle", "role", "user", "at",
                 "data", "prev_hash", "hash")
BEIJING = timezone(timedelta(hours=8))


@pytest.fixture
def sessions(tmp_path: Path) -> Any:
    url = f"sqlite:///{tmp_path / 'driver.sqlite3'}"
    schema.upgrade(url)
    engine = make_engine(url)
    factory = session_factory(engine)
    with factory.begin() as session:
        version = ProcessVersion(version_hash="v", files={}, spec_json="{}", deployed_at=datetime.now(UTC),
                                 deployed_by="test")
        session.add(version)
        session.flush()
        session.add(CaseRow(case_number="C-1", version_id=version.id, status="running", revision=0, state=b"",
                            created_at=datetime.now(UTC), updated_at=datetime.now(UTC), summary={}))
    yield factory
    engine.dispose()


def _event(n: int, data: Any, task: str = "t") -> dict[str, Any]:
    return {"case_id": 1, "case_number": "C-1", "task_id": f"{task}{n}", "element_id": "e", "activity": "活动",
            "lifecycle": "completed", "role": None, "user": "u", "at": datetime(2026, 11, 26, 9, n, tzinfo=BEIJING),
            "data": data, "prev_hash": "0", "hash": f"{task}{n}"}


def test_rows_written_on_the_driver_read_back_as_through_sqlalchemy(sessions: Any) -> None:
    """Dates (aware → naive UTC), JSON (None as JSON null, nested, Chinese text) and plain values: the same stored
    text whichever way they were written."""
    values = [{"nested": {"名": "张三", "list": [1, 2.5, None, True]}}, None, [], "text"]
    with sessions.begin() as session:
        DriverStatement(insert(EVENTS), EVENT_COLUMNS).executemany(
            session, [_event(n, data) for n, data in enumerate(values)])
        session.execute(insert(EVENTS), [_event(n, data, "s") for n, data in enumerate(values)])
    with sessions.begin() as session:
        raw = session.connection().exec_driver_sql("SELECT task_id, at, data FROM events ORDER BY id").all()
        loaded = session.execute(select(Event.at, Event.data).order_by(Event.id)).all()
    assert [(at, data) for _task, at, data in raw[:4]] == [(at, data) for _task, at, data in raw[4:]]
    assert raw[0].at.startswith("2026-11-26 01:00:00")  # 09:00 in Beijing, stored as naive UTC
    assert raw[1].data == "null"
    assert [row.data for row in loaded[:4]] == values
    assert loaded[0].at == datetime(2026, 11, 26, 1, 0, tzinfo=UTC)


def test_statements_run_in_the_sessions_transaction(sessions: Any) -> None:
    add = DriverStatement(insert(JOBS), ("kind", "case_id", "task_id", "element_id", "due_at", "status", "attempts"))
    job = {"kind": "timer", "case_id": 1, "task_id": "t", "element_id": "e", "due_at": datetime.now(UTC),
           "status": "pending", "attempts": 0}
    with pytest.raises(RuntimeError), sessions.begin() as session:
        add.execute(session, job)
        assert session.scalar(select(Job.task_id)) == "t"  # the ORM sees it: same connection, same transaction
        raise RuntimeError("roll back")
    with sessions.begin() as session:
        assert session.scalar(select(Job.task_id)) is None
        add.execute(session, job)
    with sessions.begin() as session:
        assert session.scalar(select(Job.task_id)) == "t"


def test_fixed_values_json_lists_and_returning(sessions: Any) -> None:
    add = DriverStatement(insert(JOBS), ("kind", "case_id", "task_id", "element_id", "due_at", "status", "attempts"))
    cancel = DriverStatement(update(JOBS).where(JOBS.c.kind == "timer", in_json_list(JOBS.c.task_id, "ids"))
                             .values(status="cancelled"))
    drop = DriverStatement(delete(JOBS).where(~in_json_list(JOBS.c.task_id, "keep")).returning(JOBS.c.task_id))
    with sessions.begin() as session:
        add.executemany(session, [{"kind": kind, "case_id": 1, "task_id": task, "element_id": None,
                                   "due_at": datetime.now(UTC), "status": "pending", "attempts": 0}
                                  for kind, task in (("timer", "a"), ("timer", "b"), ("retry", "c"), ("timer", "d"))])
        assert cancel.execute(session, {"ids": json_list(["a", "c", "x"])}).rowcount == 1
        assert sorted(row[0] for row in drop.execute(session, {"keep": json_list(["a", "b"])}).fetchall()) == ["c", "d"]
        assert drop.execute(session, {"keep": json_list([])}).fetchall() != []
    with sessions.begin() as session:
        assert session.scalars(select(Job.task_id)).all() == []


def test_driver_errors_are_sqlalchemys(sessions: Any) -> None:
    add = DriverStatement(insert(JOBS), ("kind", "case_id", "task_id", "element_id", "due_at", "status", "attempts"))
    job = {"kind": "timer", "case_id": 1, "task_id": "t", "element_id": None, "due_at": datetime.now(UTC),
           "status": "pending", "attempts": 0}
    with pytest.raises(IntegrityError), sessions.begin() as session:  # (kind, case, task) is unique
        add.executemany(session, [job, job])
    with pytest.raises(IntegrityError), sessions.begin() as session:  # no such case: foreign keys are on
        add.execute(session, {**job, "case_id": 99})
    revised = DriverStatement(update(CASES).where(CASES.c.id == bindparam("row_id"), CASES.c.revision == 5)
                              .values(revision=6))
    with sessions.begin() as session:
        assert revised.execute(session, {"row_id": 1}).rowcount == 0


def test_driver_errors_go_through_the_engines_error_handling(tmp_path: Path) -> None:
    """As for ``session.execute``: the engine's ``hide_parameters`` keeps values (a customer's name) out of the
    message, its ``handle_error`` listeners see the error, and a command's engine turns a read-only database into
    its one-line ``DatabaseUnavailable``."""
    url = f"sqlite:///{tmp_path / 'errors.sqlite3'}"
    schema.upgrade(url)
    add = DriverStatement(insert(JOBS), ("kind", "case_id", "task_id", "element_id", "due_at", "status", "attempts"))
    job = {"kind": "timer", "case_id": 99, "task_id": "张三的任务", "element_id": None, "due_at": datetime.now(UTC),
           "status": "pending", "attempts": 0}
    seen: list[str] = []
    engine = make_engine(url, hide_parameters=True)
    event.listen(engine, "handle_error", lambda context: seen.append(context.statement))
    with pytest.raises(IntegrityError) as failed, session_factory(engine).begin() as session:
        add.execute(session, job)  # no such case: foreign keys are on
    assert "张三" not in str(failed.value) and "hidden due to hide_parameters" in str(failed.value)
    assert seen == [add._compiled[id(engine.dialect)].sql]
    engine.dispose()

    environment = CommandEnvironment(url=f"sqlite:///file:{tmp_path / 'errors.sqlite3'}?mode=ro&uri=true",
                                     instance=tmp_path)
    environment.check_connection()
    with pytest.raises(DatabaseUnavailable) as refused, environment.sessions.begin() as session:
        add.execute(session, {**job, "case_id": 1})
    assert "is read-only" in str(refused.value) and refused.value.params is None
    environment.dispose()


def test_what_it_refuses(sessions: Any) -> None:
    with pytest.raises(RuntimeError, match="Python-side default"), sessions.begin() as session:
        DriverStatement(insert(JOBS), ("kind", "case_id", "task_id", "due_at")).execute(session, {})  # status, attempts
    other = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    with pytest.raises(RuntimeError, match="SQLite only"), Session(other) as session:
        session.connection = lambda: type("C", (), {"dialect": other.dialect})()  # type: ignore[method-assign]
        DriverStatement(select(Job.id)).execute(session, {})
