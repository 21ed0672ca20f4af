"""``make run``'s demo cases are realistic, built through the real runner on a virtual clock (both databases, the
pages through real HTTP): steps spread over office hours of working days and done by the demo users that exist,
mostly in time (only DEMO-0003's supply plan is overdue and DEMO-0007 filed its archive late, each with its 督办),
SLA-breach notifications for those two only, and archive checklists that match each case's route."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

from sqlalchemy import select

from handlers.archive import archive_checklist
from runner.clock import SHANGHAI
from runner.demo import DEMO_CASES, seed
from runner.demo_timing import add_working_hours, in_office_hours, working_hours_before
from runner.environment import Environment
from runner.models import Event, OutboxMessage
from runner.workdays import WorkingCalendar
from tests.conftest import PROCESSES
from tests.db import case_row, events
from tests.webui_helpers import (
    Web,
    text_of,
    web_fixture,  # noqa: F401  (the web fixture)
)
from webui.demo_users import DEMO_NAMES

NOW = datetime(2026, 12, 7, 8, 15, tzinfo=SHANGHAI)
"""A Monday before office hours: the least office time before now, the worst case for the demo's time limits."""
LATE = {"DEMO-0003": {"超期完成", "已超期"}, "DEMO-0007": {"超期完成"}}
"""The deliberately late cases: the plan drafted late (review still open past the limit); the archive filed late."""
NOT_ON_AN_LV_RESIDENTIAL_ROUTE = ("survey_record", "supply_plan", "design_review", "inspection_records")


def seeded(web: Web, tmp_path: Path) -> None:
    web.db.clock.advance_to(NOW)
    env = Environment(url=web.db.url, instance=tmp_path / "demo")
    try:
        seed(PROCESSES, env, now=NOW)
    finally:
        env.dispose()


def sla_section(page: str) -> str:
    match = re.search(r"时限执行情况(.*?)(获得电力指标|申请资料与附件)", page)
    return match[1] if match else ""


def test_demo_cases_are_spread_over_office_hours_by_existing_users(web: Web, tmp_path: Path) -> None:
    seeded(web, tmp_path)
    calendar = WorkingCalendar.default()
    for demo in DEMO_CASES:
        log = events(web.db, demo.number)
        assert all(event.at <= NOW for event in log), demo.number
        people = [event for event in log if event.user]
        users = {event.user for event in people}
        assert users <= set(DEMO_NAMES) | {f"customer:{demo.number}"}, (demo.number, users)
        assert all(in_office_hours(event.at, calendar) for event in people), demo.number
        done = [event.at for event in people if event.lifecycle == "completed"]
        assert len(set(done)) == len(done), f"{demo.number}: two steps done in the same second"
        worked = [event for event in people if event.lifecycle == "started" and not event.user.startswith("customer")]
        assert all(any(other.at > started.at and other.task_id == started.task_id and other.lifecycle == "completed"
                       for other in people) for started in worked), demo.number  # claimed, then done later
    assert case_row(web.db, "DEMO-0007").status == "completed"
    kpis = case_row(web.db, "DEMO-0007").summary["kpis"]
    assert kpis["working_days"] >= 2 and kpis["calendar_days"] >= 2, kpis  # applied → energized: not 0


def test_only_the_deliberately_late_cases_breached_a_time_limit(web: Web, tmp_path: Path) -> None:
    seeded(web, tmp_path)
    supervisor = web.client("supervisor")
    for demo in DEMO_CASES:
        page = text_of(supervisor.get(f"/cases/{demo.number}"))
        sla = sla_section(page)
        assert sla, demo.number
        breached = {word for word in ("超期完成", "已超期") if word in sla}
        assert breached == LATE.get(demo.number, set()), (demo.number, sla)
    first = text_of(supervisor.get("/cases/DEMO-0001"))
    assert "受理时间 —（未受理）" in first and re.search(r"业务受理 \S+ \S+ — 办理中", sla_section(first))
    with web.db.reading() as session:
        breaches = set(session.scalars(select(OutboxMessage.case_number).where(OutboxMessage.template == "sla_breach")))
        handled = set(session.scalars(select(Event.case_number).where(Event.element_id == "supervise_breach",
                                                                       Event.lifecycle == "completed")))
    assert breaches == handled == set(LATE)


def test_archive_checklists_match_each_route(web: Web, tmp_path: Path) -> None:
    seeded(web, tmp_path)
    for number in ("DEMO-0007", "DEMO-0008"):  # lv_residential: no survey, plan, design review or inspection
        archived = [event for event in events(web.db, number)
                    if event.element_id == "archive_documents" and event.lifecycle == "completed"]
        assert archived and archived[0].data is not None
        checklist = archived[0].data["archive_checklist"]
        assert "installation_sheet" in checklist and "contract" in checklist, checklist
        assert not set(checklist) & set(NOT_ON_AN_LV_RESIDENTIAL_ROUTE), checklist
    page = text_of(web.client("archivist").get("/cases/DEMO-0007"))
    assert "装表接电工作单" in page and "现场勘查记录" not in page and "设计文件审核意见" not in page


def test_the_checklist_follows_the_route_and_the_fees() -> None:
    residential = {"survey": False, "design_review": False, "interim_check": False, "completion_check": False}
    assert archive_checklist(residential, {"total": 0.0}) == [
        "application_form", "identity_docs", "property_docs", "contract", "installation_sheet"]
    important = {"survey": True, "design_review": True, "interim_check": True, "completion_check": True}
    assert archive_checklist(important, {"total": 126000.0}) == [
        "application_form", "identity_docs", "property_docs", "survey_record", "supply_plan", "design_review",
        "inspection_records", "contract", "installation_sheet", "fee_receipts"]
    assert "inspection_records" in archive_checklist({"completion_check": True}, None)


def test_office_hours_skip_nights_weekends_and_holidays() -> None:
    calendar = WorkingCalendar.default()
    friday = datetime(2026, 11, 27, 15, 0, tzinfo=SHANGHAI)
    assert add_working_hours(friday, 3, calendar) == datetime(2026, 11, 30, 10, 0, tzinfo=SHANGHAI)
    assert working_hours_before(datetime(2026, 11, 29, 3, 0, tzinfo=SHANGHAI), 1.5, calendar) == \
        datetime(2026, 11, 27, 15, 30, tzinfo=SHANGHAI)
    assert working_hours_before(datetime(2026, 11, 30, 10, 0, tzinfo=SHANGHAI), 3, calendar) == friday
    before_national_day = datetime(2026, 9, 30, 16, 0, tzinfo=SHANGHAI)
    after = add_working_hours(before_national_day, 2, calendar)
    assert after.date() > datetime(2026, 10, 7).date() and in_office_hours(after, calendar), after
