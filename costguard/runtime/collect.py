"""The two collection phases of a cycle, both before its unit of work opens.

Phase one needs no store: inventory, IAM, trails, detectors and the event queues. Phase two
reads what depends on the store: Cost Explorer within its request budget (and from its cache of
cost points), and the CloudTrail and GuardDuty history of regions without a queue, from stored
cursors. Phase two uses the store's own short transactions rather than the cycle's unit, on
purpose: its AWS calls can take long (LookupEvents allows two requests a second), and a unit
holds SQLite's write lock, which a `findings ack` from another process would wait for. Its
writes also must not depend on the cycle's outcome: a Cost Explorer request is paid for (and so
counted against the budget, and its answer cached) even if the cycle fails afterwards. The new
history cursors, on the other hand, are written in the unit, with the events they lead to.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING

from costguard.collectors.accounts import Target
from costguard.model import Source
from costguard.runtime.gather import Gathered, gather
from costguard.runtime.gather_events import Harvest
from costguard.settings.config import Config

if TYPE_CHECKING:
    from costguard.spend.ce_budget import CeBudget
    from costguard.store import Store

EVENT_SOURCES = frozenset({Source.CLOUDTRAIL, Source.GUARDDUTY})


@dataclass
class Collected:
    """What a cycle read from AWS, from which accounts, at how many calls."""

    gathered: Gathered
    harvest: Harvest | None
    targets: list[Target]
    api_calls: int = 0
    workers: int = 1


@dataclass(frozen=True)
class PhaseOne:
    """How phase one runs: a progress callback per region, a stop flag, and whether to free
    each account's parsed EC2 model once read (a one-shot scan)."""

    progress: Callable[[str], None] | None = None
    should_stop: Callable[[], bool] | None = None
    lean: bool = False


def collect_without_store(targets: list[Target], failures: Gathered, wanted: set[Source],
                          config: Config, known_types: frozenset[str], now: datetime,
                          how: PhaseOne) -> Collected:
    """Phase one: every AWS read that needs no store; `failures` carries earlier errors."""
    failures.targets = targets
    prepare_regions(targets, failures, wanted, config)
    workers = threads_for(targets, config)
    gathered = gather(targets, wanted, known_types=known_types, progress=how.progress,
                      should_stop=how.should_stop, lean=how.lean, workers=workers)
    gathered.errors[:0] = failures.errors
    gathered.attempted |= failures.attempted
    gathered.failed |= failures.failed
    gathered.reached |= failures.reached
    gathered.denied = {**failures.denied, **gathered.denied}
    harvest = None
    if wanted & EVENT_SOURCES:
        from costguard.runtime.gather_events import harvest as harvest_events

        harvest = harvest_events(gathered, targets, wanted, config, now, workers=workers)
    return Collected(gathered, harvest, targets, workers=workers)


def threads_for(targets: list[Target], config: Config) -> int:
    """`runtime.concurrency`, except for one account in one region: its few units (one per
    service) wait little on AWS, and run together they hold every service's parsed model at
    once (a one-shot scan's peak memory rose by 7 %, its wall time not at all)."""
    if len(targets) == 1 and len(targets[0].regions or ()) <= 1:
        return 1
    return config.runtime.concurrency


def collect_with_store(collected: Collected, wanted: set[Source], store: Store,
                       budget: Callable[[], CeBudget], now: datetime) -> None:
    """Phase two: cost within its budget, then event history from the stored cursors."""
    from costguard.runtime.gather import gather_cost

    if Source.COST in wanted:
        gather_cost(collected.gathered, collected.targets, store, budget())
    harvest = collected.harvest
    if harvest is not None and harvest.without_queue:
        from costguard.runtime.gather_events import look_back
        from costguard.runtime.intake import Cursors

        by_account = {t.account: t for t in collected.targets}
        look_back(collected.gathered, harvest, by_account, wanted, Cursors(store), now,
                  workers=collected.workers)


def prepare_regions(targets: list[Target], gathered: Gathered, wanted: set[Source],
                    config: Config) -> None:
    """Regions per account: the config's list, else every enabled region (asked once per
    account, `runtime.concurrency` accounts at a time)."""
    from costguard.runtime.gather import run_units

    if not wanted & ({Source.INVENTORY} | EVENT_SOURCES):
        return
    unknown = []
    for target in targets:
        if target.regions:
            continue
        if config.aws.regions:
            target.regions = list(config.aws.regions)
            continue
        unknown.append(target)
    run_units([partial(_enabled_regions, t, gathered) for t in unknown],
              config.runtime.concurrency)


def _enabled_regions(target: Target, gathered: Gathered) -> None:
    from costguard.collectors.ec2 import InventoryCollector

    try:
        target.regions = InventoryCollector(target.aws, target.account).regions()
    except Exception as exc:  # the account's inventory is then incomplete
        scope = (Source.INVENTORY, target.account, "*")
        with gathered.lock:
            gathered.attempted.add(scope)
        gathered.fail(scope, exc)
