"""Which of a spend policy's limits a burn rate or a Cost Explorer total crosses. Pure; the
`hourly_spend` check words and files the findings, this module only judges.
"""

from __future__ import annotations

from typing import Protocol

from costguard.model import StrEnum
from costguard.spend.burn import Baseline, is_spike
from costguard.spend.ce_queries import Granularity


class Threshold(StrEnum):
    """The limit a finding crossed; the values are the parameter names that set them."""

    MAX_RATE = "max_usd_per_hour"
    SPIKE = "spike_factor"
    MAX_ACTUAL_HOURLY = "max_actual_usd_per_hour"
    MAX_ACTUAL_DAILY = "max_actual_usd_per_day"


class SpendLimits(Protocol):
    """The limits judged here, as a spend check's parameters carry them (per account)."""

    max_usd_per_hour: float
    spike_factor: float
    min_increase_usd_per_hour: float
    max_actual_usd_per_hour: float | None
    max_actual_usd_per_day: float | None


def burn_thresholds(rate: float, baseline: Baseline, limits: SpendLimits) -> list[Threshold]:
    """The limits a burn rate ($/h) crosses, most absolute first."""
    crossed = []
    if rate > limits.max_usd_per_hour:
        crossed.append(Threshold.MAX_RATE)
    if is_spike(rate, baseline, limits.spike_factor, limits.min_increase_usd_per_hour):
        crossed.append(Threshold.SPIKE)
    return crossed


def cost_limit(granularity: str, limits: SpendLimits) -> tuple[Threshold, float] | None:
    """The limit a Cost Explorer total of this granularity is judged by; None when unset."""
    if granularity == Granularity.HOURLY.value and limits.max_actual_usd_per_hour is not None:
        return Threshold.MAX_ACTUAL_HOURLY, limits.max_actual_usd_per_hour
    if granularity == Granularity.DAILY.value and limits.max_actual_usd_per_day is not None:
        return Threshold.MAX_ACTUAL_DAILY, limits.max_actual_usd_per_day
    return None
