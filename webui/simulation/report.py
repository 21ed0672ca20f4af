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
from runner.simulation import labels
from runner.simulation.kpis import EVERY_STEP_ON_TIME, pool_load_keys, queue_load_keys
from runner.simulation.labels import Template, Wording
from runner.simulation.report import (
    FEW_REPLICATIONS,
    calendar_spans,
    difference_text,
    interval_text,
    left_out,
    merged_spans,
    value_text,
    warnings_of,
)
from runner.simulation.run_execute import unmeasured as unmeasured_keys
from runner.simulation.whatif import counted_share_key, is_on_time_share, true_minus

from ..i18n import _, _l
from ..labels import CATEGORY_LABELS, GROUP_LABELS, label


def _say(template: Template, **variables: Any) -> str:
    """A shared KPI label template (``runner.simulation.labels``) in the request's language."""
    if template.context is not None:
        return str(pgettext(template.context, template.msgid, **variables))
    return _(template.msgid, **variables)


WORDING = Wording(say=_say, category=lambda code: label(CATEGORY_LABELS, code),
                  pool=lambda code: label(GROUP_LABELS, code))
"""How the page words KPI labels: the shared templates translated, categories and pools by the UI's labels."""


HEADLINE_KEYS = ("time_to_connect.all.mean_working_days", "time_to_connect.all.p90_working_days",
                 "cycle_time.all.mean_working_days", "on_time.case.share", f"{EVERY_STEP_ON_TIME}all.share",
                 "getting_electricity.working_days_to_connect", "getting_electricity.procedures",
                 "getting_electricity.customer_visits", "cost.paid.per_case", "cost.per_case", "escalations.per_case")
"""The KPIs of the summary table, in its order; utilisation and mean queue (while cases arrive) per pool follow."""
OUTCOME_LABELS = {"better": _l("改善"), "worse": _l("变差"), "changed": _l("有变化"),
                  "negligible": _l("无实质差异"), "no_difference": _l("无显著差异"), "undetermined": _l("无法判断"),
                  "one_sided": _l("仅一方有此指标")}


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
    """For a duration over completed (energised) cases only, when some are left out: the shares counted, worded;
    for a step's mean wait that counts work still waiting at the stop: how much, per side (a lower bound)."""


@dataclass(frozen=True)
class WaitingRow:
    """A step of the heat map's table: its mean wait, and the work still waiting at the stop it counts (†)."""

    eid: str
    name: str
    hours: str
    open_title: str | None = None
    """When the figure counts work still waiting at the stop (a lower bound, marked †): how much, worded."""


@dataclass
class Report:
    kpis: list[KpiRow] = field(default_factory=list)
    comparison: list[ComparisonRow] = field(default_factory=list)
    """The headline KPIs and utilisation; ``more`` holds every other compared KPI."""
    more: list[ComparisonRow] = field(default_factory=list)
    verdicts: list[str] = field(default_factory=list)
    has_variant: bool = False
    replications: int = 1
    waiting: list[WaitingRow] = field(default_factory=list)
    waiting_open: bool = False
    """Some step of the heat map's table counts work still waiting at the stop (†, footnoted)."""
    compared_waiting_open: bool = False
    """Some compared step's mean wait in the full list does (†, footnoted)."""
    one_sided: bool = False
    """Some compared KPI only one side has ("—" on the other, no difference: footnoted)."""
    waiting_note: str = ""
    """The footnote of a † mean wait (it counts work still waiting at the stop: at least this), in the page's
    language: under the tables, and the heat map's badges' tooltip."""
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
    on_time_censored: bool = False
    """Some compared share of cases on time leaves out open cases whose outcome is not known yet (marked †)."""
    kpis_on_time_censored: bool = False
    """The same in the summary."""


LOAD_PREFIX = "utilisation_while_arriving."
"""Utilisation while cases still arrive (start → last arrival): the load staff feel, shown with the headline KPIs,
as the verdicts and the chart read it (``pool_load_keys``: the whole-run figure only for a pool without it). Over
the whole run (``utilisation.``) the tail of long HV cases dilutes it; that figure stays in the full list."""


def formatted(key: str, value: float | None) -> str:
    """A KPI's value as the page (and the CLI's report.html) shows it: shares in %, others with separators."""
    return value_text(key, value)


def kpi_label(key: str, names: Mapping[str, str]) -> str:
    """The readable name of a flat KPI key, as the CLI's report.html names it (``runner.simulation.labels``) but
    translated; the key itself when it is not one we know."""
    return labels.kpi_label(key, names, WORDING)


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


def censored_text(row: Mapping[str, Any], arrived: Mapping[str, Sequence[int]] | None = None) -> str | None:
    """What a compared row leaves out, when it does: a duration the cases not completed (energised), a share of
    cases on time the open cases whose outcome is not known yet — the shares counted, and for the latter how many
    cases each side left out per replication (``arrived``: per side, the cases that arrived in each)."""
    shares = row.get("completed_shares")
    if not shares:
        return None
    # a side without the share (a one-sided row): "—"
    base, variant = ("—" if share is None else f"{float(share) * 100:.1f}%" for share in shares)
    key = str(row["key"])
    if is_on_time_share(key):
        base_n, variant_n = ("—" if share is None else left_out(float(share), (arrived or {}).get(side, [])) or "—"
                             for share, side in zip(shares, ("base", "variant"), strict=True))
        return _("仅计结果已知的案件：基准方案 %(base)s、对比方案 %(variant)s；每次未计入基准方案 %(base_n)s 户、"
                 "对比方案 %(variant_n)s 户（未办结且尚未超出时限，结果未知）", base=base, variant=variant,
                 base_n=base_n, variant_n=variant_n)
    if key.startswith("time_to_connect."):
        return _("仅计已送电案件：基准方案 %(base)s、对比方案 %(variant)s；其余案件未计入", base=base, variant=variant)
    return _("仅计已办结案件：基准方案 %(base)s、对比方案 %(variant)s；其余案件未计入", base=base, variant=variant)


def cases_arrived(sides: Mapping[str, Any]) -> dict[str, list[int]]:
    """Per side, the cases that arrived in each replication (a result stored before they were kept: replication
    0's)."""
    arrived: dict[str, list[int]] = {}
    for side, data in sides.items():
        counts = data.get("cases_arrived")
        if counts is None:
            first = ((data.get("kpis") or {}).get("cycle_time") or {}).get("all") or {}
            counts = [first["arrived"]] if "arrived" in first else []
        arrived[side] = [int(count) for count in counts]
    return arrived


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
        texts.append(_("%(who)s：时钟在开始后 %(days)s 天（场景的 max_days）停止时，%(cut)s/%(n)s 次重复仍有"
                       "未办结的案件（到达的 %(arrived)s 户中 %(open)s 户）：它们的时长未计入指标，标 † 的时长"
                       "只反映办得快的案件，偏短，不能读作办理更快；可在“高级”编辑方式中调大 max_days 使其办结。",
                       who=_side(item["side"], item["scenario"]),
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


def _censored_kpi(key: str, flats: Sequence[Mapping[str, float] | None],
                  arrived: Sequence[Sequence[int]] = ()) -> str | None:
    """For a duration counted over completed (energised) cases only, or a share of cases on time judged over the
    cases with a known outcome only: the shares counted, when some side's is below 100 % (a duration then leaves
    the slow, unfinished cases out; an on-time share the open cases not yet late, whose count per replication it
    says; ``arrived``: per side, as ``flats``, the cases that arrived in each replication)."""
    share_key = counted_share_key(key)
    if share_key is None:
        return None
    counted = [(flat.get(share_key), cases) for flat, cases in zip(flats, [*arrived, *[()] * len(flats)],
                                                                     strict=False) if flat is not None]
    shares = [share for share, _cases in counted]
    if all(share is None or share >= 1.0 for share in shares):
        return None
    shown = " / ".join(formatted(share_key, share) for share in shares)
    if is_on_time_share(key):
        counts = " / ".join("—" if share is None or not cases else left_out(share, cases) or "0"
                            for share, cases in counted)
        return _("仅计结果已知的案件（占到达案件 %(shares)s）；每次未计入 %(counts)s 户：未办结且尚未超出时限，"
                 "结果未知", shares=shown, counts=counts)
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
    arrived = cases_arrived(sides)
    unmeasured = {key for data in sides.values() for key in unmeasured_keys(data)}
    loads = _load_keys({*base, *(variant or {}), *unmeasured})
    # a KPI either side has ("—" on the other: whatif.ZERO_WHEN_ABSENT tells the comparison which read as 0)
    for key in sorted((k for k in {*base, *(variant or {}), *unmeasured} if k in HEADLINE_KEYS or k in loads),
                      key=lambda k: _order(k, loads)):
        censored = _censored_kpi(key, [base, variant], [arrived.get("base", []), arrived.get("variant", [])])
        if is_on_time_share(key):
            report.kpis_on_time_censored = report.kpis_on_time_censored or censored is not None
        else:
            report.kpis_censored = report.kpis_censored or censored is not None
        report.unmeasured = report.unmeasured or key in unmeasured
        report.kpis.append(KpiRow(key, kpi_label(key, names), formatted(key, base.get(key)),
                                  formatted(key, variant.get(key)) if variant is not None else None, censored))
    comparison = result.get("comparison") or {}
    compared = _load_keys(str(row["key"]) for row in comparison.get("kpis", []))
    open_work = {name: open_waits(data) for name, data in sides.items()}
    for row in sorted(comparison.get("kpis", []), key=lambda r: _order(str(r["key"]), compared)):
        key = str(row["key"])
        interval = interval_text(key, row.get("ci_low"), row.get("ci_high"))
        report.clipped = report.clipped or interval.clipped
        censored = censored_text(row, arrived)
        waits_open = compared_open_text(key, open_work)
        if is_on_time_share(key):
            report.on_time_censored = report.on_time_censored or censored is not None
        elif censored is not None:
            report.censored = True
        elif waits_open is not None:
            censored, report.compared_waiting_open = waits_open, True
        report.negligible = report.negligible or row["outcome"] == "negligible"
        report.one_sided = report.one_sided or row["outcome"] == "one_sided"
        rows = report.comparison if _order(key, compared)[0] <= len(HEADLINE_KEYS) else report.more
        rows.append(ComparisonRow(
            key, kpi_label(key, names), formatted(key, row["base_mean"]), formatted(key, row["variant_mean"]),
            difference_text(key, row.get("mean_difference")), interval.text, str(row["outcome"]),
            str(OUTCOME_LABELS.get(str(row["outcome"]), row["outcome"])), interval.computed, censored))
    verdicts = comparison.get("verdicts", {})
    # negative numbers with a true minus sign, in a result stored before the verdicts wrote one too
    report.verdicts = [true_minus(_pool_named(line)) for line in verdicts.get("en" if lang == "en" else "zh", [])]
    report.estimated_after = estimated_after(sides)
    report.estimated_days = estimated_days_text(result)
    report.warnings = warning_texts(result)
    shown = sides.get(side if side in sides else "base", {})  # the heatmap's side
    report.waiting = [WaitingRow(eid, name, f"{hours:.1f}", _say(labels.WAITING_OPEN, count=still) if still else None)
                      for eid, name, hours, still in waiting_rows(shown)]
    report.waiting_open = any(row.open_title for row in report.waiting)
    report.waiting_note = _say(labels.WAITING_OPEN_NOTE)
    return report


WAITING_KEY = ("waiting.", ".mean_hours")
"""Prefix and suffix of a step's mean waiting time among the flat KPIs."""


def open_waits(side: Mapping[str, Any]) -> dict[str, int]:
    """Per step of a side's heat map, the work still waiting at the stop that its mean wait counts (over the
    replications; a result stored before it was kept: none)."""
    return {eid: int(entry.get("open") or 0) for eid, entry in (side.get("heatmap") or {}).items()
            if entry.get("open")}


def compared_open_text(key: str, open_work: Mapping[str, Mapping[str, int]]) -> str | None:
    """For a compared step's mean wait (``waiting.<step>.mean_hours``) that counts work still waiting at the stop
    on some side: how much per side (a lower bound, marked †); None otherwise."""
    prefix, suffix = WAITING_KEY
    if not (key.startswith(prefix) and key.endswith(suffix)):
        return None
    eid = key[len(prefix):-len(suffix)]
    base, variant = (open_work.get(name, {}).get(eid, 0) for name in ("base", "variant"))
    if not base and not variant:
        return None
    return _say(labels.WAITING_OPEN_SIDES, base=base, variant=variant)


def waiting_rows(side: Mapping[str, Any]) -> list[tuple[str, str, float, int]]:
    """The heat map's steps with their mean waiting hours, longest first: the figure of the full list's
    ``waiting.<step>.mean_hours`` (the mean over the replications of each one's mean per step instance, in calendar
    hours), so the two tables show one number per step; and the work still waiting at the stop that it counts up to
    the stop (0: none, the figure is no lower bound). A result stored before the heat map used that figure
    pooled all replications' instances instead: its flat figure is shown where there is one."""
    flat = side.get("flat", {})
    rows = [(eid, str(entry["name"]), float(flat.get(f"waiting.{eid}.mean_hours", entry["mean_waiting_hours"])),
             int(entry.get("open") or 0))
            for eid, entry in side.get("heatmap", {}).items()]
    return sorted(rows, key=lambda row: -row[2])
