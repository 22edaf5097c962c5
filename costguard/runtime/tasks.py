"""The procrastinate engine's tasks: what one worker does with one job.

Work is cut into units, one per source, account and region (inventory), or per source and
account (the sources read account-wide: IAM, cost, the event history). A periodic task per
source plans its units every interval: it defers one `collect` job per unit, with the unit as
the job's queueing lock (at most one queued job per unit, however many workers plan) and as its
lock (at most one running). `collect` runs the engine's cycle on that unit alone; then it
defers one `deliver` job per due message key, locked by the key, so a message is sent by one
worker at a time (the outbox's leases and unique (key, channel) rows make a second send
impossible anyway). A periodic sweep defers the same jobs for anything due, so a message whose
job was never deferred (a worker killed right after its unit committed) still goes out. The
weekly report and the digests are periodic tasks as well: procrastinate defers each tick once
across all workers, and the store says whether a report or digest went already.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from costguard.model import GLOBAL_REGION, Source
from costguard.runtime.collect import prepare_regions
from costguard.runtime.gather import Gathered

if TYPE_CHECKING:
    import procrastinate

    from costguard.collectors.accounts import Target
    from costguard.runtime.cycle import Engine

log = logging.getLogger(__name__)

QUEUE = "costguard"
"""The one procrastinate queue costguard's workers listen on."""

SWEEP_S = 15
"""How often the outbox is swept for due messages without a delivery job."""

DELIVERY_PRIORITY = 10
"""Deliveries are fetched before collection: a queued message waits for no scan."""


@dataclass(frozen=True)
class WorkUnit:
    """One source of one account, in one region (or `global`: account-wide)."""

    source: Source
    account: str
    region: str

    @property
    def lock(self) -> str:
        """The job's lock and queueing lock: the unit itself."""
        return f"unit:{self.source.value}:{self.account}:{self.region}"


def units(source: Source, targets: list[Target]) -> list[WorkUnit]:
    """The units of one source: inventory per region, every other source per account."""
    if source is Source.INVENTORY:
        return [WorkUnit(source, t.account, region) for t in targets for region in t.regions]
    return [WorkUnit(source, t.account, GLOBAL_REGION) for t in targets]


def cron_every(seconds: float) -> str:
    """A cron line (croniter's, seconds as a sixth field) firing every `seconds`, rounded to
    the nearest period that divides a minute, an hour or a day evenly, so every worker computes
    the same ticks from the clock alone."""
    whole = max(1, round(seconds))
    if whole < 60:
        step = max(d for d in (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30) if d <= whole)
        return f"* * * * * */{step}"
    minutes = round(whole / 60)
    if minutes < 60:
        step = max(d for d in (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30) if d <= minutes)
        return f"*/{step} * * * *"
    hours = round(whole / 3600)
    if hours < 24:
        step = max(d for d in (1, 2, 3, 4, 6, 8, 12) if d <= hours)
        return f"0 */{step} * * *"
    return "0 0 * * *"


class Jobs:
    """The tasks of one worker process, bound to its engine."""

    def __init__(self, engine: Engine, app: procrastinate.App,
                 should_stop: Callable[[], bool] = lambda: False) -> None:
        self.engine = engine
        engine.deliver_inline = False  # delivery jobs send, one message key at a time
        self.app = app
        self.should_stop = should_stop
        self.everything: list[Target] | None = None
        self.cycles = 0
        self._register()

    def _register(self) -> None:
        task = self.app.task
        self.collect_task = task(name="costguard.collect", queue=QUEUE, pass_context=False)(
            self.collect)
        self.deliver_task = task(name="costguard.deliver", queue=QUEUE)(self.deliver)
        plan = task(name="costguard.plan", queue=QUEUE)(self.plan)
        schedule = self.engine.config.schedule
        for source in sorted(self.engine.sources_needed(), key=list(Source).index):
            self.app.periodic(cron=cron_every(schedule.interval(source)),
                              periodic_id=source.value,
                              task_kwargs={"source": source.value})(plan)
        sweep = task(name="costguard.sweep", queue=QUEUE)(self.sweep)
        self.app.periodic(cron=cron_every(SWEEP_S), periodic_id="outbox")(sweep)
        weekly = task(name="costguard.weekly", queue=QUEUE)(self.weekly)
        minute = schedule.weekly_at()[2]
        self.app.periodic(cron=f"{minute} * * * *", periodic_id="weekly")(weekly)
        if any(r.digest for r in self.engine.config.routes):
            digests = task(name="costguard.digests", queue=QUEUE)(self.digests)
            self.app.periodic(cron="0 * * * *", periodic_id="digests")(digests)

    # -- planning ------------------------------------------------------------------------------

    def targets(self, source: Source) -> list[Target]:
        """Every account, with its regions resolved for `source` (asked of AWS once)."""
        with self.engine.lock:
            if self.everything is None:
                failures = Gathered()
                resolved = self.engine.targets(failures)
                if failures.errors:
                    log.error("cannot plan units: %s", "; ".join(failures.errors))
                    return []
                self.everything = resolved
            failures = Gathered()
            prepare_regions(self.everything, failures, {source}, self.engine.config)
            for error in failures.errors:
                log.warning("planning %s: %s", source.value, error)
            return self.everything

    def plan(self, timestamp: int, source: str) -> int:
        """Defer one collect job per unit of `source`; a unit already queued is skipped."""
        deferred = 0
        for unit in units(Source(source), self.targets(Source(source))):
            deferred += self.defer_unit(unit)
        log.info("planned %s: %d unit(s) deferred", source, deferred)
        return deferred

    def defer_unit(self, unit: WorkUnit) -> int:
        """Queue `unit` unless a job for it is queued already; 1 when this call queued it."""
        from procrastinate.exceptions import AlreadyEnqueued

        try:
            self.collect_task.configure(lock=unit.lock, queueing_lock=unit.lock).defer(
                source=unit.source.value, account=unit.account, region=unit.region)
        except AlreadyEnqueued:
            return 0
        return 1

    # -- one unit ------------------------------------------------------------------------------

    def collect(self, source: str, account: str, region: str) -> dict[str, Any]:
        """Run the engine's cycle on one unit, then defer the deliveries it made due."""
        unit = WorkUnit(Source(source), account, region)
        engine = self.engine
        with engine.lock:
            target = next((t for t in self.targets(unit.source) if t.account == account), None)
            if target is None:
                log.warning("%s: the account is no longer scanned; skipped", unit.lock)
                return {"skipped": True}
            narrowed = target if region == GLOBAL_REGION else replace(target, regions=[region])
            everything = engine.use_targets([narrowed])
            try:
                result = engine.run_cycle({unit.source}, should_stop=self.should_stop)
            finally:
                engine.use_targets(everything)
        self.cycles += 1
        queued = self.sweep()
        return {"scan": result.scan.id, "complete": result.complete, "deliveries": queued}

    # -- delivery ------------------------------------------------------------------------------

    def sweep(self, timestamp: int | None = None) -> int:
        """Defer a delivery job for every message key that is due and has none queued."""
        from procrastinate.exceptions import AlreadyEnqueued

        deferred = 0
        for key in self.engine.store.due_keys(now=self.engine.clock()):
            lock = f"outbox:{key}"
            try:
                self.deliver_task.configure(lock=lock, queueing_lock=lock,
                                            priority=DELIVERY_PRIORITY).defer(key=key)
            except AlreadyEnqueued:
                continue
            deferred += 1
        return deferred

    def deliver(self, key: str) -> dict[str, int]:
        """Send one message's due rows (one per channel) and stamp its incident."""
        report = self.engine.deliver(key)
        return {"sent": report.sent, "failed": report.failed, "gave_up": report.gave_up}

    # -- reports -------------------------------------------------------------------------------

    def weekly(self, timestamp: int) -> int:
        """Queue the weekly report when it is due and not queued yet (the store says)."""
        from costguard.reports.weekly_send import send_due

        engine = self.engine
        with engine.lock:
            queued = send_due(engine.store, engine.notifier, engine.registry, engine.policies,
                              engine.clock())
        if queued:
            self.sweep()
        return queued

    def digests(self, timestamp: int) -> int:
        """Queue each digest route's digest whose period has passed."""
        from costguard.alerts.digest import send_digests

        engine = self.engine
        with engine.lock, engine.store.unit() as unit:
            queued = send_digests(unit, engine.notifier, engine.config.routes, engine.clock())
        if queued:
            self.sweep()
        return queued
