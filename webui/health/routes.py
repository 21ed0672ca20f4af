"""``GET /healthz`` for load balancers and monitoring: one answer for both.

The HTTP status is for load balancers: 200 while this web server can serve (the database answers, at this release's
schema revision, and can store data: a no-op write and, on SQLite, the free disk space — ``webui.schema_check``),
503 when it cannot (``status: error``; ``database.error`` names the problem, with host:port and the driver's reason,
never a password). The body is for monitoring: ``status`` is ``ok`` when,
besides, a worker is alive, ``degraded`` when none is (``worker.status`` ``stale`` or ``none``): pages still work,
but timers do not fire and notifications are not sent — something to alert on, not a reason to take the web
server out of rotation, so ``degraded`` stays 200.

``worker.status`` comes from the heartbeats the workers write every poll (``runner.heartbeat``): ``ok`` when a
running worker beat within ``heartbeat.stale_after`` of its own poll interval (``poll_seconds`` in its row; the
web's ``WORKER_POLL_SECONDS`` for rows without one), ``stale`` when there are heartbeats but none that fresh (the
workers stopped or hang), ``none`` when no worker ever wrote one. Heartbeats are judged on the wall clock
(``heartbeat.heartbeat_clock``); ``worker.heartbeat.from_future`` counts running workers whose heartbeat lies
ahead of this server's clock (clock skew between hosts, or a row left by a worker on an offset clock) — never
counted alive. ``worker.heartbeat`` shows the newest alive worker (else the newest running, else the newest).

``worker.activity`` is read from the worker's traces: a lease held now on a job or an outbox message, or a delivery
within ``RECENT``, means ``active``; pending jobs or messages due for longer than ``STALE`` with nobody holding them
mean ``stalled`` (no worker is taking them); otherwise ``unknown`` (nothing to do, so nothing to tell). Read-only
probes of the runner's tables, no use case: they stay here, beside the route.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy import func, or_, select, text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session

from runner import heartbeat, outbox_admin
from runner.environment import driver_reason
from runner.models import Job, OutboxMessage
from runner.schema import head
from runner.worker import DEFAULT_POLL_SECONDS

from ..extensions import runtime, session
from ..schema_check import request_problem, rollback_quietly, storage_problem

bp = Blueprint("health", __name__)

RECENT = timedelta(minutes=10)
STALE = timedelta(minutes=5)


def worker_status(database: Session, now: datetime, heartbeat_now: datetime) -> dict[str, Any]:
    """The worker part of ``/healthz``: traces read at ``now`` (the cases' clock, as leases and due dates are
    written), heartbeats judged at ``heartbeat_now`` (the wall clock, as they are written)."""
    leased = 0
    for model in (Job, OutboxMessage):
        leased += database.scalar(select(func.count()).select_from(model).where(
            model.status == "pending", model.lease_until > now)) or 0
    overdue_jobs = database.scalar(select(func.count()).select_from(Job).where(
        Job.status == "pending", Job.due_at < now - STALE,
        or_(Job.lease_until.is_(None), Job.lease_until < now))) or 0
    overdue_messages = database.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.status == "pending", OutboxMessage.next_attempt_at < now - STALE,
        or_(OutboxMessage.lease_until.is_(None), OutboxMessage.lease_until < now))) or 0
    last_delivery = database.scalar(select(func.max(OutboxMessage.delivered_at)))
    if leased or (last_delivery is not None and last_delivery > now - RECENT):
        activity = "active"
    elif overdue_jobs or overdue_messages:
        activity = "stalled"
    else:
        activity = "unknown"
    poll = float(current_app.config.get("WORKER_POLL_SECONDS", DEFAULT_POLL_SECONDS))
    beats = heartbeat.heartbeat_status(database, heartbeat_now, poll)
    newest = beats.newest
    return {"status": beats.status, "activity": activity,
            "heartbeat": None if newest is None else {
                "worker_id": newest.worker_id, "host": newest.host, "pid": newest.pid,
                "started_at": newest.started_at.isoformat(), "seen_at": newest.seen_at.isoformat(),
                "age_seconds": round(beats.age_seconds or 0.0, 1), "poll_seconds": newest.poll_seconds,
                "stale_after_seconds": beats.stale_after_seconds, "alive": beats.alive,
                "from_future": beats.from_future,
                "stopped_at": newest.stopped_at.isoformat() if newest.stopped_at is not None else None},
            "leases_held": leased, "overdue_jobs": overdue_jobs,
            "overdue_messages": overdue_messages, "failed_messages": outbox_admin.failed_count(database),
            "last_delivery_at": last_delivery.isoformat() if last_delivery is not None else None}


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    now = runtime().clock.now()
    heartbeat_now = heartbeat.heartbeat_clock(runtime().clock).now()
    database = session()
    try:
        database.execute(text("SELECT 1"))
        revision = database.scalar(text("SELECT version_num FROM alembic_version"))
        worker = worker_status(database, now, heartbeat_now)
        cannot_store = storage_problem(database) if revision == head() else None
    except SQLAlchemyError as err:
        body = {"status": "error", "database": {"ok": False, "error": database_error(err)}, "worker": {"status":
                "unknown"}, "time": now.isoformat()}
        return jsonify(body), 503
    finally:
        rollback_quietly()  # read only; and on SQLite let go of the write lock at once
    if cannot_store is not None:
        return jsonify({"status": "error", "database": {"ok": False, "schema_revision": revision,
                                                        "error": cannot_store},
                        "worker": worker, "time": now.isoformat()}), 503
    if revision != head():  # not served until `baozhuang db upgrade` (webui.schema_check)
        return jsonify({"status": "error", "database": {"ok": False, "schema_revision": revision,
                                                        "expected_revision": head(),
                                                        "error": "run `baozhuang db upgrade`"},
                        "worker": worker, "time": now.isoformat()}), 503
    status = "ok" if worker["status"] == "ok" else "degraded"  # serving, but no worker alive: still 200
    return jsonify({"status": status, "database": {"ok": True, "schema_revision": revision}, "worker": worker,
                    "time": now.isoformat()})


def database_error(err: SQLAlchemyError) -> str:
    """``database.error``: the problem as the 503 pages name it (host:port, the driver's reason, no password)."""
    if isinstance(err, DBAPIError):
        return request_problem(err) or f"{type(err).__name__}: {driver_reason(err, database_url())}"
    return type(err).__name__


def database_url() -> str:
    url: str = current_app.config["SQLALCHEMY_DATABASE_URI"]
    return url
