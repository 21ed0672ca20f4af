"""Forms (decision 86): 提交设计文件 needs the
design files, 申请中间检查 the hidden-works records; dates of things that happened (survey, checks, completion,
installation, rectification, archiving, the customer's extension request) are refused after today on the case
clock, on both databases and in ``baozhuang try``'s virtual time."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import pytest

from runner import services
from runner.forms import FormValidationError, completion_problems, default_instance, validate_form_data
from runner.process_folder import ProcessBundle
from runner.trial import TrialDriver, TrialError, TrialOptions
from tests.db import PROCESSES, Db, advance_to, open_task, open_tasks, start

PAST_EVENT_DATES = {
    "site_survey": "survey_date", "interim_check": "check_date", "completion_check": "check_date",
    "report_completion": "completion_date", "grid_works": "completed_date", "install_meter": "install_date",
    "perform_rectification": "completed_date", "rectify_interim_defects": "completed_date",
    "rectify_defects": "completed_date", "archive_documents": "archive_date",
    "handle_plan_expiry": "extension_requested_on",
}
TODAY = "2026-11-26"


def schema_of(form: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((PROCESSES / "forms" / f"{form}.schema.json").read_text(encoding="utf-8"))
    return loaded


def checked(schema: dict[str, Any], answer: dict[str, Any], today: str = TODAY) -> list[tuple[str, str]]:
    """The form's completion checks on ``answer`` with the case clock at ``today`` (10:00 Shanghai)."""
    names = {"now": lambda: f"{today}T10:00:00+08:00", "answer": answer}
    return completion_problems(schema, lambda text: eval(text, {"__builtins__": {}}, names))  # noqa: S307


@pytest.mark.parametrize("form", ["submit_design", "request_interim_check"])
def test_the_customers_works_steps_need_their_files(form: str) -> None:
    schema = schema_of(form)
    answer = default_instance(schema)
    validate_form_data(schema, answer)  # the sample answer names a file
    for without in ({k: v for k, v in answer.items() if k != "files"}, {**answer, "files": []}):
        with pytest.raises(FormValidationError) as refused:
            validate_form_data(schema, without)
        assert [field for field, _message in refused.value.errors] == ["files"]


def test_submitting_the_design_without_a_file_is_refused_and_nothing_changes(db: Db) -> None:
    number = start(db, "hv_important")
    advance_to(db, number, "submit_design")
    task = open_task(db, number, "submit_design")
    answer = {"design_institute": "示例电力设计有限公司", "qualification_level": "class_b"}
    with pytest.raises(FormValidationError) as refused, db.transaction() as session:
        services.complete_task(session, db.runtime, task.id, answer, "customer", uuid.uuid4().hex)
    assert [field for field, _message in refused.value.errors] == ["files"]
    assert open_task(db, number, "submit_design").id == task.id
    with db.transaction() as session:
        services.complete_task(session, db.runtime, task.id,
                               {**answer, "files": ["attachments/examples/submit_design/design.pdf"]},
                               "customer", uuid.uuid4().hex)
    assert "review_design" in {t.element_id for t in open_tasks(db, number)}


@pytest.mark.parametrize(("form", "field"), sorted(PAST_EVENT_DATES.items()))
def test_a_date_of_something_that_happened_may_not_lie_after_today(form: str, field: str) -> None:
    schema = schema_of(form)
    assert checked(schema, {field: TODAY}) == [] and checked(schema, {field: "2026-11-25"}) == []
    [(where, message)] = checked(schema, {field: "2026-11-27"})
    assert where == field and message.endswith("不能晚于今天，已发生的事项请按实际日期填写（今天是 2026-11-26）")
    sample = default_instance(schema)[field]  # the sample answer passes on any case clock the tests use
    assert sample <= "2020-01-01" and checked(schema, {field: sample}, today="2020-01-01") == []


def test_a_survey_dated_tomorrow_is_refused_on_the_case_clock(db: Db) -> None:
    number = start(db, "hv_ordinary")
    advance_to(db, number, "site_survey")
    task = open_task(db, number, "site_survey")
    today = db.clock.now().date()
    answer = {**default_instance(schema_of("site_survey")), "survey_date": (today + timedelta(days=1)).isoformat()}
    with pytest.raises(FormValidationError) as refused, db.transaction() as session:
        services.complete_task(session, db.runtime, task.id, answer, "surveyor.1", uuid.uuid4().hex)
    [(field, message)] = refused.value.errors
    assert field == "survey_date" and f"今天是 {today.isoformat()}" in message
    with db.transaction() as session:
        services.complete_task(session, db.runtime, task.id, {**answer, "survey_date": today.isoformat()},
                               "surveyor.1", uuid.uuid4().hex)
    assert "site_survey" not in {t.element_id for t in open_tasks(db, number)}


def test_try_refuses_an_installation_dated_after_its_virtual_today(bundle: ProcessBundle) -> None:
    driver = TrialDriver(bundle, TrialOptions(category="lv_residential",
                                              answers={"install_meter": {"install_date": "2026-12-01"}}))
    with pytest.raises(TrialError, match="install_date: 装接日期不能晚于今天"):
        driver.run()
