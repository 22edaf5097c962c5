"""The latest data of each source, kept between cycles so every evaluation sees a whole picture.

One entry per account, region and source: its size follows the estate, not the uptime, which is
what keeps the daemon's memory flat.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from costguard.runtime.event_history import EventHistory
from costguard.snapshot import (
    AccountAccess,
    BurnSample,
    CostData,
    CostForecast,
    DetectorStatus,
    IamSnapshot,
    RegionInventory,
    TrailStatus,
)


@dataclass
class Latest:
    """What the engine last saw of each source."""

    inventory: dict[tuple[str, str], RegionInventory] = field(default_factory=dict)
    iam: dict[str, IamSnapshot] = field(default_factory=dict)
    cost: dict[tuple[str, str], CostData] = field(default_factory=dict)
    forecasts: dict[str, CostForecast] = field(default_factory=dict)
    trails: dict[str, list[TrailStatus]] = field(default_factory=dict)
    detectors: dict[tuple[str, str], DetectorStatus] = field(default_factory=dict)
    vcpus: dict[str, int] = field(default_factory=dict)
    stored_burn: dict[tuple[str, str], BurnSample] = field(default_factory=dict)
    access: dict[str, AccountAccess] = field(default_factory=dict)
    events: EventHistory = field(default_factory=EventHistory)

    def remember(self, gathered: object, harvest: object | None) -> None:
        """Keep what this cycle collected, replacing older data of the same scope."""
        for inv in getattr(gathered, "inventory", ()):
            self.inventory[(inv.account, inv.region)] = inv
        for iam in getattr(gathered, "iam", ()):
            self.iam[iam.account] = iam
        for cost in getattr(gathered, "cost", ()):
            self.cost[(cost.account, cost.granularity)] = cost
        for forecast in getattr(gathered, "forecasts", ()):
            self.forecasts[forecast.account] = forecast
        self.vcpus.update(getattr(gathered, "vcpus", {}))
        self._remember_access(gathered)
        if harvest is not None:
            self._remember_state(harvest.trails, harvest.detectors)

    def _remember_access(self, gathered: object) -> None:
        """An account refused stays refused until a later cycle gets into it."""
        denied: dict[str, str] = getattr(gathered, "denied", {})
        targets = {t.account: t for t in getattr(gathered, "targets", ())}
        own = next((a for a, t in targets.items() if t.role_arn is None), None)
        for account in getattr(gathered, "reached", set()) - set(denied):
            self.access.pop(account, None)
        if targets:  # an account no longer scanned (it left the Organization) is forgotten
            self.access = {a: v for a, v in self.access.items() if a in targets}
        for account, error in denied.items():
            target = targets.get(account)
            self.access[account] = AccountAccess(
                account, getattr(target, "role_arn", None), error, getattr(target, "name", None),
                own)

    def remember_stored(self, samples: Iterable[BurnSample]) -> None:
        """Note the burn samples just committed: the next ones are compared with these."""
        for sample in samples:
            self.stored_burn[(sample.account, sample.region)] = sample

    def _remember_state(self, trails: Iterable[TrailStatus],
                        detectors: Iterable[DetectorStatus]) -> None:
        fresh: dict[str, list[TrailStatus]] = {}
        for trail in trails:
            fresh.setdefault(trail.account, []).append(trail)
        self.trails.update(fresh)
        for detector in detectors:
            self.detectors[(detector.account, detector.region)] = detector

    def keep_only(self, regions: Iterable[str] | None) -> None:
        """Forget regions no longer scanned (after a reload), so their findings can resolve."""
        if regions is None:
            return
        wanted = set(regions)
        self.inventory = {k: v for k, v in self.inventory.items() if k[1] in wanted}
        self.detectors = {k: v for k, v in self.detectors.items() if k[1] in wanted}

    def accounts(self) -> tuple[str, ...]:
        """Every account seen in any source."""
        return tuple(sorted({a for a, _ in self.inventory} | set(self.iam)))
