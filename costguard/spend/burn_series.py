"""Burn-rate samples as a step function: store only changes, read back one value per hour.

The engine stores a sample when the rate changes (or an hour has passed), not every minute, so
the history stays small; baselines then read the rate in force at each hour, which makes them
immune to a missed cycle and to how often the daemon polls.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from costguard.snapshot import BurnSample

HEARTBEAT = timedelta(hours=1)
"""An unchanged rate is stored again after this long, so a gap in history shows as a gap."""

STALE = timedelta(hours=2)
"""A sample older than this says nothing about the hour being read: that hour is unknown."""


def worth_storing(sample: BurnSample, previous: BurnSample | None) -> bool:
    """Whether a new sample adds information: the rate or mix changed, or the heartbeat is due."""
    if previous is None:
        return True
    changed = (
        abs(sample.usd_per_hour - previous.usd_per_hour) > 1e-9
        or sample.instance_count != previous.instance_count
        or abs(sample.recent_usd_per_hour - previous.recent_usd_per_hour) > 1e-9
    )
    return changed or sample.at - previous.at >= HEARTBEAT


def hourly(samples: Iterable[BurnSample], start: datetime, end: datetime) -> list[BurnSample]:
    """The rate in force at each whole hour in [start, end), one series per account and region.

    Hours with no sample in the STALE period before them are left out, not guessed.
    """
    by_key: dict[tuple[str, str], list[BurnSample]] = {}
    for s in sorted(samples, key=lambda s: s.at):
        by_key.setdefault((s.account, s.region), []).append(s)
    out: list[BurnSample] = []
    for series in by_key.values():
        out.extend(_resample(series, start, end))
    return out


def _resample(series: Sequence[BurnSample], start: datetime, end: datetime) -> list[BurnSample]:
    hour = start.replace(minute=0, second=0, microsecond=0)
    if hour < start:
        hour += timedelta(hours=1)
    out, i, current = [], 0, None
    while hour < end:
        while i < len(series) and series[i].at <= hour:
            current, i = series[i], i + 1
        if current is not None and hour - current.at <= STALE:
            out.append(replace(current, at=hour))
        hour += timedelta(hours=1)
    return out
