"""The names of the simulation's KPIs: one source for the web report (translated) and the CLI's report.html.

A flat KPI key (:func:`runner.simulation.kpis.flat_kpis`) is worded from the templates below, Chinese msgids of the
web UI's English catalogue with ``%(name)s`` variables. :func:`kpi_label` words a key with a :data:`Say` function:
:func:`chinese` (the CLI's report.html, and the default) fills in the Chinese template; the web page passes its
gettext (``webui/simulation/report.py``), so both reports name every KPI alike (the CLI's ``P50`` stood where the
page said 中位数). ``make translations`` extracts this file with the web UI (markers ``N_`` and ``C_``, a msgid in a
context); runner/ imports nothing of the web UI.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ..roles import ROLE_NAMES
from .kpis import COUNTED_SHARE, EVERY_STEP_ON_TIME, QUEUE_WHILE_ARRIVING

KPI_CONTEXT = "simulation KPI"
"""The msgctxt of KPI labels whose first English wording lacked the ``All: …, Mean`` form of the others."""


@dataclass(frozen=True)
class Template:
    """A msgid (Chinese, with ``%(name)s`` variables) and its msgctxt, if any."""

    msgid: str
    context: str | None = None


def N_(msgid: str) -> Template:  # noqa: N802  (the gettext marker's conventional name)
    """A msgid for the web UI's catalogue (``make translations`` extracts it from here)."""
    return Template(msgid)


def C_(context: str, msgid: str) -> Template:  # noqa: N802
    """A msgid in a context (``make translations`` extracts it with ``-k C_:1c,2``)."""
    return Template(msgid, context)


class Say(Protocol):
    """Words a template: fills its variables in, in some language."""

    def __call__(self, template: Template, **variables: Any) -> str: ...


def chinese(template: Template, **variables: Any) -> str:
    """The template in Chinese, its variables filled in (as gettext does with the msgid itself)."""
    return template.msgid % variables if variables else template.msgid


CATEGORY_NAMES = {"lv_residential": "低压居民", "lv_smallmicro": "低压小微企业", "lv_other": "低压其他",
                  "hv_ordinary": "高压普通", "hv_important": "高压重要"}
"""The customer categories in Chinese, as the web UI's ``CATEGORY_LABELS`` (a test keeps them equal)."""

ALL = N_("全部")
WORKING_DAYS, CALENDAR_DAYS = N_("工作日"), N_("自然日")
STATS = {"mean": N_("平均"), "p50": N_("中位数")}
"""Statistics named in words; the percentiles (``p90`` → P90) are named by their symbol."""
COMPLETED_SHARE = N_("%(category)s 办结率")
CYCLE_TIME = C_(KPI_CONTEXT, "%(category)s 全流程时长 %(stat)s（%(unit)s）")
TIME_TO_CONNECT = N_("%(category)s 办电时长 %(stat)s（%(unit)s）")
CONNECTED_SHARE = C_(KPI_CONTEXT, "%(category)s 送电率（已送电案件占比）")
CASE_ON_TIME = N_("整体按期率（全流程时限）")
CASE_COUNTED = N_("整体按期率：结果已知案件占比")
EVERY_STEP = C_(KPI_CONTEXT, "%(category)s 环节全部按期案件占比")
EVERY_STEP_COUNTED = N_("%(category)s 环节全部按期：结果已知案件占比")
STEP_ON_TIME = N_("%(step)s 按期率")
WAITING = N_("%(step)s 平均等待（日历小时）")
PROCESSING = N_("%(step)s 平均办理（日历小时）")
UTILISATION = N_("%(pool)s 利用率（全程）")
UTILISATION_WHILE_ARRIVING = N_("%(pool)s 利用率（到达期间）")
QUEUE_MAX = N_("%(pool)s 最长排队（件，全程）")
QUEUE_WHILE_ARRIVING_LABEL = N_("%(pool)s 平均排队（件，到达期间，按时间加权）")
QUEUE_WHOLE_RUN = N_("%(pool)s 平均排队（件，全程，含最后到达后的尾期）")
POOL_PAID_COST = N_("%(pool)s 人员成本（在岗）（元）")
POOL_COST = N_("%(pool)s 工作量成本（元）")
WAITING_OPEN_NOTE = N_("† 含截至仿真结束仍在等待的工作，实际等待至少为此值："
                       "仍在排队的工作按等待至仿真结束计入平均等待。")
"""The footnote of a step's mean waiting time marked † (the heat map, its table, the full list): some of its work was
still waiting when the run stopped (``kpis.activity_kpis``' ``waiting_open``), counted as waiting up to the stop."""
WAITING_OPEN = N_("含截至仿真结束仍在等待的工作 %(count)s 件（各次重复合计），实际等待至少为此值")
"""The tooltip of one side's † wait (the heat map and its table)."""
WAITING_OPEN_SIDES = N_("含截至仿真结束仍在等待的工作（各次重复合计：基准方案 %(base)s 件、对比方案 %(variant)s 件），"
                        "实际等待至少为此值")
"""The tooltip of a compared † wait (the full list)."""
FIXED = {
    "cost.total": N_("工作量成本合计（元）"), "cost.per_case": N_("单户工作量成本（元）"),
    "cost.paid.total": N_("人员成本（在岗）合计（元）"), "cost.paid.per_case": N_("单户人员成本（在岗）（元）"),
    "getting_electricity.procedures": N_("获得电力：办电环节数"),
    "getting_electricity.customer_visits": N_("获得电力：客户跑动次数"),
    "getting_electricity.days_to_connect": N_("获得电力：接电自然日（至送电）"),
    "getting_electricity.working_days_to_connect": N_("获得电力：接电工作日（至送电）"),
    "escalations.total": N_("督办次数"), "escalations.per_case": N_("户均督办次数"),
    "escalations.cases_share": N_("被督办案件占比"),
    f"on_time.case{COUNTED_SHARE}": CASE_COUNTED,
}
"""KPIs with a name of their own."""


@dataclass(frozen=True)
class Wording:
    """How :func:`kpi_label` words a label: the templates (``say``), customer categories and staff pools."""

    say: Say = chinese
    category: Callable[[str], str] | None = None
    """A category's name (default :data:`CATEGORY_NAMES`)."""
    pool: Callable[[str], str] | None = None
    """A pool's name (default: its role's name, :data:`runner.roles.ROLE_NAMES`, else its lane's)."""


def templates() -> list[Template]:
    """Every template of this module (the catalogue must translate each one)."""
    return [value for value in (*globals().values(), *STATS.values(), *FIXED.values())
            if isinstance(value, Template)]


def kpi_label(key: str, names: Mapping[str, str] | None = None, wording: Wording | None = None) -> str:
    """The readable name of a flat KPI key (``names``: element id → step name, role → lane name); the key itself
    when it is not one we know."""
    names = names or {}
    words = wording or Wording()
    say = words.say

    def category(code: str) -> str:
        if code == "all":
            return say(ALL)
        return words.category(code) if words.category else CATEGORY_NAMES.get(code, code)

    def pool(code: str) -> str:
        return words.pool(code) if words.pool else ROLE_NAMES.get(code) or names.get(code, code)

    parts = key.split(".")
    head = parts[0]
    if key in FIXED:
        return say(FIXED[key])
    if head in ("cycle_time", "time_to_connect") and len(parts) == 3:
        if parts[2] == "completed_share":
            return say(COMPLETED_SHARE, category=category(parts[1]))
        if parts[2] == "connected_share":
            return say(CONNECTED_SHARE, category=category(parts[1]))
        stat, _sep, unit = parts[2].partition("_")
        stat_name = say(STATS[stat]) if stat in STATS else stat.upper()
        days = say(WORKING_DAYS) if unit == "working_days" else say(CALENDAR_DAYS)
        return say(CYCLE_TIME if head == "cycle_time" else TIME_TO_CONNECT, category=category(parts[1]),
                   stat=stat_name, unit=days)
    if key == "on_time.case.share":
        return say(CASE_ON_TIME)
    if key.startswith(EVERY_STEP_ON_TIME) and len(parts) == 4:
        template = EVERY_STEP_COUNTED if key.endswith(COUNTED_SHARE) else EVERY_STEP
        return say(template, category=category(parts[2]))
    if head == "on_time" and len(parts) == 4:
        return say(STEP_ON_TIME, step=names.get(parts[2], parts[2]))
    if head in ("waiting", "processing") and len(parts) == 3:
        return say(WAITING if head == "waiting" else PROCESSING, step=names.get(parts[1], parts[1]))
    if head == "utilisation" and len(parts) == 2:
        return say(UTILISATION, pool=pool(parts[1]))
    if head == "utilisation_while_arriving" and len(parts) == 2:
        return say(UTILISATION_WHILE_ARRIVING, pool=pool(parts[1]))
    if head == "queue" and len(parts) == 3:
        if parts[2] == "max_length":
            return say(QUEUE_MAX, pool=pool(parts[1]))
        if parts[2] == QUEUE_WHILE_ARRIVING.lstrip("."):
            return say(QUEUE_WHILE_ARRIVING_LABEL, pool=pool(parts[1]))
        # mean_length_whole_run, or mean_length in a result stored before the load while arriving was measured
        return say(QUEUE_WHOLE_RUN, pool=pool(parts[1]))
    if parts[:3] == ["cost", "paid", "pool"] and len(parts) == 4:
        return say(POOL_PAID_COST, pool=pool(parts[3]))
    if head == "cost" and len(parts) == 3 and parts[1] == "pool":
        return say(POOL_COST, pool=pool(parts[2]))
    return key
