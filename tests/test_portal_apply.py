"""The portal's application: through HTTP on both databases a case is started with the right start data and an
access code kept only as a hash; bad input gives messages at the fields and creates nothing; the live assessment
agrees with what the case's own service task and DMN decide; too many applications from one address → 429."""

from __future__ import annotations

import io
import re
from typing import Any

from sqlalchemy import select

from runner import portal
from runner.decisions import evaluate, load_decisions
from runner.models import Case as CaseRow
from runner.models import Document
from runner.store import load_case
from tests.db import PROCESSES, Db
from tests.webui_helpers import Browser, Web, text_of, web_fixture  # noqa: F401  (the web fixture)

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x01" * 200
PDF = b"%PDF-1.4\n" + b"0" * 200 + b"\n%%EOF"

RESIDENTIAL = {
    "category": "residential", "customer_name": "张伟", "id_type": "id_card", "id_number": "110105199003070017",
    "phone": "13800000001", "address": "北京市朝阳区示例路1号院3号楼2单元501", "industry": "城乡居民生活用电",
    "declared_capacity_kw": "8", "equipment[0].name": "空调", "equipment[0].count": "3",
    "equipment[0].unit_kw": "1.5", "equipment[1].name": "电热水器", "equipment[1].count": "1",
    "equipment[1].unit_kw": "2", "important_customer": "false", "special_load": "false", "dual_supply": "false",
    "requested_date": "2026-12-10",
}
FACTORY = {
    **{key: value for key, value in RESIDENTIAL.items() if not key.startswith("equipment")},
    "category": "other", "customer_name": "示例精密机械制造有限公司", "id_type": "social_credit_code",
    "id_number": "91110000MA00000003", "industry": "通用设备制造业", "declared_capacity_kw": "800",
    "address": "北京市顺义区示例工业园5号", "equipment[0].name": "数控机床", "equipment[0].count": "20",
    "equipment[0].unit_kw": "25", "equipment[1].name": "空压机", "equipment[1].count": "4",
    "equipment[1].unit_kw": "55", "equipment[2].name": "照明及办公", "equipment[2].count": "1",
    "equipment[2].unit_kw": "80", "requested_date": "2027-06-30",
}


def files(**kinds: bytes) -> dict[str, Any]:
    return {f"file.{kind}": (io.BytesIO(content), f"{kind}.{'pdf' if content.startswith(b'%PDF') else 'jpg'}")
            for kind, content in kinds.items()}


def submission_id_of(page: Any) -> str:
    """The form's submission id (one case per submission)."""
    found = re.search(r'name="submission_id" value="([^"]+)"', page.get_data(as_text=True))
    assert found, text_of(page)
    return found[1]


def apply(client: Browser, fields: dict[str, Any]) -> Any:
    form = client.get("/portal/apply")
    return client.post("/portal/apply", {"submission_id": submission_id_of(form), **fields},
                       content_type="multipart/form-data")


def case_data(db: Db, number: str) -> dict[str, Any]:
    with db.reading() as session:
        return dict(load_case(session, db.runtime, number).case.data)


def created_case(client: Browser) -> tuple[str, str]:
    page = client.get("/portal/applied")
    html = page.get_data(as_text=True)
    number = re.search(r'id="case-number">([^<]+)<', html)
    code = re.search(r'id="access-code">([^<]+)<', html)
    assert number and code, text_of(page)
    return number[1], code[1]


def test_the_apply_page_is_in_chinese_with_camera_input_and_no_sample_data(web: Web) -> None:
    html = web.client().get("/portal/apply").get_data(as_text=True)
    assert "申请用电" in html and "一证受理" in html and 'name="csrf_token"' in html
    assert 'name="file.identity" accept="image/*" capture="environment"' in html
    assert 'name="equipment[0].unit_kw"' in html and 'name="equipment[0].demand_factor"' not in html
    assert "示例科技有限公司" not in html  # the schema's example defaults are not pre-filled for customers
    assert 'name="viewport"' in html


def test_a_residential_application_starts_a_case_with_its_code_shown_once(web: Web) -> None:
    client = web.client()
    response = apply(client, {**RESIDENTIAL, **files(identity=JPEG, property_proof=PDF)})
    assert response.status_code == 302, text_of(response)
    number, code = created_case(client)
    application = case_data(web.db, number)["application"]
    assert application["customer_name"] == "张伟" and application["customer_type"] == "residential"
    assert application["enterprise_size"] is None
    assert application["equipment"][0] == {"name": "空调", "count": 3, "unit_kw": 1.5, "demand_factor": 0.8,
                                           "power_factor": 0.85}
    assert application["has_property_proof"] is True and application["commitment_signed"] is False
    assert application["provided_materials"] == ["identity", "property_proof"]
    with web.db.reading() as session:
        row = session.scalar(select(CaseRow).where(CaseRow.case_number == number))
        assert row is not None and row.category == "lv_residential"
        assert row.access_code_hash and code.replace("-", "") not in row.access_code_hash
        assert portal.check_access_code(session, number, code)
        attached = session.scalars(select(Document).where(Document.case_id == row.id)).all()
        assert sorted(doc.field or "" for doc in attached) == ["identity", "property_proof"]
    again = client.get("/portal/applied")
    assert code not in again.get_data(as_text=True)  # shown once
    assert number in client.get("/portal/case").get_data(as_text=True)  # signed in to the new case


def test_an_hv_application_on_the_id_alone_with_the_commitment(web: Web) -> None:
    client = web.client()
    response = apply(client, {**FACTORY, "commitment_signed": "true", **files(identity=JPEG)})
    assert response.status_code == 302, text_of(response)
    number, _code = created_case(client)
    data = case_data(web.db, number)
    assert data["application"]["has_property_proof"] is False
    assert data["application"]["commitment_signed"] is True
    assert data["application"]["provided_materials"] == ["identity"]
    assert data["category"] == "hv_ordinary" and data["supply_voltage_kv"] == 10


def test_invalid_input_gives_messages_at_the_fields_and_creates_nothing(web: Web) -> None:
    client = web.client()
    bad = {**RESIDENTIAL, "phone": "12345", "id_number": "110105199013070011", "customer_name": "  ",
           "equipment[1].count": "很多"}
    response = apply(client, bad)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "提交未成功" in html
    for name in ("phone", "id_number", "customer_name", "materials.identity", "commitment_signed"):
        block = html[html.index(f'id="field-{name}"'):]
        assert 'class="field-error"' in block[:block.find('<div class="field', 10)], name
    assert 'value="12345"' in html  # the input is kept
    assert "请上传身份证明" in html and "客户承诺书" in html
    assert web.db.count(CaseRow) == 0


def field_block(html: str, name: str) -> str:
    """The rendered field ``name``, its messages included."""
    block = html[html.index(f'id="field-{name}"'):]
    return block[:block.find('<div class="field', 10)]


def test_an_id_number_with_a_wrong_check_digit_or_no_real_birth_date_is_refused_at_its_field(web: Web) -> None:
    for address, (number, message) in enumerate((("110101199003071234", "身份证号码校验位不符"),  # should end in 3
                                                 ("110101199002311233", "出生日期不存在"))):  # 31 February
        client = web.client(address=f"10.3.3.{address + 1}")
        response = apply(client, {**RESIDENTIAL, "id_number": number, **files(identity=JPEG, property_proof=PDF)})
        assert response.status_code == 400, number
        html = response.get_data(as_text=True)
        assert message in field_block(html, "id_number"), number
        assert f'value="{number}"' in html  # the input is kept
    assert web.db.count(CaseRow) == 0
    passport = {**RESIDENTIAL, "id_type": "passport", "id_number": "E12345678"}  # other types: as before
    assert apply(web.client(), {**passport, **files(identity=JPEG, property_proof=PDF)}).status_code == 302


def test_text_direction_controls_are_refused_at_their_fields(web: Web) -> None:
    client = web.client()
    response = apply(client, {**RESIDENTIAL, "customer_name": "张\u202e伟", "remarks": "请尽快安排😀\u202e测试",
                              **files(identity=JPEG, property_proof=PDF)})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    for name in ("customer_name", "remarks"):
        assert "不能包含改变文字方向的不可见控制字符（U+202E）" in field_block(html, name), name
    assert "北京市朝阳区示例路1号院3号楼2单元501" in html  # the rest of the input is kept
    isolate = apply(client, {**RESIDENTIAL, "address": "示例路\u20661号\u2069", **files(identity=JPEG)})
    assert isolate.status_code == 400
    assert "U+2066, U+2069" in field_block(isolate.get_data(as_text=True), "address")
    assert web.db.count(CaseRow) == 0


def test_text_sent_in_another_encoding_is_refused_at_its_field_not_stored_garbled(web: Web) -> None:
    """A browser or client sending GBK instead of UTF-8: the framework turns the unreadable bytes into U+FFFD, and
    the application is refused at that field instead of being stored with a name of question marks."""
    from werkzeug.test import encode_multipart

    client = web.client()
    form = client.get("/portal/apply")
    fields = {**RESIDENTIAL, "customer_name": "张伟", "submission_id": submission_id_of(form),
              "csrf_token": client.token, **files(identity=JPEG, property_proof=PDF)}
    boundary, body = encode_multipart(_multidict_of(fields))
    gbk = body.replace("张伟".encode(), "张伟".encode("gbk"))
    assert gbk != body
    response = client.client.post("/portal/apply", data=gbk, environ_base=client.environ,
                                  content_type=f"multipart/form-data; boundary={boundary}")
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "含有无法识别的字符（不是以 UTF-8 编码发送的文字），请重新输入。" in field_block(html, "customer_name")
    assert "北京市朝阳区示例路1号院3号楼2单元501" in html  # the rest of the input is kept
    assert web.db.count(CaseRow) == 0
    fixed = client.client.post("/portal/apply", data=body, environ_base=client.environ,
                               content_type=f"multipart/form-data; boundary={boundary}")
    assert fixed.status_code == 302, text_of(fixed)[:600]
    assert web.db.count(CaseRow) == 1


def _multidict_of(fields: dict[str, Any]) -> Any:
    """``fields`` as ``encode_multipart`` takes them (files as ``FileStorage``)."""
    from werkzeug.datastructures import FileStorage, MultiDict

    return MultiDict([(name, FileStorage(value[0], filename=value[1]) if isinstance(value, tuple) else value)
                      for name, value in fields.items()])


def test_files_sent_with_a_refused_application_are_kept_for_the_next_try(web: Web) -> None:
    client = web.client()
    form = client.get("/portal/apply")
    response = client.post("/portal/apply", {**RESIDENTIAL, "phone": "1", "submission_id": submission_id_of(form),
                                             **files(identity=JPEG, property_proof=b"GIF89a" * 10)},
                           content_type="multipart/form-data")
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "只能上传 PDF、JPEG、PNG、HEIC 或 WebP" in html  # magic bytes, not the name, decide
    assert html.count("只能上传 PDF、JPEG、PNG、HEIC 或 WebP") == 1 and "请上传产权证明" not in html
    kept = re.findall(r'name="material.identity" value="([^"]+)"', html)
    assert len(kept) == 1
    assert submission_id_of(response) == submission_id_of(form)  # the same submission, drawn again
    response = client.post("/portal/apply", {**RESIDENTIAL, "material.identity": kept[0],
                                             "commitment_signed": "true", "submission_id": submission_id_of(form)})
    assert response.status_code == 302, text_of(response)
    number, _code = created_case(client)
    assert case_data(web.db, number)["application"]["provided_materials"] == ["identity"]


def test_someone_elses_upload_cannot_be_claimed(web: Web) -> None:
    first = web.client()
    html = apply(first, {**RESIDENTIAL, "phone": "1", **files(identity=JPEG)}).get_data(as_text=True)
    stolen = re.findall(r'name="material.identity" value="([^"]+)"', html)[0]
    other = web.client(address="10.0.0.9")
    response = apply(other, {**RESIDENTIAL, "material.identity": stolen, "commitment_signed": "true"})
    assert response.status_code == 400 and "请上传身份证明" in response.get_data(as_text=True)


def test_the_assessment_agrees_with_what_the_case_decides(web: Web) -> None:
    client = web.client()
    client.get("/portal/apply")
    for fields, category in ((RESIDENTIAL, "lv_residential"), (FACTORY, "hv_ordinary")):
        answer = client.post("/portal/assess", fields).get_json()
        assert answer["ok"] is True
        applied = apply(client, {**fields, **files(identity=JPEG, property_proof=PDF)})
        assert applied.status_code == 302, text_of(applied)
        data = case_data(web.db, created_case(client)[0])
        assert answer["category"] == data["category"] == category
        assert answer["supply_voltage_kv"] == data["supply_voltage_kv"]
        assert answer["transformer_kva"] == data["capacity"]["transformer_kva"]
        assert answer["installed_kw"] == data["capacity"]["installed_kw"]
    table = load_decisions(PROCESSES)["supply_voltage"]
    for unit_kw in ("0.5", "5", "400", "5000"):  # 220 V … 110 kV: the table's answer, whatever its thresholds
        answer = client.post("/portal/assess", {**FACTORY, "equipment[0].unit_kw": unit_kw}).get_json()
        capacity = {"installed_kw": answer["installed_kw"], "transformer_kva": answer["transformer_kva"]}
        assert answer["supply_voltage_kv"] == evaluate(table, {"capacity": capacity}).outputs["supply_voltage_kv"]
    incomplete = client.post("/portal/assess", {"category": "other"}).get_json()
    assert incomplete["ok"] is False and incomplete["message"]


def test_five_applications_an_hour_per_address(web: Web) -> None:
    client = web.client(address="10.1.1.1")
    for _ in range(5):
        assert apply(client, {**RESIDENTIAL, **files(identity=JPEG, property_proof=PDF)}).status_code == 302
    response = apply(client, {**RESIDENTIAL, **files(identity=JPEG, property_proof=PDF)})
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0 and "请求过于频繁" in text_of(response)
    assert web.db.count(CaseRow) == 5
    elsewhere = web.client(address="10.1.1.2")
    assert apply(elsewhere, {**RESIDENTIAL, **files(identity=JPEG, property_proof=PDF)}).status_code == 302
