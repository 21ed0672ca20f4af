"""Task forms on the server: JSON Schema + UI schema → fields to render, submitted text → form data, and the
runner's validation errors → messages next to their fields.

The schemas follow processes/forms/README.md: flat objects whose fields are strings (text, textarea, date), numbers,
booleans, choices (``oneOf`` of ``const``/``title``), checklists (arrays of such choices), lists of strings (one per
line; a file field, ``ui:widget: files``, uploads to the attachment store and adds each reference as a line) and
arrays of objects (repeating rows). HTML names are the
fields' JSON paths (``installed_equipment[0].model``), so an error's path names its input.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from werkzeug.datastructures import MultiDict

from runner.documents import NOT_A_CASE_FILE, document_id_of
from runner.forms import form_defaults

from .i18n import _

ROW_PATTERN = re.compile(r"^(?P<array>[A-Za-z0-9_]+)\[(?P<index>\d+)\]\.(?P<key>[A-Za-z0-9_]+)$")
MAX_ROWS = 100


@dataclass
class Choice:
    value: str
    title: str
    selected: bool


@dataclass
class Field:
    """One input (or a group of them) as the template draws it."""

    name: str
    label: str
    widget: str  # text|textarea|number|date|radio|select|checkbox|checkboxes|lines|files|rows|json
    required: bool = False
    description: str | None = None
    help: str | None = None
    placeholder: str | None = None
    value: str = ""
    choices: list[Choice] = field(default_factory=list)
    attrs: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    columns: list[Field] = field(default_factory=list)  # rows: one template field per column
    rows: list[list[Field]] = field(default_factory=list)
    inline: bool = False
    files: list[Attachment] = field(default_factory=list)  # files: the references held, linked when stored here


@dataclass
class Attachment:
    reference: str
    document_id: str | None  # None: a reference this store did not make (e.g. an example value)


@dataclass
class RenderedForm:
    title: str | None
    description: str | None
    submit_text: str | None
    fields: list[Field]
    errors: list[str]


# -- schema helpers ---------------------------------------------------------------------------------------------


def base_type(schema: dict[str, Any]) -> str | None:
    kind = schema.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        return kinds[0] if kinds else None
    return kind if isinstance(kind, str) else None


def html_value(value: Any) -> str:
    """How a JSON value is written into an input (and compared with a choice)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def choices_of(schema: dict[str, Any]) -> list[tuple[Any, str]] | None:
    """(const, title) pairs of a ``oneOf`` choice (``enum`` too, titled by its values); None if not a choice."""
    options = schema.get("oneOf")
    if isinstance(options, list) and options and all(isinstance(o, dict) and "const" in o for o in options):
        return [(o["const"], str(o.get("title", html_value(o["const"])))) for o in options]
    if isinstance(schema.get("enum"), list):
        return [(value, html_value(value)) for value in schema["enum"]]
    return None


def choice_title(schema: dict[str, Any], value: Any) -> str | None:
    """The title the form gives ``value`` when the field is a choice (as its radio or select shows it); None if
    the field is no choice or ``value`` is none of its options."""
    for const, title in choices_of(schema) or []:
        if const == value and type(const) is type(value):
            return title
    return None


def ordered_properties(schema: dict[str, Any], ui: dict[str, Any]) -> list[str]:
    names = list(schema.get("properties", {}))
    order = [name for name in ui.get("ui:order", []) if name in names]
    return order + [name for name in names if name not in order]


# -- rendering --------------------------------------------------------------------------------------------------


def render_form(schema: dict[str, Any] | None, ui: dict[str, Any], data: dict[str, Any],
                errors: list[tuple[str, str]] | None = None, min_rows: dict[str, int] | None = None) -> RenderedForm:
    """Fields for ``data`` (the form's defaults on first view, the user's input after a refusal); a repeating
    table shows its rows and one blank row, or ``min_rows[name]`` rows if that is more."""
    if schema is None:
        return RenderedForm(None, None, None, [], [])
    required = set(schema.get("required", []))
    fields = [build_field(name, schema["properties"][name], ui.get(name, {}), data.get(name), name in required,
                          (min_rows or {}).get(name, 0))
              for name in ordered_properties(schema, ui)]
    form_errors = attach_errors(fields, schema, errors or [])
    submit = ui.get("ui:submitButtonOptions", {}).get("submitText")
    return RenderedForm(schema.get("title"), schema.get("description"), submit, fields, form_errors)


def build_field(name: str, schema: dict[str, Any], ui: dict[str, Any], value: Any, required: bool,
                min_rows: int = 0) -> Field:
    kind = base_type(schema)
    widget = ui.get("ui:widget")
    options = ui.get("ui:options", {}) if isinstance(ui.get("ui:options"), dict) else {}
    result = Field(name=name, label=str(schema.get("title", name)), widget="text", required=required,
                   description=schema.get("description"), help=ui.get("ui:help"), placeholder=ui.get("ui:placeholder"),
                   inline=bool(options.get("inline")))
    choices = choices_of(schema)
    if choices is not None:
        result.widget = "radio" if widget == "radio" or kind == "boolean" else "select"
        result.choices = [Choice(html_value(const), title, value is not None and const == value and
                                 type(const) is type(value)) for const, title in choices]
    elif kind == "boolean":
        result.widget, result.value = "checkbox", html_value(value)
    elif kind in ("number", "integer"):
        result.widget, result.value = "number", html_value(value)
        result.attrs["step"] = "1" if kind == "integer" else "any"
        for key in ("minimum", "maximum"):
            if key in schema:
                result.attrs[key[:3]] = html_value(schema[key])
    elif kind == "string":
        result.value = html_value(value)
        if schema.get("format") == "date" or widget == "date":
            result.widget = "date"
        elif widget == "textarea":
            result.widget = "textarea"
            result.attrs["rows"] = str(options.get("rows", 4))
        if "maxLength" in schema:
            result.attrs["maxlength"] = str(schema["maxLength"])
    elif kind == "array":
        build_array(result, schema, ui, value, min_rows)
    else:
        result.widget, result.value = "json", json.dumps(value, ensure_ascii=False, indent=2) if value else ""
    return result


def build_array(result: Field, schema: dict[str, Any], ui: dict[str, Any], value: Any, min_rows: int) -> None:
    items = schema.get("items", {})
    values = value if isinstance(value, list) else []
    choices = choices_of(items)
    if choices is not None:  # a checklist
        result.widget = "checkboxes"
        result.choices = [Choice(html_value(const), title, const in values) for const, title in choices]
        return
    if base_type(items) == "object":
        result.widget = "rows"
        item_ui = ui.get("items", {})
        required = set(items.get("required", []))
        names = ordered_properties(items, item_ui)
        result.columns = [build_field(key, items["properties"][key], item_ui.get(key, {}), None, key in required)
                          for key in names]
        count = min(max(len(values) + 1, min_rows), MAX_ROWS)
        for index in range(count):
            row_value = values[index] if index < len(values) and isinstance(values[index], dict) else {}
            row = []
            for key in names:
                cell = build_field(f"{result.name}[{index}].{key}", items["properties"][key], item_ui.get(key, {}),
                                   row_value.get(key), key in required)
                row.append(cell)
            result.rows.append(row)
        return
    result.widget = "lines"  # strings (file references, seal numbers …): one per line
    result.value = "\n".join(html_value(item) for item in values)
    result.attrs["rows"] = str(max(3, min(len(values) + 1, 10)))
    if ui.get("ui:widget") == "files":
        build_files(result, ui, [html_value(item) for item in values])


def build_files(result: Field, ui: dict[str, Any], references: list[str]) -> None:
    """A file field: the references one per line (what is submitted), each upload adding its reference; photo
    fields (``accept`` of images only) open the phone's camera."""
    options = ui.get("ui:options", {}) if isinstance(ui.get("ui:options"), dict) else {}
    accept = str(options.get("accept") or "image/*,application/pdf")
    result.widget = "files"
    result.attrs["accept"] = accept
    if all(kind.strip().startswith("image/") for kind in accept.split(",")):
        result.attrs["capture"] = "environment"
    result.files = [Attachment(ref, document_id_of(ref)) for ref in references]


# -- parsing ----------------------------------------------------------------------------------------------------


def parse_submission(schema: dict[str, Any] | None, ui: dict[str, Any], form: MultiDict[str, str]) -> dict[str, Any]:
    """Form data from the submitted inputs. Empty inputs are left out (so the schema's ``required`` speaks), text
    that does not convert stays text (so the schema's type check speaks)."""
    if schema is None:
        return {}
    data: dict[str, Any] = {}
    required = set(schema.get("required", []))
    for name in ordered_properties(schema, ui):
        value = parse_field(name, schema["properties"][name], form, name in required)
        if value is not None:
            data[name] = value
    return data


def parse_field(name: str, schema: dict[str, Any], form: MultiDict[str, str], required: bool = False) -> Any:
    kind = base_type(schema)
    choices = choices_of(schema)
    if kind == "array":
        return parse_array(name, schema, form, required)
    text = form.get(name, "")
    if choices is not None:
        return convert_choice(text, choices) if text != "" else None
    if kind == "boolean":
        return text == "true" if name in form else False
    text = text.strip() if kind in ("number", "integer") else text.replace("\r\n", "\n")
    if text.strip() == "":
        return None
    if kind in ("number", "integer"):
        return convert_number(text, kind)
    return text


def convert_choice(text: str, choices: list[tuple[Any, str]]) -> Any:
    for const, _title in choices:
        if html_value(const) == text:
            return const
    return text  # not one of the choices: validation says so


def convert_number(text: str, kind: str) -> Any:
    try:
        number = float(text)
    except ValueError:
        return text
    if number != number or number in (float("inf"), float("-inf")):
        return text
    if number.is_integer() and (kind == "integer" or "." not in text and "e" not in text.lower()):
        return int(number)
    return number


def parse_array(name: str, schema: dict[str, Any], form: MultiDict[str, str], required: bool) -> list[Any] | None:
    items = schema.get("items", {})
    choices = choices_of(items)
    if choices is not None:
        picked = [convert_choice(text, choices) for text in form.getlist(name)]
        if picked:
            return picked
        # A required checklist shown with nothing ticked is an empty list (the message then says how many are
        # needed); an optional one is left out.
        return [] if required and f"{name}.present" in form else None
    if base_type(items) == "object":
        rows: dict[int, dict[str, Any]] = {}
        for key in form:
            match = ROW_PATTERN.match(key)
            if match and match["array"] == name and int(match["index"]) < MAX_ROWS:
                sub = items.get("properties", {}).get(match["key"])
                if sub is not None:
                    value = parse_field(key, sub, form)
                    row = rows.setdefault(int(match["index"]), {})
                    if value is not None and not (base_type(sub) == "boolean" and value is False):
                        row[match["key"]] = value
        result = [rows[index] for index in sorted(rows) if rows[index]]  # blank rows are left out
        return result or None
    lines = [line.strip() for line in form.get(name, "").splitlines()]
    values = [line for line in lines if line]
    return values or None


# -- errors -----------------------------------------------------------------------------------------------------


def attach_errors(fields: list[Field], schema: dict[str, Any], errors: list[tuple[str, str]]) -> list[str]:
    """Put each (path, message) next to its input; return the ones that belong to no input."""
    by_name: dict[str, tuple[Field, dict[str, Any]]] = {}
    for item in fields:
        item_schema = schema["properties"][item.name]
        by_name[item.name] = (item, item_schema)
        for row in item.rows:
            for cell in row:
                key = cell.name.rsplit(".", 1)[1]
                by_name[cell.name] = (cell, item_schema.get("items", {}).get("properties", {}).get(key, {}))
    leftover = []
    for path, message in errors:
        missing = re.match(r"^'([^']+)' is a required property$", message)
        target = f"{path}.{missing[1]}" if missing and path else (missing[1] if missing else path)
        while target and target not in by_name:  # an item of a list: the list's input
            target = re.sub(r"(\[\d+\]|\.[A-Za-z0-9_]+)$", "", target) if re.search(r"[\].]", target) else ""
        if target in by_name:
            found, field_schema = by_name[target]
            text = describe_error(message, field_schema)
            if text not in found.errors:
                found.errors.append(text)
        else:
            leftover.append(describe_error(message, schema))
    return leftover


def describe_error(message: str, schema: dict[str, Any]) -> str:
    """The runner's (jsonschema's) message in the user's language, for the common kinds of mistake."""
    kind = base_type(schema)
    if message.endswith("is a required property"):
        return _("此项为必填项。")
    if message.endswith(NOT_A_CASE_FILE):
        return _("不是为本案件上传的文件，请重新上传。")
    bidi = re.search(r"text-direction control character \(([^)]*)\)", message)
    if bidi:
        return _("不能包含改变文字方向的不可见控制字符（%(codes)s）。", codes=bidi[1])
    if "could not be read (sent in an encoding other than UTF-8" in message:
        return _("含有无法识别的字符（不是以 UTF-8 编码发送的文字），请重新输入。")
    if "is not a valid resident ID number" in message:
        if "check digit should be" in message:
            return _("身份证号码校验位不符，请逐位核对。")
        if "birth date" in message:
            return _("身份证号码中的出生日期不存在，请核对。")
        return _("居民身份证号码应为 18 位：17 位数字加 1 位校验码（0–9 或 X）。")
    if choices_of(schema) is not None and ("is not of type" in message or "under any of the given" in message):
        return _("请选择一个有效的选项。")
    if re.search(r"is not of type '(number|integer)'", message):
        return _("请输入数字。")
    if "is not a 'date'" in message:
        return _("请输入有效日期（YYYY-MM-DD）。")
    number = re.search(r"is less than or equal to the minimum of (\S+)", message)  # exclusiveMinimum
    if number:
        return _("必须大于 %(limit)s。", limit=number[1])
    number = re.search(r"is less than the minimum of (\S+)", message)
    if number:
        return _("不能小于 %(n)s。", n=number[1])
    number = re.search(r"is greater than or equal to the maximum of (\S+)", message)  # exclusiveMaximum
    if number:
        return _("必须小于 %(limit)s。", limit=number[1])
    number = re.search(r"is greater than the maximum of (\S+)", message)
    if number:
        return _("不能大于 %(n)s。", n=number[1])
    too_short = "is too short" in message or "should be non-empty" in message
    too_long = "is too long" in message or "expected at most" in message
    if kind == "array" and too_short:
        return _("至少需要 %(n)s 项。", n=schema.get("minItems", 1))
    if kind == "array" and too_long:
        return _("最多 %(n)s 项。", n=schema.get("maxItems", "?"))
    shortest = schema.get("minLength", 1)
    if kind == "string" and (too_short or too_long) and shortest > 1 and shortest == schema.get("maxLength"):
        return _("应为 %(n)s 个字符。", n=shortest)  # a fixed length (a mobile number's 11 digits)
    if kind == "string" and too_short:
        return _("不能为空。") if shortest <= 1 else _("至少需要 %(n)s 个字符。", n=shortest)
    if kind == "string" and too_long:
        return _("不能超过 %(n)s 个字符。", n=schema.get("maxLength", "?"))
    if "does not match" in message:
        return _("格式不符合要求。")
    if "has non-unique elements" in message:
        return _("有重复的项。")
    if "is not valid under any of the given schemas" in message or "is not one of" in message:
        return _("请选择一个有效的选项。")
    if "was expected" in message:
        return _("与其他填写内容不一致，请检查。")
    if "is not of type" in message:
        return _("格式不正确。")
    return message


def initial_data(schema: dict[str, Any] | None) -> dict[str, Any]:
    """What the form shows first: the schema's true ``default`` values only. The sample answers (``examples``) are
    never shown: a form opens with no date, result, identifier or ticked checklist that nobody gave."""
    if schema is None:
        return {}
    defaults = form_defaults(schema)
    return defaults if isinstance(defaults, dict) else {}
