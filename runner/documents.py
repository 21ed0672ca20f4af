"""Uploaded files (材料, photos) stored by reference: the bytes under ``<instance>/uploads/<2-char>/<uuid>``, a row
in ``documents`` (name, sniffed type, size, SHA-256, who uploaded it for which case and step), and form data that
keeps only the reference ``attachments/<document id>`` (processes/forms/README.md, "Uploads").

Files are checked before anything is kept: at most ``MAX_BYTES`` and of an allowed type, decided by the file's
first bytes (magic numbers), not by the name or the declared type. Identical content is written once: a second
upload of the same bytes gets its own row (its own uploader and case) pointing at the stored file.
Uploads that were never attached to a case (an application abandoned after the upload) go after a day
(``prune_unattached``: ``baozhuang uploads prune``, and the worker once an hour).
No Flask here; the views pass a binary stream.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from sqlalchemy import and_, delete, distinct, not_, select
from sqlalchemy.orm import Session, sessionmaker

from . import pii
from .models import Case as CaseRow
from .models import Document, Event, OpenTask

MAX_BYTES = 10 * 1024 * 1024
UPLOADS_DIR = "uploads"
REFERENCE_PREFIX = "attachments/"
REFERENCE = re.compile(r"^attachments/(?P<id>[0-9a-f]{32})$")
CHUNK = 64 * 1024
UNATTACHED_MAX_AGE = timedelta(hours=24)
"""How long an upload may wait for the application (or form) that refers to it."""
SUPERVISOR = "supervisor"
PERSONAL_FIELDS = ("identity", "business_licence")
"""Materials (``documents.field``, as the portal's application uploads name them) that are personal data like the
ID number they show: only ``pii.UNMASK_ROLES`` among staff may open them, and each such view is logged in
``data_access_log`` (``read_document``)."""

log = logging.getLogger("baozhuang.documents")

TYPES = {"application/pdf": ".pdf", "image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp",
         "image/heic": ".heic"}
"""The allowed content types (as sniffed) and their usual extension."""
HEIC_BRANDS = (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1")


class UploadError(Exception):
    """The file is refused: ``reason`` is ``too_large`` (status 413), ``empty`` or ``type`` (400)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.status = 413 if reason == "too_large" else 400


class DocumentAccessDenied(Exception):
    """The viewer may not read this document (views answer 404 so as not to confirm it exists)."""


class PersonalDocumentDenied(DocumentAccessDenied):
    """The viewer works on the document's case but the document is personal data (``PERSONAL_FIELDS``: an identity
    or business-licence scan) and none of their roles may see personal data in full (``pii.UNMASK_ROLES``): views
    answer 403 saying so (the viewer may know the case has it)."""


class DocumentFileMissing(DocumentAccessDenied):
    """The viewer may read the document, but its file is not in this host's storage: a row without its bytes
    (uploads kept per host instead of on storage all web servers share — docs/operations.md — or a file deleted or
    restored without the database). Logged as an error naming the path; a view answers 404 with its own message, and
    one that only knows ``DocumentAccessDenied`` still answers 404."""

    def __init__(self, document_id: str, path: Path) -> None:
        super().__init__(f"document {document_id}: file {path} is missing")
        self.document_id = document_id
        self.path = path


def sniff_type(head: bytes) -> str | None:
    """The content type the first bytes prove, or None when they are none of the allowed kinds."""
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[4:8] == b"ftyp" and head[8:12] in HEIC_BRANDS:
        return "image/heic"
    return None


def reference_of(document_id: str) -> str:
    """What form data keeps for a document."""
    return f"{REFERENCE_PREFIX}{document_id}"


def document_id_of(reference: str) -> str | None:
    """The document id of a reference made by ``reference_of``; None for anything else (e.g. example values)."""
    match = REFERENCE.match(reference.strip())
    return match["id"] if match else None


def safe_filename(name: str) -> str:
    """The name to keep and offer on download: no folders, no control characters, at most 200 characters."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = re.sub(r"[\x00-\x1f\x7f\"]", "", base).strip() or "file"
    return base[-200:]


@dataclass(frozen=True)
class Upload:
    """Who uploads what for which case and step (the stream is read once, to its end or the limit)."""

    stream: IO[bytes]
    filename: str
    uploaded_by: str
    case_id: int | None = None
    element_id: str | None = None
    field: str | None = None


def store_document(session: Session, root: Path, upload: Upload, now: datetime, max_bytes: int = MAX_BYTES
                   ) -> Document:
    """Check and keep one file; return its (flushed) row. Raise ``UploadError`` and keep nothing when refused."""
    uploads = root / UPLOADS_DIR
    uploads.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=".upload.", dir=uploads)
    try:
        digest, size, head = _copy_limited(upload.stream, descriptor, max_bytes)
        if size == 0:
            raise UploadError("empty", "empty file")
        content_type = sniff_type(head)
        if content_type is None:
            raise UploadError("type", "not a PDF, JPEG, PNG, HEIC or WebP file")
        document_id = uuid.uuid4().hex
        existing = session.scalar(select(Document.storage_key).where(Document.sha256 == digest,
                                                                     Document.size == size).limit(1))
        if existing is not None and (root / existing).is_file():
            storage_key = existing  # the same bytes are already kept: store them once
        else:
            storage_key = f"{UPLOADS_DIR}/{document_id[:2]}/{document_id}"
            (root / storage_key).parent.mkdir(parents=True, exist_ok=True)
            os.replace(temporary, root / storage_key)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    document = Document(id=document_id, case_id=upload.case_id, element_id=upload.element_id, field=upload.field,
                        filename=safe_filename(upload.filename), content_type=content_type, size=size,
                        sha256=digest, storage_key=storage_key, uploaded_by=upload.uploaded_by, uploaded_at=now)
    session.add(document)
    session.flush()
    return document


def _copy_limited(stream: IO[bytes], descriptor: int, max_bytes: int) -> tuple[str, int, bytes]:
    """Copy the stream into the open file, hashing it; refuse it as soon as it passes ``max_bytes``."""
    digest = hashlib.sha256()
    size = 0
    head = b""
    with os.fdopen(descriptor, "wb") as target:
        while chunk := stream.read(CHUNK):
            size += len(chunk)
            if size > max_bytes:
                raise UploadError("too_large", f"file larger than {max_bytes // (1024 * 1024)} MB")
            if len(head) < 16:
                head = (head + chunk)[:16]
            digest.update(chunk)
            target.write(chunk)
    return digest.hexdigest(), size, head


def attach_documents(session: Session, references: list[str], case_id: int, uploaded_by: str) -> int:
    """Give the case the not yet attached documents ``uploaded_by`` uploaded (e.g. before the case existed);
    references to other people's or other cases' documents are left alone. Returns how many were attached."""
    ids = [found for found in (document_id_of(ref) for ref in references) if found]
    if not ids:
        return 0
    documents = session.scalars(select(Document).where(Document.id.in_(ids), Document.case_id.is_(None),
                                                       Document.uploaded_by == uploaded_by)).all()
    for document in documents:
        document.case_id = case_id
    return len(documents)


NOT_A_CASE_FILE = "is not a file uploaded for this case (upload it again)"
"""Why a form's reference is refused: it names no document, another case's, or another person's upload not yet
attached to a case (one message for all, so that a refusal does not tell whether the document exists)."""


def references_in(data: Any, path: str = "") -> list[tuple[str, str]]:
    """(path, reference) of every string, at any depth, that starts with ``REFERENCE_PREFIX``: what form data
    names of the attachment store (the forms' file fields hold such strings)."""
    if isinstance(data, str):
        return [(path, data)] if data.startswith(REFERENCE_PREFIX) else []
    found: list[tuple[str, str]] = []
    if isinstance(data, dict):
        for key, item in data.items():
            found.extend(references_in(item, f"{path}.{key}" if path else str(key)))
    elif isinstance(data, list):
        for index, item in enumerate(data):
            found.extend(references_in(item, f"{path}[{index}]"))
    return found


def check_references(session: Session, data: Any, case_id: int, user: str, *, samples: bool = False
                     ) -> list[tuple[str, str]]:
    """(path, message) for each reference in a task's form data that names no document of the case: every
    reference must be a document attached to ``case_id`` (as task uploads are from the start), or one ``user``
    uploaded that is not attached yet, which is then attached to the case (only when nothing is refused). With
    ``samples``, references that are not of the store's shape (``attachments/<id>``: the forms' sample answers,
    ``attachments/examples/…``) pass unchecked; store-shaped ones are always checked."""
    found = [(path, reference, document_id_of(reference)) for path, reference in references_in(data)]
    ids = sorted({document_id for _path, _reference, document_id in found if document_id})
    stored = {document.id: document for document in session.scalars(select(Document).where(Document.id.in_(ids)))
              } if ids else {}
    problems: list[tuple[str, str]] = []
    own_unattached: list[Document] = []
    for path, reference, document_id in found:
        document = stored.get(document_id) if document_id else None
        if document is None and document_id is None and samples:
            continue
        if document is not None and document.case_id == case_id:
            continue
        if document is not None and document.case_id is None and document.uploaded_by == user:
            own_unattached.append(document)
            continue
        problems.append((path, f"{reference[:80]!r} {NOT_A_CASE_FILE}"))
    if not problems:
        for document in own_unattached:
            document.case_id = case_id
    return problems


# -- reading back ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Viewer:
    """Who asks for a document: a member of staff (name and groups) or a customer holding a case's access code."""

    user: str
    groups: tuple[str, ...] = ()
    customer_case_id: int | None = None


def case_lanes(session: Session, case_id: int) -> set[str]:
    """The lanes (roles) that have worked or work on the case: its events' roles and its open tasks' lanes."""
    roles = set(session.scalars(select(distinct(Event.role)).where(Event.case_id == case_id, Event.role.is_not(None))))
    roles.update(session.scalars(select(distinct(OpenTask.lane)).where(OpenTask.case_id == case_id)))
    return {role for role in roles if role}


def may_read(session: Session, document: Document, viewer: Viewer) -> bool:
    """The uploader; the customer of the document's case; staff of the case's lanes; supervisors. (A personal
    document, ``is_personal``, also needs ``pii.may_unmask`` of staff: ``read_document``.)"""
    if document.uploaded_by == viewer.user:
        return True
    if document.case_id is None:
        return False
    if viewer.customer_case_id is not None:
        return viewer.customer_case_id == document.case_id
    if SUPERVISOR in viewer.groups:
        return True
    return bool(set(viewer.groups) & case_lanes(session, document.case_id))


PERSONAL_STEPS = ("supply_materials",)
"""Steps whose uploads are treated as personal whatever their field: the customer's 补充申请资料, where the identity
or licence scan missing from the application arrives (as ``files``, beside the ticked materials)."""


def is_personal(document: Document) -> bool:
    """An identity or business-licence scan (``PERSONAL_FIELDS``), or a file the customer supplied on request
    (``PERSONAL_STEPS``: it may be one)."""
    return document.field in PERSONAL_FIELDS or document.element_id in PERSONAL_STEPS


def staff_view_of_personal(document: Document, viewer: Viewer) -> bool:
    """Whether this view is a member of staff opening a personal document (not its uploader, not the customer):
    allowed only to ``pii.UNMASK_ROLES`` and logged."""
    return is_personal(document) and viewer.customer_case_id is None and document.uploaded_by != viewer.user


def read_document(session: Session, root: Path, document_id: str, viewer: Viewer, *, channel: str = "web",
                  now: datetime | None = None) -> tuple[Document, Path]:
    """The row and the stored file of a document the viewer may read; ``DocumentAccessDenied`` otherwise (also
    for an unknown id, so that a refusal does not tell whether the document exists). A personal document
    (``is_personal``) opened by staff of the case who may not see personal data in full is
    ``PersonalDocumentDenied``; opened by one who may, the view is written to ``data_access_log`` (``channel``,
    at ``now``; the caller commits) as ``document:<field>:<id>``. A document the viewer may read whose file is not
    under ``root`` is ``DocumentFileMissing``, logged with the path."""
    document = session.get(Document, document_id) if re.fullmatch(r"[0-9a-f]{32}", document_id) else None
    if document is None or not may_read(session, document, viewer):
        raise DocumentAccessDenied(document_id)
    personal = staff_view_of_personal(document, viewer)
    if personal and not pii.may_unmask(viewer.groups):
        raise PersonalDocumentDenied(document_id)
    path = root / document.storage_key
    if not path.is_file():
        log.error("document=%s case_id=%s file missing: %s (uploads not on storage every host shares? see "
                  "docs/operations.md)", document.id, document.case_id, path)
        raise DocumentFileMissing(document.id, path)
    if personal:
        number = session.scalar(select(CaseRow.case_number).where(CaseRow.id == document.case_id))
        pii.log_unmasked_view(session, viewer.user, str(number), [f"document:{document.field}:{document.id}"],
                              channel, now or datetime.now(UTC))
    return document, path


def case_documents(session: Session, case_id: int) -> list[Document]:
    """The documents attached to a case, oldest first."""
    return list(session.scalars(select(Document).where(Document.case_id == case_id)
                                .order_by(Document.uploaded_at, Document.id)))


def case_id_of(session: Session, case_number: str) -> int | None:
    return session.scalar(select(CaseRow.id).where(CaseRow.case_number == case_number))


@dataclass
class PruneResult:
    documents: int
    files: int
    bytes: int


def prune_unattached(sessions: sessionmaker[Session], root: Path, now: datetime,
                     max_age: timedelta = UNATTACHED_MAX_AGE, dry_run: bool = False) -> PruneResult:
    """Delete the uploads never attached to a case that are older than ``max_age``, and their files once no other
    row keeps the same bytes. Rows go first, in one statement (an attachment racing it either wins, and the row
    stays, or finds nothing to attach), files after the commit: a crash in between leaves a stray file, never a
    row without its file."""
    cutoff = now - max_age
    stale = and_(Document.case_id.is_(None), Document.uploaded_at < cutoff)
    with sessions.begin() as session:
        if dry_run:  # what a real run would free: the files no other row keeps
            rows = session.scalars(select(Document.storage_key).where(stale)).all()
            kept = set(session.scalars(select(Document.storage_key).where(
                Document.storage_key.in_(sorted(set(rows))), not_(stale))))
            files, size = _free_files(root, set(rows) - kept, unlink=False)
            return PruneResult(len(rows), files, size)
        gone = session.execute(delete(Document).where(stale).returning(Document.storage_key)).scalars().all()
    keys = set(gone)
    if not keys:
        return PruneResult(0, 0, 0)
    with sessions.begin() as session:
        kept = set(session.scalars(select(Document.storage_key).where(Document.storage_key.in_(sorted(keys)))))
    files, size = _free_files(root, keys - kept, unlink=True)
    return PruneResult(len(gone), files, size)


def _free_files(root: Path, keys: set[str], unlink: bool) -> tuple[int, int]:
    """How many of the stored files ``keys`` exist and their bytes; with ``unlink``, deleting them."""
    files = size = 0
    for key in sorted(keys):
        path = root / key
        try:
            size += path.stat().st_size
            if unlink:
                path.unlink()
            files += 1
        except FileNotFoundError:
            continue
    return files, size
