"""A customer who does not sign the supply plan or the contract must say why (备注): the staff who redraft them
need to know what to change. Refusing without a remark is sent back with the field marked, and nothing changes;
with a remark it goes through as before (both forms, on the portal and through the service layer)."""

from __future__ import annotations

import re
import uuid

import pytest

from runner.forms import FormValidationError
from tests.db import advance_to, complete, open_tasks
from tests.test_portal_track import give_code, signed_in
from tests.webui_helpers import Web, start_case, task_of, text_of, web_fixture  # noqa: F401


def test_the_portal_asks_for_a_reason_when_the_plan_is_not_signed(web: Web) -> None:
    number = start_case(web.db, "hv_ordinary")
    give_code(web.db, number)
    advance_to(web.db, number, "sign_plan")
    task = task_of(web.db, number, "sign_plan")
    client = signed_in(web, number)
    html = client.get(f"/portal/case/tasks/{task}").get_data(as_text=True)
    request_id = re.search(r'name="request_id" value="([0-9a-f]{32})"', html)
    assert request_id
    refused = client.post(f"/portal/case/tasks/{task}", {"signed": "false", "request_id": request_id[1]})
    assert refused.status_code == 400 and "提交未成功" in text_of(refused), text_of(refused)[:300]
    assert task_of(web.db, number, "sign_plan") == task  # nothing changed
    answered = client.post(f"/portal/case/tasks/{task}", {"signed": "false", "remarks": "接入点距离太远，请调整",
                                                          "request_id": uuid.uuid4().hex})
    assert answered.status_code == 302, text_of(answered)[:300]
    assert all(open.element_id != "sign_plan" for open in open_tasks(web.db, number))


@pytest.mark.parametrize("element", ["sign_plan", "sign_contract"])
def test_not_signing_without_a_remark_is_refused(web: Web, element: str) -> None:
    number = start_case(web.db, "hv_ordinary")
    advance_to(web.db, number, element)
    with pytest.raises(FormValidationError) as refused:
        complete(web.db, number, element, {"signed": False}, user="customer")
    assert "remarks" in str(refused.value)
    assert any(open.element_id == element for open in open_tasks(web.db, number))
    complete(web.db, number, element, {"signed": True}, user="customer")  # signing needs no remark
