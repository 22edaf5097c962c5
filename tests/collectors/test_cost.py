"""The cost collector: Cost Explorer answers seeded through moto's API, the opt-in error stubbed.

moto answers GetCostAndUsage from a FIFO queue of results, one per distinct request body (the
same body gets the same answer again), which is what makes request determinism testable here.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone

import pytest
import requests
from botocore.stub import Stubber
from moto.ce.models import ce_backends

from costguard.collectors.cost import (
    CostCollector,
    Granularity,
    daily_query,
    hourly_query,
    is_hourly_opt_in_error,
)
from costguard.snapshot import CostPoint

from .conftest import ACCOUNT, FIXED_NOW

SEED_URL = "http://motoapi.amazonaws.com/moto-api/static/ce/cost-and-usage-results"
OPT_IN_MESSAGE = (
    "Hourly data granularity is an opt-in only feature. You can enable this feature from the "
    "PAYER account's Cost Explorer Settings page."
)
GROUP_BY = [{"Type": "DIMENSION", "Key": "SERVICE"}]


class Clock:
    """A fixed clock a test can move."""

    def __init__(self, now: datetime = FIXED_NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def period(start: str, end: str, *groups: tuple[str, str], estimated: bool = False) -> dict:
    """One ResultsByTime entry as AWS documents it, grouped by SERVICE."""
    return {
        "TimePeriod": {"Start": start, "End": end},
        "Total": {},
        "Groups": [
            {"Keys": [service], "Metrics": {"UnblendedCost": {"Amount": amount, "Unit": "USD"}}}
            for service, amount in groups
        ],
        "Estimated": estimated,
    }


def seed(*results: dict) -> None:
    """Queue GetCostAndUsage answers through moto's own API."""
    answer = requests.post(SEED_URL, json={"results": list(results)}, timeout=5)
    assert answer.status_code == 201


def sent_bodies() -> list[dict]:
    """The request bodies moto has answered so far, in the order it saw them."""
    return [json.loads(body) for body in ce_backends[ACCOUNT]["global"].cost_usage_results]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


EC2 = "Amazon Elastic Compute Cloud - Compute"


def test_daily_gives_one_point_per_day_and_service(aws):
    seed(
        {
            "ResultsByTime": [
                period("2024-05-13", "2024-05-14", (EC2, "12.5"), ("Amazon S3", "0.25")),
                period("2024-05-14", "2024-05-15", (EC2, "40.125"), estimated=True),
            ]
        }
    )

    data = CostCollector(aws, ACCOUNT, clock=Clock()).daily()

    assert (data.account, data.granularity, data.fetched_at) == (ACCOUNT, "DAILY", FIXED_NOW)
    assert data.points == (
        CostPoint(utc(2024, 5, 13), utc(2024, 5, 14), EC2, 12.5),
        CostPoint(utc(2024, 5, 13), utc(2024, 5, 14), "Amazon S3", 0.25),
        CostPoint(utc(2024, 5, 14), utc(2024, 5, 15), EC2, 40.125, estimated=True),
    )
    assert sent_bodies() == [
        {
            "TimePeriod": {"Start": "2024-05-01", "End": "2024-05-15"},
            "Granularity": "DAILY",
            "Metrics": ["UnblendedCost"],
            "GroupBy": GROUP_BY,
        }
    ]


def test_a_second_daily_in_the_same_day_costs_no_call(aws):
    seed({"ResultsByTime": [period("2024-05-14", "2024-05-15", (EC2, "1"))]})
    clock = Clock()
    collector = CostCollector(aws, ACCOUNT, clock=clock)

    first = collector.daily()
    clock.now = FIXED_NOW + timedelta(hours=13)  # 23:30, still the same UTC day
    second = collector.daily()

    assert second is first
    assert collector.calls_made == 1
    assert aws.calls["ce:GetCostAndUsage"] == 1

    clock.now = FIXED_NOW + timedelta(hours=14)  # the next day: a new period, a new call
    collector.daily()
    assert collector.calls_made == 2


def test_requests_in_the_same_period_are_byte_identical(aws):
    """Two collectors (say, two processes) in the same day send the same body: moto proves it
    by answering both from the first queued result, leaving the second for a new body."""
    seed(
        {"ResultsByTime": [period("2024-05-14", "2024-05-15", (EC2, "1"))]},
        {"ResultsByTime": [period("2024-05-14", "2024-05-15", (EC2, "2"))]},
    )

    early = CostCollector(aws, ACCOUNT, clock=Clock(FIXED_NOW)).daily()
    late = CostCollector(aws, ACCOUNT, clock=Clock(FIXED_NOW + timedelta(hours=5))).daily()
    other = CostCollector(aws, ACCOUNT, clock=Clock()).daily(days=7)

    assert [p.amount for p in early.points] == [1.0]
    assert [p.amount for p in late.points] == [1.0]
    assert [p.amount for p in other.points] == [2.0]
    assert len(sent_bodies()) == 2


def test_pages_are_followed_with_next_page_token(aws):
    seed(
        {
            "ResultsByTime": [period("2024-05-13", "2024-05-14", (EC2, "3"))],
            "NextPageToken": "page-2",
        },
        {"ResultsByTime": [period("2024-05-14", "2024-05-15", (EC2, "4"))]},
    )
    collector = CostCollector(aws, ACCOUNT, clock=Clock())

    data = collector.daily()

    assert [(p.start.day, p.amount) for p in data.points] == [(13, 3.0), (14, 4.0)]
    assert collector.calls_made == 2
    assert sent_bodies()[1]["NextPageToken"] == "page-2"


def test_hourly_asks_for_whole_hours(aws):
    seed(
        {
            "ResultsByTime": [
                period("2024-05-14T08:00:00Z", "2024-05-14T09:00:00Z", (EC2, "0.5")),
                period(
                    "2024-05-14T09:00:00Z", "2024-05-14T10:00:00Z", (EC2, "9.75"), estimated=True
                ),
            ]
        }
    )

    data = CostCollector(aws, ACCOUNT, clock=Clock()).hourly()

    assert data.granularity == "HOURLY"
    assert data.points == (
        CostPoint(utc(2024, 5, 14, 8), utc(2024, 5, 14, 9), EC2, 0.5),
        CostPoint(utc(2024, 5, 14, 9), utc(2024, 5, 14, 10), EC2, 9.75, estimated=True),
    )
    assert sent_bodies()[0]["TimePeriod"] == {
        "Start": "2024-05-12T10:00:00Z",
        "End": "2024-05-14T10:00:00Z",
    }
    assert sent_bodies()[0]["Granularity"] == "HOURLY"


def test_periods_are_whole_days_and_hours():
    assert daily_query(utc(2024, 1, 1, 0, 0, 1), 1).request()["TimePeriod"] == {
        "Start": "2024-01-01",
        "End": "2024-01-02",
    }
    late = hourly_query(utc(2024, 1, 1, 0, 59, 59), 2)
    assert (late.granularity, late.start, late.end) == (
        Granularity.HOURLY,
        "2023-12-31T22:00:00Z",
        "2024-01-01T00:00:00Z",
    )


def test_hourly_without_opt_in_falls_back_once_and_remembers(aws, caplog):
    """moto does not model the opt-in, so Stubber answers as AWS does without it."""
    clock = Clock()
    collector = CostCollector(aws, ACCOUNT, clock=clock)
    expected = hourly_query(FIXED_NOW, 48).request()
    caplog.set_level(logging.INFO, logger="costguard.cost")

    with Stubber(aws.client("ce", "us-east-1")) as stub:
        stub.add_client_error(
            "get_cost_and_usage",
            "AccessDeniedException",
            OPT_IN_MESSAGE,
            400,
            expected_params=expected,
        )
        assert collector.hourly() is None
        clock.now = FIXED_NOW + timedelta(hours=23)
        assert collector.hourly() is None  # remembered: no request (the stub has none left)
        stub.assert_no_pending_responses()

    assert collector.calls_made == 1
    assert aws.calls["ce:GetCostAndUsage"] == 1
    [record] = [r for r in caplog.records if r.name == "costguard.cost"]
    assert record.levelno == logging.WARNING
    line = record.getMessage()
    assert "Hourly cost data is not enabled" in line
    assert "Hourly and resource level granularity" in line
    assert "daily cost data" in line and ACCOUNT in line
    assert "not asking again for 24 h" in line


def test_hourly_is_asked_again_after_the_retry_period(aws):
    clock = Clock()
    collector = CostCollector(aws, ACCOUNT, clock=clock, hourly_retry_after=timedelta(hours=6))
    with Stubber(aws.client("ce", "us-east-1")) as stub:
        stub.add_client_error("get_cost_and_usage", "AccessDeniedException", OPT_IN_MESSAGE, 400)
        stub.add_response(
            "get_cost_and_usage",
            {"ResultsByTime": [period("2024-05-14T15:00:00Z", "2024-05-14T16:00:00Z", (EC2, "2"))]},
        )
        assert collector.hourly() is None
        clock.now = FIXED_NOW + timedelta(hours=6)
        data = collector.hourly()
        stub.assert_no_pending_responses()

    assert [p.amount for p in data.points] == [2.0]
    assert collector.calls_made == 2


def test_a_plain_access_denied_is_raised_not_taken_for_the_opt_in(aws):
    collector = CostCollector(aws, ACCOUNT, clock=Clock())
    message = (
        "User: arn:aws:iam::123456789012:user/x is not authorized to perform: ce:GetCostAndUsage"
    )
    with Stubber(aws.client("ce", "us-east-1")) as stub:
        stub.add_client_error("get_cost_and_usage", "AccessDeniedException", message, 400)
        with pytest.raises(Exception, match="not authorized"):
            collector.hourly()


def test_opt_in_error_recognition():
    assert is_hourly_opt_in_error("AccessDeniedException", OPT_IN_MESSAGE)
    assert not is_hourly_opt_in_error("AccessDeniedException", "not authorized to perform")
    assert not is_hourly_opt_in_error("DataUnavailableException", OPT_IN_MESSAGE)
