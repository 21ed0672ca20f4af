"""Schema revision 0008 (``process_version_activations``) going back to 0007, on SQLite and PostgreSQL.

0007 has no place for a rollback (its current version is the newest row, and upgrading again backfills one
activation per version): a downgrade that would forget one refuses, naming it, unless the operator says to forget
(``BAOZHUANG_DOWNGRADE_FORGET_ROLLBACKS=yes``: ``tests/test_deploy_versions.py`` checks what is forgotten then).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import select

from runner import schema
from runner.database import make_engine
from runner.models import VersionActivation
from tests.db import PROCESSES, Db
from tests.test_deploy_versions import changed_copy, current_id, deploy_as

FORGET = "BAOZHUANG_DOWNGRADE_FORGET_ROLLBACKS"


def activations(db: Db) -> list[tuple[int, int | None, str]]:
    with db.reading() as session:
        rows = session.scalars(select(VersionActivation).order_by(VersionActivation.id)).all()
        return [(row.version_id, row.previous_version_id, row.activated_by) for row in rows]


def downgrade_to_0007(db: Db) -> None:
    """On a connection of our own: a refused downgrade leaves no pooled connection behind."""
    db.engine.dispose()
    engine = make_engine(db.url)
    try:
        with engine.begin() as connection:
            config = schema.alembic_config(db.url)
            config.attributes["connection"] = connection
            command.downgrade(config, "0007")
    finally:
        engine.dispose()


def test_a_downgrade_that_would_forget_a_rollback_refuses_naming_it_and_changes_nothing(
        db: Db, process_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(FORGET, raising=False)
    newer = deploy_as(db, changed_copy(process_copy), "analyst").version.id
    deploy_as(db, PROCESSES, "owner")  # rolled back to the first version
    before = activations(db)

    with pytest.raises(RuntimeError) as refused:
        downgrade_to_0007(db)

    message = str(refused.value)
    assert message.startswith("downgrade to 0007 refused: schema 0007 keeps no rollbacks"), message
    assert f"version {db.version_id} made current again on " in message
    assert f"by owner, replacing version {newer}" in message
    assert (f"new cases would start on version {newer} (the newest) instead of version {db.version_id}, "
            "the current one") in message
    assert f"set {FORGET}=yes" in message
    assert schema.current(db.url) == schema.head()  # refused as a whole: the newer revisions stay too
    assert activations(db) == before and current_id(db) == db.version_id


def test_a_downgrade_without_rollbacks_goes_through_and_upgrading_again_loses_nothing(
        db: Db, process_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(FORGET, raising=False)
    newer = deploy_as(db, changed_copy(process_copy), "analyst").version.id
    before = activations(db)

    downgrade_to_0007(db)
    assert schema.current(db.url) == "0007"
    schema.upgrade(db.url)

    assert activations(db)[-len(before):] == before == [(newer, db.version_id, "analyst")]
    assert current_id(db) == newer

