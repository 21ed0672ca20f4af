"""``portal.internal_elements`` walks a process version's specs once: the progress page asks it twice per request
(its steps and what it waits at), and every later request of a case on that version reuses the answer."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from runner import portal
from runner.process_folder import ProcessBundle
from tests.db import advance_to
from tests.test_portal_track import give_code, signed_in
from tests.webui_helpers import Web, start_case, text_of, web_fixture  # noqa: F401


def counting_walks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    walked: list[str] = []
    find = portal._find_internal_elements

    def spy(bundle: ProcessBundle) -> Any:
        walked.append(bundle.version)
        return find(bundle)

    monkeypatch.setattr(portal, "_find_internal_elements", spy)
    # a name no bundle has kept an answer under yet: every bundle (the session's shared one too) walks afresh
    monkeypatch.setattr(portal, "_INTERNAL_KEPT_AS", f"{portal._INTERNAL_KEPT_AS}_{uuid.uuid4().hex}")
    return walked


def test_progress_pages_walk_the_version_once(web: Web, monkeypatch: pytest.MonkeyPatch) -> None:
    number = start_case(web.db, "hv_ordinary")
    give_code(web.db, number)
    advance_to(web.db, number, "site_survey")
    client = signed_in(web, number)
    walked = counting_walks(monkeypatch)
    for _ in range(3):
        page = client.get("/portal/case")
        assert page.status_code == 200 and "现场勘查" in text_of(page)
    assert len(walked) == 1, walked
