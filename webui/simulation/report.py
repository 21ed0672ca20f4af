"""The report of a finished run as the page shows it: KPI and comparison rows with readable, translated names.

The stored result (``runner.simulation.run_execute``) names every KPI by its flat key (``cycle_time.all.
mean_working_days``, ``utilisation.surveyor`` …, ``runner.simulation.kpis.flat_kpis``); this module words them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flask_babel import pgettext

from runner.accounts import LANE_ROLES
from runner.simulation.kpis import EVERY_STEP_ON_TIME, QUEUE_WHILE_ARRIVING, pool_load_keys, queue_load_keys
from runner.simulation.report import (
    FEW_REPLICATIONS,
    calendar_spans,
    difference_text,
    interval_text,
    merged_spans,
    value_text,
    warnings_of,
)
from runner.simulation.run_execute import unmeasured as unmeasured_keys
from runner.simulation.whatif import counted_share_key

from ..i18n import _, _l
from ..labels import CATEGORY_LABELS, GROUP_LABELS, label

KPI_CONTEXT = "simulation KPI"
"""The msgctxt of KPI labels whose first English wording lacked the ``All: …, Mean`` form of the others."""


def _kpi(text: str, **variables: Any) -> str:
    """A KPI label translated in :data:`KPI_CONTEXT` (the Chinese is the same as without it)."""
    return str(pgettext(KPI_CONTEXT, text, **variables))


HEADLINE_KEYS = ("time_to_connect.all.mean_working_days", "time_to_connect.all.p90_working_days",
                 "cycle_time.all.mean_working_days", "on_time.case.share", f"{EVERY_STEP_ON_TIME}all.share",
                 "getting_electricity.working_days_to_connect", "getting_electricity.procedures",
                 "getting_electricity.customer_visits", "cost.paid.per_case", "cost.per_case", "escalations.per_case")
"""The KPIs of the summary table, in its order; utilisation and mean queue (while cases arrive) per pool follow."""
STAT_LABELS = {"mean": _l("平均"), "p50": _l("中位数"), "p90": "P90", "p95": "P95"}
OUTCOME_LABELS = {"better": _l("改善"), "worse": _l("变差"), "changed": _l("有变化"),
                  "negligible": _l("无实质差异"), "no_difference": _l("无显著差异"), "undetermined": _l("无法判断")}


@dataclass
class KpiRow:
    key: str
    label: str
    base: str
    variant: str | None = None
    censored: str | None = None
    """For a duration over completed (energised) cases only, when some are left out: the shares counted, worded."""


@dataclass
class ComparisonRow:
    key: str
    label: str
    base: str
    variant: str
    difference: str
    interval: str
    outcome: str
    outcome_label: str
    computed_interval: str | None = None
    """The Student-t interval as computed when ``interval`` shows it clipped to what a share can be (±100 pp)."""
    censored: str | None = None
    """For a duration over completed (energised) cases only, when some are left out: the shares counted, worded."""


@dataclass
class Report:
    kpis: list[KpiRow] = field(default_factory=list)
    comparison: list[ComparisonRow] = field(default_factory=list)
    """The headline KPIs and utilisation; ``more`` holds every other compared KPI."""
    more: list[ComparisonRow] = field(default_factory=list)
    verdicts: list[str] = field(default_factory=list)
    has_variant: bool = False
    replications: int = 1
    waiting: list[tuple[str, str, str]] = field(default_factory=list)  # element id, name, mean waiting hours
    estimated_after: str | None = None
    """The last day of official holiday data when a side's run went beyond it (its working days are estimated)."""
    few_replications: bool = False
    """A comparison of 2 to ``FEW_REPLICATIONS`` − 1 paired replications: its intervals are wide (the page says so)."""
    min_replications: int = FEW_REPLICATIONS
    clipped: bool = False
    """Some share's interval is shown clipped to ±100 percentage points (marked, the computed one in its tooltip)."""
    censored: bool = False
    """Some compared duration counts completed (energised) cases only while some are not (marked †)."""
    negligible: bool = False
    """Some compared difference is significant but below the practical threshold (无实质差异)."""
    warnings: list[str] = field(default_factory=list)
    """What the owner must know before reading the figures: fewer cases than asked for (or none), cases still open
    at the stop, pools never on shift while cases arrive, worded in the page's language."""
    estimated_days: str | None = None
    """The run's days whose working days are estimated (outside the years of official holiday data), worded."""
    unmeasured: bool = False
    """Some pool's utilisation is shown "—": it had no on-shift time while cases arrived."""
    kpis_censored: bool = False
    """Some duration of the summary counts completed (energised) cases only while some are not (marked †)."""


LOAD_PREFIX = "utilisation_while_arriving."
"""Utilisation while cases still arrive (start → last arrival): the load staff feel, shown with the headline KPIs,
as the verdicts and the chart read it (``pool_load_keys``: the whole-run figure only for a pool without it). Over
the whole run (``utilisation.``) the tail of long HV cases dilutes it; that figure stays in the full list."""


def formatted(key: str, value: float | None) -> str:
    """A KPI's value as the page (and the CLI's report.html) shows it: shares in %, others with separators."""
    return value_text(key, value)


def kpi_label(key: str, names: Mapping[str, str]) -> str:
    """The readable name of a flat KPI key; the key itself when it is not one we know."""
    parts = key.split(".")
    head = parts[0]
    if head in ("cycle_time", "time_to_connect") and len(parts) == 3 and parts[2] != "connected_share":
        category = _l("全部") if parts[1] == "all" else label(CATEGORY_LABELS, parts[1])
        if parts[2] == "completed_share":
            return _("%(category)s 办结率", category=category)
        stat, _sep, unit = parts[2].partition("_")
        days = _("工作日") if unit == "working_days" else _("自然日")
        if head == "cycle_time":  # the whole case, up to the end of the follow-up
            return _kpi("%(category)s 全流程时长 %(stat)s（%(unit)s）", category=category,
                     stat=STAT_LABELS.get(stat, stat), unit=days)
        return _("%(category)s 办电时长 %(stat)s（%(unit)s）", category=category,
                 stat=STAT_LABELS.get(stat, stat), unit=days)
    if head in ("cycle_time", "time_to_connect") and len(parts) == 3 and parts[2] == "connected_share":
        category = _l("全部") if parts[1] == "all" else label(CATEGORY_LABELS, parts[1])
        return _kpi("%(category)s 送电率（已送电案件占比）", category=category)
    if key == "on_time.case.share":
        return _("整体按期率（全流程时限）")
    if key.startswith(EVERY_STEP_ON_TIME) and len(parts) == 4:
        category = _l("全部") if parts[2] == "all" else label(CATEGORY_LABELS, parts[2])
        return _kpi("%(category)s 环节全部按期案件占比", category=category)
    if head == "on_time" and len(parts) == 4:
        return _("%(step)s 按期率", step=names.get(parts[2], parts[2]))
    if head in ("waiting", "processing") and len(parts) == 3:
        step = names.get(parts[1], parts[1])
        return _("%(step)s 平均等待（日历小时）", step=step) if head == "waiting" else \
            _("%(step)s 平均办理（日历小时）", step=step)
    if head == "utilisation" and len(parts) == 2:
        return _("%(pool)s 利用率（全程）", pool=label(GROUP_LABELS, parts[1]))
    if head == "utilisation_while_arriving" and len(parts) == 2:
        return _("%(pool)s 利用率（到达期间）", pool=label(GROUP_LABELS, parts[1]))
    if head == "queue" and len(parts) == 3:
        return _queue_label(parts[2], label(GROUP_LABELS, parts[1]))
    return _fixed_label(key, parts)


def _queue_label(stat: str, pool: str) -> str:
    if stat == "max_length":
        return _("%(pool)s 最长排队（件，全程）", pool=pool)
    if stat == QUEUE_WHILE_ARRIVING.lstrip("."):
        return _("%(pool)s 平均排队（件，到达期间，按时间加权）", pool=pool)
    # mean_length_whole_run, or mean_length in a result stored before the load while arriving was measured
    return _("%(pool)s 平均排队（件，全程，含最后到达后的尾期）", pool=pool)


def _fixed_label(key: str, parts: list[str]) -> str:
    fixed = {"cost.total": _("工作量成本合计（元）"), "cost.per_case": _("单户工作量成本（元）"),
             "cost.paid.total": _("人员成本（在岗）合计（元）"), "cost.paid.per_case": _("单户人员成本（在岗）（元）"),
             "getting_electricity.procedures": _("获得电力：办电环节数"),
             "getting_electricity.customer_visits": _("获得电力：客户跑动次数"),
             "getting_electricity.days_to_connect": _("获得电力：接电自然日（至送电）"),
             "getting_electricity.working_days_to_connect": _("获得电力：接电工作日（至送电）"),
             "escalations.total": _("督办次数"), "escalations.per_case": _("户均督办次数"),
             "escalations.cases_share": _("被督办案件占比")}
    if key in fixed:
        return fixed[key]
    if parts[:3] == ["cost", "paid", "pool"] and len(parts) == 4:
        return _("%(pool)s 人员成本（在岗）（元）", pool=label(GROUP_LABELS, parts[3]))
    if parts[0] == "cost" and len(parts) == 3:
        return _("%(pool)s 工作量成本（元）", pool=label(GROUP_LABELS, parts[2]))
    return key


def _names(result: Mapping[str, Any]) -> dict[str, str]:
    names: dict[str, str] = {}
    for side in result.get("sides", {}).values():
        for eid, activity in side.get("kpis", {}).get("activities", {}).items():
            names.setdefault(eid, str(activity.get("activity") or eid))
    return names


def _pool_named(sentence: str) -> str:
    """A verdict about a pool (``surveyor利用率提高 …``) with the pool's label instead of its code."""
    for code in sorted(GROUP_LABELS, key=len, reverse=True):
        if sentence.startswith(code):
            return label(GROUP_LABELS, code) + sentence[len(code):]
    return sentence


def _load_keys(keys: Iterable[str]) -> set[str]:
    """The flat keys of each pool's utilisation and mean queue as the summary, the verdicts and the chart show them:
    while cases arrive."""
    keys = list(keys)
    return {*pool_load_keys(keys).values(), *queue_load_keys(keys).values()}


def _order(key: str, loads: set[str]) -> tuple[int, int, str]:
    """Headline KPIs in their order, then each pool's utilisation, then each pool's mean queue, pools in the
    process's lane order (as the form lists the pools), then every other KPI by key."""
    if key in HEADLINE_KEYS:
        return HEADLINE_KEYS.index(key), 0, key
    if key in loads:
        is_queue = key.startswith("queue.")
        pool = key.split(".")[1] if is_queue else key.rsplit(".", 1)[-1]
        lane = LANE_ROLES.index(pool) if pool in LANE_ROLES else len(LANE_ROLES)
        return len(HEADLINE_KEYS), lane + (len(LANE_ROLES) + 1) * is_queue, key
    return len(HEADLINE_KEYS) + 1, 0, key


def censored_text(row: Mapping[str, Any]) -> str | None:
    """What a compared duration leaves out: the shares of completed (energised) cases it counts, when below 100 %."""
    shares = row.get("completed_shares")
    if not shares:
        return None
    base, variant = (f"{float(share) * 100:.1f}%" for share in shares)
    if str(row["key"]).startswith("time_to_connect."):
        return _("仅计已送电案件：基准方案 %(base)s、对比方案 %(variant)s；其余案件未计入", base=base, variant=variant)
    return _("仅计已办结案件：基准方案 %(base)s、对比方案 %(variant)s；其余案件未计入", base=base, variant=variant)


def estimated_after(sides: Mapping[str, Any]) -> str | None:
    """The last day of official holiday data when a side's run (replication 0) went beyond it, else None."""
    for data in sides.values():
        calendar = data.get("kpis", {}).get("calendar") or {}
        if calendar.get("estimated"):
            return str(calendar.get("estimated_after") or "")
    return None


SIDE_NAMES = {"base": _l("基准方案"), "variant": _l("对比方案")}


def _side(side: str, scenario: str) -> str:
    return _("%(side)s（%(scenario)s）", side=SIDE_NAMES.get(side, side), scenario=scenario)


def _counts(counts: Sequence[int]) -> str:
    low, high = min(counts), max(counts)
    return f"{low:,d}" if low == high else f"{low:,d}–{high:,d}"


def warning_texts(result: Mapping[str, Any]) -> list[str]:
    """The run's warnings (``report.warnings_of``, kept with the result; a result stored before: found in
    replication 0's KPIs) in the page's language."""
    sides = result.get("sides", {})
    found = result.get("warnings")
    if found is None:
        found = warnings_of({side: [data["kpis"]] for side, data in sides.items() if "kpis" in data},
                            {side: str(data.get("scenario") or "") for side, data in sides.items()},
                            dict.fromkeys(sides, result.get("cases")))
    texts = []
    for item in found.get("shortfalls", []):
        who = _side(item["side"], item["scenario"])
        if item.get("requested") is None:
            texts.append(_("%(who)s：没有案件到达：到达期（申请到达时段，否则 max_days）内没有到达日历的受理日"
                           "（如节假日），报告为空。", who=who))
        else:
            texts.append(_("%(who)s：请求 %(requested)s 户，到达期（申请到达时段，否则 max_days）结束时每次仅到达 "
                           "%(arrived)s 户：其余案件没有到达，指标只反映这些案件。", who=who,
                           requested=item["requested"], arrived=_counts(item["arrived"])))
    for item in found.get("open_at_stop", []):
        texts.append(_("%(who)s：时钟在 max_days（开始后 %(days)s 天）停止时，%(cut)s/%(n)s 次重复仍有未办结的案件"
                       "（到达的 %(arrived)s 户中 %(open)s 户）：它们的时长未计入指标，标 † 的时长只反映办得快的案件，"
                       "偏短，不能读作办理更快；可调大 max_days 使其办结。", who=_side(item["side"], item["scenario"]),
                       days=f"{float(item['days']):g}", cut=len(item["open"]), n=item["replications"],
                       arrived=_counts(item["arrived"]), open=_counts(item["open"])))
    for item in found.get("off_shift", []):
        texts.append(_("%(who)s：岗位 %(pool)s 在案件到达期间没有在岗时间（其日历的工作日或班次不在此期间）："
                       "利用率无法计算（显示为 —），需要它办理的案件只能等到它的下一个班次。",
                       who=_side(item["side"], item["scenario"]), pool=label(GROUP_LABELS, item["pool"])))
    return texts


def estimated_days_text(result: Mapping[str, Any]) -> str | None:
    """The run's days whose working days are estimated, worded as the CLI's report names them: every replication of
    both sides, overlapping spans merged (``report.estimated_days``, kept with the result; a result stored before:
    replication 0's); None when there are none."""
    stored = result.get("estimated_days")
    if stored is not None:
        spans = [(str(first), str(last)) for first, last in stored]
    else:
        spans = merged_spans([span for data in result.get("sides", {}).values()
                              for span in calendar_spans(data.get("kpis", {}))])
    if not spans:
        return None
    return str(_("、")).join(first if first == last else _("%(first)s 至 %(last)s", first=first, last=last)
                            for first, last in spans)


def _censored_kpi(key: str, flats: Sequence[Mapping[str, float] | None]) -> str | None:
    """For a duration counted over completed (energised) cases only: the shares counted, when some side's is below
    100 % (the figure then leaves the slow, unfinished cases out)."""
    share_key = counted_share_key(key)
    if share_key is None:
        return None
    shares = [flat.get(share_key) for flat in flats if flat is not None]
    if all(share is None or share >= 1.0 for share in shares):
        return None
    shown = " / ".join(formatted(share_key, share) for share in shares)
    if key.startswith("time_to_connect."):
        return _("仅计已送电案件（送电率 %(shares)s）；其余案件未计入，时长偏短", shares=shown)
    return _("仅计已办结案件（办结率 %(shares)s）；其余案件未计入，时长偏短", shares=shown)


def build_report(result: Mapping[str, Any], lang: str = "zh_CN", side: str = "base") -> Report:
    """The rows the run page shows: summary KPIs (base, and variant when compared), the comparison, verdicts."""
    names = _names(result)
    sides = result.get("sides", {})
    base = sides.get("base", {}).get("flat", {})
    variant = sides.get("variant", {}).get("flat") if "variant" in sides else None
    report = Report(has_variant=variant is not None, replications=int(result.get("replications") or 1))
    report.few_replications = variant is not None and 2 <= report.replications < FEW_REPLICATIONS
    unmeasured = {key for data in sides.values() for key in unmeasured_keys(data)}
    loads = _load_keys({*base, *(variant or {}), *unmeasured})
    for key in sorted((k for k in {*base, *unmeasured} if k in HEADLINE_KEYS or k in loads),
                      key=lambda k: _order(k, loads)):
        censored = _censored_kpi(key, [base, variant])
        report.kpis_censored = report.kpis_censored or censored is not None
        report.unmeasured = report.unmeasured or key in unmeasured
        report.kpis.append(KpiRow(key, kpi_label(key, names), formatted(key, base.get(key)),
                                  formatted(key, variant.get(key)) if variant is not None else None, censored))
    comparison = result.get("comparison") or {}
    compared = _load_keys(str(row["key"]) for row in comparison.get("kpis", []))
    for row in sorted(comparison.get("kpis", []), key=lambda r: _order(str(r["key"]), compared)):
        key = str(row["key"])
        interval = interval_text(key, row.get("ci_low"), row.get("ci_high"))
        report.clipped = report.clipped or interval.clipped
        censored = censored_text(row)
        report.censored = report.censored or censored is not None
        report.negligible = report.negligible or row["outcome"] == "negligible"
        rows = report.comparison if _order(key, compared)[0] <= len(HEADLINE_KEYS) else report.more
        rows.append(ComparisonRow(
            key, kpi_label(key, names), formatted(key, row["base_mean"]), formatted(key, row["variant_mean"]),
            difference_text(key, row["mean_difference"]), interval.text, str(row["outcome"]),
            str(OUTCOME_LABELS.get(str(row["outcome"]), row["outcome"])), interval.computed, censored))
    verdicts = comparison.get("verdicts", {})
    report.verdicts = [_pool_named(line) for line in verdicts.get("en" if lang == "en" else "zh", [])]
    report.estimated_after = estimated_after(sides)
    report.estimated_days = estimated_days_text(result)
    report.warnings = warning_texts(result)
    heat = sides.get(side if side in sides else "base", {}).get("heatmap", {})  # the heatmap's side
    report.waiting = [(eid, str(entry["name"]), f"{entry['mean_waiting_hours']:.1f}")
                      for eid, entry in sorted(heat.items(), key=lambda item: -item[1]["mean_waiting_hours"])]
    return report
