"""Alert-to-fix figures on a known history (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from costguard.incidents.stats import duration, percentile, stats_rows, stats_table
from costguard.model import Severity

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)
TARGET = timedelta(minutes=30)


@dataclass
class Incident:
    severity: Severity
    detected_at: datetime
    notified_at: datetime | None
    resolved_at: datetime | None


def incident(severity: str, notify_s: float | None, fix_min: float | None,
             detected_min_ago: float = 600) -> Incident:
    detected = NOW - timedelta(minutes=detected_min_ago)
    notified = detected + timedelta(seconds=notify_s) if notify_s is not None else None
    start = notified or detected
    resolved = start + timedelta(minutes=fix_min) if fix_min is not None else None
    return Incident(Severity(severity), detected, notified, resolved)


HISTORY = [
    incident("critical", 4, 12),
    incident("critical", 6, 37),     # the reference SOC's 37 minutes: outside the target
    incident("high", 2, 20),
    incident("high", 3, None),       # open for 10 hours: overdue, counts as not within
    incident("high", 5, None, detected_min_ago=10),  # open 10 minutes: not judged yet
    incident("medium", None, 90),    # never notified: fix measured from detection
]


def test_percentile_interpolates() -> None:
    assert percentile([10, 20, 30, 40], 50) == 25
    assert percentile([10, 20, 30, 40], 75) == 32.5
    assert percentile([7], 75) == 7
    assert percentile([], 50) is None


def test_overall_and_per_severity_figures() -> None:
    rows = {r.label: r for r in stats_rows(HISTORY, TARGET, NOW)}
    overall = rows["all"]
    assert (overall.count, overall.resolved) == (6, 4)
    assert overall.notify_median_s == 4          # 2, 3, 4, 5, 6
    assert overall.notify_p75_s == 5
    assert overall.fix_median_s == (20 + 37) / 2 * 60   # 12, 20, 37, 90 minutes
    assert overall.fix_p75_s == (37 + (90 - 37) * 0.25) * 60
    assert (overall.within_target, overall.judged) == (2, 5)
    assert overall.share_within_target == 0.4
    assert list(rows) == ["all", "critical", "high", "medium"]
    assert (rows["critical"].within_target, rows["critical"].judged) == (1, 2)
    assert (rows["high"].within_target, rows["high"].judged) == (1, 2)
    assert rows["medium"].notify_median_s is None


def test_table_is_readable() -> None:
    header, first, *_ = stats_table(stats_rows(HISTORY, TARGET, NOW), TARGET)
    assert header[-1] == "fixed within 30m"
    assert first == ("all", "6", "4", "4.0s", "5.0s", "28m 30s", "50m 15s", "2/5 (40%)")


def test_duration_formats() -> None:
    assert [duration(x) for x in (None, 0.42, 42, 425, 11520, 187200)] == [
        "-", "0.4s", "42s", "7m 05s", "3h 12m", "2d 4h"]
