"""costguard's own month-end forecast from daily cost, and Cost Explorer's completed with it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from costguard.snapshot import CostPoint
from costguard.spend.forecast import (
    completed_forecast,
    daily_totals,
    forecast_from_daily,
    month_bounds,
    recent_daily_rate,
    spent_between,
)

ACCOUNT = "111122223333"
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)
TODAY = NOW.replace(hour=0)
DAY = timedelta(days=1)


def day(offset, amount, service="EC2", linked=None):
    start = TODAY + DAY * offset
    return CostPoint(start, start + DAY, service, amount, linked_account=linked)


@pytest.mark.parametrize(
    ("now", "bounds"),
    [
        (NOW, ("2026-11-01", "2026-12-01")),
        (datetime(2026, 12, 31, 23, 59, tzinfo=timezone.utc), ("2026-12-01", "2027-01-01")),
        (datetime(2028, 2, 29, 12, tzinfo=timezone.utc), ("2028-02-01", "2028-03-01")),
    ],
)
def test_month_bounds(now, bounds):
    start, end = month_bounds(now)
    assert (f"{start:%Y-%m-%d}", f"{end:%Y-%m-%d}") == bounds


def test_daily_totals_add_services_and_linked_accounts():
    points = [day(-1, 3.0), day(-1, 2.0, "S3"), day(-1, 5.0, linked="444455556666"), day(0, 1.0)]

    assert daily_totals(points) == {TODAY - DAY: 10.0, TODAY: 1.0}
    assert spent_between(points, TODAY - DAY, TODAY) == 10.0


def test_recent_rate_is_the_mean_of_the_last_week_with_missing_days_as_zero():
    points = [day(-d, 10.0) for d in range(1, 15) if d != 3] + [day(-1, 60.0), day(0, 999.0)]

    # The last 7 complete days: 70 (day -1), 0 (day -3, not in the data), five days of 10.
    assert recent_daily_rate(points, TODAY) == pytest.approx((70 + 0 + 5 * 10) / 7)
    assert recent_daily_rate([day(-2, 30.0), day(-1, 10.0)], TODAY) == 20.0  # two days known
    assert recent_daily_rate([day(0, 5.0)], TODAY) == 0.0  # only today: no complete day


def test_forecast_from_daily_projects_the_recent_rate_to_the_month_end():
    points = [day(-d, 40.0) for d in range(1, 22)] + [day(0, 12.0), day(-30, 500.0)]

    forecast = forecast_from_daily(ACCOUNT, points, NOW)

    # Nov 1-21 at $40 = $840; today at the $40 rate (above its $12 so far); 8 days left at $40.
    assert forecast.forecast_usd == 840 + 40 + 8 * 40
    assert forecast.actual_to_date_usd == 852.0
    assert (forecast.source, forecast.lower_usd) == ("costguard", None)
    assert (forecast.month_start, forecast.month_end) == month_bounds(NOW)


def test_a_day_already_dearer_than_the_rate_counts_at_what_it_cost():
    points = [day(-d, 10.0) for d in range(1, 8)] + [day(0, 300.0)]

    forecast = forecast_from_daily(ACCOUNT, points, NOW)

    assert forecast.forecast_usd == 70 + 300 + 8 * 10


def test_completed_forecast_adds_the_days_before_cost_explorers_period():
    points = [day(-d, 40.0) for d in range(1, 22)] + [day(0, 12.0)]

    forecast = completed_forecast(ACCOUNT, points, NOW, TODAY, 400.0, (350.0, 480.0))

    assert (forecast.forecast_usd, forecast.lower_usd, forecast.upper_usd) == (1240, 1190, 1320)
    assert (forecast.actual_to_date_usd, forecast.source) == (852.0, "cost_explorer")
    assert completed_forecast(ACCOUNT, points, NOW, TODAY, 400.0).upper_usd is None
