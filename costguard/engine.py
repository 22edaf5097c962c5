"""One cycle: collect -> evaluate -> reconcile -> group into incidents -> enqueue and deliver.

The engine keeps the latest data of each source between cycles, so the daemon can poll each
source at its own pace and still evaluate every check on a whole picture; it holds one entry per
account, region and source, so its memory stays flat however long it runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from costguard.config import Config
from costguard.evaluate import Evaluation, evaluate
from costguard.gather import Gathered, Target, gather
from costguard.model import Source
from costguard.policy import Policy
from costguard.snapshot import BurnSample, CostData, IamSnapshot, RegionInventory, Snapshot

log = logging.getLogger("costguard.engine")

BURN_HISTORY = timedelta(hours=24)
"""How much stored burn-rate history the baseline reads each cycle."""


def utcnow() -> datetime:
    """The engine's default clock; tests and the demo inject their own."""
    return datetime.now(timezone.utc)


@dataclass
class CycleResult:
    """What one cycle did, for the CLI's output and the daemon's log line."""

    scan: Any
    gathered: Gathered
    evaluation: Evaluation
    reconciled: Any
    incidents: list[Any] = field(default_factory=list)
    enqueued: int = 0
    delivery: Any = None

    @property
    def complete(self) -> bool:
        """Every attempted source collected and every check ran."""
        return bool(self.scan.complete)


class Engine:
    """Runs cycles for one configuration against one store."""

    def __init__(
        self,
        config: Config,
        policies: Sequence[Policy],
        store: Any,
        *,
        aws: Any = None,
        clock: Callable[[], datetime] = utcnow,
        notifier: Any = None,
        registry: Any = None,
    ) -> None:
        self.config = config
        self.policies = list(policies)
        self._store = store
        self.clock = clock
        self._aws = aws
        self._notifier = notifier
        self._registry = registry
        self._targets: list[Target] | None = None
        self._inventory: dict[tuple[str, str], RegionInventory] = {}
        self._iam: dict[str, IamSnapshot] = {}
        self._cost: dict[tuple[str, str], CostData] = {}
        self._vcpus: dict[str, int] = {}
        self._last_burn: dict[tuple[str, str], BurnSample] = {}
        self._prices: Any = None

    # -- wiring --------------------------------------------------------------------------------

    @property
    def store(self) -> Any:
        """The store; given as a factory, it is opened only once AWS data is in (see run_cycle)."""
        if callable(self._store):
            self._store = self._store()
        return self._store

    def release_aws(self) -> None:
        """Drop every AWS client and its loaded service models (a one-shot scan is done with
        AWS after collecting), so the store's imports reuse that memory instead of adding to it."""
        import gc

        self._aws = None
        self._targets = None
        gc.collect()

    @property
    def aws(self) -> Any:
        """The base AWS identity, created on first use from the standard credential chain."""
        if self._aws is None:
            from costguard.awsapi import Aws

            self._aws = Aws.from_environment(self.config.aws.profile)
        return self._aws

    @property
    def registry(self) -> Any:
        """The check registry (every shipped check unless a test injects its own)."""
        if self._registry is None:
            from costguard.checks import REGISTRY

            self._registry = REGISTRY
        return self._registry

    @property
    def notifier(self) -> Any:
        """Routing and the outbox hand-off, built on first use."""
        if self._notifier is None:
            from costguard.notify import Notifier

            self._notifier = Notifier(self.config, self.policies)
        return self._notifier

    @property
    def prices(self) -> Any:
        """The on-demand price table, read once."""
        if self._prices is None:
            from costguard.pricing import PriceBook

            self._prices = PriceBook()
        return self._prices

    def reconfigure(self, config: Config, policies: Sequence[Policy]) -> None:
        """Swap in a reloaded config and policies (SIGHUP) without losing cached data.

        Accounts and regions are resolved again on the next cycle, as the config may name others.
        """
        self.config = config
        self.policies = list(policies)
        self._notifier = None
        self._targets = None

    def deliver(self) -> Any:
        """Send what the outbox holds that is due (between cycles, for retries)."""
        from costguard.incident_keeper import record_delivery

        report = self.notifier.deliver(self.store, self.clock())
        record_delivery(self.store, report)
        return report

    def sources_needed(self) -> set[Source]:
        """Sources that at least one enabled policy reads."""
        return {s for p in self.policies if (c := self.registry.get(p.check)) for s in c.sources}

    def targets(self, gathered: Gathered) -> list[Target]:
        """The accounts to scan, resolved once; a failure is an error of this cycle."""
        if self._targets is None:
            from costguard.targets import resolve_targets

            try:
                self._targets = resolve_targets(self.config.aws, self.aws)
            except Exception as exc:  # no credentials, STS down: nothing can be collected
                gathered.errors.append(f"cannot resolve accounts: {exc}")
                return []
        return self._targets

    # -- the cycle -----------------------------------------------------------------------------

    def run_cycle(
        self,
        sources: Collection[Source] | None = None,
        *,
        notify: bool = True,
        progress: Callable[[str], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        release_aws: bool = False,
    ) -> CycleResult:
        """Collect the given sources (default: all needed), evaluate, reconcile and notify.

        AWS is read before the store is touched, so with `release_aws` (one-shot scans) the
        memory of boto3's service models is free again before SQLAlchemy is imported.
        """
        now = self.clock()
        wanted = set(sources) if sources is not None else self.sources_needed()
        wanted &= self.sources_needed()
        gathered, api_calls, accounts, regions = self._collect(wanted, progress, should_stop)
        if release_aws:
            self.release_aws()
        self._remember(gathered)
        scan_id = self.store.start_scan(now)
        snapshot = self._snapshot(now, gathered, wanted)
        evaluation = evaluate(
            self.policies, snapshot, fresh=wanted, complete=gathered.resolvable,
            registry=self.registry,
        )
        reconciled = self.store.reconcile(
            scan_id=scan_id, findings=evaluation.findings, scopes=evaluation.scopes, now=now
        )
        from costguard.incident_keeper import IncidentKeeper

        keeper = IncidentKeeper(self.store, self.notifier, self.config, now)
        incidents = keeper.update(reconciled)
        enqueued = keeper.announce() if notify else 0
        delivery = self.deliver() if notify else None
        complete = gathered.is_complete and not evaluation.errors and bool(accounts)
        self.store.finish_scan(
            scan_id, finished_at=self.clock(), complete=complete, api_calls=api_calls,
            errors=[*gathered.errors, *evaluation.errors], accounts=accounts, regions=regions,
        )
        scan = self.store.last_scans(1)[0]
        self._log_cycle(wanted, scan, evaluation, reconciled, enqueued)
        return CycleResult(scan, gathered, evaluation, reconciled, incidents, enqueued, delivery)

    def _collect(
        self, wanted: set[Source], progress: Callable | None, should_stop: Callable | None
    ) -> tuple[Gathered, int, list[str], list[str]]:
        """All of a cycle's AWS reads; returns the data, the calls made, accounts and regions.

        A method of its own so that no local keeps a client alive once it returns.
        """
        calls_before = self.aws.total_calls if self._aws is not None else 0
        failures = Gathered()
        targets = self.targets(failures)
        self._prepare_regions(targets, failures, wanted)
        gathered = gather(
            targets, wanted, known_types=self.prices.known_types(), progress=progress,
            should_stop=should_stop,
        )
        gathered.errors[:0] = failures.errors
        gathered.attempted |= failures.attempted
        api_calls = (self.aws.total_calls if self._aws is not None else 0) - calls_before
        accounts = [t.account for t in targets]
        return gathered, api_calls, accounts, sorted({r for t in targets for r in t.regions})

    def _prepare_regions(self, targets: list[Target], gathered: Gathered, wanted: set[Source]):
        """Regions per account: the config's list, else every enabled region (asked once)."""
        if Source.INVENTORY not in wanted:
            return
        for target in targets:
            if target.regions:
                continue
            if self.config.aws.regions:
                target.regions = list(self.config.aws.regions)
                continue
            from costguard.collectors.ec2 import InventoryCollector

            try:
                target.regions = InventoryCollector(target.aws, target.account).regions()
            except Exception as exc:  # the account's inventory is then incomplete
                scope = (Source.INVENTORY, target.account, "*")
                gathered.attempted.add(scope)
                gathered.fail(scope, exc)

    def _remember(self, gathered: Gathered) -> None:
        """Keep the latest data of each source for cycles that poll other sources."""
        for inv in gathered.inventory:
            self._inventory[(inv.account, inv.region)] = inv
        for iam in gathered.iam:
            self._iam[iam.account] = iam
        for cost in gathered.cost:
            self._cost[(cost.account, cost.granularity)] = cost
        self._vcpus.update(gathered.vcpus)

    def _snapshot(self, now: datetime, gathered: Gathered, wanted: set[Source]) -> Snapshot:
        from costguard import burn, series

        inventory = tuple(self._inventory.values())
        history: list[BurnSample] = []
        samples: list[BurnSample] = []
        if Source.INVENTORY in wanted:
            samples = burn.burn_samples(gathered.inventory, self.prices, self._vcpus, now)
            stored = self.store.burn_samples(since=now - BURN_HISTORY - series.STALE)
            history = series.hourly(stored, now - BURN_HISTORY, now)
            self._store_burn(samples)
        return Snapshot(
            now=now,
            accounts=tuple(sorted({a for a, _ in self._inventory} | set(self._iam))),
            inventory=inventory,
            iam=tuple(self._iam.values()),
            cost=tuple(self._cost.values()),
            burn=tuple(samples),
            burn_history=tuple(history),
            instance_vcpus=dict(self._vcpus),
            instance_prices=burn.instance_prices(inventory, self.prices, self._vcpus),
        )

    def _store_burn(self, samples: Sequence[BurnSample]) -> None:
        """Store samples that change the step function (see series.py), not every poll."""
        from costguard.series import worth_storing

        keep = []
        for sample in samples:
            key = (sample.account, sample.region)
            if worth_storing(sample, self._last_burn.get(key)):
                keep.append(sample)
                self._last_burn[key] = sample
        if keep:
            self.store.add_burn_samples(keep)

    def _log_cycle(self, wanted, scan, evaluation, reconciled, enqueued) -> None:
        names = ",".join(sorted(s.value for s in wanted)) or "nothing"
        log.info(
            "cycle %s: %s in %.1fs, %d api calls, %d findings (%d new, %d resolved), "
            "%d messages queued%s",
            scan.id, names, (scan.finished_at - scan.started_at).total_seconds(),
            scan.api_calls, len(evaluation.findings), len(reconciled.new),
            len(reconciled.resolved), enqueued,
            "" if scan.complete else f", INCOMPLETE: {'; '.join(scan.errors)}",
        )

