"""The portal's application sent more than once, and files too large, through HTTP on both databases.

One submission (the form's random ``submission_id``) starts one case: sent again later (refresh → resubmit) or at
the same time from two app instances on one database (two processes or hosts), the repeat is answered with the
first case and its files are not kept twice. A file over the limit is reported with its own message; a request
over the form's total limit gets the portal's 413 page in the visitor's language with the way back to the form.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from runner import documents, portal, services
from runner.models import Case as CaseRow
from runner.models import Document, StartRequest
from tests.db import Db
from tests.test_portal_apply import JPEG, PDF, RESIDENTIAL, created_case, files, submission_id_of
from tests.webui_helpers import Browser, Web, build_app, text_of, web_fixture  # noqa: F401  (the web fixture)
from webui.extensions import db as flask_db

MB = 1024 * 1024
COMPLETE = {**RESIDENTIAL, "commitment_signed": "true"}


def send(client: Browser, submission_id: str, content: dict[str, Any]) -> Any:
    return client.post("/portal/apply", {"submission_id": submission_id, **content},
                       content_type="multipart/form-data")


def stored_files(instance: Path) -> list[Path]:
    uploads = instance / documents.UPLOADS_DIR
    return [path for path in uploads.rglob("*") if path.is_file()] if uploads.exists() else []


def test_a_submission_sent_twice_starts_one_case_and_the_repeat_shows_it(web: Web) -> None:
    client = web.client()
    submission_id = submission_id_of(client.get("/portal/apply"))

    first = send(client, submission_id, {**COMPLETE, **files(identity=JPEG, property_proof=PDF)})
    again = send(client, submission_id, {**COMPLETE, **files(identity=JPEG, property_proof=PDF)})

    assert first.status_code == again.status_code == 302, text_of(again)
    assert again.headers["Location"].endswith("/portal/applied")
    number, code = created_case(client)  # the first answer's code is still this session's to see, once
    with web.db.reading() as session:
        assert portal.check_access_code(session, number, code)
    assert web.db.count(CaseRow) == 1 and web.db.count(StartRequest) == 1
    assert web.db.count(Document) == 2  # the repeat's files were not stored again

    late = send(client, submission_id, {**COMPLETE, **files(identity=JPEG, property_proof=PDF)})
    assert late.status_code == 302
    page = client.get("/portal/applied")
    assert f'id="case-number">{number}<' in page.get_data(as_text=True)
    assert 'id="access-code"' not in page.get_data(as_text=True) and "本次重复提交未再创建新的申请" in text_of(page)
    assert web.db.count(CaseRow) == 1 and web.db.count(Document) == 2


def test_a_repeat_from_another_browser_learns_nothing_about_the_case(web: Web) -> None:
    client = web.client()
    submission_id = submission_id_of(client.get("/portal/apply"))
    assert send(client, submission_id, {**COMPLETE, **files(identity=JPEG)}).status_code == 302
    other = web.client(address="10.0.0.7")
    other.get("/portal/apply")
    response = send(other, submission_id, {**COMPLETE, **files(identity=JPEG)})
    assert response.status_code == 409 and "该申请已提交过" in text_of(response)
    assert "YK" not in text_of(response) and web.db.count(CaseRow) == 1


def _meeting(parties: int) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Wrap a function so that each call waits there until ``parties`` calls have arrived."""
    barrier = threading.Barrier(parties, timeout=30)

    def wrap(function: Callable[..., Any]) -> Callable[..., Any]:
        def waiting(*args: Any, **kwargs: Any) -> Any:
            barrier.wait()
            return function(*args, **kwargs)
        return waiting
    return wrap


def test_a_submission_sent_twice_at_once_to_two_app_instances_starts_one_case(
        web: Web, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db: Db = web.db
    other_instance = tmp_path / "other-instance"
    other_app = build_app(db, other_instance, RUNTIME=db.new_runtime())
    first = web.client()
    submission_id = submission_id_of(first.get("/portal/apply"))
    second = Browser(other_app.test_client(), "127.0.0.1")  # the same browser's cookie and token, another host
    cookie = first.client.get_cookie("session")
    assert cookie is not None
    second.client.set_cookie("session", cookie.value)
    second.token = first.token
    # both have checked the id and stored their files before either starts the case; on PostgreSQL both also
    # reach the insert of the id together (on SQLite the first start holds the write lock until it commits)
    monkeypatch.setattr(portal, "apply", _meeting(2)(portal.apply))
    if db.kind == "postgres":
        monkeypatch.setattr(services, "_claim_start", _meeting(2)(services._claim_start))
    answers: dict[str, Any] = {}

    def submit(name: str, client: Browser) -> None:
        answers[name] = send(client, submission_id, {**COMPLETE, **files(identity=JPEG, property_proof=PDF)})

    threads = [threading.Thread(target=submit, args=(name, client))
               for name, client in (("first", first), ("second", second))]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        with other_app.app_context():
            flask_db.engine.dispose()

    assert {name: answer.status_code for name, answer in answers.items()} == {"first": 302, "second": 302}
    assert all(answer.headers["Location"].endswith("/portal/applied") for answer in answers.values())
    with db.reading() as session:
        numbers = list(session.scalars(select(CaseRow.case_number)))
        kept = list(session.scalars(select(Document)))
    assert len(numbers) == 1
    shown = [client.get("/portal/applied").get_data(as_text=True) for client in (first, second)]
    assert all(f'id="case-number">{numbers[0]}<' in page for page in shown)
    assert sum('id="access-code"' in page for page in shown) == 1  # the code only where that case was started
    assert len(kept) == 2 and all(document.case_id is not None for document in kept)
    assert len(stored_files(tmp_path / "instance")) + len(stored_files(other_instance)) == 2  # the loser's went


def test_a_file_over_the_limit_is_named_with_its_own_message_once(web: Web) -> None:
    client = web.client()
    big = JPEG + b"\x00" * (11 * MB)
    response = large_body(send(client, submission_id_of(client.get("/portal/apply")),
                               {**COMPLETE, **files(identity=big)}))
    assert response.status_code == 400
    page = text_of(response)
    assert page.count("文件超过 10 MB，请压缩后重新上传。") == 1
    assert "请上传身份证明" not in page and web.db.count(CaseRow) == 0


def test_too_much_at_once_gets_the_portal_page_naming_the_total_limit(web: Web) -> None:
    client = web.client()
    submission_id = submission_id_of(client.get("/portal/apply"))
    response = large_body(client.post("/portal/apply", too_much(submission_id), content_type="multipart/form-data"))

    assert response.status_code == 413
    html, page = response.get_data(as_text=True), text_of(response)
    assert "合计超过 44 MB" in page and "已填写的信息没有保存" in page
    assert 'id="back-link" href="/portal/apply"' in html
    assert "业扩报装工作台" not in page and "返回工作台" not in page and "Request Entity Too Large" not in page
    assert web.db.count(CaseRow) == 0

    client.get("/auth/language/en")
    english = large_body(client.post("/portal/apply", too_much(submission_id), content_type="multipart/form-data"))
    assert english.status_code == 413
    text = text_of(english)
    assert "44 MB" in text and "合计" not in text and "Request Entity Too Large" not in text, text


def large_body(response: Any) -> Any:
    """The test client spools a large body to a temporary file that nothing closes (the server's in production)."""
    response.request.environ["wsgi.input"].close()
    return response


def too_much(submission_id: str) -> Any:
    """The complete form with five 9 MB scans under 其他资料: each file within its limit, together over the form's."""
    scans = [("file.other", (io.BytesIO(JPEG + b"\x00" * (9 * MB)), f"scan{index}.jpg")) for index in range(5)]
    return MultiDict([*COMPLETE.items(), ("submission_id", submission_id), *scans])
