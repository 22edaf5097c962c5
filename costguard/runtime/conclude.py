"""A cycle's conclusion, all in its one unit of work: events in, source health, the snapshot,
evaluation, reconcile, incidents, containment, the messages they imply and the scan record.

Everything here commits together or not at all, so a crash never leaves findings without their
incident or an incident without its message in the outbox. Side effects that must follow the
commit are after-commit hooks: deleting the queue messages whose events were stored, noting
which burn samples are stored, writing after-action reviews. The unit holds SQLite's write lock,
so nothing here calls AWS but auto-containment, which is off by default, runs only for an
incident created this cycle and is a call or two: inside the unit, a crash before the commit
contains again on the next cycle rather than never, and the incident's first message can say
what was done.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from costguard.actions.contain import ContainmentResult
from costguard.checks.evaluate import Evaluation, evaluate
from costguard.incidents.announcer import Announcer
from costguard.incidents.keeper import IncidentKeeper
from costguard.model import Source
from costguard.reports.recording import record_judged
from costguard.runtime.collect import Collected
from costguard.runtime.latest import Latest
from costguard.runtime.snapshot_builder import (
    Priced,
    Stored,
    build_snapshot,
    detail_window,
    history_since,
)
from costguard.runtime.source_health import HealthBook
from costguard.settings.config import Config
from costguard.settings.policies import Policy
from costguard.snapshot import Snapshot, SourceHealth
from costguard.store.crash_points import crash_point
from costguard.store.records import Reconciled, ScanRecord, StoredIncident

if TYPE_CHECKING:
    from costguard.activity.sigma_match import RuleSet
    from costguard.alerts.routing import Notifier
    from costguard.checks import Registry
    from costguard.collectors.session import Aws
    from costguard.store import Unit


@dataclass(frozen=True)
class Rules:
    """What a conclusion is judged by and told through: the engine's wiring for one cycle."""

    config: Config
    policies: Sequence[Policy]
    registry: Registry
    notifier: Notifier
    latest: Latest
    aws_for: Callable[[str], Aws]
    clock: Callable[[], datetime]
    event_window: timedelta | None = None
    sigma_rules: RuleSet | None = None


@dataclass(frozen=True)
class Conclusion:
    """What the unit committed."""

    scan: ScanRecord
    evaluation: Evaluation
    reconciled: Reconciled
    incidents: list[StoredIncident]
    enqueued: int
    new_events: int


def conclude(unit: Unit, rules: Rules, collected: Collected, wanted: set[Source],
             priced: Priced, now: datetime, *, notify: bool) -> Conclusion:
    """Everything a cycle concludes from what it collected, written in `unit`."""
    from costguard.runtime.intake import take

    scan_id = unit.start_scan(now)
    harvest = collected.harvest
    if harvest is not None:
        unit.serialize()  # events are taken in under the lock, as the pollers take theirs
    new_events = (take(unit, harvest, collected.targets, now, rules.sigma_rules)
                  if harvest is not None else 0)
    snapshot = _snapshot(unit, rules, collected, wanted, priced, now)
    evaluation = evaluate(
        rules.policies, snapshot, fresh=wanted, complete=collected.gathered.resolvable,
        registry=rules.registry, options=check_options(rules.config, rules.sigma_rules),
    )
    recount = unit.beside_others  # the snapshot's health count was not written
    unit.serialize()  # from here on: read-modify-writes of rows other units write too
    if recount:
        _count_health(unit, collected, now)
    reconciled = unit.reconcile(scan_id=scan_id, findings=evaluation.findings,
                                scopes=evaluation.scopes, now=now)
    crash_point("after-findings-stored")
    record_judged(unit, evaluation.judged, now, rules.config.schedule.zone)
    incidents, enqueued = respond(unit, rules, reconciled, now, notify=notify)
    scan = _finish_scan(unit, rules, scan_id, collected, evaluation, wanted)
    return Conclusion(scan, evaluation, reconciled, incidents, enqueued, new_events)


def check_options(config: Config, sigma_rules: RuleSet | None = None) -> dict[str, Any]:
    """Settings some checks read beside their params: the budget, the Sigma rules."""
    return {"monthly_budget_usd": config.cost.monthly_budget_usd, "sigma_rules": sigma_rules}


def _queues(collected: Collected) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The event queues read this cycle, and those that delivered messages."""
    harvest = collected.harvest
    if harvest is None:
        return [], []
    return list(harvest.received), [key for key, items in harvest.received.items() if items]


def _count_health(unit: Unit, collected: Collected, now: datetime) -> None:
    """Store this cycle's source health, counted on the book as it is now that the unit runs
    alone (a unit that ran beside others built its snapshot on a count it could not write)."""
    HealthBook(unit).update(collected.gathered, *_queues(collected), now)


def _snapshot(unit: Unit, rules: Rules, collected: Collected, wanted: set[Source],
              priced: Priced, now: datetime) -> Snapshot:
    """Health first (the snapshot carries it), then what the store holds, then the build."""
    health = HealthBook(unit).update(collected.gathered, *_queues(collected), now,
                                     write=not unit.beside_others)
    built = build_snapshot(rules.latest, priced, _stored(unit, rules, wanted, health, now), now)
    if built.keep:
        unit.add_burn_samples(built.keep)
        unit.after_commit(partial(rules.latest.remember_stored, built.keep))
    return built.snapshot


def _stored(unit: Unit, rules: Rules, wanted: set[Source], health: tuple[SourceHealth, ...],
            now: datetime) -> Stored:
    """The burn history (when the inventory was read) and the events in the look-back."""
    burn = unit.burn_samples(since=history_since(now)) if Source.INVENTORY in wanted else []
    events, guardduty = [], []
    if rules.event_window is not None:  # each stored event read once: runtime.event_history
        detail = min(detail_window(rules.policies), rules.event_window)
        events, guardduty = rules.latest.events.read(
            unit, since=now - rules.event_window, detail_since=now - detail, now=now)
    return Stored(burn, events, guardduty, health)


def respond(unit: Unit, rules: Rules, reconciled: Reconciled, now: datetime, *,
            notify: bool) -> tuple[list[StoredIncident], int]:
    """Group into incidents, contain new ones where policies ask, queue the messages; returns
    the incidents touched and how many messages were queued."""
    keeper = IncidentKeeper(unit, rules.config, rules.registry, now)
    incidents = keeper.update(reconciled)
    if keeper.changes.resolved:
        crash_point("after-resolution-stored")
    containment = _contain(unit, rules, keeper, now)
    enqueued = Announcer(keeper, rules.notifier, containment.lines).announce() if notify else 0
    if enqueued:
        crash_point("after-messages-queued")
    if keeper.reviews:
        unit.after_commit(lambda: keeper.write_reviews(rules.notifier.renderer))
    return incidents, enqueued


def _contain(unit: Unit, rules: Rules, keeper: IncidentKeeper,
             now: datetime) -> ContainmentResult:
    """Auto-containment for new incidents whose policies ask for it (off by default)."""
    created = keeper.changes.created
    if not created or not any(p.auto_contain for p in rules.policies):
        return ContainmentResult()
    from costguard.actions.contain import contain

    findings = {incident_id: keeper.members.of(incident_id) for incident_id in created}
    result = contain(created, findings, rules.policies, rules.aws_for, now)
    for action in result.actions:
        unit.record_action(**asdict(action))
    return result


def _finish_scan(unit: Unit, rules: Rules, scan_id: int, collected: Collected,
                 evaluation: Evaluation, wanted: set[Source]) -> ScanRecord:
    gathered, targets = collected.gathered, collected.targets
    accounts = [t.account for t in targets]
    return unit.finish_scan(
        scan_id, finished_at=rules.clock(), api_calls=collected.api_calls,
        complete=gathered.is_complete and not evaluation.errors and bool(accounts),
        errors=[*gathered.errors, *evaluation.errors], accounts=accounts,
        regions=sorted({r for t in targets for r in t.regions}),
        sources=[s.value for s in wanted],
        failed_sources={str(source) for source, _, _ in gathered.failed},
    )
