"""The cost collector: Cost Explorer answers seeded through moto's API, what moto lacks stubbed.

moto answers GetCostAndUsage from a FIFO queue of results, one per distinct request body (the
same body gets the same answer again), which is what makes request determinism testable here.
moto has no GetCostForecast and does not model the hourly opt-in: botocore's Stubber answers
those as AWS documents them.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone

import pytest
import requests
from botocore.stub import Stubber
from moto.ce.models import ce_backends

from costguard.collectors.cost_explorer import (
    CostCollector,
    Granularity,
    daily_query,
    hourly_query,
    is_hourly_opt_in_error,
)
from costguard.snapshot import CostPoint
from costguard.spend.ce_budget import CeBudget, CeOperation
from costguard.spend.ce_queries import forecast_request, parse_forecast
from costguard.store import Store

from .conftest import ACCOUNT, FIXED_NOW

SEED_URL = "http://motoapi.amazonaws.com/moto-api/static/ce/cost-and-usage-results"
OPT_IN_MESSAGE = (
    "Hourly data granularity is an opt-in only feature. You can enable this feature from the "
    "PAYER account's Cost Explorer Settings page."
)
GROUP_BY = [{"Type": "DIMENSION", "Key": "SERVICE"}, {"Type": "DIMENSION", "Key": "LINKED_ACCOUNT"}]
MEMBER = "210987654321"


class Clock:
    """A fixed clock a test can move."""

    def __init__(self, now: datetime = FIXED_NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def store(tmp_path) -> Store:
    """A real SQLite store: the collector's persistent cache and the budget's counters."""
    opened = Store.open(f"sqlite:///{tmp_path}/costguard.db")
    yield opened
    opened.close()


def period(start: str, end: str, *groups: tuple, estimated: bool = False) -> dict:
    """One ResultsByTime entry as AWS documents it, grouped by SERVICE and LINKED_ACCOUNT;
    a group is (service, amount) for the payer itself or (service, amount, linked account)."""
    return {
        "TimePeriod": {"Start": start, "End": end},
        "Total": {},
        "Groups": [
            {
                "Keys": [g[0], g[2] if len(g) > 2 else ACCOUNT],
                "Metrics": {"UnblendedCost": {"Amount": g[1], "Unit": "USD"}},
            }
            for g in groups
        ],
        "Estimated": estimated,
    }


def seed(*results: dict) -> None:
    """Queue GetCostAndUsage answers through moto's own API."""
    answer = requests.post(SEED_URL, json={"results": list(results)}, timeout=5)
    assert answer.status_code == 201


def sent_bodies() -> list[dict]:
    """The request bodies moto has answered from the queue, in the order it saw them."""
    return [json.loads(body) for body in ce_backends[ACCOUNT]["global"].cost_usage_results]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


EC2 = "Amazon Elastic Compute Cloud - Compute"


def test_daily_gives_one_point_per_day_service_and_linked_account(aws):
    seed(
        {
            "ResultsByTime": [
                period("2024-05-13", "2024-05-14", (EC2, "12.5"), ("Amazon S3", "0.25")),
                period("2024-05-14", "2024-05-15", (EC2, "40.125", MEMBER), estimated=True),
            ]
        }
    )

    data = CostCollector(aws, ACCOUNT, clock=Clock()).daily()

    assert (data.account, data.granularity, data.fetched_at) == (ACCOUNT, "DAILY", FIXED_NOW)
    assert data.points == (
        CostPoint(utc(2024, 5, 13), utc(2024, 5, 14), EC2, 12.5, linked_account=ACCOUNT),
        CostPoint(utc(2024, 5, 13), utc(2024, 5, 14), "Amazon S3", 0.25, linked_account=ACCOUNT),
        CostPoint(
            utc(2024, 5, 14), utc(2024, 5, 15), EC2, 40.125, linked_account=MEMBER, estimated=True
        ),
    )
    assert sent_bodies() == [
        {
            "TimePeriod": {"Start": "2024-05-01", "End": "2024-05-15"},
            "Granularity": "DAILY",
            "Metrics": ["UnblendedCost"],
            "GroupBy": GROUP_BY,
        }
    ]


def test_data_younger_than_six_hours_costs_no_call_and_a_refetch_starts_at_estimated_days(aws):
    seed(
        {
            "ResultsByTime": [
                period("2024-05-12", "2024-05-13", (EC2, "5")),
                period("2024-05-13", "2024-05-14", (EC2, "6"), estimated=True),
                period("2024-05-14", "2024-05-15", (EC2, "1"), estimated=True),
            ]
        },
        {
            "ResultsByTime": [
                period("2024-05-13", "2024-05-14", (EC2, "7")),
                period("2024-05-14", "2024-05-15", (EC2, "3"), estimated=True),
            ]
        },
    )
    clock = Clock()
    collector = CostCollector(aws, ACCOUNT, clock=clock)

    first = collector.daily()
    clock.now = FIXED_NOW + timedelta(hours=5, minutes=59)
    second = collector.daily()

    assert second == first
    assert aws.calls["ce:GetCostAndUsage"] == 1

    clock.now = FIXED_NOW + timedelta(hours=6)
    third = collector.daily()

    assert aws.calls["ce:GetCostAndUsage"] == 2
    # The 12th was settled: only the days still Estimated were asked again.
    assert sent_bodies()[1]["TimePeriod"] == {"Start": "2024-05-13", "End": "2024-05-15"}
    assert [(p.start.day, p.amount, p.estimated) for p in third.points] == [
        (12, 5.0, False),
        (13, 7.0, False),
        (14, 3.0, True),
    ]
    assert third.fetched_at == FIXED_NOW + timedelta(hours=6)


def test_a_restarted_collector_answers_from_the_store_without_a_call(aws, store):
    seed({"ResultsByTime": [period("2024-05-14", "2024-05-15", (EC2, "4", MEMBER))]})
    before = CostCollector(aws, ACCOUNT, clock=Clock(), store=store).daily()

    restarted = CostCollector(
        aws, ACCOUNT, clock=Clock(FIXED_NOW + timedelta(hours=3)), store=store
    ).daily()

    assert aws.calls["ce:GetCostAndUsage"] == 1
    assert restarted == before
    assert restarted.points == (
        CostPoint(utc(2024, 5, 14), utc(2024, 5, 15), EC2, 4.0, linked_account=MEMBER),
    )
    assert restarted.fetched_at == FIXED_NOW


def test_requests_in_the_same_state_are_byte_identical(aws):
    """Two collectors (say, two processes) with nothing stored send the same body for the same
    window: moto proves it by answering both from the first queued result."""
    seed(
        {"ResultsByTime": [period("2024-05-14", "2024-05-15", (EC2, "1"))]},
        {"ResultsByTime": [period("2024-05-14", "2024-05-15", (EC2, "2"))]},
    )

    early = CostCollector(aws, ACCOUNT, clock=Clock(FIXED_NOW)).daily()
    late = CostCollector(aws, ACCOUNT, clock=Clock(FIXED_NOW + timedelta(hours=5))).daily()
    longer = CostCollector(aws, ACCOUNT, clock=Clock()).daily(days=20)

    assert [p.amount for p in early.points] == [1.0]
    assert [p.amount for p in late.points] == [1.0]
    assert [p.amount for p in longer.points] == [2.0]
    assert [b["TimePeriod"]["Start"] for b in sent_bodies()] == ["2024-05-01", "2024-04-25"]


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
    assert {k: v for k, v in sent_bodies()[1].items() if k != "NextPageToken"} == sent_bodies()[0]


def test_hourly_asks_for_whole_hours_and_again_after_one_hour(aws):
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
    clock = Clock()
    collector = CostCollector(aws, ACCOUNT, clock=clock)

    data = collector.hourly()

    assert data.granularity == "HOURLY"
    assert data.points == (
        CostPoint(utc(2024, 5, 14, 8), utc(2024, 5, 14, 9), EC2, 0.5, linked_account=ACCOUNT),
        CostPoint(
            utc(2024, 5, 14, 9),
            utc(2024, 5, 14, 10),
            EC2,
            9.75,
            linked_account=ACCOUNT,
            estimated=True,
        ),
    )
    assert sent_bodies()[0]["TimePeriod"] == {
        "Start": "2024-05-12T10:00:00Z",
        "End": "2024-05-14T10:00:00Z",
    }
    assert sent_bodies()[0]["Granularity"] == "HOURLY"
    clock.now = FIXED_NOW + timedelta(minutes=59)
    collector.hourly()
    assert collector.calls_made == 1
    clock.now = FIXED_NOW + timedelta(hours=1)
    collector.hourly()
    assert collector.calls_made == 2


def test_periods_are_whole_days_and_hours():
    assert daily_query(utc(2024, 1, 1, 0, 0, 1), 1).request()["TimePeriod"] == {
        "Start": "2024-01-01",
        "End": "2024-01-02",
    }
    # Late in a month the daily window reaches back to its first day, for the forecast.
    assert daily_query(utc(2024, 1, 31, 12), 14).request()["TimePeriod"] == {
        "Start": "2024-01-01",
        "End": "2024-02-01",
    }
    late = hourly_query(utc(2024, 1, 1, 0, 59, 59), 2)
    assert (late.granularity, late.start, late.end) == (
        Granularity.HOURLY,
        "2023-12-31T22:00:00Z",
        "2024-01-01T00:00:00Z",
    )


def test_hourly_without_opt_in_falls_back_once_and_remembers_across_restarts(aws, store, caplog):
    """moto does not model the opt-in, so Stubber answers as AWS does without it."""
    clock = Clock()
    collector = CostCollector(aws, ACCOUNT, clock=clock, store=store)
    expected = hourly_query(FIXED_NOW, 48).request()
    caplog.set_level(logging.INFO, logger="costguard.collectors.cost_explorer")

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
        restarted = CostCollector(aws, ACCOUNT, clock=clock, store=store)
        assert restarted.hourly() is None  # remembered in the store
        stub.assert_no_pending_responses()

    assert collector.calls_made == 1
    assert aws.calls["ce:GetCostAndUsage"] == 1
    [record] = [r for r in caplog.records if r.name == "costguard.collectors.cost_explorer"]
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


# --- the request budget ----------------------------------------------------------------------


def test_an_exhausted_budget_returns_stored_data_and_logs_once_a_day(aws, store, caplog):
    seed({"ResultsByTime": [period("2024-05-14", "2024-05-15", (EC2, "8"))]})
    clock = Clock()
    budget = CeBudget(store, max_calls_per_day=1, clock=clock)
    collector = CostCollector(aws, ACCOUNT, clock=clock, store=store, budget=budget)
    caplog.set_level(logging.WARNING, logger="costguard.collectors.cost_explorer")

    first = collector.daily()
    clock.now = FIXED_NOW + timedelta(hours=6)
    refused = collector.daily()
    clock.now = FIXED_NOW + timedelta(hours=12)
    refused_again = collector.daily()
    restarted = CostCollector(aws, ACCOUNT, clock=clock, store=store, budget=budget)
    assert restarted.daily().points == first.points  # refused too, and not logged again

    assert aws.calls["ce:GetCostAndUsage"] == 1
    assert refused.points == refused_again.points == first.points
    assert refused.fetched_at == FIXED_NOW  # says how old the data is
    assert collector.refused == 2
    assert (budget.calls_today, budget.usd_today) == (1, 0.01)
    logged = [r.getMessage() for r in caplog.records if "budget" in r.getMessage()]
    assert logged == [
        "Today's Cost Explorer request budget is used up (cost.max_calls_per_day: 1, $0.01); "
        "answering from stored cost data until 00:00 UTC"
    ]


def test_a_budget_refusal_between_pages_stores_nothing_half_counted(aws, store):
    seed(
        {"ResultsByTime": [period("2024-05-13", "2024-05-14", (EC2, "3"))], "NextPageToken": "p2"},
        {"ResultsByTime": [period("2024-05-14", "2024-05-15", (EC2, "4"))]},
    )
    budget = CeBudget(store, max_calls_per_day=1, clock=Clock())

    data = CostCollector(aws, ACCOUNT, clock=Clock(), store=store, budget=budget).daily()

    assert (data.points, data.fetched_at) == ((), None)
    assert store.cost_points(account=ACCOUNT, granularity="DAILY", since=utc(2024, 5, 1)) == []
    assert budget.calls_today == 1


def test_optional_hourly_data_leaves_room_for_the_daily_refreshes_due(aws, store, caplog):
    """At 00:30 four daily refreshes (daily data and forecast, every 6 h) are still due today:
    eight of the twelve requests are kept for them, so hourly data gets at most four."""
    clock = Clock(utc(2024, 5, 14, 0, 30))
    budget = CeBudget(store, max_calls_per_day=12, clock=clock)
    collector = CostCollector(aws, ACCOUNT, clock=clock, store=store, budget=budget)
    for _ in range(4):
        budget.record(CeOperation.GET_COST_AND_USAGE)

    assert collector.hourly().points == ()
    assert collector.refused == 1
    assert "budget" not in caplog.text  # held back, not exhausted: no warning
    collector.daily()
    assert (collector.calls_made, budget.calls_today) == (1, 5)
    clock.now = utc(2024, 5, 14, 18, 30)  # one refresh left: two requests kept
    collector.hourly()
    assert (collector.calls_made, budget.calls_today) == (2, 6)


def test_collectors_sharing_a_store_share_the_budget(aws, store):
    """The daemon and a `costguard scan` beside it draw on one allowance."""
    seed({"ResultsByTime": []})
    clock = Clock()
    daemon = CostCollector(
        aws, ACCOUNT, clock=clock, store=store, budget=CeBudget(store, 2, clock=clock)
    )
    scan = CostCollector(
        aws, MEMBER, clock=clock, store=store, budget=CeBudget(store, 2, clock=clock)
    )

    daemon.daily()
    scan.daily()
    scan.hourly()

    assert (daemon.calls_made, scan.calls_made, scan.refused) == (1, 1, 1)


def answer_forecasts(aws, response: dict) -> None:
    """Answer every GetCostForecast with `response` (moto has no GetCostForecast), leaving
    GetCostAndUsage to moto; a before-call handler is what Stubber uses, for one operation."""

    def handler(**_):
        from botocore.awsrequest import AWSResponse

        return AWSResponse(None, 200, {}, None), json.loads(json.dumps(response))

    aws.client("ce", "us-east-1").meta.events.register("before-call.ce.GetCostForecast", handler)


def simulated_cycles(days: int, every: timedelta, start: datetime) -> list[tuple[datetime, bool]]:
    """(time, restarted) for each cost cycle: one every `every`, a daemon restart every 31
    hours, and a crash loop on day 10 (four more restarts, each running a cycle at once)."""
    cycles, moment = [], start
    while moment < start + timedelta(days=days):
        hours = int((moment - start).total_seconds() // 3600)
        cycles.append((moment, hours % 31 == 0))
        if moment == start + timedelta(days=10, hours=3):
            cycles += [(moment + timedelta(seconds=n), True) for n in range(1, 5)]
        moment += every
    return cycles


@pytest.mark.parametrize("every", [timedelta(hours=6), timedelta(hours=1)], ids=["6h", "1h"])
def test_the_budget_is_never_exceeded_over_a_simulated_month(aws, store, every):
    """30 days of cost cycles (the default 6 h schedule, and hourly), with daemon restarts,
    against moto seeded with a result for every request: never more than 12 requests a day,
    and the daily data and forecast refreshed four times every day."""
    seed(
        *(
            {"ResultsByTime": [period("2024-06-01", "2024-06-02", (EC2, str(n)))]}
            for n in range(400)
        )
    )
    answer_forecasts(aws, FORECAST)
    clock = Clock()
    budget = CeBudget(store, max_calls_per_day=12, clock=clock)
    per_day: dict[str, int] = {}
    collector = None
    for moment, restarted in simulated_cycles(30, every, utc(2024, 6, 1)):
        clock.now = moment
        if collector is None or restarted:
            collector = CostCollector(aws, ACCOUNT, clock=clock, store=store, budget=budget)
        before = collector.calls_made
        collector.hourly()
        collector.daily()
        collector.forecast()
        day = f"{moment:%Y-%m-%d}"
        per_day[day] = per_day.get(day, 0) + collector.calls_made - before

    assert len(per_day) == 30
    assert max(per_day.values()) <= 12
    assert sum(per_day.values()) == budget.calls_month == sum(aws.calls.values())
    forecasts = aws.calls["ce:GetCostForecast"]
    assert forecasts == 30 * 4  # every 6 h, restarts or not
    assert aws.calls["ce:GetCostAndUsage"] - forecasts >= 30 * 4  # daily data, every 6 h


# --- the forecast ----------------------------------------------------------------------------

FORECAST = {
    "Total": {"Amount": "612.40", "Unit": "USD"},
    "ForecastResultsByTime": [
        {
            "TimePeriod": {"Start": "2024-05-14", "End": "2024-06-01"},
            "MeanValue": "612.40",
            "PredictionIntervalLowerBound": "550.00",
            "PredictionIntervalUpperBound": "700.00",
        }
    ],
}


def month_so_far(aws, collector):
    """Daily data from the 1st to today: $20 a day before today, $9 so far today."""
    seed(
        {
            "ResultsByTime": [
                *(
                    period(f"2024-05-{d:02d}", f"2024-05-{d + 1:02d}", (EC2, "20"))
                    for d in range(1, 14)
                ),
                period("2024-05-14", "2024-05-15", (EC2, "9"), estimated=True),
            ]
        }
    )
    collector.daily()


def test_forecast_is_cost_explorers_plus_the_days_before_it(aws):
    clock = Clock()
    collector = CostCollector(aws, ACCOUNT, clock=clock)
    month_so_far(aws, collector)

    with Stubber(aws.client("ce", "us-east-1")) as stub:
        stub.add_response(
            "get_cost_forecast",
            FORECAST,
            expected_params={
                "TimePeriod": {"Start": "2024-05-14", "End": "2024-06-01"},
                "Metric": "UNBLENDED_COST",
                "Granularity": "MONTHLY",
                "PredictionIntervalLevel": 80,
            },
        )
        forecast = collector.forecast()
        clock.now = FIXED_NOW + timedelta(hours=5)
        again = collector.forecast()  # younger than 6 h: no request (the stub has none left)
        stub.assert_no_pending_responses()

    assert (forecast.account, forecast.source) == (ACCOUNT, "cost_explorer")
    assert (forecast.month_start, forecast.month_end) == (utc(2024, 5, 1), utc(2024, 6, 1))
    assert forecast.forecast_usd == 872.40  # 13 days x $20 + 612.40 from today on
    assert (forecast.lower_usd, forecast.upper_usd) == (810.0, 960.0)
    assert forecast.actual_to_date_usd == 269.0
    assert again == forecast
    assert aws.calls["ce:GetCostForecast"] == 1


def test_forecast_falls_back_to_stored_daily_cost_when_cost_explorer_has_none(aws, caplog):
    collector = CostCollector(aws, ACCOUNT, clock=Clock())
    month_so_far(aws, collector)

    with Stubber(aws.client("ce", "us-east-1")) as stub:
        stub.add_client_error(
            "get_cost_forecast",
            "DataUnavailableException",
            "Insufficient amount of historical data to generate forecast.",
            400,
        )
        forecast = collector.forecast()

    assert forecast.source == "costguard"
    # $260 so far, today at the $20/day rate (more than its $9 so far), 17 more days at $20.
    assert forecast.forecast_usd == 260 + 20 + 17 * 20
    assert (forecast.lower_usd, forecast.upper_usd) == (None, None)
    assert "DataUnavailableException" in caplog.text


def test_forecast_without_budget_is_costguards_own(aws, store):
    clock = Clock()
    budget = CeBudget(store, max_calls_per_day=1, clock=clock)
    collector = CostCollector(aws, ACCOUNT, clock=clock, store=store, budget=budget)
    month_so_far(aws, collector)

    forecast = collector.forecast()

    assert forecast.source == "costguard"
    assert aws.calls["ce:GetCostForecast"] == 0
    assert collector.refused == 1


def test_forecast_request_and_answer_shapes():
    assert forecast_request(utc(2024, 12, 31, 23, 59))["TimePeriod"] == {
        "Start": "2024-12-31",
        "End": "2025-01-01",
    }
    assert parse_forecast(FORECAST) == {"mean": 612.4, "lower": 550.0, "upper": 700.0}
    assert parse_forecast(
        {"Total": {"Amount": "5"}, "ForecastResultsByTime": [{"MeanValue": "5"}]}
    ) == {"mean": 5.0, "lower": None, "upper": None}
