"""Collection for one cycle: which accounts, which regions, which sources, and what failed.

All AWS I/O of a cycle starts here (through the collectors). A failure in one account, region
or source is recorded and the rest carries on; only scopes collected completely can resolve
findings (an incomplete scan never resolves a source it failed to collect).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable
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
    should_stop: Callable[[], bool] = field(default=lambda: False, repr=False)

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
        """Record a failed scope with a one-line reason the scan output shows."""
        self.failed.add(scope)
        source, account, region = scope
        where = account if region == GLOBAL_REGION else f"{account}/{region}"
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        self.errors.append(f"{source} {where}: {reason}")
        log.warning("could not collect %s for %s: %s", source, where, reason)


def attempt(gathered: Gathered, scope: Scope, work: Callable[[], T]) -> T | None:
    """Run one collection; a failure marks the scope incomplete instead of ending the cycle."""
    gathered.attempted.add(scope)
    if gathered.should_stop():
        gathered.fail(scope, RuntimeError("not collected: costguard is stopping"))
        return None
    try:
        result = work()
    except Exception as exc:  # one scope's failure must not cost the others their data
        gathered.fail(scope, exc)
        return None
    gathered.complete.add(scope)
    return result


def gather(
    targets: Iterable[Target],
    sources: Collection[Source],
    *,
    known_types: Collection[str] = (),
    progress: Callable[[str], None] | None = None,
    iam_options: dict[str, Any] | None = None,
    should_stop: Callable[[], bool] | None = None,
    lean: bool = False,
) -> Gathered:
    """Collect the store-free sources (inventory, IAM) from every target; never raises for AWS
    errors. Cost needs the store (its budget and cache): see `gather_cost`.

    `should_stop` is asked between regions and sources, so a daemon told to stop leaves within
    one region's calls; what was not reached stays incomplete.
    """
    gathered = Gathered(should_stop=should_stop or (lambda: False))
    for target in targets:
        if Source.INVENTORY in sources:
            _inventory(gathered, target, known_types, progress)
            if lean:
                _forget_models(target)
        if Source.CREDENTIAL_REPORT in sources:
            _iam(gathered, target, iam_options or {})
    return gathered


def _forget_models(target: Target) -> None:
    """A one-shot scan is done with EC2 once the inventory is read: drop its client and parsed
    model (the largest by far) so the models read next (IAM, CloudTrail, SQS...) reuse that
    memory instead of adding to it. The daemon keeps its clients."""
    import gc

    target.aws.release_clients()
    gc.collect()


def _inventory(
    gathered: Gathered, target: Target, known: Collection[str], progress: Callable | None
) -> None:
    from costguard.collectors.ec2 import InventoryCollector

    collector = target.collector("ec2", lambda: InventoryCollector(target.aws, target.account))
    for region in target.regions:
        scope = (Source.INVENTORY, target.account, region)
        inventory = attempt(gathered, scope, lambda r=region: collector.collect(r))
        if inventory is not None:
            gathered.inventory.append(inventory)
        if progress:
            progress(region)
    unknown = {i.instance_type for inv in gathered.inventory for i in inv.instances} - set(known)
    if unknown:
        try:
            gathered.vcpus.update(collector.instance_vcpus(unknown))
        except Exception as exc:  # prices fall back to a size-name estimate; not worth failing
            log.warning("DescribeInstanceTypes failed, estimating from names: %s", exc)


def _iam(gathered: Gathered, target: Target, options: dict[str, Any]) -> None:
    from costguard.collectors.iam import IamCollector

    collector = target.collector("iam", lambda: IamCollector(target.aws, target.account, **options))
    scope = (Source.CREDENTIAL_REPORT, target.account, GLOBAL_REGION)
    snapshot = attempt(gathered, scope, collector.collect)
    if snapshot is not None:
        gathered.iam.append(snapshot)


def gather_cost(gathered: Gathered, targets: Iterable[Target], store: CostStore,
                budget: CeBudget | None) -> None:
    """Cost Explorer for every target, within the persistent request budget."""
    from costguard.collectors.cost_explorer import CostCollector

    for target in targets:
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
