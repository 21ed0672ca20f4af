"""Typed SQLAlchemy models of the durable runner.

The web UI binds these through Flask-SQLAlchemy (``SQLAlchemy(model_class=Base)`` shares this metadata); the
worker and the command line use plain SQLAlchemy sessions from ``runner.database``. Same tables either way.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, registry
from sqlalchemy.types import DateTime, TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """Aware datetimes stored as naive UTC (SQLite keeps no offset), read back as aware UTC."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None else None


class Base(DeclarativeBase):
    """Declarative base of every table. The type map sits on the registry, not in a ``type_annotation_map``
    class attribute, so that Flask-SQLAlchemy can take this class as its ``model_class`` (docs/decisions.md, 16)."""

    registry = registry(type_annotation_map={datetime: UtcDateTime(), dict[str, Any]: JSON, list[Any]: JSON})


class ProcessVersion(Base):
    """A deployed process folder, identified by the content hash of its files; its parsed spec stored once."""

    __tablename__ = "process_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # the two large columns load when first read (a parsed version is cached per process, so starting a case or
    # listing versions need neither; reading them took 3 ms of every case start)
    files: Mapped[dict[str, Any]] = mapped_column(deferred=True)  # relative path -> text
    spec_json: Mapped[str] = mapped_column(Text, deferred=True)  # serialized top spec + subprocess specs
    deployed_at: Mapped[datetime] = mapped_column()
    deployed_by: Mapped[str] = mapped_column(String(80))
    note: Mapped[str | None] = mapped_column(String(400))


class VersionActivation(Base):
    """A version made the one new cases start on, by whom and when: each deployment of a new version, and each
    re-deployment of an older version's files (a rollback). The newest row names the current version
    (``store.current_version``); running cases keep the version they run."""

    __tablename__ = "process_version_activations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("process_versions.id"), index=True)
    previous_version_id: Mapped[int | None] = mapped_column(ForeignKey("process_versions.id"))
    activated_at: Mapped[datetime] = mapped_column()
    activated_by: Mapped[str] = mapped_column(String(80))
    note: Mapped[str | None] = mapped_column(String(400))


class Case(Base):
    """A running or finished case: workflow state without the spec, guarded by a revision counter."""

    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_number: Mapped[str] = mapped_column(String(40), unique=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("process_versions.id"))
    status: Mapped[str] = mapped_column(String(20), index=True)  # running|completed|cancelled|suspended
    revision: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[bytes] = mapped_column(LargeBinary)  # zlib-compressed workflow state JSON, spec excluded
    category: Mapped[str | None] = mapped_column(String(30), index=True)
    customer_name: Mapped[str | None] = mapped_column(String(200))
    access_code_hash: Mapped[str | None] = mapped_column(String(128))
    summary: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column()
    completed_at: Mapped[datetime | None] = mapped_column()


QUEUE_FOLLOW_UP = "assignee IS NULL AND follow_up_at IS NOT NULL"
CLAIMED_FOLLOW_UP = "assignee IS NOT NULL AND follow_up_at IS NOT NULL"
"""The rows of the follow-up indexes (``OpenTask``, migration 0014): few tasks have a follow-up date."""
ROW_ID_MAX = 2**31 - 1
"""The largest id of a row with an ``Integer`` primary key (PostgreSQL's ``integer``): a larger number asked for in
a URL is no row, never a database error (``webui.converters``, ``row_id``)."""


def row_id(text: str, largest: int = ROW_ID_MAX) -> int | None:
    """The row id ``text`` spells in ASCII digits (1 … ``largest``: ``ROW_ID_MAX``, or a ``BigInteger`` key's), or
    None when it spells none a row can have (a query parameter or a path segment taken as text)."""
    if not (text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if 0 < value <= largest else None

POSTGRESQL_ONLY_INDEXES = frozenset({"ix_open_tasks_due", "ix_open_tasks_category_due"})
"""Indexes of ``OpenTask`` that only PostgreSQL gets (migration 0015): SQLite, whose planner has no statistics, would
take them over the lane indexes its task-list reads are built for (docs/decisions.md, 112)."""


class OpenTask(Base):
    """One row per ready human task: what task lists filter and page on, never the engine state."""

    __tablename__ = "open_tasks"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # the engine's task id
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    case_number: Mapped[str] = mapped_column(String(40))
    element_id: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200))
    lane: Mapped[str | None] = mapped_column(String(60))  # the candidate group (role)
    assignee: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column()
    due_at: Mapped[datetime | None] = mapped_column()
    follow_up_at: Mapped[datetime | None] = mapped_column()
    category: Mapped[str | None] = mapped_column(String(30))
    customer_name: Mapped[str | None] = mapped_column(String(200))
    customer_name_folded: Mapped[str | None] = mapped_column(String(200))  # lower-cased for search
    form_schema: Mapped[str | None] = mapped_column(String(200))
    form_ui_schema: Mapped[str | None] = mapped_column(String(200))

    # The task list reads each visible set on its own, in index order (tasks with a due date by due date and id,
    # then those without by id), so that a page is the first index entries and a count is an index range
    # (migration 0003, ``services.list_tasks``): a lane's unclaimed queue, the same per category, and a person's
    # own tasks. Search: case number or its prefix; customer name substring through the 1- and 2-character pieces
    # of ``open_task_name_grams`` (migration 0005; pg_trgm for 3+ characters on PostgreSQL), or by scanning the
    # lane's queue in a covering index when a piece is too common to help.
    __table_args__ = (
        Index("ix_open_tasks_queue", "lane", "due_at", "id",
              sqlite_where=text("assignee IS NULL"), postgresql_where=text("assignee IS NULL")),
        Index("ix_open_tasks_queue_category", "lane", "category", "due_at", "id",
              sqlite_where=text("assignee IS NULL"), postgresql_where=text("assignee IS NULL")),
        Index("ix_open_tasks_mine", "assignee", "due_at", "id",
              sqlite_where=text("assignee IS NOT NULL"), postgresql_where=text("assignee IS NOT NULL")),
        # each lane's claimed tasks in list order, covering the 全部岗位 tab's reads and counts (migration 0013)
        Index("ix_open_tasks_claimed", "lane", "due_at", "id", "assignee", "category",
              sqlite_where=text("assignee IS NOT NULL"), postgresql_where=text("assignee IS NOT NULL")),
        # each lane's tasks with a follow-up date (跟进日期), unclaimed and claimed, by that date: the 跟进到期 filter
        # and its badge read and count the lane's due ones as an index range instead of every open task of the lane
        # (migration 0014; covering the list order, the assignee and the category, so reads never leave the index)
        Index("ix_open_tasks_queue_follow_up", "lane", "follow_up_at", "due_at", "id", "assignee", "category",
              sqlite_where=text(QUEUE_FOLLOW_UP), postgresql_where=text(QUEUE_FOLLOW_UP)),
        Index("ix_open_tasks_claimed_follow_up", "lane", "follow_up_at", "due_at", "id", "assignee", "category",
              sqlite_where=text(CLAIMED_FOLLOW_UP), postgresql_where=text(CLAIMED_FOLLOW_UP)),
        # PostgreSQL only (POSTGRESQL_ONLY_INDEXES): every open task in list order, covering lane, assignee and
        # category, and the same per category: 全部岗位 (every lane, claimed or not) reads its page as the first
        # entries of one of these with the lanes as a filter, and counts a category as a range of the second,
        # instead of one read per lane and per claimed state (migration 0015)
        Index("ix_open_tasks_due", "due_at", "id", "lane", "assignee", "category").ddl_if(dialect="postgresql"),
        Index("ix_open_tasks_category_due", "category", "due_at", "id", "lane", "assignee"
              ).ddl_if(dialect="postgresql"),
        Index("ix_open_tasks_queue_customer", "lane", "customer_name_folded", "case_number",
              sqlite_where=text("assignee IS NULL"), postgresql_where=text("assignee IS NULL")),
        # a case number or its prefix; PostgreSQL: pattern ops for LIKE 'prefix%' in any collation (migration 0012)
        Index("ix_open_tasks_case_number", "case_number", postgresql_ops={"case_number": "varchar_pattern_ops"}),
        # PostgreSQL: a trigram index for LIKE '%…%' (a plain B-tree if pg_trgm cannot be created; see 0003)
        Index("ix_open_tasks_customer", "customer_name_folded", postgresql_using="gin",
              postgresql_ops={"customer_name_folded": "gin_trgm_ops"}, postgresql_with={"fastupdate": "off"}),
    )


class OpenTaskNameGram(Base):
    """Every 1- and 2-character piece of an open task's ``customer_name_folded`` (each once per task), keyed by
    piece and lane: customer-name search of any length through an index on both databases (migration 0005,
    ``services.list_tasks``). Written and deleted with the open-task row (``store.sync_open_tasks``); an open
    task's lane and name never change once its row exists."""

    __tablename__ = "open_task_name_grams"

    gram: Mapped[str] = mapped_column(String(2), primary_key=True)
    lane: Mapped[str] = mapped_column(String(60), primary_key=True)  # '' for a task without a lane
    task_id: Mapped[str] = mapped_column(String(36), primary_key=True)

    __table_args__ = (Index("ix_open_task_name_grams_task", "task_id"), {"sqlite_with_rowid": False})


class CompletionRequest(Base):
    """Idempotency of task completions: a request id completes at most once and repeats get the same answer."""

    __tablename__ = "completion_requests"

    request_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    task_id: Mapped[str] = mapped_column(String(36))
    user: Mapped[str] = mapped_column(String(80))
    completed_at: Mapped[datetime] = mapped_column()


class StartRequest(Base):
    """Idempotency of case starts: a request id (the portal's submission id) starts at most one case; a repeat, also
    one sent at the same time from another process or host, is answered with that case. The row is inserted before
    the case (same transaction), so the primary key decides which of two concurrent starts goes on."""

    __tablename__ = "start_requests"

    request_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    case_number: Mapped[str] = mapped_column(String(40))
    requested_by: Mapped[str] = mapped_column(String(80))  # e.g. the portal applicant (``applicant:<token>``)
    requested_at: Mapped[datetime] = mapped_column()
    request_digest: Mapped[str | None] = mapped_column(String(64))  # what it asked (``services.start_digest``)


class Event(Base):
    """The append-only, hash-chained event log (process-mining and audit source)."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    case_number: Mapped[str | None] = mapped_column(String(40))
    task_id: Mapped[str | None] = mapped_column(String(36))
    element_id: Mapped[str] = mapped_column(String(100))
    activity: Mapped[str] = mapped_column(String(200))
    lifecycle: Mapped[str] = mapped_column(String(20))  # enabled|started|completed|cancelled|escalated|...
    role: Mapped[str | None] = mapped_column(String(60))
    user: Mapped[str | None] = mapped_column(String(80))
    at: Mapped[datetime] = mapped_column(index=True)
    data: Mapped[dict[str, Any] | None] = mapped_column()
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))  # not unique: see migration 0007


class ChainHead(Base):
    """The newest event hash; locked while appending so the chain stays one line across processes."""

    __tablename__ = "chain_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_event_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), default=0)
    last_hash: Mapped[str] = mapped_column(String(64))


class Job(Base):
    """Scheduled work for the worker (timer, service-task retry), claimed under a lease."""

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # timer|retry
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    task_id: Mapped[str | None] = mapped_column(String(36))
    element_id: Mapped[str | None] = mapped_column(String(100))
    due_at: Mapped[datetime] = mapped_column()
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending|done|failed|cancelled
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(80))
    lease_until: Mapped[datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index("ix_jobs_pending_due", "status", "due_at"),
        UniqueConstraint("kind", "case_id", "task_id", name="uq_jobs_kind_case_task"),
    )


class OutboxMessage(Base):
    """A notification written by a handler; the worker delivers it with retries under its idempotency key."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    case_number: Mapped[str | None] = mapped_column(String(40), index=True)
    channel: Mapped[str] = mapped_column(String(20))
    to_role: Mapped[str | None] = mapped_column(String(60))
    template: Mapped[str] = mapped_column(String(80))
    payload: Mapped[dict[str, Any]] = mapped_column()
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending|delivered|failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column()
    lease_owner: Mapped[str | None] = mapped_column(String(80))
    lease_until: Mapped[datetime | None] = mapped_column()
    delivered_at: Mapped[datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column()
    last_attempt_at: Mapped[datetime | None] = mapped_column()
    """When the worker last tried to deliver it (None before the first attempt; migration 0010)."""

    __table_args__ = (Index("ix_outbox_pending", "status", "next_attempt_at"),)


class Incident(Base):
    """A service task that failed after its retries: visible to supervisors and retryable."""

    __tablename__ = "incidents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    task_id: Mapped[str] = mapped_column(String(36))
    element_id: Mapped[str] = mapped_column(String(100))
    message: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column()
    resolved_at: Mapped[datetime | None] = mapped_column()


class ArchiveRecord(Base):
    """用户用电档案: the customer electricity archive the handlers keep."""

    __tablename__ = "customer_archive"

    case_number: Mapped[str] = mapped_column(String(40), primary_key=True)
    address_key: Mapped[str | None] = mapped_column(String(300), index=True)
    record: Mapped[dict[str, Any]] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column()


class TaskDraft(Base):
    """A task form saved as a draft (暂存) by the person working on it; dropped when the task completes."""

    __tablename__ = "task_drafts"

    task_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    user: Mapped[str] = mapped_column(String(80))
    data: Mapped[dict[str, Any]] = mapped_column()
    saved_at: Mapped[datetime] = mapped_column()
    migration_notice: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    """What moving the case to another process version took out of the draft (``runner.drafts.recheck_drafts``),
    shown with the form until the draft is saved again (migration 0016)."""


class Document(Base):
    """An uploaded file (材料, photo), stored by reference: form data keeps the id, the bytes sit in file storage."""

    __tablename__ = "documents"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # uuid4 hex reference kept in form data
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)  # None until attached
    element_id: Mapped[str | None] = mapped_column(String(100))  # the task or start form it was uploaded for
    field: Mapped[str | None] = mapped_column(String(200))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(300))
    uploaded_by: Mapped[str] = mapped_column(String(80))
    uploaded_at: Mapped[datetime] = mapped_column()


class DataAccess(Base):
    """One view of unmasked personal data (ID numbers, phone numbers) by a member of staff or an API client."""

    __tablename__ = "data_access_log"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    user: Mapped[str] = mapped_column(String(80))
    case_number: Mapped[str] = mapped_column(String(40))
    fields: Mapped[list[Any]] = mapped_column()
    channel: Mapped[str] = mapped_column(String(20))  # web|api
    at: Mapped[datetime] = mapped_column()

    __table_args__ = (Index("ix_data_access_case", "case_number", "at"), Index("ix_data_access_user", "user", "at"))


class RateLimitHit(Base):
    """One counted request of a rate-limited kind (portal applications, access-code checks) from one address."""

    __tablename__ = "rate_limit_hits"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    bucket: Mapped[str] = mapped_column(String(40))
    key: Mapped[str] = mapped_column(String(128))
    at: Mapped[datetime] = mapped_column()

    __table_args__ = (Index("ix_rate_limit_hits_who", "bucket", "key", "at"),)


class WorkerHeartbeat(Base):
    """A running worker's sign of life, written every poll; /healthz reads the newest."""

    __tablename__ = "worker_heartbeats"

    worker_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    host: Mapped[str] = mapped_column(String(120))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column()
    seen_at: Mapped[datetime] = mapped_column(index=True)
    stopped_at: Mapped[datetime | None] = mapped_column()
    poll_seconds: Mapped[float | None] = mapped_column(Float)  # its --poll-seconds: /healthz judges it by that


class SimulationRun(Base):
    """A stored simulation (or what-if comparison) requested by a process owner, run by a worker under a lease."""

    __tablename__ = "simulation_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column()
    status: Mapped[str] = mapped_column(String(20), index=True)  # queued|running|done|failed|cancelled
    progress: Mapped[float] = mapped_column(Float, default=0.0)  # 0..1
    params: Mapped[dict[str, Any]] = mapped_column()  # scenarios, versions, replications, seed, cases
    result: Mapped[dict[str, Any] | None] = mapped_column()  # KPIs, comparison, chart series
    error: Mapped[str | None] = mapped_column(Text)
    output_dir: Mapped[str | None] = mapped_column(String(400))
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
    lease_owner: Mapped[str | None] = mapped_column(String(80))
    lease_until: Mapped[datetime | None] = mapped_column()
