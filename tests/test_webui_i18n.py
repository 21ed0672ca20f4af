"""Chinese by default, English on request; the English catalogue covers every UI string and its .mo is current."""

from __future__ import annotations

import io
from pathlib import Path

from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask
from flask_babel import Babel

from runner.roles import ROLE_NAMES
from tests.webui_helpers import (
    Web,
    start_case,
    task_of,
    text_of,
    web_fixture,  # noqa: F401  (the web fixture)
)
from webui.labels import GROUP_LABELS

ROOT = Path(__file__).resolve().parent.parent
CATALOGUE = ROOT / "webui" / "translations" / "en" / "LC_MESSAGES"


def test_chinese_by_default_and_english_after_the_switch(web: Web) -> None:
    number = start_case(web.db)
    task = task_of(web.db, number, "accept_application")
    client = web.client("account_manager")
    page = client.get("/tasks/")
    assert "我的工作台" in text_of(page) and 'lang="zh-CN"' in page.get_data(as_text=True)
    assert "/auth/language/en?next=/tasks/" in page.get_data(as_text=True)
    switched = client.get(f"/auth/language/en?next=/tasks/{task}")
    assert switched.headers["Location"] == f"/tasks/{task}"
    english = client.get("/tasks/")
    assert "My workbench" in text_of(english) and "Work on it" in text_of(english) and "Claim" in text_of(english)
    assert 'lang="en"' in english.get_data(as_text=True)
    form = client.get(f"/tasks/{task}")
    assert "Instructions" in text_of(form) and "受理结论" in text_of(form)  # process texts stay as modelled
    refused = client.post(f"/tasks/{task}", {"decision": "reject", "request_id": "b" * 32})
    assert refused.status_code == 400 and "This field is required." in text_of(refused)
    client.get("/auth/language/zh_CN")
    assert "我的工作台" in text_of(client.get("/tasks/"))
    assert client.get("/auth/language/fr?next=https://evil.example/").headers["Location"] == "/tasks/"
    anonymous = web.client()
    anonymous.get("/auth/language/en")
    assert "Staff sign-in" in text_of(anonymous.get("/auth/login"))


def test_the_english_catalogue_is_complete_and_compiled() -> None:
    # what `make translations` extracts (webui/babel.cfg): gettext calls in Python and in the templates
    methods = [("**.py", "python"), ("templates/**.html", "jinja2")]
    keywords = {**DEFAULT_KEYWORDS, "_l": None}
    wanted = {message for _file, _line, message, _comments, _context
              in extract_from_dir(str(ROOT / "webui"), methods, keywords=keywords) if isinstance(message, str)}
    assert "我的工作台" in wanted and "此项为必填项。" in wanted and "客户经理" in wanted
    with (CATALOGUE / "messages.po").open("rb") as handle:
        catalogue = read_po(handle)
    translated = {message.id for message in catalogue if message.id and message.string}
    assert wanted - translated == set(), "run `make translations` and translate the new strings"
    compiled = io.BytesIO()
    write_mo(compiled, catalogue)
    assert (CATALOGUE / "messages.mo").read_bytes() == compiled.getvalue(), "run `make translations`"


def test_the_group_labels_are_the_runners_role_names() -> None:
    """Task instructions name roles through runner.roles (runner/ does not import webui); the web UI's translatable
    labels must say the same in Chinese."""
    app = Flask(__name__)
    Babel(app, default_locale="zh_CN")
    with app.test_request_context():
        assert {code: str(text) for code, text in GROUP_LABELS.items()} == ROLE_NAMES


def test_the_runners_english_role_names_are_the_catalogues() -> None:
    """The simulator's English verdicts name pools as the English UI does ("followup agent utilisation" stood
    beside "Follow-up agent" in the tables)."""
    from runner.roles import ROLE_NAMES_EN
    from runner.simulation.whatif import _english

    with (ROOT / "webui" / "translations" / "en" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalogue = read_po(handle)
    assert {code: catalogue.get(name).string for code, name in ROLE_NAMES.items()} == ROLE_NAMES_EN
    assert _english("followup_agent") == "Follow-up agent" and _english("night_crew") == "night crew"
