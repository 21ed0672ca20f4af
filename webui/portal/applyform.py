"""The portal's application form, built on the start form (``apply.schema.json``) and the task-form renderer.

The customer sees a shorter form than staff: one category choice instead of customer type and enterprise size,
equipment rows of name, count and kW (the demand and power factors take the start form's defaults), materials as
uploads (``has_property_proof`` and ``provided_materials`` follow them) and the 一证受理 commitment as a
checkbox. Everything else is the start form's own field, rendered and parsed by ``webui.formrender``, so its
titles, limits and messages are the schema's.
"""

from __future__ import annotations

import copy
import secrets
from dataclasses import dataclass, field
from typing import Any

from werkzeug.datastructures import MultiDict

from runner.portal import COMMITMENT_REQUIRED, IDENTITY_REQUIRED, MATERIAL_KINDS

from ..formrender import Field, attach_errors, build_field, describe_error, parse_submission
from ..i18n import _, _l

SHOWN = ("customer_name", "id_type", "id_number", "phone", "address", "industry", "declared_capacity_kw",
         "equipment", "important_customer", "special_load", "dual_supply", "requested_date", "remarks")
EQUIPMENT_COLUMNS = ("name", "count", "unit_kw")
CATEGORIES = {  # portal choice -> (customer_type, enterprise_size)
    "residential": ("residential", None),
    "small_micro": ("non_residential", "small_micro"),
    "other": ("non_residential", "other"),
}
CATEGORY_TITLES = {"residential": _l("居民生活用电"), "small_micro": _l("小微企业"), "other": _l("其他企业、单位")}
MATERIAL_TITLES = {"identity": _l("身份证明（身份证照片等）"), "property_proof": _l("用电地址产权证明"),
                   "business_licence": _l("营业执照"), "other": _l("其他资料")}
RUNNER_MESSAGES = (IDENTITY_REQUIRED, COMMITMENT_REQUIRED)  # replaced by MATERIAL_MESSAGES; a file's refusal is kept
MATERIAL_MESSAGES = {"materials.identity": _l("请上传身份证明。"),
                     "commitment_signed": _l("未上传产权证明时，须勾选并签署《客户承诺书》（一证受理）。")}


def portal_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The start form restricted to the fields the portal shows (equipment rows to name, count and kW)."""
    shown = copy.deepcopy(schema)
    shown["properties"] = {name: shown["properties"][name] for name in SHOWN if name in shown["properties"]}
    shown["required"] = [name for name in schema.get("required", []) if name in shown["properties"]]
    items = shown["properties"]["equipment"]["items"]
    items["properties"] = {name: items["properties"][name] for name in EQUIPMENT_COLUMNS}
    items["required"] = [name for name in items.get("required", []) if name in EQUIPMENT_COLUMNS]
    shown.pop("allOf", None)
    return shown


def equipment_defaults(schema: dict[str, Any]) -> dict[str, Any]:
    """The defaults of the equipment columns the portal does not ask for (Kd, cosφ)."""
    properties = schema["properties"]["equipment"]["items"]["properties"]
    return {name: spec["default"] for name, spec in properties.items()
            if name not in EQUIPMENT_COLUMNS and "default" in spec}


@dataclass
class Submission:
    """What the applicant sent: the application (start-form shape) and the references of uploaded materials."""

    application: dict[str, Any]
    category: str
    materials: dict[str, list[str]]
    submission_id: str = ""
    """The form's random id (``new_submission_id``): one case per submission, also when it is sent twice."""


def read_submission(schema: dict[str, Any], ui: dict[str, Any], form: MultiDict[str, str]) -> Submission:
    """The application from the submitted inputs (also what ``/portal/assess`` reads as the customer types)."""
    data = parse_submission(portal_schema(schema), ui, form)
    category = form.get("category", "")
    if category in CATEGORIES:
        data["customer_type"], data["enterprise_size"] = CATEGORIES[category]
    defaults = equipment_defaults(schema)
    data["equipment"] = [{**row, **defaults} for row in data.get("equipment", [])]
    data.update(important_customer=data.get("important_customer", False),
                special_load=data.get("special_load", False), dual_supply=data.get("dual_supply", False))
    data["commitment_signed"] = form.get("commitment_signed") == "true"
    materials = {kind: [ref for ref in form.getlist(f"material.{kind}") if ref] for kind in MATERIAL_KINDS}
    return Submission(data, category, materials, form.get("submission_id", ""))


def new_submission_id() -> str:
    """The id of one filling-in of the form: made when the form is first drawn, kept when it is drawn again."""
    return secrets.token_urlsafe(24)


@dataclass
class Upload:
    reference: str
    filename: str


@dataclass
class ApplyForm:
    """What the apply page draws."""

    fields: dict[str, Field]
    category: str
    commitment: bool
    uploads: dict[str, list[Upload]]
    submission_id: str
    errors: dict[str, list[str]] = field(default_factory=dict)  # category, commitment_signed, materials.<kind>
    form_errors: list[str] = field(default_factory=list)


def build_form(schema: dict[str, Any], ui: dict[str, Any], data: dict[str, Any], category: str,
               uploads: dict[str, list[Upload]], submission_id: str, errors: list[tuple[str, str]] | None = None,
               equipment_rows: int = 2) -> ApplyForm:
    shown = portal_schema(schema)
    required = set(shown["required"])
    fields = [build_field(name, shown["properties"][name], ui.get(name, {}), data.get(name), name in required,
                          equipment_rows if name == "equipment" else 0)
              for name in SHOWN]
    result = ApplyForm({f.name: f for f in fields}, category, data.get("commitment_signed") is True, uploads,
                       submission_id)
    refused_files = {path for path, message in errors or [] if path.startswith("materials.")
                     and message not in RUNNER_MESSAGES}
    field_errors: list[tuple[str, str]] = []
    for path, message in errors or []:
        name = _required_name(path, message) or path.split(".")[0].split("[")[0]
        if path in MATERIAL_MESSAGES and message in RUNNER_MESSAGES:
            if path not in refused_files:  # a file was sent but refused: its own message says why
                result.errors.setdefault(path, []).append(str(MATERIAL_MESSAGES[path]))
        elif path.startswith("materials."):  # a refused file: the message is already the visitor's
            result.errors.setdefault(path, []).append(message)
        elif name in ("customer_type", "enterprise_size"):
            result.errors.setdefault("category", []).append(_("请选择用电类别。"))
        elif name in result.fields:
            field_errors.append((path, message))
        elif name not in ("has_property_proof", "provided_materials"):  # follow the uploads, reported there
            result.form_errors.append(describe_error(message, {}))
    result.form_errors.extend(attach_errors(fields, shown, field_errors))
    return result


def _required_name(path: str, message: str) -> str | None:
    """The field a top-level "'x' is a required property" message is about."""
    if path == "" and message.endswith("is a required property") and message.startswith("'"):
        return message.split("'")[1]
    return None


def initial() -> dict[str, Any]:
    """A blank application: no example values (a customer must not send the schema's sample data by accident)."""
    return {"equipment": [], "important_customer": False, "special_load": False, "dual_supply": False}
