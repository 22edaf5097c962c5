"""A cycle's judgement, kept for the reports: what each check judged in each complete scope,
stored in the cycle's unit of work as the day's counts and the resources judged now."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from costguard.store.check_counts import KEEP_DAYS, Judgement

if TYPE_CHECKING:
    from costguard.checks.evaluate import CheckScope, Judged
    from costguard.store import Unit


def local_day(moment: datetime, zone: ZoneInfo) -> str:
    """The date of `moment` in the schedule's time zone: the day its counts belong to."""
    return moment.astimezone(zone).date().isoformat()


def record_judged(unit: Unit, judged: Mapping[CheckScope, Judged], now: datetime,
                  zone: ZoneInfo) -> None:
    """Store this cycle's judgement as today's counts (replacing today's earlier cycles')."""
    oldest = local_day(now - timedelta(days=KEEP_DAYS), zone)
    unit.record_judged(
        {scope: Judgement(j.severity, sorted(j.resources), len(j.failed))
         for scope, j in judged.items()},
        day=local_day(now, zone), oldest_day=oldest, now=now,
    )
