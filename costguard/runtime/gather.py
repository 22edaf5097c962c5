"""Collection for one cycle: which accounts, which regions, which sources, and what failed.

All AWS I/O of a cycle starts here (through the collectors). A failure in one account, region
or source is recorded and the rest carries on; only scopes collected completely can resolve
findings (an incomplete scan never resolves a source it failed to collect).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from costguard.collectors.accounts import Target
from costguard.model import GLOBAL_REGION, Source
from costguard.snapshot import CostData, CostForecast, IamSnapshot, RegionInventory

if TYPE_CHECKING:
    from costguard.collectors.cost_explorer import CostCollector, CostStore
    from costguard.spend.ce_budget import CeBudget

T = TypeVar("T")

log = logging.getLogger(__name__)

Scope = tuple[Source, str, str]
"""(source, account, region) collected completely this cycle; region is "global" for IAM and CE."""


@dataclass
class Gathered:
    """What one cycle collected, and from where it failed."""

    inventory: list[RegionInventory] = field(default_factory=list)
    iam: list[IamSnapshot] = field(default_factory=list)
    cost: list[CostData] = field(default_factory=list)
    forecasts: list[CostForecast] = field(default_factory=list)
    vcpus: dict[str, int] = field(default_factory=dict)
    complete: set[Scope] = field(default_factory=set)
    attempted: set[Scope] = field(default_factory=set)
    failed: set[Scope] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)
    denied: dict[str, str] = field(default_factory=dict)
    """Accounts costguard could not get into (its role not assumable, or AccessDenied): the
    first such error of each, one line."""
    reached: set[str] = field(default_factory=set)
    """Accounts where at least one collection succeeded this cycle."""
    targets: list[Target] = field(default_factory=list, repr=False)
    """The accounts this cycle set out to scan (their roles name the fix for a refusal)."""
    should_stop: Callable[[], bool] = field(default=lambda: False, repr=False)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def is_complete(self) -> bool:
        """True when every scope this cycle attempted was collected."""
        return self.attempted <= self.complete and not self.errors

    @property
    def resolvable(self) -> set[Scope]:
        """Scopes whose data came in whole: a scope that failed in any part is not one, even
        if another part of it (a region's detector, say, beside its findings) succeeded."""
        return self.complete - self.failed

    def fail(self, scope: Scope, exc: BaseException) -> None:
        """Record a failed scope with a one-line reason the scan output shows (thread-safe)."""
        from costguard.collectors.account_denial import denial

        source, account, region = scope
        where = account if region == GLOBAL_REGION else f"{account}/{region}"
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        denied = denial(exc)
        with self.lock:
            self.failed.add(scope)
            self.errors.append(f"{source} {where}: {reason}")
            if denied is not None:
                self.denied.setdefault(account, denied)
        log.warning("could not collect %s for %s: %s", source, where, reason,
                    extra={"account": account, "region": region, "source": str(source)})


def attempt(gathered: Gathered, scope: Scope, work: Callable[[], T]) -> T | None:
    """Run one collection; a failure marks the scope incomplete instead of ending the cycle.
    Safe to call from the pool's threads: the shared sets change under the gathered lock."""
    with gathered.lock:
        gathered.attempted.add(scope)
    if gathered.should_stop():
        gathered.fail(scope, RuntimeError("not collected: costguard is stopping"))
        return None
    try:
        result = work()
    except Exception as exc:  # one scope's failure must not cost the others their data
        gathered.fail(scope, exc)
        return None
    with gathered.lock:
        gathered.complete.add(scope)
        gathered.reached.add(scope[1])
    return result


def run_units(units: Iterable[Callable[[], None]], workers: int) -> None:
    """Run account x region units on at most `workers` threads, and wait for all of them.

    Threads, not processes: the work is waiting on AWS, boto3 clients are thread-safe (each
    account keeps its own session, and clients are created under its lock), and the pieces
    gathered stay in one process's memory without pickling. A unit records its own failure
    (`attempt`), so one raising here is a bug and is re-raised.
    """
    units = list(units)
    if workers <= 1 or len(units) <= 1:
        for unit in units:
            unit()
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="collect") as pool:
        for future in [pool.submit(unit) for unit in units]:
            future.result()


def gather(
    targets: Iterable[Target],
    sources: Collection[Source],
    *,
    known_types: Collection[str] = (),
    progress: Callable[[str], None] | None = None,
    iam_options: dict[str, Any] | None = None,
    should_stop: Callable[[], bool] | None = None,
    lean: bool = False,
    workers: int = 1,
) -> Gathered:
    """Collect the store-free sources (inventory, IAM) from every target; never raises for AWS
    errors. Cost needs the store (its budget and cache): see `gather_cost`.

    Each (account, region) inventory and each account's IAM is a unit; `workers` units run at
    once. `should_stop` is asked before each unit, so a daemon told to stop leaves within one
    region's calls; what was not reached stays incomplete.
    """
    targets = list(targets)
    gathered = Gathered(should_stop=should_stop or (lambda: False), targets=targets)
    if Source.INVENTORY in sources:
        lean_units = _LeanUnits() if lean else None
        run_units([_inventory_unit(gathered, t, r, progress, lean_units)
                   for t in targets for r in t.regions], workers)
        _vcpus(gathered, targets, known_types)
        if lean:
            _forget_models(targets)
    if Source.CREDENTIAL_REPORT in sources:
        run_units([_iam_unit(gathered, t, iam_options or {}) for t in targets], workers)
    return gathered


def _forget_models(targets: list[Target]) -> None:
    """A one-shot scan is done with EC2 once the inventory is read: drop its clients and parsed
    model (the largest by far) so the models read next (IAM, CloudTrail, SQS...) reuse that
    memory instead of adding to it; one collection for all accounts (each is a full pass over
    the heap). The daemon keeps its clients."""
    import gc

    for target in targets:
        target.aws.release_clients()
    gc.collect()


LEAN_COLLECT_EVERY = 8
"""A one-shot scan (which runs with the garbage collector off) collects after this many
account x region units: a botocore client is about 1.2 MiB, one is made per unit, and a dropped
one (a class of its own, with a method per operation) is freed only by a collection. At 32 the
dead clients between collections were a quarter of an Organization scan's peak (20 members:
171 to 184 MiB, against 137 to 146 MiB at 8); only full collections free them (a young
generation's left the peak higher)."""


class _LeanUnits:
    """Counts finished units of a one-shot scan, collecting garbage every LEAN_COLLECT_EVERY,
    so the peak holds a few dozen units' clients, not every account x region's."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._done = 0

    def finished(self, target: Target, region: str) -> None:
        """Drop the unit's client; now and then, collect what dropped clients left."""
        import gc

        target.aws.drop_client("ec2", region)
        with self._lock:
            self._done += 1
            due = self._done % LEAN_COLLECT_EVERY == 0
        if due:
            gc.collect()


def _ec2(target: Target) -> Any:
    from costguard.collectors.ec2 import InventoryCollector

    return target.collector("ec2", lambda: InventoryCollector(target.aws, target.account))


def _inventory_unit(gathered: Gathered, target: Target, region: str,
                    progress: Callable | None, lean: _LeanUnits | None) -> Callable[[], None]:
    """One account x region of inventory; the collector is made here, before any thread."""
    collector = _ec2(target)
    scope = (Source.INVENTORY, target.account, region)

    def unit() -> None:
        inventory = attempt(gathered, scope, lambda: collector.collect(region))
        if lean is not None:
            lean.finished(target, region)
        with gathered.lock:
            if inventory is not None:
                gathered.inventory.append(inventory)
            if progress:
                progress(region)

    return unit


def _vcpus(gathered: Gathered, targets: list[Target], known: Collection[str]) -> None:
    """DescribeInstanceTypes once a cycle for the types the price table does not list, from
    the first account that has any (instance types are the same in every account)."""
    unknown = {i.instance_type for inv in gathered.inventory for i in inv.instances} - set(known)
    reached = [t for t in targets if t.account in gathered.reached]
    if not unknown or not reached:
        return
    try:
        gathered.vcpus.update(_ec2(reached[0]).instance_vcpus(unknown))
    except Exception as exc:  # prices fall back to a size-name estimate; not worth failing
        log.warning("DescribeInstanceTypes failed, estimating from names: %s", exc)


def _iam_unit(gathered: Gathered, target: Target, options: dict[str, Any]
              ) -> Callable[[], None]:
    from costguard.collectors.iam import IamCollector

    collector = target.collector("iam", lambda: IamCollector(target.aws, target.account, **options))
    scope = (Source.CREDENTIAL_REPORT, target.account, GLOBAL_REGION)

    def unit() -> None:
        snapshot = attempt(gathered, scope, collector.collect)
        if snapshot is not None:
            with gathered.lock:
                gathered.iam.append(snapshot)

    return unit


def gather_cost(gathered: Gathered, targets: Iterable[Target], store: CostStore,
                budget: CeBudget | None) -> None:
    """Cost Explorer once per payer, within the persistent request budget.

    A payer's requests group by LINKED_ACCOUNT, so they answer for every member: members are
    not asked, and their cost scope is complete when their payer's is (a member's spend
    finding then resolves like any other).
    """
    from costguard.collectors.cost_explorer import CostCollector

    targets = list(targets)
    for target in [t for t in targets if t.payer]:
        collector = target.collector("cost", lambda t=target: CostCollector(
            t.aws, t.account, store=store, budget=budget))
        scope = (Source.COST, target.account, GLOBAL_REGION)

        def read(c: CostCollector = collector) -> tuple[list[CostData], CostForecast]:
            hourly = c.hourly()
            return [c.daily(), *([hourly] if hourly is not None else [])], c.forecast()

        data = attempt(gathered, scope, read)
        if data:
            gathered.cost.extend(data[0])
            gathered.forecasts.append(data[1])
    _members_covered(gathered, targets)


def _members_covered(gathered: Gathered, targets: list[Target]) -> None:
    """Members count as collected when a payer's cost came in whole (with one payer, the
    usual Organization, that payer answers for them all)."""
    payers = {(Source.COST, t.account, GLOBAL_REGION) for t in targets if t.payer}
    if not payers or not payers <= gathered.complete - gathered.failed:
        return
    for target in targets:
        if not target.payer:
            scope = (Source.COST, target.account, GLOBAL_REGION)
            gathered.attempted.add(scope)
            gathered.complete.add(scope)
