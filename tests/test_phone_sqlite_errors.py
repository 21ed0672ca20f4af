"""``runner.sqlite_statements``: driver errors become SQLAlchemy's exceptions through public API only, with the
statement's parameters, for single and many-row statements, and a busy database is an ``OperationalError`` that a
caller can retry in a new transaction."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy import Column, MetaData, String, Table, event, insert, select
from sqlalchemy.exc import IntegrityError, OperationalError

import runner.sqlite_statements as sqlite_statements
from runner import schema
from runner.database import READ_ONLY, make_engine, session_factory
from runner.models import Job
from runner.sqlite_statements import DriverStatement

JOBS = cast(Table, Job.__table__)
COLUMNS = ("kind", "case_id", "task_id", "element_id", "due_at", "status", "attempts")


def _job(task: str, case_id: int) -> dict[str, Any]:
    return {"kind": "timer", "case_id": case_id, "task_id": task, "element_id": None, "due_at": datetime.now(UTC),
            "status": "pending", "attempts": 0}


def test_no_private_sqlalchemy_api() -> None:
    source = Path(sqlite_statements.__file__).read_text(encoding="utf-8")
    assert "_handle_dbapi_exception" not in source


def test_errors_carry_statement_and_parameters(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'e.sqlite3'}"
    schema.upgrade(url)
    engine = make_engine(url)
    add = DriverStatement(insert(JOBS), COLUMNS)
    with pytest.raises(IntegrityError) as one, session_factory(engine).begin() as session:
        add.execute(session, _job("一", case_id=99))
    assert one.value.statement == add._compiled[id(engine.dialect)].sql
    assert one.value.params is not None and "一" in one.value.params
    assert isinstance(one.value.orig, sqlite3.IntegrityError)
    assert one.value.__cause__ is one.value.orig
    with pytest.raises(IntegrityError) as many, session_factory(engine).begin() as session:
        add.executemany(session, [_job("a", case_id=99), _job("b", case_id=99)])
    assert isinstance(many.value.params, list) and len(many.value.params) == 2
    with session_factory(engine).begin() as session:  # nothing half-written, the engine still usable
        assert session.scalar(select(Job.id)) is None
    engine.dispose()


def test_busy_database_is_an_operational_error_and_a_retry_succeeds(tmp_path: Path) -> None:
    path = tmp_path / "busy.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    notes = Table("notes", MetaData(), Column("text", String, nullable=False))
    notes.create(engine)
    seen: list[Any] = []
    event.listen(engine, "handle_error", lambda context: seen.append(context.original_exception))
    add = DriverStatement(insert(notes), ("text",))
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another writer holds the write lock
    sessions = session_factory(engine)
    with pytest.raises(OperationalError) as busy, sessions.begin() as session:
        connection = session.connection(execution_options=READ_ONLY)  # deferred BEGIN: the lock is asked at INSERT
        connection.exec_driver_sql("PRAGMA busy_timeout=0")
        add.execute(session, {"text": "t"})
    assert "locked" in str(busy.value) and len(seen) == 1
    other.execute("ROLLBACK")
    other.close()
    with sessions.begin() as session:  # the caller's retry: a new transaction
        add.execute(session, {"text": "t"})
    with sessions.begin() as session:
        assert session.scalars(select(notes.c.text)).all() == ["t"]
    engine.dispose()


def test_a_failed_statement_is_not_run_again_to_raise_its_error(tmp_path: Path) -> None:
    """The error goes through SQLAlchemy without the statement running twice: here the driver fails a statement
    that would succeed (a disk error), and nothing is written."""
    engine = make_engine(f"sqlite:///{tmp_path / 'once.sqlite3'}")
    notes = Table("notes", MetaData(), Column("text", String, nullable=False))
    notes.create(engine)
    add = DriverStatement(insert(notes), ("text",))
    calls: list[str] = []

    def failing(sql: str, parameters: Any) -> Any:
        calls.append(sql)
        raise sqlite3.OperationalError("disk I/O error")

    sessions = session_factory(engine)
    with pytest.raises(OperationalError) as failed, sessions.begin() as session:
        connection, _driver, compiled = add._for(session)
        sqlite_statements._run(connection, failing, compiled, compiled.parameters({"text": "t"}))
    assert "disk I/O error" in str(failed.value) and len(calls) == 1
    with sessions.begin() as session:
        assert session.scalars(select(notes.c.text)).all() == []
    engine.dispose()
