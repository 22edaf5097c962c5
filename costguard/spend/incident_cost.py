"""What an incident costs, in one vocabulary: every figure a message shows is computed here, once,
and named with the words below in every template.

- **Burn rate now**: what the incident's accounts and regions run at this hour ($/h, on demand,
  every running instance there, the incident's and everyone else's).
- **Added by this incident**: the $/h of the incident's own instances.
- **Cost so far**: what those instances have cost from their launch to now.
- **Projected to month end at this rate**: cost so far plus the added rate until the month ends
  (the burn rate now when the incident has no priced instance of its own).
- **Cost up to the fix**: what a resolution message says instead: the instances' cost from their
  launch to the moment the incident resolved, not the figure of the first alert.

Pure: the callers hand in prices, launches and rates read from findings.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from costguard.spend.burn import cost_so_far, hours_to_month_end

BURN_RATE_NOW = "Burn rate now"
ADDED = "Added by this incident"
COST_SO_FAR = "Cost so far"
PROJECTED = "Projected to month end at this rate"
COST_TO_FIX = "Cost up to the fix"
MONEY_WORDS = (BURN_RATE_NOW, ADDED, COST_SO_FAR, PROJECTED, COST_TO_FIX)
"""The labels, in the order a message shows them; templates and tests read them from here."""


@dataclass(frozen=True)
class PricedInstance:
    """One of the incident's instances: its on-demand price (None when unknown) and launch."""

    instance_id: str
    usd_per_hour: float | None
    launched_at: datetime | None


@dataclass(frozen=True)
class RegionRate:
    """The burn rate of one account and region at one moment."""

    account: str
    region: str
    usd_per_hour: float
    at: datetime | None = None


@dataclass(frozen=True)
class IncidentCost:
    """Every money figure of one incident at `as_of`; None where nothing tells it."""

    as_of: datetime
    burn_rate_now: float | None = None
    regions: tuple[str, ...] = ()
    added: float | None = None
    instances: int = 0
    unpriced: int = 0
    cost_so_far: float | None = None
    since: datetime | None = None
    projected_to_month_end: float | None = None

    @property
    def known(self) -> bool:
        """Whether any figure is known, so a message without money shows no money block."""
        return self.burn_rate_now is not None or self.added is not None


def incident_cost(
    instances: Iterable[PricedInstance], rates: Iterable[RegionRate], as_of: datetime
) -> IncidentCost:
    """The figures for these instances and region rates at `as_of` (the alert's time, or the
    resolution's for the cost up to the fix)."""
    mine = list(instances)
    priced = [i for i in mine if i.usd_per_hour is not None]
    now_rate, regions = _burn_rate_now(rates)
    added = round(sum(i.usd_per_hour or 0.0 for i in priced), 6) if priced else None
    spent = round(sum(cost_so_far(i.usd_per_hour, i.launched_at, as_of) for i in priced), 4)
    launches = [i.launched_at for i in priced if i.launched_at is not None]
    return IncidentCost(
        as_of=as_of, burn_rate_now=now_rate, regions=regions, added=added,
        instances=len(mine), unpriced=len(mine) - len(priced),
        cost_so_far=spent if priced else None, since=min(launches, default=None),
        projected_to_month_end=_projected(added, spent, now_rate, as_of),
    )


def _burn_rate_now(rates: Iterable[RegionRate]) -> tuple[float | None, tuple[str, ...]]:
    """The latest rate of each account and region, summed; and the regions it covers."""
    latest: dict[tuple[str, str], RegionRate] = {}
    for rate in rates:
        kept = latest.get((rate.account, rate.region))
        if kept is None or (rate.at and kept.at and rate.at > kept.at):
            latest[(rate.account, rate.region)] = rate
    if not latest:
        return None, ()
    total = round(sum(r.usd_per_hour for r in latest.values()), 6)
    return total, tuple(sorted({region for _, region in latest}))


def _projected(
    added: float | None, spent: float, now_rate: float | None, as_of: datetime
) -> float | None:
    """Cost so far plus the added rate to the month's end; the burn rate now alone when the
    incident has no priced instance of its own."""
    hours = hours_to_month_end(as_of)
    if added is not None:
        return round(spent + added * hours, 2)
    if now_rate is not None:
        return round(now_rate * hours, 2)
    return None
