"""The output folder of ``baozhuang simulate --out DIR``: KPIs, comparison, event logs and a self-contained report.

Files: ``kpis.json`` (every replication's KPIs, each with its seed and replication index, and their means, per
scenario), ``comparison.json`` (when comparing), ``event_log.csv`` / ``event_log.xes`` (replication 0 of the base;
``variant_event_log.*`` of the variant; the CSV holds completed steps, the XES every step), ``cancelled_steps.csv``
(the steps a timer or another branch ended, same columns; ``variant_cancelled_steps.csv``), ``prosimos_log.csv``
(Prosimos's own shape: its six columns, completed tasks, no event rows) and ``report.html``: one page with inline SVG
charts drawn here (no script, no network) — cycle-time distribution, on-time share per step, utilisation and mean
queue per pool while cases arrive, queue length over time — and the comparison table with its verdicts, labelled in
Chinese, with what the two on-time shares mean, when a difference is negligible and which durations leave open cases
out, and which steps' mean waits include work still waiting at the stop (†: at least this). A KPI only one scenario
has shows "—" for the other, without a difference (``whatif.ZERO_WHEN_ABSENT``). Negative numbers carry a true
minus sign (−), in the verdicts too (the JSON files keep them as written). Warnings head the page: fewer cases
arrived than asked for (or none at all), cases still open when ``max_days`` stopped the clock, pools with no on-shift
time while cases arrive (their utilisation "—", not 0 %), the run's days whose working days are estimated (outside
the years of official holiday data). Nothing in the files depends on the wall clock, so the same seed gives
identical files.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from html import escape
from pathlib import Path
from typing import Any

from ..roles import ROLE_NAMES
from ..workdays import WorkingCalendar
from . import eventlog, labels
from .batch import BASE, VARIANT, BatchResult, mean_flat
from .kpis import (
    COUNTED_SHARE,
    EVERY_STEP_ON_TIME,
    SECONDS_PER_DAY,
    pool_load_keys,
    queue_chart_span,
    queue_load_keys,
    queued_pools,
    unmeasured_load_keys,
)
from .model import SimulationLog
from .scenario import Scenario
from .whatif import (
    MINUS,
    RELATIVE_THRESHOLD,
    Comparison,
    KpiComparison,
    censoring_note,
    interval,
    is_on_time_share,
    minus,
    true_minus,
)

COLORS = {BASE: "#4e79a7", VARIANT: "#f28e2b"}
SIDE_LABELS = {BASE: "基准方案", VARIANT: "对比方案"}
"""The sides as the web page names them (``webui/simulation/report.py``): one pair in every report."""
OUTCOME_LABELS = {"better": "改善", "worse": "变差", "changed": "有变化", "negligible": "无实质差异",
                  "no_difference": "无显著差异", "undetermined": "无法判断", "one_sided": "仅一方有此指标"}
MAIN_TABLE_PREFIXES = ("time_to_connect.all.", "cycle_time.all.", "on_time.case.", f"{EVERY_STEP_ON_TIME}all.",
                       "cost.total", "cost.per_case",
                       "cost.paid.total", "cost.paid.per_case", "getting_electricity.", "escalations.")
"""With each pool's utilisation and mean queue as the verdicts read them (``kpis.pool_load_keys``,
``kpis.queue_load_keys``): while cases arrive."""


ON_TIME_NOTE = ("整体按期率（全流程时限）：供电企业办理用时合计未超过全流程时限的案件占比，单个环节超期可由其他环节"
                "提前完成抵消；环节全部按期案件占比：每个有时限的环节都在各自时限内完成的案件占比（法定时限按环节适用，"
                "任一环节超期即不计为按期）。两者不同时，说明有环节超期而全流程仍在时限内。")
NEGLIGIBLE_NOTE = (f"无实质差异：差值统计上显著，但小于基准方案值的 {RELATIVE_THRESHOLD:.0%}，"
                   "或小于该单位的最小有意义差值（比例 0.5 个百分点，天数 0.1 天，小时 0.1 小时，平均排队 0.05 件，"
                   "最长排队 1 件，金额 1 元，户均次数 0.01 次）。")
CENSORED_NOTE = ("标 † 的时长只计已办结（办电时长：已送电）的案件；未办结的案件不计入，平均值偏低；两方案比例不同时，"
                 "时长不可直接比较。比例见该格提示与结论。")
ON_TIME_CENSORED_NOTE = ("标 † 的按期率只计结果已知的案件：未办结的案件若已有环节超出时限（整体按期率：全流程已超期），"
                         "计为不按期；尚未超出时限的结果未知，不计入。两方案比例不同时，按期率不可直接比较。"
                         "计入的比例与未计入的户数见该格提示。")
ONE_SIDED_NOTE = ("“仅一方有此指标”：该指标只有一个方案有数值（如仅一方出现的环节，或没有已办结案件的客户类别），"
                  "另一方显示为 —，不计算差值与区间。督办次数、排队长度与各岗位成本缺失时即为 0，照常比较。")
FEW_REPLICATIONS = 5
"""Below this many paired replications the report says that its confidence intervals are wide: the Student-t
quantile of so few degrees of freedom is large (12.7 with 2 replications, 2.78 with 5) and the spread of 2–4 pairs
is itself a rough guess. At least 5–10 replications give intervals one can read."""
SHARE_PREFIXES = ("utilisation.", "utilisation_while_arriving.")
SHARE_LIMIT = 100.0
"""A difference of two shares lies within ±100 percentage points: an interval is shown clipped to that, and marked."""


def kpi_label(key: str, names: dict[str, str] | None = None) -> str:
    """A Chinese label for a flat KPI key, the web page's (:func:`runner.simulation.labels.kpi_label`): pools by their
    role names, element ids by their names when known."""
    return labels.kpi_label(key, names)


# -- numbers as the reader reads them ---------------------------------------------------------------------------------
# The CLI's report.html and the web page (webui/simulation/report.py) format alike: shares in %, differences of
# shares in percentage points, every other figure with thousands separators and two decimals.

def is_share(key: str) -> bool:
    """Whether a flat KPI is a share (0–1): utilisation, on-time, completed, counted shares, the share of cases
    escalated (``escalations.cases_share``) — every key whose last part is ``share`` or ends in ``_share``."""
    last = key.rsplit(".", 1)[-1]
    return key.startswith(SHARE_PREFIXES) or last == "share" or last.endswith("_share")


def value_text(key: str, value: float | None) -> str:
    """A KPI's value: ``48.5%`` for a share, ``1,195.33`` otherwise, ``—`` when missing; a negative one with a true
    minus sign (:func:`whatif.minus`)."""
    if value is None:
        return "—"
    return minus(f"{value * 100:.1f}%" if is_share(key) else f"{value:,.2f}")


def difference_text(key: str, difference: float | None) -> str:
    """A difference variant − base: ``+14.56 pp`` for a share, ``−11,000.00`` otherwise (a true minus sign, as
    the intervals; a tiny one keeps its sign, ``−0.00``: which way it went), ``—`` for none (a one-sided KPI)."""
    if difference is None:
        return "—"
    text = f"{difference * 100:+,.2f} pp" if is_share(key) else f"{difference:+,.2f}"
    return MINUS + text[1:] if text.startswith("-") else text


@dataclass(frozen=True)
class IntervalText:
    """A confidence interval as shown: ``text`` (clipped to what is possible for a share), and when it was clipped,
    ``computed``: the Student-t interval as computed, unchanged in the stored comparison."""

    text: str
    computed: str | None = None

    @property
    def clipped(self) -> bool:
        return self.computed is not None


def interval_text(key: str, low: float | None, high: float | None) -> IntervalText:
    """The 95 % interval of a difference, ``[−3.30, 0.30]`` (:func:`whatif.interval`); a share's in percentage
    points, clipped to ±100 (and says so)."""
    if low is None or high is None:
        return IntervalText("—")
    if not is_share(key):
        return IntervalText(interval(f"{low:,.2f}", f"{high:,.2f}"))
    low, high = low * 100, high * 100
    text = f"{interval(f'{low:,.2f}', f'{high:,.2f}')} pp"
    if low >= -SHARE_LIMIT and high <= SHARE_LIMIT:
        return IntervalText(text)
    shown_low, shown_high = max(low, -SHARE_LIMIT), min(high, SHARE_LIMIT)
    return IntervalText(f"{interval(f'{shown_low:,.2f}', f'{shown_high:,.2f}')} pp", text)


def left_out(counted_share: float | None, arrived: Sequence[int]) -> str | None:
    """How many cases a share of cases leaves out, per replication (``arrived``: the cases that arrived in each):
    ``10``, or ``10.3`` as a mean over replications; None when unknown or none."""
    if counted_share is None or not arrived:
        return None
    count = (1.0 - counted_share) * sum(arrived) / len(arrived)
    if count < 0.05:
        return None
    return f"{count:,.0f}" if abs(count - round(count)) < 0.05 else f"{count:,.1f}"


# -- cases that arrived -----------------------------------------------------------------------------------------------

def arrived(kpis: Sequence[Mapping[str, Any]]) -> list[int]:
    """The cases that really arrived in each replication (a case count may be cut by the arrival window)."""
    return [int(k["cycle_time"]["all"]["arrived"]) for k in kpis]


def side_kpis(result: BatchResult) -> dict[str, list[dict[str, Any]]]:
    sides = {BASE: result.base_kpis}
    if result.variant_name is not None:
        sides[VARIANT] = result.variant_kpis
    return sides


def _side_names(result: BatchResult) -> dict[str, str]:
    return {BASE: result.base_name, VARIANT: result.variant_name or ""}


@dataclass(frozen=True)
class Shortfall:
    """A side whose arrival window (``horizon_days``, or ``max_days``) closed before the requested case count, or
    in which no case arrived at all (``requested`` None: no count was asked for)."""

    side: str
    scenario: str
    requested: int | None
    arrived: list[int]

    def message(self) -> str:
        if self.requested is None:
            return (f"{self.scenario}: no case arrived (per replication: {_count_range(self.arrived)}): the arrival "
                    "window (horizon_days, else max_days) holds no arrival day of the arrival calendar; the report "
                    "is empty")
        return (f"{self.scenario}: only {_count_range(self.arrived)} of the {self.requested} requested cases "
                "arrived (per replication): the arrival window (horizon_days, else max_days) ended first")

    def message_zh(self) -> str:
        if self.requested is None:
            return (f"{SIDE_LABELS[self.side]}（{self.scenario}）：没有案件到达"
                    f"（每次 {_count_range(self.arrived)} 户）：到达期（horizon_days，否则 max_days）内"
                    "没有到达日历的受理日，报告为空")
        return (f"{SIDE_LABELS[self.side]}（{self.scenario}）：请求 {self.requested} 户，"
                f"到达期（horizon_days，否则 max_days）结束时每次仅到达 {_count_range(self.arrived)} 户")


SideKpis = Mapping[str, Sequence[Mapping[str, Any]]]
"""Per side (``base``, ``variant``), the KPIs of its replications (a stored run keeps replication 0's only)."""


def shortfalls(result: BatchResult, requested: Mapping[str, int | None]) -> list[Shortfall]:
    """The sides where fewer cases arrived than requested, or none at all, in some replication."""
    return shortfalls_of(side_kpis(result), _side_names(result), requested)


def shortfalls_of(sides: SideKpis, names: Mapping[str, str], requested: Mapping[str, int | None]
                  ) -> list[Shortfall]:
    found = []
    for side, kpis in sides.items():
        wanted, counts = requested.get(side), arrived(kpis)
        if not counts:
            continue
        if wanted is not None and min(counts) < wanted:
            found.append(Shortfall(side, names.get(side, ""), wanted, counts))
        elif wanted is None and max(counts) == 0:
            found.append(Shortfall(side, names.get(side, ""), None, counts))
    return found


@dataclass(frozen=True)
class OpenAtStop:
    """A side whose clock stopped at ``max_days`` with cases still open, in some replication: those cases have no
    cycle time, so the KPIs describe the faster cases only."""

    side: str
    scenario: str
    replications: int
    open: list[int]
    """Per replication that stopped with open cases, how many were open."""
    arrived: list[int]
    """The cases that arrived in those replications."""
    days: float
    """``max_days``: the clock stopped this many days after the start."""

    def _counts(self) -> tuple[str, str, str]:
        return _count_range(self.open, ","), _count_range(self.arrived, ","), f"{self.days:g}"

    def message(self) -> str:
        opened, arrived, days = self._counts()
        which = ("" if self.replications == 1 else " per replication" if len(self.open) == self.replications
                 else f" in {len(self.open)} of the {self.replications} replications")
        return (f"{self.scenario}: {opened} of {arrived} cases{which} were still open when the clock stopped "
                f"(max_days: {days} days after the start): their cycle times are missing from the KPIs; raise "
                "max_days to let them finish")

    def message_zh(self) -> str:
        opened, arrived, days = self._counts()
        which = ("" if self.replications == 1 else "每次重复" if len(self.open) == self.replications
                 else f"{self.replications} 次重复中有 {len(self.open)} 次，")
        return (f"{SIDE_LABELS[self.side]}（{self.scenario}）：时钟在开始后 {days} 天（max_days）停止时，{which}"
                f"到达的 {arrived} 户中仍有 {opened} 户未办结；其全流程时长未计入指标，可调大 max_days 使其办结")


def open_at_stop(result: BatchResult) -> list[OpenAtStop]:
    """The sides whose clock stopped at ``max_days`` with cases still open, in some replication (the KPIs'
    ``period.stopped_by``; a result stored without it: none)."""
    return open_at_stop_of(side_kpis(result), _side_names(result))


def open_at_stop_of(sides: SideKpis, names: Mapping[str, str]) -> list[OpenAtStop]:
    found = []
    for side, kpis in sides.items():
        cut = [k for k in kpis if (k.get("period") or {}).get("stopped_by") == "max_days"
               and k["cycle_time"]["all"]["arrived"] > k["cycle_time"]["all"]["count"]]
        if not cut:
            continue
        period = cut[0]["period"]
        days = (datetime.fromisoformat(period["end"]) - datetime.fromisoformat(period["start"])).total_seconds()
        found.append(OpenAtStop(side, names.get(side, ""), len(kpis),
                                [int(k["cycle_time"]["all"]["arrived"] - k["cycle_time"]["all"]["count"]) for k in cut],
                                arrived(cut), round(days / SECONDS_PER_DAY, 3)))
    return found


@dataclass(frozen=True)
class OffShiftPool:
    """A pool with no on-shift hours while cases arrived (its calendar's days or shifts miss the whole period), in
    some replication: its utilisation has no value (busy ÷ 0), and the cases that need it wait for its next shift."""

    side: str
    scenario: str
    pool: str

    def message(self) -> str:
        return (f"{self.scenario}: pool {self.pool} has no on-shift hours while cases arrive (its calendar's working "
                "days or shifts miss the period): its utilisation is n/a, and its tasks wait for its next shift")

    def message_zh(self) -> str:
        pool = ROLE_NAMES.get(self.pool, self.pool)
        return (f"{SIDE_LABELS[self.side]}（{self.scenario}）：岗位 {pool} 在案件到达期间没有在岗时间"
                "（其日历的工作日或班次不在此期间），利用率无法计算（—），其环节的案件只能等到它下一个班次")


def off_shift_pools(result: BatchResult) -> list[OffShiftPool]:
    """The pools with no on-shift hours while cases arrived, per side, in some replication."""
    return off_shift_pools_of(side_kpis(result), _side_names(result))


def off_shift_pools_of(sides: SideKpis, names: Mapping[str, str]) -> list[OffShiftPool]:
    found = []
    for side, kpis in sides.items():
        pools = sorted({pool for k in kpis if k["cycle_time"]["all"]["arrived"]
                        for pool, usage in (k.get("pools") or {}).items() if _no_shift(usage)})
        found += [OffShiftPool(side, names.get(side, ""), pool) for pool in pools]
    return found


def _no_shift(usage: Mapping[str, Any]) -> bool:
    """Whether a pool's utilisation could not be computed: no on-shift time in its period."""
    key = "utilisation_while_arriving" if "utilisation_while_arriving" in usage else "utilisation"
    return usage.get(key, 0.0) is None


def warnings_of(sides: SideKpis, names: Mapping[str, str], requested: Mapping[str, int | None]
                ) -> dict[str, list[dict[str, Any]]]:
    """The report's warnings as data (a stored run's result keeps them, the web page words them): fewer cases
    than requested or none, cases open at the stop, pools never on shift while cases arrive."""
    return {"shortfalls": [asdict(item) for item in shortfalls_of(sides, names, requested)],
            "open_at_stop": [asdict(item) for item in open_at_stop_of(sides, names)],
            "off_shift": [asdict(item) for item in off_shift_pools_of(sides, names)]}


def _count_range(counts: list[int], separator: str = "") -> str:
    low, high = min(counts), max(counts)
    spec = f"{separator}d"
    return format(low, spec) if low == high else f"{low:{spec}}–{high:{spec}}"


def _requested(result: BatchResult, requested: Mapping[str, int | None] | None) -> Mapping[str, int | None]:
    return requested if requested is not None else dict.fromkeys(side_kpis(result), result.cases)


# -- files ------------------------------------------------------------------------------------------------------------

def with_replication(kpis: dict[str, Any], replication: int) -> dict[str, Any]:
    """One replication's KPIs with its index after the seed: replication ``r`` drew from streams keyed by
    ``(seed, r)``, so the seed alone does not tell the replications apart."""
    head: dict[str, Any] = {key: kpis[key] for key in ("scenario", "seed") if key in kpis}
    return {**head, "replication": replication, **{k: v for k, v in kpis.items() if k not in head}}


def _side_json(name: str, kpis: list[dict[str, Any]], flats: list[dict[str, float]],
               requested: int | None) -> dict[str, Any]:
    return {"scenario": name, "cases_requested": requested, "cases_arrived": arrived(kpis), "mean": mean_flat(flats),
            "replications": [with_replication(k, r) for r, k in enumerate(kpis)]}


def kpis_document(result: BatchResult, requested: Mapping[str, int | None] | None = None) -> dict[str, Any]:
    """Every replication's KPIs and their means per side, with the cases requested and those that arrived."""
    wanted = _requested(result, requested)
    document: dict[str, Any] = {
        "seed": result.seed, "replications": result.replications,
        BASE: _side_json(result.base_name, result.base_kpis, result.flat(BASE), wanted.get(BASE))}
    if result.variant_name is not None:
        document[VARIANT] = _side_json(result.variant_name, result.variant_kpis, result.flat(VARIANT),
                                       wanted.get(VARIANT))
    return document


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def _write_logs(out: Path, prefix: str, log: SimulationLog) -> None:
    with (out / f"{prefix}event_log.csv").open("w", encoding="utf-8", newline="") as handle:
        eventlog.write_csv(log, handle)
    with (out / f"{prefix}event_log.xes").open("wb") as handle:
        eventlog.write_xes(log, handle)
    with (out / f"{prefix}{eventlog.CANCELLED_FILE}").open("w", encoding="utf-8", newline="") as handle:
        eventlog.write_cancelled_csv(log, handle)
    with (out / f"{prefix}{eventlog.PROSIMOS_FILE}").open("w", encoding="utf-8", newline="") as handle:
        eventlog.write_prosimos_csv(log, handle)


def write_report(result: BatchResult, out: Path, names: dict[str, str] | None = None,
                 requested: Mapping[str, int | None] | None = None,
                 scenarios: Mapping[str, Scenario] | None = None) -> list[Path]:
    """Write every output file into ``out`` (created); the files written.

    ``requested`` is the case count asked for per side (default: ``result.cases`` for both), against which the
    report warns when fewer cases arrived; ``scenarios`` (per side) tell whether estimated holidays matter
    (:func:`estimated_days`).
    """
    out.mkdir(parents=True, exist_ok=True)
    _write_json(out / "kpis.json", kpis_document(result, requested))
    if result.comparison is not None:
        _write_json(out / "comparison.json", result.comparison.to_dict())
    if result.base_log is not None:
        _write_logs(out, "", result.base_log)
    if result.variant_log is not None:
        _write_logs(out, "variant_", result.variant_log)
    (out / "report.html").write_text(render_html(result, names or {}, requested, scenarios), encoding="utf-8")
    return sorted(p for p in out.iterdir() if p.is_file())


# -- SVG charts ------------------------------------------------------------------------------------------------------

def _fmt(value: float, decimals: int = 1) -> str:
    return f"{value:.{decimals}f}"


def bar_chart(title: str, labels: list[str], series: Mapping[str, Sequence[float | None]], *,
              percent: bool = False) -> str:
    """Horizontal grouped bars, one group per label, one bar per side; a side without a figure (None: e.g. a step
    it never ran) shows "—" and no bar, not 0."""
    if not labels:
        return f"<h3>{escape(title)}</h3><p class=empty>无数据</p>"
    bar, gap, left, width = 12, 10, 180, 420
    group = bar * len(series) + gap
    top = max((v for values in series.values() for v in values if v is not None), default=0.0) or 1.0
    scale = 1.0 if percent else top
    height = group * len(labels) + 10
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 80}" height="{height}" role="img">']
    for i, label in enumerate(labels):
        y0 = i * group + 5
        parts.append(f'<text x="{left - 6}" y="{y0 + bar * len(series) / 2 + 4}" text-anchor="end">'
                     f"{escape(label)}</text>")
        for j, (side, values) in enumerate(series.items()):
            value = values[i]
            w = max(0.0, value / scale * width) if scale and value is not None else 0.0
            text = "—" if value is None else f"{value * 100:.0f}%" if percent else _fmt(value)
            y = y0 + j * bar
            parts.append(f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar - 2}" fill="{COLORS[side]}">'
                         f"<title>{escape(SIDE_LABELS[side])} {escape(label)}: {text}</title></rect>")
            parts.append(f'<text x="{left + w + 4:.1f}" y="{y + bar - 3}" class=small>{text}</text>')
    parts.append("</svg>")
    return f"<h3>{escape(title)}</h3>" + "".join(parts)


def histogram(title: str, series: dict[str, list[int]], unit: str) -> str:
    """Counts of cases per value (e.g. working days), bars of the sides side by side."""
    values = sorted({v for vs in series.values() for v in vs})
    if not values:
        return f"<h3>{escape(title)}</h3><p class=empty>无已办结案件</p>"
    low, high = values[0], values[-1]
    bins = min(24, high - low + 1)
    size = max(1, -(-(high - low + 1) // bins))
    edges = [low + i * size for i in range(bins)]
    counts = {side: Counter((v - low) // size for v in vs) for side, vs in series.items()}
    top = max((c for counter in counts.values() for c in counter.values()), default=1)
    plot_w, plot_h, left, bottom = 560, 180, 40, 30
    slot = plot_w / len(edges)
    bar = slot / (len(series) + 0.5)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + plot_w + 20}" height="{plot_h + bottom + 10}"'
             ' role="img">', f'<line x1="{left}" y1="{plot_h}" x2="{left + plot_w}" y2="{plot_h}" stroke="#999"/>']
    for i, edge in enumerate(edges):
        x0 = left + i * slot
        label = str(edge) if size == 1 else f"{edge}–{edge + size - 1}"
        if i % max(1, -(-len(edges) // 12)) == 0:  # at most 12 axis labels
            parts.append(f'<text x="{x0 + slot / 2:.1f}" y="{plot_h + 14}" text-anchor="middle" class=small>'
                         f"{label}</text>")
        for j, side in enumerate(series):
            count = counts[side].get(i, 0)
            h = count / top * (plot_h - 10)
            parts.append(f'<rect x="{x0 + j * bar + bar / 4:.1f}" y="{plot_h - h:.1f}" width="{bar:.1f}" '
                         f'height="{h:.1f}" fill="{COLORS[side]}"><title>{escape(SIDE_LABELS[side])} {label}'
                         f"{escape(unit)}: {count}</title></rect>")
    parts.append(f'<text x="{left + plot_w / 2}" y="{plot_h + 28}" text-anchor="middle" class=small>'
                 f"{escape(unit)}</text></svg>")
    return f"<h3>{escape(title)}</h3>" + "".join(parts)


def line_chart(title: str, lines: dict[str, tuple[list[tuple[str, float]], str, bool]]) -> str:
    """One polyline per named series of (day, value) with its colour (dashed when flagged), over the union of days."""
    days = sorted({day for points, _c, _d in lines.values() for day, _v in points})
    if not days:
        return f"<h3>{escape(title)}</h3><p class=empty>无排队</p>"
    top = max((v for points, _c, _d in lines.values() for _d2, v in points), default=0.0) or 1.0
    plot_w, plot_h, left = 560, 160, 40
    index = {day: i for i, day in enumerate(days)}
    step = plot_w / max(1, len(days) - 1)
    height = max(plot_h + 40, 24 + 14 * len(lines))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + plot_w + 200}" height="{height}" '
             'role="img">', f'<line x1="{left}" y1="{plot_h}" x2="{left + plot_w}" y2="{plot_h}" stroke="#999"/>',
             f'<text x="{left - 4}" y="14" text-anchor="end" class=small>{_fmt(top)}</text>',
             f'<text x="{left}" y="{plot_h + 14}" class=small>{escape(days[0])}</text>',
             f'<text x="{left + plot_w}" y="{plot_h + 14}" text-anchor="end" class=small>{escape(days[-1])}</text>']
    for k, (name, (points, color, dashed)) in enumerate(lines.items()):
        coords = " ".join(f"{left + index[d] * step:.1f},{plot_h - v / top * (plot_h - 10):.1f}" for d, v in points)
        dash = ' stroke-dasharray="4 3"' if dashed else ""
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.5"{dash} points="{coords}">'
                     f"<title>{escape(name)}</title></polyline>")
        parts.append(f'<line x1="{left + plot_w + 8}" y1="{16 + k * 14}" x2="{left + plot_w + 24}" '
                     f'y2="{16 + k * 14}" stroke="{color}" stroke-width="2"{dash}/>'
                     f'<text x="{left + plot_w + 28}" y="{20 + k * 14}" class=small>{escape(name)}</text>')
    parts.append("</svg>")
    return f"<h3>{escape(title)}</h3>" + "".join(parts)


# -- the page --------------------------------------------------------------------------------------------------------

def _working_days(log: SimulationLog | None, calendar: WorkingCalendar) -> list[int]:
    """Working days to connect (arrival → energising) of the energised cases; for a model without an energising
    milestone (a converted Prosimos model), the whole case duration of the completed ones."""
    if log is None:
        return []
    connected = [calendar.working_days_between(c.arrival, c.energized) for c in log.cases if c.energized is not None]
    if connected:
        return connected
    return [calendar.working_days_between(c.arrival, c.end) for c in log.cases if c.end is not None]


def estimated_calendar_after(result: BatchResult, scenarios: Mapping[str, Scenario] | None = None) -> str | None:
    """The last day of official holiday data when a replication's run went beyond it, else None.

    With ``scenarios`` (per side), only a side that counts on the official working days does: one with a calendar
    of ``working_days: cn`` (:meth:`Scenario.uses_official_workdays`) or with working-day time limits (its steps or
    cases have deadlines, counted on the official calendar). A converted Prosimos model with plain weekday calendars
    and no deadlines does not, however far it runs. Without ``scenarios`` (a stored result) every side counts."""
    for side, kpis_list in side_kpis(result).items():
        scenario = (scenarios or {}).get(side)
        for kpis in kpis_list:
            calendar = kpis.get("calendar") or {}
            if calendar.get("estimated") and (scenario is None or scenario.uses_official_workdays()
                                              or _has_deadlines(kpis)):
                return str(calendar.get("estimated_after") or "")
    return None


def estimated_days(result: BatchResult, scenarios: Mapping[str, Scenario] | None = None) -> list[tuple[str, str]]:
    """The run's own days whose working days are estimated, as (first, last) ISO day spans: before the first or
    after the last year of official holiday data (the KPIs' ``calendar.estimated_days``), of the sides that count
    on the official working days (as :func:`estimated_calendar_after` decides), over every replication of both
    sides, overlapping spans merged (:func:`merged_spans`): one span before and one after the data at most."""
    spans: list[tuple[str, str]] = []
    for side, kpis_list in side_kpis(result).items():
        scenario = (scenarios or {}).get(side)
        for kpis in kpis_list:
            calendar = kpis.get("calendar") or {}
            if not calendar.get("estimated") or not (scenario is None or scenario.uses_official_workdays()
                                                     or _has_deadlines(kpis)):
                continue
            spans += calendar_spans(kpis)
    return merged_spans(spans)


def merged_spans(spans: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """(first, last) ISO day spans with those that overlap or touch merged into one: the replications' and sides'
    spans of one run, which mostly overlap, read as the run's days."""
    merged: list[tuple[str, str]] = []
    for first, last in sorted(spans):
        if merged and first <= _day_after(merged[-1][1]):
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return merged


def calendar_spans(kpis: Mapping[str, Any], calendar: WorkingCalendar | None = None) -> list[tuple[str, str]]:
    """One replication's estimated day spans (see :func:`estimated_days`): the days of its ``period`` before the
    first or after the last year of official holiday data."""
    period = kpis.get("period") or {}
    if not (kpis.get("calendar") or {}).get("estimated") or not period.get("start") or not period.get("end"):
        return []
    first, last = str(period["start"])[:10], str(period["end"])[:10]
    known = (calendar or WorkingCalendar.default()).known_years()
    if not known:
        return [(first, last)]
    data_from, data_to = f"{min(known)}-01-01", f"{max(known)}-12-31"
    spans = []
    if first < data_from:
        spans.append((first, min(last, _day_before(data_from))))
    if last > data_to:
        spans.append((max(first, _day_after(data_to)), last))
    return spans


def _day_before(day: str) -> str:
    return (date.fromisoformat(day) - timedelta(days=1)).isoformat()


def _day_after(day: str) -> str:
    return (date.fromisoformat(day) + timedelta(days=1)).isoformat()


def estimated_where(spans: Sequence[tuple[str, str]], calendar: WorkingCalendar | None = None
                    ) -> tuple[str | None, str | None]:
    """(first day of official data when some span lies before it, last day when some span lies after it)."""
    known = (calendar or WorkingCalendar.default()).known_years()
    if not known:
        return None, None
    data_from, data_to = f"{min(known)}-01-01", f"{max(known)}-12-31"
    return (data_from if any(first < data_from for first, _last in spans) else None,
            data_to if any(last > data_to for _first, last in spans) else None)


def _spans_text(spans: Sequence[tuple[str, str]], to: str, joiner: str) -> str:
    return joiner.join(first if first == last else f"{first}{to}{last}" for first, last in spans)


def estimated_note(spans: Sequence[tuple[str, str]]) -> str:
    """The CLI's warning on estimated working days, naming the run's own days."""
    before, after = estimated_where(spans)
    where = " and ".join(part for part in (f"before {before}" if before else "", f"after {after}" if after else "")
                         if part)
    return (f"working days {where} are estimated (no official holiday data for those years: the holidays "
            f"package's estimate, without 调休): this run's {_spans_text(spans, ' to ', ', ')}")


def estimated_note_zh(spans: Sequence[tuple[str, str]]) -> str:
    """The report's note on estimated working days, naming the run's own days."""
    before, after = estimated_where(spans)
    where = "、".join(part for part in (f"{before} 之前" if before else "", f"{after} 之后" if after else "") if part)
    return (f"{where}的工作日为估算（无官方节假日安排，不含调休）：本次运行中 {_spans_text(spans, ' 至 ', '、')}")


def _has_deadlines(kpis: Mapping[str, Any]) -> bool:
    """Whether a replication judged steps or cases against deadlines (working-day limits on the official days)."""
    on_time = kpis.get("on_time") or {}
    return bool(on_time.get("steps")) or bool((on_time.get("case") or {}).get("count"))


def _sides(result: BatchResult) -> dict[str, dict[str, float]]:
    sides = {BASE: mean_flat(result.flat(BASE))}
    if result.variant_name is not None:
        sides[VARIANT] = mean_flat(result.flat(VARIANT))
    return sides


def _keyed_series(sides: dict[str, dict[str, float]], prefix: str, suffix: str = ""
                  ) -> tuple[list[str], dict[str, list[float | None]]]:
    """The ids between ``prefix`` and ``suffix`` of the flat keys of any side, and each side's figures (None where
    a side has none)."""
    keys = sorted({k for flat in sides.values() for k in flat if k.startswith(prefix) and k.endswith(suffix)})
    ids = [k[len(prefix):len(k) - len(suffix)] for k in keys]
    return ids, {side: [flat.get(k) for k in keys] for side, flat in sides.items()}


def queue_lines(result: BatchResult, names: dict[str, str]) -> dict[str, tuple[list[tuple[str, float]], str, bool]]:
    """Daily mean queue of replication 0 per pool that ever queued: one colour per pool, the variant dashed, days
    after the last real queue anywhere left out (``kpis.queue_chart_span``, as the web report's chart)."""
    palette = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f"]
    sides = [(side, kpis[0]["queues"]) for side, kpis in ((BASE, result.base_kpis), (VARIANT, result.variant_kpis))
             if kpis]
    pools, last = queue_chart_span(queues for _side, queues in sides)
    lines: dict[str, tuple[list[tuple[str, float]], str, bool]] = {}
    for side, queues in sides:
        queued = queued_pools(queues)  # a side's own lines, alone or compared (one colour per pool of the chart)
        for i, pool in enumerate(pools):
            if pool not in queued:
                continue
            points = [(d["day"], float(d["mean"])) for d in queues.get(pool, []) if d["day"] <= last]
            label = ROLE_NAMES.get(pool) or names.get(pool, pool)
            lines[f"{SIDE_LABELS[side]}·{label}"] = (points, palette[i % len(palette)], side == VARIANT)
    return lines


STEP_HOURS_NOTE = ("各项为各次重复平均值的平均。环节的等待与办理（平均（日历小时））为经过的日历小时："
                   "含班次之间的夜间、周末与节假日，故比场景中的办理时长（工作小时）长。")
WAITING_OPEN_NOTE = labels.chinese(labels.WAITING_OPEN_NOTE)
WAITING_PREFIX, WAITING_SUFFIX = "waiting.", ".mean_hours"


def still_waiting(kpis: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Per step, the work still waiting when the run stopped, over the replications (``activities``'
    ``waiting_open``): its mean waiting time counts them up to the stop, a lower bound (marked †)."""
    counts: dict[str, int] = {}
    for replication in kpis:
        for eid, activity in (replication.get("activities") or {}).items():
            if activity.get("waiting_open"):
                counts[eid] = counts.get(eid, 0) + int(activity["waiting_open"])
    return counts


def waiting_open_title(key: str, open_work: Mapping[str, Mapping[str, int]] | None) -> str:
    """The † tooltip of a compared step's mean wait that counts work still waiting at the stop (``open_work``: per
    side, :func:`still_waiting`); "" for any other row."""
    if not open_work or not (key.startswith(WAITING_PREFIX) and key.endswith(WAITING_SUFFIX)):
        return ""
    eid = key[len(WAITING_PREFIX):-len(WAITING_SUFFIX)]
    counts = {side: open_work.get(side, {}).get(eid, 0) for side in SIDE_LABELS}
    if not any(counts.values()):
        return ""
    return labels.chinese(labels.WAITING_OPEN_SIDES, base=counts[BASE], variant=counts[VARIANT])


def censored_title(row: KpiComparison, arrived: Mapping[str, Sequence[int]] | None = None) -> str:
    """What a compared row leaves out (its † tooltip; "" when nothing): the shares of cases counted, and for a share
    of cases on time, how many cases each side left out (per replication: ``arrived``, the cases that arrived)."""
    text = censoring_note(row)[0].removeprefix("；注意：")
    if not text or row.completed_shares is None or not is_on_time_share(row.key) or not arrived:
        return text
    counts = [left_out(share, arrived.get(side, [])) for share, side in zip(row.completed_shares, SIDE_LABELS,
                                                                              strict=True)]
    if any(count is not None for count in counts):  # a side without the share (one-sided): "—"
        text += "；未计入：" + "、".join(
            f"{SIDE_LABELS[side]} {'—' if share is None else f'{count or 0} 户'}" for side, count, share
            in zip(SIDE_LABELS, counts, row.completed_shares, strict=True))
        text += "（每次重复平均）" if max((len(arrived.get(side, [])) for side in SIDE_LABELS), default=0) > 1 else ""
    return text


def comparison_rows(rows: list[KpiComparison], names: dict[str, str],
                    arrived: Mapping[str, Sequence[int]] | None = None,
                    open_work: Mapping[str, Mapping[str, int]] | None = None) -> str:
    """The comparison table: values as the web page shows them; a share's interval clipped to ±100 pp is marked
    ``*`` with the computed interval in its tooltip; a row that leaves cases out is marked † with what it leaves out
    in its tooltip (:func:`censored_title`), a step's mean wait that counts work still waiting at the stop alike
    (:func:`waiting_open_title`); a one-sided row shows "—" for the side without it, and no difference."""
    cells = []
    for row in rows:
        ci = interval_text(row.key, row.ci_low, row.ci_high)
        ci_cell = (f'<td class=clipped title="计算所得区间：{escape(ci.computed or "")}">{escape(ci.text)} *</td>'
                   if ci.clipped else f"<td>{escape(ci.text)}</td>")
        censored = censored_title(row, arrived) or waiting_open_title(row.key, open_work)
        label = (f'<td title="{escape(censored)}">{escape(kpi_label(row.key, names))} †</td>' if censored
                 else f"<td>{escape(kpi_label(row.key, names))}</td>")
        cells.append(f"<tr class={row.outcome}>{label}"
                     f"<td>{value_text(row.key, row.base_mean)}</td><td>{value_text(row.key, row.variant_mean)}</td>"
                     f"<td>{difference_text(row.key, row.mean_difference)}</td>"
                     f"{ci_cell}<td>{OUTCOME_LABELS[row.outcome]}</td></tr>")
    head = "<tr><th>指标</th><th>基准方案</th><th>对比方案</th><th>差值</th><th>95% 置信区间</th><th>结论</th></tr>"
    return f"<table>{head}{''.join(cells)}</table>"


def interval_notes(comparison: Comparison) -> list[str]:
    """What the reader must know to read the intervals: few replications make them wide, a share's is clipped."""
    notes = []
    if 2 <= comparison.replications < FEW_REPLICATIONS:
        notes.append(f"重复次数较少（{comparison.replications} 次）：95% 置信区间按自由度仅 "
                     f"{comparison.replications - 1} 的 t 分布计算，区间很宽，结论仅供参考；"
                     f"建议至少 {FEW_REPLICATIONS}–10 次重复。")
    if any(interval_text(row.key, row.ci_low, row.ci_high).clipped for row in comparison.rows):
        notes.append("标 * 的比例类区间超出可能范围（±100 个百分点），显示时已截断；"
                     "计算所得区间见该格的提示，comparison.json 中保持不变。")
    if any(row.completed_shares is not None and not is_on_time_share(row.key) for row in comparison.rows):
        notes.append(CENSORED_NOTE)
    if any(row.completed_shares is not None and is_on_time_share(row.key) for row in comparison.rows):
        notes.append(ON_TIME_CENSORED_NOTE)
    if any(row.outcome == "one_sided" for row in comparison.rows):
        notes.append(ONE_SIDED_NOTE)
    return notes


STYLE = """body{font-family:"Noto Sans CJK SC","Microsoft YaHei",sans-serif;margin:24px;color:#222}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
td:first-child,th:first-child{text-align:left}tr.better td:last-child{color:#2a7a2a}tr.worse td:last-child{color:#b00}
tr.negligible td:last-child{color:#777}
svg{font-size:12px}.small{font-size:10px}.empty{color:#888}.legend span{display:inline-block;width:12px;height:12px;
margin:0 4px 0 12px}.warning{color:#b00}.note{color:#555;font-size:13px}td.clipped{color:#8a5a00}"""


def _queue_series(sides: dict[str, dict[str, float]]) -> tuple[list[str], dict[str, list[float]]]:
    """Per pool, the time-weighted mean queue while cases arrive."""
    queues = queue_load_keys({key for flat in sides.values() for key in flat})
    return list(queues), {side: [flat.get(key, 0.0) for key in queues.values()] for side, flat in sides.items()}


def _utilisation_series(sides: dict[str, dict[str, float]], unmeasured: set[str] | None = None
                        ) -> tuple[list[str], dict[str, list[float | None]]]:
    """Per pool, the utilisation the verdicts and tables read: the load while cases arrive (else the whole run);
    None ("—") for a pool with no on-shift time then (``unmeasured``: ``kpis.unmeasured_load_keys``)."""
    loads = pool_load_keys({key for flat in sides.values() for key in flat} | (unmeasured or set()))
    return list(loads), {side: [flat.get(key) for key in loads.values()] for side, flat in sides.items()}


def _cases_line(result: BatchResult) -> str:
    """How many cases arrived per replication, per side (not the count asked for: the window may cut it)."""
    counts = {side: _count_range(arrived(kpis)) for side, kpis in side_kpis(result).items() if kpis}
    if not counts:
        return ""
    if len(set(counts.values())) == 1:
        return f"，每次到达 {next(iter(counts.values()))} 户"
    return "，每次到达 " + "、".join(f"{SIDE_LABELS[side]} {count} 户" for side, count in counts.items())


def render_html(result: BatchResult, names: dict[str, str], requested: Mapping[str, int | None] | None = None,
                scenarios: Mapping[str, Scenario] | None = None) -> str:
    """The report page (UTF-8 HTML, inline SVG and CSS only)."""
    calendar = WorkingCalendar.default()
    sides = _sides(result)
    title = f"仿真报告：{result.base_name}" + (f" 对比 {result.variant_name}" if result.variant_name else "")
    legend = "".join(f'<span style="background:{COLORS[s]}"></span>{SIDE_LABELS[s]}' for s in sides)
    steps, on_time = _keyed_series(sides, "on_time.step.", ".share")
    pools, utilisation = _utilisation_series(
        sides, unmeasured_load_keys(k for kpis in side_kpis(result).values() for k in kpis))
    queue_pools, queue_means = _queue_series(sides)
    warnings = "".join(f"<p class=warning>注意：{escape(short.message_zh())}</p>"
                       for short in shortfalls(result, _requested(result, requested)))
    warnings += "".join(f"<p class=warning>注意：{escape(cut.message_zh())}</p>" for cut in open_at_stop(result))
    warnings += "".join(f"<p class=warning>注意：{escape(pool.message_zh())}</p>" for pool in off_shift_pools(result))
    spans = estimated_days(result, scenarios)
    if spans:
        warnings += f"<p class=warning>注意：{escape(estimated_note_zh(spans))}</p>"
    lines = queue_lines(result, names)
    cycle = {BASE: _working_days(result.base_log, calendar)}
    if result.variant_name is not None:
        cycle[VARIANT] = _working_days(result.variant_log, calendar)
    body = [
        f"<h1>{escape(title)}</h1>",
        f"<p>重复次数 {result.replications}，随机种子 {result.seed}{_cases_line(result)}"
        "；图表为各次重复的平均值（分布与排队曲线为第 1 次重复）；利用率与平均排队为到达期间（开始至最后一户到达）"
        "的数值，平均排队按时间加权。</p>",
        warnings,
        f"<p class=note>{escape(ON_TIME_NOTE)}</p>",
        f'<p class=legend>{legend}</p>',
    ]
    if result.comparison is not None:
        verdicts = "".join(f"<li>{escape(true_minus(v))}</li>" for v in result.comparison.verdicts_zh)
        keys = [row.key for row in result.comparison.rows]
        loads = {*pool_load_keys(keys).values(), *queue_load_keys(keys).values()}
        main = [r for r in result.comparison.rows if (r.key.startswith(MAIN_TABLE_PREFIXES) or r.key in loads)
                and not r.key.endswith(COUNTED_SHARE)]
        rest = [r for r in result.comparison.rows if r not in main]
        notes = "".join(f"<p class=warning>注意：{escape(note)}</p>" for note in interval_notes(result.comparison))
        if any(row.outcome == "negligible" for row in result.comparison.rows):
            notes += f"<p class=note>{escape(NEGLIGIBLE_NOTE)}</p>"
        counts = {side: arrived(kpis) for side, kpis in side_kpis(result).items()}
        open_work = {side: still_waiting(kpis) for side, kpis in side_kpis(result).items()}
        waiting_note = (f"<p class=warning>{escape(WAITING_OPEN_NOTE)}</p>"
                        if any(waiting_open_title(row.key, open_work) for row in rest) else "")
        body += ["<h2>结论</h2>", f"<ul>{verdicts}</ul>", notes, "<h2>指标对比</h2>",
                 comparison_rows(main, names, counts),
                 f"<details><summary>全部指标（{len(rest)} 项）</summary>"
                 f"{comparison_rows(rest, names, counts, open_work)}{waiting_note}"
                 f"<p class=note>{escape(STEP_HOURS_NOTE)}</p></details>"]
    body += [
        "<h2>图表</h2>",
        histogram("办电时长分布（申请至送电）", cycle, "工作日"),
        bar_chart("各环节按期率", [names.get(s, s) for s in steps], on_time, percent=True),
        bar_chart("岗位利用率（到达期间）", [ROLE_NAMES.get(p) or names.get(p, p) for p in pools], utilisation,
                  percent=True),
        bar_chart("平均排队长度（到达期间，按时间加权）", [ROLE_NAMES.get(p) or names.get(p, p) for p in queue_pools],
                  queue_means),
        line_chart("排队长度（日平均，实线基准方案、虚线对比方案）" if result.variant_name else "排队长度（日平均）",
                   lines),
    ]
    return ("<!DOCTYPE html>\n<html lang=zh-CN><head><meta charset=utf-8>"
            f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>\n"
            + "\n".join(body) + "\n</body></html>\n")
