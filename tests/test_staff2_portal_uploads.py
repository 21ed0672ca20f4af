"""A file the customer sends with a portal task (补充申请资料) is listed on the staff case page under that step and
its form field (资料文件), not as part of the application under a raw field name: the portal's task forms send the
task's id with each file (``static/uploads.js``), and the upload takes the step from it."""

from __future__ import annotations

import io
import re
import uuid

from sqlalchemy import select

from runner.models import Document
from tests.db import open_tasks
from tests.test_documents import JPEG
from tests.test_form_prefill import supply_materials_task
from tests.test_portal_track import signed_in
from tests.webui_helpers import Web, web_fixture  # noqa: F401  (the web fixture)


def documents_row(html: str, filename: str) -> list[str]:
    """The cells of the case page's 申请资料与附件 row of ``filename``, as text."""
    row = re.search(r"<tr>(?:(?!</tr>).)*?" + re.escape(filename) + r".*?</tr>", html, re.S)
    assert row is not None, filename
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", cell)).strip()
            for cell in re.findall(r"<td[^>]*>(.*?)</td>", row[0], re.S)]


def test_a_file_sent_with_a_customer_task_is_listed_under_that_step(web: Web) -> None:
    number, task = supply_materials_task(web.db)
    customer = signed_in(web, number)
    customer.get(f"/portal/case/tasks/{task}")
    uploaded = customer.post("/portal/upload", {"task_id": task, "field": "files",  # what uploads.js sends
                                                "file": (io.BytesIO(JPEG + b"deed"), "deed.jpg")},
                             content_type="multipart/form-data")
    assert uploaded.status_code == 201, uploaded.get_data(as_text=True)
    reference = uploaded.get_json()["reference"]
    done = customer.post(f"/portal/case/tasks/{task}", {"provided_materials.present": "1",
                                                        "provided_materials": "property_proof",
                                                        "files": reference, "request_id": uuid.uuid4().hex})
    assert done.status_code == 302
    assert all(open_task.element_id != "supply_materials" for open_task in open_tasks(web.db, number))
    with web.db.transaction() as session:
        document = session.scalar(select(Document).where(Document.id == reference.split("/")[1]))
        assert document is not None and document.element_id == "supply_materials"

    page = web.client("account_manager").get(f"/cases/{number}")
    cells = documents_row(page.get_data(as_text=True), "deed.jpg")
    assert cells[1:4] == ["资料文件", "补充申请资料", "客户（申请人）"], cells


def test_another_case_or_a_staff_task_id_gives_the_file_no_step(web: Web) -> None:
    """Only an open customer task of the signed-in case names the step; any other id is ignored (the file is still
    the customer's, for their case)."""
    number, _task = supply_materials_task(web.db)
    other, other_task = supply_materials_task(web.db)
    staff_task = next(task.id for task in open_tasks(web.db, other) if task.lane != "customer") \
        if any(task.lane != "customer" for task in open_tasks(web.db, other)) else other_task
    customer = signed_in(web, number)
    for task_id in (other_task, staff_task, "no-such-task"):
        uploaded = customer.post("/portal/upload", {"task_id": task_id, "field": "files",
                                                    "file": (io.BytesIO(JPEG + task_id.encode()), "x.jpg")},
                                 content_type="multipart/form-data")
        assert uploaded.status_code == 201
        with web.db.transaction() as session:
            document = session.scalar(select(Document).where(
                Document.id == uploaded.get_json()["reference"].split("/")[1]))
            assert document is not None and document.element_id is None, task_id
