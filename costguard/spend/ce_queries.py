"""What costguard asks Cost Explorer and how it reads the answers, as plain data (no I/O).

Periods are whole UTC days or hours, and request bodies are built with a fixed key order, so two
processes asking about the same period in the same state send byte-identical requests (moto's
seeded answers and Cost Explorer's own caching both key on the body).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from costguard.model import StrEnum
from costguard.snapshot import CostPoint
from costguard.spend.forecast import day_start, month_bounds

CE_REGION = "us-east-1"
"""Cost Explorer has a single endpoint, in us-east-1."""

METRIC = "UnblendedCost"
FORECAST_METRIC = "UNBLENDED_COST"
SERVICE, LINKED_ACCOUNT = "SERVICE", "LINKED_ACCOUNT"
GROUP_BY: tuple[tuple[str, str], ...] = (("DIMENSION", SERVICE), ("DIMENSION", LINKED_ACCOUNT))
PREDICTION_INTERVAL = 80
"""The forecast's prediction interval, percent (AWS's default, asked for explicitly)."""
FORECAST_MIN_AGE = timedelta(hours=6)
DAILY_REFRESH = timedelta(hours=6)
"""How often the daily data and the forecast are meant to be refreshed; hourly requests leave
room in the day's budget for the refreshes still due (see `CostCollector.hourly`)."""


class Granularity(StrEnum):
    """The Cost Explorer granularities costguard asks for."""

    DAILY = "DAILY"
    HOURLY = "HOURLY"

    @property
    def min_age(self) -> timedelta:
        """How old fetched data must be before it is asked for again."""
        return timedelta(hours=6) if self is Granularity.DAILY else timedelta(hours=1)

    def stamp(self, moment: datetime) -> str:
        """How Cost Explorer wants a period boundary written at this granularity."""
        if self is Granularity.DAILY:
            return moment.strftime("%Y-%m-%d")
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Query:
    """One request to Cost Explorer: its period, and the body it becomes."""

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


@dataclass(frozen=True)
class Window:
    """The periods a caller wants: [start, end) at one granularity."""

    granularity: Granularity
    start: datetime
    end: datetime

    def query(self, fetch_from: datetime | None = None) -> Query:
        """The request for this window, starting at `fetch_from` when earlier periods are
        stored and settled."""
        g = self.granularity
        return Query(g, g.stamp(max(fetch_from or self.start, self.start)), g.stamp(self.end))


def daily_window(now: datetime, days: int) -> Window:
    """The last `days` whole UTC days, today included (Cost Explorer marks it Estimated), and
    at least the whole month so far, which the month-end forecast adds up."""
    end = day_start(now) + timedelta(days=1)
    start = min(end - timedelta(days=days), month_bounds(now)[0])
    return Window(Granularity.DAILY, start, end)


def hourly_window(now: datetime, hours: int) -> Window:
    """The last `hours` whole UTC hours before the current one (which has no data yet)."""
    end = now.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)
    return Window(Granularity.HOURLY, end - timedelta(hours=hours), end)


def daily_query(now: datetime, days: int) -> Query:
    """The request a collector with nothing stored sends for `daily(days)`."""
    return daily_window(now, days).query()


def hourly_query(now: datetime, hours: int) -> Query:
    """The request a collector with nothing stored sends for `hourly(hours)`."""
    return hourly_window(now, hours).query()


def forecast_request(now: datetime) -> dict[str, Any]:
    """GetCostForecast from today to the first of next month (AWS forecasts only from today)."""
    start, end = day_start(now), month_bounds(now)[1]
    return {
        "TimePeriod": {"Start": f"{start:%Y-%m-%d}", "End": f"{end:%Y-%m-%d}"},
        "Metric": FORECAST_METRIC,
        "Granularity": "MONTHLY",
        "PredictionIntervalLevel": PREDICTION_INTERVAL,
    }


def is_hourly_opt_in_error(code: str | None, message: str) -> bool:
    """Whether Cost Explorer refused HOURLY because the account has not enabled it.

    AWS answers AccessDeniedException with "Hourly data granularity is an opt-in only feature.
    You can enable this feature from the PAYER account's Cost Explorer Settings page." A plain
    AccessDeniedException (a missing ce:GetCostAndUsage permission) is not this and is raised.
    """
    return code == "AccessDeniedException" and "opt-in" in message.lower()


def parse_results(
    page: Mapping[str, Any], group_by: tuple[tuple[str, str], ...] = GROUP_BY
) -> Iterator[CostPoint]:
    """One CostPoint per (period, service, linked account) of a GetCostAndUsage page."""
    dimensions = [key for _, key in group_by]
    for result in page.get("ResultsByTime", ()):
        start = _moment(result["TimePeriod"]["Start"])
        end = _moment(result["TimePeriod"]["End"])
        estimated = bool(result.get("Estimated", False))
        for group in result.get("Groups", ()):
            keys = dict(zip(dimensions, group["Keys"], strict=False))
            metric = group["Metrics"][METRIC]
            yield CostPoint(
                start=start,
                end=end,
                service=keys.get(SERVICE, ""),
                amount=float(metric["Amount"]),
                unit=metric.get("Unit", "USD"),
                linked_account=keys.get(LINKED_ACCOUNT),
                estimated=estimated,
            )


def parse_forecast(page: Mapping[str, Any]) -> dict[str, float | None]:
    """GetCostForecast's mean and 80% interval, summed over its periods (one when MONTHLY)."""
    results = page.get("ForecastResultsByTime") or []
    mean = float(page.get("Total", {}).get("Amount", 0.0))
    if not page.get("Total") and results:
        mean = sum(float(r["MeanValue"]) for r in results)

    def total(field: str) -> float | None:
        values = [r.get(field) for r in results]
        return None if not values or None in values else sum(float(v) for v in values)

    return {
        "mean": mean,
        "lower": total("PredictionIntervalLowerBound"),
        "upper": total("PredictionIntervalUpperBound"),
    }


def _moment(value: str) -> datetime:
    """A period boundary ("2024-01-02" or "2024-01-02T03:00:00Z") as an aware UTC datetime."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)
