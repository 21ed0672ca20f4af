"""When suspended cases stopped: the moment of each one's latest ``suspended`` event, from which its time limits
are paused. One query for resuming (``services._pause_deadlines`` moves the deadlines by the working days since)
and for the pages that say a suspended case's deadlines are paused (``case_queries.suspended_since``), so that both
always name the same moment."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .models import Case as CaseRow
from .models import Event


def suspended_since(session: Session, case_numbers: Collection[str]) -> dict[str, datetime]:
    """Case number → when its latest suspension began (the time of its last ``suspended`` case event), for those of
    these cases that are suspended now."""
    if not case_numbers:
        return {}
    latest = (select(func.max(Event.id))
              .join(CaseRow, CaseRow.id == Event.case_id)
              .where(CaseRow.case_number.in_(set(case_numbers)), CaseRow.status == "suspended",
                     Event.element_id == "case", Event.lifecycle == "suspended")
              .group_by(Event.case_id))
    rows = (select(CaseRow.case_number, Event.at).join(CaseRow, CaseRow.id == Event.case_id)
            .where(Event.id.in_(latest)))
    return dict(session.execute(rows).tuples().all())
