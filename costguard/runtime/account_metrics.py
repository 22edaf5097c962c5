"""Per account x source metrics and staleness, for `/metrics` and `/healthz`.

An Organization is watched only as well as its stalest account: a member whose role was
deleted, or a region that stopped answering, must show on a dashboard and fail the health
check, not hide in a total. Figures come from the stored health book (so every replica and a
restarted daemon report the same), except the AWS call counts, which are this process's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from costguard.model import Source
from costguard.settings.sections import ScheduleConfig
from costguard.snapshot import SourceHealth

STALE_INTERVALS = 3
"""A source not collected for this many of its intervals makes /healthz fail."""

POLLED = {s.value: s for s in Source}
"""Health records of a polled source (the event queue records have no interval)."""


def account_families(health: Iterable[SourceHealth]) -> Iterable[Any]:
    """Collections, failed collections and the oldest last success, per account x source
    (summed, or the oldest, over the source's regions)."""
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    labels = ["account", "source"]
    cycles = CounterMetricFamily("costguard_collections", "Collections attempted",
                                 labels=labels)
    failed = CounterMetricFamily("costguard_collection_failures", "Collections that failed",
                                 labels=labels)
    success = GaugeMetricFamily(
        "costguard_last_success_timestamp_seconds",
        "When every region of the source last collected in full (the oldest region's time)",
        labels=labels)
    for (account, source), records in sorted(_by_account(health).items()):
        cycles.add_metric([account, source], sum(h.cycles for h in records))
        failed.add_metric([account, source], sum(h.failed_cycles for h in records))
        times = [h.last_success_at for h in records]
        if all(times):
            success.add_metric([account, source], min(t.timestamp() for t in times if t))
    return cycles, failed, success


def _by_account(health: Iterable[SourceHealth]) -> dict[tuple[str, str], list[SourceHealth]]:
    grouped: dict[tuple[str, str], list[SourceHealth]] = {}
    for h in health:
        if h.source in POLLED:
            grouped.setdefault((h.account, h.source), []).append(h)
    return grouped


def call_family(calls: Mapping[str, int]) -> Any:
    """AWS requests this process made, per service and operation (counted by a botocore
    `before-call` hook: retries are not requests of their own)."""
    from prometheus_client.core import CounterMetricFamily

    family = CounterMetricFamily("costguard_aws_calls", "AWS API requests made",
                                 labels=["service", "operation"])
    for action, count in sorted(calls.items()):
        service, _, operation = action.partition(":")
        family.add_metric([service, operation], count)
    return family


def stale(health: Iterable[SourceHealth], schedule: ScheduleConfig, now: datetime
          ) -> list[str]:
    """One line per polled source of an account and region not collected for
    STALE_INTERVALS of its intervals (never collected counts from nothing: the failing
    check names those)."""
    lines = []
    for h in health:
        source = POLLED.get(h.source)
        if source is None or h.last_success_at is None:
            continue
        interval = schedule.interval(source)
        behind = (now - h.last_success_at).total_seconds()
        if behind > STALE_INTERVALS * interval:
            lines.append(f"{h.source} {h.account}/{h.region}: stale, last collected "
                         f"{h.last_success_at:%Y-%m-%dT%H:%M:%SZ} ({behind / interval:.0f} "
                         f"intervals of {interval:.0f}s ago)")
    return lines


