"""SQLite: a save's statements run on the driver directly, in the session's own transaction.

On SQLite the statements of a save cost less to run than SQLAlchemy's work around each call (building the
execution context, processing parameters, wrapping the cursor): about 55 µs per statement in all, of which the
driver takes about 15. ``DriverStatement`` compiles a Core statement once for the session's SQLite dialect and then
hands the SQL text and the parameters, converted by the columns' own bind processors (``UtcDateTime`` to naive
UTC, JSON to text …), straight to ``sqlite3`` on the connection the session has open. The SQL, the stored values and
the transaction are the ones ``session.execute`` would have used; driver errors are raised as SQLAlchemy's
exceptions (``IntegrityError`` …), as ``session.execute`` raises them. SQLAlchemy's cursor events do not see these
statements (tests count them through ``DriverStatement.executed``), and the ORM does not flush before them: callers
run them on rows they wrote with Core or flushed.

Only statements with a fixed set of parameters can be compiled once: a list of ids goes in as one JSON text read
back by ``json_each`` (``in_json_list``) instead of an expanding ``IN``. PostgreSQL has its own one-statement save
(``runner.postgres_statements``).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from operator import itemgetter
from typing import Any, cast

from sqlalchemy import ColumnElement, Connection, Dialect, bindparam, event, func, select
from sqlalchemy.dialects.sqlite.base import SQLiteDialect
from sqlalchemy.engine.interfaces import ExecutionContext
from sqlalchemy.orm import Session
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler


def in_json_list(column: ColumnElement[Any], name: str) -> ColumnElement[bool]:
    """``column IN (the values of the JSON array in parameter name)``: a list of any length as one parameter (pass
    ``json_list(values)``)."""
    values = func.json_each(bindparam(name)).table_valued("value")
    return column.in_(select(values.c.value))


def json_list(values: Iterable[str]) -> str:
    """The parameter of ``in_json_list``."""
    return json.dumps(list(values))


class DriverStatement:
    """A Core statement compiled once for SQLite and run through ``sqlite3`` on the session's connection."""

    executed: Callable[[str], None] | None = None
    """Called with the SQL of every execution (tests count statements with it)."""

    def __init__(self, statement: ClauseElement, column_keys: Sequence[str] | None = None) -> None:
        self.statement = statement
        self.column_keys = list(column_keys) if column_keys else None
        self._compiled: dict[int, _Compiled] = {}

    def execute(self, session: Session, values: Mapping[str, Any]) -> sqlite3.Cursor:
        """Run once; the cursor holds the rows of a query or of RETURNING (fetch them all: SQLite finishes a
        statement only when its last row has been read)."""
        connection, driver, compiled = self._for(session)
        cursor: sqlite3.Cursor = _run(connection, driver.execute, compiled, compiled.parameters(values))
        return cursor

    def executemany(self, session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run once per row (no RETURNING)."""
        if not rows:
            return
        connection, driver, compiled = self._for(session)
        _run(connection, driver.executemany, compiled, [compiled.parameters(row) for row in rows])

    def _for(self, session: Session) -> tuple[Connection, sqlite3.Connection, _Compiled]:
        """The session's connection, its driver connection (the transaction begun here if it has not begun yet)
        and the statement compiled for its dialect (once per dialect object: the engine's JSON serializer, if it
        set one)."""
        connection = session.connection()
        dialect = connection.dialect
        compiled = self._compiled.get(id(dialect))
        if compiled is None or compiled.dialect is not dialect:
            if dialect.name != "sqlite":
                raise RuntimeError(f"DriverStatement runs on SQLite only, not on {dialect.name}")
            compiled = self._compiled[id(dialect)] = _Compiled(self.statement, self.column_keys, dialect)
        driver: sqlite3.Connection = connection.connection.driver_connection  # type: ignore[assignment]
        return connection, driver, compiled


class _Compiled:
    """A statement's SQL for one dialect, its parameters in order with their bind processors, and the values fixed
    when it was built (``values(status="cancelled")``, ``kind == "timer"``)."""

    def __init__(self, statement: ClauseElement, column_keys: list[str] | None, dialect: Dialect) -> None:
        compiled = cast(SQLCompiler, statement.compile(dialect=dialect, column_keys=column_keys))
        if compiled.positiontup is None:
            raise RuntimeError("DriverStatement needs a dialect with positional parameters")
        if compiled.insert_prefetch or compiled.update_prefetch:  # values SQLAlchemy computes in Python per call
            raise RuntimeError("DriverStatement takes no column with a Python-side default or onupdate")
        self.dialect = dialect
        self.sql = compiled.string
        binds = [compiled.binds[name] for name in compiled.positiontup]
        self.names = tuple(compiled.positiontup)
        self.processors = tuple(bind.type.dialect_impl(dialect).bind_processor(dialect) for bind in binds)
        self.fixed = {name: bind.value for name, bind in zip(self.names, binds, strict=True)
                      if not bind.required and bind.callable is None}
        self._processed = tuple((position, process) for position, process in enumerate(self.processors)
                                if process is not None)
        names = self.names
        self._take: Callable[[Mapping[str, Any]], Any] = (
            itemgetter(*names) if len(names) > 1 else lambda values: tuple(values[name] for name in names))
        """The values in parameter order, as a tuple (``itemgetter`` in C: a save builds hundreds of rows)."""

    def parameters(self, values: Mapping[str, Any]) -> tuple[Any, ...]:
        """The driver's parameters: each value (or the fixed one) through its column type's processor, which takes
        None too (a JSON column stores None as JSON null, as ``session.execute`` does)."""
        if self.fixed:
            values = {**self.fixed, **values}
        taken = self._take(values)
        if not self._processed:
            return cast(tuple[Any, ...], taken)
        converted = list(taken)
        for position, process in self._processed:
            converted[position] = process(converted[position])
        return tuple(converted)


_FAILED = "baozhuang_driver_error"
"""The execution option that carries a driver error to ``_raise_replayed`` (see ``_run``)."""


def _run(connection: Connection, method: Callable[[str, Any], Any], compiled: _Compiled, parameters: Any) -> Any:
    """``method`` (the driver's ``execute`` or ``executemany``) on the statement's SQL, told to
    ``DriverStatement.executed``; the driver's errors go through the connection's own error handling, as those of
    ``session.execute`` do: wrapped as SQLAlchemy's exceptions (``sqlalchemy.exc.IntegrityError``,
    ``OperationalError`` for a busy database …), parameters left out of the message when the engine hides them, the
    engine's ``handle_error`` listeners asked (a full or read-only database becomes ``DatabaseUnavailable`` in the
    commands), a lost connection invalidated.

    All of that lives inside SQLAlchemy's execution, so a failed statement is replayed through public API: the same
    SQL and parameters go to ``Connection.exec_driver_sql`` with the error in an execution option, and the dialect's
    ``do_execute`` / ``do_executemany`` listener (``_raise_replayed``) raises it instead of running the statement
    again; SQLAlchemy then handles it as the error of that execution. Nothing runs twice, and only a failing
    statement pays for the replay (cursor events see it: it is one more execution, of the statement that failed).
    ``tests/test_sqlite_statements.py`` checks each of these."""
    if DriverStatement.executed is not None:
        DriverStatement.executed(compiled.sql)
    try:
        return method(compiled.sql, parameters)
    except sqlite3.Error as err:
        connection.exec_driver_sql(compiled.sql, parameters, execution_options={_FAILED: err})
        raise  # not reached: the replay raises SQLAlchemy's exception


def _raise_replayed(cursor: Any, statement: str, parameters: Any, context: ExecutionContext) -> bool:
    """The SQLite dialect's ``do_execute`` / ``do_executemany`` listener: raise the driver error that ``_run``
    replays; any other execution runs as usual (False)."""
    failed = context.execution_options.get(_FAILED)
    if failed is not None:
        raise failed
    return False


# on the dialect class, when this module is imported (before any engine runs a statement): every SQLite engine's
# dialect has it, and no listener is added while other threads execute
for _name in ("do_execute", "do_executemany"):
    event.listen(SQLiteDialect, _name, _raise_replayed)
