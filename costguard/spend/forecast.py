"""The month-end forecast: Cost Explorer's, completed with stored actuals, or costguard's own.

Pure functions over cost points, so `CostCollector.forecast` can fall back to them when
GetCostForecast is unavailable (an account with too little history answers
DataUnavailableException), refused by the request budget, or failing, and so they are tested
with plain data.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta, timezone

from costguard.model import StrEnum
from costguard.snapshot import CostForecast, CostPoint

RATE_DAYS = 7
"""Complete days whose mean daily cost the fallback projects to the month's end: a week evens
out weekday and weekend spend, and a mean (not a median) lets a running spike raise it."""


class ForecastSource(StrEnum):
    """Where a forecast came from (`CostForecast.source`)."""

    COST_EXPLORER = "cost_explorer"
    COSTGUARD = "costguard"


def day_start(moment: datetime) -> datetime:
    """Midnight UTC of `moment`'s day."""
    return moment.astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)


def month_bounds(now: datetime) -> tuple[datetime, datetime]:
    """The first instant of `now`'s UTC month and of the next one."""
    start = day_start(now).replace(day=1)
    return start, (start + timedelta(days=32)).replace(day=1)


def daily_totals(points: Iterable[CostPoint]) -> dict[datetime, float]:
    """Total cost per day (all services and linked accounts), keyed by the day's start."""
    totals: dict[datetime, float] = {}
    for point in points:
        day = day_start(point.start)
        totals[day] = totals.get(day, 0.0) + point.amount
    return totals


def spent_between(points: Iterable[CostPoint], start: datetime, end: datetime) -> float:
    """The cost of the days that start in [start, end)."""
    return round(sum(a for day, a in daily_totals(points).items() if start <= day < end), 2)


def recent_daily_rate(points: Iterable[CostPoint], today: datetime, days: int = RATE_DAYS) -> float:
    """Mean daily cost of up to `days` complete days before `today`; days the data does not
    mention after its first day count as $0 (Cost Explorer leaves out days with no groups)."""
    totals = {d: a for d, a in daily_totals(points).items() if d < today}
    if not totals:
        return 0.0
    first = max(min(totals), today - timedelta(days=days))
    span = (today - first).days
    return sum(a for d, a in totals.items() if d >= first) / span


def forecast_from_daily(
    account: str, points: Iterable[CostPoint], now: datetime, days: int = RATE_DAYS
) -> CostForecast:
    """The month's total if the recent daily rate holds: the complete days so far, today at
    the rate (or what today already cost, if more), and the rate for each day left."""
    points = list(points)
    month_start, month_end = month_bounds(now)
    today = day_start(now)
    rate = recent_daily_rate(points, today, days)
    spent = spent_between(points, month_start, today)
    so_far_today = spent_between(points, today, today + timedelta(days=1))
    days_after_today = (month_end - today).days - 1
    total = spent + max(so_far_today, rate) + rate * days_after_today
    return CostForecast(
        account=account,
        month_start=month_start,
        month_end=month_end,
        forecast_usd=round(total, 2),
        actual_to_date_usd=round(spent + so_far_today, 2),
        source=ForecastSource.COSTGUARD.value,
    )


def completed_forecast(
    account: str,
    points: Iterable[CostPoint],
    now: datetime,
    forecast_start: datetime,
    mean: float,
    bounds: tuple[float | None, float | None] = (None, None),
) -> CostForecast:
    """Cost Explorer's forecast (which covers `forecast_start` to the month's end) plus the
    actual cost of the month's days before it, so it is a whole month's figure."""
    points = list(points)
    month_start, month_end = month_bounds(now)
    before = spent_between(points, month_start, forecast_start)
    lower, upper = bounds
    return CostForecast(
        account=account,
        month_start=month_start,
        month_end=month_end,
        forecast_usd=round(before + mean, 2),
        actual_to_date_usd=spent_between(points, month_start, month_end),
        source=ForecastSource.COST_EXPLORER.value,
        lower_usd=None if lower is None else round(before + lower, 2),
        upper_usd=None if upper is None else round(before + upper, 2),
    )
