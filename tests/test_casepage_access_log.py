"""敏感信息查看记录 (``/admin/data-access``) through real HTTP on both databases: the personal values shown in full
by the titles the case's forms give them (a step's by the step's name too, an attachment by its material), the
viewer by display name, and the count in proper plural forms (``ngettext``) in English."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from sqlalchemy import update

from runner import pii
from runner.accounts import User
from tests.db import advance_to, complete
from tests.webui_helpers import (
    Web,
    build_app,
    start_case,
    text_of,
    web_fixture,  # noqa: F401  (the web fixture)
)
from webui.extensions import db as flask_db

WEBUI_TRANSLATIONS = Path(__file__).resolve().parent.parent / "webui" / "translations"
COUNT = ("共 %(num)s 条记录", "共 %(num)s 条记录")
COUNT_EN = ("%(num)s entry", "%(num)s entries")
"""The count's msgid (with its plural) and the English forms, as /tmp/h/po_casepage.po hands them to the catalogue."""


def log_row(page: str, case_number: str) -> str:
    match = re.search(rf"\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d ([^\n]*?{case_number}[^\n]*?)(?= 网页| 接口)", page)
    assert match, page
    return match[1]


def test_fields_and_viewers_are_named_as_people_read_them(web: Web) -> None:
    number = start_case(web.db, "hv_ordinary")
    advance_to(web.db, number, "report_completion")
    complete(web.db, number, "report_completion", extra={"contact_phone": "13987654321"})
    with web.db.transaction() as session:
        session.execute(update(User).where(User.username == "account_manager").values(display_name="王芳"))
    manager = web.client("account_manager")
    assert manager.post(f"/cases/{number}/reveal").status_code == 303
    manager.get(f"/cases/{number}")  # the view in full, logged

    page = text_of(web.client("supervisor").get(f"/admin/data-access?case={number}"))
    row = log_row(page, number)
    assert row.startswith("王芳 "), row
    assert "证件号码" in row and "联系电话" in row and "竣工报验 › 联系人电话" in row, row
    assert "id_number" not in row and "report_completion.contact_phone" not in row, row


def test_an_attachment_and_an_unknown_field_are_named_too(web: Web) -> None:
    number = start_case(web.db, "lv_residential")
    with web.db.transaction() as session:
        pii.log_unmasked_view(session, "archivist", number, ["document:identity:7", "odd.place.phone"], "api",
                              web.db.clock.now())
    row = log_row(text_of(web.client("admin").get("/admin/data-access")), number)
    assert "附件 #7：身份证明（身份证照片等）" in row and "电话号码" in row and "document:" not in row, row


def test_the_count_has_plural_forms_in_english(web: Web, tmp_path: Path) -> None:
    catalog = Catalog(locale="en")
    catalog.add(COUNT, COUNT_EN)
    extra = tmp_path / "translations" / "en" / "LC_MESSAGES"
    extra.mkdir(parents=True)
    with (extra / "messages.mo").open("wb") as out:
        write_mo(out, catalog)
    app = build_app(web.db, tmp_path / "instance2",
                    BABEL_TRANSLATION_DIRECTORIES=f"{WEBUI_TRANSLATIONS};{tmp_path / 'translations'}")
    try:
        english_page_counts(Web(app, web.db))
    finally:
        with app.app_context():
            flask_db.engine.dispose()


def english_page_counts(web: Web) -> None:
    english = web.client("supervisor")
    english.get("/auth/language/en")
    number = start_case(web.db, "lv_residential")
    with web.db.transaction() as session:
        pii.log_unmasked_view(session, "account_manager", number, ["id_number"], "web", web.db.clock.now())
    assert "1 entry" in text_of(english.get("/admin/data-access")) and "1 entries" not in text_of(
        english.get("/admin/data-access"))
    with web.db.transaction() as session:
        pii.log_unmasked_view(session, "account_manager", number, ["phone"], "web", web.db.clock.now())
    assert "2 entries" in text_of(english.get("/admin/data-access"))
    chinese = web.client("supervisor")
    assert "共 2 条记录" in text_of(chinese.get("/admin/data-access"))
