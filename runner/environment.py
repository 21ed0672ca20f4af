"""Where the durable runner's things live on this host: database URL and instance folder, from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from pathlib import Path

import click
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from .clock import Clock, SystemClock
from .database import database_url, make_engine, session_factory
from .store import Runtime

CLOCK_OFFSET_VARIABLE = "BAOZHUANG_CLOCK_OFFSET_DAYS"


class OffsetClock:
    """The system clock shifted by a fixed offset (tests: a worker process that sees deadlines as passed)."""

    def __init__(self, offset: timedelta) -> None:
        self.offset = offset

    def now(self) -> datetime:
        return SystemClock().now() + self.offset


def clock_from_env() -> Clock:
    """The system clock, shifted by ``BAOZHUANG_CLOCK_OFFSET_DAYS`` days (may be fractional) when set: for tests
    and demos only — every process of a database must then use the same offset."""
    days = os.environ.get(CLOCK_OFFSET_VARIABLE)
    return OffsetClock(timedelta(days=float(days))) if days else SystemClock()


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


def command_environment() -> Environment:
    """The environment for a ``baozhuang`` command; its pool is closed when the command ends."""
    env = Environment.from_env()
    context = click.get_current_context(silent=True)
    if context is not None:
        context.call_on_close(env.dispose)
    return env
