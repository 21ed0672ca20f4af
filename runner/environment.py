"""Where the durable runner's things live on this host: database URL and instance folder, from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from .database import database_url, make_engine, session_factory
from .store import Runtime


@dataclass
class Environment:
    """``DATABASE_URL`` (default: SQLite in the instance folder); ``BAOZHUANG_INSTANCE`` (default ``instance``)."""

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
        return Runtime(cache_dir=self.instance / "versions")
