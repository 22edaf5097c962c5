"""The week's cost from what costguard stored: Cost Explorer's daily points per service and
account against the week before, the highest burn rate of running instances, the month so far
against the budget and where it is heading. Pure.

Cost Explorer's days are UTC days; the week's are its seven local dates, matched by date.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime, time, timedelta, timezone

from costguard.reports.figures import Amount, Listing, PeakBurn, Spend
from costguard.reports.history import History
from costguard.snapshot import CostPoint
from costguard.spend.burn_series import hourly
from costguard.spend.forecast import forecast_from_daily

TOP_SERVICES = 8
"""Services shown by name; the rest are one "other services" line."""


def spend(history: History, findings: Listing) -> Spend:
    """The cost figures of `history`'s week (empty when Cost Explorer data is not stored)."""
    days = set(history.week.days())
    before = set(history.week.previous().days())
    points = [(account, p) for account, p in history.cost if p.start.date() in days | before]
    last_day = (history.as_of - timedelta(microseconds=1)).astimezone(history.zone).date()
    month = _month_points(history.cost, last_day)
    return Spend(
        has_data=bool(points),
        week_usd=_total(p for _, p in points if p.start.date() in days),
        previous_usd=_total(p for _, p in points if p.start.date() in before),
        by_service=_amounts(points, days, lambda _a, p: p.service),
        by_account=_amounts(points, days, lambda a, p: p.linked_account or a),
        peak=peak_burn(history),
        findings=findings,
        month=f"{last_day:%Y-%m}",
        month_to_date_usd=_total(p for _, p in month),
        budget_usd=history.budget_usd,
        forecast_usd=_forecast(month, last_day) if month else None,
    )


def _total(points: Iterable[CostPoint]) -> float:
    return round(sum(p.amount for p in points), 2)


def _amounts(points: list[tuple[str, CostPoint]], days: set[date],
             name: Callable[[str, CostPoint], str]) -> tuple[Amount, ...]:
    """This week's and last week's spend per name, largest first; small ones folded."""
    now: dict[str, float] = {}
    then: dict[str, float] = {}
    for account, point in points:
        table = now if point.start.date() in days else then
        key = name(account, point)
        table[key] = table.get(key, 0.0) + point.amount
    names = sorted(set(now) | set(then), key=lambda n: (-now.get(n, 0.0), n))
    shown = [_amount(n, [n], now, then) for n in names[:TOP_SERVICES]]
    rest = names[TOP_SERVICES:]
    if rest:
        shown.append(_amount(f"{len(rest)} other", rest, now, then))
    return tuple(shown)


def _amount(label: str, names: list[str], now: dict[str, float],
            then: dict[str, float]) -> Amount:
    return Amount(name=label, usd=round(sum(now.get(n, 0.0) for n in names), 2),
                  previous_usd=round(sum(then.get(n, 0.0) for n in names), 2))


def _month_points(cost: Iterable[tuple[str, CostPoint]], last_day: date,
                  ) -> list[tuple[str, CostPoint]]:
    """The points of `last_day`'s month up to and including it."""
    first = last_day.replace(day=1)
    return [(a, p) for a, p in cost if first <= p.start.date() <= last_day]


def _forecast(month: list[tuple[str, CostPoint]], last_day: date) -> float:
    """costguard's own projection of the month (per collecting account, summed), made as at
    the end of `last_day`: the recent daily rate carried to the month's end."""
    moment = datetime.combine(last_day, time(23, 59, 59), timezone.utc)
    by_account: dict[str, list[CostPoint]] = {}
    for account, point in month:
        by_account.setdefault(account, []).append(point)
    return round(sum(forecast_from_daily(a, pts, moment).forecast_usd
                     for a, pts in by_account.items()), 2)


def peak_burn(history: History) -> PeakBurn | None:
    """The highest hourly spend rate of one account's running instances in the week."""
    totals: dict[tuple[str, datetime], float] = {}
    for sample in hourly(history.burn, history.start, history.as_of):
        key = (sample.account, sample.at)
        totals[key] = totals.get(key, 0.0) + sample.usd_per_hour
    if not totals:
        return None
    (account, at), rate = max(totals.items(), key=lambda kv: (kv[1], -kv[0][1].timestamp()))
    return PeakBurn(account=account, usd_per_hour=round(rate, 2), at=at) if rate > 0 else None
