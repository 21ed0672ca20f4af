"""What a customer task shows above its form, read only: what the customer is asked to read, sign or answer to.
确认供电方案 shows the supply plan answer sheet (供电方案答复单: the plan as 编制供电方案 stored it, the fees and the
plan's validity), 签订供用电合同 the contract as 拟定供用电合同 stored it, 补充申请资料 what the account manager asked
for at 业务受理 and the remark.

``SHEETS`` maps a customer task's element id to the results of earlier steps it shows: the case data keeps a
step's result under the step's element id, and each field is labelled (and a choice named) by that step's own form
in the case's version, so the customer reads the words the member of staff chose from. A field not in the data is
left out; a sheet with nothing to show is not shown. Attachments (the contract text) are links the customer may
open (``runner.documents.may_read``: the customer of the document's case)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import url_for
from sqlalchemy import select
from sqlalchemy.orm import Session

from runner import documents
from runner.models import Document
from runner.process_folder import ProcessBundle

from ..formrender import choice_title, html_value
from ..i18n import _, _l


@dataclass(frozen=True)
class Part:
    """The fields ``fields`` (in this order) of the result of step ``step``."""

    step: str
    fields: tuple[str, ...]


@dataclass(frozen=True)
class Sheet:
    """What a customer task shows: ``parts`` of earlier steps' results; with ``fees`` the case's fees, with
    ``plan_validity`` how long the supply plan is valid."""

    title: Any
    parts: tuple[Part, ...]
    fees: bool = False
    plan_validity: bool = False


SHEETS: dict[str, Sheet] = {
    "sign_plan": Sheet(_l("供电方案答复单"), (
        Part("draft_plan", ("supply_voltage_kv", "supply_points", "supply_source", "transformer_kva",
                            "metering_scheme", "property_boundary", "plan_text")),), fees=True, plan_validity=True),
    "sign_contract": Sheet(_l("供用电合同"), (
        Part("draft_contract", ("contract_number", "contract_type", "term_years", "property_boundary",
                                "contract_files")),)),
    "supply_materials": Sheet(_l("受理意见：请补充以下资料"), (
        Part("accept_application", ("missing_materials", "remarks")),)),
}
"""Customer task (element id) → what it shows."""


@dataclass
class Row:
    """One line of a sheet: its label and either a text or links to files (name, url)."""

    label: str
    text: str | None = None
    links: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Shown:
    title: str
    rows: list[Row]


def sheet_for(session: Session, bundle: ProcessBundle, element_id: str, data: dict[str, Any]) -> Shown | None:
    """The sheet of customer task ``element_id`` from the case data ``data``; None when it has none or nothing of
    it is in the data yet."""
    sheet = SHEETS.get(element_id)
    if sheet is None:
        return None
    rows: list[Row] = []
    for part in sheet.parts:
        result = data.get(part.step)
        if not isinstance(result, dict):
            continue
        form_file = bundle.form_files.get(part.step)
        properties = bundle.forms.get(form_file, {}).get("properties", {}) if form_file else {}
        for name in part.fields:
            if name in result and result[name] not in (None, "", []):
                rows.append(field_row(session, properties.get(name, {}), name, result[name]))
    if sheet.fees and isinstance(data.get("fees"), dict):
        rows.append(Row(_("费用"), fees_text(data["fees"])))
    if sheet.plan_validity and rows:
        rows.append(Row(_("方案有效期"), validity_text(data.get("plan_expires_at"))))
    return Shown(str(sheet.title), rows) if rows else None


def field_row(session: Session, schema: dict[str, Any], name: str, value: Any) -> Row:
    """A field under its form's title: a choice by its title, attachments as links, else the value as text."""
    label = str(schema.get("title", name))
    if isinstance(value, list):
        links = attachment_links(session, [item for item in value if isinstance(item, str)])
        if links:
            return Row(label, links=links)
        items = schema.get("items", {}) if isinstance(schema.get("items"), dict) else {}
        return Row(label, "、".join(value_text(item, items) for item in value))
    return Row(label, value_text(value, schema))


def value_text(value: Any, schema: dict[str, Any]) -> str:
    title = choice_title(schema, value)
    if title is not None:
        return title
    if isinstance(value, bool):
        return _("是") if value else _("否")
    return html_value(value)


def attachment_links(session: Session, references: list[str]) -> list[tuple[str, str]]:
    """The documents the references name (file name, download url), in their order; [] when they name none."""
    ids = [found for found in (documents.document_id_of(ref) for ref in references) if found]
    if not ids:
        return []
    names = {row.id: row.filename for row in session.execute(select(Document.id, Document.filename)
                                                             .where(Document.id.in_(ids)))}
    return [(names[found], url_for("documents.download", document_id=found)) for found in ids if found in names]


def fees_text(fees: dict[str, Any]) -> str:
    """The fees (``handlers/fees.py``): each item and the total, or that there is nothing to pay."""
    items = [item for item in fees.get("items") or [] if isinstance(item, dict)]
    if not items:
        return _("无需缴纳费用")
    listed = "；".join(_("%(name)s %(amount)s 元", name=item.get("name", item.get("code", "")),
                        amount=html_value(item.get("amount"))) for item in items)
    return _("%(items)s；合计 %(total)s 元", items=listed, total=html_value(fees.get("total")))


def validity_text(expires_at: Any) -> str:
    """Until when the plan is valid once signed (``plan_expires_at``, ISO), else the rule: a year from signing."""
    if isinstance(expires_at, str):
        try:
            return _("至 %(day)s", day=datetime.fromisoformat(expires_at).date().isoformat())
        except ValueError:
            pass
    return _("自签署之日起一年")
