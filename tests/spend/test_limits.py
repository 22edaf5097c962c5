"""Which spend limits a burn rate or a Cost Explorer total crosses (costguard/spend/limits.py)."""

from __future__ import annotations

from costguard.checks.hourly_spend import HourlySpendParams
from costguard.spend.burn import Baseline
from costguard.spend.limits import Threshold, burn_thresholds, cost_limit

KNOWN = Baseline(usd_per_hour=1.0, samples=24, hours=24)
UNKNOWN = Baseline(usd_per_hour=None, samples=2, hours=24)


def test_the_absolute_limit_comes_before_the_spike():
    params = HourlySpendParams(max_usd_per_hour=5, spike_factor=3, min_increase_usd_per_hour=1)

    assert burn_thresholds(6.0, KNOWN, params) == [Threshold.MAX_RATE, Threshold.SPIKE]
    assert burn_thresholds(3.5, KNOWN, params) == [Threshold.SPIKE]
    assert burn_thresholds(2.5, KNOWN, params) == []


def test_without_a_baseline_only_the_absolute_limit_applies():
    params = HourlySpendParams(max_usd_per_hour=5)

    assert burn_thresholds(4.0, UNKNOWN, params) == []
    assert burn_thresholds(5.5, UNKNOWN, params) == [Threshold.MAX_RATE]


def test_a_spike_must_also_be_a_real_increase():
    params = HourlySpendParams(spike_factor=3, min_increase_usd_per_hour=1)
    tiny = Baseline(usd_per_hour=0.01, samples=24, hours=24)

    assert burn_thresholds(0.05, tiny, params) == []


def test_each_granularity_has_its_own_cost_limit_and_none_when_unset():
    params = HourlySpendParams(max_actual_usd_per_hour=10)

    assert cost_limit("HOURLY", params) == (Threshold.MAX_ACTUAL_HOURLY, 10)
    assert cost_limit("DAILY", params) is None
    assert cost_limit("DAILY", HourlySpendParams(max_actual_usd_per_day=200)) == (
        Threshold.MAX_ACTUAL_DAILY, 200)
