"""Cost Explorer spend per service, daily and (when the account opted in) hourly.

Every Cost Explorer request costs $0.01, so requests are built only from whole days or hours
(two calls in the same period send byte-identical bodies) and answered from an in-memory cache
within the period. Keep one CostCollector per account for the life of the process: its cache and
its memory of a missing hourly opt-in live in the instance. A persistent daily request budget can
wrap `query()`, the single path every request takes.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from costguard.awsapi import Aws, error_code, error_message
from costguard.snapshot import CostData, CostPoint

log = logging.getLogger("costguard.cost")

CE_REGION = "us-east-1"
"""Cost Explorer has a single endpoint, in us-east-1."""

METRIC = "UnblendedCost"
GROUP_BY: tuple[tuple[str, str], ...] = (("DIMENSION", "SERVICE"),)


class Granularity(str, enum.Enum):
    """The Cost Explorer granularities costguard asks for."""

    DAILY = "DAILY"
    HOURLY = "HOURLY"

    def __str__(self) -> str:
        return self.value

    def stamp(self, moment: datetime) -> str:
        """How Cost Explorer wants a period boundary written at this granularity."""
        if self is Granularity.DAILY:
            return moment.strftime("%Y-%m-%d")
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Query:
    """One cacheable question to Cost Explorer: the cache key, and the request it becomes."""

    granularity: Granularity
    start: str
    end: str
    group_by: tuple[tuple[str, str], ...] = GROUP_BY

    def request(self) -> dict[str, Any]:
        """The GetCostAndUsage parameters; insertion order is fixed, so the body is too."""
        return {
            "TimePeriod": {"Start": self.start, "End": self.end},
            "Granularity": self.granularity.value,
            "Metrics": [METRIC],
            "GroupBy": [{"Type": kind, "Key": key} for kind, key in self.group_by],
        }


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def daily_query(now: datetime, days: int) -> Query:
    """The last `days` whole UTC days, today included (Cost Explorer marks it Estimated)."""
    today = now.astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    end = today + timedelta(days=1)
    start = end - timedelta(days=days)
    return Query(Granularity.DAILY, Granularity.DAILY.stamp(start), Granularity.DAILY.stamp(end))


def hourly_query(now: datetime, hours: int) -> Query:
    """The last `hours` whole UTC hours before the current one (which has no data yet)."""
    end = now.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(hours=hours)
    g = Granularity.HOURLY
    return Query(g, g.stamp(start), g.stamp(end))


def is_hourly_opt_in_error(code: str | None, message: str) -> bool:
    """Whether Cost Explorer refused HOURLY because the account has not enabled it.

    AWS answers AccessDeniedException with "Hourly data granularity is an opt-in only feature.
    You can enable this feature from the PAYER account's Cost Explorer Settings page." A plain
    AccessDeniedException (a missing ce:GetCostAndUsage permission) is not this and is raised.
    """
    return code == "AccessDeniedException" and "opt-in" in message.lower()


class CostCollector:
    """Reads Cost Explorer for one account (the `cost` source)."""

    def __init__(
        self,
        aws: Aws,
        account: str,
        *,
        clock: Callable[[], datetime] = _utcnow,
        hourly_retry_after: timedelta = timedelta(hours=24),
    ) -> None:
        self._aws = aws
        self._account = account
        self._clock = clock
        self._hourly_retry_after = hourly_retry_after
        self._hourly_off_until: datetime | None = None
        self._cache: dict[Query, CostData] = {}
        self.calls_made = 0
        """GetCostAndUsage requests this collector sent (each one is billed $0.01)."""

    def daily(self, days: int = 14) -> CostData:
        """Spend per service per day over the last `days` days."""
        return self.query(daily_query(self._clock(), days))

    def hourly(self, hours: int = 48) -> CostData | None:
        """Spend per service per hour, or None when the account has not enabled hourly data."""
        now = self._clock()
        if self._hourly_off_until is not None and now < self._hourly_off_until:
            return None
        try:
            return self.query(hourly_query(now, hours))
        except Exception as exc:
            if not is_hourly_opt_in_error(error_code(exc), error_message(exc)):
                raise
        self._hourly_off_until = now + self._hourly_retry_after
        log.warning(
            "Hourly cost data is not enabled for account %s; enable it in the Cost Explorer "
            "preferences of the management (payer) account under 'Hourly and resource level "
            "granularity'. Using daily cost data; not asking again for %g h.",
            self._account,
            self._hourly_retry_after.total_seconds() / 3600,
        )
        return None

    def query(self, query: Query) -> CostData:
        """The answer to one query, from the cache when it was asked before."""
        if query not in self._cache:
            # Only the current period's entries can be asked again: drop the older ones.
            self._cache = {
                q: d for q, d in self._cache.items() if q.granularity != query.granularity
            }
            points = tuple(p for page in self._pages(query) for p in parse_results(page))
            self._cache[query] = CostData(
                account=self._account,
                granularity=query.granularity.value,
                points=points,
                fetched_at=self._clock(),
            )
        return self._cache[query]

    def _pages(self, query: Query) -> Iterator[Mapping[str, Any]]:
        """Every page of GetCostAndUsage (it has no paginator in botocore, so NextPageToken)."""
        ce = self._aws.client("ce", CE_REGION)
        request = query.request()
        while True:
            self.calls_made += 1
            page = ce.get_cost_and_usage(**request)
            yield page
            token = page.get("NextPageToken")
            if not token:
                return
            request = {**query.request(), "NextPageToken": token}


def parse_results(page: Mapping[str, Any]) -> Iterator[CostPoint]:
    """One CostPoint per (period, service) of a GetCostAndUsage page."""
    for result in page.get("ResultsByTime", ()):
        start = _moment(result["TimePeriod"]["Start"])
        end = _moment(result["TimePeriod"]["End"])
        estimated = bool(result.get("Estimated", False))
        for group in result.get("Groups", ()):
            metric = group["Metrics"][METRIC]
            yield CostPoint(
                start=start,
                end=end,
                service=group["Keys"][0],
                amount=float(metric["Amount"]),
                unit=metric.get("Unit", "USD"),
                estimated=estimated,
            )


def _moment(value: str) -> datetime:
    """A period boundary ("2024-01-02" or "2024-01-02T03:00:00Z") as an aware UTC datetime."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)
