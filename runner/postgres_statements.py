"""PostgreSQL-only statements of the durable runner: a save's writes in one round trip.

Data-modifying CTEs let one statement write the case row under its revision, drop the open-task rows of tasks no
longer ready (with their name pieces and drafts), add rows (and pieces) for new ready tasks, cancel and add timer
jobs and, for a task completion, add the idempotency row. SQLite has no data-modifying CTEs: ``runner.store`` runs
the same steps there as separate statements. Built once, like every hot-path statement (docs/runner.md).
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import DateTime, Integer, String, Table, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY

from .models import Case as CaseRow
from .models import UtcDateTime

_CASES = cast(Table, CaseRow.__table__)
CASE_COLUMNS = ("state", "revision", "updated_at", "status", "category", "customer_name", "summary", "completed_at")
"""What ``runner.store.save_case`` writes of the case row (bind parameters ``new_<column>``)."""
# PostgreSQL: what follows the case row, in the same statement as the row (data-modifying CTEs: one round trip for
# the row, the open-task rows with their name pieces and drafts, and the timer jobs). Rows go in as arrays, so that
# one prebuilt statement takes any number of them. Every part hangs on ``written``: when the revision check refuses
# the row, nothing else is written either.
_TEXTS = ARRAY(String)
_TIMES = ARRAY(DateTime)  # naive UTC, as ``UtcDateTime`` stores them (``_utc``)
_PG_WRITE_CASE = ("""written AS (
    UPDATE cases SET state = :new_state, revision = :new_revision, updated_at = :new_updated_at, status = :new_status,
                     category = :new_category, customer_name = :new_customer_name, summary = :new_summary,
                     completed_at = :new_completed_at
    WHERE id = :row_id AND revision = :read_revision
    RETURNING id)""", [bindparam("row_id", type_=Integer), bindparam("read_revision", type_=Integer),
                       *[bindparam(f"new_{name}", type_=_CASES.c[name].type) for name in CASE_COLUMNS]])
_PG_COMPLETION_REQUEST = ("""completion_request AS (  -- the idempotency row of the completion this save finishes
    INSERT INTO completion_requests (request_id, case_id, task_id, "user", completed_at)
    SELECT :request_id, written.id, :task_id, :user, :completed_at FROM written
)""", [*[bindparam(name, type_=String) for name in ("request_id", "task_id", "user")],
       bindparam("completed_at", type_=UtcDateTime())])
_PG_CASE_ID = ("written AS (SELECT CAST(:row_id AS INTEGER) AS id)", [bindparam("row_id", type_=Integer)])
"""Instead of ``_PG_WRITE_CASE``: a sync on its own (the case row is written already)."""
_PG_OPEN_TASKS = ("""gone AS (  -- tasks done or withdrawn: their rows, pieces and drafts
    DELETE FROM open_tasks WHERE case_id IN (SELECT id FROM written) AND id <> ALL(:ready_ids) RETURNING id
), gone_name_grams AS (
    DELETE FROM open_task_name_grams WHERE task_id IN (SELECT id FROM gone)
), gone_drafts AS (
    DELETE FROM task_drafts WHERE task_id IN (SELECT id FROM gone)
), added AS (  -- ready tasks without a row (rows that exist keep their claim and follow-up)
    INSERT INTO open_tasks (id, case_id, case_number, element_id, name, lane, assignee, created_at, due_at,
                            follow_up_at, category, customer_name, customer_name_folded, form_schema, form_ui_schema)
    SELECT task.id, written.id, :case_number, task.element_id, task.name, task.lane, NULL, :created_at, task.due_at,
           NULL, :category, :customer_name, :customer_name_folded, task.form_schema, task.form_ui_schema
    FROM written, unnest(:ready_ids, :element_ids, :names, :lanes, :due_ats, :form_schemas, :form_ui_schemas)
         WITH ORDINALITY AS task (id, element_id, name, lane, due_at, form_schema, form_ui_schema, n)
    ORDER BY task.n
    ON CONFLICT DO NOTHING
    RETURNING id
), added_name_grams AS (  -- the pieces of the rows just added only
    INSERT INTO open_task_name_grams (gram, lane, task_id)
    SELECT piece.gram, piece.lane, piece.task_id
    FROM unnest(:grams, :gram_lanes, :gram_task_ids) AS piece (gram, lane, task_id)
    WHERE piece.task_id IN (SELECT id FROM added)
    ON CONFLICT DO NOTHING
)""", [bindparam("created_at", type_=UtcDateTime()),
       *[bindparam(name, type_=String)
         for name in ("case_number", "category", "customer_name", "customer_name_folded")],
       *[bindparam(name, type_=_TEXTS) for name in ("ready_ids", "element_ids", "names", "lanes", "form_schemas",
                                                      "form_ui_schemas", "grams", "gram_lanes", "gram_task_ids")],
       bindparam("due_ats", type_=_TIMES)])
_PG_TIMER_JOBS = ("""ended_timer_jobs AS (  -- pending jobs of timers no longer waiting: done if fired, else cancelled
    UPDATE jobs SET status = CASE WHEN task_id = ANY(:fired_timer_ids) THEN 'done' ELSE 'cancelled' END
    WHERE case_id IN (SELECT id FROM written) AND kind = 'timer' AND status = 'pending'
      AND task_id <> ALL(:timer_task_ids)
), added_timer_jobs AS (  -- waiting timers that never had a job (the unique key is kind, case, task)
    INSERT INTO jobs (kind, case_id, task_id, element_id, due_at, status, attempts)
    SELECT 'timer', written.id, timer.task_id, timer.element_id, timer.due_at, 'pending', 0
    FROM written, unnest(:timer_task_ids, :timer_element_ids, :timer_due_ats) WITH ORDINALITY
         AS timer (task_id, element_id, due_at, n)
    ORDER BY timer.n
    ON CONFLICT (kind, case_id, task_id) DO NOTHING
)""", [bindparam("timer_task_ids", type_=_TEXTS), bindparam("timer_element_ids", type_=_TEXTS),
       bindparam("timer_due_ats", type_=_TIMES), bindparam("fired_timer_ids", type_=_TEXTS)])


def _postgres_statement(*parts: tuple[str, list[Any]]) -> Any:
    """One statement of the parts' CTEs (the first defines ``written``); it returns the written case's id."""
    return text("WITH " + ",\n".join(sql for sql, _ in parts) + "\nSELECT id FROM written").bindparams(
        *[bind for _, binds in parts for bind in binds])


SAVE = _postgres_statement(_PG_WRITE_CASE, _PG_OPEN_TASKS, _PG_TIMER_JOBS)
SAVE_COMPLETION = _postgres_statement(_PG_WRITE_CASE, _PG_COMPLETION_REQUEST, _PG_OPEN_TASKS, _PG_TIMER_JOBS)
SYNC_TIMER_JOBS = _postgres_statement(_PG_CASE_ID, _PG_TIMER_JOBS)
