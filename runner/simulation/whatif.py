"""What-if comparison of two scenarios over paired replications (common random numbers).

Replication ``r`` of the base and of the variant drew from the same random streams, keyed by ``(seed, r)``
(:mod:`runner.simulation.streams`), so their difference is paired:
for every flat KPI the comparison takes the per-replication differences ``variant − base``, their mean and a 95 %
Student-t confidence interval. A difference is significant when the interval excludes 0; it is *better* or *worse*
by the KPI's direction (:func:`runner.simulation.kpis.direction`), *changed* for neutral KPIs such as utilisation —
unless it is *negligible*: smaller than :func:`practical_threshold` (1 % of the base value, at least an absolute floor
per unit), too small to matter however certain. Common random numbers make even a 0.01-day difference "significant".
A handful of headline KPIs also get a plain-language verdict in Chinese and English; a pool's utilisation and queue
verdicts read its load while cases arrive, the figure the report tables and charts show. A verdict on a duration
(whole case, time to connect) warns when it counts completed cases only and not all of them completed, or when the
two scenarios completed different shares (:func:`censoring_note`); a verdict on a share of cases on time alike when
it leaves out open cases whose outcome is not known yet (``kpis.COUNTED_SHARE``). Intervals read ``[−1.1, 3.5]``
(:func:`interval`), in the verdicts, the web page and the CLI's report.html; both reports write every negative
number with a true minus sign (:func:`true_minus`), the JSON keeps numbers as numbers.

A KPI that one scenario has and the other lacks is compared all the same (:data:`ZERO_WHEN_ABSENT`): as 0 where its
absence means 0, else as a *one-sided* row that shows the one value and no difference.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from scipy import stats  # type: ignore[import-untyped]

from ..roles import ROLE_NAMES, ROLE_NAMES_EN
from .kpis import (
    COUNTED_SHARE as COUNTED_SHARE_SUFFIX,
)
from .kpis import (
    EVERY_STEP_ON_TIME,
    QUEUE_WHILE_ARRIVING,
    UTILISATION_WHILE_ARRIVING,
    WHOLE_RUN_UTILISATION,
    Direction,
    compute_kpis,
    direction,
    flat_kpis,
    pool_load_keys,
    queue_load_keys,
)
from .model import SimulationLog

Outcome = Literal["better", "worse", "changed", "negligible", "no_difference", "undetermined", "one_sided"]
"""``one_sided``: only one scenario has the KPI (see :data:`ZERO_WHEN_ABSENT`): its value is shown, the other's is
"—", with no difference, interval or verdict of change."""
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
    "on_time.case.share": Headline("整体按期率（全流程时限）", "on-time share of cases (whole-case limit)",
                                   " 个百分点", " percentage points", 100.0),
    f"{EVERY_STEP_ON_TIME}all.share": Headline("环节全部按期案件占比", "share of cases with every step on time",
                                               " 个百分点", " percentage points", 100.0),
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
QUEUE_HEADLINE = Headline("{pool}平均排队（到达期间）", "{pool} mean queue while cases arrive", " 件", " tasks", 1.0, 2)
"""A pool's time-weighted mean queue length from the start to the last arrival (``queue.<pool>.mean_length_while_
arriving``)."""

RELATIVE_THRESHOLD = 0.01
"""A significant difference smaller than this share of the base value is *negligible* (无实质差异)."""
FLOORS_BY_NAME: tuple[tuple[str, float], ...] = (
    ("share", 0.005),  # on-time, completed, connected shares: half a percentage point
    ("_days", 0.1),  # working or calendar days: a tenth of a day
    ("days_to_connect", 0.1),
    ("_hours", 0.1),  # step waiting / processing hours
    ("max_length", 1.0),  # the longest queue: one task
    ("mean_length_while_arriving", 0.05),  # mean queue lengths, tasks
    ("mean_length_whole_run", 0.05),
)
"""The smallest difference that matters, by how the flat key's last part ends (the first that matches)."""
FLOORS_BY_GROUP = {"utilisation": 0.005, "utilisation_while_arriving": 0.005, "cost": 1.0,
                   "getting_electricity": 0.01, "escalations": 0.01}
"""The same by the flat key's first part, for keys whose last part names no unit: utilisation (a share), cost (CNY),
procedures, visits and escalations (per case)."""


def practical_threshold(key: str, base_mean: float) -> float:
    """The smallest difference of KPI ``key`` that matters: 1 % of the base value (``RELATIVE_THRESHOLD``), at least
    the unit's absolute floor (``FLOORS_BY_NAME``, else ``FLOORS_BY_GROUP``; 0 for a unit without one)."""
    last, group = key.rsplit(".", 1)[-1], key.split(".", 1)[0]
    floor = next((value for ending, value in FLOORS_BY_NAME if last.endswith(ending)), FLOORS_BY_GROUP.get(group, 0.0))
    return max(RELATIVE_THRESHOLD * abs(base_mean), floor)


@dataclass(frozen=True)
class KpiComparison:
    """One flat KPI compared over the paired replications."""

    key: str
    direction: Direction
    pairs: int
    base_mean: float | None  # None: the base has no such figure (a one-sided row)
    variant_mean: float | None  # None: the variant has none
    mean_difference: float | None  # None for a one-sided row
    ci_low: float | None  # None with fewer than 2 pairs
    ci_high: float | None
    significant: bool  # statistically: the interval excludes 0 (a negligible difference may be significant)
    outcome: Outcome
    threshold: float = 0.0  # the smallest difference that matters (practical_threshold)
    completed_shares: tuple[float | None, float | None] | None = None
    """For a duration counted over completed (or energised) cases only, or a share of cases on time judged over the
    cases with a known outcome only: the base's and the variant's mean share of such cases (``counted_share_key``),
    when either is below 100 % (the verdict then warns: the others are left out)."""

    @property
    def material(self) -> bool:
        """Significant and not negligible: a change worth a verdict."""
        return self.outcome in ("better", "worse", "changed")


@dataclass
class Comparison:
    """The comparison of every flat KPI either scenario has (:func:`compare_flat`), with verdicts for the headline
    ones."""

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


def _outcome(kpi_direction: Direction, low: float | None, high: float | None, mean: float,
             threshold: float = 0.0) -> tuple[bool, Outcome]:
    if low is None or high is None:
        return False, "undetermined"
    significant = low > 0 or high < 0 or (low == high and mean != 0)
    if not significant:
        return False, "no_difference"
    if abs(mean) < threshold:
        return True, "negligible"
    if kpi_direction == "neutral":
        return True, "changed"
    better = mean < 0 if kpi_direction == "lower" else mean > 0
    return True, "better" if better else "worse"


ZERO_WHEN_ABSENT = ("escalations.", "queue.", "cost.pool.", "cost.paid.pool.")
"""Flat key prefixes of the KPIs whose absence on one side means 0, so a comparison reads the missing side's value
as 0 and compares as usual (:func:`compare_flat`). Decided per family:

- ``escalations.*`` (督办 count, per case, share of cases escalated): a scenario without any 督办 had 0 of them.
- ``queue.<pool>.*`` (longest and mean queue): a pool with no queue sample never had a task waiting, a queue of 0
  (``kpis.queue_kpis`` now lists every pool of the run; a result computed before did not).
- ``cost.pool.<pool>``, ``cost.paid.pool.<pool>``: a pool a scenario does not staff costs it nothing.

Every other family is *undefined* when absent, not 0, and its row is one-sided (``one_sided``: the one value, "—"
for the other, no difference, interval or verdict): durations and their completed / connected shares (no case of
that category arrived or completed), on-time shares and their counted shares (nothing judged), a step's waiting
and processing hours and its on-time share (the step never ran there, e.g. the 督办 steps of a scenario with no
escalation), utilisation (no such pool, or no on-shift time), the Getting Electricity figures (no case completed),
the totals per case (no case arrived). Reading any of them as 0 would invent a duration of 0 days, a step done
at once or a share of 0 %."""


def zero_when_absent(key: str) -> bool:
    """Whether a missing flat KPI ``key`` reads as 0 in a comparison (:data:`ZERO_WHEN_ABSENT`)."""
    return key.startswith(ZERO_WHEN_ABSENT)


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def compare_flat(base: Sequence[Mapping[str, float]], variant: Sequence[Mapping[str, float]],
                 names: Mapping[str, str] | None = None) -> Comparison:
    """Compare per-replication flat KPIs; ``base[r]`` and ``variant[r]`` must come from the same seed.

    Every KPI either scenario has gets a row. A KPI is compared over the replications in which both scenarios have
    it; one whose absence means 0 (:data:`ZERO_WHEN_ABSENT`) over every replication in which either has it, the
    other's value 0. A KPI that no replication has on both sides otherwise is one-sided (outcome ``one_sided``):
    the side's mean over its replications that have it, the other None, no difference. ``names`` (role → lane
    name) word the utilisation verdicts.

    Raises:
        ValueError: If the two lists differ in length or are empty.
    """
    if len(base) != len(variant) or not base:
        raise ValueError(f"need the same positive number of replications, got {len(base)} and {len(variant)}")
    comparison = Comparison(replications=len(base))
    keys = sorted(set().union(*base) | set().union(*variant))
    for key in keys:
        kpi_direction = direction(key)
        if zero_when_absent(key):
            pairs = [(b.get(key, 0.0), v.get(key, 0.0)) for b, v in zip(base, variant, strict=True)
                     if key in b or key in v]
        else:
            pairs = [(b[key], v[key]) for b, v in zip(base, variant, strict=True) if key in b and key in v]
        if not pairs:
            comparison.rows.append(KpiComparison(
                key=key, direction=kpi_direction, pairs=0, base_mean=_mean([b[key] for b in base if key in b]),
                variant_mean=_mean([v[key] for v in variant if key in v]), mean_difference=None, ci_low=None,
                ci_high=None, significant=False, outcome="one_sided"))
            continue
        mean, low, high = paired_interval([v - b for b, v in pairs])
        base_mean = sum(b for b, _ in pairs) / len(pairs)
        threshold = practical_threshold(key, base_mean)
        significant, outcome = _outcome(kpi_direction, low, high, mean, threshold)
        comparison.rows.append(KpiComparison(
            key=key, direction=kpi_direction, pairs=len(pairs),
            base_mean=base_mean, variant_mean=sum(v for _, v in pairs) / len(pairs),
            mean_difference=mean, ci_low=low, ci_high=high, significant=significant, outcome=outcome,
            threshold=threshold,
        ))
    _mark_censoring(comparison.rows)
    comparison.verdicts_zh, comparison.verdicts_en = verdicts(comparison.rows, names or {})
    return comparison


def compare(base_logs: list[SimulationLog], variant_logs: list[SimulationLog],
            names: Mapping[str, str] | None = None) -> Comparison:
    """Compare two scenarios from their paired replication logs (replication ``r`` of both shares a seed)."""
    return compare_flat([flat_kpis(compute_kpis(log)) for log in base_logs],
                        [flat_kpis(compute_kpis(log)) for log in variant_logs], names)


DURATION_PREFIXES = ("cycle_time.", "time_to_connect.")
COUNTED_SHARE = {"cycle_time": "completed_share", "time_to_connect": "connected_share"}
"""The share of the cases a duration counts: completed ones for the whole case, energised ones for the time to
connect."""
ON_TIME_COUNTED = ("on_time.case.share", EVERY_STEP_ON_TIME)
"""The on-time shares of cases, which leave out the open cases whose outcome is not known yet (``kpis.COUNTED_SHARE``
says how many they judged)."""


def counted_share_key(key: str) -> str | None:
    """The flat key of the share of cases that KPI ``key`` counts: a duration's completed (energised) share
    (``cycle_time.all.mean_working_days`` → ``cycle_time.all.completed_share``), a case on-time share's judged share
    (``on_time.every_step.all.share`` → ``on_time.every_step.all.counted_share``); None for any other key."""
    if key == ON_TIME_COUNTED[0] or (key.startswith(ON_TIME_COUNTED[1]) and key.endswith(".share")):
        return key.removesuffix(".share") + COUNTED_SHARE_SUFFIX
    parts = key.split(".")
    if len(parts) != 3 or parts[0] not in COUNTED_SHARE or parts[2].endswith("_share"):
        return None
    return f"{parts[0]}.{parts[1]}.{COUNTED_SHARE[parts[0]]}"


def is_on_time_share(key: str) -> bool:
    """Whether ``key`` is a share of cases on time (whole case, every step), not a duration."""
    return key.startswith("on_time.") and counted_share_key(key) is not None


def _mark_censoring(rows: list[KpiComparison]) -> None:
    """Give each duration row whose counted share is below 100 % on either side the two shares (in place; None for
    a side without the share, in a one-sided row)."""
    by_key = {row.key: row for row in rows}
    for i, row in enumerate(rows):
        share = by_key.get(counted_share_key(row.key) or "")
        if share is None:
            continue
        known = [value for value in (share.base_mean, share.variant_mean) if value is not None]
        if known and min(known) < 1.0:
            rows[i] = replace(row, completed_shares=(share.base_mean, share.variant_mean))


SHARES_DIFFER = 0.0005
"""Counted shares further apart than this (0.05 percentage points) make the two scenarios' durations incomparable."""


def censoring_note(row: KpiComparison) -> tuple[str, str]:
    """The warning a duration verdict carries when it leaves cases out (empty strings when it leaves none)."""
    if row.completed_shares is None:
        return "", ""
    base, variant = ("—" if share is None else f"{share * 100:.1f}%" for share in row.completed_shares)
    first, second = row.completed_shares
    differ = first is not None and second is not None and abs(first - second) > SHARES_DIFFER
    if is_on_time_share(row.key):
        zh = (f"；注意：仅计结果已知的案件（基准方案 {base}、对比方案 {variant}），"
              "未办结且尚未超出时限的案件结果未知，未计入")
        en = (f"; note: cases with a known outcome only (base {base}, variant {variant}), open cases not yet past "
              "a limit are left out")
        if differ:
            zh += "，两方案比例不同，按期率不可直接比较"
            en += "; the shares differ, so the on-time shares are not directly comparable"
        return zh, en
    counted_zh, counted_en = (("已送电", "energised") if row.key.startswith("time_to_connect.")
                              else ("已办结", "completed"))
    zh = f"；注意：仅计{counted_zh}案件（基准方案 {base}、对比方案 {variant}），未{counted_zh[1:]}的案件未计入"
    en = f"; note: {counted_en} cases only (base {base}, variant {variant}), the others are left out"
    if differ:
        zh += "，两方案比例不同，时长不可直接比较"
        en += "; the shares differ, so the durations are not directly comparable"
    return zh, en


SHARE_LIMIT = 100.0
"""A difference of two shares, in percentage points, lies within ±100: a verdict's interval is clipped to that."""


def _english(pool: str) -> str:
    """A pool's English name: its lane role's, as the web UI shows it, else the key in words."""
    return ROLE_NAMES_EN.get(pool) or pool.replace("_", " ")


def _headline(key: str, names: Mapping[str, str]) -> Headline | None:
    if key in HEADLINES:
        return HEADLINES[key]
    if key.startswith("queue.") and key.endswith(QUEUE_WHILE_ARRIVING):
        pool = key.removeprefix("queue.").removesuffix(QUEUE_WHILE_ARRIVING)
        return replace(QUEUE_HEADLINE, zh=QUEUE_HEADLINE.zh.format(pool=ROLE_NAMES.get(pool) or names.get(pool, pool)),
                       en=QUEUE_HEADLINE.en.format(pool=_english(pool)))
    for prefix, words in ((UTILISATION_WHILE_ARRIVING, UTILISATION_HEADLINE), (WHOLE_RUN_UTILISATION,
                                                                              WHOLE_RUN_HEADLINE)):
        if key.startswith(prefix):
            pool = key.removeprefix(prefix)
            return Headline(words.zh.format(pool=ROLE_NAMES.get(pool) or names.get(pool, pool)),
                            words.en.format(pool=_english(pool)), words.unit_zh, words.unit_en, words.scale)
    return None


def verdict(row: KpiComparison, headline: Headline) -> tuple[str, str]:
    """One sentence in Chinese and its English twin, e.g. ``平均办电时长缩短 2.3 个工作日 (95% CI [1.1, 3.5])``, with
    the warning of :func:`censoring_note` when the KPI leaves cases out; a one-sided KPI says which side has it."""
    zh, en = _one_sided(row, headline) if row.outcome == "one_sided" else _verdict(row, headline)
    note_zh, note_en = censoring_note(row)
    return zh + note_zh, en[:1].upper() + en[1:] + note_en  # a sentence: "Mean time to connect down by …"


def no_negative_zero(text: str) -> str:
    """``-0.0`` (a tiny negative rounded away) as ``0.0``: a minus before a figure that shows no digit but 0 only
    puzzles the reader (``95% CI [-0.0, 0.1]``)."""
    return text[1:] if text.startswith("-") and not any(digit in text for digit in "123456789") else text


MINUS = "\u2212"
"""The minus sign (−) of every negative number the reports show: a hyphen-minus beside a dash or a bracket reads as
punctuation, and one report wrote ``-3.3`` beside ``[−3.3, 0.3]``."""


def minus(number: str) -> str:
    """One formatted number as the reports show it: a negative zero without its sign (:func:`no_negative_zero`), a
    negative one with a true minus sign (``-3.30`` → ``−3.30``, ``-1.5 pp`` → ``−1.5 pp``)."""
    number = no_negative_zero(number)
    return MINUS + number[1:] if number.startswith("-") else number


NEGATIVE_NUMBER = re.compile(r"(?<![\w.\-])-(?=\d)")
"""A hyphen-minus that signs a number in running text (``差值 -1.5``, ``[-0.3, 1.2]``), not one inside a word or a
range (``P50-P90``, ``2026-11-02``)."""


def true_minus(text: str) -> str:
    """Running text (a verdict, stored or new) with its negative numbers signed with a true minus sign, as both
    reports show them (a difference keeps its sign: ``差值 -0.0`` → ``差值 −0.0``); the JSON (``comparison.json``,
    the stored result) keeps the verdicts as written."""
    return NEGATIVE_NUMBER.sub(MINUS, text)


def interval(low: str, high: str) -> str:
    """A confidence interval of two formatted ends, ``[−3.3, 0.3]``: brackets and a comma, never ``-3.3–0.3``
    (a minus next to a dash), a negative zero without its sign, negative ends with a true minus sign
    (:func:`minus`). The web page, the CLI's report.html and the verdicts all write intervals so."""
    return "[" + ", ".join(minus(end) for end in (low, high)) + "]"


def _joined(label: str, words: str) -> str:
    """A label and the verdict's words: a space after a label ending in a Latin letter or digit (``办电时长 P90
    无显著变化``), none after a Chinese one (``平均办电时长缩短``)."""
    return f"{label} {words}" if label[-1:].isascii() and label[-1:].isalnum() else label + words


SIDE_WORDS = {"base": ("基准方案", "the base"), "variant": ("对比方案", "the variant")}


def _one_sided(row: KpiComparison, headline: Headline) -> tuple[str, str]:
    """A headline KPI only one scenario has: which one, and that nothing is compared."""
    zh, en = SIDE_WORDS["base" if row.base_mean is not None else "variant"]
    return (f"{headline.zh}：仅{zh}有此指标，无法比较", f"{headline.en}: only {en} has this figure; not compared")


def _verdict(row: KpiComparison, headline: Headline) -> tuple[str, str]:
    fmt = f"{{:.{headline.decimals}f}}"
    diff = (row.mean_difference or 0.0) * headline.scale
    if row.ci_low is None or row.ci_high is None:
        return (f"{headline.zh}：重复次数不足，无法判断 (差值 {fmt.format(diff)}{headline.unit_zh})",
                f"{headline.en}: too few replications to judge (difference {fmt.format(diff)}{headline.unit_en})")
    low, high = row.ci_low * headline.scale, row.ci_high * headline.scale
    clipped = headline.scale == 100.0 and (low < -SHARE_LIMIT or high > SHARE_LIMIT)
    if clipped:  # a share's difference cannot leave ±100 pp: shown clipped, and said (the row keeps the interval)
        low, high = max(low, -SHARE_LIMIT), min(high, SHARE_LIMIT)
    mark_zh, mark_en = ("，区间已截断至可能范围", ", clipped to the possible range") if clipped else ("", "")
    if not row.significant:
        ci = f"95% CI {interval(fmt.format(low), fmt.format(high))}"
        return (f"{_joined(headline.zh, '无显著变化')} (差值 {fmt.format(diff)}{headline.unit_zh}, {ci}{mark_zh})",
                f"{headline.en}: no significant change (difference {fmt.format(diff)}{headline.unit_en}, {ci}"
                f"{mark_en})")
    if row.outcome == "negligible":
        ci = f"95% CI {interval(fmt.format(low), fmt.format(high))}"
        limit = fmt.format(row.threshold * headline.scale)
        return (f"{_joined(headline.zh, '无实质差异')} (差值 {fmt.format(diff)}{headline.unit_zh}, {ci}{mark_zh}；"
                f"小于实质差异阈值 {limit}{headline.unit_zh})",
                f"{headline.en}: negligible difference ({fmt.format(diff)}{headline.unit_en}, {ci}{mark_en}; "
                f"below the practical threshold of {limit}{headline.unit_en})")
    size, lo, hi = (abs(diff), abs(high), abs(low)) if diff < 0 else (diff, low, high)
    ci = f"95% CI {interval(fmt.format(lo), fmt.format(hi))}"
    if row.key.startswith(("cycle_time.", "time_to_connect.")):
        zh_word = "缩短" if diff < 0 else "延长"
    elif row.key.startswith("queue."):
        zh_word = "减少" if diff < 0 else "增加"
    else:
        zh_word = "降低" if diff < 0 else "提高"
    en_word = "down" if diff < 0 else "up"
    return (f"{_joined(headline.zh, zh_word)} {fmt.format(size)}{headline.unit_zh} ({ci}{mark_zh})",
            f"{headline.en} {en_word} by {fmt.format(size)}{headline.unit_en} ({ci}{mark_en})")


def verdicts(rows: Sequence[KpiComparison], names: Mapping[str, str] | None = None) -> tuple[list[str], list[str]]:
    """Verdicts for the headline KPIs present, in the order of :data:`HEADLINES`, then each pool whose utilisation
    changed materially (significant, not negligible) — the load while cases arrive
    (:func:`runner.simulation.kpis.pool_load_keys`), the figure the tables and charts show, not the whole-run one
    that a longer tail lowers with the same work — then each pool whose mean queue while cases arrive did."""
    by_key = {row.key: row for row in rows}
    ordered = [k for k in HEADLINES if k in by_key]
    ordered += [k for k in pool_load_keys(by_key).values() if by_key[k].material]
    ordered += [k for k in queue_load_keys(by_key).values() if by_key[k].material]
    zh, en = [], []
    for key in ordered:
        headline = _headline(key, names or {})
        if headline is not None:
            sentence_zh, sentence_en = verdict(by_key[key], headline)
            zh.append(sentence_zh)
            en.append(sentence_en)
    return zh, en
