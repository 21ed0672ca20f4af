"""Paired what-if comparison: confidence intervals, significance and verdicts (runner/simulation/whatif.py)."""

from __future__ import annotations

import json
import random

import pytest

from runner.simulation.whatif import compare, compare_flat, paired_interval
from tests.simulation_fixtures import scaled_log


def test_paired_interval_matches_a_hand_computed_student_t_interval() -> None:
    mean, low, high = paired_interval([1.0, 2.0, 3.0])
    # sd = 1, n = 3, t(0.975, 2) = 4.302653 → half width 4.302653 / sqrt(3) = 2.484138
    assert mean == 2.0
    assert low == pytest.approx(2.0 - 2.484138, abs=1e-5) and high == pytest.approx(2.0 + 2.484138, abs=1e-5)
    assert paired_interval([5.0]) == (5.0, None, None)


def noisy_pairs(shift: float, n: int = 10) -> tuple[list[dict[str, float]], list[dict[str, float]]]:
    rng = random.Random(7)
    base, variant = [], []
    for _ in range(n):
        common = rng.gauss(10.0, 2.0)  # common random numbers: both see the same noise ...
        base.append({"cycle_time.all.mean_working_days": common + rng.gauss(0, 0.3), "on_time.case.share": 0.8})
        variant.append({"cycle_time.all.mean_working_days": common - shift + rng.gauss(0, 0.3),
                        "on_time.case.share": 0.8})
    return base, variant


def test_a_clear_difference_is_significant_and_better() -> None:
    base, variant = noisy_pairs(shift=2.0)
    row = compare_flat(base, variant).row("cycle_time.all.mean_working_days")
    assert row.significant and row.outcome == "better"
    assert row.ci_high is not None and row.ci_high < 0
    assert row.mean_difference == pytest.approx(row.variant_mean - row.base_mean)
    assert row.pairs == 10


def test_identical_scenarios_show_no_difference() -> None:
    base, _ = noisy_pairs(shift=0.0)
    comparison = compare_flat(base, [dict(b) for b in base])
    for row in comparison.rows:
        assert not row.significant and row.outcome == "no_difference" and row.mean_difference == 0.0


def test_noise_alone_is_not_significant() -> None:
    base, variant = noisy_pairs(shift=0.0)
    row = compare_flat(base, variant).row("cycle_time.all.mean_working_days")
    assert row.ci_low is not None and row.ci_high is not None and row.ci_low < 0 < row.ci_high
    assert not row.significant


def test_a_worse_share_is_worse() -> None:
    base = [{"on_time.case.share": 0.9 + i / 100} for i in range(5)]
    variant = [{"on_time.case.share": 0.7 + i / 100 + (i % 2) / 200} for i in range(5)]
    row = compare_flat(base, variant).row("on_time.case.share")
    assert row.outcome == "worse" and row.direction == "higher"


def test_verdicts_in_chinese_and_english() -> None:
    base, variant = noisy_pairs(shift=2.0)
    comparison = compare_flat(base, variant)
    zh, en = comparison.verdicts_zh, comparison.verdicts_en
    assert zh[0].startswith("平均办电时长缩短 ") and "个工作日 (95% CI " in zh[0]
    assert en[0].startswith("mean time to connect down by ") and "working days (95% CI" in en[0]
    assert zh[1].startswith("整体按期率无显著变化")
    json.dumps(comparison.to_dict(), ensure_ascii=False, allow_nan=False)


def test_compare_from_logs_uses_the_kpis_of_each_replication() -> None:
    base = [scaled_log(1.0 + r / 50, seed=r) for r in range(4)]
    faster = [scaled_log(0.5 + r / 40, seed=r) for r in range(4)]
    comparison = compare(base, faster)
    assert comparison.row("cycle_time.all.mean_calendar_days").outcome == "better"
    assert comparison.row("utilisation.surveyor").outcome == "changed"
    assert comparison.to_dict()["replications"] == 4


def test_unpaired_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="same positive number"):
        compare_flat([{"a": 1.0}], [])
