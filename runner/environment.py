"""Where the durable runner's things live on this host: database URL and instance folder, from the environment."""

from __future__ import annotations

import math
import os
import re
import shutil
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import NoReturn

import click
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, event
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from .clock import Clock, SystemClock
from .database import database_url, make_engine, session_factory
from .schema import head, shipped_revisions
from .store import Runtime

CLOCK_OFFSET_VARIABLE = "BAOZHUANG_CLOCK_OFFSET_DAYS"
MAX_CLOCK_OFFSET_DAYS = 36500.0
"""The largest clock offset accepted, either way (a century; far larger ones overflow the date arithmetic)."""
SUPPORTED_BACKENDS = ("sqlite", "postgresql")


class SettingError(ValueError):
    """A ``BAOZHUANG_*`` environment variable holds a value the runner cannot use; the message names the variable
    and the value, e.g. ``BAOZHUANG_WEBHOOK_TIMEOUT must be a positive number of seconds …, got 'abc'``."""


class OffsetClock:
    """The system clock shifted by a fixed offset (tests: a worker process that sees deadlines as passed)."""

    def __init__(self, offset: timedelta) -> None:
        self.offset = offset

    def now(self) -> datetime:
        return SystemClock().now() + self.offset


def clock_from_env() -> Clock:
    """The system clock, shifted by ``BAOZHUANG_CLOCK_OFFSET_DAYS`` days (may be fractional) when set: for tests
    and demos only — every process of a database must then use the same offset.

    Raises:
        SettingError: The offset is not a number of days within ±``MAX_CLOCK_OFFSET_DAYS``.
    """
    days = os.environ.get(CLOCK_OFFSET_VARIABLE)
    if not days:
        return SystemClock()
    try:
        offset = float(days)
    except ValueError:
        offset = math.nan
    if not -MAX_CLOCK_OFFSET_DAYS <= offset <= MAX_CLOCK_OFFSET_DAYS:  # NaN and infinities fail here too
        raise SettingError(f"{CLOCK_OFFSET_VARIABLE} must be a number of days (between {-MAX_CLOCK_OFFSET_DAYS:g} "
                           f"and {MAX_CLOCK_OFFSET_DAYS:g}; tests and demos only), got {days!r}")
    return OffsetClock(timedelta(days=offset))


@dataclass
class Environment:
    """``DATABASE_URL`` (default: SQLite in the instance folder); ``BAOZHUANG_INSTANCE`` (default ``instance``);
    ``BAOZHUANG_CLOCK_OFFSET_DAYS`` (tests only: ``clock_from_env``)."""

    url: str
    instance: Path

    @classmethod
    def from_env(cls) -> Environment:
        instance = Path(os.environ.get("BAOZHUANG_INSTANCE", "instance"))
        instance.mkdir(parents=True, exist_ok=True)
        sqlite = f"sqlite:///{(instance / 'baozhuang.sqlite3').resolve()}"
        url = database_url() if os.environ.get("DATABASE_URL") else sqlite
        return cls(url=url, instance=instance)

    @cached_property
    def engine(self) -> Engine:
        return make_engine(self.url)

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        return session_factory(self.engine)

    @cached_property
    def runtime(self) -> Runtime:
        return Runtime(cache_dir=self.instance / "versions", clock=clock_from_env())

    def dispose(self) -> None:
        """Close the connection pool, if one was opened (a command calls this when it ends)."""
        if "engine" in self.__dict__:
            self.engine.dispose()


def fail(message: str) -> NoReturn:
    """End a ``baozhuang`` command with one ``error:`` line on stderr, exit 1."""
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


class CommandRefused(click.ClickException):
    """A ``baozhuang`` command cannot run as set up; shown as one ``error: …`` line (exit 1) instead of a
    traceback."""

    def show(self, file: object = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


class DatabaseNotReady(CommandRefused):
    """The command's database cannot be used: an unsupported URL, no connection, or not the shipped schema.

    Shown as one ``error: …`` line (exit 1) instead of a traceback; URLs in the message have their password masked.
    """


class DatabaseUnavailable(OperationalError, DatabaseNotReady):
    """A command's statement failed because the database cannot do what it asked: it is read-only, full, or the
    connection went away (``database_problem``). Raised instead of the driver's error by the command engine, so that
    click shows one ``error: …`` line (exit 1) and never the statement or its parameters (a password hash, a token
    hash, a process spec). Still an ``OperationalError``: code that outlives such an error (the worker's loop,
    which logs one line and tries again) catches it as before."""

    def __init__(self, problem: str, orig: BaseException, *, connection_invalidated: bool = False) -> None:
        super().__init__(None, None, orig, hide_parameters=True, connection_invalidated=connection_invalidated)
        self.problem = problem

    def format_message(self) -> str:
        return self.problem

    def __str__(self) -> str:
        return self.problem


class CommandEnvironment(Environment):
    """The environment of one ``baozhuang`` command, whose database is checked once, when the command starts.

    ``command_environment`` connects (so a bad ``DATABASE_URL`` fails before anything is done) and reads the schema
    revision. The revision must be the shipped head only once the command opens sessions: ``db upgrade`` needs just
    the URL and works on an empty database, every other command needs the tables.
    """

    revision: str | None = None

    def check_connection(self) -> None:
        """Open the database once and remember its schema revision; the connection goes back to the pool."""
        shown = masked_url(self.url)
        try:
            backend = make_url(self.url).get_backend_name()
        except ArgumentError:
            message = f"DATABASE_URL {shown!r}: not a database URL (use sqlite:/// or postgresql://)"
            raise DatabaseNotReady(message) from None
        if backend not in SUPPORTED_BACKENDS:
            raise DatabaseNotReady(f"DATABASE_URL {shown}: unsupported database (use sqlite:/// or postgresql://)")
        try:
            with self.engine.connect() as connection:
                self.revision = MigrationContext.configure(connection).get_current_revision()
        except (ArgumentError, ImportError) as err:  # a driver named in the URL that is not installed
            raise DatabaseNotReady(f"DATABASE_URL {shown}: cannot load the database driver: {err}") from None
        except DBAPIError as err:  # read-only or full (as every later statement says it), else unreachable
            problem = database_problem(err, f"the database at {shown}", self.url)
            if problem is None or problem.startswith("cannot connect to "):
                problem = f"cannot connect to {shown}: {driver_reason(err, self.url)}"
            raise DatabaseNotReady(problem) from None
        if self.revision is not None and self.revision not in shipped_revisions():
            # written by a newer baozhuang: no command of this one, ``db upgrade`` included, may touch it
            raise DatabaseNotReady(f"the database at {shown} is at schema revision {self.revision}, which this "
                                   f"baozhuang does not know (newest here: {head()}); install the newer baozhuang")

    def check_schema(self) -> None:
        """Refuse a database without the shipped schema revision, naming what to do about it."""
        shown = masked_url(self.url)
        if self.revision == head():
            return
        found = f"is at the older schema revision {self.revision}" if self.revision else "has no schema yet"
        raise DatabaseNotReady(f"the database at {shown} {found}; run `baozhuang db upgrade`")

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        self.check_schema()
        return session_factory(self.engine)

    @cached_property
    def engine(self) -> Engine:
        """The engine of a command: statement parameters are never shown (a failed ``INSERT INTO users`` would print
        the password hash), and a database that is read-only, full or gone is one ``error:`` line
        (``DatabaseUnavailable``) in every command, whichever statement met it."""
        engine = make_engine(self.url, hide_parameters=True)
        event.listen(engine, "handle_error", self._unavailable)
        return engine

    def _unavailable(self, context: ExceptionContext) -> DatabaseUnavailable | None:
        error = context.sqlalchemy_exception
        if context.is_pre_ping or not isinstance(error, DBAPIError):  # a stale pooled connection: the pool reconnects
            return None
        problem = database_problem(error, f"the database at {masked_url(self.url)}", self.url)
        if problem is None:
            return None
        return DatabaseUnavailable(problem, context.original_exception, connection_invalidated=context.is_disconnect)


def masked_url(url: str) -> str:
    """``url`` as it may be printed: the password replaced by ``***`` (also in text that is no URL at all)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return re.sub(r":[^:@/]*@", ":***@", url)


def driver_reason(err: DBAPIError, url: str | None = None) -> str:
    """The driver's own reason for a failed connection, on one line; the password of ``url`` (the URL connected
    to) masked as ``***`` wherever the driver repeated it (a DSN echoed in its message). SQLite's "unable to open
    database file" gets the likely causes, as it names none itself."""
    text = str(err.orig) if err.orig is not None else str(err)
    reason = " ".join(line.strip() for line in text.splitlines() if line.strip()) or type(err.orig).__name__
    try:
        parsed = make_url(url) if url else None
    except ArgumentError:
        parsed = None
    password = parsed.password if parsed is not None else None
    if "unable to open database file" in reason and parsed is not None and parsed.database:
        folder = Path(parsed.database.removeprefix("file:").partition("?")[0]).parent
        reason += f" (does the folder {folder} exist, and may this user write to it? SQLite creates files beside " \
                  "the database)"
    return reason.replace(str(password), "***") if password else reason


READ_ONLY_MESSAGES = ("attempt to write a readonly database", "readonly database")
FULL_MESSAGES = ("database or disk is full", "no space left on device")
READ_ONLY_SQLSTATES = ("25006",)  # read_only_sql_transaction: a hot standby, default_transaction_read_only
FULL_SQLSTATES = ("53100", "53200", "53400")  # disk_full, out_of_memory, configuration_limit_exceeded
SHUTDOWN_SQLSTATES = ("57P01", "57P02", "57P03")  # admin_shutdown, crash_shutdown, cannot_connect_now
SQLITE_IO_ERROR = "disk i/o error"
MIN_FREE_BYTES = 1024 * 1024
"""Below this much free space beside a SQLite file, its "disk I/O error" is taken for a full disk."""


def sqlite_free_bytes(url: str | None) -> tuple[Path, int] | None:
    """The folder of a SQLite file database and the bytes free on its disk; None for another database, an
    in-memory one, or a folder that cannot be measured."""
    try:
        parsed = make_url(url) if url else None
    except ArgumentError:
        return None
    if parsed is None or parsed.get_backend_name() != "sqlite" or not parsed.database \
            or parsed.database == ":memory:":
        return None
    folder = Path(parsed.database.removeprefix("file:").partition("?")[0]).parent
    try:
        return folder, shutil.disk_usage(folder).free
    except OSError:
        return None


def database_problem(err: DBAPIError, where: str, url: str | None = None) -> str | None:
    """What a failed statement says about the database itself, as one line, or None for a failure of the statement
    (a constraint, a lock, a bug). ``where`` names the database as the line's subject (``the database at <URL>``):

    - read-only (SQLite's file or folder, a PostgreSQL standby): ``<where> is read-only (<reason>)``;
    - full (disk or database): ``<where> cannot store data: the disk or the database is full (<reason>)``;
    - gone (unreachable, connection lost, server shutting down): ``cannot connect to <where>: <reason>``.

    The reason is the driver's (``driver_reason``: one line, no password); statements and parameters never appear.
    """
    message = str(err.orig).lower() if err.orig is not None else ""
    sqlstate = getattr(err.orig, "sqlstate", None) or ""
    reason = driver_reason(err, url)
    if any(text in message for text in READ_ONLY_MESSAGES) or sqlstate in READ_ONLY_SQLSTATES:
        return f"{where} is read-only ({reason})"
    if any(text in message for text in FULL_MESSAGES) or sqlstate in FULL_SQLSTATES:
        return f"{where} cannot store data: the disk or the database is full ({reason})"
    if SQLITE_IO_ERROR in message:  # SQLite cannot create its -wal/-shm files on a full disk: it says only this
        space = sqlite_free_bytes(url)
        if space is not None and space[1] < MIN_FREE_BYTES:
            return (f"{where} cannot store data: the disk or the database is full ({reason}; {space[1]} bytes free "
                    f"in {space[0]})")
    no_server = isinstance(err, OperationalError) and hasattr(err.orig, "sqlstate") and not sqlstate  # psycopg
    gone = (err.connection_invalidated or no_server or sqlstate.startswith("08") or sqlstate in SHUTDOWN_SQLSTATES
            or "unable to open database file" in message)
    return f"cannot connect to {where}: {reason}" if gone else None


def command_environment() -> CommandEnvironment:
    """The environment for a ``baozhuang`` command; its pool is closed when the command ends.

    The database is checked here, once per command: a bad ``DATABASE_URL`` or an unreachable server ends the
    command with one ``error:`` line (``DatabaseNotReady``), as does (on first use of ``sessions``) a database
    without the shipped schema. The web app builds a plain ``Environment`` and is not checked here; ``worker`` is
    checked once, before its first pass. A ``BAOZHUANG_CLOCK_OFFSET_DAYS`` that is not a number of days ends the
    command first, naming the variable (``CommandRefused``).
    """
    try:
        clock_from_env()
    except SettingError as err:
        raise CommandRefused(str(err)) from None
    try:
        base = Environment.from_env()
    except OSError as err:
        raise DatabaseNotReady(f"cannot create the instance folder {err.filename}: {err.strerror or err}") from None
    env = CommandEnvironment(url=base.url, instance=base.instance)
    context = click.get_current_context(silent=True)
    if context is not None:
        context.call_on_close(env.dispose)
    env.check_connection()
    return env
