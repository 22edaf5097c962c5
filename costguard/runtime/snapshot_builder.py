"""The snapshot a cycle evaluates: the latest data of every source, this cycle's burn samples
with their stored history, and the events within the checks' look-back."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from costguard.model import Source
from costguard.runtime.latest import Latest
from costguard.settings.policies import Policy
from costguard.snapshot import BurnSample, Snapshot

BURN_HISTORY = timedelta(weeks=4, hours=1)
"""Stored burn-rate history the baselines read: four weeks for the same hour of the week."""


def build_snapshot(
    latest: Latest, store: Any, prices: Any, gathered: Any, wanted: set[Source],
    health: tuple[Any, ...], now: datetime, *, event_window: timedelta | None,
) -> Snapshot:
    """Everything the checks see this cycle; stores the burn samples worth keeping."""
    from costguard.spend import burn
    from costguard.spend import burn_series as series

    inventory = tuple(latest.inventory.values())
    history: list[BurnSample] = []
    samples: list[BurnSample] = []
    if Source.INVENTORY in wanted:
        samples = burn.burn_samples(gathered.inventory, prices, latest.vcpus, now)
        stored = store.burn_samples(since=now - BURN_HISTORY - series.STALE)
        history = series.hourly(stored, now - BURN_HISTORY, now)
        store_burn(latest, store, samples)
    events, findings = (), ()
    if event_window is not None:
        events, findings = store.recent_events(since=now - event_window)
    return Snapshot(
        now=now, accounts=latest.accounts(), inventory=inventory,
        iam=tuple(latest.iam.values()), cost=tuple(latest.cost.values()),
        events=tuple(events), guardduty=tuple(findings),
        burn=tuple(samples), burn_history=tuple(history),
        instance_vcpus=dict(latest.vcpus),
        instance_prices=burn.instance_prices(inventory, prices, latest.vcpus),
        trails=tuple(t for ts in latest.trails.values() for t in ts),
        detectors=tuple(latest.detectors.values()),
        forecasts=tuple(latest.forecasts.values()), health=health,
    )


def store_burn(latest: Latest, store: Any, samples: Sequence[BurnSample]) -> None:
    """Store samples that change the step function (see series.py), not every poll."""
    from costguard.spend.burn_series import worth_storing

    keep = []
    for sample in samples:
        key = (sample.account, sample.region)
        if worth_storing(sample, latest.stored_burn.get(key)):
            keep.append(sample)
            latest.stored_burn[key] = sample
    if keep:
        store.add_burn_samples(keep)


def event_window(policies: Sequence[Policy]) -> timedelta:
    """How much stored event history the event checks read: their longest look-back."""
    minutes = [60.0 * 24]
    for policy in policies:
        params = policy.params
        for name, scale in (("window_minutes", 1), ("within_minutes", 1),
                            ("known_ip_days", 1440)):
            value = getattr(params, name, None)
            if isinstance(value, int | float):
                minutes.append(float(value) * scale)
    return timedelta(minutes=max(minutes) + 60)
