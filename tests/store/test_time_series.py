"""Burn samples and cost points: stored, filtered, pruned and upserted on both databases."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from costguard.snapshot import BurnSample, CostPoint
from costguard.store import Store

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def _sample(at: datetime, account: str = "1", region: str = "us-east-1", rate: float = 1.5):
    return BurnSample(account=account, region=region, at=at, usd_per_hour=rate)


def test_burn_samples_round_trip_every_field(store: Store) -> None:
    sample = BurnSample(
        account="111122223333",
        region="us-east-1",
        at=T0,
        usd_per_hour=98.32,
        by_family={"p5": 98.32},
        recent_usd_per_hour=98.32,
        instance_count=1,
        estimated_types=("p5.48xlarge",),
    )
    assert store.add_burn_samples([sample]) == 1
    assert store.burn_samples(since=T0) == [sample]


def test_burn_samples_filter_by_time_account_and_region(store: Store) -> None:
    samples = [
        _sample(T0 - 2 * HOUR),
        _sample(T0 - HOUR),
        _sample(T0, account="2"),
        _sample(T0, region="eu-west-1"),
        _sample(T0),
    ]
    store.add_burn_samples(samples)
    assert store.burn_samples(since=T0 - HOUR) == samples[1:]
    assert store.burn_samples(since=T0 - 3 * HOUR, account="1", region="us-east-1") == [
        samples[0],
        samples[1],
        samples[4],
    ]
    assert store.burn_samples(since=T0, region="eu-west-1") == [samples[3]]


def test_prune_deletes_only_older_samples(store: Store) -> None:
    store.add_burn_samples([_sample(T0 - 8 * DAY), _sample(T0 - 7 * DAY), _sample(T0)])
    assert store.prune_burn_samples(T0 - 7 * DAY) == 1
    assert [s.at for s in store.burn_samples(since=T0 - 30 * DAY)] == [T0 - 7 * DAY, T0]


def _point(day: int, service: str, amount: float, **extra: object) -> CostPoint:
    start = T0.replace(hour=0) + day * DAY
    return CostPoint(start=start, end=start + DAY, service=service, amount=amount, **extra)  # type: ignore[arg-type]


def test_cost_points_are_upserted_on_their_period_service_and_linked_account(
    store: Store,
) -> None:
    first = [
        _point(0, "Amazon Elastic Compute Cloud - Compute", 10.0, estimated=True),
        _point(0, "Amazon Elastic Compute Cloud - Compute", 4.0, linked_account="222233334444"),
        _point(1, "AWS Lambda", 0.5),
    ]
    assert store.upsert_cost_points("111122223333", "DAILY", first, fetched_at=T0) == 3
    refreshed = [_point(0, "Amazon Elastic Compute Cloud - Compute", 12.5, estimated=False)]
    store.upsert_cost_points("111122223333", "DAILY", refreshed, fetched_at=T0 + HOUR)
    stored = store.cost_points(account="111122223333", granularity="DAILY", since=T0 - DAY)
    assert stored == [refreshed[0], first[1], first[2]]


def test_cost_points_filter_by_account_granularity_and_since(store: Store) -> None:
    store.upsert_cost_points("111122223333", "DAILY", [_point(0, "EC2", 1.0)], fetched_at=T0)
    store.upsert_cost_points("111122223333", "HOURLY", [_point(0, "EC2", 2.0)], fetched_at=T0)
    store.upsert_cost_points("999988887777", "DAILY", [_point(0, "EC2", 3.0)], fetched_at=T0)
    store.upsert_cost_points("111122223333", "DAILY", [_point(-3, "EC2", 4.0)], fetched_at=T0)
    daily = store.cost_points(account="111122223333", granularity="DAILY", since=T0 - DAY)
    assert [p.amount for p in daily] == [1.0]
    assert store.upsert_cost_points("111122223333", "DAILY", [], fetched_at=T0) == 0
