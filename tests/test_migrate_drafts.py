"""Drafts (暂存) of open tasks when their case moves to a version whose form for the task changed.

The draft is fitted to the new form: what the new form still takes stays, a field it no longer has or a value it
now refuses (that the old form took) is taken out and kept with the draft as a notice, shown on the form to whoever
loads the draft — the field, the value as saved, why — until the draft is saved again. The ``migrated`` event names
the fields taken out of whose draft (not the values), and ``baozhuang migrate`` says so on its line. On SQLite and
PostgreSQL, through the real CLI and the web app.
"""

from __future__ import annotations

import json
import shutil
import uuid
from html import unescape
from pathlib import Path
from typing import Any

from runner import drafts, migration
from runner.drafts import fit_to_form
from runner.models import TaskDraft
from tests.db import Db, advance_to, events, open_task, run_cli, start
from tests.test_migration import by_case, deploy_folder, deployed_files
from tests.webui_helpers import (
    Web,
    text_of,
    web_fixture,  # noqa: F401  (the web fixture)
)

CHOICES = [{"const": "a", "title": "甲"}, {"const": "b", "title": "乙"}, {"const": "c", "title": "丙"}]
OLD = {
    "type": "object", "additionalProperties": False, "required": ["count", "kind"],
    "properties": {
        "count": {"title": "数量", "type": "integer", "minimum": 0},
        "kind": {"title": "类别", "type": "string", "oneOf": CHOICES},
        "gone": {"title": "旧字段", "type": "string"},
        "note": {"title": "备注", "type": "string", "pattern": "\\S"},
        "rows": {"title": "明细", "type": "array", "minItems": 1, "items": {
            "type": "object", "additionalProperties": False,
            "properties": {"name": {"title": "名称", "type": "string"}, "size": {"title": "规格", "type": "number"},
                           "colour": {"title": "颜色", "type": "string"}}}},
    },
}


def new_form() -> dict[str, Any]:
    """``OLD`` with 旧字段 and the rows' 颜色 gone, 数量 at most 10, choice 丙 withdrawn, three rows required."""
    form = json.loads(json.dumps(OLD))
    del form["properties"]["gone"]
    del form["properties"]["rows"]["items"]["properties"]["colour"]
    form["properties"]["count"]["maximum"] = 10
    form["properties"]["kind"]["oneOf"] = CHOICES[:2]
    form["properties"]["rows"]["minItems"] = 3
    form["required"] = ["count", "kind", "note"]
    return form


def test_a_draft_keeps_what_the_new_form_takes_and_lists_what_it_does_not() -> None:
    draft = {"count": 12, "kind": "c", "gone": "旧内容", "note": " ",
             "rows": [{"name": "一号", "size": 5, "colour": "红"}, {"name": "二号", "size": 6, "colour": ""}]}

    kept, dropped = fit_to_form(draft, OLD, new_form())

    # the blank note was refused by the old form already: the person's unfinished input stays; a missing answer
    # (three rows required, a note required) is no reason to take anything out
    assert kept == {"note": " ", "rows": [{"name": "一号", "size": 5}, {"name": "二号", "size": 6}]}
    listed = {drafts.path_text(item.path): (item.titles, item.value, item.problem, item.value_title)
              for item in dropped}
    assert set(listed) == {"count", "gone", "kind", "rows[0].colour"}  # the empty 颜色 of row 2 is not listed
    assert listed["gone"] == (["旧字段"], "旧内容", "", None)
    assert listed["rows[0].colour"] == (["明细", 0, "颜色"], "红", "", None)
    assert listed["count"][:2] == (["数量"], 12) and "maximum of 10" in listed["count"][2]
    assert listed["kind"][:2] == (["类别"], "c") and listed["kind"][3] == "丙"  # as the person picked it
    assert draft["gone"] == "旧内容"  # the saved data itself is not changed in place


def test_a_draft_the_new_form_takes_whole_is_left_as_it_is() -> None:
    draft = {"count": 3, "kind": "a", "rows": [{"name": "一号"}]}
    assert fit_to_form(draft, OLD, new_form()) == (draft, [])
    assert fit_to_form(draft, OLD, None) == ({}, [  # the step has no form any more: every value goes, listed
        drafts.DroppedValue(["count"], ["数量"], 3, ""), drafts.DroppedValue(["kind"], ["类别"], "a", "", "甲"),
        drafts.DroppedValue(["rows"], ["明细"], [{"name": "一号"}], "")])


# -- a case moved with a draft of its open 现场勘查 ----------------------------------------------------------------


def with_stricter_site_survey(source: Path, target: Path) -> Path:
    """``source`` with the content of 现场勘查's form changed: 接入点 gone, 线路可开放容量 at most 5000 kVA, the
    safety check 客户方负责人全程陪同勘查 withdrawn (five checks)."""
    shutil.copytree(source, target)
    forms = target / "forms"
    schema = json.loads((forms / "site_survey.schema.json").read_text(encoding="utf-8"))
    del schema["properties"]["access_point"]
    schema["properties"]["feeder_margin_kva"]["maximum"] = 5000
    checks = schema["properties"]["safety_checklist"]
    checks["items"]["oneOf"] = [item for item in checks["items"]["oneOf"] if item["const"] != "customer_escorted"]
    checks["minItems"] = checks["maxItems"] = 5
    checks["examples"] = [[item["const"] for item in checks["items"]["oneOf"]]]
    (forms / "site_survey.schema.json").write_text(json.dumps(schema, ensure_ascii=False, indent=2), encoding="utf-8")
    ui = json.loads((forms / "site_survey.uischema.json").read_text(encoding="utf-8"))
    ui["ui:order"].remove("access_point")  # the layout must not name the field that is gone
    del ui["access_point"]
    (forms / "site_survey.uischema.json").write_text(json.dumps(ui, ensure_ascii=False, indent=2), encoding="utf-8")
    return target


DRAFT = {"survey_date": "2026-11-26", "feeder_name": "10kV 城东线", "feeder_margin_kva": 8000,
         "access_point": "城东线 12 号杆", "findings": "现场具备接入条件",
         "safety_checklist": ["safety_measures", "customer_escorted", "ppe_worn"]}


def saved_draft(db: Db, number: str) -> str:
    """The case at 现场勘查 with the surveyor's draft ``DRAFT``; the task's id."""
    advance_to(db, number, "site_survey")
    task = open_task(db, number, "site_survey").id
    with db.transaction() as session:
        drafts.save_draft(session, task, "surveyor", dict(DRAFT), db.clock.now())
    return task


def test_a_moved_case_s_draft_is_fitted_to_the_new_form_and_the_event_names_what_went(
        db: Db, tmp_path: Path) -> None:
    number = start(db, "hv_ordinary")
    task = saved_draft(db, number)
    new = deploy_folder(db, with_stricter_site_survey(deployed_files(db, tmp_path / "v1"), tmp_path / "v2"))

    result = run_cli(db, tmp_path / "instance", "migrate", "--to", str(new.id))

    assert result.exit_code == 0, result.output
    assert (f"{number}: migrated" in result.output and "drafts fitted to the new forms, values taken out: 现场勘查 "
            "(site_survey), saved by surveyor: access_point, feeder_margin_kva, safety_checklist[1]") in result.output
    with db.reading() as session:
        draft = session.get(TaskDraft, task)
        assert draft is not None and draft.user == "surveyor"
        assert draft.data == {"survey_date": "2026-11-26", "feeder_name": "10kV 城东线", "findings": "现场具备接入条件",
                              "safety_checklist": ["safety_measures", "ppe_worn"]}
        notice = draft.migration_notice
    assert notice is not None and notice["step"] == "现场勘查"
    assert {drafts.path_text(entry["path"]): entry["value"] for entry in notice["values"]} == {
        "access_point": "城东线 12 号杆", "feeder_margin_kva": 8000, "safety_checklist[1]": "customer_escorted"}
    [moved] = [event for event in events(db, number) if event.lifecycle == "migrated"]
    assert moved.data["drafts"] == [{"task_id": task, "element_id": "site_survey", "step": "现场勘查",
                                     "user": "surveyor",
                                     "dropped": ["access_point", "feeder_margin_kva", "safety_checklist[1]"]}]
    assert "城东线 12 号杆" not in json.dumps(moved.data, ensure_ascii=False)  # the draft's values stay private


def test_a_dry_run_says_what_it_would_take_out_and_changes_nothing(db: Db, tmp_path: Path) -> None:
    number = start(db, "hv_ordinary")
    task = saved_draft(db, number)
    new = deploy_folder(db, with_stricter_site_survey(deployed_files(db, tmp_path / "v1"), tmp_path / "v2"))

    [outcome] = migration.migrate_cases(db.sessions, db.runtime, str(new.id), dry_run=True)

    assert outcome.result == "migrated" and outcome.revised_drafts == [
        "现场勘查 (site_survey), saved by surveyor: access_point, feeder_margin_kva, safety_checklist[1]"]
    with db.reading() as session:
        draft = session.get(TaskDraft, task)
        assert draft is not None and draft.data == DRAFT and draft.migration_notice is None


def test_the_draft_s_author_is_told_on_the_form_what_was_taken_out_until_saving_again(web: Web, tmp_path: Path) -> None:
    db = web.db
    number = start(db, "hv_ordinary")
    task = saved_draft(db, number)
    with db.transaction() as session:  # a value with markup, shown as text
        draft = session.get(TaskDraft, task)
        assert draft is not None
        draft.data = {**draft.data, "access_point": "<b>12 号杆</b>"}
    new = deploy_folder(db, with_stricter_site_survey(deployed_files(db, tmp_path / "v1"), tmp_path / "v2"))
    [outcome] = migration.migrate_cases(db.sessions, db.runtime, str(new.id))
    assert outcome.result == "migrated", outcome.reason
    history = text_of(web.client("supervisor").get(f"/cases/{number}"))
    assert "；1 份暂存内容按新表单移出了部分填写值" in history and "12 号杆" not in history

    client = web.client("surveyor")
    page = client.get(f"/tasks/{task}")
    html, text = page.get_data(as_text=True), unescape(text_of(page))
    assert page.status_code == 200
    assert "流程已于 2026-11-26 09:00 更新，本任务的表单随之改变" in text and "暂存内容中以下各项新表单不再接受" in text
    assert "接入点：原暂存为“<b>12 号杆</b>”；新表单已没有此项" in text
    assert "&lt;b&gt;12 号杆&lt;/b&gt;" in html and "<b>12 号杆</b>" not in html
    assert "线路可开放容量（kVA）：原暂存为“8000”；新表单不接受此值：不能大于 5000。" in text
    assert "安全措施确认 · 第 2 行：原暂存为“客户方负责人全程陪同勘查”；新表单不接受此值：" in text
    assert 'value="8000"' not in html and "10kV 城东线" in html  # the form opens with what still fits
    assert "再次暂存或提交后，本提示不再显示" in text

    saved = client.post(f"/tasks/{task}", {"_action": "draft", "feeder_margin_kva": "4000",
                                           "request_id": uuid.uuid4().hex})
    assert saved.status_code == 302
    again = text_of(client.get(f"/tasks/{task}"))
    assert "已载入" in again and "新表单不再接受" not in again


def test_a_colleague_taking_the_draft_over_sees_the_notice(web: Web, tmp_path: Path) -> None:
    db = web.db
    number = start(db, "hv_ordinary")
    advance_to(db, number, "site_survey")
    task = open_task(db, number, "site_survey").id
    with db.transaction() as session:  # saved by someone no longer in the lane
        drafts.save_draft(session, task, "former.surveyor", dict(DRAFT), db.clock.now())
    new = deploy_folder(db, with_stricter_site_survey(deployed_files(db, tmp_path / "v1"), tmp_path / "v2"))
    assert by_case(migration.migrate_cases(db.sessions, db.runtime, str(new.id)))[number].result == "migrated"

    client = web.client("surveyor")
    client.get(f"/tasks/{task}")
    taken = client.post(f"/tasks/{task}", {"_action": "take_draft", "request_id": uuid.uuid4().hex})
    assert taken.status_code == 302
    text = text_of(client.get(f"/tasks/{task}"))
    assert "接入点：原暂存为“城东线 12 号杆”；新表单已没有此项" in text
