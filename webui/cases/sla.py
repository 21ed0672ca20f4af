"""SLA status per step for the case page: each step's deadline (recorded with its ``enabled`` event), when it was
done, and whether that was in time; open steps show how long is left or that they are overdue.

A suspended case's SLA clock is paused (``services._pause_deadlines`` moves the deadlines on resumption), so while
it is suspended an open step is overdue only if it already was when the case was suspended. A step withdrawn
undone (the case cancelled, an interrupting event) is ``ended``; it counts as overdue when it ended after its
deadline (the step had breached its limit before it was withdrawn)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from runner.clock import parse_iso
from runner.workdays import WorkingCalendar

CASE_ELEMENT = "case"
"""The ``element_id`` of events about the whole case (``Case.case_event``: suspended, running, cancelled …)."""


@dataclass
class SlaRow:
    element_id: str
    name: str
    due_at: datetime
    completed_at: datetime | None
    status: str  # on_time|late|open|overdue
    estimated: bool = False
    """The deadline was counted over a year without official holiday data (rule-based, no 调休): flagged."""
    ended_at: datetime | None = None
    """When a step that was not completed was withdrawn (``ended``): the cancellation, or the suspension before it."""

    @property
    def overdue(self) -> bool:
        if self.status == "ended":
            return self.ended_at is not None and self.ended_at > self.due_at
        return self.status in ("late", "overdue")


def _follow_moved_deadlines(open_rows: Any, moved: list[dict[str, str]]) -> None:
    """A resumed case's paused SLA clock (``services._pause_deadlines``): each open step whose deadline was a moved
    timer's (the step's boundary timer: same moment) takes the new one."""
    later = {parse_iso(entry["from"]): parse_iso(entry["to"]) for entry in moved
             if isinstance(entry, dict) and entry.get("from") and entry.get("to")}
    for row in open_rows:
        if row.due_at in later:
            row.due_at = later[row.due_at]


def sla_rows(history: list[Any], open_elements: set[str], now: datetime,
             calendar: WorkingCalendar | None = None) -> list[SlaRow]:
    """One row per visit of a step that had a deadline, in the order the case reached them (a suspension's pause
    moves an open step's deadline: ``deadlines_moved`` of the ``running`` event); with ``calendar``, a deadline
    counted over estimated holidays (from the step's start to its due day) is ``estimated``."""
    rows: list[SlaRow] = []
    by_task: dict[str, SlaRow] = {}
    suspended_at: datetime | None = None  # the SLA clock stopped here (the case is suspended)
    for event in history:
        if event.element_id == CASE_ELEMENT and not event.task_id:
            if event.lifecycle == "suspended":
                suspended_at = event.at
            elif event.lifecycle == "cancelled":
                for row in by_task.values():
                    row.ended_at = row.ended_at or suspended_at or event.at
            elif event.lifecycle == "running":
                suspended_at = None
        if event.lifecycle == "enabled" and isinstance(event.data, dict) and event.data.get("due_at"):
            due_at = parse_iso(str(event.data["due_at"]))
            estimated = calendar is not None and calendar.is_estimated_between(event.at, due_at)
            row = SlaRow(event.element_id, event.activity, due_at, None, "open", estimated)
            rows.append(row)
            if event.task_id:
                by_task[event.task_id] = row
        elif event.lifecycle == "running" and isinstance(event.data, dict) and event.data.get("deadlines_moved"):
            _follow_moved_deadlines(by_task.values(), event.data["deadlines_moved"])
        elif event.lifecycle == "completed" and event.task_id in by_task:
            row = by_task.pop(event.task_id)
            row.completed_at = event.at
            row.status = "on_time" if event.at <= row.due_at else "late"
        elif event.lifecycle == "cancelled" and event.task_id in by_task:  # withdrawn by an interrupting event
            by_task[event.task_id].ended_at = event.at
    clock = suspended_at or now  # a suspended case's deadlines wait for its resumption
    for row in by_task.values():  # not completed: still open, or ended some other way (a timer, a cancellation)
        if row.element_id in open_elements and row.ended_at is None:
            row.status = "overdue" if clock > row.due_at else "open"
        else:
            row.status = "ended"
    return rows
