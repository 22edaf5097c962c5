"""One cycle: collect -> evaluate -> reconcile -> group into incidents -> enqueue and deliver.

The engine keeps the latest data of each source between cycles (`Latest`), so the daemon can
poll each source at its own pace and still evaluate every check on a whole picture. A cycle
reads AWS in two phases: first what needs no store (inventory, IAM, trails, detectors, the event
queues), then, with the store open, what depends on it (Cost Explorer's budget and cache,
CloudTrail and GuardDuty history from stored cursors). A one-shot scan frees boto3's parsed
service models between the two, so the store's imports reuse that memory.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from costguard.checks.evaluate import Evaluation, evaluate
from costguard.clock import utcnow
from costguard.collectors.accounts import Target
from costguard.model import GLOBAL_REGION, Source
from costguard.runtime.gather import Gathered, gather
from costguard.runtime.latest import Latest
from costguard.runtime.snapshot_builder import event_window
from costguard.settings.config import Config
from costguard.settings.policies import Policy
from costguard.snapshot import Snapshot

log = logging.getLogger(__name__)

EVENT_SOURCES = frozenset({Source.CLOUDTRAIL, Source.GUARDDUTY})



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
    new_events: int = 0

    @property
    def complete(self) -> bool:
        """Every attempted source collected and every check ran."""
        return bool(self.scan.complete)


@dataclass
class _Collected:
    gathered: Gathered
    harvest: Any
    targets: list[Target]
    api_calls: int = 0


class Engine:
    """Runs cycles for one configuration against one store; thread-safe (one cycle at a time)."""

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
        live_prices: bool = False,
        sigma_rules: Any = None,
    ) -> None:
        self.config = config
        self.live_prices = live_prices
        self.policies = list(policies)
        self._store = store
        self.clock = clock
        self._aws = aws
        self._notifier = notifier
        self._registry = registry
        self._sigma = sigma_rules
        self._targets: list[Target] | None = None
        self.latest = Latest()
        self._prices: Any = None
        self._budget: Any = None
        self.lock = threading.RLock()

    # -- wiring --------------------------------------------------------------------------------

    @property
    def store(self) -> Any:
        """The store; given as a factory, it is opened only once AWS data is in (see run_cycle)."""
        if callable(self._store):
            self._store = self._store()
        return self._store

    @property
    def aws(self) -> Any:
        """The base AWS identity, created on first use from the standard credential chain."""
        if self._aws is None:
            from costguard.collectors.session import Aws

            self._aws = Aws.from_environment(self.config.aws.profile)
        return self._aws

    def release_aws(self) -> None:
        """Free every client and parsed service model (see Aws.release_clients)."""
        import gc

        for aws in {id(t.aws): t.aws for t in self._targets or ()}.values():
            aws.release_clients()
        if self._aws is not None:
            self._aws.release_clients()
        gc.collect()

    @property
    def registry(self) -> Any:
        """The check registry (every shipped check unless a test injects its own)."""
        if self._registry is None:
            from costguard.checks import default_registry

            self._registry = default_registry()
        return self._registry

    @property
    def sigma_rules(self) -> Any:
        """The Sigma rules of `events.sigma` (the `sigma` check's; the intake's read filter)."""
        if self._sigma is None:
            from costguard.runtime.bootstrap import load_sigma

            self._sigma = load_sigma(self.config)
        return self._sigma

    @property
    def notifier(self) -> Any:
        """Routing and the outbox hand-off, built on first use."""
        if self._notifier is None:
            from costguard.alerts.routing import Notifier

            self._notifier = Notifier(self.config, self.policies, registry=self.registry)
        return self._notifier

    @property
    def prices(self) -> Any:
        """On-demand prices: the table (`costguard prices update`'s copy when there is one);
        with `live_prices` (the daemon) the Price List API first, cached on disk for a day."""
        if self._prices is None:
            from costguard.settings.paths import refreshed_price_table, state_dir
            from costguard.spend.prices import PriceBook

            refreshed = refreshed_price_table()
            table = PriceBook(refreshed if refreshed.is_file() else None)
            self._prices = table
            if self.live_prices:
                from costguard.collectors.price_list import ApiPriceBook, PriceListCollector

                collector = PriceListCollector(self.aws, state_dir() / "prices")
                self._prices = ApiPriceBook(collector, table)
        return self._prices

    @property
    def budget(self) -> Any:
        """Cost Explorer's request budget, kept in the store so restarts and replicas share it."""
        if self._budget is None:
            from costguard.spend.ce_budget import CeBudget

            self._budget = CeBudget(self.store, self.config.cost.max_calls_per_day,
                                    clock=self.clock)
        return self._budget

    def reconfigure(self, config: Config, policies: Sequence[Policy]) -> None:
        """Swap in a reloaded config and policies (SIGHUP) without losing cached data.

        Accounts and regions are resolved again on the next cycle, as the config may name
        others; cached inventory of regions no longer scanned is dropped so it cannot keep
        their findings open.
        """
        with self.lock:
            self.config = config
            self.policies = list(policies)
            self._notifier = None
            self._targets = None
            self._budget = None
            self._sigma = None
            self.latest.keep_only(config.aws.regions)

    def deliver(self) -> Any:
        """Send what the outbox holds that is due (between cycles, for retries)."""
        from costguard.incidents.keeper import record_delivery

        report = self.notifier.deliver(self.store, self.clock())
        record_delivery(self.store, report)
        return report

    def send_digests(self) -> int:
        """Queue the digest of every `digest:` route whose period has passed, and deliver."""
        from costguard.alerts.digest import send_digests

        with self.lock:
            queued = send_digests(self.store, self.notifier, self.config.routes, self.clock())
            if queued:
                self.deliver()
            return queued

    def health(self) -> tuple[Any, ...]:
        """Each source's stored health (for /healthz and the metrics)."""
        from costguard.runtime.source_health import HealthBook

        return HealthBook(self.store).current()

    def sources_needed(self) -> set[Source]:
        """Sources that at least one enabled policy reads."""
        return {s for p in self.policies if (c := self.registry.get(p.check)) for s in c.sources}

    def targets(self, gathered: Gathered) -> list[Target]:
        """The accounts to scan, resolved once; a failure is an error of this cycle."""
        if self._targets is None:
            from costguard.collectors.accounts import resolve_targets

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
        """Collect the given sources (default: all needed), evaluate, reconcile and notify."""
        with self.lock:
            now = self.clock()
            wanted = set(sources) if sources is not None else self.sources_needed()
            wanted &= self.sources_needed()
            collected = self._collect(wanted, progress, should_stop, now, lean=release_aws)
            if release_aws:
                self.release_aws()
            self.latest.remember(collected.gathered, collected.harvest)
            scan_id = self.store.start_scan(now)
            new_events = self._with_store(collected, wanted, now)
            return self._conclude(scan_id, collected, wanted, now, notify, new_events)

    def evaluate_events(self, *, notify: bool = True) -> CycleResult:
        """A cycle without AWS reads: the daemon's queue poller calls it after storing events,
        so an attacker's call reaches the inbox seconds after EventBridge delivers it."""
        with self.lock:
            now = self.clock()
            wanted = set(EVENT_SOURCES) & self.sources_needed()
            gathered = Gathered()
            targets = self._targets or []
            for target in targets:
                for region in [*self._event_regions(target), GLOBAL_REGION]:
                    for source in wanted:
                        gathered.complete.add((source, target.account, region))
            collected = _Collected(gathered, None, targets)
            scan_id = self.store.start_scan(now)
            return self._conclude(scan_id, collected, wanted, now, notify, 0)

    def ingest(self, queue: Any, received: list[Any]) -> CycleResult | None:
        """The daemon's poller hands over one receive: store it, delete it, then evaluate the
        event checks at once when anything was new."""
        from costguard.runtime.intake import Intake
        from costguard.runtime.source_health import HealthBook

        with self.lock:
            now = self.clock()
            new = Intake(self.store, self.sigma_rules).take_messages(queue, received, now)
            HealthBook(self.store).mark_events([(queue.account, queue.region)], now)
            return self.evaluate_events() if new else None

    def event_queues(self) -> list[Any]:
        """One EventQueue per account and event region, for the daemon's pollers."""
        from costguard.collectors.event_queue import EventQueue

        with self.lock:
            failures = Gathered()
            targets = self.targets(failures)
            self._prepare_regions(targets, failures, set(EVENT_SOURCES))
            from costguard.runtime.gather_events import trail_file_queues

            return [
                EventQueue(t.aws, t.account, region, self.config.events.queue_name)
                for t in targets for region in self._event_regions(t)
            ] + trail_file_queues(self.config, targets)

    def _event_regions(self, target: Target) -> list[str]:
        from costguard.runtime.gather_events import event_regions

        return event_regions(self.config, target)

    def _collect(self, wanted: set[Source], progress: Callable | None,
                 should_stop: Callable | None, now: datetime, lean: bool = False) -> _Collected:
        """Phase one: every AWS read that needs no store."""
        calls_before = self.aws.total_calls
        failures = Gathered()
        targets = self.targets(failures)
        self._prepare_regions(targets, failures, wanted)
        gathered = gather(
            targets, wanted, known_types=self.prices.known_types(), progress=progress,
            should_stop=should_stop, lean=lean,
        )
        gathered.errors[:0] = failures.errors
        gathered.attempted |= failures.attempted
        gathered.failed |= failures.failed
        harvest = None
        if wanted & EVENT_SOURCES:
            from costguard.runtime.gather_events import harvest as harvest_events

            harvest = harvest_events(gathered, targets, wanted, self.config, now)
        return _Collected(gathered, harvest, targets, self.aws.total_calls - calls_before)

    def _with_store(self, collected: _Collected, wanted: set[Source], now: datetime) -> int:
        """Phase two: cost within its budget, event history from cursors, then event intake."""
        from costguard.runtime.gather import gather_cost

        calls_before = self.aws.total_calls
        gathered, harvest = collected.gathered, collected.harvest
        if Source.COST in wanted:
            gather_cost(gathered, collected.targets, self.store, self.budget)
        new_events = 0
        if harvest is not None:
            from costguard.runtime.gather_events import look_back
            from costguard.runtime.intake import Intake

            look_back(gathered, harvest, {t.account: t for t in collected.targets}, wanted,
                      Intake(self.store).cursor, now)
            new_events = Intake(self.store, self.sigma_rules).take(harvest, collected.targets, now)
        self.latest.remember(gathered, None)
        collected.api_calls += self.aws.total_calls - calls_before
        return new_events

    def _conclude(self, scan_id: int, collected: _Collected, wanted: set[Source],
                  now: datetime, notify: bool, new_events: int) -> CycleResult:
        """Evaluate, reconcile, group, announce, deliver and record the scan."""
        from costguard.incidents.keeper import IncidentKeeper
        from costguard.runtime.source_health import HealthBook

        gathered, harvest, targets = collected.gathered, collected.harvest, collected.targets
        queues = [(a, r) for (a, r) in (harvest.received if harvest else {})]
        received = [key for key, items in (harvest.received if harvest else {}).items() if items]
        health = HealthBook(self.store).update(gathered, queues, received, now)
        snapshot = self._snapshot(now, gathered, wanted, health)
        evaluation = evaluate(
            self.policies, snapshot, fresh=wanted, complete=gathered.resolvable,
            registry=self.registry, options=self._check_options(),
        )
        reconciled = self.store.reconcile(
            scan_id=scan_id, findings=evaluation.findings, scopes=evaluation.scopes, now=now
        )
        keeper = IncidentKeeper(self.store, self.notifier, self.config, now)
        incidents = keeper.update(reconciled)
        self._contain(keeper)
        enqueued = keeper.announce() if notify else 0
        delivery = self.deliver() if notify else None
        accounts = [t.account for t in targets]
        complete = gathered.is_complete and not evaluation.errors and bool(accounts)
        scan = self.store.finish_scan(
            scan_id, finished_at=self.clock(), complete=complete, api_calls=collected.api_calls,
            errors=[*gathered.errors, *evaluation.errors], accounts=accounts,
            regions=sorted({r for t in targets for r in t.regions}),
        )
        self._log_cycle(wanted, scan, evaluation, reconciled, enqueued, new_events)
        return CycleResult(scan, gathered, evaluation, reconciled, incidents, enqueued,
                           delivery, new_events)

    def _check_options(self) -> dict[str, Any]:
        return {"monthly_budget_usd": self.config.cost.monthly_budget_usd,
                "sigma_rules": self.sigma_rules}

    def _contain(self, keeper: Any) -> None:
        """Auto-containment for new incidents whose policies ask for it (off by default)."""
        if any(p.auto_contain for p in self.policies):
            from costguard.actions.contain import contain_incidents

            contain_incidents(keeper, self.store, self.policies, self._aws_for)

    def _aws_for(self, account: str) -> Any:
        return next((t.aws for t in self._targets or () if t.account == account), self.aws)

    def _prepare_regions(self, targets: list[Target], gathered: Gathered, wanted: set[Source]):
        """Regions per account: the config's list, else every enabled region (asked once)."""
        if not wanted & ({Source.INVENTORY} | EVENT_SOURCES):
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

    def _snapshot(self, now: datetime, gathered: Gathered, wanted: set[Source],
                  health: tuple[Any, ...]) -> Snapshot:
        from costguard.runtime.snapshot_builder import build_snapshot

        window = event_window(self.policies) if self.sources_needed() & EVENT_SOURCES else None
        return build_snapshot(self.latest, self.store, self.prices, gathered, wanted, health,
                              now, event_window=window)

    def _log_cycle(self, wanted, scan, evaluation, reconciled, enqueued, new_events) -> None:
        names = ",".join(sorted(s.value for s in wanted)) or "nothing"
        log.info(
            "cycle %s: %s in %.1fs, %d api calls, %d new events, %d findings (%d new, "
            "%d resolved), %d messages queued%s",
            scan.id, names, (scan.finished_at - scan.started_at).total_seconds(),
            scan.api_calls, new_events, len(evaluation.findings), len(reconciled.new),
            len(reconciled.resolved), enqueued,
            "" if scan.complete else f", INCOMPLETE: {'; '.join(scan.errors)}",
        )
