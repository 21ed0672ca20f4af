"""Attachments: size and type limits (magic bytes decide), identical content stored once, the reference
round-tripping through a staff task form, and downloads only for those with access to the case."""

from __future__ import annotations

import hashlib
import io
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from werkzeug.datastructures import MultiDict
from werkzeug.test import EnvironBuilder

from runner import documents, portal
from runner.models import Document
from runner.store import load_case
from runner.worker import Worker
from tests.db import Db, advance_to, run_cli
from tests.test_portal_track import give_code, signed_in
from tests.webui_helpers import Browser, Web, start_case, task_of, text_of, web_fixture  # noqa: F401

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x02" * 300
SAMPLES = {
    "application/pdf": b"%PDF-1.7\n%\xe2\xe3\n1 0 obj",
    "image/jpeg": JPEG,
    "image/png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
    "image/webp": b"RIFF\x24\x00\x00\x00WEBPVP8 ",
    "image/heic": b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic",
}


def keep(db: Db, root: Path, content: bytes, name: str = "photo.jpg", by: str = "surveyor") -> Document:
    with db.transaction() as session:
        document = documents.store_document(session, root, documents.Upload(io.BytesIO(content), name, by),
                                            db.clock.now())
        session.expunge(document)
        return document


def stored_files(root: Path) -> list[Path]:
    return [path for path in (root / documents.UPLOADS_DIR).rglob("*") if path.is_file()]


@pytest.mark.parametrize("content_type", sorted(SAMPLES))
def test_the_first_bytes_decide_the_type(content_type: str) -> None:
    assert documents.sniff_type(SAMPLES[content_type][:16]) == content_type
    assert documents.sniff_type(b"GIF89a" + b"\0" * 10) is None
    assert documents.sniff_type(b"<html><script>") is None


def test_too_large_wrong_type_and_empty_files_are_refused_and_nothing_is_kept(db: Db, tmp_path: Path) -> None:
    for content, reason in ((JPEG + b"\0" * documents.MAX_BYTES, "too_large"), (b"GIF89a" + b"\0" * 99, "type"),
                            (b"<?php echo 1; ?>", "type"), (b"", "empty")):
        with pytest.raises(documents.UploadError) as refused:
            keep(db, tmp_path, content, name="photo.jpg")  # the name promises a JPEG: the bytes decide
        assert refused.value.reason == reason
        assert refused.value.status == (413 if reason == "too_large" else 400)
    assert stored_files(tmp_path) == [] and db.count(Document) == 0


def test_the_same_bytes_are_stored_once_by_reference(db: Db, tmp_path: Path) -> None:
    first = keep(db, tmp_path, JPEG, "a.jpg", by="surveyor")
    second = keep(db, tmp_path, JPEG, "../../etc/b.jpg", by="inspector")
    assert first.id != second.id and first.storage_key == second.storage_key
    assert first.storage_key == f"uploads/{first.id[:2]}/{first.id}"
    assert len(stored_files(tmp_path)) == 1
    assert first.sha256 == hashlib.sha256(JPEG).hexdigest() and first.size == len(JPEG)
    assert second.filename == "b.jpg" and first.content_type == "image/jpeg"
    assert documents.document_id_of(documents.reference_of(first.id)) == first.id
    assert documents.document_id_of("attachments/2026-000123/site_survey/3f2a9c.jpg") is None


def fetch(client: Browser, url: str) -> Any:
    """A download (binary: not read as a page), the file closed after reading."""
    return client.client.get(url, environ_base=client.environ, buffered=True)


def upload(client: Browser, task_id: str, content: bytes, name: str = "photo.jpg") -> Any:
    """POST one file as the page's script does. The body is built here so that its temporary file (werkzeug's
    test client spools bodies over 500 KB to one and does not close it) is closed after the request."""
    if client.token is None:
        client.get("/tasks/")
    builder = EnvironBuilder(path="/documents/upload", method="POST", environ_base=client.environ,
                             data={"task_id": task_id, "field": "photos", "csrf_token": client.token,
                                   "file": (io.BytesIO(content), name)})
    environ = builder.get_environ()
    try:
        return client.client.open(environ, buffered=True)
    finally:
        environ["wsgi.input"].close()
        builder.close()


SURVEY = MultiDict([("survey_date", "2026-11-26"), ("feeder_margin_kva", "2000"),
                    ("safety_checklist.present", "1")] + [
    ("safety_checklist", item) for item in ("safety_measures", "live_parts_isolated", "staff_certified", "ppe_worn",
                                            "hazards_briefed", "customer_escorted")])


def surveyed_case(web: Web) -> tuple[str, str]:
    number = start_case(web.db, "hv_ordinary")
    advance_to(web.db, number, "site_survey")
    return number, task_of(web.db, number, "site_survey")


def test_a_photo_field_uploads_and_its_reference_round_trips_through_the_task_form(web: Web) -> None:
    number, task = surveyed_case(web)
    surveyor = web.client("surveyor")
    html = surveyor.get(f"/tasks/{task}").get_data(as_text=True)
    assert 'type="file" id="photos-file" accept="image/*" capture="environment"' in html
    assert 'data-upload-url="/documents/upload"' in html and "uploads.js" in html
    answer = upload(surveyor, task, JPEG)
    assert answer.status_code == 201, answer.get_data(as_text=True)
    reference = answer.get_json()["reference"]
    assert re.fullmatch(r"attachments/[0-9a-f]{32}", reference)
    document_id = reference.split("/")[1]
    incomplete = [(key, value) for key, value in SURVEY.items(multi=True) if key != "feeder_margin_kva"]
    refused = surveyor.post(f"/tasks/{task}", MultiDict([*incomplete, ("photos", reference),
                                                         ("request_id", uuid.uuid4().hex)]))
    assert refused.status_code == 400
    kept = refused.get_data(as_text=True)
    assert f"/documents/{document_id}" in kept and reference in kept  # the reference is kept and linked
    response = surveyor.post(f"/tasks/{task}", MultiDict([*SURVEY.items(multi=True), ("photos", reference),
                                                          ("request_id", uuid.uuid4().hex)]))
    assert response.status_code == 302, text_of(response)
    with web.db.reading() as session:
        assert load_case(session, web.db.runtime, number).case.data["site_survey"]["photos"] == [reference]
        document = session.get(Document, document_id)
        assert document is not None and document.element_id == "site_survey" and document.field == "photos"
    download = fetch(surveyor, f"/documents/{document_id}")
    assert download.status_code == 200 and download.data == JPEG
    assert download.headers["Content-Type"] == "image/jpeg"
    assert download.headers["X-Content-Type-Options"] == "nosniff"


def test_downloads_need_access_to_the_case(web: Web) -> None:
    number, task = surveyed_case(web)
    document_id = upload(web.client("surveyor"), task, JPEG).get_json()["reference"].split("/")[1]
    assert fetch(web.client("account_manager"), f"/documents/{document_id}").status_code == 200  # a lane of the case
    assert fetch(web.client("supervisor"), f"/documents/{document_id}").status_code == 200
    assert fetch(web.client("archivist"), f"/documents/{document_id}").status_code == 404  # not (yet) on the case
    assert fetch(web.client(), f"/documents/{document_id}").status_code == 404  # anonymous
    assert fetch(web.client("surveyor"), f"/documents/{'0' * 32}").status_code == 404
    give_code(web.db, number)
    assert fetch(signed_in(web, number), f"/documents/{document_id}").status_code == 200  # the customer
    other = start_case(web.db)
    give_code(web.db, other)
    assert fetch(signed_in(web, other), f"/documents/{document_id}").status_code == 404


def test_refused_uploads_answer_with_a_message_and_keep_nothing(web: Web) -> None:
    _number, task = surveyed_case(web)
    surveyor = web.client("surveyor")
    surveyor.get(f"/tasks/{task}")
    too_large = upload(surveyor, task, JPEG + b"\0" * documents.MAX_BYTES)
    assert too_large.status_code == 413 and "10 MB" in too_large.get_json()["error"]
    wrong = upload(surveyor, task, b"MZ\x90\x00" + b"\0" * 100, name="photo.jpg")
    assert wrong.status_code == 400 and "JPEG" in wrong.get_json()["error"]
    assert web.client("installer").post("/documents/upload", {"task_id": task, "file": (io.BytesIO(JPEG), "a.jpg")},
                                        content_type="multipart/form-data").status_code == 403
    assert web.db.count(Document) == 0


def test_a_signed_in_customer_uploads_for_their_case(web: Web) -> None:
    number = start_case(web.db, "hv_ordinary")
    give_code(web.db, number)
    client = signed_in(web, number)
    client.get("/portal/case")
    response = client.post("/portal/upload", {"field": "photos", "file": (io.BytesIO(JPEG), "meter.jpg")},
                           content_type="multipart/form-data")
    assert response.status_code == 201, response.get_data(as_text=True)
    with web.db.reading() as session:
        document = session.scalar(select(Document))
        assert document is not None and document.uploaded_by == f"customer:{number}"
        assert document.case_id is not None
    assert fetch(client, response.get_json()["url"]).status_code == 200


def test_anonymous_uploads_are_rate_limited_per_address(web: Web) -> None:
    client = web.client(address="10.3.3.3")
    client.get("/portal/apply")
    for index in range(portal.UPLOAD_LIMIT.limit):
        response = client.post("/portal/upload", {"file": (io.BytesIO(JPEG + bytes([index])), "id.jpg")},
                               content_type="multipart/form-data")
        assert response.status_code == 201
    refused = client.post("/portal/upload", {"file": (io.BytesIO(JPEG), "id.jpg")},
                          content_type="multipart/form-data")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0 and refused.get_json()["error"]
    assert web.db.count(Document) == portal.UPLOAD_LIMIT.limit


# -- uploads never attached to a case ------------------------------------------------------------------------------


def _age(db: Db, document_id: str, when: datetime) -> None:
    with db.transaction() as session:
        session.execute(update(Document).where(Document.id == document_id).values(uploaded_at=when))


def test_unattached_uploads_go_after_a_day_and_shared_bytes_stay(db: Db, tmp_path: Path) -> None:
    number = start_case(db)
    abandoned = keep(db, tmp_path, JPEG + b"abandoned")
    fresh = keep(db, tmp_path, JPEG + b"fresh")
    attached = keep(db, tmp_path, JPEG + b"shared")
    twin = keep(db, tmp_path, JPEG + b"shared", by="customer")  # same bytes: one stored file for both rows
    with db.transaction() as session:
        case_id = documents.case_id_of(session, number)
        assert case_id is not None
        documents.attach_documents(session, [documents.reference_of(attached.id)], case_id, "surveyor")
    old = db.clock.now() - timedelta(hours=25)
    for document in (abandoned, attached, twin):
        _age(db, document.id, old)
    assert len(stored_files(tmp_path)) == 3

    dry = documents.prune_unattached(db.sessions, tmp_path, db.clock.now(), dry_run=True)
    assert (dry.documents, db.count(Document)) == (2, 4)  # said, not done
    assert len(stored_files(tmp_path)) == 3
    pruned = documents.prune_unattached(db.sessions, tmp_path, db.clock.now())
    assert (pruned.documents, pruned.files) == (2, 1) and pruned.bytes == len(JPEG + b"abandoned")
    assert (dry.files, dry.bytes) == (pruned.files, pruned.bytes)  # the bytes a kept row shares are not counted
    with db.reading() as session:
        left = set(session.scalars(select(Document.id)))
    assert left == {fresh.id, attached.id}
    assert sorted(path.read_bytes() for path in stored_files(tmp_path)) == sorted([JPEG + b"fresh", JPEG + b"shared"])
    assert documents.prune_unattached(db.sessions, tmp_path, db.clock.now()).documents == 0


def test_uploads_prune_from_the_command_line_and_in_the_worker(db: Db, tmp_path: Path) -> None:
    db.clock.advance_to(datetime.now(UTC))  # the command runs on the real clock: "fresh" must be fresh for it too
    instance = tmp_path / "instance"
    first, second = keep(db, instance, JPEG + b"one"), keep(db, instance, JPEG + b"two")
    _age(db, first.id, datetime(2020, 1, 1, tzinfo=UTC))
    result = run_cli(db, instance, "uploads", "prune", "--dry-run")
    assert result.exit_code == 0 and "would delete 1 unattached upload(s)" in result.output, result.output
    result = run_cli(db, instance, "uploads", "prune")
    assert result.exit_code == 0 and "deleted 1 unattached upload(s), 1 file(s)" in result.output, result.output
    assert run_cli(db, instance, "uploads", "prune", "--older-than-hours", "0").exit_code == 2  # a clear error
    _age(db, second.id, datetime(2020, 1, 1, tzinfo=UTC))
    Worker(db.sessions, db.runtime, instance=instance).housekeeping()
    assert db.count(Document) == 0 and stored_files(instance) == []
