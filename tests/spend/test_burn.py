"""Burn samples from an inventory, and the baseline helpers the hourly_spend check uses."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from costguard.snapshot import ApiEvent, BurnSample, Instance, RegionInventory
from costguard.spend.burn import (
    WEEK,
    Baseline,
    BaselineKind,
    burn_samples,
    choose_baseline,
    cost_so_far,
    hours_to_month_end,
    instance_prices,
    is_spike,
    latest_samples,
    launch_events,
    launched_recently,
    launcher,
    median_baseline,
    projection,
    rate_at,
    samples_in_window,
    seasonal_baseline,
)
from costguard.spend.prices import PriceBook

ACCOUNT = "111122223333"
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)
PRICES = PriceBook()


def ec2(instance_id, instance_type, *, state="running", minutes_ago=600, region="us-east-1"):
    """An instance launched `minutes_ago` before NOW (ten hours by default: not recent)."""
    return Instance(
        account=ACCOUNT,
        region=region,
        instance_id=instance_id,
        instance_type=instance_type,
        state=state,
        launch_time=NOW - timedelta(minutes=minutes_ago),
    )


def inv(*instances, region="us-east-1"):
    """One region's inventory of `instances`."""
    return RegionInventory(account=ACCOUNT, region=region, instances=instances)


def sample(rate, minutes_ago=0, region="us-east-1", account=ACCOUNT):
    """A burn sample taken `minutes_ago` before NOW."""
    at = NOW - timedelta(minutes=minutes_ago)
    return BurnSample(account=account, region=region, at=at, usd_per_hour=rate)


def test_a_sample_sums_running_instances_by_family_and_recent_launches():
    miners = [ec2(f"i-{n}", "c5.4xlarge", minutes_ago=10) for n in range(10)]
    inventory = inv(
        *miners,
        ec2("i-old", "m5.large", minutes_ago=180),
        ec2("i-off", "p5.48xlarge", state="stopped", minutes_ago=5),
    )

    [burn] = burn_samples([inventory], PRICES, {}, NOW)

    assert (burn.account, burn.region, burn.at) == (ACCOUNT, "us-east-1", NOW)
    assert burn.usd_per_hour == 6.896
    assert burn.by_family == {"c5": 6.8, "m5": 0.096}
    assert burn.recent_usd_per_hour == 6.8
    assert burn.instance_count == 11
    assert burn.estimated_types == ()


def test_every_region_scanned_gets_a_sample_even_when_idle():
    samples = burn_samples([inv(ec2("i-1", "t3.micro")), inv(region="eu-west-1")], PRICES, {}, NOW)

    assert [(s.region, s.usd_per_hour, s.instance_count) for s in samples] == [
        ("us-east-1", 0.0104, 1),
        ("eu-west-1", 0.0, 0),
    ]


def test_unlisted_types_are_estimated_with_known_vcpus_and_named():
    [burn] = burn_samples([inv(ec2("i-1", "c5.metal"))], PRICES, {"c5.metal": 96}, NOW)

    assert burn.usd_per_hour == 4.08  # 96 vCPUs x c5's $0.0425 per vCPU
    assert burn.estimated_types == ("c5.metal",)


def test_instance_prices_cover_every_type_seen_by_region():
    prices = instance_prices(
        [
            inv(ec2("i-1", "c5.4xlarge"), ec2("i-2", "p5.48xlarge", state="stopped")),
            inv(ec2("i-3", "m5.large", region="eu-west-1"), region="eu-west-1"),
        ],
        PRICES,
        {},
    )

    assert prices == {
        ("us-east-1", "c5.4xlarge"): 0.68,
        ("us-east-1", "p5.48xlarge"): 55.04,
        ("eu-west-1", "m5.large"): 0.1075,
    }


@pytest.mark.parametrize(
    ("launched", "recent"),
    [
        (NOW - timedelta(minutes=60), True),
        (NOW - timedelta(minutes=61), False),
        (NOW + timedelta(seconds=30), True),  # AWS's clock a little ahead of ours
        (None, False),
    ],
)
def test_launched_recently_boundaries(launched, recent):
    instance = Instance(ACCOUNT, "us-east-1", "i-1", "t3.micro", "running", launch_time=launched)

    assert launched_recently(instance, NOW) is recent


def test_latest_samples_keep_the_newest_per_account_and_region():
    newest = latest_samples(
        [sample(9.0, 10), sample(1.0, 0), sample(2.0, 5, region="eu-west-1"), sample(3.0, 7)]
    )

    assert {k: s.usd_per_hour for k, s in newest.items()} == {
        (ACCOUNT, "us-east-1"): 1.0,
        (ACCOUNT, "eu-west-1"): 2.0,
    }


def test_the_window_is_half_open_and_per_account_and_region():
    samples = [
        sample(1.0, 24 * 60),  # exactly at the start: in
        sample(2.0, 24 * 60 + 1),  # just before: out
        sample(3.0, 0),  # at the end: out (that is the current sample)
        sample(4.0, 30, region="eu-west-1"),
        sample(5.0, 30, account="444455556666"),
    ]

    window = samples_in_window(samples, ACCOUNT, "us-east-1", NOW - timedelta(hours=24), NOW)

    assert [s.usd_per_hour for s in window] == [1.0]


def test_median_baseline_needs_the_minimum_samples():
    samples = [sample(r, 60 * (n + 1)) for n, r in enumerate([1.0, 2.0, 3.0, 50.0])]

    assert median_baseline(samples, ACCOUNT, "us-east-1", NOW, 24, 4) == Baseline(2.5, 4, 24)
    too_few = median_baseline(samples, ACCOUNT, "us-east-1", NOW, 24, 5)
    assert too_few == Baseline(None, 4, 24)
    assert not too_few.known


@pytest.mark.parametrize(
    ("current", "base", "spike"),
    [
        (2.0, 0.5, True),  # 4x and +$1.50
        (1.4, 0.5, False),  # under 3x
        (0.9, 0.1, False),  # 9x but only +$0.80
        (1.0, 0.0, True),  # from nothing to $1/h
        (0.0, 0.0, False),
        (99.0, None, False),  # unknown baseline: never a spike
    ],
)
def test_is_spike(current, base, spike):
    assert is_spike(current, Baseline(base, 10, 24), 3.0, 1.0) is spike


@pytest.mark.parametrize(
    ("now", "hours"),
    [
        (NOW, 204.0),
        (datetime(2026, 12, 31, 23, 0, tzinfo=timezone.utc), 1.0),
        (datetime(2028, 2, 28, 0, 0, tzinfo=timezone.utc), 48.0),  # leap year
    ],
)
def test_hours_to_month_end(now, hours):
    assert hours_to_month_end(now) == hours


def test_projection_of_ten_c5_4xlarge():
    assert projection(6.8, NOW) == {"next_24h": 163.2, "to_month_end": 1387.2}


# --- seasonal baseline, cost so far, launch attribution -------------------------------------


def weekly(*rates, hours_back=0):
    """Hourly-history samples at NOW minus k weeks (k = 1, 2, ...) with the given rates."""
    return [
        BurnSample(ACCOUNT, "us-east-1", NOW - WEEK * k - timedelta(hours=hours_back), rate)
        for k, rate in enumerate(rates, 1)
    ]


def test_rate_at_takes_the_newest_sample_of_the_hour_up_to_the_moment():
    series = [sample(1.0, 120), sample(2.0, 50), sample(3.0, 10), sample(4.0, -5)]

    assert rate_at(series, NOW) == 3.0
    assert rate_at(series, NOW - timedelta(minutes=50)) == 2.0
    assert rate_at(series, NOW - timedelta(minutes=110)) == 1.0  # 1.0 is 10 minutes old then
    assert rate_at(series, NOW - timedelta(hours=3)) is None


def test_seasonal_baseline_is_the_median_of_the_weeks_so_one_odd_week_does_not_count():
    history = [*weekly(0.5, 40.0, 0.6, 0.5), *weekly(9.0, hours_back=3)]

    baseline = seasonal_baseline(history, ACCOUNT, "us-east-1", NOW, weeks=4, min_weeks=3)

    assert baseline == Baseline(0.55, 4, 672.0, BaselineKind.SAME_HOUR_OF_WEEK)
    other = seasonal_baseline(history, ACCOUNT, "eu-west-1", NOW, weeks=4, min_weeks=3)
    assert (other.usd_per_hour, other.samples) == (None, 0)


def test_seasonal_baseline_needs_the_minimum_weeks():
    history = weekly(0.5, 0.5)

    too_few = seasonal_baseline(history, ACCOUNT, "us-east-1", NOW, weeks=4, min_weeks=3)

    assert (too_few.usd_per_hour, too_few.samples, too_few.known) == (None, 2, False)


def test_choose_baseline_prefers_the_seasonal_one_and_falls_back_to_the_median():
    trailing = [sample(2.0, 60 * (n + 1)) for n in range(12)]
    current = sample(5.0)
    options = {"hours": 24, "min_samples": 10, "weeks": 4, "min_weeks": 3}

    seasonal = choose_baseline([*trailing, *weekly(0.5, 0.5, 0.5)], current, **options)
    fallback = choose_baseline([*trailing, *weekly(0.5, 0.5)], current, **options)
    off = choose_baseline([*trailing, *weekly(0.5, 0.5, 0.5)], current, **{**options, "weeks": 0})

    assert (seasonal.kind, seasonal.usd_per_hour) == (BaselineKind.SAME_HOUR_OF_WEEK, 0.5)
    assert (fallback.kind, fallback.usd_per_hour, fallback.samples) == (
        BaselineKind.TRAILING_MEDIAN,
        2.0,
        12,
    )
    assert off.kind is BaselineKind.TRAILING_MEDIAN


@pytest.mark.parametrize(
    ("price", "launched", "cost"),
    [
        (0.68, NOW - timedelta(minutes=90), 1.02),
        (0.68, NOW - timedelta(seconds=5), 0.0113),  # billed a whole minute at least
        (0.68, NOW + timedelta(seconds=30), 0.0113),  # AWS's clock ahead of ours
        (None, NOW - timedelta(hours=1), 0.0),  # no price known
        (0.68, None, 0.0),
    ],
)
def test_cost_so_far(price, launched, cost):
    assert cost_so_far(price, launched, NOW) == cost


def event(name="RunInstances", error=None, response=None):
    return ApiEvent(
        event_id=f"{name}-{error}",
        time=NOW,
        account=ACCOUNT,
        region="us-east-1",
        service="ec2.amazonaws.com",
        name=name,
        principal_arn="arn:aws:iam::1:user/x",
        source_ip="198.51.100.7",
        error_code=error,
        response=response or {},
    )


def test_launch_events_map_instance_ids_to_successful_run_instances():
    ok = event(response={"instancesSet": {"items": [{"instanceId": "i-1"}, {"instanceId": "i-2"}]}})
    failed = event(
        error="UnauthorizedOperation", response={"instancesSet": {"items": [{"instanceId": "i-3"}]}}
    )
    other = event(
        name="StartInstances", response={"instancesSet": {"items": [{"instanceId": "i-4"}]}}
    )
    empty = event(response={"instancesSet": None})

    found = launch_events([ok, failed, other, empty])

    assert found == {"i-1": ok, "i-2": ok}
    assert launcher(found["i-1"])["source_ip"] == "198.51.100.7"
    assert launcher(None) is None
