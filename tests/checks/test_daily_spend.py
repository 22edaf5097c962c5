"""daily_spend: a day's cost per service and in total against the median of the days before."""

from __future__ import annotations

import json
import shlex
from datetime import timedelta

import pytest
from pydantic import ValidationError

from costguard.checks.daily_spend import DailySpend, DailySpendParams
from costguard.model import GLOBAL_REGION, Severity
from costguard.snapshot import CostData, CostPoint

from .conftest import (
    ACCOUNT,
    HOSTILE,
    NOW,
    OTHER_ACCOUNT,
    assert_only_quoted,
    render,
    run,
    snapshot,
)

EC2 = "Amazon Elastic Compute Cloud - Compute"
S3 = "Amazon Simple Storage Service"
TODAY = NOW.replace(hour=0)  # NOW is 2026-11-22 12:00 UTC
DAY = timedelta(days=1)


def day(offset, service, amount, *, linked=None, estimated=False):
    """A DAILY point `offset` days from today (-1 is yesterday)."""
    start = TODAY + DAY * offset
    return CostPoint(
        start, start + DAY, service, amount, linked_account=linked, estimated=estimated
    )


def steady(days=8, *, ec2=10.0, s3=2.0, linked=None):
    """The `days` days before yesterday at a steady $12 a day."""
    return [
        p
        for offset in range(-days - 1, -1)
        for p in (day(offset, EC2, ec2, linked=linked), day(offset, S3, s3, linked=linked))
    ]


def daily(*points, account=ACCOUNT):
    return CostData(account=account, granularity="DAILY", points=tuple(points), fetched_at=NOW)


def by_resource(findings):
    return {f.resource: f for f in findings}


def test_yesterdays_jump_is_flagged_for_the_service_and_the_total():
    cost = daily(*steady(), day(-1, EC2, 160.0, estimated=True), day(-1, S3, 2.0))

    found = by_resource(run(DailySpend, snapshot(cost=(cost,))))

    assert set(found) == {
        f"arn:aws:ce::{ACCOUNT}:daily/{EC2}",
        f"arn:aws:ce::{ACCOUNT}:daily/total",
    }
    ec2 = found[f"arn:aws:ce::{ACCOUNT}:daily/{EC2}"]
    assert ec2.title == (
        f"{EC2} in {ACCOUNT} cost $160.00 on 2026-11-21, against a 7-day median of $10.00"
    )
    assert (ec2.region, ec2.severity, ec2.at) == (GLOBAL_REGION, Severity.HIGH, TODAY - DAY)
    assert ec2.details == {
        "scope": EC2,
        "service": EC2,
        "account": ACCOUNT,
        "payer_account": ACCOUNT,
        "day": "2026-11-21",
        "complete": True,
        "amount": 160.0,
        "baseline_usd": 10.0,
        "baseline_days": 7,
        "factor": 2.0,
        "min_increase_usd": 20.0,
        "increase_usd": 150.0,
        "by_service": {EC2: 160.0, S3: 2.0},
        "estimated": True,
        "ce_time_period": {"Start": "2026-11-21", "End": "2026-11-22"},
        "ce_filter": json.dumps(
            {
                "And": [
                    {"Dimensions": {"Key": "LINKED_ACCOUNT", "Values": [ACCOUNT]}},
                    {"Dimensions": {"Key": "SERVICE", "Values": [EC2]}},
                ]
            },
            separators=(",", ":"),
        ),
    }
    total = found[f"arn:aws:ce::{ACCOUNT}:daily/total"]
    assert total.title.startswith(f"All services in {ACCOUNT} cost $162.00 on 2026-11-21")
    assert (total.details["service"], total.details["baseline_usd"]) == (None, 12.0)
    assert json.loads(total.details["ce_filter"]) == {
        "Dimensions": {"Key": "LINKED_ACCOUNT", "Values": [ACCOUNT]}
    }


def test_today_so_far_is_flagged_once_it_is_already_over():
    cost = daily(*steady(), day(-1, EC2, 10.0), day(0, EC2, 45.0, estimated=True))

    found = by_resource(run(DailySpend, snapshot(cost=(cost,))))

    ec2 = found[f"arn:aws:ce::{ACCOUNT}:daily/{EC2}"]
    assert ec2.title == (
        f"{EC2} in {ACCOUNT} cost $45.00 so far today (2026-11-22), "
        "against a 7-day median of $10.00"
    )
    assert (ec2.details["day"], ec2.details["complete"]) == ("2026-11-22", False)
    # Today's median window includes yesterday: still 7 days.
    assert ec2.details["baseline_days"] == 7


@pytest.mark.parametrize(
    ("yesterday", "flagged"),
    [
        (29.0, False),  # 2.9x but only $19 more
        (30.0, True),  # 3x and $20 more
        (19.0, False),  # $9 more, under 2x
    ],
)
def test_a_day_must_be_factor_times_and_min_increase_above(yesterday, flagged):
    cost = daily(*steady(), day(-1, EC2, yesterday), day(-1, S3, 2.0))

    resources = set(by_resource(run(DailySpend, snapshot(cost=(cost,)))))

    assert (f"arn:aws:ce::{ACCOUNT}:daily/{EC2}" in resources) is flagged


def test_the_finding_clears_once_the_latest_days_are_normal_again():
    spike = daily(*steady(), day(-1, EC2, 160.0), day(-1, S3, 2.0))
    # A day later the spike is the day before yesterday; yesterday and today are normal.
    two_days_old = [
        CostPoint(p.start - DAY, p.end - DAY, p.service, p.amount) for p in spike.points
    ]
    later = daily(*two_days_old, day(-1, EC2, 10.0), day(-1, S3, 2.0), day(0, EC2, 4.0))

    assert len(run(DailySpend, snapshot(cost=(spike,)))) == 2
    assert run(DailySpend, snapshot(cost=(later,))) == []


def test_a_new_service_counts_its_missing_days_as_zero():
    cost = daily(*steady(), day(-1, EC2, 10.0), day(-1, "Amazon Bedrock", 480.0))

    [finding] = [f for f in run(DailySpend, snapshot(cost=(cost,))) if "Bedrock" in f.resource]

    assert (finding.details["baseline_usd"], finding.details["baseline_days"]) == (0.0, 7)


def test_too_little_history_judges_nothing():
    cost = daily(*steady(days=2), day(-1, EC2, 500.0))

    assert run(DailySpend, snapshot(cost=(cost,))) == []
    assert len(run(DailySpend, snapshot(cost=(cost,)), min_baseline_days=2)) == 2


def test_services_can_have_their_own_thresholds_and_tax_is_left_out():
    cost = daily(*steady(), day(-1, EC2, 18.0), day(-1, S3, 2.0), day(-1, "Tax", 300.0))
    params = {"services": {EC2: {"factor": 1.5, "min_increase_usd": 5}, "total": {"factor": 50}}}

    found = by_resource(run(DailySpend, snapshot(cost=(cost,)), **params))

    assert set(found) == {f"arn:aws:ce::{ACCOUNT}:daily/{EC2}"}
    assert (found[f"arn:aws:ce::{ACCOUNT}:daily/{EC2}"].details["factor"]) == 1.5
    # Tax still counts in the total, which its own factor of 50 keeps quiet here.
    assert f"arn:aws:ce::{ACCOUNT}:daily/Tax" not in found


def test_each_linked_account_of_an_organization_is_judged_on_its_own():
    payer_data = daily(
        *steady(linked=ACCOUNT),
        *steady(linked=OTHER_ACCOUNT),
        day(-1, EC2, 10.0, linked=ACCOUNT),
        day(-1, EC2, 400.0, linked=OTHER_ACCOUNT),
    )

    findings = run(DailySpend, snapshot(cost=(payer_data,)))

    assert {f.account for f in findings} == {OTHER_ACCOUNT}
    assert {f.resource for f in findings} == {
        f"arn:aws:ce::{OTHER_ACCOUNT}:daily/{EC2}",
        f"arn:aws:ce::{OTHER_ACCOUNT}:daily/total",
    }
    assert all(f.details["payer_account"] == ACCOUNT for f in findings)


def test_hourly_data_is_not_judged_here():
    hourly = CostData(ACCOUNT, "HOURLY", (*tuple(steady()), day(-1, EC2, 500.0)))

    assert run(DailySpend, snapshot(cost=(hourly,))) == []


def test_params_are_validated():
    with pytest.raises(ValidationError, match="factor"):
        DailySpendParams.model_validate({"factor": 1})
    with pytest.raises(ValidationError, match="baseline_days"):
        DailySpendParams.model_validate({"baseline_days": 14})
    with pytest.raises(ValidationError, match="services"):
        DailySpendParams.model_validate({"services": {EC2: {"factr": 2}}})


def test_remediation_breaks_the_day_down_with_quoted_names():
    cost = daily(*steady(), day(-1, HOSTILE, 900.0))

    text = render("daily_spend", run(DailySpend, snapshot(cost=(cost,))))

    assert text.startswith(
        f"All services together cost $900.00 in account {ACCOUNT} on 2026-11-21: $888.00 more "
        "than the median of the 7 days before, $12.00.\n"
    )
    filter_json = json.dumps(
        {
            "And": [
                {"Dimensions": {"Key": "LINKED_ACCOUNT", "Values": [ACCOUNT]}},
                {"Dimensions": {"Key": "SERVICE", "Values": [HOSTILE]}},
            ]
        },
        separators=(",", ":"),
    )
    assert (
        "aws ce get-cost-and-usage --region us-east-1 --time-period "
        "Start=2026-11-21,End=2026-11-22 --granularity DAILY --metrics UnblendedCost "
        f"--filter {shlex.quote(filter_json)} --group-by Type=DIMENSION,Key=USAGE_TYPE "
        "Type=DIMENSION,Key=REGION\n"
    ) in text
    assert_only_quoted(text, HOSTILE)
    assert "the finding resolves once neither today so far nor yesterday" in text
