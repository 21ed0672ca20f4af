"""What-if comparison of two scenarios over paired replications (common random numbers).

Replication ``r`` of the base and of the variant ran with the same seed (``seed + r``), so their difference is paired:
for every flat KPI the comparison takes the per-replication differences ``variant − base``, their mean and a 95 %
Student-t confidence interval. A difference is significant when the interval excludes 0; it is *better* or *worse*
by the KPI's direction (:func:`runner.simulation.kpis.direction`), *changed* for neutral KPIs such as utilisation.
A handful of headline KPIs also get a plain-language verdict in Chinese and English; a pool's utilisation verdict
reads its load while cases arrive, the figure the report tables and charts show.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from scipy import stats  # type: ignore[import-untyped]

from ..roles import ROLE_NAMES
from .kpis import (
    UTILISATION_WHILE_ARRIVING,
    WHOLE_RUN_UTILISATION,
    Direction,
    compute_kpis,
    direction,
    flat_kpis,
    pool_load_keys,
)
from .model import SimulationLog

Outcome = Literal["better", "worse", "changed", "no_difference", "undetermined"]
CONFIDENCE = 0.95


@dataclass(frozen=True)
class Headline:
    """How a headline KPI reads in a verdict: its name, unit and the words for a decrease and an increase."""

    zh: str
    en: str
    unit_zh: str
    unit_en: str
    scale: float = 1.0  # shares are shown in percentage points
    decimals: int = 1


HEADLINES: dict[str, Headline] = {
    "time_to_connect.all.mean_working_days": Headline("平均办电时长", "mean time to connect", " 个工作日",
                                                      " working days"),
    "time_to_connect.all.p90_working_days": Headline("办电时长 P90", "P90 time to connect", " 个工作日",
                                                     " working days"),
    "cycle_time.all.mean_working_days": Headline("平均全流程时长", "mean whole case duration", " 个工作日",
                                                 " working days"),
    "on_time.case.share": Headline("整体按期率", "on-time share of cases", " 个百分点", " percentage points", 100.0),
    "getting_electricity.customer_visits": Headline("客户跑动次数", "customer visits", " 次", " visits", 1.0, 2),
    "cost.paid.per_case": Headline("单户人员成本（在岗）", "paid staff cost per case", " 元", " CNY", 1.0, 0),
    "cost.per_case": Headline("单户工作量成本", "workload cost per case", " 元", " CNY", 1.0, 0),
    "escalations.per_case": Headline("户均督办次数", "escalations per case", " 次", " escalations", 1.0, 2),
}
UTILISATION_HEADLINE = Headline("{pool}利用率（到达期间）", "{pool} utilisation while cases arrive", " 个百分点",
                                " percentage points", 100.0)
"""A pool's load while cases arrive (``utilisation_while_arriving``), the figure the tables and charts show."""
WHOLE_RUN_HEADLINE = Headline("{pool}利用率（全程）", "{pool} utilisation over the whole run", " 个百分点",
                              " percentage points", 100.0)
"""The fallback when a side lacks the load while arriving (a run without arrivals)."""


@dataclass(frozen=True)
class KpiComparison:
    """One flat KPI compared over the paired replications."""

    key: str
    direction: Direction
    pairs: int
    base_mean: float
    variant_mean: float
    mean_difference: float
    ci_low: float | None  # None with fewer than 2 pairs
    ci_high: float | None
    significant: bool
    outcome: Outcome


@dataclass
class Comparison:
    """The comparison of every flat KPI both scenarios have, with verdicts for the headline ones."""

    replications: int
    rows: list[KpiComparison] = field(default_factory=list)
    verdicts_zh: list[str] = field(default_factory=list)
    verdicts_en: list[str] = field(default_factory=list)

    def row(self, key: str) -> KpiComparison:
        """The comparison of one KPI by its flat key.

        Raises:
            KeyError: If no replication pair has the KPI.
        """
        for row in self.rows:
            if row.key == key:
                return row
        raise KeyError(key)

    def to_dict(self) -> dict[str, Any]:
        return {
            "replications": self.replications,
            "confidence": CONFIDENCE,
            "kpis": [asdict(row) for row in self.rows],
            "verdicts": {"zh": self.verdicts_zh, "en": self.verdicts_en},
        }


def paired_interval(differences: Sequence[float]) -> tuple[float, float | None, float | None]:
    """Mean of the paired differences and its two-sided Student-t confidence interval (None below 2 pairs)."""
    n = len(differences)
    mean = sum(differences) / n
    if n < 2:
        return mean, None, None
    sd = math.sqrt(sum((d - mean) ** 2 for d in differences) / (n - 1))
    half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1)) * sd / math.sqrt(n)
    return mean, mean - half, mean + half


def _outcome(kpi_direction: Direction, low: float | None, high: float | None, mean: float) -> tuple[bool, Outcome]:
    if low is None or high is None:
        return False, "undetermined"
    significant = low > 0 or high < 0 or (low == high and mean != 0)
    if not significant:
        return False, "no_difference"
    if kpi_direction == "neutral":
        return True, "changed"
    better = mean < 0 if kpi_direction == "lower" else mean > 0
    return True, "better" if better else "worse"


def compare_flat(base: Sequence[Mapping[str, float]], variant: Sequence[Mapping[str, float]],
                 names: Mapping[str, str] | None = None) -> Comparison:
    """Compare per-replication flat KPIs; ``base[r]`` and ``variant[r]`` must come from the same seed.

    A KPI is compared over the replications in which both scenarios have it. ``names`` (role → lane name) word the
    utilisation verdicts.

    Raises:
        ValueError: If the two lists differ in length or are empty.
    """
    if len(base) != len(variant) or not base:
        raise ValueError(f"need the same positive number of replications, got {len(base)} and {len(variant)}")
    comparison = Comparison(replications=len(base))
    keys = sorted(set().union(*base) & set().union(*variant))
    for key in keys:
        pairs = [(b[key], v[key]) for b, v in zip(base, variant, strict=True) if key in b and key in v]
        if not pairs:
            continue
        mean, low, high = paired_interval([v - b for b, v in pairs])
        kpi_direction = direction(key)
        significant, outcome = _outcome(kpi_direction, low, high, mean)
        comparison.rows.append(KpiComparison(
            key=key, direction=kpi_direction, pairs=len(pairs),
            base_mean=sum(b for b, _ in pairs) / len(pairs), variant_mean=sum(v for _, v in pairs) / len(pairs),
            mean_difference=mean, ci_low=low, ci_high=high, significant=significant, outcome=outcome,
        ))
    comparison.verdicts_zh, comparison.verdicts_en = verdicts(comparison.rows, names or {})
    return comparison


def compare(base_logs: list[SimulationLog], variant_logs: list[SimulationLog],
            names: Mapping[str, str] | None = None) -> Comparison:
    """Compare two scenarios from their paired replication logs (replication ``r`` of both shares a seed)."""
    return compare_flat([flat_kpis(compute_kpis(log)) for log in base_logs],
                        [flat_kpis(compute_kpis(log)) for log in variant_logs], names)


SHARE_LIMIT = 100.0
"""A difference of two shares, in percentage points, lies within ±100: a verdict's interval is clipped to that."""


def _headline(key: str, names: Mapping[str, str]) -> Headline | None:
    if key in HEADLINES:
        return HEADLINES[key]
    for prefix, words in ((UTILISATION_WHILE_ARRIVING, UTILISATION_HEADLINE), (WHOLE_RUN_UTILISATION,
                                                                              WHOLE_RUN_HEADLINE)):
        if key.startswith(prefix):
            pool = key.removeprefix(prefix)
            return Headline(words.zh.format(pool=ROLE_NAMES.get(pool) or names.get(pool, pool)),
                            words.en.format(pool=pool.replace("_", " ")), words.unit_zh, words.unit_en, words.scale)
    return None


def verdict(row: KpiComparison, headline: Headline) -> tuple[str, str]:
    """One sentence in Chinese and its English twin, e.g. ``平均办电时长缩短 2.3 个工作日 (95% CI 1.1–3.5)``."""
    fmt = f"{{:.{headline.decimals}f}}"
    diff = row.mean_difference * headline.scale
    if row.ci_low is None or row.ci_high is None:
        return (f"{headline.zh}：重复次数不足，无法判断 (差值 {fmt.format(diff)}{headline.unit_zh})",
                f"{headline.en}: too few replications to judge (difference {fmt.format(diff)}{headline.unit_en})")
    low, high = row.ci_low * headline.scale, row.ci_high * headline.scale
    clipped = headline.scale == 100.0 and (low < -SHARE_LIMIT or high > SHARE_LIMIT)
    if clipped:  # a share's difference cannot leave ±100 pp: shown clipped, and said (the row keeps the interval)
        low, high = max(low, -SHARE_LIMIT), min(high, SHARE_LIMIT)
    mark_zh, mark_en = ("，区间已截断至可能范围", ", clipped to the possible range") if clipped else ("", "")
    if not row.significant:
        ci = f"95% CI {fmt.format(low)}–{fmt.format(high)}"
        return (f"{headline.zh}无显著变化 (差值 {fmt.format(diff)}{headline.unit_zh}, {ci}{mark_zh})",
                f"{headline.en}: no significant change (difference {fmt.format(diff)}{headline.unit_en}, {ci}"
                f"{mark_en})")
    size, lo, hi = (abs(diff), abs(high), abs(low)) if diff < 0 else (diff, low, high)
    ci = f"95% CI {fmt.format(lo)}–{fmt.format(hi)}{mark_zh}"
    ci_en = f"95% CI {fmt.format(lo)}–{fmt.format(hi)}{mark_en}"
    if row.key.startswith(("cycle_time.", "time_to_connect.")):
        zh_word = "缩短" if diff < 0 else "延长"
    else:
        zh_word = "降低" if diff < 0 else "提高"
    en_word = "down" if diff < 0 else "up"
    return (f"{headline.zh}{zh_word} {fmt.format(size)}{headline.unit_zh} ({ci})",
            f"{headline.en} {en_word} by {fmt.format(size)}{headline.unit_en} ({ci_en})")


def verdicts(rows: Sequence[KpiComparison], names: Mapping[str, str] | None = None) -> tuple[list[str], list[str]]:
    """Verdicts for the headline KPIs present, in the order of :data:`HEADLINES`, then each pool whose utilisation
    changed significantly — the load while cases arrive (:func:`runner.simulation.kpis.pool_load_keys`), the
    figure the tables and charts show, not the whole-run one that a longer tail lowers with the same work."""
    by_key = {row.key: row for row in rows}
    ordered = [k for k in HEADLINES if k in by_key]
    ordered += [k for k in pool_load_keys(by_key).values() if by_key[k].significant]
    zh, en = [], []
    for key in ordered:
        headline = _headline(key, names or {})
        if headline is not None:
            sentence_zh, sentence_en = verdict(by_key[key], headline)
            zh.append(sentence_zh)
            en.append(sentence_en)
    return zh, en
