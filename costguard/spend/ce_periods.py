"""Reading Cost Explorer's answer by period: the newest period, its totals by a dimension, and
the period again as `aws ce get-cost-and-usage --time-period` takes it. Pure, on the points the
cost collector stored, so the spend checks and their remediation agree on which period they mean.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timezone

from costguard.snapshot import CostData, CostPoint
from costguard.spend.ce_queries import Granularity


def latest_period(cost: CostData, now: datetime) -> list[CostPoint]:
    """The points of the newest period: for HOURLY the newest complete hour (the current hour
    is still filling in), for DAILY the newest day, today so far included."""
    points = cost.points
    if cost.granularity == Granularity.HOURLY.value:
        points = tuple(p for p in points if p.end <= now)
    if not points:
        return []
    start = max(p.start for p in points)
    return [p for p in points if p.start == start]


def ce_time_period(granularity: str, start: datetime, end: datetime) -> dict[str, str]:
    """The period as `aws ce get-cost-and-usage --time-period` wants it: UTC, with the time
    only at HOURLY granularity."""
    fmt = "%Y-%m-%dT%H:%M:%SZ" if granularity == Granularity.HOURLY.value else "%Y-%m-%d"
    return {"Start": _utc(start).strftime(fmt), "End": _utc(end).strftime(fmt)}


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(timezone.utc) if moment.tzinfo else moment


def totals_by(points: Iterable[CostPoint], key: Callable[[CostPoint], str]) -> dict[str, float]:
    """Amounts summed by `key` (a service, a linked account), largest first."""
    sums: dict[str, float] = {}
    for point in points:
        sums[key(point)] = sums.get(key(point), 0.0) + point.amount
    return {k: round(v, 2) for k, v in sorted(sums.items(), key=lambda kv: (-kv[1], kv[0]))}
