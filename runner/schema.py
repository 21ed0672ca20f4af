"""``baozhuang db upgrade``: Alembic migrations shipped inside the runner package."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision`` (the newest by default)."""
    command.upgrade(alembic_config(url), revision)


@cache
def head() -> str:
    """The newest revision shipped (what ``upgrade`` brings a database to); read once per process, as the web app
    compares it on every ``/healthz``."""
    from alembic.script import ScriptDirectory

    revision = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    if revision is None:
        raise RuntimeError(f"no migrations under {MIGRATIONS}")
    return revision


@cache
def shipped_revisions() -> frozenset[str]:
    """Every schema revision this baozhuang's migrations know (read once per process)."""
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return frozenset(script.revision for script in scripts.walk_revisions())


def current(url: str) -> str | None:
    """The revision the database is at (None for an empty database)."""
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import create_engine

    engine = create_engine(url)
    with engine.connect() as connection:
        revision: str | None = MigrationContext.configure(connection).get_current_revision()
    engine.dispose()
    return revision


def model_differences(connection: Any) -> list[Any]:
    """What Alembic's autogenerate finds between the database on ``connection`` and the models: empty when the
    migrations made what the models say. Indexes the models give only PostgreSQL (``POSTGRESQL_ONLY_INDEXES``, by
    ``Index.ddl_if``, which autogenerate does not read) are left out on other databases."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    import runner.accounts  # noqa: F401  (the account tables join Base.metadata)
    from runner.models import POSTGRESQL_ONLY_INDEXES, Base

    elsewhere = connection.dialect.name != "postgresql"

    def include(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        return not (elsewhere and type_ == "index" and name in POSTGRESQL_ONLY_INDEXES)

    context = MigrationContext.configure(connection, opts={"include_object": include})
    differences: list[Any] = compare_metadata(context, Base.metadata)
    return differences
