"""A budget for costguard's own Cost Explorer requests: AWS bills each one $0.01.

The counts live in the store's key/value state, one key per UTC day and one per month, so a
restarted daemon remembers what it already spent today and a `costguard scan` run beside the
daemon draws on the same allowance. The collector asks `allow()` before every request (every
page is a request) and calls `record()` when it sends one.

Two processes share the counts through read-modify-write of one key. Their cost cycles are
minutes apart in practice, so a lost update is unlikely; an atomic increment in the store would
remove the window entirely (see the report that added this module).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, Protocol

from costguard.clock import utcnow
from costguard.model import StrEnum

USD_PER_REQUEST = 0.01
"""What AWS charges for each Cost Explorer API request (GetCostAndUsage, GetCostForecast...)."""

DEFAULT_MAX_CALLS_PER_DAY = 12


class CeOperation(StrEnum):
    """The Cost Explorer operations costguard sends, as AWS names them."""

    GET_COST_AND_USAGE = "GetCostAndUsage"
    GET_COST_FORECAST = "GetCostForecast"


class StateStore(Protocol):
    """The part of the Store a budget needs (so tests and tools can pass anything that has it)."""

    def get_state(self, key: str) -> str | None: ...

    def set_state(self, key: str, value: str) -> None: ...


def day_key(moment: datetime) -> str:
    """The state key counting one UTC day's requests."""
    return f"ce.budget.day.{_utc(moment):%Y-%m-%d}"


def month_key(moment: datetime) -> str:
    """The state key counting one UTC month's requests."""
    return f"ce.budget.month.{_utc(moment):%Y-%m}"


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(timezone.utc)



def usd(calls: int) -> float:
    """What `calls` requests cost, in dollars."""
    return round(calls * USD_PER_REQUEST, 2)


class CeBudget:
    """A persistent daily allowance of Cost Explorer requests, with the month's spend beside it."""

    def __init__(
        self,
        store: StateStore,
        max_calls_per_day: int = DEFAULT_MAX_CALLS_PER_DAY,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._store = store
        self.max_calls_per_day = max_calls_per_day
        self._clock = clock

    def allow(self, operation: CeOperation, *, keep: int = 0) -> bool:
        """Whether one more `operation` request fits today, leaving `keep` requests for later
        (the collector keeps room for the daily data when it asks for optional hourly data)."""
        return self.calls_today + 1 + max(keep, 0) <= self.max_calls_per_day

    def record(self, operation: CeOperation) -> None:
        """Count one request sent now, in today's and this month's totals."""
        now = self._clock()
        for key in (day_key(now), month_key(now)):
            counts = self._counts(key)
            counts["calls"] = int(counts.get("calls", 0)) + 1
            by_operation = counts.setdefault("operations", {})
            by_operation[operation.value] = int(by_operation.get(operation.value, 0)) + 1
            self._store.set_state(key, json.dumps(counts, sort_keys=True))

    def _counts(self, key: str) -> dict[str, Any]:
        raw = self._store.get_state(key)
        if not raw:
            return {}
        try:
            value = json.loads(raw)
        except ValueError:  # a hand-edited or truncated value must not stop cost collection
            return {}
        return value if isinstance(value, dict) else {}

    def _calls(self, key: str) -> int:
        return int(self._counts(key).get("calls", 0))

    @property
    def calls_today(self) -> int:
        """Requests sent so far this UTC day, by every process sharing the store."""
        return self._calls(day_key(self._clock()))

    @property
    def calls_month(self) -> int:
        """Requests sent so far this UTC month."""
        return self._calls(month_key(self._clock()))

    @property
    def usd_today(self) -> float:
        """What today's requests cost."""
        return usd(self.calls_today)

    @property
    def usd_month(self) -> float:
        """What this month's requests cost."""
        return usd(self.calls_month)

    @property
    def remaining_today(self) -> int:
        """Requests still allowed today."""
        return max(self.max_calls_per_day - self.calls_today, 0)

    def summary(self) -> dict[str, Any]:
        """The figures the scan output and the metrics endpoint report."""
        today, month = self.calls_today, self.calls_month
        return {
            "calls_today": today,
            "usd_today": usd(today),
            "calls_month": month,
            "usd_month": usd(month),
            "max_calls_per_day": self.max_calls_per_day,
            "exhausted": today >= self.max_calls_per_day,
        }
