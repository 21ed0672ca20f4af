"""``/admin/data-access`` in words: the personal values a view showed in full, by the titles the case's forms give
them (``runner.pii`` logs their paths: ``id_number`` of the application, ``<element id>.<path>`` of a step's data,
``document:<field>:<id>`` for an attachment opened); the page names who looked by display name (``person``).

A path the forms of the case's version do not name (an unknown case, a field renamed since) is shown by the kind of
personal value it is (``runner.pii.pii_fields``: 证件号码, 电话号码), else as logged."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from runner import pii
from runner.models import Case as CaseRow
from runner.models import DataAccess
from runner.process_folder import ProcessBundle

from ..extensions import runtime, session
from ..i18n import _, _l
from ..portal.applyform import MATERIAL_TITLES

KIND_TITLES = {"id_number": _l("证件号码"), "phone": _l("电话号码")}
"""A personal value by its kind (``x-pii``), where its form does not title it."""
DOCUMENT_PREFIX = "document:"


@dataclass(frozen=True)
class AccessRow:
    at: datetime
    user: str
    case_number: str
    fields: list[str]
    channel: str


def access_rows(rows: Iterable[DataAccess]) -> list[AccessRow]:
    """The log rows with their fields titled by the forms of each case's version."""
    rows = list(rows)
    bundles = case_bundles({row.case_number for row in rows})
    return [AccessRow(row.at, row.user, row.case_number,
                      [field_title(path, bundles.get(row.case_number)) for path in row.fields or []], row.channel)
            for row in rows]


def case_bundles(case_numbers: set[str]) -> dict[str, ProcessBundle]:
    """Case number → the parsed version the case runs (cases that no longer exist are left out)."""
    if not case_numbers:
        return {}
    cases = session().scalars(select(CaseRow).where(CaseRow.case_number.in_(case_numbers)))
    return {row.case_number: runtime().bundle_for_case(session(), row) for row in cases}


def field_title(path: str, bundle: ProcessBundle | None) -> str:
    """``证件号码``; ``竣工报验 › 联系人电话`` for a step's field; ``附件 #12：营业执照`` for an attachment."""
    if path.startswith(DOCUMENT_PREFIX):
        name, _colon, document_id = path[len(DOCUMENT_PREFIX):].rpartition(":")
        if not name:  # no document id
            return _("附件：%(title)s", title=attachment_title(document_id, bundle))
        return _("附件 #%(id)s：%(title)s", id=document_id, title=attachment_title(name, bundle))
    if bundle is None:
        return kind_title(path, None)
    element, _dot, rest = path.partition(".")
    form_file = bundle.form_files.get(element) if rest else None
    if form_file is not None:
        title = schema_title(bundle.forms.get(form_file, {}), rest) or kind_title(rest, bundle)
        return f"{step_name(bundle, element)} › {title}"
    start = bundle.forms.get(bundle.start_form or "", {})
    return schema_title(start, path) or kind_title(path, bundle)


def schema_title(schema: dict[str, Any], path: str) -> str | None:
    """The title of the property at a dotted path (``equipment[].phone``: inside the array's items)."""
    node: Any = schema
    for segment in path.split("."):
        name, is_list = (segment[:-2], True) if segment.endswith("[]") else (segment, False)
        properties = node.get("properties") if isinstance(node, dict) else None
        node = properties.get(name) if isinstance(properties, dict) else None
        if is_list and isinstance(node, dict):
            node = node.get("items")
        if not isinstance(node, dict):
            return None
    title = node.get("title")
    return str(title) if title else None


def kind_title(path: str, bundle: ProcessBundle | None) -> str:
    """The path's last field by the kind of personal value it is; the path itself when the field is none."""
    name = path.rsplit(".", 1)[-1].removesuffix("[]")
    kinds = pii.pii_fields(bundle.forms.values()) if bundle is not None else pii.DEFAULT_PII_FIELDS
    kind = kinds.get(name)
    return str(KIND_TITLES[kind]) if kind in KIND_TITLES else path


def attachment_title(name: str, bundle: ProcessBundle | None) -> str:
    """An application material by the portal's name for it; a step's upload field by its form title."""
    if name in MATERIAL_TITLES:
        return str(MATERIAL_TITLES[name])
    for form in (bundle.forms.values() if bundle is not None else ()):
        prop = form.get("properties", {}).get(name) if isinstance(form, dict) else None
        if isinstance(prop, dict) and prop.get("title"):
            return str(prop["title"])
    return name


def step_name(bundle: ProcessBundle, element_id: str) -> str:
    """The BPMN name of a step (``竣工报验``); its id when it has none."""
    process = bundle.process_with(element_id)
    spec = process.task_specs.get(element_id) if process is not None else None
    return str(getattr(spec, "bpmn_name", None) or element_id)
