"""Where the durable runner's things live on this host: database URL and instance folder, from the environment."""

from __future__ import annotations

import math
import os
import re
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import NoReturn

import click
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
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
        except DBAPIError as err:
            raise DatabaseNotReady(f"cannot connect to {shown}: {driver_reason(err, self.url)}") from None
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


def masked_url(url: str) -> str:
    """``url`` as it may be printed: the password replaced by ``***`` (also in text that is no URL at all)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return re.sub(r":[^:@/]*@", ":***@", url)


def driver_reason(err: DBAPIError, url: str | None = None) -> str:
    """The driver's own reason for a failed connection, on one line; the password of ``url`` (the URL connected
    to) masked as ``***`` wherever the driver repeated it (a DSN echoed in its message)."""
    text = str(err.orig) if err.orig is not None else str(err)
    reason = " ".join(line.strip() for line in text.splitlines() if line.strip()) or type(err.orig).__name__
    try:
        password = make_url(url).password if url else None
    except ArgumentError:
        password = None
    return reason.replace(str(password), "***") if password else reason


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
