"""A form opens without made-up answers (docs/decisions.md 56): through HTTP on both databases, staff and customer
task forms show no selected decision, ticked checklist, date, number or name that nobody gave, and an untouched
form is refused at its fields and changes nothing; the sample answers (``examples``) still drive ``try``, the
simulator and the tests. Also: 补充申请资料 needs a file, and field messages say what is wrong."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import pytest
from werkzeug.datastructures import MultiDict

from runner.documents import MAX_BYTES
from runner.forms import FormValidationError, default_instance, form_defaults, validate_form_data
from tests.db import PROCESSES, Db, advance_to, complete, open_task, open_tasks
from tests.test_portal_apply import RESIDENTIAL, apply
from tests.test_portal_track import give_code, signed_in
from tests.webui_helpers import Browser, Web, start_case, text_of, web_fixture  # noqa: F401  (the web fixture)

FORMS = sorted(path.name.removesuffix(".schema.json") for path in (PROCESSES / "forms").glob("*.schema.json"))
TRUE_DEFAULTS = {  # form -> the fields that may open with a value (processes/forms/README.md)
    "apply": {"important_customer", "special_load", "dual_supply", "commitment_signed"},
}


def load(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((PROCESSES / "forms" / f"{name}.schema.json").read_text(encoding="utf-8"))
    return schema


def field_block(html: str, name: str) -> str:
    """The rendered field ``name`` (``id="field-<name>"`` up to the next field), its messages included."""
    block = html[html.index(f'id="field-{name}"'):]
    end = block.find('<div class="field', 10)
    return block[:end if end > 0 else len(block)]


def filled_in(html: str, schema: dict[str, Any]) -> dict[str, str]:
    """Each field of ``schema`` the page shows with an answer: a selected choice, a ticked box, a value typed in."""
    shown = {}
    for name in schema["properties"]:
        block = field_block(html, name)
        answer = re.search(r'<input type="(?:radio|checkbox)" name="[^"]+" value="[^"]*" checked', block) or \
            re.search(r'<option value="[^"]+" selected', block) or \
            re.search(rf'<input id="{name}" name="{name}" value="[^"]+"', block) or \
            re.search(rf'<textarea id="{name}"[^>]*>\s*[^<\s]', block)
        if answer:
            shown[name] = answer[0]
    return shown


@pytest.mark.parametrize("name", FORMS)
def test_the_sample_answers_are_examples_and_no_task_form_opens_with_them(name: str) -> None:
    schema = load(name)
    sample = default_instance(schema)
    validate_form_data(schema, sample)  # the happy path still answers every required field
    assert set(schema["required"]) <= set(sample)
    opened = form_defaults(schema)
    assert set(opened) == TRUE_DEFAULTS.get(name, set())
    assert all(sample[field] == opened[field] for field in opened)


@pytest.mark.parametrize(("element", "lane"), [("site_survey", "surveyor"), ("draft_plan", "surveyor")])
def test_a_staff_form_opens_blank_and_an_untouched_one_is_refused(web: Web, element: str, lane: str) -> None:
    number = start_case(web.db, "hv_ordinary")
    advance_to(web.db, number, element)
    task = open_task(web.db, number, element)
    assert task.lane == lane
    client = web.client(lane)
    page = client.get(f"/tasks/{task.id}")
    html = page.get_data(as_text=True)
    schema = load(element)
    assert page.status_code == 200
    assert filled_in(html, schema) == {}
    for made_up in ("2019-12-01", "采用 10kV 单电源供电", "630kVA"):  # the examples: a date, the plan text
        assert made_up not in html, made_up
    # What a browser sends for the untouched form: the checklists' markers, nothing else.
    untouched = {f"{field}.present": "1" for field, sub in schema["properties"].items()
                 if sub.get("type") == "array"}
    response = client.post(f"/tasks/{task.id}", {**untouched, "request_id": uuid.uuid4().hex})
    assert response.status_code == 400
    refused = response.get_data(as_text=True)
    for field in schema["required"]:
        assert 'class="field-error"' in field_block(refused, field), field
    assert open_task(web.db, number, element).id == task.id  # nothing was recorded


def test_the_site_survey_checklist_is_ticked_by_the_surveyor_not_by_the_form(web: Web) -> None:
    """The safety attestation is recorded only with the items the surveyor ticked: all of them, here."""
    number = start_case(web.db, "hv_ordinary")
    advance_to(web.db, number, "site_survey")
    task = open_task(web.db, number, "site_survey")
    items = load("site_survey")["properties"]["safety_checklist"]["items"]["oneOf"]
    client = web.client("surveyor")
    client.get(f"/tasks/{task.id}")
    answer: list[tuple[str, str]] = [("survey_date", "2026-03-02"), ("feeder_margin_kva", "1500"),
                                     ("safety_checklist.present", "1")]
    answer += [("safety_checklist", item["const"]) for item in items[:-1]]
    response = client.post(f"/tasks/{task.id}", MultiDict([*answer, ("request_id", uuid.uuid4().hex)]))
    assert response.status_code == 400  # one item left unticked: the checklist requires every item
    assert 'class="field-error"' in field_block(response.get_data(as_text=True), "safety_checklist")
    answer.append(("safety_checklist", items[-1]["const"]))
    done = client.post(f"/tasks/{task.id}", MultiDict([*answer, ("request_id", uuid.uuid4().hex)]))
    assert done.status_code == 302, text_of(done)
    assert all(t.element_id != "site_survey" for t in open_tasks(web.db, number))


def test_a_customer_form_opens_without_a_signature(web: Web) -> None:
    number = start_case(web.db, "hv_ordinary")
    give_code(web.db, number)
    advance_to(web.db, number, "sign_plan")
    task = open_task(web.db, number, "sign_plan")
    client = signed_in(web, number)
    html = client.get(f"/portal/case/tasks/{task.id}").get_data(as_text=True)
    assert 'name="signed" value="true"' in html and filled_in(html, load("sign_plan")) == {}
    response = client.post(f"/portal/case/tasks/{task.id}", {"request_id": uuid.uuid4().hex})
    assert response.status_code == 400 and "此项为必填项" in field_block(response.get_data(as_text=True), "signed")
    assert open_task(web.db, number, "sign_plan").id == task.id


def test_the_completion_report_opens_without_a_contact_and_explains_a_short_phone_number(web: Web) -> None:
    number = start_case(web.db, "hv_ordinary")
    give_code(web.db, number)
    advance_to(web.db, number, "report_completion")
    task = open_task(web.db, number, "report_completion")
    client = signed_in(web, number)
    html = client.get(f"/portal/case/tasks/{task.id}").get_data(as_text=True)
    assert filled_in(html, load("report_completion")) == {}
    assert 'value="张工"' not in html and 'value="13800138000"' not in html  # placeholders may show them
    answer = {"completion_date": "2026-03-20", "documents.present": "1", "documents": "as_built_drawings",
              "contact_person": "李工", "contact_phone": "138"}
    response = client.post(f"/portal/case/tasks/{task.id}", {**answer, "request_id": uuid.uuid4().hex})
    assert response.status_code == 400
    messages = field_block(response.get_data(as_text=True), "contact_phone")
    assert "应为 11 个字符。" in messages and "不能为空" not in messages  # it is not empty: it is too short
    client.get("/auth/language/en")
    english = client.post(f"/portal/case/tasks/{task.id}", {**answer, "request_id": uuid.uuid4().hex})
    assert "Must be exactly 11 characters." in field_block(english.get_data(as_text=True), "contact_phone")


def test_a_capacity_of_zero_is_told_it_must_be_more_than_zero(web: Web) -> None:
    client = web.client()
    response = apply(client, {**RESIDENTIAL, "declared_capacity_kw": "0"})
    assert response.status_code == 400
    messages = field_block(response.get_data(as_text=True), "declared_capacity_kw")
    assert "必须大于 0。" in messages and "不能小于" not in messages
    client.get("/auth/language/en")
    english = apply(client, {**RESIDENTIAL, "declared_capacity_kw": "0"})
    assert "Must be greater than 0." in field_block(english.get_data(as_text=True), "declared_capacity_kw")


def supply_materials_task(db: Db) -> tuple[str, str]:
    number = start_case(db, "hv_ordinary")
    give_code(db, number)
    advance_to(db, number, "accept_application")
    complete(db, number, "accept_application", user="account_manager.1",
             extra={"decision": "need_more", "missing_materials": ["property_proof"]})
    return number, open_task(db, number, "supply_materials").id


def test_materials_cannot_be_ticked_as_supplied_without_a_file(web: Web) -> None:
    number, task = supply_materials_task(web.db)
    client: Browser = signed_in(web, number)
    page = client.get(f"/portal/case/tasks/{task}")
    html = page.get_data(as_text=True)
    assert filled_in(html, load("supply_materials")) == {}
    assert f"单个文件不超过 {MAX_BYTES // (1024 * 1024)} MB" in field_block(html, "files")
    ticked = {"provided_materials.present": "1", "provided_materials": "property_proof"}
    response = client.post(f"/portal/case/tasks/{task}", {**ticked, "request_id": uuid.uuid4().hex})
    assert response.status_code == 400
    assert "此项为必填项" in field_block(response.get_data(as_text=True), "files")
    assert open_task(web.db, number, "supply_materials").id == task  # with a file uploaded for the case it
    # completes: tests/test_attachment_refs.py (a reference to no uploaded file is refused there)


def test_an_empty_file_list_is_refused_by_the_runner_too() -> None:
    schema = load("supply_materials")
    for files in ([], None):
        data = {"provided_materials": ["identity"], **({"files": files} if files is not None else {})}
        with pytest.raises(FormValidationError) as refused:
            validate_form_data(schema, data)
        assert [path for path, _message in refused.value.errors] == ["files"]
