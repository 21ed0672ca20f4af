"""SLA status per step for the case page: each step's deadline (recorded with its ``enabled`` event), when it was
done, and whether that was in time; open steps show how long is left or that they are overdue."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from runner.clock import parse_iso


@dataclass
class SlaRow:
    element_id: str
    name: str
    due_at: datetime
    completed_at: datetime | None
    status: str  # on_time|late|open|overdue

    @property
    def overdue(self) -> bool:
        return self.status in ("late", "overdue")


def sla_rows(history: list[Any], open_elements: set[str], now: datetime) -> list[SlaRow]:
    """One row per visit of a step that had a deadline, in the order the case reached them."""
    rows: list[SlaRow] = []
    by_task: dict[str, SlaRow] = {}
    for event in history:
        if event.lifecycle == "enabled" and isinstance(event.data, dict) and event.data.get("due_at"):
            row = SlaRow(event.element_id, event.activity, parse_iso(str(event.data["due_at"])), None, "open")
            rows.append(row)
            if event.task_id:
                by_task[event.task_id] = row
        elif event.lifecycle == "completed" and event.task_id in by_task:
            row = by_task.pop(event.task_id)
            row.completed_at = event.at
            row.status = "on_time" if event.at <= row.due_at else "late"
    for row in by_task.values():  # not completed: still open, or ended some other way (a timer, a cancellation)
        if row.element_id in open_elements:
            row.status = "overdue" if now > row.due_at else "open"
        else:
            row.status = "ended"
    return rows
