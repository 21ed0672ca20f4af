"""Schema revision 0016 (``task_drafts.migration_notice``) down to 0015 and up again, on SQLite and PostgreSQL: the
drafts stay (their notices go with the column), and the schema matches the models at the head."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect

from runner import drafts, schema
from runner.database import make_engine
from runner.models import TaskDraft
from tests.db import Db, open_task, start
from tests.test_teamidx_due_indexes import differences


def draft_columns(db: Db) -> set[str]:
    engine = make_engine(db.url)
    try:
        return {column["name"] for column in inspect(engine).get_columns("task_drafts")}
    finally:
        engine.dispose()


def test_0016_goes_down_to_0015_keeping_the_drafts_and_up_again(db: Db) -> None:
    number = start(db)
    task = open_task(db, number, "accept_application").id
    with db.transaction() as session:
        draft = drafts.save_draft(session, task, "account_manager.1", {"remarks": "写了一半"}, db.clock.now())
        draft.migration_notice = {"values": [{"path": ["gone"], "titles": ["旧字段"], "value": "x", "problem": ""}]}
    db.engine.dispose()
    assert "migration_notice" in draft_columns(db) and differences(db) == []

    command.downgrade(schema.alembic_config(db.url), "0015")
    assert schema.current(db.url) == "0015" and "migration_notice" not in draft_columns(db)
    schema.upgrade(db.url)

    assert schema.current(db.url) == schema.head() == "0016" and differences(db) == []
    with db.reading() as session:
        kept = session.get(TaskDraft, task)
        assert kept is not None and kept.data == {"remarks": "写了一半"} and kept.migration_notice is None
