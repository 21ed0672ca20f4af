"""以此为起点新建仿真: a stored run's processes, scenarios and replications back in the new-run form's advanced
editor (``run_request.rerun_form``), so that submitting it unchanged asks for exactly the same run. Real HTTP through
the Flask app on both databases."""

from __future__ import annotations

from typing import Any

from lxml import html

from runner.simulation import runs
from tests.test_webui_simulation import form_for, stored
from tests.webui_helpers import (
    Web,
    text_of,
    web_fixture,  # noqa: F401  (the web fixture)
)


def page_form(body: str) -> dict[str, str]:
    """What the browser would submit from the new-run form as the page shows it (no field touched)."""
    form = html.fromstring(body).get_element_by_id("f-name").getparent().getparent().getparent()
    while form.tag != "form":
        form = form.getparent()
    fields: dict[str, str] = {}
    for element in form.iter("input", "select", "textarea"):
        name = element.get("name")
        if not name or name == "csrf_token":
            continue
        if element.tag == "input" and element.get("type") in ("radio", "checkbox"):  # sent when checked only
            if element.get("checked") is not None:
                fields[name] = element.get("value") or ""
        elif element.tag == "select":
            chosen = [option.get("value") or "" for option in element.iter("option") if option.get("selected")]
            fields[name] = chosen[0] if chosen else (element.xpath("./option/@value") or [""])[0]
        elif element.tag == "textarea":
            fields[name] = element.text or ""
        else:
            fields[name] = element.get("value") or ""
    return fields


def params_of(web: Web, run_id: int) -> dict[str, Any]:
    with web.db.reading() as session:
        return dict(runs.get_run(session, run_id).params)


def test_a_run_started_from_another_asks_for_the_same(web: Web) -> None:
    client = web.client("process_owner")
    response = client.post("/simulation/new", form_for(**{
        "variant_process": "variant:parallel_plan_review", "variant.pools.surveyor.count": "1", "cases": "40",
        "seed": "17"}))
    assert response.status_code == 302
    [first] = stored(web)
    page = client.get(f"/simulation/{first.id}")
    assert f'href="/simulation/new?from_run={first.id}"' in page.get_data(as_text=True)
    again = client.get(f"/simulation/new?from_run={first.id}")
    assert again.status_code == 200
    fields = page_form(again.get_data(as_text=True))
    assert fields["mode"] == "raw" and fields["name"] == "少一名勘查员（再次）"
    assert (fields["base_process"], fields["variant_process"], fields["replications"]) == (
        "folder", "variant:parallel_plan_review", "2")
    assert '"seed": 17' in fields["scenario_raw"] and fields["variant_raw"].strip()  # the variant's own staff
    response = client.post("/simulation/new", fields)
    assert response.status_code == 302, text_of(response)[:800]
    second = max(run.id for run in stored(web))
    assert params_of(web, second) == params_of(web, first.id)
    with web.db.reading() as session:
        assert runs.get_run(session, second).name == "少一名勘查员（再次）"


def test_a_run_without_a_variant_comes_back_without_one(web: Web) -> None:
    client = web.client("process_owner")
    assert client.post("/simulation/new", form_for(cases="30")).status_code == 302
    [first] = stored(web)
    fields = page_form(client.get(f"/simulation/new?from_run={first.id}").get_data(as_text=True))
    assert fields["variant_process"] == "" and fields["variant_raw"] == ""
    assert client.post("/simulation/new", fields).status_code == 302
    second = max(run.id for run in stored(web))
    assert params_of(web, second) == params_of(web, first.id)


def test_an_unknown_run_is_404_and_others_may_not_look(web: Web) -> None:
    client = web.client("process_owner")
    assert client.get("/simulation/new?from_run=999").status_code == 404
    for wrong in ("abc", "-1", "0", "99999999999999999999", "１"):
        assert client.get(f"/simulation/new?from_run={wrong}").status_code == 404, wrong
    assert client.post("/simulation/new", form_for(cases="30")).status_code == 302
    [first] = stored(web)
    assert web.client("surveyor").get(f"/simulation/new?from_run={first.id}").status_code == 403
    client.get("/auth/language/en")
    english = client.get(f"/simulation/new?from_run={first.id}").get_data(as_text=True)
    assert "少一名勘查员 (again)" in english
