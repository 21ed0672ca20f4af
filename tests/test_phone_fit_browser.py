"""The staff case page, the task page, the task list and the customer's progress and task pages fit a 390 px phone
(Chromium, 390 × 844), in Chinese and in English: the page never scrolls sideways, and nothing on it is wider than
the viewport except inside a box that scrolls sideways (``overflow-x: auto``: the wide tables, the diagram). The
cases have a realistic history (an HV case driven to its archiving step: over a hundred events, the SLA table, the
step data, a document with a long file name, a long company name), and the diagram stays inside its frame with its
toolbar on screen and working. Screenshots: test-artifacts/screenshots/."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from runner import documents, portal
from tests.browser import SQLITE_ONLY, LiveServer, Pages
from tests.db import CaseDriver, Db, case_row, events, open_task, open_tasks, start
from tests.test_browser_portal import sign_in_to_track

pytestmark = SQLITE_ONLY

PHONE_390 = {"width": 390, "height": 844}
LONG_NAME = "某某市经济技术开发区新能源汽车零部件智能制造产业园二期项目（第三标段）配电工程有限责任公司"
LONG_FILE = "property_certificate_scan_of_the_whole_building_including_every_annex_page_20261126.pdf"
PDF = b"%PDF-1.7\n%\xe2\xe3\n1 0 obj"

STICKING_OUT = """() => {
  const width = window.innerWidth;
  const inScrollBox = (el) => {
    for (let up = el.parentElement; up && up !== document.body; up = up.parentElement) {
      const overflow = getComputedStyle(up).overflowX;
      if (overflow === 'auto' || overflow === 'scroll') return true;
    }
    return false;
  };
  const found = [];
  for (const el of document.body.querySelectorAll('*')) {
    const box = el.getBoundingClientRect();
    if (box.width === 0 || box.right <= width + 0.5 || inScrollBox(el)) continue;
    const classes = typeof el.className === 'string' && el.className.trim() ?
      '.' + el.className.trim().split(/\\s+/).join('.') : '';
    found.push(el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + classes + ' right=' + Math.round(box.right));
  }
  return found.slice(0, 12);
}"""
"""The elements that reach past the viewport's right edge outside a box that scrolls sideways."""


def assert_fits(page: Any, what: str) -> None:
    """Checked with every ``<details>`` open (a step's data in the history, the earlier records of a task)."""
    page.evaluate("() => document.querySelectorAll('details').forEach(details => { details.open = true; })")
    width = page.evaluate("window.innerWidth")
    assert width == PHONE_390["width"]
    wide = page.evaluate("document.documentElement.scrollWidth")
    sticking_out = page.evaluate(STICKING_OUT)
    assert wide <= width and not sticking_out, f"{what}: {wide} px wide on a {width} px phone: {sticking_out}"


def in_language(page: Any, locale: str) -> None:
    """Switch the UI to English through the header's link (the UI is in Chinese unless asked)."""
    if locale == "en":
        page.get_by_role("link", name="English").click()
        page.wait_for_load_state()
        assert page.locator("html").get_attribute("lang") == "en"


def busy_case(db: Db, uploads: Path) -> str:
    """An important HV customer's case (design review, interim checks: steps whose data holds file paths) of a
    long company name, driven to its archiving step (staff steps, customer steps, messages), with a document of a
    long file name."""
    number = start(db, "hv_important", customer_name=LONG_NAME)
    driver = CaseDriver(db, number)
    for _ in range(40):
        if any(task.element_id == "archive_documents" for task in open_tasks(db, number)):
            break
        assert driver.step()
    case_id = case_row(db, number).id
    with db.transaction() as session:
        upload = documents.Upload(io.BytesIO(PDF), LONG_FILE, "surveyor")
        document = documents.store_document(session, uploads, upload, db.clock.now())
        documents.attach_documents(session, [documents.reference_of(document.id)], case_id, "surveyor")
    assert len(events(db, number)) >= 100
    return number


def customer_step_case(db: Db) -> str:
    """A case waiting for the customer to sign the plan (a customer task with its form on the portal)."""
    number = start(db, "hv_ordinary", customer_name=LONG_NAME)
    driver = CaseDriver(db, number)
    for _ in range(10):
        if any(task.element_id == "sign_plan" for task in open_tasks(db, number)):
            break
        assert driver.step()
    return number


def check_diagram(page: Any) -> None:
    """The diagram's frame fits the screen, its toolbar is on screen, and 全图 / + / − redraw it."""
    page.wait_for_selector(".diagram-tools:not([hidden]) button[data-zoom=fit]")
    frame = page.locator(".diagram-box").bounding_box()
    assert frame is not None and frame["x"] >= 0 and frame["x"] + frame["width"] <= PHONE_390["width"]
    for zoom in ("fit", "in", "out"):
        button = page.locator(f".diagram-tools button[data-zoom={zoom}]")
        box = button.bounding_box()
        assert button.is_visible() and box is not None and box["x"] + box["width"] <= PHONE_390["width"], zoom
    before = page.evaluate("document.querySelector('#diagram .viewport').getAttribute('transform')")
    page.locator(".diagram-tools button[data-zoom=in]").click()
    assert page.evaluate("document.querySelector('#diagram .viewport').getAttribute('transform')") != before


def test_staff_pages_fit_a_390_px_phone(live: LiveServer, pages: Pages, tmp_path: Path) -> None:
    db = live.db
    number = busy_case(db, tmp_path / "uploads")
    task = open_task(db, number, "archive_documents")
    for locale in ("zh-CN", "en"):
        page = pages.page(viewport=PHONE_390, locale=locale)
        pages.login(page, "supervisor")
        page.goto(f"/cases/{number}")
        in_language(page, locale)
        page.wait_for_selector("#diagram .djs-element.active")
        pages.shot(page, f"case-{locale}")
        assert_fits(page, f"case page ({locale})")
        check_diagram(page)
        assert_fits(page, f"case page after zooming ({locale})")

        page.goto("/tasks/?scope=team")
        pages.shot(page, f"team-list-{locale}")
        assert_fits(page, f"task list, every lane ({locale})")
        assert not page.js_errors, page.js_errors

        archivist = pages.page(viewport=PHONE_390, locale=locale)
        pages.login(archivist, "archivist")
        archivist.goto("/tasks/")
        in_language(archivist, locale)
        pages.shot(archivist, f"list-{locale}")
        assert_fits(archivist, f"task list ({locale})")
        archivist.goto(f"/tasks/{task.id}")
        archivist.wait_for_selector(".earlier-records .records-body table, .earlier-records .records-body dl")
        pages.shot(archivist, f"task-{locale}")
        assert_fits(archivist, f"task page ({locale})")
        assert not archivist.js_errors, archivist.js_errors


def test_the_customers_pages_fit_a_390_px_phone(live: LiveServer, pages: Pages, tmp_path: Path) -> None:
    db = live.db
    numbers = {"progress": busy_case(db, tmp_path / "uploads"), "task": customer_step_case(db)}
    for locale in ("zh-CN", "en"):
        for kind, number in numbers.items():
            with db.transaction() as session:
                code = portal.reset_access_code(session, number)
            page = pages.page(viewport=PHONE_390, locale=locale)
            sign_in_to_track(pages, number, code, page)
            page.goto("/portal/case")
            in_language(page, locale)
            pages.shot(page, f"portal-case-{kind}-{locale}")
            assert_fits(page, f"portal case page ({kind}, {locale})")
            if kind == "task":
                page.locator(".todo a").first.click()
                page.wait_for_load_state()
                pages.shot(page, f"portal-task-{locale}")
                assert_fits(page, f"portal task page ({locale})")
            assert not page.js_errors, page.js_errors
