"""The snapshot a cycle evaluates: the latest data of every source, this cycle's burn samples
with their stored history, and the events within the checks' look-back.

Nothing here reads or writes the store. The cycle prices the inventory first (`price`: a live
price book may ask the Price List API, so this happens before the unit of work opens), reads
what the snapshot needs from its unit (`Stored`), and gets back the snapshot and the burn
samples worth storing (`Built`), which it stores in the same unit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from costguard.model import Source
from costguard.runtime.gather import Gathered
from costguard.runtime.latest import Latest
from costguard.settings.policies import Policy
from costguard.snapshot import ApiEvent, BurnSample, GuardDutyFinding, Snapshot, SourceHealth
from costguard.spend.burn import Prices

BURN_HISTORY = timedelta(weeks=4, hours=1)
"""Stored burn-rate history the baselines read: four weeks for the same hour of the week."""


@dataclass(frozen=True)
class Priced:
    """This cycle's burn samples and the $/hour of every instance type seen."""

    samples: tuple[BurnSample, ...] = ()
    instance_prices: Mapping[tuple[str, str], float] = field(default_factory=dict)


@dataclass(frozen=True)
class Stored:
    """What the snapshot needs from the store: burn history, recent events, source health."""

    burn: Sequence[BurnSample] = ()
    events: Sequence[ApiEvent] = ()
    guardduty: Sequence[GuardDutyFinding] = ()
    health: tuple[SourceHealth, ...] = ()


@dataclass(frozen=True)
class Built:
    """The snapshot, and the samples that change the stored step function (see burn_series)."""

    snapshot: Snapshot
    keep: tuple[BurnSample, ...] = ()


def price(latest: Latest, prices: Prices, gathered: Gathered, wanted: set[Source],
          now: datetime) -> Priced:
    """Burn samples of this cycle's inventory and prices of every type in the latest one."""
    from costguard.spend import burn

    samples: list[BurnSample] = []
    if Source.INVENTORY in wanted:
        samples = burn.burn_samples(gathered.inventory, prices, latest.vcpus, now)
    inventory = tuple(latest.inventory.values())
    return Priced(tuple(samples), burn.instance_prices(inventory, prices, latest.vcpus))


def history_since(now: datetime) -> datetime:
    """How far back the stored burn samples are read."""
    from costguard.spend.burn_series import STALE

    return now - BURN_HISTORY - STALE


def build_snapshot(latest: Latest, priced: Priced, stored: Stored, now: datetime) -> Built:
    """Everything the checks see this cycle, and the burn samples worth storing."""
    from costguard.spend.burn_series import hourly

    history = hourly(stored.burn, now - BURN_HISTORY, now)
    snapshot = Snapshot(
        now=now, accounts=latest.accounts(), inventory=tuple(latest.inventory.values()),
        iam=tuple(latest.iam.values()), cost=tuple(latest.cost.values()),
        events=tuple(stored.events), guardduty=tuple(stored.guardduty),
        burn=priced.samples, burn_history=tuple(history),
        instance_vcpus=dict(latest.vcpus), instance_prices=priced.instance_prices,
        trails=tuple(t for ts in latest.trails.values() for t in ts),
        detectors=tuple(latest.detectors.values()),
        forecasts=tuple(latest.forecasts.values()), health=stored.health,
        access=tuple(latest.access[a] for a in sorted(latest.access)),
    )
    return Built(snapshot, worth_keeping(latest, priced.samples))


def worth_keeping(latest: Latest, samples: Sequence[BurnSample]) -> tuple[BurnSample, ...]:
    """Samples that change the step function (see burn_series.py), not every poll."""
    from costguard.spend.burn_series import worth_storing

    return tuple(s for s in samples
                 if worth_storing(s, latest.stored_burn.get((s.account, s.region))))


def detail_window(policies: Sequence[Policy]) -> timedelta:
    """How far back the event checks show events as evidence: their longest window (not the
    address history), plus the hour of activity a finding shows around its events, plus an
    hour. Older events are kept as summaries (runtime.event_history)."""
    minutes = [60.0 * 24]
    for policy in policies:
        for name in ("window_minutes", "within_minutes"):
            value = getattr(policy.params, name, None)
            if isinstance(value, int | float):
                minutes.append(float(value))
    return timedelta(minutes=max(minutes) + 120)


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
