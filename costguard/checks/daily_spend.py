"""A day's bill, or one service's share of it, well above what the days before it cost."""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from pydantic import Field

from costguard.checks.base import Check, Context, Params, Phase
from costguard.model import GLOBAL_REGION, Finding, Severity, Source
from costguard.snapshot import CostData, CostPoint, Snapshot
from costguard.spend.forecast import day_start
from costguard.text import money

TOTAL = "total"
"""The resource suffix (and `details["scope"]`) of the all-services figure."""

DAY = timedelta(days=1)


class ServiceLimits(Params):
    """One service's own thresholds (unset ones keep the policy's)."""

    factor: float | None = Field(default=None, gt=1, description="This service's `factor`.")
    min_increase_usd: float | None = Field(
        default=None, ge=0, description="This service's `min_increase_usd`."
    )


class DailySpendParams(Params):
    """Parameters of `daily_spend`."""

    factor: float = Field(
        default=2.0, gt=1, description="Flag a day costing this many times its baseline."
    )
    min_increase_usd: float = Field(
        default=20.0,
        ge=0,
        description="A flagged day must also cost at least this many dollars more than its "
        "baseline, so a service going from $0.40 to $2 a day pages nobody.",
    )
    baseline_days: int = Field(
        default=7,
        ge=1,
        le=13,
        description="The baseline is the median cost of this many days before the day judged "
        "(Cost Explorer data is read for the last 14 days).",
    )
    min_baseline_days: int = Field(
        default=3,
        ge=1,
        description="Days of data the baseline needs before a day is judged (a new install "
        "judges nothing in its first days).",
    )
    services: dict[str, ServiceLimits] = Field(
        default_factory=dict,
        description="Per-service thresholds, keyed by Cost Explorer's service name "
        "(e.g. 'Amazon Elastic Compute Cloud - Compute'), or 'total' for the all-services figure.",
    )
    exclude_services: list[str] = Field(
        default_factory=lambda: ["Tax"],
        description="Services never judged on their own (tax is billed once a month; add "
        "support plans here too). They still count in the total.",
    )


@dataclass(frozen=True)
class Verdict:
    """One day of one series judged against the median of the days before it."""

    day: datetime
    amount: float
    baseline: float
    prior_days: int
    factor: float
    min_increase: float

    @property
    def crossed(self) -> bool:
        """Whether the day is `factor` times the baseline and `min_increase` above it."""
        above = self.amount - self.baseline
        return self.amount > self.factor * self.baseline and above >= self.min_increase


def daily_series(points: Iterable[CostPoint]) -> dict[str, dict[datetime, float]]:
    """Per service, and for all of them as TOTAL, the cost of each day."""
    series: dict[str, dict[datetime, float]] = {TOTAL: {}}
    for point in points:
        day = day_start(point.start)
        for key in (TOTAL, point.service):
            row = series.setdefault(key, {})
            row[day] = row.get(day, 0.0) + point.amount
    return series


def judge(
    series: dict[datetime, float],
    first: datetime,
    day: datetime,
    days: int,
    limits: tuple[float, float],
) -> Verdict | None:
    """`day` against the median of up to `days` days before it, from `first` on (days the data
    does not mention cost $0: Cost Explorer leaves them out); None without any such day."""
    prior = [day - DAY * k for k in range(1, days + 1) if day - DAY * k >= first]
    if not prior:
        return None
    baseline = statistics.median(series.get(d, 0.0) for d in prior)
    factor, min_increase = limits
    return Verdict(
        day=day,
        amount=round(series.get(day, 0.0), 2),
        baseline=round(baseline, 2),
        prior_days=len(prior),
        factor=factor,
        min_increase=min_increase,
    )


def limits_for(params: DailySpendParams, scope: str) -> tuple[float, float]:
    """(factor, min_increase_usd) for a service, or for TOTAL: its own, else the policy's."""
    own = params.services.get(scope)
    if own is None:
        return params.factor, params.min_increase_usd
    increase = params.min_increase_usd if own.min_increase_usd is None else own.min_increase_usd
    return own.factor or params.factor, increase


class DailySpend(Check):
    """Cost Explorer's daily cost per service and in total, per account (linked accounts of an
    organization each on their own), compared with the median of the `baseline_days` days
    before: a day `factor` times that and `min_increase_usd` above it is flagged. Today is
    judged on what it cost so far (it can only grow) and yesterday on its whole day, so the
    finding stays open while either is high and resolves once both are back under. This
    confirms from the bill what `hourly_spend` saw live, and catches spend the inventory does
    not price (S3 egress, Bedrock, Lambda, NAT gateways).

    Findings name `arn:aws:ce::ACCOUNT:daily/SERVICE` (or `.../daily/total`): one finding per
    account and service, whichever day is high.

    ```yaml
    policies:
      - name: daily-spend
        check: daily_spend
        severity: high
        params:
          factor: 2
          min_increase_usd: 20
          baseline_days: 7
          min_baseline_days: 3
          exclude_services: [Tax, "AWS Support (Business)"]
          services:
            "Amazon Elastic Compute Cloud - Compute": {factor: 1.5, min_increase_usd: 50}
    ```
    """

    id = "daily_spend"
    title = "A day's cost is far above normal"
    severity = Severity.HIGH
    sources = (Source.COST,)
    remediation = "remediation/daily_spend.md.j2"
    Params = DailySpendParams
    references = ("AWS Well-Architected COST01-BP06 Monitor cost proactively",)

    noun = "account"
    phrase_one = "daily spend above its baseline"
    phrase_many = "daily spend above its baseline"
    title_rank = 90
    phase = Phase.BILL
    playbook_rank = 10
    permissions = ("ce:GetCostAndUsage", "ce:GetCostForecast", "pricing:GetProducts")

    def evaluate(self, snapshot: Snapshot, ctx: Context) -> Iterable[Finding]:
        """A finding per account and service (and total) whose latest day is far above normal."""
        params = cast(DailySpendParams, ctx.params)
        for cost in snapshot.cost:
            if cost.granularity == "DAILY":
                yield from _account_findings(cost, params, ctx)


def _by_account(cost: CostData) -> dict[str, list[CostPoint]]:
    accounts: dict[str, list[CostPoint]] = {}
    for point in cost.points:
        accounts.setdefault(point.linked_account or cost.account, []).append(point)
    return accounts


def _account_findings(cost: CostData, params: DailySpendParams, ctx: Context) -> Iterator[Finding]:
    today = day_start(ctx.now)
    for account, points in sorted(_by_account(cost).items()):
        first = min(day_start(p.start) for p in points)
        for scope, series in sorted(daily_series(points).items()):
            if scope in params.exclude_services:
                continue
            verdict = _latest_crossing(series, first, today, params, scope)
            if verdict is not None:
                yield _finding(ctx, cost, account, scope, verdict, points, today)


def _latest_crossing(
    series: dict[datetime, float],
    first: datetime,
    today: datetime,
    params: DailySpendParams,
    scope: str,
) -> Verdict | None:
    """Today (so far) if it crosses, else yesterday if it does."""
    limits = limits_for(params, scope)
    for day in (today, today - DAY):
        verdict = judge(series, first, day, params.baseline_days, limits)
        if verdict and verdict.prior_days >= params.min_baseline_days and verdict.crossed:
            return verdict
    return None


def _finding(
    ctx: Context,
    cost: CostData,
    account: str,
    scope: str,
    verdict: Verdict,
    points: list[CostPoint],
    today: datetime,
) -> Finding:
    what = "All services" if scope == TOTAL else scope
    when = (
        f"so far today ({verdict.day:%Y-%m-%d})"
        if verdict.day == today
        else (f"on {verdict.day:%Y-%m-%d}")
    )
    return ctx.finding(
        account=account,
        region=GLOBAL_REGION,
        resource=f"arn:aws:ce::{account}:daily/{scope}",
        title=(
            f"{what} in {account} cost {money(verdict.amount)} {when}, against a "
            f"{verdict.prior_days}-day median of {money(verdict.baseline)}"
        ),
        details=_details(cost, account, scope, verdict, points, today),
        at=verdict.day,
    )


def _details(
    cost: CostData,
    account: str,
    scope: str,
    verdict: Verdict,
    points: list[CostPoint],
    today: datetime,
) -> dict[str, Any]:
    """Keys: scope (TOTAL or the service), day, complete, amount, baseline_usd (the median of
    baseline_days days), factor, min_increase_usd, increase_usd, by_service (that day, largest
    first), estimated, payer_account, ce_time_period and ce_filter (for `aws ce`)."""
    day_points = [p for p in points if day_start(p.start) == verdict.day]
    by_service: dict[str, float] = {}
    for p in day_points:
        by_service[p.service] = round(by_service.get(p.service, 0.0) + p.amount, 2)
    dimensions = [{"Dimensions": {"Key": "LINKED_ACCOUNT", "Values": [account]}}]
    if scope != TOTAL:
        dimensions.append({"Dimensions": {"Key": "SERVICE", "Values": [scope]}})
    ce_filter = dimensions[0] if len(dimensions) == 1 else {"And": dimensions}
    return {
        "scope": scope,
        "service": None if scope == TOTAL else scope,
        "account": account,
        "payer_account": cost.account,
        "day": f"{verdict.day:%Y-%m-%d}",
        "complete": verdict.day < today,
        "amount": verdict.amount,
        "baseline_usd": verdict.baseline,
        "baseline_days": verdict.prior_days,
        "factor": verdict.factor,
        "min_increase_usd": verdict.min_increase,
        "increase_usd": round(verdict.amount - verdict.baseline, 2),
        "by_service": dict(sorted(by_service.items(), key=lambda kv: (-kv[1], kv[0]))),
        "estimated": any(p.estimated for p in day_points),
        "ce_time_period": {
            "Start": f"{verdict.day:%Y-%m-%d}",
            "End": f"{verdict.day + DAY:%Y-%m-%d}",
        },
        "ce_filter": json.dumps(ce_filter, separators=(",", ":")),
    }
