"""Collecting the event sources: the queue where it exists, else CloudTrail's event history
and GuardDuty's findings from a stored cursor; plus trail and detector state (self-watch).

Two phases, so a one-shot scan can read AWS before the store is open (see runtime/collect.py):
`harvest` needs no store (queue drains, trails, detectors, and which regions have no queue);
`look_back` reads the history of regions without a queue, from cursors the store keeps.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from costguard.collectors.accounts import Target
from costguard.model import GLOBAL_REGION, Source
from costguard.runtime.gather import Gathered, attempt, run_units
from costguard.settings.config import Config
from costguard.snapshot import ApiEvent, DetectorStatus, GuardDutyFinding, TrailStatus

if TYPE_CHECKING:
    from costguard.collectors.event_queue import EventQueue, Received
    from costguard.collectors.guardduty_detectors import GuardDutyCollector
    from costguard.collectors.s3_trail import TrailFileQueue

log = logging.getLogger(__name__)

DRAIN_BATCHES = 100
"""At most 1,000 messages per queue per scan; the rest waits for the next cycle."""


@dataclass
class Harvest:
    """What the event sources yielded this cycle, and what must happen once it is stored."""

    events: list[ApiEvent | GuardDutyFinding] = field(default_factory=list)
    received: dict[tuple[str, str], list[Received]] = field(default_factory=dict)
    trails: list[TrailStatus] = field(default_factory=list)
    detectors: list[DetectorStatus] = field(default_factory=list)
    without_queue: list[tuple[str, str]] = field(default_factory=list)
    cursors: dict[str, datetime] = field(default_factory=dict)
    drained_at: dict[tuple[str, str], datetime] = field(default_factory=dict)
    trail_files: list[tuple[TrailFileQueue, list[Received]]] = field(default_factory=list)
    """(queue, messages) of the S3 trail source, deleted once their events are stored."""
    coverage: dict[tuple[str, str], bool] = field(default_factory=dict)
    """Per (account, region): whether a queue or the S3 trail source delivers its events."""


def cursor_key(source: Source, account: str, region: str) -> str:
    """The store state key of a history cursor."""
    return f"cursor:{source.value}:{account}:{region}"


def event_regions(config: Config, target: Target) -> list[str]:
    """Where queues and rules live: events.regions, else the regions scanned."""
    return list(config.events.regions or target.regions)


def trail_region(config: Config, target: Target) -> str | None:
    """Where the S3 trail source's queue is (None: no such source)."""
    s3 = config.events.s3_trail
    if s3 is None:
        return None
    return s3.region or next(iter(event_regions(config, target)), None)


def harvest(
    gathered: Gathered, targets: Iterable[Target], sources: set[Source], config: Config,
    now: datetime, *, workers: int | None = None,
) -> Harvest:
    """Phase one: drain queues, read trail and detector state. Never raises for AWS errors.
    Each account's trails, and each account x region's detector and queue, is a unit;
    `workers` (default `runtime.concurrency`) of them run at once."""
    result = Harvest()
    targets = list(targets)
    units: list[Callable[[], None]] = []
    for target in targets:
        regions = event_regions(config, target)
        if Source.CLOUDTRAIL in sources:
            units.append(_trails(gathered, result, target, regions))
        if Source.GUARDDUTY in sources:
            units += [_detector(gathered, result, target, r) for r in regions]
        units += [_drain(gathered, result, target, r, config, now) for r in regions]
    run_units(units, workers or config.runtime.concurrency)
    for n, target in enumerate(targets):
        files = _trail_files(gathered, result, target, config) if n == 0 else False
        for region in event_regions(config, target):
            queued = (target.account, region) in result.received
            result.coverage[(target.account, region)] = queued or (
                files and _trail_covers(result, target.account, region))
    return result


def trail_file_queues(config: Config, targets: list[Target]) -> list[EventQueue]:
    """The S3 trail source's queue, for the daemon's pollers (none when not configured)."""
    from costguard.collectors.s3_trail import TrailFileQueue

    region = trail_region(config, targets[0]) if targets else None
    if region is None:
        return []
    target, name = targets[0], config.events.s3_trail.queue_name
    return [target.collector(f"trail_files:{region}",
                             lambda: TrailFileQueue(target.aws, target.account, region, name))]


def _trail_covers(result: Harvest, account: str, region: str) -> bool:
    """Whether a logging trail of the account records the region (multi-region or home)."""
    return any(t.account == account and t.is_logging and (t.multi_region or t.region == region
               or t.home_region == region) for t in result.trails)


def _trail_files(gathered: Gathered, result: Harvest, target: Target, config: Config) -> bool:
    """Drain the S3 trail source's queue (the first account's: the bucket is one); whether
    it could be read."""
    from costguard.collectors.s3_trail import TrailFileQueue

    region = trail_region(config, target)
    if region is None:
        return False
    name = config.events.s3_trail.queue_name
    queue = target.collector(f"trail_files:{region}",
                             lambda: TrailFileQueue(target.aws, target.account, region, name))
    received = attempt(gathered, (Source.CLOUDTRAIL, target.account, region),
                       lambda: [] if queue.polled else queue.drain(DRAIN_BATCHES))
    if received is None:
        return False
    result.trail_files.append((queue, received))
    result.events.extend(e for r in received for e in r.events)
    return True


def _trails(gathered: Gathered, result: Harvest, target: Target, regions: list[str]
            ) -> Callable[[], None]:
    from costguard.collectors.cloudtrail import TrailCollector

    collector = target.collector("trails", lambda: TrailCollector(target.aws, target.account))
    scope = (Source.CLOUDTRAIL, target.account, GLOBAL_REGION)

    def unit() -> None:
        trails = attempt(gathered, scope, lambda: collector.status(regions))
        with gathered.lock:
            result.trails.extend(trails or ())

    return unit


def _detector(gathered: Gathered, result: Harvest, target: Target, region: str
              ) -> Callable[[], None]:
    collector = _guardduty(target, region)

    def unit() -> None:
        status = attempt(gathered, (Source.GUARDDUTY, target.account, region), collector.detector)
        if status is not None:
            with gathered.lock:
                result.detectors.append(status)

    return unit


def _guardduty(target: Target, region: str) -> GuardDutyCollector:
    from costguard.collectors.guardduty_detectors import GuardDutyCollector

    return target.collector(f"guardduty:{region}",
                            lambda: GuardDutyCollector(target.aws, target.account, region))


def event_queue(target: Target, region: str, queue_name: str) -> EventQueue:
    """The account's queue in a region, one object per target (the harvest's and the
    daemon's poller's are the same, so a polled queue is known as such)."""
    from costguard.collectors.event_queue import EventQueue

    return target.collector(f"queue:{region}",
                            lambda: EventQueue(target.aws, target.account, region, queue_name))


def _drain(gathered: Gathered, result: Harvest, target: Target, region: str, config: Config,
           now: datetime) -> Callable[[], None]:
    """Drain the region's queue; a missing queue sends the region to the history look-back."""
    queue = event_queue(target, region, config.events.queue_name)

    def unit() -> None:
        from costguard.collectors.event_queue import QueueMissing

        scope = (Source.CLOUDTRAIL, target.account, region)
        try:
            received = [] if queue.polled else queue.drain(DRAIN_BATCHES)  # a poller owns it
        except QueueMissing:
            if config.events.lookup_fallback:
                with gathered.lock:
                    result.without_queue.append((target.account, region))
            else:
                _failed(gathered, scope, RuntimeError("no event queue and lookup_fallback is off"))
            return
        except Exception as exc:  # the region's events are incomplete; others carry on
            _failed(gathered, scope, exc)
            return
        with gathered.lock:
            gathered.attempted.add(scope)
            gathered.complete.add(scope)
            gathered.complete.add((Source.GUARDDUTY, target.account, region))
            result.received[(target.account, region)] = received
            result.events.extend(e for r in received for e in r.events)
            if received:
                result.drained_at[(target.account, region)] = now

    return unit


def _failed(gathered: Gathered, scope: tuple[Source, str, str], exc: BaseException) -> None:
    with gathered.lock:
        gathered.attempted.add(scope)
    gathered.fail(scope, exc)


def look_back(
    gathered: Gathered, result: Harvest, targets: Mapping[str, Target], sources: set[Source],
    cursors: Callable[[str], datetime | None], now: datetime, workers: int = 1,
) -> None:
    """Phase two: CloudTrail history and GuardDuty findings since each region's cursor, one
    unit per account x region (each keeps to LookupEvents' rate there), `workers` at once.
    The cursors are read first, here: the store is not shared with the pool's threads."""
    units: list[Callable[[], None]] = []
    for account, region in sorted(result.without_queue):
        target = targets[account]
        if Source.CLOUDTRAIL in sources:
            units.append(_history(gathered, result, target, region, cursors, now))
        if Source.GUARDDUTY in sources:
            units.append(_findings(gathered, result, target, region, cursors))
    run_units(units, workers)


def _history(gathered: Gathered, result: Harvest, target: Target, region: str,
             cursors: Callable[[str], datetime | None], now: datetime) -> Callable[[], None]:
    from costguard.collectors.cloudtrail import LookupCollector, lookup_limiter

    key = cursor_key(Source.CLOUDTRAIL, target.account, region)
    since = cursors(key)
    # One limiter per account and region for the life of the process: the API's limit is
    # 2 requests per second per region, whoever asks.
    limiter = target.collector(f"limiter:{region}", lookup_limiter)
    collector = target.collector(
        f"lookup:{region}", lambda: LookupCollector(target.aws, target.account, region, limiter))

    def unit() -> None:
        found = attempt(gathered, (Source.CLOUDTRAIL, target.account, region),
                        lambda: collector.events_since(since, now))
        if found is not None:
            with gathered.lock:
                result.events.extend(found[0])
                result.cursors[key] = found[1]

    return unit


def _findings(gathered: Gathered, result: Harvest, target: Target, region: str,
              cursors: Callable[[str], datetime | None]) -> Callable[[], None]:
    key = cursor_key(Source.GUARDDUTY, target.account, region)
    since = cursors(key)
    collector = _guardduty(target, region)

    def unit() -> None:
        found = attempt(gathered, (Source.GUARDDUTY, target.account, region),
                        lambda: collector.findings_since(since))
        if found is not None:
            with gathered.lock:
                result.events.extend(found[0])
                if found[1] is not None:
                    result.cursors[key] = found[1]

    return unit
