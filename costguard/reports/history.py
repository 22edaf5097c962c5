"""What the weekly figures are computed from, read from the store in one go.

The store is the only input (no AWS call): every read is bounded by the week's end, so the
figures of a finished week come out the same whenever they are computed. `History` is plain
data, so the computations (`posture`, `changes`, `spend_week`, `upkeep`) are tested with
hand-built histories.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from costguard.model import Severity, Source
from costguard.reports.week import IsoWeek
from costguard.snapshot import BurnSample, CostPoint
from costguard.store.check_counts import CheckCount
from costguard.store.records import StoredFinding, StoredIncident, Transition
from costguard.store.weekly_reports import ChannelAttempts, ScanOutcome

if TYPE_CHECKING:
    from costguard.checks import Registry
    from costguard.settings.config import Config
    from costguard.settings.policies import Policy
    from costguard.store import Store

TREND_WEEKS = 12
STALE_BURN = timedelta(hours=2)
"""Burn samples older than this before the week still set its first hours' rate."""
CE_DAY_KEY = "ce.budget.day."


@dataclass(frozen=True)
class CheckInfo:
    """What the report says about a check, from its class."""

    id: str
    title: str
    severity: Severity
    cis: tuple[str, ...] = ()
    security_hub: tuple[str, ...] = ()
    judged: bool = False
    """Whether it names its resources, so pass/fail applies."""
    spend: bool = False
    """Whether its findings are about spend (spikes, forecast over budget)."""


@dataclass(frozen=True)
class History:
    """Everything stored that one week's figures need."""

    week: IsoWeek
    zone: ZoneInfo
    start: datetime
    end: datetime
    as_of: datetime
    checks: Sequence[CheckInfo] = ()
    counts: Sequence[CheckCount] = ()
    findings: Sequence[StoredFinding] = ()
    transitions: Sequence[Transition] = ()
    incidents: Sequence[StoredIncident] = ()
    cost: Sequence[tuple[str, CostPoint]] = ()
    burn: Sequence[BurnSample] = ()
    scans: Sequence[ScanOutcome] = ()
    channels: Sequence[ChannelAttempts] = ()
    ce_calls: dict[str, int] = field(default_factory=dict)
    budget_usd: float | None = None
    target_minutes: int = 30
    frozen_scores: dict[str, float | None] = field(default_factory=dict)
    """Scores of earlier weeks as their stored figures have them, by week."""

    @property
    def complete(self) -> bool:
        """Whether the week had ended when the figures were computed."""
        return self.as_of >= self.end


def check_infos(registry: Registry, policies: Iterable[Policy]) -> list[CheckInfo]:
    """The enabled checks as the report shows them, each at its policy's severity."""
    from costguard.checks.base import Check

    severities: dict[str, Severity] = {}
    for policy in policies:
        known = severities.get(policy.check, policy.severity)
        severities[policy.check] = max(policy.severity, known)
    infos = []
    for check_id in sorted(severities):
        cls = registry.get(check_id)
        if cls is None:
            continue
        infos.append(CheckInfo(
            cls.id, cls.title, severities[check_id], tuple(cls.cis), tuple(cls.security_hub),
            judged=cls.resources is not Check.resources,
            spend=cls.burn_rate_facts or Source.COST in cls.sources,
        ))
    return infos


def read_history(store: Store, week: IsoWeek, config: Config, checks: Sequence[CheckInfo],
                 now: datetime) -> History:
    """Every stored fact the week's figures need, read as of the week's end (or `now`)."""
    zone = config.schedule.zone
    start, end = week.bounds(zone)
    as_of = min(end, now)
    first = week.previous(TREND_WEEKS)
    frozen = store.weekly_reports([str(first.previous(-i)) for i in range(TREND_WEEKS + 1)])
    month_start = as_of.astimezone(zone).replace(day=1, hour=0, minute=0, second=0,
                                                 microsecond=0)
    cost_since = min(week.previous().bounds(zone)[0], month_start) - timedelta(days=1)
    return History(
        week=week, zone=zone, start=start, end=end, as_of=as_of, checks=checks,
        counts=store.check_counts(since_day=first.monday().isoformat(),
                                  before_day=_day_after(as_of, zone)),
        findings=[f for f in store.list_findings() if f.first_seen and f.first_seen < as_of],
        transitions=store.transitions_before(as_of),
        incidents=store.list_incidents(since=start),
        cost=store.all_cost_points(granularity="DAILY", since=cost_since, before=end),
        burn=store.burn_samples(since=start - STALE_BURN),
        scans=store.scan_outcomes(start, as_of),
        channels=store.channel_attempts(start, as_of),
        ce_calls=_ce_calls(store.states(CE_DAY_KEY), week),
        budget_usd=config.cost.monthly_budget_usd,
        target_minutes=config.incidents.target_minutes,
        frozen_scores={w: r.figures.get("score") for w, r in frozen.items()},
    )


def _day_after(moment: datetime, zone: ZoneInfo) -> str:
    """The first local day after the one holding the instant before `moment` (counts are
    kept per local day; a week ending at Monday 00:00 ends with Sunday's)."""
    last = (moment - timedelta(microseconds=1)).astimezone(zone).date()
    return (last + timedelta(days=1)).isoformat()


def _ce_calls(states: dict[str, str], week: IsoWeek) -> dict[str, int]:
    """Cost Explorer requests per UTC day of the week, from the request budget's day keys."""
    import json

    calls = {}
    for day in week.days():
        raw = states.get(f"{CE_DAY_KEY}{day.isoformat()}")
        try:
            calls[day.isoformat()] = int(json.loads(raw).get("calls", 0)) if raw else 0
        except (ValueError, AttributeError):  # a hand-edited value counts as none
            calls[day.isoformat()] = 0
    return calls
