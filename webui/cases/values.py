"""Case data as the case page shows it: the application as the customer filled it in (each field by its title,
a choice by the title the form gives it, yes/no in words, repeating rows as a table under their column titles)
and the case summary under the page's own labels. The page's template draws the ``Shown`` tree this builds;
text leaves stay as they are (the template shows ISO times in Shanghai time)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from runner.case_queries import DualSupply

from ..formrender import base_type, choice_title, choices_of, html_value, ordered_properties
from ..i18n import _
from ..labels import EVENT_DATA_LABELS, INCIDENT_LIST_KEYS, label

HIDDEN_WITH_NAME = ("code",)
"""Columns of a summary table left out when the row has a ``name``: the code is the name's internal twin."""


@dataclass
class Shown:
    """One value to draw: ``text`` (a leaf, None for a dash), ``list`` (``items``), ``fields`` (labelled
    ``fields``) or ``table`` (``columns`` and ``rows`` of cells)."""

    kind: str
    text: Any = None
    items: list[Shown] = field(default_factory=list)
    fields: list[tuple[Any, Shown]] = field(default_factory=list)
    columns: list[Any] = field(default_factory=list)
    rows: list[list[Shown]] = field(default_factory=list)


def text(value: Any) -> Shown:
    """A leaf: yes/no in words, a whole float without its ``.0`` (as the form's inputs write it)."""
    if isinstance(value, bool):
        return Shown("text", _("是") if value else _("否"))
    if isinstance(value, float) and value.is_integer():
        return Shown("text", html_value(value))
    return Shown("text", value)


# -- the application ------------------------------------------------------------------------------------------


def application_fields(application: Mapping[str, Any], schema: Mapping[str, Any],
                       ui: Mapping[str, Any]) -> list[tuple[Any, Shown]]:
    """Each field of the application (masked already) under the start form's title for it."""
    properties = schema.get("properties", {})
    return [(str(properties.get(key, {}).get("title", key)), form_value(value, properties.get(key, {}),
                                                                         ui.get(key, {})))
            for key, value in application.items()]


def form_value(value: Any, schema: Mapping[str, Any], ui: Mapping[str, Any]) -> Shown:
    """``value`` as the form field ``schema`` offers it (a value the form does not know is shown as it is)."""
    title = choice_title(dict(schema), value)
    if title is not None:
        return Shown("text", title)
    items = schema.get("items", {}) if isinstance(schema.get("items"), dict) else {}
    if isinstance(value, list):
        if base_type(items) == "object" or (choices_of(items) is None and any(isinstance(v, dict) for v in value)):
            return rows_table(value, items, ui.get("items", {}) if isinstance(ui.get("items"), dict) else {})
        return Shown("list", items=[form_value(item, items, {}) for item in value])
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        return Shown("fields", fields=[(str(properties.get(key, {}).get("title", key)),
                                        form_value(item, properties.get(key, {}), {}))
                                       for key, item in value.items()])
    return text(value)


def rows_table(rows: list[Any], items: Mapping[str, Any], ui: Mapping[str, Any]) -> Shown:
    """Repeating rows under the item's property titles, in the form's column order (then keys it does not name)."""
    properties = items.get("properties", {})
    keys = ordered_properties(dict(items), dict(ui)) if properties else []
    keys += [key for row in rows if isinstance(row, dict) for key in row if key not in keys]
    keys = list(dict.fromkeys(keys))
    present = [key for key in keys if any(isinstance(row, dict) and key in row for row in rows)]
    return Shown("table", columns=[str(properties.get(key, {}).get("title", key)) for key in present],
                 rows=[[form_value(row.get(key), properties.get(key, {}), {}) if isinstance(row, dict)
                        else text(None) for key in present] for row in rows])


# -- the data of an event ------------------------------------------------------------------------------------


def event_fields(data: Mapping[str, Any], schema: Mapping[str, Any], ui: Mapping[str, Any]) -> Shown:
    """The data of an event (masked already): a task's results under the titles of its form (``schema``, empty
    when it has none), the runner's own keys under ``labels.EVENT_DATA_LABELS`` (incident ids as ``#3``), any
    other key as itself."""
    properties = schema.get("properties", {})
    fields: list[tuple[Any, Shown]] = []
    for key, value in data.items():
        if key in properties:
            fields.append((str(properties[key].get("title", key)), form_value(value, properties[key],
                                                                              ui.get(key, {}))))
        elif key in INCIDENT_LIST_KEYS and isinstance(value, list):
            fields.append((EVENT_DATA_LABELS[key], Shown("text", "、".join(f"#{item}" for item in value) or None)))
        else:
            fields.append((EVENT_DATA_LABELS.get(key, key), form_value(value, {}, {})))
    return Shown("fields", fields=fields)


# -- the summary ----------------------------------------------------------------------------------------------


def summary_fields(summary: Mapping[str, Any], labels: Mapping[str, Any],
                   value_labels: Mapping[str, Mapping[str, Any]]) -> list[tuple[Any, Shown]]:
    """The case summary under ``labels`` (a key without one shows as itself); a string value of a key in
    ``value_labels`` (regime, category …) by its name there."""
    return [(labels.get(key, key), summary_value(key, value, labels, value_labels)) for key, value in summary.items()]


def summary_value(key: str, value: Any, labels: Mapping[str, Any],
                  value_labels: Mapping[str, Mapping[str, Any]]) -> Shown:
    if isinstance(value, dict):
        return Shown("fields", fields=summary_fields(value, labels, value_labels))
    if isinstance(value, list):
        if value and all(isinstance(item, dict) for item in value):
            keys = list(dict.fromkeys(k for item in value for k in item))
            if "name" in keys:
                keys = [k for k in keys if k not in HIDDEN_WITH_NAME]
            return Shown("table", columns=[labels.get(k, k) for k in keys],
                         rows=[[summary_value(k, item.get(k), labels, value_labels) for k in keys] for item in value])
        return Shown("list", items=[summary_value(key, item, labels, value_labels) for item in value])
    if isinstance(value, str) and key in value_labels:
        return Shown("text", label(dict(value_labels[key]), value))
    return text(value)


def case_summary_fields(summary: Mapping[str, Any], labels: Mapping[str, Any],
                        value_labels: Mapping[str, Mapping[str, Any]],
                        supply: DualSupply | None) -> list[tuple[Any, Shown]]:
    """``summary_fields`` of the case page's summary, with 双电源 as ``supply`` says it (the supply plan's once one
    decided it, else the application's, each saying so) in place of the application's flag."""
    fields: list[tuple[Any, Shown]] = []
    for key, value in summary.items():
        if key == "dual_supply" and supply is not None:
            continue
        fields.append((labels.get(key, key), summary_value(key, value, labels, value_labels)))
    if supply is not None:
        keys = list(summary)
        at = keys.index("dual_supply") if "dual_supply" in keys else len(fields)
        fields.insert(at, (labels.get("dual_supply", "dual_supply"), supply_text(supply)))
    return fields


def supply_text(supply: DualSupply) -> Shown:
    """``是（按供电方案）``, ``否（按客户申请）``: the value, and whether a supply plan decided it or it is what the
    customer applied for (the plan not having decided yet, or the case's version not deciding it on the plan)."""
    basis = _("按供电方案") if supply.basis == "plan" else _("按客户申请")
    return Shown("text", _("%(value)s（%(basis)s）", value=_("是") if supply.value else _("否"), basis=basis))

