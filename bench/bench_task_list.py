"""Task-list latency at scale: ``runner.services.list_tasks`` over 1,000,000 cases with 100,000 open tasks.

A fresh database gets the real schema (``baozhuang db upgrade``'s migrations), then rows generated directly with
bulk inserts (a generator into ``executemany`` on SQLite, ``COPY`` on PostgreSQL): cases with a small placeholder
state, and open tasks on the running ones with the process's real user tasks, lanes and forms, mostly unclaimed,
due dates around today, customer names in Chinese (people and companies). Then every typical filter of the work list
runs 200 times, interleaved, each as one request (new session, ``list_tasks`` = count + first page of 50, the total
counted as the web list counts it: exactly up to ``BADGE_COUNT_BOUND``, else "10000+"), and p50/p95 are printed
against the 20 ms target; 全部岗位 is also timed with an exact total (``EXACT``: what the lists counted before).
For a filter that misses it, the plans of its statements are shown.

    .venv/bin/python bench/bench_task_list.py                      # SQLite file under /tmp, 1M / 100k
    .venv/bin/python bench/bench_task_list.py --postgres           # a fresh PostgreSQL database (dropped after)
    .venv/bin/python bench/bench_task_list.py --cases 100000 --open 10000 --queries 100
    .venv/bin/python bench/bench_task_list.py --keep                # then reuse it: --database URL (printed)
    .venv/bin/python bench/bench_task_list.py --database URL --claimed-index   # with 全部岗位's index
    .venv/bin/python bench/bench_task_list.py --keep --filters follow-up --drop-follow-up-index   # before 0014
    .venv/bin/python bench/bench_task_list.py --database URL --filters follow-up --follow-up-index  # after it
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from _common import (
    PROCESSES,
    fresh_postgres_database,
    fresh_sqlite_url,
    machine_note,
    percentile,
    postgres_reachable,
)
from sqlalchemy import Engine, event, false, func, select, text, union_all
from sqlalchemy.orm import Session, sessionmaker

from runner import schema, services, task_list
from runner.accounts import LANE_ROLES
from runner.clock import SHANGHAI, VirtualClock
from runner.database import make_engine, session_factory
from runner.models import OpenTask
from runner.process_folder import ProcessBundle, load_process_folder
from runner.services import TaskFilter
from runner.store import Runtime, name_gram_rows
from webui.tasks.routes import BADGE_COUNT_BOUND

TARGET_MS = 20.0
NOW = datetime(2026, 11, 26, 10, 0, tzinfo=SHANGHAI)  # a Thursday, a working day
SEED = 20261126
SQLITE_DATETIME = "%Y-%m-%d %H:%M:%S.%f"  # SQLAlchemy's storage format for DateTime on SQLite

# Share of open tasks waiting at each user task (a busy utility: most work sits with surveyors, installers and
# customers); elements not listed get a small share.
ELEMENT_WEIGHTS = {
    "accept_application": 6, "site_survey": 10, "draft_plan": 7, "review_plan": 4, "sign_plan": 6,
    "submit_design": 5, "review_design": 3, "request_interim_check": 3, "interim_check": 2, "report_completion": 8,
    "completion_check": 4, "draft_contract": 2, "sign_contract": 3, "archive_documents": 6, "grid_works": 6,
    "install_meter": 8, "followup_call": 6, "supply_materials": 3, "verify_property_proof": 1,
    "submit_property_proof": 1, "rectify_defects": 1, "second_followup": 1, "supervise_breach": 1,
}
CATEGORIES = (("lv_residential", 55), ("lv_smallmicro", 20), ("lv_other", 10), ("hv_ordinary", 12),
              ("hv_important", 3))
SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
            "姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤")
GIVEN = ("伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国红"
         "梅文斌玉兰志宏海燕小红晓东丹凤鹏飞辉春梅雪婷宇浩然子轩欣怡梓涵")
CITIES = ("北京市", "上海市", "天津市", "重庆市", "广州市", "深圳市", "杭州市", "南京市", "武汉市", "成都市", "西安市",
          "苏州市", "郑州市", "长沙市", "济南市", "青岛市", "合肥市", "福州市", "昆明市", "南宁市")
TRADE_NAMES = "华宏鑫盛泰安康达恒信隆丰源德瑞祥博远润通海天新兴佳利永嘉凯金明中"
INDUSTRIES = ("科技", "制造", "食品", "物流", "商贸", "医疗器械", "电子", "化工", "纺织", "建材", "置业", "餐饮管理")
SUFFIXES = ("有限公司", "有限责任公司", "股份有限公司", "集团有限公司")
FOLLOW_UP_SHARE = 0.03
"""Share of open tasks with a follow-up date (跟进日期: a person's reminder, set on a day from today to a month
ahead, so some lie up to a week in the past by now); drawn from a random stream of its own, so that every other
column is what it was before follow-up dates were generated."""


@dataclass(frozen=True)
class UserTask:
    element_id: str
    name: str
    lane: str
    form_schema: str | None
    form_ui_schema: str | None


def user_tasks(bundle: ProcessBundle) -> list[UserTask]:
    found = []
    for spec in (bundle.spec, *bundle.subprocess_specs.values()):
        for task_spec in spec.task_specs.values():
            if getattr(task_spec, "manual", False):
                properties = (getattr(task_spec, "extensions", None) or {}).get("properties", {})
                found.append(UserTask(task_spec.bpmn_id, task_spec.bpmn_name or task_spec.bpmn_id,
                                      bundle.roles.get(task_spec.bpmn_id, "staff"),
                                      properties.get("formJsonSchemaFilename"), properties.get("formUiSchemaFilename")))
    return sorted(found, key=lambda t: t.element_id)


# -- data generation ------------------------------------------------------------------------------------------------


class Generator:
    """Deterministic rows for ``cases`` and ``open_tasks``; running cases are the newest ones."""

    def __init__(self, bundle: ProcessBundle, cases: int, open_tasks: int) -> None:
        self.rng = random.Random(SEED)
        self.follow_up_rng = random.Random(SEED + 5)
        self.cases, self.open = cases, open_tasks
        self.tasks = user_tasks(bundle)
        self.task_weights = [ELEMENT_WEIGHTS.get(t.element_id, 0.3) for t in self.tasks]
        self.running = min(cases, round(open_tasks / 1.15))  # some running cases wait at two tasks at once
        self.first_running = cases - self.running + 1
        self.category_names = [name for name, _ in CATEGORIES]
        self.category_weights = [weight for _, weight in CATEGORIES]
        self.span = timedelta(days=730)  # two years of applications
        self.lanes = sorted({t.lane for t in self.tasks})
        self.users = {lane: [f"{lane}.{n}" for n in range(1, 41)] for lane in self.lanes}

    def customer(self, rng: random.Random, category: str) -> str:
        if category == "lv_residential" or (category == "lv_smallmicro" and rng.random() < 0.3):
            return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))
        return (rng.choice(CITIES) + "".join(rng.choice(TRADE_NAMES) for _ in range(2)) + rng.choice(INDUSTRIES)
                + rng.choice(SUFFIXES))

    def case_facts(self, case_id: int) -> tuple[str, str, str, datetime]:
        """(case number, category, customer name, created at) — the same on every call for one id."""
        rng = random.Random(SEED * 7919 + case_id)
        created = NOW - self.span + self.span * (case_id - 1) / self.cases
        if case_id >= self.first_running:  # running cases: applied within the last ~2 months
            created = NOW - timedelta(days=rng.expovariate(1 / 12) % 60, minutes=rng.randrange(600))
        day = created.astimezone(SHANGHAI).strftime("%Y%m%d")
        number = f"YK{day}{(case_id * 104729) % 1_000_000:06d}{'' if self.cases <= 1_000_000 else case_id}"
        category = rng.choices(self.category_names, self.category_weights)[0]
        return number, category, self.customer(rng, category), created

    def case_rows(self) -> Iterator[tuple[Any, ...]]:
        for case_id in range(1, self.cases + 1):
            number, category, customer, created = self.case_facts(case_id)
            if case_id >= self.first_running:
                status, completed = "running", None
            else:
                status = "cancelled" if case_id % 50 == 0 else "completed"
                completed = created + timedelta(days=5 + case_id % 40)
            yield (case_id, number, 1, status, 3 + case_id % 30, b"placeholder", category, customer, None, "{}",
                   created, completed or created + timedelta(hours=2), completed)

    def task_rows(self) -> Iterator[tuple[Any, ...]]:
        """The open tasks; each one's (id, lane, folded name) is kept for ``gram_rows``."""
        rng = self.rng
        self.named: list[tuple[str, str, str]] = []
        running = range(self.first_running, self.cases + 1)
        owners = list(running) + rng.sample(list(running), min(self.open - self.running, len(running)))
        for case_id in owners[: self.open]:
            number, category, customer, created = self.case_facts(case_id)
            task = rng.choices(self.tasks, self.task_weights)[0]
            enabled = min(NOW - timedelta(minutes=5), created + timedelta(days=rng.uniform(0, 10)))
            due = None
            if rng.random() < 0.92:  # a few tasks have no SLA (customer-side steps without a stage deadline)
                deadline_day = (enabled + timedelta(days=rng.choice((3, 5, 5, 7, 10, 15)))).astimezone(SHANGHAI)
                due = deadline_day.replace(hour=23, minute=59, second=59, microsecond=0)
            assignee = rng.choice(self.users[task.lane][: rng.choice((3, 10, 40))]) if rng.random() < 0.2 else None
            task_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            self.named.append((task_id, task.lane, customer.casefold()))
            yield (task_id, case_id, number, task.element_id, task.name, task.lane, assignee, enabled, due,
                   self.follow_up(), category, customer, customer.casefold(), task.form_schema, task.form_ui_schema)

    def follow_up(self) -> datetime | None:
        """A follow-up date for ``FOLLOW_UP_SHARE`` of the tasks: the start of a day (as the web UI sets it) from a
        week ago to a month ahead, so about a fifth of them are due."""
        if self.follow_up_rng.random() >= FOLLOW_UP_SHARE:
            return None
        day = NOW.date() + timedelta(days=self.follow_up_rng.randint(-7, 30))
        return datetime(day.year, day.month, day.day, tzinfo=SHANGHAI)

    def gram_rows(self) -> Iterator[tuple[str, str, str]]:
        """``open_task_name_grams`` of the tasks ``task_rows`` made (as ``store.sync_open_tasks`` writes them)."""
        for task_id, lane, folded in self.named:
            for row in name_gram_rows(task_id, lane, folded):
                yield row["gram"], row["lane"], row["task_id"]


CASE_COLUMNS = ("id", "case_number", "version_id", "status", "revision", "state", "category", "customer_name",
                "access_code_hash", "summary", "created_at", "updated_at", "completed_at")
TASK_COLUMNS = ("id", "case_id", "case_number", "element_id", "name", "lane", "assignee", "created_at", "due_at",
                "follow_up_at", "category", "customer_name", "customer_name_folded", "form_schema", "form_ui_schema")
GRAM_COLUMNS = ("gram", "lane", "task_id")
DATETIME_COLUMNS = {"created_at", "updated_at", "completed_at", "due_at", "follow_up_at"}


def as_naive_utc(value: Any) -> Any:
    return value.astimezone(UTC).replace(tzinfo=None) if isinstance(value, datetime) else value


def fill_sqlite(path: Path, generator: Generator) -> None:
    def rows(source: Iterator[tuple[Any, ...]], columns: tuple[str, ...]) -> Iterator[tuple[Any, ...]]:
        stamps = [i for i, c in enumerate(columns) if c in DATETIME_COLUMNS]
        for row in source:
            values = list(row)
            for i in stamps:
                if values[i] is not None:
                    values[i] = as_naive_utc(values[i]).strftime(SQLITE_DATETIME)
            yield tuple(values)

    connection = sqlite3.connect(path)
    connection.execute("PRAGMA synchronous=OFF")
    connection.execute("PRAGMA cache_size=-400000")
    with connection:
        connection.execute("INSERT INTO process_versions (id, version_hash, files, spec_json, deployed_at, "
                           "deployed_by) VALUES (1, 'bench', '{}', '{}', ?, 'bench')",
                           (as_naive_utc(NOW).strftime(SQLITE_DATETIME),))
        for table, columns, source in (("cases", CASE_COLUMNS, generator.case_rows()),
                                       ("open_tasks", TASK_COLUMNS, generator.task_rows()),
                                       ("open_task_name_grams", GRAM_COLUMNS, generator.gram_rows())):
            marks = ", ".join("?" for _ in columns)
            connection.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",
                                   rows(source, columns))
    connection.close()


def fill_postgres(engine: Engine, generator: Generator) -> None:
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cursor:  # type: ignore[attr-defined]
            cursor.execute("INSERT INTO process_versions (id, version_hash, files, spec_json, deployed_at, "
                           "deployed_by) VALUES (1, 'bench', '{}', '{}', %s, 'bench')", (as_naive_utc(NOW),))
            for table, columns, source in (("cases", CASE_COLUMNS, generator.case_rows()),
                                           ("open_tasks", TASK_COLUMNS, generator.task_rows()),
                                           ("open_task_name_grams", GRAM_COLUMNS, generator.gram_rows())):
                with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                    for row in source:
                        copy.write_row(tuple(as_naive_utc(v) for v in row))
            cursor.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()


# -- the queries ----------------------------------------------------------------------------------------------------


@dataclass
class Workload:
    """Realistic parameters drawn from the generated open tasks."""

    lanes: list[str]
    assigned: list[str]
    customers: list[str]
    case_numbers: list[str]
    categories: list[str]


def workload(sessions: sessionmaker[Session]) -> Workload:
    with sessions() as session:
        lanes = [row[0] for row in session.execute(text(
            "SELECT lane FROM open_tasks WHERE lane <> 'customer' GROUP BY lane ORDER BY count(*) DESC"))]
        assigned = [row[0] for row in session.execute(text(
            "SELECT DISTINCT assignee FROM open_tasks WHERE assignee IS NOT NULL"))]
        sample = session.execute(text(
            "SELECT customer_name, case_number FROM open_tasks ORDER BY id LIMIT 2000")).all()
    return Workload(lanes, sorted(assigned), [r[0] for r in sample], [r[1] for r in sample],
                    [name for name, _ in CATEGORIES])


def name_search(queue: Callable[..., TaskFilter], load: Workload, length: int
                ) -> Callable[[random.Random], TaskFilter]:
    """A queue searched for ``length`` characters cut from a customer's name at a random place (what users type:
    a surname, "国网", "科技"; names are 2–16 characters)."""

    def draw(rng: random.Random) -> TaskFilter:
        name = rng.choice([name for name in load.customers if len(name) >= length])
        at = rng.randrange(len(name) - length + 1)
        return queue(rng, search=name[at:at + length])

    return draw


NAME_FILTERS = ("queue + customer prefix", "queue + name, 1 char", "queue + name, 2 chars", "queue + name, 3 chars")


def like_scan_list_tasks(session: Session, runtime: Runtime, flt: TaskFilter, page: int = 1, page_size: int = 50
                         ) -> services.TaskPage:
    """``list_tasks`` as it was before the name pieces (2026-11-26, before migration 0005): every visible set read
    in index order with ``customer_name_folded LIKE '%…%'`` — the "before" of the name search, measured in the
    same run."""
    conditions = task_list._list_conditions(flt, runtime.clock.now())
    sets = [[*visible, *conditions] for visible in task_list._visible_sets(flt)]
    heads = [head for where in sets for head in task_list._page_heads(where, page * page_size)]
    merged = union_all(*[select(head.c.id, head.c.due_at) for head in heads]).subquery()
    page_ids = (select(merged.c.id).order_by(merged.c.due_at.is_(None), merged.c.due_at, merged.c.id)
                .offset((page - 1) * page_size).limit(page_size))
    items = session.scalars(select(OpenTask).where(OpenTask.id.in_(page_ids))
                            .order_by(OpenTask.due_at.is_(None), OpenTask.due_at, OpenTask.id)).all()
    counts = [select(func.count()).select_from(OpenTask).where(*where).scalar_subquery() for where in sets]
    total = session.scalar(select(sum(counts[1:], counts[0]))) or 0
    return services.TaskPage(list(items), int(total), page, page_size)


def filters(load: Workload) -> dict[str, Callable[[random.Random], TaskFilter]]:
    """Each typical work-list filter, as a function drawing one request's parameters."""

    def queue(rng: random.Random, **extra: Any) -> TaskFilter:
        lane = rng.choice(load.lanes)
        return TaskFilter(user=f"{lane}.{rng.randint(1, 40)}", groups=(lane,), **extra)

    def mine(rng: random.Random) -> TaskFilter:
        user = rng.choice(load.assigned)
        return TaskFilter(user=user, groups=(user.rsplit(".", 1)[0],), mine_only=True)

    def team(rng: random.Random, **extra: Any) -> TaskFilter:
        """全部岗位: a supervisor's view of every staff lane's open tasks, claimed ones too (webui task_filter)."""
        return TaskFilter(user=f"supervisor.{rng.randint(1, 40)}", groups=LANE_ROLES, include_claimed=True, **extra)

    return {
        "group queue (one lane)": queue,
        "largest lane's queue": lambda rng: replace(queue(rng), groups=(load.lanes[0],)),
        "my tasks": mine,
        "queue + category": lambda rng: queue(rng, category=rng.choice(load.categories)),
        "queue + overdue": lambda rng: queue(rng, overdue=True),
        "queue + due today": lambda rng: queue(rng, due_today=True),
        "queue + customer prefix": lambda rng: queue(rng, search=rng.choice(load.customers)[:3]),
        **{f"queue + name, {n} char{'s' if n > 1 else ''}": name_search(queue, load, n) for n in (1, 2, 3)},
        "queue + case number": lambda rng: queue(rng, search=rng.choice(load.case_numbers)),
        "全部岗位 (every lane)": team,
        "全部岗位 + category": lambda rng: team(rng, category=rng.choice(load.categories)),
        "全部岗位 + overdue": lambda rng: team(rng, overdue=True),
        "全部岗位 + customer name": name_search(team, load, 2),
        **follow_up_filters(load, queue, team),
    }


def follow_up_filters(load: Workload, queue: Callable[..., TaskFilter], team: Callable[..., TaskFilter]
                      ) -> dict[str, Callable[[random.Random], TaskFilter]]:
    """跟进到期 (``follow_up_due``) over one lane, several lanes, every staff lane's queues, and 全部岗位 (claimed
    tasks too; also with a category, as its category tabs count it); each is also timed as its tab badge
    (``BADGE``)."""

    def lanes(rng: random.Random) -> TaskFilter:
        groups = tuple(rng.sample(load.lanes, 3))
        return TaskFilter(user=f"{groups[0]}.{rng.randint(1, 40)}", groups=groups, follow_up_due=True)

    return {
        "queue + follow-up due": lambda rng: queue(rng, follow_up_due=True),
        "3 lanes + follow-up due": lanes,
        "every queue + follow-up due": lambda rng: replace(team(rng, follow_up_due=True), include_claimed=False),
        "全部岗位 + follow-up due": lambda rng: team(rng, follow_up_due=True),
        "全部岗位 + category + follow-up due": lambda rng: team(rng, follow_up_due=True,
                                                             category=rng.choice(load.categories)),
    }


BEFORE = " (before: LIKE scan)"
EXACT = " — exact total"
BADGE = " — badge count"
"""The same filter as a tab's badge: ``services.count_tasks`` bounded at the web UI's ``BADGE_COUNT_BOUND``."""
FOLLOW_UP_INDEXES = {
    "ix_open_tasks_queue_follow_up": "CREATE INDEX IF NOT EXISTS ix_open_tasks_queue_follow_up ON open_tasks "
                                     "(lane, follow_up_at, due_at, id, assignee, category) "
                                     "WHERE assignee IS NULL AND follow_up_at IS NOT NULL",
    "ix_open_tasks_claimed_follow_up": "CREATE INDEX IF NOT EXISTS ix_open_tasks_claimed_follow_up ON open_tasks "
                                       "(lane, follow_up_at, due_at, id, assignee, category) "
                                       "WHERE assignee IS NOT NULL AND follow_up_at IS NOT NULL",
}
"""What 跟进到期 reads since migration 0014 (docs/decisions.md, 102): ``--drop-follow-up-index`` measures without
them (the before), ``--follow-up-index`` creates them on a database made before 0014."""


def web_list(session: Session, runtime: Runtime, flt: TaskFilter) -> services.TaskPage:
    """The first page of 50 as the web list reads it: the total exact up to ``BADGE_COUNT_BOUND``."""
    return services.list_tasks(session, runtime, flt, count_bound=BADGE_COUNT_BOUND)


def badge_count(session: Session, runtime: Runtime, flt: TaskFilter) -> services.TaskPage:
    """The filter's tab badge as the web UI counts it, as a page without items."""
    return services.TaskPage([], services.count_tasks(session, runtime, flt, BADGE_COUNT_BOUND), 1, 1)


def run_queries(sessions: sessionmaker[Session], runtime: Runtime, load: Workload, repetitions: int,
                compare_like: bool = True, only: str | None = None
                ) -> tuple[dict[str, list[float]], dict[str, list[int]], list[str]]:
    """Every filter ``repetitions`` times, interleaved; with ``compare_like`` each name search also runs as the
    LIKE scan of before (same parameters, right after or before it, alternately), and the two must return the same
    page and total (differences are returned)."""
    rng = random.Random(SEED + 1)
    kinds = {name: make for name, make in filters(load).items() if not only or re.search(only, name)}
    timings: dict[str, list[float]] = {}
    totals: dict[str, list[int]] = {}
    problems: list[str] = []
    names = list(kinds)
    badged = {name for name, make in kinds.items() if make(random.Random(0)).follow_up_due}
    for round_ in range(repetitions):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:  # interleaved, order rotating
            flt = kinds[name](rng)
            variants: list[tuple[str, Callable[..., services.TaskPage]]] = [(name, web_list)]
            if flt.include_claimed and not flt.follow_up_due and not flt.search:
                variants.append((name + EXACT, services.list_tasks))
            if name in badged:
                variants.append((name + BADGE, badge_count))
            if compare_like and name in NAME_FILTERS:
                variants.append((name + BEFORE, like_scan_list_tasks))
                variants = variants[::-1] if round_ % 2 else variants
            pages = []  # (the list and the LIKE scan of before: same page, same total)
            for label, function in variants:
                began = time.perf_counter()
                with sessions() as session:
                    page = function(session, runtime, flt)
                    _ = [(task.id, task.case_number, task.due_at) for task in page.items]
                timings.setdefault(label, []).append((time.perf_counter() - began) * 1000)
                totals.setdefault(label, []).append(page.total)
                if label in (name, name + BEFORE):
                    pages.append(([task.id for task in page.items], page.total))
            if len(pages) == 2 and pages[0] != pages[1]:
                problems.append(f"{name}: {flt.search!r} in {flt.groups}: {pages[0][1]} vs {pages[1][1]} rows")
    return timings, totals, problems


def captured_statements(engine: Engine, sessions: sessionmaker[Session], runtime: Runtime, flt: TaskFilter,
                        function: Callable[..., Any] = services.list_tasks) -> list[tuple[str, Any]]:
    statements: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        with sessions() as session:
            function(session, runtime, flt)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    return [(s, p) for s, p in statements if "open_tasks" in s]


def captured_proposed(engine: Engine, sessions: sessionmaker[Session], now: datetime, flt: TaskFilter
                      ) -> list[tuple[str, Any]]:
    statements: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        with sessions() as session:
            proposed_list_tasks(session, now, flt)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    return [(s, p) for s, p in statements if "open_tasks" in s]


def explain(engine: Engine, statement: str, parameters: Any) -> list[str]:
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        if engine.dialect.name == "sqlite":
            cursor.execute(f"EXPLAIN QUERY PLAN {statement}", parameters)
            return [f"{'  ' * 0}{row[-1]}" for row in cursor.fetchall()]
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {statement}", parameters)
        return [row[0] for row in cursor.fetchall()]
    finally:
        raw.close()


# -- the proposed statement and indexes (measured here; runner/ is not changed) ----------------------------------

_QUEUE_INDEXES = [
    # the indexes list_tasks needs, replacing ix_open_tasks_lane_due / _assignee_due / _category_due: the unclaimed
    # queue of a lane (and of a lane and category) and a person's own tasks, each in list order (NULL due dates
    # last), so that a page is the first 50 index entries and a count is an index range
    "DROP INDEX ix_open_tasks_lane_due",
    "DROP INDEX ix_open_tasks_assignee_due",
    "DROP INDEX ix_open_tasks_category_due",
    "CREATE INDEX ix_open_tasks_queue ON open_tasks (lane, (due_at IS NULL), due_at, id) WHERE assignee IS NULL",
    "CREATE INDEX ix_open_tasks_queue_category ON open_tasks (lane, category, (due_at IS NULL), due_at, id) "
    "WHERE assignee IS NULL",
    "CREATE INDEX ix_open_tasks_mine ON open_tasks (assignee, (due_at IS NULL), due_at, id) WHERE assignee IS NOT NULL",
    # a customer-name prefix within a lane's queue: an index range, whatever the prefix
    "CREATE INDEX ix_open_tasks_queue_customer ON open_tasks (lane, customer_name_folded) WHERE assignee IS NULL",
]
PROPOSED_DDL = {
    "sqlite": _QUEUE_INDEXES,
    "postgresql": [*_QUEUE_INDEXES[:-1],  # LIKE 'prefix%' needs pattern ops unless the collation is C
                   "CREATE INDEX ix_open_tasks_queue_customer ON open_tasks "
                   "(lane, customer_name_folded text_pattern_ops) WHERE assignee IS NULL",
                   "ANALYZE open_tasks"],
}
CASE_NUMBER = re.compile(r"YK\d{8,}")
CLAIMED_INDEX = ("CREATE INDEX IF NOT EXISTS ix_open_tasks_claimed ON open_tasks "
                 "(lane, due_at, id, assignee, category) WHERE assignee IS NOT NULL")
"""What 全部岗位 needs (docs/decisions.md, 91): each lane's tasks held by someone, in list order; the assignee (to
leave out the reader's own) and the category (a filter) in the index, so that reads and counts stay in it."""


def proposed_list_tasks(session: Session, now: datetime, flt: TaskFilter, page: int = 1, page_size: int = 50
                        ) -> services.TaskPage:
    """``list_tasks`` rewritten for the indexes above.

    One index-ordered branch per visible set — my tasks, and each group's unclaimed tasks (disjoint, so UNION ALL)
    — each limited to the page and merged; one count per branch. A search is a case number (equality) or a
    customer-name prefix (an index range within the lane), never ``LIKE '%…%'``; for a case number the lane test is
    written ``lane || '' = ?`` so that the planner seeks the one hit instead of walking the whole lane in order.
    """
    page, page_size = max(page, 1), min(max(page_size, 1), 200)
    conditions: list[Any] = []
    if flt.category:
        conditions.append(OpenTask.category == flt.category)
    if flt.element_id:
        conditions.append(OpenTask.element_id == flt.element_id)
    due_known = OpenTask.due_at.is_(None) == false()
    if flt.overdue:
        conditions += [due_known, OpenTask.due_at < now]
    if flt.due_today:
        day_end = now.astimezone(SHANGHAI).replace(hour=23, minute=59, second=59)
        conditions += [due_known, OpenTask.due_at >= now, OpenTask.due_at <= day_end]
    lane: Any = OpenTask.lane
    if flt.search:
        term = flt.search.strip()
        if CASE_NUMBER.fullmatch(term.upper()):
            lane = OpenTask.lane.concat("")
            conditions.append(OpenTask.case_number == term.upper())
        elif session.get_bind().dialect.name == "sqlite":  # BINARY collation: a prefix is an index range
            folded = term.casefold()
            conditions += [OpenTask.customer_name_folded >= folded,
                           OpenTask.customer_name_folded < folded + "\U0010ffff"]
        else:  # LIKE 'prefix%' on a text_pattern_ops index
            conditions.append(OpenTask.customer_name_folded.startswith(term.casefold(), autoescape=True))
    branches = [[OpenTask.assignee == flt.user]]
    if not flt.mine_only:
        branches += [[lane == group, OpenTask.assignee.is_(None)] for group in flt.groups]
    order = (OpenTask.due_at.is_(None), OpenTask.due_at, OpenTask.id)
    parts = [select(OpenTask.id.label("id"), OpenTask.due_at.label("due_at")).where(*where, *conditions)
             .order_by(*order).limit(page * page_size).subquery() for where in branches]
    union = union_all(*[select(part.c.id, part.c.due_at) for part in parts]).subquery()
    ids = select(union.c.id).order_by(union.c.due_at.is_(None), union.c.due_at, union.c.id) \
        .offset((page - 1) * page_size).limit(page_size)
    rows = session.scalars(select(OpenTask).where(OpenTask.id.in_(ids))).all()
    far = datetime.max.replace(tzinfo=UTC)
    items = sorted(rows, key=lambda t: (t.due_at is None, t.due_at or far, t.id))
    counts = [select(func.count()).select_from(OpenTask).where(*where, *conditions).scalar_subquery()
              for where in branches]
    total = session.scalar(select(sum(counts[1:], counts[0]))) or 0
    return services.TaskPage(items, int(total), page, page_size)


def check_proposed(sessions: sessionmaker[Session], runtime: Runtime, load: Workload) -> list[str]:
    """Same pages and totals as ``list_tasks`` for every filter but the customer search (prefix, not substring)."""
    rng = random.Random(SEED + 3)
    problems = []
    for name, make in filters(load).items():
        for _ in range(10):
            flt = make(rng)
            with sessions() as session:
                old = services.list_tasks(session, runtime, flt)
                new = proposed_list_tasks(session, runtime.clock.now(), flt)
            if "customer" in name:
                prefix = (flt.search or "").casefold()
                if not all((t.customer_name_folded or "").startswith(prefix) for t in new.items):
                    problems.append(f"{name}: an item without the prefix")
            elif [t.id for t in old.items] != [t.id for t in new.items] or old.total != new.total:
                problems.append(f"{name}: differs for {flt}")
    return problems


def time_filters(sessions: sessionmaker[Session], runtime: Runtime, load: Workload, repetitions: int,
                 variants: dict[str, Callable[[Session, TaskFilter], Any]]) -> dict[tuple[str, str], list[float]]:
    """Every filter × every variant, interleaved with rotating order."""
    rng = random.Random(SEED + 4)
    kinds = filters(load)
    timings: dict[tuple[str, str], list[float]] = {}
    jobs = [(name, label) for name in kinds for label in variants]
    for round_ in range(repetitions):
        shift = round_ % len(jobs)
        params = {name: make(rng) for name, make in kinds.items()}
        for name, label in jobs[shift:] + jobs[:shift]:
            began = time.perf_counter()
            with sessions() as session:
                page = variants[label](session, params[name])
                _ = [(task.id, task.case_number, task.due_at) for task in page.items]
            timings.setdefault((name, label), []).append((time.perf_counter() - began) * 1000)
    return timings


# -- main -----------------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--open", type=int, default=100_000, help="open tasks")
    parser.add_argument("--queries", type=int, default=200, help="requests per filter")
    parser.add_argument("--postgres", action="store_true", help="a fresh PostgreSQL database instead of SQLite")
    parser.add_argument("--sqlite-analyze", action="store_true",
                        help="run ANALYZE on SQLite after loading (the product never does)")
    parser.add_argument("--explain-all", action="store_true", help="print plans of every filter, not only misses")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards and print where it is")
    parser.add_argument("--claimed-index", action="store_true",
                        help="create ix_open_tasks_claimed (CLAIMED_INDEX) if the schema lacks it: what 全部岗位 "
                             "reads the tasks others hold through")
    parser.add_argument("--drop-follow-up-index", action="store_true",
                        help="drop the follow-up indexes of migration 0014 (FOLLOW_UP_INDEXES) before timing: how "
                             "跟进到期 read without them")
    parser.add_argument("--follow-up-index", action="store_true",
                        help="create the follow-up indexes (FOLLOW_UP_INDEXES) if the schema lacks them")
    parser.add_argument("--filters", metavar="REGEX",
                        help="time only the filters whose name matches (e.g. follow-up)")
    parser.add_argument("--database", metavar="URL",
                        help="reuse a database kept by an earlier run (--keep) instead of generating one; "
                             "--cases and --open must be those it was made with")
    parser.add_argument("--vacuum", action="store_true",
                        help="PostgreSQL: VACUUM ANALYZE after loading (the steady state autovacuum reaches; without "
                             "it, counts and index-only scans visit the heap)")
    parser.add_argument("--no-before", action="store_true",
                        help="do not also time the name searches as the LIKE scan of before migration 0005")
    parser.add_argument("--proposals", choices=("on-miss", "always", "never"), default="never",
                        help="measure the proposed indexes and statement; they are applied since migration 0003, "
                             "so this only works on a schema before it (default: never)")
    args = parser.parse_args()

    print(f"task list — {machine_note()}")
    bundle = load_process_folder(PROCESSES)
    generator = Generator(bundle, args.cases, args.open)
    with ExitStack() as stack:
        if args.database:
            url, folder = args.database, None
        elif args.postgres:
            if not postgres_reachable():
                raise SystemExit("PostgreSQL is not reachable (BENCH_PG_ADMIN)")
            url = stack.enter_context(fresh_postgres_database("bench_tasks", keep=args.keep))
            folder = None
        else:
            url, folder = fresh_sqlite_url("bench-tasks")
        engine = make_engine(url)
        stack.callback(engine.dispose)
        if folder is not None and not args.keep:
            stack.callback(shutil.rmtree, folder, True)
        print(f"database: {engine.dialect.name} "
              f"{f'(reused) {url}' if args.database else '(fresh)'}{f', kept at {url}' if args.keep else ''}")

        if not args.database:
            generate(engine, url, folder, generator, args)

        if args.claimed_index:
            began = time.perf_counter()
            with engine.begin() as conn:
                conn.exec_driver_sql(CLAIMED_INDEX)
                if engine.dialect.name == "postgresql":
                    conn.exec_driver_sql("ANALYZE open_tasks")
            print(f"{CLAIMED_INDEX} ({time.perf_counter() - began:.1f} s)")
        if args.drop_follow_up_index or args.follow_up_index:
            change_follow_up_indexes(engine, create=args.follow_up_index)

        sessions = session_factory(engine)
        runtime = Runtime(cache_dir=Path(tempfile.gettempdir()), clock=VirtualClock(NOW))
        load = workload(sessions)
        with sessions() as session:
            shares = session.execute(text(
                "SELECT lane, count(*), sum(CASE WHEN assignee IS NULL THEN 1 ELSE 0 END) FROM open_tasks "
                "GROUP BY lane ORDER BY 2 DESC")).all()
        print("open tasks per lane (unclaimed): " + ", ".join(f"{lane} {n:,} ({u:,})" for lane, n, u in shares))

        run_queries(sessions, runtime, load, 3, only=args.filters)  # warm the caches
        timings, totals, problems = run_queries(sessions, runtime, load, args.queries, not args.no_before,
                                                args.filters)
        print(f"\nlist_tasks (count + first page of 50), {args.queries} requests per filter, interleaved; "
              f"target p95 ≤ {TARGET_MS:.0f} ms:")
        missed = []
        for name, values in timings.items():
            p50, p95 = percentile(values, 50), percentile(values, 95)
            verdict = "meets" if p95 <= TARGET_MS else "MISSES"
            if p95 > TARGET_MS:
                missed.append(name)
            print(f"  {name:<42} p50 {p50:7.1f} ms   p95 {p95:7.1f} ms   {verdict:<6}   "
                  f"(rows matched: median {int(percentile(totals[name], 50)):,}, max {max(totals[name]):,})")
        if any(BEFORE in name for name in timings):
            print("  name searches: the same pages and totals as the LIKE scan of before" if not problems else
                  f"  NAME SEARCH DIFFERS from the LIKE scan ({len(problems)}): " + "; ".join(problems[:5]))
        missed = [name for name in missed if BEFORE not in name]

        to_explain = [name for name in timings if BEFORE not in name] if args.explain_all else missed
        kinds = filters(load)
        for name in to_explain:
            flt = kinds[name.removesuffix(BADGE).removesuffix(EXACT)](random.Random(SEED + 2))
            print(f"\nplan — {name} ({flt}):")
            function = (badge_count if name.endswith(BADGE) else services.list_tasks if name.endswith(EXACT)
                        else web_list)
            for statement, parameters in captured_statements(engine, sessions, runtime, flt, function):
                shown = re.sub(r"SELECT (open_tasks\.\w+(,\s*)?)+\s+FROM", "SELECT open_tasks.* FROM", statement)
                print("  " + " ".join(shown.split()))
                for line in explain(engine, statement, parameters):
                    print(f"      {line}")

        if args.proposals == "always" or (missed and args.proposals == "on-miss"):
            report_proposals(engine, sessions, runtime, load, args.queries)


def change_follow_up_indexes(engine: Engine, create: bool) -> None:
    """Create the follow-up indexes of migration 0014 if missing, or drop them (PostgreSQL: then ANALYZE)."""
    began = time.perf_counter()
    with engine.begin() as conn:
        for name, ddl in FOLLOW_UP_INDEXES.items():
            conn.exec_driver_sql(ddl if create else f"DROP INDEX IF EXISTS {name}")
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("ANALYZE open_tasks")
    print(f"follow-up indexes {'created' if create else 'dropped'}: {', '.join(FOLLOW_UP_INDEXES)} "
          f"({time.perf_counter() - began:.1f} s)")


def generate(engine: Engine, url: str, folder: Path | None, generator: Generator, args: argparse.Namespace) -> None:
    """The schema and the generated rows in a fresh database."""
    began = time.perf_counter()
    schema.upgrade(url)
    if folder is not None:
        fill_sqlite(folder / "bench.sqlite3", generator)
        if args.sqlite_analyze:
            with engine.begin() as conn:
                conn.exec_driver_sql("ANALYZE")
    else:
        fill_postgres(engine, generator)
        if args.vacuum:
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM ANALYZE")
    print(f"generated {args.cases:,} cases and {args.open:,} open tasks in {time.perf_counter() - began:.0f} s")


def report_proposals(engine: Engine, sessions: sessionmaker[Session], runtime: Runtime, load: Workload,
                     repetitions: int) -> None:
    ddl = PROPOSED_DDL[engine.dialect.name]
    print(f"\nproposal — indexes: {'; '.join(ddl)}")
    began = time.perf_counter()
    with engine.begin() as conn:
        for statement in ddl:
            conn.exec_driver_sql(statement)
    print(f"  (created in {time.perf_counter() - began:.1f} s)")
    problems = check_proposed(sessions, runtime, load)
    print("  check: the proposed statement returns the same pages and totals as list_tasks "
          "(customer search: prefix matches)" if not problems else "  CHECK FAILED: " + "; ".join(problems[:5]))
    now = runtime.clock.now()
    variants: dict[str, Callable[[Session, TaskFilter], Any]] = {
        "list_tasks": lambda session, flt: services.list_tasks(session, runtime, flt),
        "proposed": lambda session, flt: proposed_list_tasks(session, now, flt),
    }
    timings = time_filters(sessions, runtime, load, repetitions, variants)
    print(f"  with these indexes, {repetitions} requests per filter and variant, interleaved — p50 / p95 ms:")
    print(f"  {'':<26} {'list_tasks (today)':>22} {'proposed statement':>22}")
    for name in filters(load):
        cells = []
        for label in variants:
            values = timings[(name, label)]
            p95 = percentile(values, 95)
            cells.append(f"{percentile(values, 50):6.1f} / {p95:6.1f} {'ok' if p95 <= TARGET_MS else '✗ '}")
        print(f"  {name:<26} {cells[0]:>22} {cells[1]:>22}")
    flt = filters(load)["largest lane's queue"](random.Random(SEED + 2))
    print(f"\n  plan of the proposed statement — largest lane's queue ({flt.groups[0]}):")
    for statement, parameters in captured_proposed(engine, sessions, now, flt):
        for line in explain(engine, statement, parameters):
            print(f"      {line}")


if __name__ == "__main__":
    main()
