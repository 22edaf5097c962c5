"""Spend must not run away: the live burn rate and Cost Explorer's actual cost, per account."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Any, cast

from pydantic import BeforeValidator, Field

from costguard.checks.base import Check, Context, Params, Phase
from costguard.model import GLOBAL_REGION, Finding, Severity, Source, StrEnum
from costguard.snapshot import BurnSample, CostData, CostPoint, Snapshot
from costguard.spend.burn import (
    Baseline,
    BaselineKind,
    choose_baseline,
    latest_samples,
    launch_principals,
    projection,
    recent_launches,
)
from costguard.spend.ce_periods import ce_time_period, latest_period, totals_by
from costguard.spend.ce_queries import Granularity
from costguard.spend.limits import Threshold, burn_thresholds, cost_limit
from costguard.text import money


class Kind(StrEnum):
    """Which evidence a finding rests on."""

    BURN_RATE = "burn_rate"
    ACTUAL_COST = "actual_cost"


def _account_id(value: str | int) -> str:
    # An unquoted id is a YAML integer; one that began with 0 has lost it and fails below.
    value = str(value)
    if not (len(value) == 12 and value.isdigit()):
        raise ValueError("an account id is 12 digits (quote it in YAML)")
    return value


AccountId = Annotated[str, BeforeValidator(_account_id)]


def _own(name: str, **bounds: float) -> Any:
    """An account's override of the policy parameter `name`; unset keeps the policy's."""
    return Field(default=None, description=f"This account's `{name}`.", **bounds)


class AccountLimits(Params):
    """Limits for one account that override the policy's."""

    max_usd_per_hour: float | None = _own("max_usd_per_hour", gt=0)
    spike_factor: float | None = _own("spike_factor", gt=1)
    min_increase_usd_per_hour: float | None = _own("min_increase_usd_per_hour", ge=0)
    max_actual_usd_per_hour: float | None = _own("max_actual_usd_per_hour", gt=0)
    max_actual_usd_per_day: float | None = _own("max_actual_usd_per_day", gt=0)


class HourlySpendParams(Params):
    """Parameters of `hourly_spend`."""

    max_usd_per_hour: float = Field(
        default=5.0,
        gt=0,
        description="On-demand burn rate ($/h, per account and region) "
        "above which a region is flagged, whatever its history.",
    )
    spike_factor: float = Field(
        default=3.0,
        gt=1,
        description="Flag a burn rate this many times its baseline (the rate at the same hour "
        "of the week, else the median of the samples in `baseline_hours`).",
    )
    baseline_hours: float = Field(
        default=24,
        gt=0,
        description="Hours of stored samples the trailing-median baseline is the median of.",
    )
    min_samples: int = Field(
        default=10,
        ge=1,
        description="Samples the trailing window needs before spikes are judged; fewer (a new "
        "install) means only `max_usd_per_hour` applies.",
    )
    seasonal_weeks: int = Field(
        default=4,
        ge=0,
        le=4,
        description="Weeks looked back for the same-hour-of-week baseline (the median of the "
        "rates at this hour of the week in each; the engine keeps four weeks); 0 turns it off.",
    )
    seasonal_min_weeks: int = Field(
        default=3,
        ge=1,
        le=4,
        description="Weeks that must have a rate at this hour before the same-hour-of-week "
        "baseline is used instead of the trailing median.",
    )
    min_increase_usd_per_hour: float = Field(
        default=1.0,
        ge=0,
        description="A spike must also be at least this many $/h above "
        "the baseline, so $0.01/h -> $0.05/h pages nobody.",
    )
    max_actual_usd_per_hour: float | None = Field(
        default=None,
        gt=0,
        description="Flag Cost Explorer's total for the latest complete "
        "hour above this (needs hourly granularity enabled in Cost Explorer); off when unset.",
    )
    max_actual_usd_per_day: float | None = Field(
        default=None,
        gt=0,
        description="Flag Cost Explorer's total for the latest day "
        "(today so far included) above this; off when unset.",
    )
    accounts: dict[AccountId, AccountLimits] = Field(
        default_factory=dict,
        description="Per-account limits by 12-digit account id, overriding the ones above for "
        "that account (e.g. a production account that normally burns $20/h).",
    )

    def for_account(self, account: str) -> HourlySpendParams:
        """These parameters with the account's own limits applied."""
        limits = self.accounts.get(account)
        if limits is None:
            return self
        return self.model_copy(update=limits.model_dump(exclude_none=True))


class HourlySpend(Check):
    """A leaked key is usually spent on GPU and high-vCPU instances in every region at once, and
    Cost Explorer shows it hours later. The inventory poll prices what is running right now
    (`costguard.spend.burn`), so this check fires within one poll of the spend starting: when a
    region's rate is above `max_usd_per_hour`, or `spike_factor` times its baseline and at least
    `min_increase_usd_per_hour` above it. The baseline is the rate at the same hour of the week
    over the last `seasonal_weeks` weeks once `seasonal_min_weeks` of them have one (so a
    nightly batch is normal at night), else the median of the last `baseline_hours`; both read
    the hourly step-function history, so one missed poll changes nothing. The finding resolves
    as soon as the rate is back under the limits. `accounts` sets other limits per account. The
    finding names what launched in the last hour, who launched it (from RunInstances events),
    what it has cost so far and what the rate costs over 24 hours and to the month's end.
    Cost Explorer's actual totals are checked as well, which also catches spend that is not EC2.

    Burn-rate findings name `arn:aws:ec2:REGION:ACCOUNT:burn-rate`: a spend rate is not an AWS
    resource, but a finding needs a resource that stays the same while the rate moves (so it
    is one finding, not one per dollar amount) and an ARN-shaped name keeps the account and
    region in it like every other resource. Cost Explorer findings likewise name
    `arn:aws:ce::ACCOUNT:cost/hourly` or `.../cost/daily`.

    ```yaml
    policies:
      - name: hourly-spend
        check: hourly_spend
        severity: critical
        params:
          max_usd_per_hour: 10
          spike_factor: 3
          baseline_hours: 24
          min_samples: 10
          seasonal_weeks: 4
          seasonal_min_weeks: 3
          min_increase_usd_per_hour: 2
          max_actual_usd_per_day: 500
          accounts:
            "123456789012": {max_usd_per_hour: 40, max_actual_usd_per_day: 2000}
    ```
    """

    id = "hourly_spend"
    title = "Spend is running away"
    severity = Severity.CRITICAL
    sources = (Source.INVENTORY, Source.COST)
    remediation = "remediation/hourly_spend.md.j2"
    Params = HourlySpendParams
    references = ("AWS Well-Architected COST02-BP05 Implement cost controls",)

    noun = "account"
    phrase_one = "a spend spike"
    phrase_many = "a spend spike"
    title_rank = 60
    phase = Phase.STOP_SPEND
    playbook_rank = 40
    permissions = (
        "ec2:DescribeRegions", "ec2:DescribeInstances", "ec2:DescribeSecurityGroups",
        "ec2:DescribeKeyPairs", "ec2:DescribeInstanceTypes", "ce:GetCostAndUsage",
        "ce:GetCostForecast", "pricing:GetProducts",
    )
    burn_rate_facts = True

    def evaluate(self, snapshot: Snapshot, ctx: Context) -> Iterable[Finding]:
        """A finding per account and region burning too fast, and per Cost Explorer total over
        its limit."""
        params = cast(HourlySpendParams, ctx.params)
        for sample in latest_samples(snapshot.burn).values():
            finding = _burn_finding(snapshot, ctx, params, sample)
            if finding is not None:
                yield finding
        for cost in snapshot.cost:
            finding = _cost_finding(ctx, params.for_account(cost.account), cost)
            if finding is not None:
                yield finding


# --- burn rate -------------------------------------------------------------------------------


def _burn_finding(
    snapshot: Snapshot, ctx: Context, policy: HourlySpendParams, sample: BurnSample
) -> Finding | None:
    params = policy.for_account(sample.account)
    baseline = choose_baseline(
        snapshot.burn_history,
        sample,
        hours=params.baseline_hours,
        min_samples=params.min_samples,
        weeks=params.seasonal_weeks,
        min_weeks=params.seasonal_min_weeks,
    )
    crossed = burn_thresholds(sample.usd_per_hour, baseline, params)
    if not crossed:
        return None
    recent = recent_launches(snapshot, sample, ctx.now)
    # An autoscaling group's everyday launches are not the incident's: no entity, no stop.
    suspect = [i for i in recent if not i.get("routine")]
    principals = launch_principals(suspect)
    details = _burn_details(sample, baseline, crossed, params, recent, ctx.now)
    details["limits_from"] = "account" if sample.account in policy.accounts else "policy"
    return ctx.finding(
        account=sample.account,
        region=sample.region,
        resource=f"arn:aws:ec2:{sample.region}:{sample.account}:burn-rate",
        title=_burn_title(sample, baseline, crossed[0], params),
        details=details,
        entities=[
            *(f"instance:{i['instance_id']}" for i in suspect),
            *(f"principal:{arn}" for arn in principals),
        ],
        at=sample.at,
    )


def _burn_title(
    sample: BurnSample, baseline: Baseline, first: Threshold, params: HourlySpendParams
) -> str:
    where = f"EC2 burn rate in {sample.account} {sample.region}"
    if first is Threshold.MAX_RATE:
        return (
            f"{where} is {money(sample.usd_per_hour)}/h, "
            f"above the {money(params.max_usd_per_hour)}/h limit"
        )
    if baseline.kind is BaselineKind.SAME_HOUR_OF_WEEK:
        basis = f"the same hour of the week ({baseline.samples} weeks) at"
    else:
        basis = f"a {baseline.hours:g} h baseline of"
    return f"{where} jumped to {money(sample.usd_per_hour)}/h from {basis} " + (
        f"{money(baseline.usd_per_hour or 0.0)}/h"
    )


def _burn_details(
    sample: BurnSample,
    baseline: Baseline,
    crossed: list[Threshold],
    params: HourlySpendParams,
    recent: list[dict[str, Any]],
    now: datetime,
) -> dict[str, Any]:
    """A burn-rate finding's details; templates and incident scopes read these keys, so keys
    are only ever added. Rates are $/h; `baseline_kind` is same_hour_of_week or
    trailing_median (`baseline_samples` then counts weeks or hourly samples, `baseline_hours`
    is how far back it looked); `increase_usd_per_hour` is the rate minus the baseline (None
    when unknown); `recent_instances` are launches of the last hour, each with `launched_by`
    (principal_arn, principal_type, access_key_id, source_ip, user_agent, event_time,
    event_id; None without a RunInstances event) and `cost_so_far_usd`, which the top-level
    `cost_so_far_usd` sums; `limits_from` says whether the account's own limits applied."""
    ahead = projection(sample.usd_per_hour, now)
    known = baseline.usd_per_hour is not None
    return {
        "kind": Kind.BURN_RATE.value,
        "account": sample.account,
        "region": sample.region,
        "sampled_at": sample.at.isoformat(),
        "usd_per_hour": sample.usd_per_hour,
        "thresholds_crossed": [t.value for t in crossed],
        "max_usd_per_hour": params.max_usd_per_hour,
        "spike_factor": params.spike_factor,
        "min_increase_usd_per_hour": params.min_increase_usd_per_hour,
        "baseline_usd_per_hour": baseline.usd_per_hour,
        "baseline_kind": baseline.kind.value,
        "baseline_samples": baseline.samples,
        "baseline_hours": baseline.hours,
        "increase_usd_per_hour": (
            round(sample.usd_per_hour - (baseline.usd_per_hour or 0.0), 6) if known else None
        ),
        "by_family": dict(sample.by_family),
        "instance_count": sample.instance_count,
        "recent_usd_per_hour": sample.recent_usd_per_hour,
        "recent_instances": recent,
        "cost_so_far_usd": round(sum(i["cost_so_far_usd"] for i in recent), 2),
        "estimated_types": list(sample.estimated_types),
        "projected_usd_next_24h": ahead["next_24h"],
        "projected_usd_to_month_end": ahead["to_month_end"],
    }


# --- Cost Explorer ---------------------------------------------------------------------------


def _cost_finding(ctx: Context, params: HourlySpendParams, cost: CostData) -> Finding | None:
    limit = cost_limit(cost.granularity, params)
    points = latest_period(cost, ctx.now)
    if limit is None or not points:
        return None
    threshold, value = limit
    amount = round(sum(p.amount for p in points), 2)
    if amount <= value:
        return None
    start = points[0].start
    hourly = cost.granularity == Granularity.HOURLY.value
    when = f"the hour from {start:%Y-%m-%d %H:%M} UTC" if hourly else f"{start:%Y-%m-%d}"
    per = "h" if hourly else "day"
    return ctx.finding(
        account=cost.account,
        region=GLOBAL_REGION,
        resource=f"arn:aws:ce::{cost.account}:cost/{cost.granularity.lower()}",
        title=(
            f"Cost Explorer shows {money(amount)} spent in {cost.account} for {when}, "
            f"above the {money(value)}/{per} limit"
        ),
        details=_cost_details(cost, points, amount, threshold, value, ctx.now),
        at=start,
    )


def _cost_details(
    cost: CostData,
    points: list[CostPoint],
    amount: float,
    threshold: Threshold,
    value: float,
    now: datetime,
) -> dict[str, Any]:
    start, end = points[0].start, points[0].end
    covered = (min(end, now) - start).total_seconds() / 3600
    rate = amount / max(covered, 1.0)  # a period that just began must not divide by ~0
    ahead = projection(rate, now)
    return {
        "kind": Kind.ACTUAL_COST.value,
        "account": cost.account,
        "granularity": cost.granularity,
        "period_start": start.isoformat(),
        "period_end": end.isoformat(),
        "ce_time_period": ce_time_period(cost.granularity, start, end),
        "complete": end <= now,
        "amount": amount,
        "unit": points[0].unit,
        "estimated": any(p.estimated for p in points),
        "thresholds_crossed": [threshold.value],
        threshold.value: value,
        "usd_per_hour": round(rate, 2),
        "by_service": totals_by(points, lambda p: p.service),
        "by_account": totals_by(points, lambda p: p.linked_account or cost.account),
        "fetched_at": cost.fetched_at.isoformat() if cost.fetched_at else None,
        "projected_usd_next_24h": ahead["next_24h"],
        "projected_usd_to_month_end": ahead["to_month_end"],
    }
