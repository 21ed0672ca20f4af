"""The SQL statements a piece of work runs, for tests that read their query plans."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from tests.db import Db


def statements_run(db: Db, work: Callable[[Session], object]) -> list[tuple[str, Any]]:
    """Every statement (SQL and parameters) that ``work`` runs in a reading session of ``db``."""
    statements: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        statements.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", capture)
    try:
        with db.reading() as session:
            work(session)
    finally:
        event.remove(db.engine, "before_cursor_execute", capture)
    return statements
