"""Cost Explorer answers by period (costguard/spend/ce_periods.py)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from costguard.snapshot import CostData, CostPoint
from costguard.spend.ce_periods import ce_time_period, latest_period, totals_by

NOW = datetime(2026, 11, 22, 12, 30, tzinfo=timezone.utc)
HOUR = timedelta(hours=1)


def point(start: datetime, service: str, amount: float, length: timedelta = HOUR) -> CostPoint:
    return CostPoint(start=start, end=start + length, service=service, amount=amount)


def test_the_latest_hour_is_the_newest_complete_one():
    eleven, noon = NOW.replace(hour=11, minute=0), NOW.replace(hour=12, minute=0)
    cost = CostData("111122223333", "HOURLY", (point(eleven, "EC2", 4.0),
                                               point(eleven, "S3", 1.0),
                                               point(noon, "EC2", 2.0)))

    assert [p.service for p in latest_period(cost, NOW)] == ["EC2", "S3"]
    assert latest_period(CostData("111122223333", "HOURLY"), NOW) == []


def test_the_latest_day_includes_today_so_far():
    today = NOW.replace(hour=0, minute=0)
    cost = CostData("111122223333", "DAILY", (point(today - 24 * HOUR, "EC2", 9.0, 24 * HOUR),
                                              point(today, "EC2", 3.0, 24 * HOUR)))

    assert [p.amount for p in latest_period(cost, NOW)] == [3.0]


def test_the_period_reads_as_the_cli_takes_it():
    start = NOW.replace(hour=11, minute=0)

    assert ce_time_period("HOURLY", start, start + HOUR) == {
        "Start": "2026-11-22T11:00:00Z", "End": "2026-11-22T12:00:00Z"}
    assert ce_time_period("DAILY", start, start + HOUR) == {
        "Start": "2026-11-22", "End": "2026-11-22"}


def test_totals_are_largest_first_then_by_name():
    points = [point(NOW, "S3", 1.0), point(NOW, "EC2", 3.0), point(NOW, "S3", 1.5),
              point(NOW, "AWS Lambda", 2.5)]

    totals = totals_by(points, lambda p: p.service)

    assert list(totals.items()) == [("EC2", 3.0), ("AWS Lambda", 2.5), ("S3", 2.5)]
