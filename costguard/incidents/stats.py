"""Alert-to-fix: how fast incidents were announced and fixed, overall and per severity.

Pure: it reads incident records. Time to notify is detected -> first message delivered; time
to fix is that message -> the complete scan that no longer saw any of the incident's findings
(detection when nothing was sent). An incident still open past the target counts as not fixed
within it; one still open inside the target is not counted yet.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from costguard.model import Severity


class Timed(Protocol):
    """What the figures read of an incident (a StoredIncident; tests pass plain objects)."""

    severity: Severity
    detected_at: datetime | None
    notified_at: datetime | None
    resolved_at: datetime | None


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0..100) by linear interpolation between ranks; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def time_to_notify(incident: Timed) -> timedelta | None:
    """Detected -> notified, when it was notified."""
    if incident.notified_at is None or incident.detected_at is None:
        return None
    return incident.notified_at - incident.detected_at


def time_to_fix(incident: Timed) -> timedelta | None:
    """Notified (or detected, if never notified) -> resolved, when it was resolved."""
    start = incident.notified_at or incident.detected_at
    if incident.resolved_at is None or start is None:
        return None
    return incident.resolved_at - start


@dataclass(frozen=True)
class Row:
    """The figures for one group of incidents (all, or one severity)."""

    label: str
    count: int
    resolved: int
    notify_median_s: float | None
    notify_p75_s: float | None
    fix_median_s: float | None
    fix_p75_s: float | None
    within_target: int
    judged: int

    @property
    def share_within_target(self) -> float | None:
        """Fixed within target / incidents that are fixed or already past the target."""
        return self.within_target / self.judged if self.judged else None


def summarize(label: str, incidents: Sequence[Timed], target: timedelta, now: datetime) -> Row:
    """One row of figures for `incidents`."""
    notify = [t.total_seconds() for i in incidents if (t := time_to_notify(i)) is not None]
    fix = [t.total_seconds() for i in incidents if (t := time_to_fix(i)) is not None]
    within = sum(1 for s in fix if s <= target.total_seconds())
    overdue = sum(
        1 for i in incidents
        if i.resolved_at is None and now - (i.notified_at or i.detected_at) > target
    )
    return Row(label, len(incidents), len(fix), percentile(notify, 50), percentile(notify, 75),
               percentile(fix, 50), percentile(fix, 75), within, len(fix) + overdue)


def stats_rows(incidents: Iterable[Timed], target: timedelta, now: datetime) -> list[Row]:
    """Overall, then one row per severity that has incidents, worst first."""
    items = list(incidents)
    rows = [summarize("all", items, target, now)]
    for severity in sorted(Severity, key=lambda s: -s.rank):
        group = [i for i in items if i.severity == severity]
        if group:
            rows.append(summarize(severity.value, group, target, now))
    return rows


def duration(seconds: float | None) -> str:
    """Short human duration: 0.4s, 42s, 7m 05s, 3h 12m, 2d 4h; "-" for none."""
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{seconds:.1f}s"
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    return f"{s // 86400}d {s % 86400 // 3600}h"


def stats_table(rows: Sequence[Row], target: timedelta) -> list[tuple[str, ...]]:
    """The rows as `costguard stats` prints them."""
    minutes = round(target.total_seconds() / 60)
    out = []
    for r in rows:
        share = r.share_within_target
        shown = f"{r.within_target}/{r.judged} ({share:.0%})" if share is not None else "-"
        out.append((r.label, str(r.count), str(r.resolved), duration(r.notify_median_s),
                    duration(r.notify_p75_s), duration(r.fix_median_s), duration(r.fix_p75_s),
                    shown))
    out.insert(0, ("severity", "incidents", "fixed", "notify median", "notify p75",
                   "fix median", "fix p75", f"fixed within {minutes}m"))
    return out
