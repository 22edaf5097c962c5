"""hourly_spend: burn rate over a limit or a baseline spike, and Cost Explorer totals."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from costguard.checks.hourly_spend import HourlySpend, HourlySpendParams
from costguard.model import GLOBAL_REGION, Severity
from costguard.render import text_to_html
from costguard.snapshot import BurnSample, CostData, CostPoint

from .conftest import (
    ACCOUNT,
    HOSTILE,
    NOW,
    OTHER_ACCOUNT,
    SCRIPT,
    ago,
    assert_only_quoted,
    instance,
    inventory,
    render,
    run,
    snapshot,
)

BURN_ARN = f"arn:aws:ec2:us-east-1:{ACCOUNT}:burn-rate"
EC2 = "Amazon Elastic Compute Cloud - Compute"
S3 = "Amazon Simple Storage Service"


def sample(rate, *, at=NOW, region="us-east-1", account=ACCOUNT, **fields):
    """A burn sample for us-east-1 at NOW."""
    return BurnSample(account=account, region=region, at=at, usd_per_hour=rate, **fields)


def history(rate, count, *, every=timedelta(hours=1), region="us-east-1", account=ACCOUNT):
    """`count` samples of `rate`, the newest `every` before NOW."""
    return tuple(
        sample(rate, at=NOW - every * (n + 1), region=region, account=account) for n in range(count)
    )


def miners(count=10, instance_type="c5.4xlarge", minutes=10):
    """Instances i-00.. launched `minutes` before NOW, as a stolen key would start them."""
    return [
        instance(f"i-{n:02d}", instance_type, launched=ago(minutes=minutes), key_name="k")
        for n in range(count)
    ]


def test_a_rate_above_the_limit_is_critical_with_recent_instances_and_projections():
    snap = snapshot(
        inventory=(
            inventory(
                *miners(),
                instance("i-old", "m5.large", launched=ago(hours=30)),
                instance("i-stopped", "c5.4xlarge", state="stopped", launched=ago(minutes=5)),
            ),
        ),
        burn=(
            sample(
                6.896,
                by_family={"c5": 6.8, "m5": 0.096},
                recent_usd_per_hour=6.8,
                instance_count=11,
            ),
        ),
        instance_prices={("us-east-1", "c5.4xlarge"): 0.68, ("us-east-1", "m5.large"): 0.096},
    )

    [finding] = run(HourlySpend, snap)

    assert finding.title == (
        f"EC2 burn rate in {ACCOUNT} us-east-1 is $6.90/h, above the $5.00/h limit"
    )
    assert (finding.account, finding.region, finding.resource) == (ACCOUNT, "us-east-1", BURN_ARN)
    assert finding.severity is Severity.CRITICAL
    assert finding.at == NOW
    assert finding.entities == {f"instance:i-{n:02d}" for n in range(10)}
    details = finding.details
    assert details["kind"] == "burn_rate"
    assert details["thresholds_crossed"] == ["max_usd_per_hour"]
    assert details["usd_per_hour"] == 6.896
    assert details["by_family"] == {"c5": 6.8, "m5": 0.096}
    assert (details["baseline_usd_per_hour"], details["baseline_samples"]) == (None, 0)
    assert details["recent_usd_per_hour"] == 6.8
    assert details["instance_count"] == 11
    assert details["recent_instances"][0] == {
        "instance_id": "i-00",
        "instance_type": "c5.4xlarge",
        "launch_time": "2026-11-22T11:50:00+00:00",
        "usd_per_hour": 0.68,
        "estimated": False,
        "key_name": "k",
        "name": None,
    }
    assert len(details["recent_instances"]) == 10
    # 2026-11-22 12:00 to 2026-12-01 00:00 is 204 hours.
    assert details["projected_usd_next_24h"] == 165.5
    assert details["projected_usd_to_month_end"] == 1406.78


def test_a_spike_over_the_baseline_fires_below_the_absolute_limit():
    snap = snapshot(burn=(sample(2.0),), burn_history=history(0.5, 12))

    [finding] = run(HourlySpend, snap)

    assert finding.title == (
        f"EC2 burn rate in {ACCOUNT} us-east-1 jumped to $2.00/h from a 24 h baseline of $0.50/h"
    )
    assert finding.details["thresholds_crossed"] == ["spike_factor"]
    assert finding.details["baseline_usd_per_hour"] == 0.5
    assert finding.details["baseline_samples"] == 12


def test_both_limits_are_reported_when_both_are_crossed():
    snap = snapshot(burn=(sample(20.0),), burn_history=history(1.0, 12))

    [finding] = run(HourlySpend, snap)

    assert finding.details["thresholds_crossed"] == ["max_usd_per_hour", "spike_factor"]
    assert finding.title.endswith("is $20.00/h, above the $5.00/h limit")


def test_a_spike_smaller_than_the_minimum_increase_is_ignored():
    # 9x the baseline, but only $0.80/h more.
    snap = snapshot(burn=(sample(0.9),), burn_history=history(0.1, 12))

    assert run(HourlySpend, snap) == []
    assert len(run(HourlySpend, snap, min_increase_usd_per_hour=0.5)) == 1


def test_too_few_baseline_samples_means_no_spike_judgement():
    snap = snapshot(burn=(sample(3.0),), burn_history=history(0.1, 9))

    assert run(HourlySpend, snap) == []
    [finding] = run(HourlySpend, snap, min_samples=9)
    assert finding.details["baseline_samples"] == 9


def test_samples_outside_the_window_or_of_other_regions_do_not_make_a_baseline():
    snap = snapshot(
        burn=(sample(3.0),),
        burn_history=(
            *tuple(sample(0.1, at=ago(hours=30 + n)) for n in range(12)),
            *history(0.1, 12, region="eu-west-1"),
            *history(0.1, 12, account=OTHER_ACCOUNT),
        ),
    )

    assert run(HourlySpend, snap) == []
    assert len(run(HourlySpend, snap, baseline_hours=48)) == 1


def test_the_baseline_is_a_median_so_one_earlier_spike_does_not_raise_it():
    snap = snapshot(
        burn=(sample(2.0),), burn_history=(*history(0.5, 11), sample(40.0, at=ago(minutes=30)))
    )

    [finding] = run(HourlySpend, snap)

    assert finding.details["baseline_usd_per_hour"] == 0.5


def test_only_the_latest_sample_per_account_and_region_counts():
    snap = snapshot(
        burn=(
            sample(9.0, at=ago(minutes=10)),
            sample(1.0),
            sample(7.0, region="eu-west-1"),
        )
    )

    [finding] = run(HourlySpend, snap)

    assert finding.region == "eu-west-1"
    assert finding.resource == f"arn:aws:ec2:eu-west-1:{ACCOUNT}:burn-rate"


def test_an_idle_region_with_an_idle_baseline_is_quiet():
    assert run(HourlySpend, snapshot(burn=(sample(0.0),), burn_history=history(0.0, 24))) == []


def test_estimated_prices_are_marked():
    snap = snapshot(
        inventory=(inventory(*miners(2, "p4de.24xlarge")),),
        burn=(sample(73.44, estimated_types=("p4de.24xlarge",)),),
        instance_prices={("us-east-1", "p4de.24xlarge"): 36.72},
    )

    [finding] = run(HourlySpend, snap)

    assert finding.details["estimated_types"] == ["p4de.24xlarge"]
    assert [(i["usd_per_hour"], i["estimated"]) for i in finding.details["recent_instances"]] == [
        (36.72, True),
        (36.72, True),
    ]


def hourly_cost(*hours):
    """HOURLY CostData: (hour of 2026-11-22, service, amount) triples."""
    points = tuple(
        CostPoint(
            start=datetime(2026, 11, 22, h, tzinfo=timezone.utc),
            end=datetime(2026, 11, 22, h, tzinfo=timezone.utc) + timedelta(hours=1),
            service=service,
            amount=amount,
        )
        for h, service, amount in hours
    )
    return CostData(account=ACCOUNT, granularity="HOURLY", points=points, fetched_at=NOW)


def test_cost_explorer_hourly_total_of_the_latest_complete_hour():
    cost = hourly_cost((10, EC2, 5.0), (11, EC2, 30.0), (11, S3, 5.0), (12, EC2, 900.0))

    [finding] = run(HourlySpend, snapshot(cost=(cost,)), max_actual_usd_per_hour=20)

    assert finding.title == (
        f"Cost Explorer shows $35.00 spent in {ACCOUNT} for the hour from 2026-11-22 11:00 UTC, "
        "above the $20.00/h limit"
    )
    assert (finding.region, finding.resource) == (
        GLOBAL_REGION,
        f"arn:aws:ce::{ACCOUNT}:cost/hourly",
    )
    assert finding.severity is Severity.CRITICAL
    details = finding.details
    assert details["kind"] == "actual_cost"
    assert (details["amount"], details["complete"]) == (35.0, True)
    assert details["by_service"] == {EC2: 30.0, S3: 5.0}
    assert details["by_account"] == {ACCOUNT: 35.0}
    assert details["thresholds_crossed"] == ["max_actual_usd_per_hour"]
    assert details["ce_time_period"] == {
        "Start": "2026-11-22T11:00:00Z",
        "End": "2026-11-22T12:00:00Z",
    }
    assert details["projected_usd_next_24h"] == 840.0


def test_cost_explorer_limits_are_off_unless_set_and_strictly_exceeded():
    cost = hourly_cost((11, EC2, 20.0))

    assert run(HourlySpend, snapshot(cost=(cost,))) == []
    assert run(HourlySpend, snapshot(cost=(cost,)), max_actual_usd_per_hour=20) == []
    assert run(HourlySpend, snapshot(cost=(cost,)), max_actual_usd_per_day=1) == []


def test_cost_explorer_daily_total_includes_today_so_far():
    today = CostPoint(
        start=datetime(2026, 11, 22, tzinfo=timezone.utc),
        end=datetime(2026, 11, 23, tzinfo=timezone.utc),
        service=EC2,
        amount=600.0,
        linked_account=OTHER_ACCOUNT,
        estimated=True,
    )
    yesterday = CostPoint(
        start=datetime(2026, 11, 21, tzinfo=timezone.utc),
        end=datetime(2026, 11, 22, tzinfo=timezone.utc),
        service=EC2,
        amount=900.0,
    )
    cost = CostData(account=ACCOUNT, granularity="DAILY", points=(yesterday, today))

    [finding] = run(HourlySpend, snapshot(cost=(cost,)), max_actual_usd_per_day=500)

    assert finding.title == (
        f"Cost Explorer shows $600.00 spent in {ACCOUNT} for 2026-11-22, "
        "above the $500.00/day limit"
    )
    assert finding.resource == f"arn:aws:ce::{ACCOUNT}:cost/daily"
    details = finding.details
    assert (details["complete"], details["estimated"]) == (False, True)
    assert details["usd_per_hour"] == 50.0  # $600 over the 12 hours of today so far
    assert details["by_account"] == {OTHER_ACCOUNT: 600.0}
    assert details["ce_time_period"] == {"Start": "2026-11-22", "End": "2026-11-23"}


def test_params_are_validated():
    with pytest.raises(ValidationError, match="spike_factor"):
        HourlySpendParams.model_validate({"spike_factor": 1})
    with pytest.raises(ValidationError, match="max_usd_per_hour"):
        HourlySpendParams.model_validate({"max_usd_per_hour": -5})
    with pytest.raises(ValidationError, match="max_usd_per_houre"):
        HourlySpendParams.model_validate({"max_usd_per_houre": 5})


def test_remediation_for_a_burn_rate_stops_the_new_instances():
    snap = snapshot(
        inventory=(inventory(*miners(2)),),
        burn=(sample(6.8, by_family={"c5": 6.8}, instance_count=10),),
        instance_prices={("us-east-1", "c5.4xlarge"): 0.68},
    )

    text = render("hourly_spend", run(HourlySpend, snap))

    assert text.startswith(
        f"EC2 in account {ACCOUNT}, region us-east-1, costs $6.80/h on demand "
        "(10 running instances). Limit crossed: max_usd_per_hour.\n"
        "- At this rate: $163.20 over the next 24 hours, $1,387.20 by the end of the month.\n"
        "- c5 instances: $6.80/h\n"
    )
    assert "- i-00: c5.4xlarge, $0.68/h, launched 2026-11-22T11:50:00+00:00; key pair k\n" in text
    assert "aws ec2 stop-instances --region us-east-1 --instance-ids i-00 i-01\n" in text
    assert (
        "aws ec2 describe-instances --region us-east-1 --filters "
        "Name=instance-state-name,Values=pending,running --query "
        "'Reservations[].Instances[].[InstanceId,InstanceType,LaunchTime,KeyName]' --output table\n"
    ) in text
    assert "a burn-rate finding resolves once the region is back under its limits" in text


def test_remediation_for_cost_explorer_breaks_the_period_down():
    cost = hourly_cost((11, EC2, 30.0), (11, S3, 5.0))

    text = render(
        "hourly_spend", run(HourlySpend, snapshot(cost=(cost,)), max_actual_usd_per_hour=20)
    )

    assert text.startswith(
        f"Cost Explorer shows $35.00 spent in account {ACCOUNT} from 2026-11-22T11:00:00+00:00 "
        "to 2026-11-22T12:00:00+00:00 (hourly).\n"
        f"- '{EC2}': $30.00\n- '{S3}': $5.00\n"
    )
    assert (
        "aws ce get-cost-and-usage --region us-east-1 --time-period "
        "Start=2026-11-22T11:00:00Z,End=2026-11-22T12:00:00Z --granularity HOURLY "
        "--metrics UnblendedCost --group-by Type=DIMENSION,Key=SERVICE Type=DIMENSION,Key=REGION\n"
    ) in text


def test_remediation_quotes_hostile_key_names_and_tags():
    evil = instance(
        "i-1", "c5.4xlarge", launched=ago(minutes=3), key_name=HOSTILE, tags={"Name": SCRIPT}
    )
    snap = snapshot(inventory=(inventory(evil),), burn=(sample(9.0, by_family={"c5": 9.0}),))

    text = render("hourly_spend", run(HourlySpend, snap))

    assert "aws ec2 stop-instances --region us-east-1 --instance-ids i-1\n" in text
    assert "; key pair 'x'\"'\"'; rm -rf / #'; Name tag '<script>alert(1)</script>'\n" in text
    assert_only_quoted(text, HOSTILE)
    assert_only_quoted(text, SCRIPT)
    assert "<script>" not in text_to_html(text)
