"""One cycle: collect -> evaluate -> reconcile -> group into incidents -> enqueue and deliver.

The engine keeps the latest data of each source between cycles (`Latest`), so the daemon can
poll each source at its own pace and still evaluate every check on a whole picture. A cycle
reads AWS first, in two phases (`runtime.collect`), and prices the inventory; then it opens the
store's unit of work once and concludes in it (`runtime.conclude`), so findings, incidents and
the messages they imply commit together. Delivery follows the commit, through the outbox, with
a transaction per message (a send and its record cannot share one). A one-shot scan frees
boto3's parsed service models after collecting, so the store's imports reuse that memory.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from costguard.checks.evaluate import Evaluation
from costguard.clock import utcnow
from costguard.collectors.accounts import Target
from costguard.model import GLOBAL_REGION, Source
from costguard.runtime.collect import EVENT_SOURCES, Collected, PhaseOne
from costguard.runtime.gather import Gathered
from costguard.runtime.latest import Latest
from costguard.settings.config import Config
from costguard.settings.policies import Policy

if TYPE_CHECKING:
    from costguard.activity.sigma_match import RuleSet
    from costguard.alerts.routing import Notifier
    from costguard.checks import Registry
    from costguard.collectors.event_queue import EventQueue, Received
    from costguard.collectors.session import Aws
    from costguard.notifiers.delivery import DeliveryReport
    from costguard.runtime.conclude import Conclusion, Rules
    from costguard.runtime.snapshot_builder import Priced
    from costguard.snapshot import SourceHealth
    from costguard.spend.ce_budget import CeBudget
    from costguard.spend.prices import PriceBook
    from costguard.store import Store, Unit
    from costguard.store.records import Reconciled, ScanRecord, StoredIncident

log = logging.getLogger(__name__)


@dataclass
class CycleResult:
    """What one cycle did, for the CLI's output and the daemon's log line."""

    scan: ScanRecord
    gathered: Gathered
    evaluation: Evaluation
    reconciled: Reconciled
    incidents: list[StoredIncident] = field(default_factory=list)
    enqueued: int = 0
    delivery: DeliveryReport | None = None
    new_events: int = 0

    @property
    def complete(self) -> bool:
        """Every attempted source collected and every check ran."""
        return bool(self.scan.complete)


class Engine:
    """Runs cycles for one configuration against one store; thread-safe (one cycle at a time)."""

    def __init__(
        self,
        config: Config,
        policies: Sequence[Policy],
        store: Store | Callable[[], Store] | None,
        *,
        aws: Aws | None = None,
        clock: Callable[[], datetime] = utcnow,
        notifier: Notifier | None = None,
        registry: Registry | None = None,
        live_prices: bool = False,
        sigma_rules: RuleSet | None = None,
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
        self._prices: PriceBook | None = None
        self._budget: CeBudget | None = None
        self.lock = threading.RLock()
        self.job_failures: Counter[str] = Counter()  # daemon jobs that raised, for /metrics
        self.deliver_inline = True  # False: delivery jobs send (runtime.engine procrastinate)

    # -- wiring --------------------------------------------------------------------------------

    @property
    def store(self) -> Store:
        """The store; given as a factory, it is opened only once AWS data is in (see run_cycle)."""
        if callable(self._store):
            self._store = self._store()
        if self._store is None:
            raise RuntimeError("this engine was made without a store")
        return self._store

    @property
    def aws(self) -> Aws:
        """The base AWS identity, created on first use from the standard credential chain."""
        if self._aws is None:
            from costguard.collectors.session import Aws

            self._aws = Aws.from_settings(self.config.aws)
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
    def registry(self) -> Registry:
        """The check registry (every shipped check unless a test injects its own)."""
        if self._registry is None:
            from costguard.checks import default_registry

            self._registry = default_registry()
        return self._registry

    @property
    def sigma_rules(self) -> RuleSet:
        """The Sigma rules of `events.sigma` (the `sigma` check's; the intake's read filter)."""
        if self._sigma is None:
            from costguard.runtime.bootstrap import load_sigma

            self._sigma = load_sigma(self.config)
        return self._sigma

    @property
    def notifier(self) -> Notifier:
        """Routing and the outbox hand-off, built on first use."""
        if self._notifier is None:
            from costguard.alerts.routing import Notifier

            self._notifier = Notifier(self.config, self.policies, registry=self.registry)
        return self._notifier

    @property
    def prices(self) -> PriceBook:
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
    def budget(self) -> CeBudget:
        """Cost Explorer's request budget, kept in the store so restarts and replicas share it."""
        if self._budget is None:
            from costguard.spend.ce_budget import CeBudget

            self._budget = CeBudget(self.store, self.config.cost.max_calls_per_day,
                                    clock=self.clock)
        return self._budget

    def use_targets(self, targets: list[Target] | None) -> list[Target] | None:
        """Scan only `targets` from now on (a worker's one unit); returns the ones before."""
        previous, self._targets = self._targets, targets
        return previous

    def reconfigure(self, config: Config, policies: Sequence[Policy]) -> None:
        """Swap in a reloaded config and policies (SIGHUP) without losing cached data.

        Accounts and regions are resolved again on the next cycle (the config may name others);
        cached inventory of regions no longer scanned is dropped: it cannot keep findings open.
        """
        with self.lock:
            self.config = config
            self.policies = list(policies)
            self._notifier = None
            self._targets = None
            self._budget = None
            self._sigma = None
            self.latest.keep_only(config.aws.regions)

    def deliver(self, key: str | None = None) -> DeliveryReport:
        """Send what the outbox holds that is due (of one message `key`, when given). Incident
        messages are rendered as they go out; each send is recorded with its incident's
        `notified_at` in one transaction."""
        from costguard.incidents.dispatch import SendTimeRenderer

        render = SendTimeRenderer(self.store, self.notifier)
        return self.notifier.deliver(self.store, self.clock(), render, key)

    def send_digests(self) -> int:
        """Queue the digest of every `digest:` route whose period has passed, and deliver."""
        from costguard.alerts.digest import send_digests

        with self.lock:
            with self.store.unit() as unit:
                queued = send_digests(unit, self.notifier, self.notifier.routes, self.clock())
            if queued:
                self.deliver()
            return queued

    def health(self) -> tuple[SourceHealth, ...]:
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
            collected = self._collect(wanted, now, PhaseOne(progress, should_stop, release_aws))
            if release_aws:
                self.release_aws()
            self.latest.remember(collected.gathered, collected.harvest)
            self._collect_with_store(collected, wanted, now)
            return self._conclude(collected, wanted, now, notify)

    def evaluate_events(self, *, notify: bool = True) -> CycleResult:
        """A cycle without AWS reads: the event checks on what the store holds."""
        with self.lock:
            wanted = set(EVENT_SOURCES) & self.sources_needed()
            return self._conclude(self._event_scopes(wanted), wanted, self.clock(), notify)

    def ingest(self, queue: EventQueue, received: list[Received], *,
               evaluate: bool = True) -> CycleResult | None:
        """The daemon's poller hands over one receive: store it and, when anything was new,
        evaluate the event checks at once, all in one unit; the messages are deleted after its
        commit. An attacker's call reaches the inbox seconds after EventBridge delivers it.
        Without `evaluate` (mid-burst, see runtime.pollers) it only stores; the next one judges."""
        from costguard.runtime.intake import take_messages
        from costguard.runtime.source_health import HealthBook

        with self.lock:
            now, history = self.clock(), self.latest.events
            wanted = set(EVENT_SOURCES) & self.sources_needed()
            collected, priced = self._event_scopes(wanted), self._price(Gathered(), wanted, now)
            with self.store.unit() as unit:
                new = take_messages(unit, queue, received, now, self.sigma_rules)
                HealthBook(unit).mark_events([(queue.account, queue.region)], now)
                conclusion = (self._conclude_in(unit, collected, wanted, priced, now, True)
                              if evaluate and (new or history.unevaluated) else None)
            history.unevaluated = bool(new or history.unevaluated) and not evaluate
            return self._finish(conclusion, collected, wanted, True) if conclusion else None

    def event_queues(self) -> list[EventQueue]:
        """One EventQueue per account and event region, for the daemon's pollers."""
        from costguard.runtime.collect import prepare_regions
        from costguard.runtime.gather_events import event_queue, trail_file_queues

        with self.lock:
            failures = Gathered()
            targets = self.targets(failures)
            prepare_regions(targets, failures, set(EVENT_SOURCES), self.config)
            return [
                event_queue(t, region, self.config.events.queue_name)
                for t in targets for region in self._event_regions(t)
            ] + trail_file_queues(self.config, targets)

    def _event_regions(self, target: Target) -> list[str]:
        from costguard.runtime.gather_events import event_regions

        return event_regions(self.config, target)

    def _event_scopes(self, wanted: set[Source]) -> Collected:
        """What an events-only cycle counts as collected: the event sources everywhere."""
        gathered = Gathered()
        targets = self._targets or []
        for target in targets:
            for region in [*self._event_regions(target), GLOBAL_REGION]:
                gathered.complete.update((source, target.account, region) for source in wanted)
        return Collected(gathered, None, targets)

    def _collect(self, wanted: set[Source], now: datetime, how: PhaseOne) -> Collected:
        """Phase one: every AWS read that needs no store."""
        from costguard.runtime.collect import collect_without_store

        calls_before = self.aws.total_calls
        failures = Gathered()
        targets = self.targets(failures)
        collected = collect_without_store(targets, failures, wanted, self.config,
                                          self.prices.known_types(), now, how)
        collected.api_calls = self.aws.total_calls - calls_before
        return collected

    def _collect_with_store(self, collected: Collected, wanted: set[Source],
                            now: datetime) -> None:
        """Phase two (see runtime.collect): before the unit, with the store's own sessions."""
        from costguard.runtime.collect import collect_with_store

        calls_before = self.aws.total_calls
        collect_with_store(collected, wanted, self.store, lambda: self.budget, now)
        self.latest.remember(collected.gathered, None)
        collected.api_calls += self.aws.total_calls - calls_before

    def _price(self, gathered: Gathered, wanted: set[Source], now: datetime) -> Priced:
        """Before the unit: a live price book may ask the Price List API."""
        from costguard.runtime.snapshot_builder import price

        return price(self.latest, self.prices, gathered, wanted, now)

    def _conclude(self, collected: Collected, wanted: set[Source], now: datetime,
                  notify: bool) -> CycleResult:
        """Price, conclude in one unit of work, then deliver what it queued."""
        priced = self._price(collected.gathered, wanted, now)
        with self.store.unit(serialize_later=True) as unit:  # conclude says when
            conclusion = self._conclude_in(unit, collected, wanted, priced, now, notify)
        return self._finish(conclusion, collected, wanted, notify)

    def _conclude_in(self, unit: Unit, collected: Collected, wanted: set[Source],
                     priced: Priced, now: datetime, notify: bool) -> Conclusion:
        from costguard.runtime.conclude import conclude

        return conclude(unit, self._rules(), collected, wanted, priced, now, notify=notify)

    def _rules(self) -> Rules:
        from costguard.runtime.conclude import Rules
        from costguard.runtime.snapshot_builder import event_window

        window = event_window(self.policies) if self.sources_needed() & EVENT_SOURCES else None
        return Rules(self.config, self.policies, self.registry, self.notifier, self.latest,
                     self._aws_for, self.clock, window, self.sigma_rules)

    def _finish(self, conclusion: Conclusion, collected: Collected, wanted: set[Source],
                notify: bool) -> CycleResult:
        """After the commit: deliver, log the cycle, report it."""
        delivery = self.deliver() if notify and self.deliver_inline else None
        result = CycleResult(conclusion.scan, collected.gathered, conclusion.evaluation,
                             conclusion.reconciled, conclusion.incidents, conclusion.enqueued,
                             delivery, conclusion.new_events)
        _log_cycle(wanted, result)
        return result

    def _aws_for(self, account: str) -> Aws:
        return next((t.aws for t in self._targets or () if t.account == account), self.aws)


def _log_cycle(wanted: set[Source], result: CycleResult) -> None:
    scan, names = result.scan, ",".join(sorted(s.value for s in wanted)) or "nothing"
    log.info(
        "cycle %s: %s in %.1fs, %d api calls, %d new events, %d findings (%d new, "
        "%d resolved), %d messages queued%s",
        scan.id, names, ((scan.finished_at or scan.started_at) - scan.started_at).total_seconds(),
        scan.api_calls, result.new_events, len(result.evaluation.findings),
        len(result.reconciled.new), len(result.reconciled.resolved), result.enqueued,
        "" if scan.complete else f", INCOMPLETE: {'; '.join(scan.errors)}",
    )
