"""The work list's reads: which open tasks a person sees (mine, my lanes' unclaimed queues, for supervisors every
lane's tasks), filtered, searched, in list order (earliest due first), paged and counted, and the steps among them.

Every read is built from index ranges: each visible set is read on its own in the order of a partial index and the
heads merged (``list_tasks``), counts are index ranges, bounded where a badge or the web list only needs "10000+"
(``count_tasks``, ``list_tasks(count_bound=…)``), customer names are searched through their 1- and 2-character
pieces (``open_task_name_grams``) or pg_trgm, case numbers through their index. docs/decisions.md 31, 91, 97, 102
and 112 say why each read is shaped as it is; bench/bench_task_list.py measures them at 100,000 open tasks.
``runner.services`` offers these functions to the web UI, the REST API and the command line.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, literal_column, or_, select, union_all
from sqlalchemy.orm import Session

from .clock import SHANGHAI
from .models import ChainHead, OpenTask, OpenTaskNameGram
from .store import Runtime

CASE_NUMBER_SHAPE = re.compile(r"^[A-Z]{1,8}-?\d{4,}$")
LIST_COUNT_BOUND = 10_000
"""How far the work lists count (the web list, its tab badges, the REST API's task list): exactly up to this many
tasks, beyond it "10000+" (``list_tasks(count_bound=…)``, ``count_tasks``), so that a count over a large list
(全部岗位: every lane's tasks, tens of thousands at scale) reads a bounded part of it (docs/decisions.md, 97, 112)."""


@dataclass
class TaskFilter:
    """What a task list shows: whose tasks, and the filters of the work list."""

    user: str
    groups: tuple[str, ...] = ()
    mine_only: bool = False
    category: str | None = None
    element_id: str | None = None
    overdue: bool = False
    due_today: bool = False
    follow_up_due: bool = False
    search: str | None = None
    include_claimed: bool = False
    """Also the tasks of ``groups`` that others claimed or were assigned: a supervisor's view of every lane (the
    API's ``scope=team``, the web 全部岗位), from which they release or reassign them."""


@dataclass
class TaskPage:
    items: list[OpenTask]
    total: int
    page: int
    page_size: int
    total_bound: int | None = None
    """``list_tasks(count_bound=…)``: the total is exact up to this bound; ``total_bound + 1`` means more."""

    @property
    def total_capped(self) -> bool:
        """Whether there are more tasks than ``total_bound`` (the total then says ``total_bound + 1``)."""
        return self.total_bound is not None and self.total > self.total_bound


def _task_query(flt: TaskFilter, now: datetime, case_number_search: bool = False, dialect: str = "sqlite") -> Any:
    """Visible tasks (mine, or unclaimed in my groups; with ``include_claimed`` every task of my groups) that pass
    the filters, as one condition (``dialect``: the database's, for a case-number search). A case-number search
    tests lane and assignee as ``… || ''``, which no index serves: so the planners read the case-number index (the
    few tasks of one case or day) instead of walking every visible queue (SQLite has no statistics for a range)."""
    lane, assignee = (OpenTask.lane.concat(""), OpenTask.assignee.concat("")) if case_number_search else (
        OpenTask.lane, OpenTask.assignee)
    visible = assignee == flt.user
    if not flt.mine_only and flt.groups:
        in_groups = lane.in_(flt.groups)
        visible = or_(visible, in_groups if flt.include_claimed else and_(in_groups, OpenTask.assignee.is_(None)))
    return and_(visible, *_list_conditions(flt, now, case_number_search, dialect))


def _is_case_number_search(flt: TaskFilter) -> bool:
    """Whether the search text has the shape of a case number or the start of one (``YK20261126123456``,
    ``yk20261126``, ``DEMO-0001``): then it finds those cases through the case-number index instead of scanning
    customer names for the text."""
    return bool(CASE_NUMBER_SHAPE.match((flt.search or "").strip().upper()))


FEW_CASE_NUMBERS = 1000
"""A case-number search reads the case-number index when at most this many open tasks (of anyone) have the prefix:
a case, a day's cases. A broader prefix (``YK2026``, ``YK202611``: most open tasks) reads each visible queue in list
order with the prefix as a filter instead, as the other filters do: reading every match through the case-number
index, then sorting them, cost hundreds of milliseconds at 100,000 open tasks (docs/decisions.md)."""


def _few_case_numbers(session: Session, flt: TaskFilter, dialect: str) -> bool:
    """Whether few open tasks have the searched case-number prefix (``FEW_CASE_NUMBERS``); the count stops after
    one more, so it reads at most that many entries of the case-number index."""
    prefix = case_number_prefix(OpenTask.case_number, (flt.search or "").strip(), dialect)
    probe = select(OpenTask.id).where(prefix).limit(FEW_CASE_NUMBERS + 1).subquery()
    return (session.scalar(select(func.count()).select_from(probe)) or 0) <= FEW_CASE_NUMBERS


def case_number_prefix(column: Any, text: str, dialect: str) -> Any:
    """The case numbers starting with ``text`` (any letter case: numbers are upper case), as an index range: on
    SQLite a range of the BINARY index (exact for the ASCII of case numbers), on PostgreSQL ``LIKE 'prefix%'``,
    which its pattern-ops index serves in any collation (migration 0012). The whole number is its own prefix."""
    prefix = text.strip().upper()
    if dialect == "postgresql" or not prefix:
        return column.startswith(prefix, autoescape=True)
    return and_(column >= prefix, column < prefix[:-1] + chr(ord(prefix[-1]) + 1))


def _list_conditions(flt: TaskFilter, now: datetime, case_number_search: bool = False,
                     dialect: str = "sqlite") -> list[Any]:
    """The filters of ``_task_query`` besides visibility (search: a case number or its start, or a customer-name
    fragment)."""
    conditions: list[Any] = []
    if flt.category:
        conditions.append(OpenTask.category == flt.category)
    if flt.element_id:
        conditions.append(OpenTask.element_id == flt.element_id)
    if flt.overdue:
        conditions.append(OpenTask.due_at < now)
    if flt.due_today:
        day_end = now.astimezone(SHANGHAI).replace(hour=23, minute=59, second=59)
        conditions.append(and_(OpenTask.due_at >= now, OpenTask.due_at <= day_end))
    if flt.follow_up_due:  # the follow-up date (跟进日期) has come: today or earlier
        conditions.append(OpenTask.follow_up_at <= now)
    if flt.search:
        text = flt.search.strip()
        if case_number_search:
            conditions.append(case_number_prefix(OpenTask.case_number, text, dialect))
        else:
            conditions.append(OpenTask.customer_name_folded.contains(text.casefold(), autoescape=True))
    return conditions


def _visible_sets(flt: TaskFilter, merged: bool = False) -> list[list[Any]]:
    """What ``_task_query`` calls visible, as disjoint sets: my claimed tasks, then each group's unclaimed queue
    (the partial indexes ``ix_open_tasks_mine`` and ``ix_open_tasks_queue[_category]``), then (``include_claimed``)
    each group's tasks held by others (``ix_open_tasks_claimed``: without it, every read and count of these sets
    goes through all claimed tasks, 1–2 s in 全部岗位 at 100,000 open tasks). ``_search_sets`` counts on the queues
    coming right after my own tasks, and the claimed sets after them in the same order.

    ``merged``: all groups' queues as one set, and all their claimed tasks as another (``lane IN …``), which SQLite
    reads in list order across the lanes of an index without sorting them; 17 sets for 全部岗位 cost more to build
    than to run. PostgreSQL sorts such a read, so it takes them only for few rows (跟进到期, ``_merged_sets``);
    elsewhere each lane stays a set of its own there."""
    sets = [[OpenTask.assignee == flt.user]]
    if not flt.mine_only:
        groups = list(dict.fromkeys(flt.groups))
        lanes = [[OpenTask.lane.in_(groups)]] if merged and groups else [[OpenTask.lane == group] for group in groups]
        sets += [[*lane, OpenTask.assignee.is_(None)] for lane in lanes]
        if flt.include_claimed:
            sets += [[*lane, OpenTask.assignee.is_not(None), OpenTask.assignee != flt.user] for lane in lanes]
    return sets


def _page_heads(where: list[Any], size: int, sort: bool = False) -> list[Any]:
    """The first ``size`` tasks of one visible set in list order, as two reads in the order of its index
    (``…, due_at, id``): those with a due date, and those without (the databases put NULLs at opposite ends).
    ``sort``: one read in list order instead, for a set that is found through name pieces and sorted anyway."""
    if sort:
        return [select(OpenTask.id, OpenTask.due_at).where(*where)
                .order_by(OpenTask.due_at.is_(None), OpenTask.due_at, OpenTask.id).limit(size).subquery()]
    return [select(OpenTask.id, OpenTask.due_at).where(*where, due).order_by(OpenTask.due_at, OpenTask.id)
            .limit(size).subquery() for due in (OpenTask.due_at.is_not(None), OpenTask.due_at.is_(None))]


NAME_PIECES = OpenTaskNameGram.__table__
NAME_PIECE_CANDIDATES = {"sqlite": 500, "postgresql": 400}
"""A lane's queue is searched through the name pieces (``OpenTaskNameGram``) when at most this many of the lane's
tasks hold the fragment's rarest piece; with more, the matches are dense enough that reading the queue in list order
finds a page sooner, and the count reads the lane (on SQLite its covering customer-name index). On PostgreSQL a
fragment of 3 or more characters keeps the pg_trgm index, which measured faster there (bench/README.md,
2026-11-26; docs/decisions.md, 31)."""


@functools.cache
def _piece_alias(number: int) -> Any:
    """The ``number``-th alias of the name pieces' table, made once (new aliases per request cost milliseconds in
    SQLAlchemy's statement cache keys)."""
    return NAME_PIECES.alias(f"piece_{number}")


def _fragment_pieces(folded: str) -> list[str]:
    """The name pieces a task must hold to contain ``folded``: the fragment itself up to 2 characters, else each of
    its 2-character pieces (then rechecked with LIKE)."""
    if len(folded) <= 2:
        return [folded]
    return list(dict.fromkeys(folded[i:i + 2] for i in range(len(folded) - 1)))


def _name_candidates(session: Session, folded: str, lanes: list[str], dialect: str) -> dict[str, Any]:
    """For each lane where few tasks hold the fragment's rarest name piece: the ids of the lane's tasks that hold
    all of its pieces (a subquery led by the rarest one). Lanes missing from the result are read in list order."""
    pieces, limit = _fragment_pieces(folded), NAME_PIECE_CANDIDATES[dialect]
    pairs = [(lane, piece) for lane in lanes for piece in pieces]
    counted = session.execute(select(*[  # each count stops after limit + 1 entries: frequent pieces cost no more
        select(func.count()).select_from(
            select(NAME_PIECES.c.task_id).where(NAME_PIECES.c.gram == piece, NAME_PIECES.c.lane == lane)
            .limit(limit + 1).subquery()).scalar_subquery() for lane, piece in pairs])).one()
    counts = {pair: int(count) for pair, count in zip(pairs, counted, strict=True)}
    found: dict[str, Any] = {}
    for lane in lanes:
        rarest = min(pieces, key=lambda piece: counts[lane, piece])
        if counts[lane, rarest] > limit:
            continue
        lead, holds = _piece_alias(0), []
        for number, piece in enumerate((piece for piece in pieces if piece != rarest), start=1):
            other = _piece_alias(number)  # the task holds this piece too: one primary-key probe per candidate
            holds.append(select(other.c.task_id).where(other.c.gram == piece, other.c.lane == lane,
                                                       other.c.task_id == lead.c.task_id).exists())
        ids = select(lead.c.task_id).where(lead.c.gram == rarest, lead.c.lane == lane, *holds)
        if dialect == "postgresql":  # pieces first: the planner misjudges LIKE '%…%' and would scan open_tasks
            ids = select(ids.cte(f"name_candidates_{len(found)}").prefix_with("MATERIALIZED", dialect="postgresql")
                         .c.task_id)
        found[lane] = ids
    return found


def _search_sets(session: Session, flt: TaskFilter, conditions: list[Any], only_search: bool
                 ) -> list[tuple[list[Any], list[Any], bool]]:
    """Each visible set with the filters, as (conditions of its page, conditions of its count, sorted read).

    With a customer-name fragment, a group's queue where few tasks hold the fragment's rarest name piece reads
    just those tasks (on SQLite with the lane test kept off the lane's indexes, on PostgreSQL through a
    materialized CTE, so that both start from the pieces), still rechecked with LIKE; otherwise it reads the queue
    in list order as without pieces, and on SQLite, when the fragment is the only filter, its count ranges over the
    lane's covering customer-name index (``customer_name_folded > ''``, which every match satisfies, steers the
    planner to it). My own tasks (few) are read as before; with ``include_claimed``, a lane's tasks others hold are
    read through the lane's candidates too (the name pieces hold every open task, claimed or not)."""
    sets = [(where, where, False) for where in ([*visible, *conditions] for visible in _visible_sets(flt))]
    folded = (flt.search or "").strip().casefold()
    dialect = session.get_bind().dialect.name
    if not folded or flt.mine_only or not flt.groups or (dialect == "postgresql" and len(folded) > 2):
        return sets  # (PostgreSQL: pg_trgm serves 3 characters and more)
    lanes = list(dict.fromkeys(flt.groups))
    candidates = _name_candidates(session, folded, lanes, dialect)
    for number, lane in enumerate(lanes, start=1):
        queue = [OpenTask.assignee.is_(None), *conditions]
        if lane in candidates:
            lane_test = OpenTask.lane.concat("") == lane if dialect == "sqlite" else OpenTask.lane == lane
            where = [OpenTask.id.in_(candidates[lane]), lane_test, *queue]
            sets[number] = (where, where, True)
            if flt.include_claimed:  # the lane's tasks others hold: the same candidates
                held = [OpenTask.id.in_(candidates[lane]), lane_test, OpenTask.assignee.is_not(None),
                        OpenTask.assignee != flt.user, *conditions]
                sets[number + len(lanes)] = (held, held, True)
        elif only_search and dialect == "sqlite":
            sets[number] = (sets[number][0], [OpenTask.lane == lane, *queue, OpenTask.customer_name_folded > ""],
                            False)
    return sets


@dataclass
class _TaskReads:
    """How ``list_tasks`` reads a filter's tasks: through one condition (``where``: a case-number search served by
    the case-number index) or as disjoint visible sets (``sets``: conditions of each set's page, of its count, and
    whether its page is read sorted). ``counted``: what the total counts instead of each set's count, other
    disjoint sets of the same tasks, each conditions on ``open_tasks`` or a select of one row per task (the name
    pieces that stand for them, ``_team_name_count``)."""

    where: Any = None
    sets: list[tuple[list[Any], list[Any], bool]] = field(default_factory=list)
    counted: list[Any] | None = None

    def counts(self) -> list[Any]:
        """What the total counts: ``counted``, or each set's count conditions, or the one condition."""
        if self.counted is not None:
            return self.counted
        return [[self.where]] if self.where is not None else [where for _, where, _ in self.sets]


def _task_reads(session: Session, runtime: Runtime, flt: TaskFilter) -> _TaskReads:
    """What ``list_tasks`` and ``count_tasks`` read for the filter (the same plan for the list and its counts)."""
    dialect = session.get_bind().dialect.name
    number_search = _is_case_number_search(flt)
    if number_search and (flt.include_claimed or _few_case_numbers(session, flt, dialect)):
        # a case or a day's cases: few rows, found through the case-number index (and every prefix in 全部岗位,
        # whose sets of tasks others hold have no index in list order: there the index range stays the cheaper read)
        return _TaskReads(where=_task_query(flt, runtime.clock.now(), True, dialect))
    conditions = _list_conditions(flt, runtime.clock.now(), number_search, dialect)
    if number_search:  # a broad prefix (a year, a month): each visible set in list order, the prefix a filter
        return _TaskReads(sets=[(where, where, False)
                                for where in ([*visible, *conditions] for visible in _visible_sets(flt))])
    folded = (flt.search or "").strip().casefold()
    only_search = len(conditions) == 1 and bool(folded)
    if flt.follow_up_due and dialect == "postgresql" and not folded:
        # 跟进到期: few tasks, read as merged sets through the follow-up indexes and sorted, instead of one set per
        # lane that PostgreSQL plans one by one (docs/decisions.md, 112)
        return _TaskReads(sets=_merged_sets(flt, conditions, sort=True))
    if flt.include_claimed and not flt.mine_only and flt.groups:  # 全部岗位
        if not folded:
            return _TaskReads(sets=_team_sets(flt, conditions, dialect))
        if len(folded) <= 2:  # a surname, "有限", "科技": the name pieces hold each match exactly once
            groups, pieces, elsewhere = _team_pieces(flt, folded)
            mine = [*elsewhere, *conditions]
            # with no other filter, counted as the pieces' own index range for the groups' tasks, instead of reading
            # every task's name (a frequent fragment: 25–80 ms), and mine in other lanes
            return _TaskReads(sets=_team_name_sets(session, flt, groups, pieces, mine, conditions, dialect),
                              counted=[pieces, mine] if only_search else None)
    return _TaskReads(sets=_search_sets(session, flt, conditions, only_search))


def _merged_sets(flt: TaskFilter, conditions: list[Any], sort: bool) -> list[tuple[list[Any], list[Any], bool]]:
    """My tasks, all groups' queues, and (``include_claimed``) all their tasks others hold, with the filters
    (``_visible_sets(merged=True)``); ``sort``: each read sorted rather than in index order."""
    return [(where, where, sort) for where in ([*visible, *conditions] for visible in _visible_sets(flt, True))]


def _team_sets(flt: TaskFilter, conditions: list[Any], dialect: str) -> list[tuple[list[Any], list[Any], bool]]:
    """全部岗位 without a search (every task of the groups, claimed or not, and mine) as visible sets.

    SQLite: the merged sets (``_merged_sets``), each read in list order. PostgreSQL, which sorts a read of several
    lanes of a lane-first index: the groups as one filter over ``ix_open_tasks_due`` (every open task in list order,
    lane, assignee and category in the index), whose first entries are the page (docs/decisions.md, 112)."""
    if dialect == "sqlite":
        return _merged_sets(flt, conditions, sort=False)
    where = [or_(OpenTask.lane.in_(list(dict.fromkeys(flt.groups))), OpenTask.assignee == flt.user), *conditions]
    return [(where, where, False)]


TEAM_NAME_CANDIDATES = {"sqlite": 5000, "postgresql": 2000}
"""全部岗位 reads a 1–2 character fragment's tasks through the name pieces (then sorts them) when at most this many
of the groups' tasks hold it; with more, reading tasks in list order finds a page of matches sooner (measured at
100,000 open tasks: 2,203 matches took 12 ms through the pieces and 29 ms in list order on SQLite, 6,816 took 25 and
19 ms; on PostgreSQL 800 matches took 17–41 ms in list order, 2,000 about as long either way)."""


def _team_pieces(flt: TaskFilter, folded: str) -> tuple[list[str], Any, list[Any]]:
    """For 全部岗位 and a fragment of 1 or 2 characters: the groups, the name pieces of the groups' tasks that hold
    the fragment (one row per task: a task holds such a fragment exactly when it holds it as a piece), and the
    condition of my tasks in other lanes (few, ``ix_open_tasks_mine``)."""
    groups = list(dict.fromkeys(flt.groups))
    pieces = select(NAME_PIECES.c.task_id).where(NAME_PIECES.c.gram == folded, NAME_PIECES.c.lane.in_(groups))
    return groups, pieces, [OpenTask.assignee == flt.user, or_(OpenTask.lane.is_(None), OpenTask.lane.not_in(groups))]


def _team_name_sets(session: Session, flt: TaskFilter, groups: list[str], pieces: Any, mine: list[Any],
                    conditions: list[Any], dialect: str) -> list[tuple[list[Any], list[Any], bool]]:
    """全部岗位 searched for 1 or 2 characters (pg_trgm has no trigram of them): the groups' tasks, and ``mine``, my
    tasks in other lanes with the filters (``groups``, ``pieces`` and ``mine`` from ``_team_pieces``). When few of
    the groups' tasks hold the fragment (``TEAM_NAME_CANDIDATES``), they are read through the pieces (on PostgreSQL a
    materialized CTE) and sorted; otherwise in list order with the search as a filter (dense matches: "有限", "股份";
    docs/decisions.md, 112): on PostgreSQL through ``ix_open_tasks_due``, on SQLite as its three merged sets of
    全部岗位 (``_team_sets``)."""
    in_groups = OpenTask.lane.in_(groups)
    limit = TEAM_NAME_CANDIDATES[dialect]
    if (session.scalar(select(func.count()).select_from(pieces.limit(limit + 1).subquery())) or 0) <= limit:
        ids = (select(pieces.cte("name_candidates").prefix_with("MATERIALIZED").c.task_id)
               if dialect == "postgresql" else pieces)
        held = [OpenTask.id.in_(ids), in_groups, *conditions]
        return [(held, held, True), (mine, mine, True)]
    if dialect != "postgresql":
        return _team_sets(flt, conditions, dialect)
    where = [in_groups, *conditions]
    return [(where, where, False), (mine, mine, False)]


def _total(session: Session, counted: list[Any], at_most: int | None) -> int:
    """How many tasks the disjoint sets ``counted`` hold (each conditions on ``open_tasks`` or a select of one row
    per task): exactly, or, with ``at_most``, up to ``at_most`` and else ``at_most + 1`` (each set's count stops
    after ``at_most + 1`` rows, a ``LIMIT`` in a subquery, so that a large list is read only that far)."""
    counts = []
    for rows in counted:
        if isinstance(rows, list):
            if at_most is None:
                counts.append(select(func.count()).select_from(OpenTask).where(*rows).scalar_subquery())
                continue
            rows = select(literal_column("1")).select_from(OpenTask).where(*rows)
        probe = (rows if at_most is None else rows.limit(at_most + 1)).subquery()
        counts.append(select(func.count()).select_from(probe).scalar_subquery())
    total = int(session.scalar(select(sum(counts[1:], counts[0]))) or 0)
    return total if at_most is None else min(total, at_most + 1)


def list_tasks(session: Session, runtime: Runtime, flt: TaskFilter, page: int = 1, page_size: int = 50,
               count_bound: int | None = None, total: int | None = None) -> TaskPage:
    """A page of open tasks, earliest due first (tasks without a due date last), and how many there are: exactly,
    or with ``count_bound`` exactly up to that bound and else ``count_bound + 1`` (``TaskPage.total_capped``; the
    web list says "10000+", as its badges do, instead of counting every lane's tasks of 全部岗位). ``total``: the
    total as counted before for the same filter and bound, taken as it is instead of counted again (a later page of
    the REST API's list while ``list_version`` is unchanged).

    The same rows as ``_task_query``, but each visible set is read on its own in index order up to the end of the
    page, and these heads (disjoint) are merged with UNION ALL; the total is the sum of one count per set. A
    customer-name search reads a queue through the name pieces of its tasks when that is the smaller read
    (``_search_sets``)."""
    page, page_size = max(page, 1), min(max(page_size, 1), 200)
    reads = _task_reads(session, runtime, flt)
    if reads.where is not None:
        found = session.scalars(select(OpenTask).where(reads.where)
                                .order_by(OpenTask.due_at.is_(None), OpenTask.due_at, OpenTask.id)
                                .offset((page - 1) * page_size).limit(page_size)).all()
        counted = _total(session, reads.counts(), count_bound) if total is None else total
        return TaskPage(list(found), counted, page, page_size, count_bound)
    heads = [head for where, _, sort in reads.sets for head in _page_heads(where, page * page_size, sort)]
    merged = union_all(*[select(head.c.id, head.c.due_at) for head in heads]).subquery()
    page_ids = (select(merged.c.id).order_by(merged.c.due_at.is_(None), merged.c.due_at, merged.c.id)
                .offset((page - 1) * page_size).limit(page_size))
    items = session.scalars(select(OpenTask).where(OpenTask.id.in_(page_ids))
                            .order_by(OpenTask.due_at.is_(None), OpenTask.due_at, OpenTask.id)).all()
    if total is None:
        total = _total(session, reads.counts(), count_bound)
    return TaskPage(list(items), total, page, page_size, count_bound)


def list_version(session: Session) -> int:
    """A number that changes whenever the open tasks may have: the id of the newest event in the log
    (``chain_head.last_event_id``, 0 before the first). Every change of an open task that a list filters, orders or
    counts on logs an event in the same transaction (a task enabled, completed, cancelled or withdrawn with its
    step; claimed ``started``, ``unclaimed``, ``assigned``; a case suspended, resumed, cancelled or moved to another
    version, which also moves due dates), and the head row is locked while appending, so on both databases it
    moves in commit order. Not covered: the follow-up date (跟进日期) and a step's display name, which the REST API
    neither filters nor counts on; and the clock (``overdue``, ``due_today``), which changes a list with no write.
    Read it before counting: a total counted after it is at least as new."""
    return int(session.scalar(select(ChainHead.last_event_id).where(ChainHead.id == 1)) or 0)


def count_tasks(session: Session, runtime: Runtime, flt: TaskFilter, at_most: int) -> int:
    """How many tasks ``list_tasks`` totals for the filter when that is at most ``at_most``, else ``at_most + 1``
    (more than ``at_most``): each set's count stops after ``at_most + 1`` rows (``LIMIT`` in a subquery), so a count
    over a large list (全部岗位: every lane's tasks) reads a bounded part of it. For a tab's badge; ``list_tasks``
    counts the same way with ``count_bound``, exactly without it."""
    reads = _task_reads(session, runtime, flt)
    return _total(session, reads.counts(), at_most)


@dataclass
class StepCount:
    element_id: str
    name: str
    count: int


def task_steps(session: Session, runtime: Runtime, flt: TaskFilter) -> list[StepCount]:
    """The steps among the tasks a filter shows, with how many tasks each: the choices of a step filter."""
    dialect, now = session.get_bind().dialect.name, runtime.clock.now()
    number_search = _is_case_number_search(flt)
    if number_search and not flt.include_claimed and not _few_case_numbers(session, flt, dialect):
        # a broad prefix: the visible queues' indexes, as list_tasks reads them, the prefix a filter
        where = and_(or_(*[and_(*visible) for visible in _visible_sets(flt)]),
                     *_list_conditions(flt, now, True, dialect))
    else:
        where = _task_query(flt, now, number_search, dialect)
    rows = session.execute(
        select(OpenTask.element_id, OpenTask.name, func.count()).where(where)
        .group_by(OpenTask.element_id, OpenTask.name).order_by(OpenTask.element_id)
    ).all()
    return [StepCount(element_id, name, int(count)) for element_id, name, count in rows]
