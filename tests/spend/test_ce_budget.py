"""The Cost Explorer request budget: counts per UTC day and month in the store's state."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from costguard.spend.ce_budget import CeBudget, CeOperation, day_key, month_key, usd
from costguard.store import Store

NOW = datetime(2026, 11, 30, 23, 50, tzinfo=timezone.utc)
CUR = CeOperation.GET_COST_AND_USAGE
FORECAST = CeOperation.GET_COST_FORECAST


class Clock:
    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/costguard.db"


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    opened = Store.open(db_url)
    yield opened
    opened.close()


def test_requests_are_allowed_until_the_day_is_used_up(store):
    budget = CeBudget(store, max_calls_per_day=3, clock=Clock())

    allowed = []
    for _ in range(5):
        allowed.append(budget.allow(CUR))
        if allowed[-1]:
            budget.record(CUR)

    assert allowed == [True, True, True, False, False]
    assert (budget.calls_today, budget.usd_today, budget.remaining_today) == (3, 0.03, 0)


def test_keep_holds_requests_back_for_later(store):
    budget = CeBudget(store, max_calls_per_day=12, clock=Clock())
    for _ in range(3):
        budget.record(CUR)

    assert budget.allow(CUR, keep=8)  # 3 + 1 + 8 = 12
    assert not budget.allow(CUR, keep=9)
    assert budget.allow(CUR, keep=-5)  # a negative reserve is no reserve


def test_a_new_utc_day_starts_afresh_and_the_month_keeps_counting(store):
    clock = Clock(datetime(2026, 11, 29, 23, 59, tzinfo=timezone.utc))
    budget = CeBudget(store, max_calls_per_day=2, clock=clock)
    budget.record(CUR)
    budget.record(FORECAST)

    clock.now += timedelta(minutes=1)  # 2026-11-30 00:00 UTC

    assert budget.allow(CUR)
    budget.record(CUR)
    assert (budget.calls_today, budget.calls_month, budget.usd_month) == (1, 3, 0.03)
    clock.now = NOW + timedelta(minutes=10)  # December
    assert (budget.calls_today, budget.calls_month) == (0, 0)


def test_counts_survive_a_restart_and_are_shared_between_processes(store, db_url):
    clock = Clock()
    daemon = CeBudget(store, max_calls_per_day=3, clock=clock)
    daemon.record(CUR)
    daemon.record(CUR)

    with Store.open(db_url) as other:  # a `costguard scan` beside the daemon, or a restart
        scan = CeBudget(other, max_calls_per_day=3, clock=clock)
        assert scan.calls_today == 2
        scan.record(FORECAST)
        assert not scan.allow(CUR)

    assert not daemon.allow(CUR)
    assert json.loads(store.get_state(day_key(NOW))) == {
        "calls": 3,
        "operations": {"GetCostAndUsage": 2, "GetCostForecast": 1},
    }
    assert json.loads(store.get_state(month_key(NOW)))["calls"] == 3


def test_summary_reports_calls_and_dollars(store):
    budget = CeBudget(store, max_calls_per_day=2, clock=Clock())
    budget.record(CUR)
    budget.record(CUR)

    assert budget.summary() == {
        "calls_today": 2,
        "usd_today": 0.02,
        "calls_month": 2,
        "usd_month": 0.02,
        "max_calls_per_day": 2,
        "exhausted": True,
    }


def test_a_damaged_value_counts_as_nothing_spent(store):
    store.set_state(day_key(NOW), "{not json")
    store.set_state(month_key(NOW), "[1, 2]")
    budget = CeBudget(store, clock=Clock())

    assert (budget.calls_today, budget.calls_month) == (0, 0)
    budget.record(CUR)
    assert (budget.calls_today, budget.calls_month) == (1, 1)


def test_keys_and_prices():
    moment = datetime(2026, 12, 1, 1, 0, tzinfo=timezone(timedelta(hours=5)))  # Nov 30 in UTC

    assert (day_key(moment), month_key(moment)) == (
        "ce.budget.day.2026-11-30",
        "ce.budget.month.2026-11",
    )
    assert (usd(12), usd(360)) == (0.12, 3.6)
    assert str(CUR) == "GetCostAndUsage"
