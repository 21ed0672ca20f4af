"""The new-run form as a person reads it: a what-if template loaded as a comparison, and every problem at the field
the person typed in, named by that field's visible label.

``runner.simulation.run_request`` checks the request and names each problem by its key path in the scenario
(``arrivals.hv_ordinary.per_working_day``, ``variant.pools.inspector.count``, ``(root)`` …). In form mode the
variant's scenario is the base's with the variant's staff counts, so a bad base value is found again on the variant
side: :func:`placed_problems` keeps such a repeat once, at the base field the person typed in, moves the engine's
"neither cases nor an arrival window" from ``(root)`` to the arrival window field, and words each problem's place
with the label the form shows (and its side: base or variant) for the summary at the top of the page. A problem of
the advanced editor inside a step, pool, category or calendar says what it is about by those names too, before the
key path that finds its line (:func:`editor_where`: ``现场勘查 · 办理时长 · 标准差（durations.site_survey.sd）``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from flask_babel import get_locale

from runner.simulation import run_request, runs
from runner.simulation.run_processes import SCENARIOS
from runner.simulation.scenario import TRANSLATED, translated

from ..i18n import _, _l
from ..labels import CATEGORY_LABELS, GROUP_LABELS, label

VARIANT_PREFIX = "variant."
RAW_EDITORS = {"scenario_raw": _l("基准场景（高级编辑器）"), "variant_raw": _l("对比场景（高级编辑器）")}
FIXED_LABELS = {"name": _l("名称"), "base_process": _l("基准流程"), "variant_process": _l("对比方案的流程"),
                "replications": _l("重复次数"), "template": _l("场景模板"), "start": _l("开始日期"),
                "cases": _l("案件数"), "horizon_days": _l("申请到达时段（天）"), "regime": _l("时限口径"),
                "seed": _l("随机种子"), "discard_unshown": _l("表单无法显示的设置")}
"""Fields of the form that are not about one side's scenario; the run-wide ones are the base's (and the variant's)."""
SCENARIO_SIDES = {"": _l("基准方案"), VARIANT_PREFIX: _l("对比方案")}
PARAMETER_LABELS = {"value": _l("固定值"), "mean": _l("平均"), "sd": _l("标准差"), "shape": _l("形状参数"),
                    "scale": _l("尺度参数"), "low": _l("下限"), "high": _l("上限"), "mode": _l("众数"),
                    "min": _l("最小值"), "max": _l("最大值"), "samples": _l("样本值")}
"""A distribution's parameters by the names the form shows (平均 for ``mean``), in the engine's refusals and in
the settings a rerun's form mode cannot hold."""
DISTRIBUTION_LABELS = {"fixed": _l("固定值"), "exponential": _l("指数分布"), "normal": _l("正态分布"),
                       "lognormal": _l("对数正态分布"), "gamma": _l("伽马分布"), "uniform": _l("均匀分布"),
                       "triangular": _l("三角分布"), "empirical": _l("经验分布")}
"""The kinds of distribution (``distribution:``) by name, in the engine's refusals (the key follows)."""
SCENARIO_KEY_LABELS = {"max_days": _l("时钟停止（开始后天数）"), "hourly_cost": _l("每小时成本"),
                       "customer_delays": _l("客户侧耗时"), "pickup_delays": _l("领取耗时"),
                       "per_resource": _l("按人员"), "calendar": _l("工作日历"), "shifts": _l("班次"),
                       "names": _l("人员姓名"), "count": _l("人数"), "distribution": _l("分布类型"),
                       "per_working_day": _l("每工作日"), "per_day": _l("每日"),
                       "interarrival_hours": _l("到达间隔（工作小时）"), "interarrival_mode": _l("到达间隔的计法"),
                       "capacity_kva": _l("报装容量（kVA）"), "dual_supply": _l("双电源比例"),
                       "missing_property_proof": _l("缺产权证明比例"), "risk_flags": _l("风险标记比例"),
                       "sample": _l("样例申请"), "working_days": _l("工作日"), "weekday_shifts": _l("按星期的班次"),
                       "windows": _l("受理时段"), "weekday_windows": _l("按星期的受理时段"), "hours": _l("时间"),
                       "weight": _l("权重"), "data": _l("表单数据"), "task_hours": _l("默认办理时长"),
                       "customer_days": _l("默认客户侧耗时"), "arrival_calendar": _l("申请到达日历"),
                       "branch_probabilities": _l("分支概率")}
"""Scenario keys the form has no field for, by name, where a label names one (the key itself follows)."""
NO_WINDOW = "give horizon_days"
"""How the engine refuses a scenario with neither a case count nor an arrival window (``scenario.py``), at its root:
the form shows it at the arrival window field, where it is fixed."""
ROOT = "(root)"
KEY_PROBLEMS = ("unknown_key", "pool_name")
"""Problems with a key itself (an unknown key, a pool code that is not one): the key path says it all."""


@dataclass(frozen=True)
class PlacedProblem:
    """A problem where the form shows it: ``path`` (key path, ``scenario_raw:<key>`` in the editor), ``field`` (the
    input's name, None when no input holds it), its ``label`` as the summary names it (side included), its ``text``.
    """

    path: str
    field: str | None
    label: str
    text: str
    where: str = ""
    """In the advanced editor: the step, pool or category the key path is about, by name (``现场勘查 · 标准差``);
    empty for a top-level key or one that no label names (the key path says it all)."""

    @property
    def editor_key(self) -> str:
        """Where in the advanced editor's scenario: the key path, or "whole scenario" for its top level."""
        key = self.path.partition(":")[2]
        return str(_("整个场景")) if key in ("", ROOT) else key


def placed_problems(problems: list[run_request.Problem], form: Mapping[str, str], fields: set[str],
                    element_names: Mapping[str, str], text: Callable[[run_request.Problem], str]
                    ) -> list[PlacedProblem]:
    """Every problem once, at the field it is about, with the label the summary shows; in the order found.

    ``fields``: the names of the form's inputs (key paths, ``variant.pools.<pool>.count``, ``name`` …). In form
    mode a variant problem that repeats a base problem at the same key path with the same words is the base value
    found again on the variant side (the variant is the base with other staff counts): it is shown once, at the base
    field.
    """
    raw = form.get("mode") == "raw"
    placed: list[PlacedProblem] = []
    seen: set[tuple[str, str]] = set()
    worded = [(_moved(problem), text(problem), problem) for problem in problems]
    base_texts = {(path, words) for path, words, _problem in worded if not path.startswith(VARIANT_PREFIX)}
    for path, words, problem in worded:
        if not raw and path.startswith(VARIANT_PREFIX) and (path.removeprefix(VARIANT_PREFIX), words) in base_texts:
            continue  # the base's own value, checked again in the variant's copy: shown at the base field
        if (path, words) in seen:
            continue
        seen.add((path, words))
        field = path if path in fields else path.partition(":")[0] if path.partition(":")[0] in RAW_EDITORS else None
        where = editor_where(path, element_names) if problem.code not in KEY_PROBLEMS else ""
        placed.append(PlacedProblem(path, field, path_label(path, element_names, where), words, where))
    return placed


def _moved(problem: run_request.Problem) -> str:
    """The path a problem is shown at: the engine's "no cases and no window" at the window field of its side."""
    editor, sep, key = problem.path.rpartition(":")
    prefix, _dot, last = key.rpartition(".") if key.endswith(ROOT) else ("", "", key)
    if last == ROOT and problem.detail.startswith(NO_WINDOW):
        key = f"{prefix}.horizon_days" if prefix else "horizon_days"
    return f"{editor}{sep}{key}"


def path_label(path: str, element_names: Mapping[str, str], where: str = "") -> str:
    """The name of a field (or key path) as the form shows it, with its side: ``高压普通 · 每工作日（基准方案）``;
    in the advanced editor the key path, after what it is about when ``where`` names that
    (``基准场景（高级编辑器） · 现场勘查 · 标准差（durations.site_survey.sd）``)."""
    editor, sep, key = path.partition(":")
    if editor in RAW_EDITORS:  # the advanced editor: the key path the person wrote (none: the editor's text)
        where_key = str(_("整个场景")) if key in ("", ROOT) else key
        if where:
            where_key = _("%(label)s（%(key)s）", label=where, key=key)
        return f"{RAW_EDITORS[editor]} · {where_key}"
    if path in FIXED_LABELS:
        return str(FIXED_LABELS[path])
    side = VARIANT_PREFIX if path.startswith(VARIANT_PREFIX) else ""
    return _("%(field)s（%(side)s）", field=_scenario_label(path.removeprefix(side), element_names),
             side=SCENARIO_SIDES[side])


def editor_where(path: str, element_names: Mapping[str, str]) -> str:
    """What a key path of the advanced editor (``scenario_raw:durations.site_survey.sd``) is about, by the names a
    process owner knows — the step, pool, category or calendar and the setting (``现场勘查 · 标准差``); empty for
    a form field, a top-level key and a path no label names (the key path is shown either way, to find the line)."""
    editor, _sep, key = path.partition(":")
    key = re.sub(r"\[(\d+)\]", r".\1", key)  # the engine's shifts[0] as the schema's shifts.0
    if editor not in RAW_EDITORS or "." not in key:
        return ""
    where = _scenario_label(key, element_names, keys=False)
    named = set(where.split(" · ")) - set(key.split("."))  # not only the keys again (an unknown pool: surveyer)
    return where if named else ""


def _scenario_label(key: str, element_names: Mapping[str, str], keys: bool = True) -> str:
    """The label of a scenario key path; ``keys``: a key the form has no field for is followed by the key itself
    (the rerun's list, where the advanced editor is the place to change it), else only named (the advanced editor's
    problems, shown with the whole key path anyway)."""
    parts = key.split(".")
    if key in FIXED_LABELS:
        return str(FIXED_LABELS[key])
    if key in ("", ROOT):
        return str(_("整个场景"))
    if parts[0] == "arrivals" and len(parts) == 3 and parts[2] in run_request.RATE_KEYS:
        rate = _("每工作日") if parts[2] == "per_working_day" else _("每日")
        return f"{label(CATEGORY_LABELS, parts[1])} · {rate}"
    if key == "pools":
        return str(_("人员配置"))
    if parts[0] == "pools" and len(parts) >= 2:
        pool = label(GROUP_LABELS, parts[1])
        return _("%(pool)s 人数", pool=pool) if parts[2:] == ["count"] else " · ".join(
            [pool, *_part_labels(parts[2:], keys)])
    if parts[0] in ("durations", "customer_delays", "pickup_delays") and len(parts) >= 2:
        step = element_names.get(parts[1], parts[1])
        # a duration is the form's own (办理时长 heads its fields); the advanced editor has no heading to say so
        kind = [_key_label(parts[0], keys)] if parts[0] != "durations" else [] if keys else [str(_("办理时长"))]
        return " · ".join([step, *kind, *_part_labels(parts[2:], keys)])
    if parts[0] in ("arrivals", "case_data") and len(parts) >= 2:
        return " · ".join([label(CATEGORY_LABELS, parts[1]), *_part_labels(parts[2:], keys)])
    if parts[0] == "calendars" and len(parts) >= 2:
        return " · ".join([_("工作日历 %(name)s", name=parts[1]), *_part_labels(parts[2:], keys)])
    if parts[0] == "answers" and len(parts) >= 2:
        step = element_names.get(parts[1], parts[1])
        return " · ".join([step, str(_("办理结果")), *_part_labels(parts[2:], keys)])
    if parts[0] in ("defaults", "arrival_calendar", "branch_probabilities") and len(parts) >= 2:
        head = [] if parts[0] == "defaults" else [_key_label(parts[0], keys)]
        return " · ".join([*head, *_part_labels(parts[1:], keys)])
    return _key_label(key, keys)


def _part_labels(parts: list[str], keys: bool) -> list[str]:
    """The labels of the keys below a step, pool or category: a distribution's parameter by its name (平均), a
    list's entry by its number (第 1 项), any other key by its label (with the key when ``keys``)."""
    return [_("第 %(n)s 项", n=int(part) + 1) if part.isdigit() else
            str(PARAMETER_LABELS[part]) if part in PARAMETER_LABELS else _key_label(part, keys) for part in parts]


def _key_label(key: str, keys: bool = True) -> str:
    """A scenario key the form has no field for: its label with the key itself, so the advanced editor finds it
    (``keys`` False: the label alone); a key no label names, as it is."""
    if key not in SCENARIO_KEY_LABELS:
        return key
    return _("%(label)s（%(key)s）", label=SCENARIO_KEY_LABELS[key], key=key) if keys else str(
        SCENARIO_KEY_LABELS[key])


# -- a what-if template, loaded as a comparison ----------------------------------------------------------------------


@dataclass(frozen=True)
class WhatIf:
    """A template that ``extends`` another template: loaded as base = its parent, variant = itself."""

    name: str
    parent: str
    form_mode: bool
    """Whether the form's fields hold the whole difference (the process and staff counts); else the editor does."""


def template_parent(name: str, templates: Mapping[str, Any], folder: Path | None = None) -> str | None:
    """The template ``name`` extends when its ``extends`` names another template file of the same folder
    (default: the project's ``processes/scenarios``)."""
    folder = folder or SCENARIOS
    for suffix in (".yaml", ".json"):
        path = folder / f"{name}{suffix}"
        if path.is_file():
            break
    else:
        return None
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None
    parent = data.get("extends") if isinstance(data, dict) else None
    if not isinstance(parent, str):
        return None
    target = (path.parent / parent).resolve()
    if target.parent != folder.resolve() or target.stem == name or target.stem not in templates:
        return None
    return target.stem


def comparison_form(name: str, parent: str, templates: Mapping[str, Mapping[str, Any]],
                    initial: Callable[[str, Mapping[str, Any]], dict[str, str]]) -> tuple[dict[str, str], WhatIf]:
    """The form of a what-if template: its parent's form as the base, the template itself as the variant (its
    process and its staff counts in the form when that is all it changes, else both scenarios in the editor)."""
    base, variant = templates[parent], templates[name]
    form = initial(parent, base)
    base_pools, variant_pools = _pools(base), _pools(variant)
    other = [path for path, _b, _v in run_request.scenario_changes(base, variant) if path not in TRANSLATED]
    form_mode = not other and set(base_pools) == set(variant_pools)
    form.update(name=template_text(variant, "name") or name, variant_process=run_request.template_process(name),
                loaded=name)
    if form_mode:
        for pool, count in variant_pools.items():
            if count != base_pools.get(pool):
                form[f"variant.pools.{pool}.count"] = "" if count is None else str(count)
    else:
        form.update(mode="raw", variant_raw=json.dumps(dict(variant), ensure_ascii=False, indent=2))
    return form, WhatIf(name, parent, form_mode)


def _pools(scenario: Mapping[str, Any]) -> dict[str, Any]:
    pools = scenario.get("pools")
    return {pool: settings.get("count") if isinstance(settings, Mapping) else None
            for pool, settings in (pools.items() if isinstance(pools, Mapping) else [])}


# -- the template chooser, and a stored run in the form mode ----------------------------------------------------------


def template_text(scenario: Mapping[str, Any], key: str, language: str | None = None) -> str | None:
    """A template's ``name`` or ``description`` in the page's language (``language``, default: the page's) when
    its ``translations`` give one, else as written."""
    text = translated(scenario, key, str(get_locale()) if language is None else language)
    return None if text is None else str(text)


def template_choices(templates: Mapping[str, Mapping[str, Any]]) -> list[tuple[str, str]]:
    """(file stem, what the chooser shows) of each template: its ``description`` (else its ``name``), in the page's
    language when the template gives one (``translations``), with the file's name as a hint — ``当前流程基线：…
    （today）`` — by file name."""
    choices = []
    for stem, scenario in sorted(templates.items()):
        title = (template_text(scenario, "description") or template_text(scenario, "name") or "").strip()
        choices.append((stem, _("%(title)s（%(file)s）", title=title, file=stem) if title and title != stem else stem))
    return choices


def kept_on_load(args: Mapping[str, str], templates: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """What the person had typed before loading another template (载入模板 sends it along: ``typed_name``,
    ``typed_replications`` and ``from``, the template loaded until then) in fields the template does not set: the
    replications, and the name unless it is the one the earlier template gave (a name nobody typed follows the
    template)."""
    kept: dict[str, str] = {}
    replications = (args.get("typed_replications") or "").strip()
    if replications:
        kept["replications"] = replications[:runs.NAME_MAX]  # checked when the form is submitted, like any typed value
    name = (args.get("typed_name") or "").strip()
    earlier = args.get("from") or ""
    given = (template_text(templates[earlier], "name") or earlier) if earlier in templates else None
    if name and name != given:
        kept["name"] = name[:runs.NAME_MAX]
    return kept


def unshown_lines(unshown: list[run_request.Unshown], element_names: Mapping[str, str]) -> list[tuple[str, str, str]]:
    """(the setting's label with its side, the stored run's value, what the form mode would submit) of each setting
    of a stored run the form mode cannot hold."""
    lines = []
    for item in unshown:
        side = VARIANT_PREFIX if item.path.startswith(VARIANT_PREFIX) else ""
        key = item.path.removeprefix(side)
        where = key if key in ("name", "description") else _scenario_label(key, element_names)  # the scenario's
        lines.append((_("%(field)s（%(side)s）", field=where, side=SCENARIO_SIDES[side]), _value_text(item.stored),
                      _value_text(item.form)))
    return lines


def _value_text(value: Any) -> str:
    if value is None:
        return str(_("（无）"))
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
