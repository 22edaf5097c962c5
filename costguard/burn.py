"""Burn rate: what the running instances cost per hour now, and the baseline it is judged by.

Pure functions over snapshot data, so the engine computes samples from one inventory poll (an
alert within minutes, not the hours Cost Explorer lags) and the `hourly_spend` check decides on
them without touching AWS or the store. Baseline logic is kept in small functions here so it can
grow (seasonal baselines) without changing the check's shape.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from costguard.pricing import PriceBook, family_of
from costguard.snapshot import BurnSample, Instance, RegionInventory

RECENT = timedelta(hours=1)
"""Instances launched this recently make up a sample's `recent_usd_per_hour`."""

_PLACES = 6  # float sums of prices like 0.085 pick up noise in the 16th digit


def launched_recently(instance: Instance, now: datetime, within: timedelta = RECENT) -> bool:
    """Whether an instance started in the window before `now` (a launch time slightly after
    `now`, from clock skew between AWS and this host, counts as recent)."""
    return instance.launch_time is not None and instance.launch_time >= now - within


def burn_samples(
    inventory: Iterable[RegionInventory],
    prices: PriceBook,
    vcpus: Mapping[str, int],
    now: datetime,
) -> list[BurnSample]:
    """One sample per account and region scanned, zero where nothing runs, so a quiet region
    still adds to the baseline."""
    return [_sample(inv, prices, vcpus, now) for inv in inventory]


def _sample(
    inv: RegionInventory, prices: PriceBook, vcpus: Mapping[str, int], now: datetime
) -> BurnSample:
    total = recent = 0.0
    by_family: dict[str, float] = defaultdict(float)
    estimated: set[str] = set()
    running = [i for i in inv.instances if i.running]
    for instance in running:
        price = prices.price(inv.region, instance.instance_type, vcpus)
        total += price.usd_per_hour
        by_family[family_of(instance.instance_type)] += price.usd_per_hour
        if launched_recently(instance, now):
            recent += price.usd_per_hour
        if price.estimated:
            estimated.add(instance.instance_type)
    return BurnSample(
        account=inv.account,
        region=inv.region,
        at=now,
        usd_per_hour=round(total, _PLACES),
        by_family={f: round(v, _PLACES) for f, v in sorted(by_family.items())},
        recent_usd_per_hour=round(recent, _PLACES),
        instance_count=len(running),
        estimated_types=tuple(sorted(estimated)),
    )


def instance_prices(
    inventory: Iterable[RegionInventory], prices: PriceBook, vcpus: Mapping[str, int]
) -> dict[tuple[str, str], float]:
    """(region, instance type) -> $/hour for every type seen, running or not, so an alert can
    say what each instance costs (`Snapshot.instance_prices`)."""
    return {
        (inv.region, i.instance_type): prices.price(inv.region, i.instance_type, vcpus).usd_per_hour
        for inv in inventory
        for i in inv.instances
    }


def latest_samples(samples: Iterable[BurnSample]) -> dict[tuple[str, str], BurnSample]:
    """The newest sample per (account, region)."""
    latest: dict[tuple[str, str], BurnSample] = {}
    for sample in samples:
        key = (sample.account, sample.region)
        if key not in latest or sample.at > latest[key].at:
            latest[key] = sample
    return latest


def samples_in_window(
    samples: Iterable[BurnSample], account: str, region: str, start: datetime, end: datetime
) -> list[BurnSample]:
    """One account and region's samples taken in [start, end)."""
    return [
        s for s in samples if s.account == account and s.region == region and start <= s.at < end
    ]


@dataclass(frozen=True)
class Baseline:
    """The normal burn rate a current sample is compared with.

    `usd_per_hour` is None when the window holds fewer than the minimum samples: a daemon that
    started ten minutes ago has no idea what normal is and must not call everything a spike.
    """

    usd_per_hour: float | None
    samples: int
    hours: float

    @property
    def known(self) -> bool:
        """Whether there were enough samples to judge a spike by."""
        return self.usd_per_hour is not None


def median_baseline(
    history: Iterable[BurnSample],
    account: str,
    region: str,
    now: datetime,
    hours: float,
    min_samples: int,
) -> Baseline:
    """The median rate of the samples in the `hours` before `now` (a median, so one earlier
    spike in the window does not raise the bar for the next)."""
    window = samples_in_window(history, account, region, now - timedelta(hours=hours), now)
    if len(window) < min_samples:
        return Baseline(None, len(window), hours)
    median = statistics.median(s.usd_per_hour for s in window)
    return Baseline(round(median, _PLACES), len(window), hours)


def is_spike(current: float, baseline: Baseline, factor: float, min_increase: float) -> bool:
    """Whether `current` is `factor` times the baseline and at least `min_increase` above it;
    the second test keeps $0.01/h -> $0.05/h from paging anyone."""
    if baseline.usd_per_hour is None:
        return False
    above = current - baseline.usd_per_hour
    return current > factor * baseline.usd_per_hour and above >= min_increase


def hours_to_month_end(now: datetime) -> float:
    """Hours from `now` to the start of next month, in `now`'s timezone (UTC in practice)."""
    first = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    next_month = (first + timedelta(days=32)).replace(day=1)
    return (next_month - now).total_seconds() / 3600


def projection(usd_per_hour: float, now: datetime) -> dict[str, float]:
    """What the rate costs if nothing changes: over the next 24 hours and to the month's end."""
    return {
        "next_24h": round(usd_per_hour * 24, 2),
        "to_month_end": round(usd_per_hour * hours_to_month_end(now), 2),
    }
