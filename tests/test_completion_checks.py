"""Completion checks (``x-completion-checks`` in a task form): rules on the case's data that refuse an answer as a
schema error would, before anything changes. 业务受理 refuses "受理" while required materials are missing, unless
it is a valid 一证受理 (only the property proof missing, the commitment signed) — on the form, through the API and
in the service layer, on both databases; ``validate`` names a broken check at its form file and line."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import pytest

from handlers import build_registry
from runner import services
from runner.forms import FormValidationError
from runner.validation import validate_folder
from tests.api_helpers import Api, api_fixture, error_of  # noqa: F401  (the api fixture)
from tests.db import PROCESSES, Db, events, open_task, open_tasks, start

ACCEPT = {"decision": "accept", "one_certificate": False, "commitment_signed": False, "contract_signed": False}


def test_accepting_with_materials_missing_is_refused_with_what_is_missing(db: Db) -> None:
    number = start(db, "hv_ordinary", provided_materials=["identity", "property_proof"], has_property_proof=True)
    task = open_task(db, number, "accept_application")
    before = len(events(db, number))
    with pytest.raises(FormValidationError) as refused, db.transaction() as session:
        services.complete_task(session, db.runtime, task.id, ACCEPT, "account_manager.1", uuid.uuid4().hex)
    [(field, message)] = refused.value.errors
    assert field == "decision" and message.startswith("资料不全，不能受理") and "营业执照" in message
    assert len(events(db, number)) == before  # nothing happened: the task is still open, no event
    assert [t.element_id for t in open_tasks(db, number)] == ["accept_application"]
    with db.transaction() as session:  # asking for the materials is always possible
        services.complete_task(session, db.runtime, task.id,
                               {**ACCEPT, "decision": "need_more", "missing_materials": ["business_licence"]},
                               "account_manager.1", uuid.uuid4().hex)
    assert "supply_materials" in {t.element_id for t in open_tasks(db, number)}


def test_one_certificate_acceptance_passes_only_when_only_the_proof_is_missing_and_committed(db: Db) -> None:
    number = start(db, "lv_residential", provided_materials=["identity"], has_property_proof=False)
    task = open_task(db, number, "accept_application")
    with pytest.raises(FormValidationError), db.transaction() as session:  # 一证受理 without the commitment
        services.complete_task(session, db.runtime, task.id, {**ACCEPT, "one_certificate": True},
                               "account_manager.1", uuid.uuid4().hex)
    with db.transaction() as session:
        services.complete_task(session, db.runtime, task.id,
                               {**ACCEPT, "one_certificate": True, "commitment_signed": True},
                               "account_manager.1", uuid.uuid4().hex)
    assert "accept_application" not in {t.element_id for t in open_tasks(db, number)}


def test_the_api_answers_a_refused_check_as_a_field_error(api: Api) -> None:
    number = start(api.db, "hv_ordinary", provided_materials=["identity"], has_property_proof=False)
    task = open_task(api.db, number, "accept_application")
    refused = api.post(f"/tasks/{task.id}/complete", "account_manager",
                       json={"data": {**ACCEPT, "one_certificate": True, "commitment_signed": True},
                             "request_id": "req-check-1"})
    assert refused.status_code == 422, refused.get_json()
    [problem] = error_of(refused)["fields"]
    assert problem["field"] == "decision" and "尚缺" in problem["message"]
    assert open_task(api.db, number, "accept_application").id == task.id


def test_validate_names_a_broken_check_at_its_form_file(tmp_path: Path) -> None:
    folder = tmp_path / "processes"
    shutil.copytree(PROCESSES, folder)
    form = folder / "forms" / "accept_application.schema.json"
    schema = json.loads(form.read_text(encoding="utf-8"))
    schema["x-completion-checks"] = [{"field": "decison", "refuse_when": "answer.get('decision') ==", "message": ""}]
    form.write_text(json.dumps(schema, ensure_ascii=False, indent=2), encoding="utf-8")
    line = next(number for number, text in enumerate(form.read_text(encoding="utf-8").splitlines(), start=1)
                if "x-completion-checks" in text)
    problems = [(p.file, p.line, p.message) for p in validate_folder(folder, build_registry())
                if p.file == str(form)]
    messages = [message for _file, found_line, message in problems if found_line == line]
    assert any("message must be a text" in m for m in messages), problems
    assert any("names no field of the form: 'decison'" in m for m in messages), problems
    assert any("refuse_when does not compile" in m for m in messages), problems
