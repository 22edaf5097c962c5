"""Spend must not run away: the live burn rate and Cost Explorer's actual cost, per account."""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import Any, cast

from pydantic import Field

from costguard.burn import (
    Baseline,
    is_spike,
    latest_samples,
    launched_recently,
    median_baseline,
    projection,
)
from costguard.checks.base import Check, Context, Params, register
from costguard.model import GLOBAL_REGION, Finding, Severity, Source
from costguard.snapshot import BurnSample, CostData, CostPoint, Snapshot


class Kind(str, enum.Enum):
    """Which evidence a finding rests on."""

    BURN_RATE = "burn_rate"
    ACTUAL_COST = "actual_cost"

    def __str__(self) -> str:
        return self.value


class Threshold(str, enum.Enum):
    """The limit a finding crossed; the values are the parameter names that set them."""

    MAX_RATE = "max_usd_per_hour"
    SPIKE = "spike_factor"
    MAX_ACTUAL_HOURLY = "max_actual_usd_per_hour"
    MAX_ACTUAL_DAILY = "max_actual_usd_per_day"

    def __str__(self) -> str:
        return self.value


class Granularity(str, enum.Enum):
    """Cost Explorer granularities this check reads."""

    HOURLY = "HOURLY"
    DAILY = "DAILY"


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
        description="Flag a burn rate this many times its baseline (the "
        "median of the samples in `baseline_hours`).",
    )
    baseline_hours: float = Field(
        default=24, gt=0, description="Hours of stored samples the baseline is the median of."
    )
    min_samples: int = Field(
        default=10,
        ge=1,
        description="Samples the baseline window needs before spikes are "
        "judged; fewer (a new install) means only `max_usd_per_hour` applies.",
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


@register
class HourlySpend(Check):
    """A leaked key is usually spent on GPU and high-vCPU instances in every region at once, and
    Cost Explorer shows it hours later. The inventory poll prices what is running right now
    (`costguard.burn`), so this check fires within one poll of the spend starting: when a
    region's rate is above `max_usd_per_hour`, or `spike_factor` times its baseline and at least
    `min_increase_usd_per_hour` above it. Cost Explorer's actual totals are checked as well,
    which also catches spend that is not EC2.

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
          min_increase_usd_per_hour: 2
          max_actual_usd_per_day: 500
    ```
    """

    id = "hourly_spend"
    title = "Spend is running away"
    severity = Severity.CRITICAL
    sources = (Source.INVENTORY, Source.COST)
    remediation = "remediation/hourly_spend.md.j2"
    Params = HourlySpendParams
    references = ("AWS Well-Architected COST02-BP05 Implement cost controls",)

    def evaluate(self, snapshot: Snapshot, ctx: Context) -> Iterable[Finding]:
        """A finding per account and region burning too fast, and per Cost Explorer total over
        its limit."""
        params = cast(HourlySpendParams, ctx.params)
        for sample in latest_samples(snapshot.burn).values():
            finding = _burn_finding(snapshot, ctx, params, sample)
            if finding is not None:
                yield finding
        for cost in snapshot.cost:
            finding = _cost_finding(ctx, params, cost)
            if finding is not None:
                yield finding


# --- burn rate -------------------------------------------------------------------------------


def burn_thresholds(
    sample: BurnSample, baseline: Baseline, params: HourlySpendParams
) -> list[Threshold]:
    """The limits a sample crosses, most absolute first."""
    crossed = []
    if sample.usd_per_hour > params.max_usd_per_hour:
        crossed.append(Threshold.MAX_RATE)
    factor, floor = params.spike_factor, params.min_increase_usd_per_hour
    if is_spike(sample.usd_per_hour, baseline, factor, floor):
        crossed.append(Threshold.SPIKE)
    return crossed


def _burn_finding(
    snapshot: Snapshot, ctx: Context, params: HourlySpendParams, sample: BurnSample
) -> Finding | None:
    baseline = median_baseline(
        snapshot.burn_history,
        sample.account,
        sample.region,
        sample.at,
        params.baseline_hours,
        params.min_samples,
    )
    crossed = burn_thresholds(sample, baseline, params)
    if not crossed:
        return None
    recent = recent_instances(snapshot, sample, ctx.now)
    return ctx.finding(
        account=sample.account,
        region=sample.region,
        resource=f"arn:aws:ec2:{sample.region}:{sample.account}:burn-rate",
        title=_burn_title(sample, baseline, crossed[0], params),
        details=_burn_details(sample, baseline, crossed, params, recent, ctx.now),
        entities=[f"instance:{i['instance_id']}" for i in recent],
        at=sample.at,
    )


def _burn_title(
    sample: BurnSample, baseline: Baseline, first: Threshold, params: HourlySpendParams
) -> str:
    where = f"EC2 burn rate in {sample.account} {sample.region}"
    if first is Threshold.MAX_RATE:
        return (
            f"{where} is {_usd(sample.usd_per_hour)}/h, "
            f"above the {_usd(params.max_usd_per_hour)}/h limit"
        )
    return (
        f"{where} jumped to {_usd(sample.usd_per_hour)}/h from a {baseline.hours:g} h "
        f"baseline of {_usd(baseline.usd_per_hour or 0.0)}/h"
    )


def recent_instances(snapshot: Snapshot, sample: BurnSample, now: datetime) -> list[dict[str, Any]]:
    """Running instances of the sample's account and region launched in the last hour, dearest
    first: usually the attacker's."""
    found = [
        {
            "instance_id": i.instance_id,
            "instance_type": i.instance_type,
            "launch_time": i.launch_time.isoformat() if i.launch_time else None,
            "usd_per_hour": snapshot.instance_prices.get((i.region, i.instance_type)),
            "estimated": i.instance_type in sample.estimated_types,
            "key_name": i.key_name,
            "name": i.tags.get("Name"),
        }
        for inv in snapshot.inventory
        if (inv.account, inv.region) == (sample.account, sample.region)
        for i in inv.instances
        if i.running and launched_recently(i, now)
    ]
    return sorted(found, key=lambda d: (-(d["usd_per_hour"] or 0.0), d["instance_id"]))


def _burn_details(
    sample: BurnSample,
    baseline: Baseline,
    crossed: list[Threshold],
    params: HourlySpendParams,
    recent: list[dict[str, Any]],
    now: datetime,
) -> dict[str, Any]:
    ahead = projection(sample.usd_per_hour, now)
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
        "baseline_samples": baseline.samples,
        "baseline_hours": baseline.hours,
        "by_family": dict(sample.by_family),
        "instance_count": sample.instance_count,
        "recent_usd_per_hour": sample.recent_usd_per_hour,
        "recent_instances": recent,
        "estimated_types": list(sample.estimated_types),
        "projected_usd_next_24h": ahead["next_24h"],
        "projected_usd_to_month_end": ahead["to_month_end"],
    }


# --- Cost Explorer ---------------------------------------------------------------------------


def latest_period(cost: CostData, now: datetime) -> list[CostPoint]:
    """The points of the newest period: for HOURLY the newest complete hour (the current hour
    is still filling in), for DAILY the newest day, today so far included."""
    points = cost.points
    if cost.granularity == Granularity.HOURLY.value:
        points = tuple(p for p in points if p.end <= now)
    if not points:
        return []
    start = max(p.start for p in points)
    return [p for p in points if p.start == start]


def _cost_limit(granularity: str, params: HourlySpendParams) -> tuple[Threshold, float] | None:
    if granularity == Granularity.HOURLY.value and params.max_actual_usd_per_hour is not None:
        return Threshold.MAX_ACTUAL_HOURLY, params.max_actual_usd_per_hour
    if granularity == Granularity.DAILY.value and params.max_actual_usd_per_day is not None:
        return Threshold.MAX_ACTUAL_DAILY, params.max_actual_usd_per_day
    return None


def _cost_finding(ctx: Context, params: HourlySpendParams, cost: CostData) -> Finding | None:
    limit = _cost_limit(cost.granularity, params)
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
            f"Cost Explorer shows {_usd(amount)} spent in {cost.account} for {when}, "
            f"above the {_usd(value)}/{per} limit"
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
        "by_service": _totals(points, lambda p: p.service),
        "by_account": _totals(points, lambda p: p.linked_account or cost.account),
        "fetched_at": cost.fetched_at.isoformat() if cost.fetched_at else None,
        "projected_usd_next_24h": ahead["next_24h"],
        "projected_usd_to_month_end": ahead["to_month_end"],
    }


def ce_time_period(granularity: str, start: datetime, end: datetime) -> dict[str, str]:
    """The period as `aws ce get-cost-and-usage --time-period` wants it: UTC, with the time
    only at HOURLY granularity."""
    fmt = "%Y-%m-%dT%H:%M:%SZ" if granularity == Granularity.HOURLY.value else "%Y-%m-%d"
    return {"Start": _utc(start).strftime(fmt), "End": _utc(end).strftime(fmt)}


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(timezone.utc) if moment.tzinfo else moment


def _totals(points: Iterable[CostPoint], key: Callable[[CostPoint], str]) -> dict[str, float]:
    """Amounts summed by `key`, largest first."""
    sums: dict[str, float] = {}
    for point in points:
        sums[key(point)] = sums.get(key(point), 0.0) + point.amount
    return {k: round(v, 2) for k, v in sorted(sums.items(), key=lambda kv: (-kv[1], kv[0]))}


def _usd(value: float) -> str:
    return f"${value:,.2f}"
