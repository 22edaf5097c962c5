"""The weekly report's figures: every fact the email shows, as plain, validated, JSON-ready data.

A finished week's figures are stored (`weekly_reports`) and rendered again from there, so
`costguard report weekly --week 2026-W47` shows what Monday's email showed even after Cost
Explorer revised its estimates or an incident reopened. `VERSION` changes when their shape
does; older stored figures are then computed again.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from costguard.model import Severity

VERSION = 1


class _Figures(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TrendPoint(_Figures):
    """The score at the end of one week (None: nothing was judged that week)."""

    week: str
    score: float | None


class AccountPosture(_Figures):
    """One account's score now and a week before, and what fails there."""

    account: str
    score: float | None
    previous: float | None
    failing_checks: int
    open_findings: int


class CheckRow(_Figures):
    """One check: what it judged at the week's end and its compliance ids."""

    check: str
    title: str
    severity: Severity
    cis: tuple[str, ...] = ()
    security_hub: tuple[str, ...] = ()
    judged: bool = False
    """Whether pass/fail applies (the check names its resources); not for events and spend."""
    evaluated: int | None = None
    """Resources judged at the week's end; None when pass/fail does not apply or nothing was
    judged in the week."""
    failed: int | None = None
    open: int = 0
    """Findings open, acknowledged or muted at the week's end."""


class Item(_Figures):
    """One finding as a list in the report shows it."""

    id: int
    check: str
    severity: Severity
    account: str
    region: str
    resource: str
    title: str
    first_seen: datetime | None = None
    at: datetime | None = None
    """When it happened: opened (new), resolved, muted or acknowledged."""
    by: str | None = None
    """Who triaged it, where the store records that."""
    reason: str | None = None
    until: datetime | None = None


class Listing(_Figures):
    """The first few items of a list, and how many there are in all."""

    total: int = 0
    items: tuple[Item, ...] = ()
    command: str = ""
    """The command that lists them all, shown when items are left out."""


class Changes(_Figures):
    """What changed in the week, and what stands at its end."""

    new: Listing = Listing()
    resolved: Listing = Listing()
    still_open: Listing = Listing()
    muted: Listing = Listing()
    acknowledged: Listing = Listing()
    open_by_severity: dict[str, int] = {}


class IncidentItem(_Figures):
    """An incident detected in the week, with its alert-to-fix."""

    id: int
    title: str
    severity: Severity
    detected_at: datetime | None
    notified_at: datetime | None
    resolved_at: datetime | None
    time_to_fix_s: float | None
    within_target: bool | None


class Incidents(_Figures):
    """The week's incidents against the goal: `goal_share` fixed within `target_minutes`."""

    total: int = 0
    items: tuple[IncidentItem, ...] = ()
    fixed: int = 0
    within_target: int = 0
    judged: int = 0
    target_minutes: int = 30
    goal_share: float = 0.75
    fix_median_s: float | None = None
    fix_p75_s: float | None = None

    @property
    def share(self) -> float | None:
        """Fixed within target / incidents fixed or already past it."""
        return self.within_target / self.judged if self.judged else None


class Amount(_Figures):
    """Spend of one service or account this week and the week before."""

    name: str
    usd: float
    previous_usd: float


class PeakBurn(_Figures):
    """The highest spend rate of running instances seen in the week, in one account."""

    account: str
    usd_per_hour: float
    at: datetime


class Spend(_Figures):
    """The week's cost: Cost Explorer's daily figures, the burn rate, spend findings, budget."""

    has_data: bool = False
    week_usd: float = 0.0
    previous_usd: float = 0.0
    by_service: tuple[Amount, ...] = ()
    by_account: tuple[Amount, ...] = ()
    peak: PeakBurn | None = None
    findings: Listing = Listing()
    month: str = ""
    month_to_date_usd: float = 0.0
    budget_usd: float | None = None
    forecast_usd: float | None = None


class SourceCycles(_Figures):
    """Cycles that read one source in the week, and how many of them failed it."""

    source: str
    runs: int
    failed: int


class ChannelCounts(_Figures):
    """Messages a channel sent in the week, attempts that failed, messages given up on."""

    channel: str
    sent: int
    failed: int
    dead: int


class Upkeep(_Figures):
    """costguard's own week: its cycles, its messages, what it spent on Cost Explorer."""

    cycles: int = 0
    incomplete: int = 0
    unrecorded: int = 0
    """Cycles stored before costguard recorded their sources."""
    sources: tuple[SourceCycles, ...] = ()
    channels: tuple[ChannelCounts, ...] = ()
    ce_requests: int = 0
    ce_usd: float = 0.0


class WeeklyFigures(_Figures):
    """Everything the weekly report says, as of the week's end (or of `as_of`, for a week
    still running)."""

    version: int = VERSION
    week: str
    span: str
    timezone: str
    start: datetime
    end: datetime
    as_of: datetime
    complete: bool
    score: float | None
    previous_score: float | None
    trend: tuple[TrendPoint, ...]
    accounts: tuple[AccountPosture, ...]
    checks: tuple[CheckRow, ...]
    changes: Changes
    incidents: Incidents
    spend: Spend
    upkeep: Upkeep
