"""Customer-name search in the task list through the name pieces (``open_task_name_grams``), on SQLite and
PostgreSQL: the same pages and totals as a plain ``LIKE '%…%'`` scan for fragments of 1 to 4 characters, the
pieces written and removed with the open-task rows, and migration 0005's backfill."""

from __future__ import annotations

import random
import uuid
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from alembic import command
from sqlalchemy import insert, inspect, select
from sqlalchemy import text as sql_text

from runner import schema, services, task_list
from runner.models import Case as CaseRow
from runner.models import OpenTask, OpenTaskNameGram
from runner.services import TaskFilter
from runner.store import name_gram_rows, name_grams
from tests.db import START, Db, advance_to, open_task, open_tasks, start

LANES = ("surveyor", "installer", "account_manager")
SURNAMES = "王李张刘陈杨黄赵吴周"
GIVEN = "伟芳娜秀英敏静丽强磊军洋"
COMPANY_PARTS = ("北京市", "上海市", "华宏", "鑫盛", "科技", "电子", "有限公司", "集团有限公司")
LATIN = ("Zhang San", "ACME Trading Co.", "Müller GmbH", "STRASSE Straße", "o'Brien 电子")
ESCAPES = ("100%_Power 有限公司", "A_B 商贸", "50% 折扣店", "x%y_z")


def customer(rng: random.Random) -> str | None:
    kind = rng.random()
    if kind < 0.4:
        return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))
    if kind < 0.75:
        return "".join(rng.sample(COMPANY_PARTS[:6], 2)) + rng.choice(COMPANY_PARTS[6:])
    if kind < 0.87:
        return rng.choice(LATIN)
    if kind < 0.95:
        return rng.choice(ESCAPES)
    return None


def add_tasks(db: Db, count: int, seed: int) -> list[dict[str, Any]]:
    """``count`` open tasks with their name pieces, written the way the bench writes them in bulk (the writers of
    the runner are tested below with real cases): a few lanes, some claimed, due dates around the clock's now."""
    rng = random.Random(seed)
    now = db.clock.now()
    with db.transaction() as session:
        case_ids = [session.scalar(insert(CaseRow).returning(CaseRow.id).values(
            case_number=f"NS{seed}{n:04d}", version_id=db.version_id, status="running", state=b"-",
            category=rng.choice(("lv_residential", "hv_ordinary")), created_at=now, updated_at=now))
            for n in range(40)]
        rows = []
        for n in range(count):
            name = customer(rng)
            lane = rng.choice(LANES)
            rows.append({
                "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)), "case_id": rng.choice(case_ids),
                "case_number": f"NS{seed}{n:04d}", "element_id": rng.choice(("site_survey", "install_meter")),
                "name": "step", "lane": lane, "assignee": f"{lane}.1" if rng.random() < 0.2 else None,
                "created_at": now,
                "due_at": None if rng.random() < 0.1 else now + timedelta(hours=rng.randint(-48, 96)),
                "follow_up_at": None, "category": rng.choice(("lv_residential", "hv_ordinary")),
                "customer_name": name, "customer_name_folded": name.casefold() if name else None})
        session.execute(insert(OpenTask), rows)
        session.execute(insert(OpenTaskNameGram), [piece for row in rows for piece in name_gram_rows(
            row["id"], row["lane"], row["customer_name_folded"])])
    return rows


def fragments(rows: list[dict[str, Any]], seed: int) -> list[str]:
    """Fragments of 1, 2, 3 and 4 characters cut from the names at random places (some upper-cased), the LIKE
    wildcards, and fragments nobody has."""
    rng = random.Random(seed)
    names = [row["customer_name"] for row in rows if row["customer_name"]]
    found: list[str] = []
    for length in (1, 2, 3, 4):
        for _ in range(8):
            name = rng.choice([n for n in names if len(n) >= length])
            at = rng.randrange(len(name) - length + 1)
            found.append(name[at:at + length])
    found += ["ZHANG", "acme", "MÜLLER", "STRASSE", "ss", "%", "_", "%_", "0%", "a_b", "x%y_", "100%_p",
              "王秀秀", "无此人", "q", "华宏电子"]
    return found


def plain_like_scan(db: Db, flt: TaskFilter, page: int, size: int) -> tuple[list[str], int]:
    """What the list must show: one ``LIKE '%…%'`` over every visible task (``task_list._task_query``)."""
    with db.reading() as session:
        rows = session.scalars(select(OpenTask).where(task_list._task_query(flt, db.clock.now()))
                               .order_by(OpenTask.due_at.is_(None), OpenTask.due_at, OpenTask.id)).all()
    return [task.id for task in rows[(page - 1) * size:page * size]], len(rows)


@pytest.mark.parametrize("threshold", [None, 3], ids=["default", "lane-read-above-3"])
def test_search_returns_what_a_plain_like_scan_returns(db: Db, threshold: int | None,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Every fragment, visible set and filter gives the pages and total of a plain LIKE scan; with a threshold
    of 3 most queues take the lane read instead of the name pieces, so both reads are checked."""
    if threshold is not None:
        monkeypatch.setitem(task_list.NAME_PIECE_CANDIDATES, db.kind, threshold)
    rows = add_tasks(db, 320, seed=5)
    shapes = [
        TaskFilter("surveyor.1", ("surveyor",)),
        TaskFilter("installer.1", ("installer", "surveyor")),
        TaskFilter("account_manager.1", ("account_manager",), mine_only=True),
        TaskFilter("surveyor.1", ("surveyor", "installer", "account_manager"), category="hv_ordinary"),
        TaskFilter("installer.1", ("installer",), overdue=True),
    ]
    checked = matched = 0
    for number, fragment in enumerate(fragments(rows, seed=7)):
        shape = shapes[number % len(shapes)]
        flt = replace(shape, search=fragment)
        for page, size in ((1, 50), (2, 4)):
            with db.reading() as session:
                got = services.list_tasks(session, db.runtime, flt, page, size)
            expected_ids, expected_total = plain_like_scan(db, flt, page, size)
            assert ([task.id for task in got.items], got.total) == (expected_ids, expected_total), (fragment, flt)
            checked += 1
        matched += expected_total > 0
        # the LIKE scan itself is right: a casefolded substring, wildcards taken literally
        visible = [row for row in rows if row["assignee"] == flt.user or (
            not flt.mine_only and row["lane"] in flt.groups and row["assignee"] is None)]
        folded = fragment.strip().casefold()
        literal = {row["id"] for row in visible if folded in (row["customer_name_folded"] or "")
                   and (not flt.category or row["category"] == flt.category)
                   and (not flt.overdue or (row["due_at"] is not None and row["due_at"] < db.clock.now()))}
        assert expected_total == len(literal), fragment
    assert checked >= 90 and matched >= 30  # the fragments really find tasks


def test_latin_names_match_whatever_the_case_and_wildcards_match_literally(db: Db) -> None:
    number = start(db, "hv_ordinary", customer_name="ACME_100% Trading")
    everyone = TaskFilter("x", ("account_manager",))
    for text in ("acme", "AcMe", "E_1", "100%", "_", "%", "a", "T"):
        with db.reading() as session:
            page = services.list_tasks(session, db.runtime, replace(everyone, search=text))
        assert [task.case_number for task in page.items] == [number], text
    for text in ("e%1", "acme%", "%%", "a%t", "__"):
        with db.reading() as session:
            page = services.list_tasks(session, db.runtime, replace(everyone, search=text))
        assert page.total == 0, text


def pieces_of(db: Db) -> set[tuple[str, str, str]]:
    with db.reading() as session:
        return {(row.gram, row.lane, row.task_id) for row in session.scalars(select(OpenTaskNameGram))}


def expected_pieces(db: Db) -> set[tuple[str, str, str]]:
    with db.reading() as session:
        tasks = session.scalars(select(OpenTask)).all()
    return {(piece["gram"], piece["lane"], piece["task_id"]) for task in tasks
            for piece in name_gram_rows(task.id, task.lane, task.customer_name_folded)}


def found(db: Db, text: str, lanes: tuple[str, ...]) -> set[str]:
    with db.reading() as session:
        page = services.list_tasks(session, db.runtime, TaskFilter("nobody", lanes, search=text))
    return {task.case_number for task in page.items}


def test_pieces_come_and_go_with_the_open_tasks(db: Db) -> None:
    wang = start(db, "lv_residential", customer_name="王小明")
    acme = start(db, "hv_ordinary", customer_name="国网示例科技有限公司")
    assert pieces_of(db) == expected_pieces(db) and len(pieces_of(db)) > 20
    assert {gram for gram, _, _ in pieces_of(db)} >= {"王", "小明", "国网", "示", "有限"}
    assert found(db, "国网", ("account_manager",)) == {acme}
    assert found(db, "王", ("account_manager",)) == {wang}

    first = open_task(db, acme, "accept_application")
    advance_to(db, acme, "site_survey")  # the acceptance task ends, the survey opens in another lane
    assert pieces_of(db) == expected_pieces(db)
    assert not any(task_id == first.id for _, _, task_id in pieces_of(db))
    assert found(db, "国网", ("account_manager",)) == set()
    assert found(db, "示例科技", ("surveyor",)) == {acme}

    with db.transaction() as session:
        services.set_case_status(session, db.runtime, acme, "cancelled", "admin", reason="test")
    assert open_tasks(db, acme) == []
    assert pieces_of(db) == expected_pieces(db)
    assert found(db, "国网", ("surveyor",)) == set()
    assert {task_id for _, _, task_id in pieces_of(db)} == {task.id for task in open_tasks(db, wang)}


def test_a_claim_keeps_the_pieces_and_the_search_follows_the_claim(db: Db) -> None:
    number = start(db, "hv_ordinary", customer_name="鑫盛电子")
    task = open_task(db, number, "accept_application")
    before = pieces_of(db)
    with db.transaction() as session:
        services.claim_task(session, task.id, "account_manager.2", ("account_manager",), now=db.clock.now())
    assert pieces_of(db) == before
    assert found(db, "电子", ("account_manager",)) == set()  # no longer in the queue
    with db.reading() as session:
        mine = services.list_tasks(session, db.runtime, TaskFilter("account_manager.2", ("account_manager",),
                                                                    search="电子"))
    assert [t.id for t in mine.items] == [task.id]


def test_name_grams_are_each_piece_once() -> None:
    assert name_grams("王王王") == {"王", "王王"}
    assert name_grams("ab") == {"a", "b", "ab"}
    assert name_grams("") == set() and name_grams(None) == set()
    assert [row["gram"] for row in name_gram_rows("t", None, "aba")] == ["a", "ab", "b", "ba"]
    assert {row["lane"] for row in name_gram_rows("t", None, "aba")} == {""}


def test_migration_0005_backfills_the_pieces_of_existing_open_tasks_and_downgrade_drops_them(db: Db) -> None:
    config = schema.alembic_config(db.url)
    db.engine.dispose()
    command.downgrade(config, "0004")
    with db.engine.connect() as connection:
        assert "open_task_name_grams" not in inspect(connection).get_table_names()
    now = START
    with db.engine.begin() as connection:  # rows as a 0004 database holds them (no pieces table)
        case_id = connection.execute(insert(CaseRow.__table__).returning(CaseRow.__table__.c.id).values(
            case_number="OLD-0001", version_id=db.version_id, status="running", state=b"-", revision=0,
            summary={}, created_at=now, updated_at=now)).scalar_one()
        connection.execute(insert(OpenTask.__table__), [
            {"id": f"old-{n}", "case_id": case_id, "case_number": "OLD-0001", "element_id": "site_survey",
             "name": "step", "lane": lane, "assignee": None, "created_at": now,
             "customer_name": name, "customer_name_folded": name.casefold() if name else None}
            for n, (lane, name) in enumerate((("surveyor", "国网北京电力"), ("installer", "Zhang San"),
                                              (None, "王伟"), ("surveyor", None)))])
    db.engine.dispose()
    schema.upgrade(db.url)
    assert schema.current(db.url) == schema.head()
    assert pieces_of(db) == expected_pieces(db)
    assert ("国网", "surveyor", "old-0") in pieces_of(db) and ("王", "", "old-2") in pieces_of(db)
    assert not any(task_id == "old-3" for _, _, task_id in pieces_of(db))
    assert found(db, "北京", ("surveyor",)) == {"OLD-0001"}
    assert found(db, "zhang", ("installer",)) == {"OLD-0001"}
    db.engine.dispose()
    command.downgrade(config, "0004")
    with db.engine.connect() as connection:
        assert "open_task_name_grams" not in inspect(connection).get_table_names()
        assert connection.execute(select(OpenTask.__table__.c.id)).scalars().all() != []
    db.engine.dispose()
    schema.upgrade(db.url)


def test_migration_0006_makes_postgresql_vacuum_the_work_list_tables_early(db: Db) -> None:
    def settings() -> dict[str, list[str]]:
        with db.engine.connect() as connection:
            rows = connection.execute(sql_text(
                "SELECT relname, reloptions FROM pg_class WHERE relname IN ('open_tasks', 'open_task_name_grams')"))
            return {name: sorted(options or []) for name, options in rows}

    if db.engine.dialect.name != "postgresql":
        assert schema.current(db.url) == schema.head()  # nothing to set: SQLite has no autovacuum
        return
    tuned = ["autovacuum_analyze_scale_factor=0.02", "autovacuum_vacuum_insert_scale_factor=0.01",
             "autovacuum_vacuum_scale_factor=0.01"]
    assert settings() == {"open_tasks": tuned, "open_task_name_grams": tuned}
    db.engine.dispose()
    command.downgrade(schema.alembic_config(db.url), "0005")
    assert settings() == {"open_tasks": [], "open_task_name_grams": []}
    schema.upgrade(db.url)
    assert settings() == {"open_tasks": tuned, "open_task_name_grams": tuned}
