"""Burn rate: what the running instances cost per hour now, and the baseline it is judged by.

Pure functions over snapshot data, so the engine computes samples from one inventory poll (an
alert within minutes, not the hours Cost Explorer lags) and the `hourly_spend` check decides on
them without touching AWS or the store.

Two baselines: the rate in force at the same hour of the week in each of the last few weeks
(when enough weeks have a value: a nightly batch or a weekday fleet is then normal at its own
hour), else the median of the trailing hours. Both read the hourly step-function history
(`costguard.spend.burn_series`), so a missed poll changes neither.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from costguard.activity.api_calls import created_resources
from costguard.activity.event_records import ResourceKind
from costguard.activity.principals import by_principal
from costguard.activity.watched_calls import routine_launch
from costguard.model import StrEnum
from costguard.snapshot import ApiEvent, BurnSample, Instance, RegionInventory, Snapshot
from costguard.spend.prices import Price, family_of

RECENT = timedelta(hours=1)
"""Instances launched this recently make up a sample's `recent_usd_per_hour`."""

_PLACES = 6  # float sums of prices like 0.085 pick up noise in the 16th digit

WEEK = timedelta(weeks=1)
MIN_BILLED = timedelta(minutes=1)
"""Linux instances bill per second with a one-minute minimum."""


class Prices(Protocol):
    """Anything that prices an instance type in a region (PriceBook, or one that asks the API)."""

    def price(
        self, region: str, instance_type: str, vcpus: Mapping[str, int] | None = None
    ) -> Price: ...


class BaselineKind(StrEnum):
    """How a baseline was built (`details["baseline_kind"]` of a burn-rate finding)."""

    SAME_HOUR_OF_WEEK = "same_hour_of_week"
    TRAILING_MEDIAN = "trailing_median"


def launched_recently(instance: Instance, now: datetime, within: timedelta = RECENT) -> bool:
    """Whether an instance started in the window before `now` (a launch time slightly after
    `now`, from clock skew between AWS and this host, counts as recent)."""
    return instance.launch_time is not None and instance.launch_time >= now - within


def burn_samples(
    inventory: Iterable[RegionInventory],
    prices: Prices,
    vcpus: Mapping[str, int],
    now: datetime,
) -> list[BurnSample]:
    """One sample per account and region scanned, zero where nothing runs, so a quiet region
    still adds to the baseline."""
    return [_sample(inv, prices, vcpus, now) for inv in inventory]


def _sample(
    inv: RegionInventory, prices: Prices, vcpus: Mapping[str, int], now: datetime
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
    inventory: Iterable[RegionInventory], prices: Prices, vcpus: Mapping[str, int]
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
    `hours` is how far back it looks; `samples` counts the values it is the median of (hourly
    samples for a trailing median, weeks for a same-hour-of-week one).
    """

    usd_per_hour: float | None
    samples: int
    hours: float
    kind: BaselineKind = BaselineKind.TRAILING_MEDIAN

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


def rate_at(series: Iterable[BurnSample], moment: datetime) -> float | None:
    """The rate in force at `moment` in one account and region's series: the newest sample in
    the hour up to it (the history is hourly, so an older one says nothing about that hour)."""
    found = [s for s in series if moment - timedelta(hours=1) < s.at <= moment]
    return max(found, key=lambda s: s.at).usd_per_hour if found else None


def seasonal_baseline(
    history: Iterable[BurnSample],
    account: str,
    region: str,
    now: datetime,
    weeks: int,
    min_weeks: int,
) -> Baseline:
    """The median of the rates in force at this time of the week in each of the last `weeks`
    weeks; unknown when fewer than `min_weeks` of them have a value."""
    own = [s for s in history if (s.account, s.region) == (account, region)]
    values = [
        rate for k in range(1, weeks + 1) if (rate := rate_at(own, now - WEEK * k)) is not None
    ]
    kind, span = BaselineKind.SAME_HOUR_OF_WEEK, weeks * WEEK.total_seconds() / 3600
    if len(values) < min_weeks:
        return Baseline(None, len(values), span, kind)
    return Baseline(round(statistics.median(values), _PLACES), len(values), span, kind)


def choose_baseline(
    history: Iterable[BurnSample],
    sample: BurnSample,
    *,
    hours: float,
    min_samples: int,
    weeks: int,
    min_weeks: int,
) -> Baseline:
    """The same-hour-of-week baseline when enough weeks have a value, else the trailing median."""
    history = list(history)
    if weeks > 0:
        seasonal = seasonal_baseline(
            history, sample.account, sample.region, sample.at, weeks, min_weeks
        )
        if seasonal.known:
            return seasonal
    return median_baseline(history, sample.account, sample.region, sample.at, hours, min_samples)


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


def cost_so_far(usd_per_hour: float | None, launch_time: datetime | None, now: datetime) -> float:
    """What an instance has cost since it launched (per-second billing, one minute minimum), to
    four places so that sums over many instances round to the right cent."""
    if usd_per_hour is None or launch_time is None:
        return 0.0
    running = max(now - launch_time, MIN_BILLED)
    return round(usd_per_hour * running.total_seconds() / 3600, 4)


def launch_events(events: Iterable[ApiEvent]) -> dict[str, ApiEvent]:
    """Instance id -> the successful RunInstances event that started it."""
    found: dict[str, ApiEvent] = {}
    for event in events:
        if event.name == "RunInstances":
            for instance_id in created_resources(event).get(ResourceKind.INSTANCE.value, ()):
                found[str(instance_id)] = event
    return found


def launch_principals(launches: Iterable[Mapping[str, Any]]) -> list[str]:
    """The principals that launched any of `recent_launches`, sorted."""
    return sorted(
        {
            i["launched_by"]["principal_arn"]
            for i in launches
            if (i["launched_by"] or {}).get("principal_arn")
        }
    )


def launcher(event: ApiEvent | None) -> dict[str, Any] | None:
    """Who launched an instance, from its RunInstances event, as alert details."""
    if event is None:
        return None
    return {
        "principal_arn": event.principal_arn,
        "principal_type": event.principal_type,
        "access_key_id": event.access_key_id,
        "source_ip": event.source_ip,
        "user_agent": event.user_agent,
        "event_time": event.time.isoformat(),
        "event_id": event.event_id,
    }


def _routine(event: ApiEvent | None, history: Mapping[str, list[ApiEvent]]) -> bool:
    """Launched as everyday work (see activity.watched_calls.routine_launch)."""
    if event is None:
        return False
    return routine_launch(event, history.get(event.principal_arn or "", []))


def recent_launches(snapshot: Snapshot, sample: BurnSample, now: datetime) -> list[dict[str, Any]]:
    """Running instances of the sample's account and region launched in the last hour, dearest
    first (usually the attacker's), with what each cost so far and who launched it when a
    RunInstances event names it."""
    events = launch_events(snapshot.events)
    history = by_principal(snapshot.events)
    found = []
    for inv in snapshot.inventory:
        if (inv.account, inv.region) != (sample.account, sample.region):
            continue
        for i in inv.instances:
            if not (i.running and launched_recently(i, now)):
                continue
            price = snapshot.instance_prices.get((i.region, i.instance_type))
            found.append(
                {
                    "instance_id": i.instance_id,
                    "instance_type": i.instance_type,
                    "launch_time": i.launch_time.isoformat() if i.launch_time else None,
                    "usd_per_hour": price,
                    "estimated": i.instance_type in sample.estimated_types,
                    "key_name": i.key_name,
                    "name": i.tags.get("Name"),
                    "cost_so_far_usd": cost_so_far(price, i.launch_time, now),
                    "launched_by": launcher(events.get(i.instance_id)),
                    "routine": _routine(events.get(i.instance_id), history),
                }
            )
    return sorted(found, key=lambda d: (-(d["usd_per_hour"] or 0.0), d["instance_id"]))
