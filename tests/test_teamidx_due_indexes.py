"""Migration 0015: the PostgreSQL-only indexes of 全部岗位 (``models.POSTGRESQL_ONLY_INDEXES``, docs/decisions.md 112):
on PostgreSQL they exist with their columns, go down to 0014 and come back; SQLite never gets them (its planner took
them over the lane indexes); on both the schema matches the models, and 全部岗位 lists what a plain scan lists on
the migrated schema, in its dense name-search read as well."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import inspect, update

from runner import schema, services, task_list
from runner.database import make_engine
from runner.models import POSTGRESQL_ONLY_INDEXES, OpenTask
from runner.services import TaskFilter
from tests.db import Db
from tests.test_task_name_search import LANES, add_tasks, plain_like_scan

COLUMNS = {"ix_open_tasks_due": ["due_at", "id", "lane", "assignee", "category"],
           "ix_open_tasks_category_due": ["category", "due_at", "id", "lane", "assignee"]}


def indexes(db: Db) -> dict[str, list[str]]:
    engine = make_engine(db.url)
    try:
        return {index["name"]: index["column_names"] for index in inspect(engine).get_indexes("open_tasks")}
    finally:
        engine.dispose()


def differences(db: Db) -> list[object]:
    engine = make_engine(db.url)
    try:
        with engine.connect() as connection:
            return schema.model_differences(connection)
    finally:
        engine.dispose()


def test_0015_only_on_postgresql_goes_down_and_up_and_the_models_match(db: Db) -> None:
    add_tasks(db, 40, seed=3)
    db.engine.dispose()
    assert set(COLUMNS) == POSTGRESQL_ONLY_INDEXES
    here = indexes(db)
    if db.kind == "postgresql":
        assert {name: here.get(name) for name in COLUMNS} == COLUMNS
    else:
        assert not set(COLUMNS) & set(here), here
    assert differences(db) == []
    command.downgrade(schema.alembic_config(db.url), "0014")
    assert not set(COLUMNS) & set(indexes(db))
    schema.upgrade(db.url)
    assert schema.current(db.url) == schema.head() and indexes(db) == here and differences(db) == []


@pytest.mark.parametrize("threshold", [None, 2], ids=["default", "dense-above-2"])
def test_every_lane_searched_for_one_or_two_characters(db: Db, threshold: int | None,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Both reads of a short name fragment in 全部岗位 (through the name pieces when few tasks hold it, else in
    list order with the pieces' count), mine in lanes outside the groups included, against a plain scan."""
    if threshold is not None:
        monkeypatch.setitem(task_list.NAME_PIECE_CANDIDATES, db.kind, threshold)
        monkeypatch.setitem(task_list.TEAM_NAME_CANDIDATES, db.kind, threshold)
    rows = add_tasks(db, 240, seed=19)
    elsewhere = [row["id"] for row in rows if row["lane"] == "account_manager" and row["customer_name"]][:20]
    with db.transaction() as session:  # surveyor.1 holds tasks of a lane outside LANES[:2]
        session.execute(update(OpenTask).where(OpenTask.id.in_(elsewhere)).values(assignee="surveyor.1"))
    names = [row["customer_name"] for row in rows if row["customer_name"]]
    searches = sorted({name[at:at + n] for name in names[:25] for n in (1, 2) for at in (0, len(name) - n)})
    shapes = [TaskFilter("supervisor.1", LANES, include_claimed=True),
              TaskFilter("surveyor.1", LANES[:2], include_claimed=True),  # surveyor.1 also holds tasks elsewhere
              TaskFilter("supervisor.1", LANES, include_claimed=True, category="hv_ordinary")]
    listed = mine_elsewhere = 0
    for number, search in enumerate(searches):
        flt = TaskFilter(**{**shapes[number % len(shapes)].__dict__, "search": search})
        for page, size, bound in ((1, 50, None), (2, 3, None), (1, 5, 4)):
            with db.reading() as session:
                got = services.list_tasks(session, db.runtime, flt, page, size, count_bound=bound)
            ids, total = plain_like_scan(db, flt, page, size)
            assert [task.id for task in got.items] == ids, (flt, page)
            assert got.total == (total if bound is None else min(total, bound + 1)), (flt, bound)
            listed += len(ids)
            mine_elsewhere += sum(task.id in elsewhere for task in got.items)
    assert len(searches) >= 30 and listed >= 200 and mine_elsewhere >= 5
