"""hourly_spend: burn rate over a limit or a baseline spike, and Cost Explorer totals."""

from __future__ import annotations

import itertools
import shlex
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from costguard.alerts.render import text_to_html
from costguard.checks.hourly_spend import HourlySpend, HourlySpendParams
from costguard.model import GLOBAL_REGION, Severity
from costguard.snapshot import ApiEvent, BurnSample, CostData, CostPoint
from costguard.spend import burn_series as series

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
        "cost_so_far_usd": 0.1133,  # ten minutes at $0.68/h
        "launched_by": None,
        "routine": False,
    }
    assert len(details["recent_instances"]) == 10
    assert details["cost_so_far_usd"] == 1.13
    assert details["limits_from"] == "policy"
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
    assert render("hourly_spend", [finding]).startswith(
        f"Burn rate now in account {ACCOUNT}, region us-east-1: $2.00/h on demand (0 running "
        "instances), against a 24 h baseline of $0.50/h. Limit crossed: spike_factor.\n"
    )


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

    # the money vocabulary: the burn rate now; the projection is the alert's money block's
    assert text.startswith(
        f"Burn rate now in account {ACCOUNT}, region us-east-1: $6.80/h on demand "
        "(10 running instances). Limit crossed: max_usd_per_hour.\n"
        "- By instance family: c5 $6.80/h\n"
    )
    assert "At this rate" not in text and "end of the month" not in text
    assert "Launched in the last hour ($0.23 so far):\n" in text
    assert (
        "- i-00: c5.4xlarge, $0.68/h, launched 2026-11-22T11:50:00+00:00, $0.11 so far; "
        "key pair k\n"
    ) in text
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


# --- baselines on synthetic series -----------------------------------------------------------
# Histories go through spend.burn_series as the engine's do: only changes and hourly heartbeats
# are "stored", then read back as one value per hour.


def stored(rate_at_hour, hours, *, every=timedelta(minutes=1), skip=()):
    """What the engine would have stored over the `hours` before NOW, polling every minute:
    a sample when the rate changes or an hour passed. `rate_at_hour(moment)` gives the rate;
    polls in `skip` (datetimes) were missed."""
    kept, last = [], None
    moment = NOW - timedelta(hours=hours)
    while moment < NOW:
        if moment not in skip:
            current = sample(rate_at_hour(moment), at=moment)
            if series.worth_storing(current, last):
                kept.append(current)
                last = current
        moment += every
    return kept


def hourly_history(samples, weeks=5):
    """The engine's view: the stored samples resampled to whole hours over `weeks` weeks."""
    return tuple(series.hourly(samples, NOW - timedelta(weeks=weeks), NOW))


def office_hours(moment):
    """$8/h on weekdays from 08:00 to 18:00 UTC, $0.50/h otherwise: a fleet scaled by the day."""
    busy = moment.weekday() < 5 and 8 <= moment.hour < 18
    return 8.0 if busy else 0.5


def test_weekly_seasonality_is_normal_at_its_own_hour():
    # NOW is Sunday 2026-11-22 12:00; a Monday 12:00 two hours after the fleet scaled up.
    monday_noon = NOW + timedelta(days=1)
    history = hourly_history(stored(office_hours, 24 * 7 * 4 + 24), weeks=5)
    history += tuple(  # Monday's own night and morning, as the engine would have them
        sample(office_hours(NOW + timedelta(hours=h)), at=NOW + timedelta(hours=h))
        for h in range(24)
    )
    snap = snapshot(now=monday_noon, burn=(sample(8.0, at=monday_noon),), burn_history=history)

    assert run(HourlySpend, snap, now=monday_noon, max_usd_per_hour=20) == []
    # Without the seasonal baseline, the trailing 24 h (mostly night) calls it a spike.
    [finding] = run(HourlySpend, snap, now=monday_noon, max_usd_per_hour=20, seasonal_weeks=0)
    assert finding.details["baseline_kind"] == "trailing_median"
    assert finding.details["baseline_usd_per_hour"] == 0.5


def test_a_spike_at_a_quiet_hour_is_judged_against_that_hour_of_the_week():
    history = hourly_history(stored(office_hours, 24 * 7 * 4 + 2))  # Sunday noon: quiet
    snap = snapshot(burn=(sample(6.8),), burn_history=history)

    [finding] = run(HourlySpend, snap, max_usd_per_hour=20)

    assert finding.title == (
        f"EC2 burn rate in {ACCOUNT} us-east-1 jumped to $6.80/h from the same hour of the "
        "week (4 weeks) at $0.50/h"
    )
    details = finding.details
    assert details["thresholds_crossed"] == ["spike_factor"]
    assert (details["baseline_kind"], details["baseline_samples"]) == ("same_hour_of_week", 4)
    assert (details["baseline_usd_per_hour"], details["baseline_hours"]) == (0.5, 672.0)
    assert details["increase_usd_per_hour"] == 6.3


def test_too_few_weeks_fall_back_to_the_trailing_median():
    history = hourly_history(stored(lambda m: 0.5, 24 * 7 * 2 + 2))  # two weeks
    snap = snapshot(burn=(sample(6.8),), burn_history=history)

    [finding] = run(HourlySpend, snap, max_usd_per_hour=20)
    assert finding.details["baseline_kind"] == "trailing_median"
    assert finding.details["baseline_samples"] == 24
    [seasonal] = run(HourlySpend, snap, max_usd_per_hour=20, seasonal_min_weeks=2)
    assert seasonal.details["baseline_kind"] == "same_hour_of_week"
    assert seasonal.details["baseline_samples"] == 2


def test_a_missed_cycle_changes_neither_the_baseline_nor_the_verdict():
    steady = stored(lambda m: 0.5, 30)
    # The polls from the heartbeat five hours ago on failed for 70 minutes (a lost cycle, or
    # a restart): no sample was stored for more than an hour, and the step function carries
    # the last rate over the gap.
    heartbeat = max(s.at for s in steady if s.at < NOW - timedelta(hours=5))
    gap = {heartbeat + timedelta(minutes=m) for m in range(70)}
    missed = stored(lambda m: 0.5, 30, skip=gap)
    assert heartbeat not in {s.at for s in missed}
    assert max(b.at - a.at for a, b in itertools.pairwise(missed)) > timedelta(hours=1)

    for history in (steady, missed):
        quiet = snapshot(burn=(sample(0.5),), burn_history=hourly_history(history, weeks=1))
        loud = snapshot(burn=(sample(2.5),), burn_history=hourly_history(history, weeks=1))
        assert run(HourlySpend, quiet) == []
        [finding] = run(HourlySpend, loud)
        assert finding.details["baseline_samples"] == 24
        assert finding.details["baseline_usd_per_hour"] == 0.5


def test_a_tiny_jump_is_no_alert_and_a_big_one_is():
    history = hourly_history(stored(lambda m: 0.02, 26), weeks=1)

    assert run(HourlySpend, snapshot(burn=(sample(0.10),), burn_history=history)) == []
    [finding] = run(HourlySpend, snapshot(burn=(sample(6.8),), burn_history=history))
    assert finding.details["thresholds_crossed"] == ["max_usd_per_hour", "spike_factor"]
    assert finding.details["baseline_usd_per_hour"] == 0.02


def test_the_finding_clears_when_the_rate_falls_back():
    """Three polls: steady, ten c5.4xlarge start, they are stopped. The store resolves a finding
    the check no longer returns, so 'clears' means the third poll returns nothing."""
    history = stored(lambda m: 0.5, 26)
    verdicts = []
    for minutes, rate in ((-20, 0.5), (-10, 7.3), (0, 0.5)):
        at = NOW + timedelta(minutes=minutes)
        history.append(sample(rate, at=at))
        snap = snapshot(
            now=at,
            burn=(sample(rate, at=at),),
            burn_history=tuple(series.hourly(history, at - timedelta(hours=25), at)),
        )
        verdicts.append([f.details["thresholds_crossed"] for f in run(HourlySpend, snap, now=at)])

    assert verdicts == [[], [["max_usd_per_hour", "spike_factor"]], []]


def test_an_account_can_have_its_own_limits():
    busy, quiet = "123456789012", "210987654321"
    snap = snapshot(burn=(sample(12.0, account=busy), sample(12.0, account=quiet)))
    params = {"accounts": {busy: {"max_usd_per_hour": 20}}}

    [finding] = run(HourlySpend, snap, **params)

    assert finding.account == quiet
    assert finding.details["limits_from"] == "policy"
    [own] = run(HourlySpend, snapshot(burn=(sample(25.0, account=busy),)), **params)
    assert own.details["limits_from"] == "account"
    assert own.details["max_usd_per_hour"] == 20
    assert own.title.endswith("is $25.00/h, above the $20.00/h limit")


def test_account_limits_apply_to_cost_explorer_totals_too():
    cost = hourly_cost((11, EC2, 30.0))
    params = {"max_actual_usd_per_hour": 20, "accounts": {ACCOUNT: {"max_actual_usd_per_hour": 50}}}

    assert run(HourlySpend, snapshot(cost=(cost,)), **params) == []


def test_account_ids_must_be_twelve_digits():
    with pytest.raises(ValidationError, match="accounts"):
        HourlySpendParams.model_validate({"accounts": {"prod": {"max_usd_per_hour": 20}}})
    with pytest.raises(ValidationError, match="max_usd_per_hour"):
        HourlySpendParams.model_validate({"accounts": {ACCOUNT: {"max_usd_per_hour": 0}}})


# --- who launched what -----------------------------------------------------------------------

ATTACKER = f"arn:aws:sts::{ACCOUNT}:assumed-role/ci/{HOSTILE}"


def run_instances(*ids, principal=ATTACKER, error=None, region="us-east-1"):
    """A RunInstances event eleven minutes before NOW, as the CloudTrail collector normalizes
    it."""
    return ApiEvent(
        event_id=f"ev-{ids[0]}",
        time=ago(minutes=11),
        account=ACCOUNT,
        region=region,
        service="ec2.amazonaws.com",
        name="RunInstances",
        principal_type="AssumedRole",
        principal_arn=principal,
        access_key_id="ASIAEXAMPLE",
        source_ip="203.0.113.9",
        user_agent="aws-cli/2.15",
        error_code=error,
        response={"instancesSet": {"items": [{"instanceId": i} for i in ids]}},
    )


def test_recent_launches_name_who_launched_them_and_what_they_cost_so_far():
    snap = snapshot(
        inventory=(inventory(*miners(3)),),
        burn=(sample(6.8, recent_usd_per_hour=2.04, instance_count=3),),
        instance_prices={("us-east-1", "c5.4xlarge"): 0.68},
        events=(
            run_instances("i-00", "i-01"),
            run_instances("i-02", error="InsufficientInstanceCapacity"),
            run_instances("i-99", principal=f"arn:aws:iam::{ACCOUNT}:user/bob"),
        ),
    )

    [finding] = run(HourlySpend, snap)

    launches = {i["instance_id"]: i for i in finding.details["recent_instances"]}
    assert launches["i-00"]["launched_by"] == {
        "principal_arn": ATTACKER,
        "principal_type": "AssumedRole",
        "access_key_id": "ASIAEXAMPLE",
        "source_ip": "203.0.113.9",
        "user_agent": "aws-cli/2.15",
        "event_time": "2026-11-22T11:49:00+00:00",
        "event_id": "ev-i-00",
    }
    assert launches["i-01"]["launched_by"]["event_id"] == "ev-i-00"
    assert launches["i-02"]["launched_by"] is None  # its only event failed
    assert finding.entities == {
        "instance:i-00",
        "instance:i-01",
        "instance:i-02",
        f"principal:{ATTACKER}",
    }
    assert finding.details["cost_so_far_usd"] == 0.34  # 3 x 10 minutes at $0.68/h


def test_remediation_names_the_launcher_quoted_and_the_seasonal_baseline():
    history = hourly_history(stored(lambda m: 0.5, 24 * 7 * 4 + 2))
    snap = snapshot(
        inventory=(inventory(*miners(1)),),
        burn=(sample(6.8, by_family={"c5": 6.8}, instance_count=10),),
        burn_history=history,
        instance_prices={("us-east-1", "c5.4xlarge"): 0.68},
        events=(run_instances("i-00"),),
    )

    text = render("hourly_spend", run(HourlySpend, snap))

    assert (
        "against $0.50/h at this hour of the week (median of 4 weeks). "
        "Limits crossed: max_usd_per_hour, spike_factor.\n"
    ) in text
    assert (
        "- i-00: c5.4xlarge, $0.68/h, launched 2026-11-22T11:50:00+00:00, $0.11 so far; "
        f"launched by {shlex.quote(ATTACKER)} from 203.0.113.9; key pair k\n"
    ) in text
    assert_only_quoted(text, ATTACKER)


def test_remediation_renders_findings_stored_before_the_new_details():
    """An alert about a finding stored by the previous version has none of the added keys."""
    [finding] = run(
        HourlySpend,
        snapshot(
            inventory=(inventory(*miners(1)),),
            burn=(sample(6.8),),
            instance_prices={("us-east-1", "c5.4xlarge"): 0.68},
        ),
    )
    old = dict(finding.details)
    for key in ("baseline_kind", "increase_usd_per_hour", "cost_so_far_usd", "limits_from"):
        del old[key]
    old["recent_instances"] = [
        {k: v for k, v in i.items() if k not in ("cost_so_far_usd", "launched_by")}
        for i in old["recent_instances"]
    ]

    text = render("hourly_spend", [replace(finding, details=old)])

    assert "Launched in the last hour:\n- i-00: c5.4xlarge, $0.68/h, launched " in text
