"""Staff in a real browser (Debian chromium, headless, through Playwright): each lane's staff sign in, claim and
complete their tasks of an HV case through the pages; a form with invalid input shows field errors; a missed
deadline puts the 督办 task in the supervisor's list; the case page's diagram shows done, active and overdue steps in
their colours; the task list and a form work at phone width. Screenshots of every page: test-artifacts/screenshots/.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from lxml import etree

from runner import accounts
from runner.worker import Worker
from tests.browser import PHONE, SQLITE_ONLY, LiveServer, Pages, visible_text
from tests.db import (
    PROCESSES,
    CaseDriver,
    Db,
    advance_to,
    case_row,
    complete,
    form_defaults,
    open_task,
    open_tasks,
    start,
    visited,
)
from tests.test_browser_portal import fill_in
from tests.webui_helpers import FAST_HASH, password_of

BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
SPIFF = "{http://spiffworkflow.org/bpmn/schema/1.0/core}"
MAX_TASKS = 60

pytestmark = SQLITE_ONLY


def four_eyes_rules() -> dict[str, str]:
    """element id → the earlier element whose performer must not do it (``fourEyesWith`` in the BPMN)."""
    rules = {}
    for path in PROCESSES.glob("*.bpmn"):
        for task in etree.parse(str(path)).iter(f"{BPMN}userTask"):
            for prop in task.iter(f"{SPIFF}property"):
                if prop.get("name") == "fourEyesWith":
                    rules[task.get("id")] = prop.get("value")
    return rules


def second_users(db: Db) -> None:
    """A second member of every lane (``<lane>.b``), for steps that must not be done by the same person."""
    with db.transaction() as session:
        for group in accounts.LANE_ROLES:
            accounts.create_user(session, f"{group}.b", password_of(f"{group}.b"), db.clock.now(), groups=(group,),
                                 password_method=FAST_HASH)


class StaffDesk:
    """Staff working a case through the browser: one signed-in page per user, kept open."""

    def __init__(self, pages: Pages) -> None:
        self.pages = pages
        self.open: dict[str, Any] = {}
        self.done_by: dict[str, str] = {}
        self.rules = four_eyes_rules()

    def page_of(self, user: str) -> Any:
        if user not in self.open:
            page = self.pages.page()
            self.pages.login(page, user)
            self.open[user] = page
        return self.open[user]

    def user_for(self, lane: str, element_id: str) -> str:
        earlier = self.rules.get(element_id)
        return f"{lane}.b" if earlier and self.done_by.get(earlier) == lane else lane

    def work_on(self, case_number: str, element_id: str, name: str, lane: str, shoot: bool,
                answer: dict[str, Any]) -> None:
        """Find the task in the 工作台, claim it, open its form, fill in ``answer`` and submit it."""
        user = self.user_for(lane, element_id)
        page = self.page_of(user)
        page.goto(f"/tasks/?q={case_number}")
        row = page.locator("li.task", has_text=name).first
        row.get_by_role("button", name="领取").click()
        page.wait_for_load_state()
        row = page.locator("li.task", has_text=name).first
        assert user in row.inner_text(), f"{name}: not claimed by {user}: {row.inner_text()}"
        if shoot:
            self.pages.shot(page, f"task-list-{lane}")
        row.get_by_role("link", name="办理").click()
        page.wait_for_load_state()
        assert name in page.inner_text("h1, h2"), page.url
        fill_in(page, answer)
        if shoot:
            self.pages.shot(page, f"form-{element_id}")
        page.locator("button[name=_action][value=complete]").click()
        page.wait_for_load_state()
        assert page.locator("[aria-invalid=true]").count() == 0, f"{element_id}: {visible_text(page)[:400]}"
        self.done_by[element_id] = lane


def test_every_lane_works_an_hv_case_to_its_end_in_the_browser(live: LiveServer, pages: Pages) -> None:
    db = live.db
    second_users(db)
    case_number = start(db, "hv_ordinary")
    desk = StaffDesk(pages)
    driver = CaseDriver(db, case_number)
    lanes_seen: set[str] = set()
    for _ in range(MAX_TASKS):
        if case_row(db, case_number).status == "completed":
            break
        staff_tasks = [task for task in open_tasks(db, case_number) if task.lane != "customer"]
        if not staff_tasks:  # the customer's side, messages and timers (the portal tests drive the customer's pages)
            assert driver.step(), f"stuck after {visited(db, case_number)[-5:]}"
            continue
        task = staff_tasks[0]
        assert task.lane is not None
        desk.work_on(case_number, task.element_id, task.name, task.lane, shoot=task.lane not in lanes_seen,
                     answer=form_defaults(db, task))
        lanes_seen.add(task.lane)
    open_now = [t.element_id for t in open_tasks(db, case_number)]
    assert case_row(db, case_number).status == "completed", f"open: {open_now}"
    assert {"account_manager", "surveyor", "plan_reviewer", "inspector", "installer", "archivist",
            "followup_agent"} <= lanes_seen
    page = desk.page_of("supervisor")
    page.goto(f"/cases/{case_number}")
    page.wait_for_selector("#diagram .djs-element.done")
    pages.shot(page, "case-completed")
    assert page.locator("#diagram .djs-element.active").count() == 0
    assert not any(desk_page.js_errors for desk_page in desk.open.values())


def test_invalid_input_shows_field_errors_and_keeps_the_task(live: LiveServer, pages: Pages) -> None:
    db = live.db
    case_number = start(db, "hv_ordinary")
    advance_to(db, case_number, "site_survey")
    task = open_task(db, case_number, "site_survey")
    page = pages.page()
    pages.login(page, "surveyor")
    page.goto(f"/tasks/?q={case_number}")
    page.locator("li.task", has_text=task.name).first.get_by_role("link", name="办理").click()
    page.wait_for_load_state()
    for box in page.locator("input[type=checkbox][name=safety_checklist]").all():
        box.check()  # the safety items attested, the date and the feeder margin left out
    page.locator("button[name=_action][value=complete]").click()
    page.wait_for_load_state()
    pages.shot(page, "form-with-errors")
    invalid = sorted(page.eval_on_selector_all("[aria-invalid=true]", "els => els.map(e => e.name)"))
    assert invalid == ["feeder_margin_kva", "survey_date"], visible_text(page)[:600]
    assert "必填" in visible_text(page)
    assert open_task(db, case_number, "site_survey").id == task.id  # nothing completed
    page.fill("[name=survey_date]", "2026-11-26")  # not after the case clock's today (decision 86)
    page.fill("[name=feeder_margin_kva]", "800")
    page.locator("button[name=_action][value=complete]").click()
    page.wait_for_load_state()
    assert not any(t.element_id == "site_survey" for t in open_tasks(db, case_number))


def test_a_missed_deadline_puts_the_supervision_task_in_the_supervisors_list(live: LiveServer,
                                                                            pages: Pages) -> None:
    db = live.db
    case_number = start(db, "lv_residential")
    task = open_task(db, case_number, "accept_application")
    assert task.due_at is not None
    db.clock.advance_to(task.due_at + timedelta(hours=1))
    Worker(db.sessions, db.runtime).run_once()
    assert any(t.element_id == "supervise_breach" for t in open_tasks(db, case_number))
    page = pages.page()
    pages.login(page, "supervisor")
    page.goto(f"/tasks/?q={case_number}")
    row = page.locator("li.task", has_text="督办").first
    assert case_number in row.inner_text()
    pages.shot(page, "supervisor-breach")
    page.goto(f"/cases/{case_number}")
    page.wait_for_selector("#diagram .djs-element.overdue")
    pages.shot(page, "case-overdue")
    overdue = page.locator('#diagram .djs-element.overdue[data-element-id="accept_application"]')
    assert overdue.count() == 1
    fill = overdue.locator(".djs-visual > :nth-child(1)").evaluate("e => getComputedStyle(e).fill")
    assert fill.replace(" ", "") == "rgb(253,236,234)"  # the overdue red of case-diagram.css


def test_the_case_diagram_colours_done_and_active_steps(live: LiveServer, pages: Pages) -> None:
    db = live.db
    case_number = start(db, "hv_ordinary")
    complete(db, case_number, "accept_application", user="account_manager")
    active = [t.element_id for t in open_tasks(db, case_number)]
    page = pages.page()
    pages.login(page, "supervisor")
    page.goto(f"/cases/{case_number}")
    page.wait_for_selector("#diagram .djs-element.active")
    pages.shot(page, "case-detail")

    def fill_of(element_id: str) -> str:
        shape = page.locator(f'#diagram .djs-element[data-element-id="{element_id}"] .djs-visual > :nth-child(1)')
        return str(shape.first.evaluate("e => getComputedStyle(e).fill")).replace(" ", "")

    assert fill_of("accept_application") == "rgb(200,230,201)"  # done: green
    drawn_active = [e for e in active if page.locator(f'#diagram [data-element-id="{e}"]').count()]
    assert drawn_active, active
    assert all(fill_of(e) == "rgb(227,240,252)" for e in drawn_active)  # active: blue
    assert not page.js_errors


def test_task_list_and_form_fit_a_phone(live: LiveServer, pages: Pages) -> None:
    db = live.db
    case_number = start(db, "lv_residential")
    page = pages.page(viewport=PHONE)
    pages.login(page, "account_manager")
    page.goto(f"/tasks/?q={case_number}")
    pages.shot(page, "phone-task-list")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.locator("li.task").first.get_by_role("link", name="办理").click()
    page.wait_for_load_state()
    pages.shot(page, "phone-form")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert page.locator("button[name=_action][value=complete]").is_visible()
