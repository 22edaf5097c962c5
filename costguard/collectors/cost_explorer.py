"""Cost Explorer spend per service and linked account, daily and (when the account opted in)
hourly, and the month-end forecast.

Every Cost Explorer request costs $0.01, so:

- one request groups by SERVICE and LINKED_ACCOUNT (Cost Explorer allows two group-bys), which
  from an organization's management account answers for every member account at once;
- stored cost points are the cache: a window fetched less than its minimum age ago (6 h for
  daily data, 1 h for hourly) is answered from the store, so a restarted daemon or a second
  process pays nothing; without a store, an in-memory one does this for the collector's life;
- a refetch starts at the oldest period AWS still marks Estimated (else the newest stored one),
  so pages are not spent again on settled days; requests are built only from whole days or
  hours and from what is stored, so two processes in the same state send identical bodies;
- an optional `CeBudget` is asked before every request (each page is one); when it says no,
  stored data is returned and the refusal is logged once per UTC day.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol, TypeVar

from costguard.clock import utcnow
from costguard.collectors.session import Aws, error_code, error_message
from costguard.snapshot import CostData, CostForecast, CostPoint
from costguard.spend.ce_budget import USD_PER_REQUEST, CeBudget, CeOperation
from costguard.spend.ce_queries import (
    CE_REGION,
    DAILY_REFRESH,
    FORECAST_MIN_AGE,
    GROUP_BY,
    Granularity,
    Query,
    Window,
    daily_query,
    daily_window,
    forecast_request,
    hourly_query,
    hourly_window,
    is_hourly_opt_in_error,
    parse_forecast,
    parse_results,
)
from costguard.spend.forecast import (
    completed_forecast,
    day_start,
    forecast_from_daily,
    month_bounds,
)

__all__ = [
    "GROUP_BY",
    "BudgetExhausted",
    "CostCollector",
    "Granularity",
    "MemoryStore",
    "Query",
    "daily_query",
    "hourly_query",
    "is_hourly_opt_in_error",
    "parse_results",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

EXHAUSTED_LOGGED = "ce.budget.exhausted_logged"
"""The UTC day the exhausted budget was last logged, so it is logged once a day in all."""



class CostStore(Protocol):
    """The part of the Store the collector keeps its cache and marks in."""

    def get_state(self, key: str) -> str | None: ...

    def set_state(self, key: str, value: str) -> None: ...

    def upsert_cost_points(
        self, account: str, granularity: str, points: Iterable[CostPoint], fetched_at: datetime
    ) -> int: ...

    def cost_points(
        self, *, account: str, granularity: str, since: datetime
    ) -> list[CostPoint]: ...


class MemoryStore:
    """A CostStore in memory, for a collector run without a database (tests, one-off tools)."""

    def __init__(self) -> None:
        self._state: dict[str, str] = {}
        self._points: dict[tuple[str, str, datetime, str, str], CostPoint] = {}

    def get_state(self, key: str) -> str | None:
        """The value stored under `key`, or None."""
        return self._state.get(key)

    def set_state(self, key: str, value: str) -> None:
        """Store `value` under `key`."""
        self._state[key] = value

    def upsert_cost_points(
        self, account: str, granularity: str, points: Iterable[CostPoint], fetched_at: datetime
    ) -> int:
        """Add or replace points, keyed as the database keys them."""
        count = 0
        for p in points:
            self._points[(account, granularity, p.start, p.service, p.linked_account or "")] = p
            count += 1
        return count

    def cost_points(self, *, account: str, granularity: str, since: datetime) -> list[CostPoint]:
        """Points of periods starting at or after `since`, ordered as the database orders them."""
        found = [
            (key, p)
            for key, p in self._points.items()
            if key[:2] == (account, granularity) and p.start >= since
        ]
        return [p for key, p in sorted(found, key=lambda kp: (kp[0][2], kp[0][3], kp[0][4]))]


class BudgetExhausted(Exception):
    """The request budget refused a Cost Explorer request; stored data answers instead."""


class CostCollector:
    """Reads Cost Explorer for one account, or for a whole organization from its payer (the
    `cost` source). Keep one per account for the life of the process."""

    def __init__(
        self,
        aws: Aws,
        account: str,
        *,
        clock: Callable[[], datetime] = utcnow,
        hourly_retry_after: timedelta = timedelta(hours=24),
        store: CostStore | None = None,
        budget: CeBudget | None = None,
    ) -> None:
        self._aws = aws
        self._account = account
        self._clock = clock
        self._hourly_retry_after = hourly_retry_after
        self._store: CostStore = store if store is not None else MemoryStore()
        self._budget = budget
        self.calls_made = 0
        """Cost Explorer requests this collector sent (each one is billed $0.01)."""
        self.refused = 0
        """Requests the budget refused; the data returned instead was the stored data."""

    # -- public reads ---------------------------------------------------------------------------

    def daily(self, days: int = 14) -> CostData:
        """Spend per service and linked account per day over the last `days` days (and the
        whole month so far)."""
        return self._read(daily_window(self._clock(), days))

    def hourly(self, hours: int = 48) -> CostData | None:
        """Spend per service and linked account per hour, or None when the account has not
        enabled hourly data. Hourly data is optional, so it leaves budget for the daily data
        and forecast refreshes still due today."""
        now = self._clock()
        if self._hourly_off(now):
            return None
        try:
            return self._read(hourly_window(now, hours), keep=self._refreshes_due(now))
        except Exception as exc:
            if not is_hourly_opt_in_error(error_code(exc), error_message(exc)):
                raise
        until = now + self._hourly_retry_after
        self._store.set_state(self._key("hourly_off"), until.isoformat())
        log.warning(
            "Hourly cost data is not enabled for account %s; enable it in the Cost Explorer "
            "preferences of the management (payer) account under 'Hourly and resource level "
            "granularity'. Using daily cost data; not asking again for %g h.",
            self._account,
            self._hourly_retry_after.total_seconds() / 3600,
        )
        return None

    def forecast(self) -> CostForecast:
        """The month's total: Cost Explorer's forecast (asked at most every 6 h) completed with
        the stored actuals, else costguard's own projection of the stored daily cost."""
        now = self._clock()
        points = self._month_points(now)
        answer = self._fresh_forecast(now)
        if answer is None:
            answer = self._request_forecast(now)
        if answer is None:
            return forecast_from_daily(self._account, points, now)
        start = datetime.fromisoformat(answer["start"])
        bounds = (answer.get("lower"), answer.get("upper"))
        return completed_forecast(self._account, points, now, start, answer["mean"], bounds)

    # -- cost and usage -------------------------------------------------------------------------

    def _read(self, window: Window, keep: int = 0) -> CostData:
        now = self._clock()
        mark = self._mark(window.granularity)
        fresh = (
            mark is not None
            and now - datetime.fromisoformat(mark["at"]) < window.granularity.min_age
            and datetime.fromisoformat(mark["from"]) <= window.start
        )
        if not fresh:
            # An exhausted budget is logged once a day; the stored data answers instead.
            with contextlib.suppress(BudgetExhausted):
                mark = self._fetch(window, now, keep, mark)
        return self._stored(window, mark)

    def _fetch(
        self, window: Window, now: datetime, keep: int, mark: dict[str, str] | None
    ) -> dict[str, str]:
        """Fetch what may have changed in `window` and store it; nothing is stored unless
        every page arrived, so a refusal mid-way never leaves a day half counted. Returns
        the new fetch mark."""
        self._ask(CeOperation.GET_COST_AND_USAGE, keep)  # refuse before any other work
        fetch_from = self._refetch_from(window, mark)
        query = window.query(fetch_from)
        points = [p for page in self._pages(query, keep) for p in parse_results(page)]
        g = window.granularity.value
        self._store.upsert_cost_points(self._account, g, points, now)
        # After a partial refetch the store still holds the window from where it did before.
        covered = mark["from"] if mark and fetch_from > window.start else window.start.isoformat()
        mark = {"at": now.isoformat(), "from": covered}
        self._store.set_state(self._key(f"fetched.{g}"), json.dumps(mark))
        return mark

    def _refetch_from(self, window: Window, mark: Mapping[str, str] | None) -> datetime:
        """Where a refetch starts: the window's start unless the store holds the whole window;
        then the oldest stored period still marked Estimated, else the newest stored period
        (its day may not have been complete)."""
        if mark is None or datetime.fromisoformat(mark["from"]) > window.start:
            return window.start
        stored = self._points(window)
        estimated = [p.start for p in stored if p.estimated]
        if estimated:
            return min(estimated)
        return max((p.start for p in stored), default=window.start)

    def _pages(self, query: Query, keep: int) -> Iterator[Mapping[str, Any]]:
        """Every page of GetCostAndUsage (it has no paginator in botocore, so NextPageToken);
        the budget is asked again before each page after the first."""
        ce = self._aws.client("ce", CE_REGION)
        operation, request = CeOperation.GET_COST_AND_USAGE, query.request()
        while True:
            page = self._send(operation, lambda r=request: ce.get_cost_and_usage(**r))
            yield page
            token = page.get("NextPageToken")
            if not token:
                return
            self._ask(operation, keep)
            request = {**query.request(), "NextPageToken": token}

    def _points(self, window: Window) -> list[CostPoint]:
        g = window.granularity.value
        stored = self._store.cost_points(account=self._account, granularity=g, since=window.start)
        return [p for p in stored if p.start < window.end]

    def _stored(self, window: Window, mark: Mapping[str, str] | None) -> CostData:
        return CostData(
            account=self._account,
            granularity=window.granularity.value,
            points=tuple(self._points(window)),
            fetched_at=datetime.fromisoformat(mark["at"]) if mark else None,
        )

    # -- forecast -------------------------------------------------------------------------------

    def _month_points(self, now: datetime) -> list[CostPoint]:
        start, end = month_bounds(now)
        return self._points(Window(Granularity.DAILY, start, end))

    def _fresh_forecast(self, now: datetime) -> dict[str, Any] | None:
        """Today's stored Cost Explorer forecast when younger than FORECAST_MIN_AGE."""
        answer = self._stored_forecast(now)
        if answer and now - datetime.fromisoformat(answer["at"]) < FORECAST_MIN_AGE:
            return answer
        return None

    def _stored_forecast(self, now: datetime) -> dict[str, Any] | None:
        """Today's stored Cost Explorer forecast, whatever its age (one from an earlier day
        covers days that are now actuals, so it is not used)."""
        raw = self._store.get_state(self._key("forecast"))
        answer = json.loads(raw) if raw else None
        if answer and answer.get("start") == day_start(now).isoformat():
            return answer
        return None

    def _request_forecast(self, now: datetime) -> dict[str, Any] | None:
        """Ask GetCostForecast; on refusal or failure, today's older answer or None.

        A failure (an account too new to forecast, an emulator without the API) is not asked
        again for FORECAST_MIN_AGE: every attempt is a paid request.
        """
        failed_at = self._store.get_state(self._key("forecast_failed"))
        if failed_at and now - datetime.fromisoformat(failed_at) < FORECAST_MIN_AGE:
            return self._stored_forecast(now)
        ce = self._aws.client("ce", CE_REGION)
        operation = CeOperation.GET_COST_FORECAST
        try:
            self._ask(operation)
            page = self._send(operation, lambda: ce.get_cost_forecast(**forecast_request(now)))
        except BudgetExhausted:
            return self._stored_forecast(now)
        except Exception as exc:  # the forecast has a fallback: no failure may cost the scan
            self._store.set_state(self._key("forecast_failed"), now.isoformat())
            log.warning(
                "Cost Explorer forecast unavailable for %s (%s); projecting stored daily cost",
                self._account,
                error_code(exc) or exc,
            )
            return self._stored_forecast(now)
        answer = {"at": now.isoformat(), "start": day_start(now).isoformat()}
        answer.update(parse_forecast(page))
        self._store.set_state(self._key("forecast"), json.dumps(answer))
        return answer

    # -- budget and marks -----------------------------------------------------------------------

    def _ask(self, operation: CeOperation, keep: int = 0) -> None:
        """Raise BudgetExhausted unless the budget allows one more `operation` request."""
        if self._budget is None or self._budget.allow(operation, keep=keep):
            return
        self.refused += 1
        if self._budget.remaining_today > 0:
            log.debug("%s skipped: the rest of today's budget is kept for daily data", operation)
        else:
            self._log_exhausted()
        raise BudgetExhausted(operation.value)

    def _send(self, operation: CeOperation, send: Callable[[], T]) -> T:
        """Send one request the budget allowed, counting it before it goes (a request that
        fails may still be billed)."""
        self.calls_made += 1
        if self._budget is not None:
            self._budget.record(operation)
        return send()

    def _log_exhausted(self) -> None:
        """Warn once per UTC day, across restarts and processes (the mark is in the store)."""
        today = f"{self._clock().astimezone(timezone.utc):%Y-%m-%d}"
        if self._budget is None or self._store.get_state(EXHAUSTED_LOGGED) == today:
            return
        self._store.set_state(EXHAUSTED_LOGGED, today)
        log.warning(
            "Today's Cost Explorer request budget is used up (cost.max_calls_per_day: %d, "
            "$%.2f); answering from stored cost data until 00:00 UTC",
            self._budget.max_calls_per_day,
            self._budget.max_calls_per_day * USD_PER_REQUEST,
        )

    def _refreshes_due(self, now: datetime) -> int:
        """Requests to keep for the daily data and forecast refreshes still due today."""
        left = day_start(now) + timedelta(days=1) - now
        return 2 * -(-left // DAILY_REFRESH)  # ceiling division

    def _hourly_off(self, now: datetime) -> bool:
        raw = self._store.get_state(self._key("hourly_off"))
        return raw is not None and now < datetime.fromisoformat(raw)

    def _mark(self, granularity: Granularity) -> dict[str, str] | None:
        raw = self._store.get_state(self._key(f"fetched.{granularity.value}"))
        return json.loads(raw) if raw else None

    def _key(self, name: str) -> str:
        return f"ce.{self._account}.{name}"
