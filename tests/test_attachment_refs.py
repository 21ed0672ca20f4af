"""A form may name only files that are really there: every ``attachments/…`` reference in a task's answer must be a
document of the task's case (or the submitter's own upload not yet attached), through the staff web form, the
portal and the REST API, on both databases; anything else is refused at its field and changes nothing. The demo,
generated histories and tests, which answer with the forms' sample references, still run.

Also: the case page names the customer's refusals (``plan_refused`` / ``contract_refused``), the admin lists refuse
absurd page numbers with 400, and the portal and the API refuse implausible loads (``x-load-plausibility``)."""

from __future__ import annotations

import io
import json
import re
import uuid
from typing import Any

import pytest
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from runner import services
from runner.documents import NOT_A_CASE_FILE
from runner.forms import FormValidationError, load_problems, validate_form_data
from runner.models import Case as CaseRow
from runner.models import Document, Event
from tests.api_helpers import Api, api_fixture, error_of  # noqa: F401  (the api fixture)
from tests.db import PROCESSES, Db, advance_to, complete, open_task, open_tasks, sample
from tests.test_documents import JPEG, SURVEY, upload
from tests.test_form_prefill import field_block, load, supply_materials_task
from tests.test_portal_apply import FACTORY, PDF, RESIDENTIAL, apply, files
from tests.test_portal_track import signed_in
from tests.webui_helpers import Web, start_case, task_of, text_of, web_fixture  # noqa: F401  (the web fixture)

SAMPLE_REFERENCE = "attachments/examples/supply_materials/property_proof.pdf"  # the forms' sample answer

NOT_A_CASE_FILE_ZH = "不是为本案件上传的文件，请重新上传。"
"""``NOT_A_CASE_FILE`` as the web pages word it (``webui.formrender.describe_error``)."""


def surveyed(web: Web) -> tuple[str, str]:
    number = start_case(web.db, "hv_ordinary")
    advance_to(web.db, number, "site_survey")
    return number, task_of(web.db, number, "site_survey")


def completed_events(db: Db, task_id: str) -> int:
    with db.reading() as session:
        return len(session.scalars(select(Event.id).where(Event.task_id == task_id,
                                                          Event.lifecycle == "completed")).all())


def survey_with(reference: str) -> MultiDict[str, str]:
    return MultiDict([*SURVEY.items(multi=True), ("photos", reference), ("request_id", uuid.uuid4().hex)])


# -- attachments ---------------------------------------------------------------------------------------------------


def test_a_staff_form_names_only_files_of_its_own_case(web: Web) -> None:
    number, task = surveyed(web)
    _other, other_task = surveyed(web)
    surveyor = web.client("surveyor")
    foreign = upload(surveyor, other_task, JPEG).get_json()["reference"]  # another case's photo
    applicant = web.client(address="10.9.9.9")
    applicant.get("/portal/apply")
    drafted = applicant.post("/portal/upload", {"file": (io.BytesIO(JPEG + b"draft"), "id.jpg")},
                             content_type="multipart/form-data")
    assert drafted.status_code == 201
    someone_elses = drafted.get_json()["reference"]  # an applicant's upload, not attached to any case yet
    invented = f"attachments/{uuid.uuid4().hex}"
    for reference in (invented, foreign, someone_elses, SAMPLE_REFERENCE):
        refused = surveyor.post(f"/tasks/{task}", survey_with(reference))
        assert refused.status_code == 400, reference
        assert NOT_A_CASE_FILE_ZH in field_block(refused.get_data(as_text=True), "photos"), reference
        assert task_of(web.db, number, "site_survey") == task and completed_events(web.db, task) == 0
    with web.db.reading() as session:  # the applicant's upload was not taken over by the case
        assert session.get(Document, someone_elses.split("/")[1]).case_id is None  # type: ignore[union-attr]
    own = upload(surveyor, task, JPEG + b"own").get_json()["reference"]
    done = surveyor.post(f"/tasks/{task}", survey_with(own))
    assert done.status_code == 302, text_of(done)
    assert completed_events(web.db, task) == 1


def test_the_api_refuses_a_made_up_reference_at_its_field_and_changes_nothing(api: Api) -> None:
    number = start_case(api.db, "hv_ordinary")
    advance_to(api.db, number, "site_survey")
    task = open_task(api.db, number, "site_survey")
    answer = {"survey_date": "2026-11-26", "feeder_margin_kva": 2000, "safety_checklist": [
        "safety_measures", "live_parts_isolated", "staff_certified", "ppe_worn", "hazards_briefed",
        "customer_escorted"]}
    url = f"/tasks/{task.id}/complete"
    refused = api.post(url, "surveyor", json={"data": {**answer, "photos": ["attachments/a.jpg", SAMPLE_REFERENCE]},
                                              "request_id": "refs-00001"})
    assert refused.status_code == 422
    fields = error_of(refused)["fields"]
    assert [f["field"] for f in fields] == ["photos[0]", "photos[1]"]
    assert all(NOT_A_CASE_FILE in f["message"] for f in fields)
    assert open_task(api.db, number, "site_survey").id == task.id and completed_events(api.db, task.id) == 0
    done = api.post(url, "surveyor", json={"data": answer, "request_id": "refs-00002"})
    assert done.status_code == 200, done.get_json()


def test_the_customer_hands_in_only_files_uploaded_to_their_case(web: Web) -> None:
    number, task = supply_materials_task(web.db)
    _other, other_task = surveyed(web)
    foreign = upload(web.client("surveyor"), other_task, JPEG + b"other").get_json()["reference"]
    customer = signed_in(web, number)
    ticked = {"provided_materials.present": "1", "provided_materials": "property_proof"}
    for reference in (SAMPLE_REFERENCE, foreign):
        refused = customer.post(f"/portal/case/tasks/{task}", {**ticked, "files": reference,
                                                               "request_id": uuid.uuid4().hex})
        assert refused.status_code == 400, reference
        assert NOT_A_CASE_FILE_ZH in field_block(refused.get_data(as_text=True), "files")
        assert open_task(web.db, number, "supply_materials").id == task
    customer.get("/portal/case")
    uploaded = customer.post("/portal/upload", {"field": "files", "element_id": "supply_materials",
                                                "file": (io.BytesIO(JPEG + b"proof"), "proof.jpg")},
                             content_type="multipart/form-data")
    assert uploaded.status_code == 201, uploaded.get_data(as_text=True)
    done = customer.post(f"/portal/case/tasks/{task}", {**ticked, "files": uploaded.get_json()["reference"],
                                                        "request_id": uuid.uuid4().hex})
    assert done.status_code == 302, text_of(done)
    assert all(t.element_id != "supply_materials" for t in open_tasks(web.db, number))


def test_internal_drivers_keep_their_sample_references_but_a_person_does_not(db: Db) -> None:
    """The demo, ``baozhuang history`` and the tests complete tasks without groups and with the forms' sample
    answers (``attachments/examples/…``): those pass. With groups (a person) they do not; and a reference of the
    store's shape is checked for everyone."""
    number, task = supply_materials_task(db)
    sample_answer = {"provided_materials": ["property_proof"], "files": [SAMPLE_REFERENCE]}
    for groups, data in ((("customer",), sample_answer),
                         (None, {**sample_answer, "files": [f"attachments/{uuid.uuid4().hex}"]})):
        with pytest.raises(FormValidationError) as refused, db.transaction() as session:
            services.complete_task(session, db.runtime, task, data, f"customer:{number}", uuid.uuid4().hex, groups)
        assert [path for path, _message in refused.value.errors] == ["files[0]"]
    complete(db, number, "supply_materials", user="customer")  # the sample answer, as the demo gives it
    assert all(t.element_id != "supply_materials" for t in open_tasks(db, number))


# -- the customer's refusals on the case page ----------------------------------------------------------------------


def test_the_case_page_names_a_refused_plan(web: Web) -> None:
    number = start_case(web.db, "hv_ordinary")
    advance_to(web.db, number, "sign_plan")
    complete(web.db, number, "sign_plan", {"signed": False, "remarks": "接入点距离太远，请调整"}, user="customer")
    client = web.client("supervisor")
    page = text_of(client.get(f"/cases/{number}"))
    assert "客户暂不签署供电方案" in page and "plan_refused" not in page
    client.get("/auth/language/en")
    assert "Customer declined to sign the supply plan" in text_of(client.get(f"/cases/{number}"))


def test_every_timeline_key_the_process_writes_has_a_label() -> None:
    from webui.cases.routes import SUMMARY_LABELS

    written = set()
    for path in [*PROCESSES.glob("*.bpmn"), *PROCESSES.glob("variants/*/*.bpmn")]:
        for line in path.read_text(encoding="utf-8").splitlines():
            if "timeline = {**timeline" in line:
                written.update(re.findall(r'"([a-z_]+)":', line))
    assert {"plan_refused", "contract_refused"} <= written
    assert written <= set(SUMMARY_LABELS), written - set(SUMMARY_LABELS)
    assert str(SUMMARY_LABELS["contract_refused"]) == "客户暂不签订合同"


# -- admin page numbers --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/admin/users", "/admin/data-access"])
def test_an_absurd_page_number_is_a_bad_request_not_an_error(web: Web, path: str) -> None:
    admin = web.client("admin")
    for page, status in (("99999999999999999999", 400), ("9" * 5000, 400), ("100001", 400), ("100000", 200),
                         ("²", 200), ("-3", 200), ("0002", 200)):
        assert admin.get(f"{path}?page={page}").status_code == status, page


# -- implausible loads ---------------------------------------------------------------------------------------------


ABSURD_HOUSEHOLD = {**{key: value for key, value in RESIDENTIAL.items() if not key.startswith("equipment")},
                    "declared_capacity_kw": "999999", "equipment[0].name": "电炉", "equipment[0].count": "10000",
                    "equipment[0].unit_kw": "100000"}


def test_the_portal_refuses_an_absurd_household_in_words_the_customer_reads(web: Web) -> None:
    client = web.client()
    refused = apply(client, {**ABSURD_HOUSEHOLD, **files(identity=JPEG)})
    assert refused.status_code == 400
    html = refused.get_data(as_text=True)
    assert "居民用电为低压供电，申请容量不能超过 160 千瓦" in field_block(html, "declared_capacity_kw")
    assert web.db.count(CaseRow) == 0
    realistic_rating = {**ABSURD_HOUSEHOLD, "declared_capacity_kw": "150", "equipment[0].count": "1",
                        "equipment[0].unit_kw": "400"}
    refused = apply(client, {**realistic_rating, **files(identity=JPEG)})
    assert "超过居民低压供电上限 160 千瓦" in field_block(refused.get_data(as_text=True), "equipment")
    typed_in_watts = {**FACTORY, "equipment[0].unit_kw": "25000", "equipment[1].unit_kw": "55000",
                      "equipment[2].unit_kw": "80000"}  # 数控机床 20 × 25000 "kW" for an 800 kW factory
    refused = apply(client, {**typed_in_watts, **files(identity=JPEG)})
    assert refused.status_code == 400
    assert "用电设备合计 800000 千瓦，超过申请容量 800 千瓦的 10 倍" in field_block(refused.get_data(as_text=True),
                                                                                   "equipment")
    client.get("/auth/language/en")
    english = apply(client, {**ABSURD_HOUSEHOLD, **files(identity=JPEG)})
    assert "the requested capacity cannot exceed 160 kW" in field_block(english.get_data(as_text=True),
                                                                      "declared_capacity_kw")
    assert web.db.count(CaseRow) == 0
    fine = apply(client, {**RESIDENTIAL, **files(identity=JPEG, property_proof=PDF)})
    assert fine.status_code == 302, text_of(fine)  # a real household still applies


def test_the_api_applies_the_same_checks(api: Api) -> None:
    data = sample("lv_residential")
    absurd = {**data["application"], "declared_capacity_kw": 999999,
              "equipment": [{"name": "电炉", "count": 10000, "unit_kw": 100000, "demand_factor": 0.8,
                             "power_factor": 0.85}]}
    refused = api.post("/applications", "account_manager", json={"application": absurd, "regime": data["regime"]})
    assert refused.status_code == 422
    fields = {f["field"]: f["message"] for f in error_of(refused)["fields"]}
    assert "residential supply is low voltage, at most 160 kW" in fields["application.declared_capacity_kw"]
    assert "application.equipment" in fields and "application.equipment[0].count" in fields
    assert api.db.count(CaseRow) == 0
    factory = sample("hv_ordinary")["application"]
    declared_too_high = {**factory, "declared_capacity_kw": 9000}  # 800 kW of equipment
    refused = api.post("/applications", "account_manager", json={"application": declared_too_high,
                                                                 "regime": data["regime"]})
    assert refused.status_code == 422
    assert [f["field"] for f in error_of(refused)["fields"]] == ["application.declared_capacity_kw"]
    assert api.post("/applications", "account_manager", json={"application": factory, "regime": data["regime"]}
                    ).status_code == 201


@pytest.mark.parametrize(("application", "codes"), [
    ({"customer_type": "residential", "declared_capacity_kw": 160, "equipment": []}, []),
    ({"customer_type": "residential", "declared_capacity_kw": 160.5, "equipment": []}, ["residential_capacity"]),
    ({"customer_type": "non_residential", "declared_capacity_kw": 5000, "equipment": []}, []),
    ({"customer_type": "non_residential", "declared_capacity_kw": 100,
      "equipment": [{"count": 10, "unit_kw": 100}]}, []),  # exactly 10 times
    ({"customer_type": "non_residential", "declared_capacity_kw": 100,
      "equipment": [{"count": 10, "unit_kw": 100.1}]}, ["equipment_above_declared"]),
    ({"customer_type": "non_residential", "declared_capacity_kw": 100,
      "equipment": [{"count": 1, "unit_kw": 9.9}]}, ["declared_above_equipment"]),
    ({"customer_type": "residential", "declared_capacity_kw": True, "equipment": [{"count": "x", "unit_kw": 1}]}, []),
])
def test_load_problems(application: dict[str, Any], codes: list[str]) -> None:
    rules = load("apply")["x-load-plausibility"]
    assert [problem.code for problem in load_problems(rules, application)] == codes


def test_every_sample_application_is_plausible() -> None:
    """``baozhuang try``, the simulator and the demo start from these."""
    schema = load("apply")
    paths = sorted((PROCESSES / "samples").glob("*.json"))
    assert len(paths) >= 6
    for path in paths:
        validate_form_data(schema, json.loads(path.read_text(encoding="utf-8"))["application"])
