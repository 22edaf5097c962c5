"""ISO weeks in the schedule's time zone: what `--week 2026-W47` names and where it starts and ends.

A week runs from Monday 00:00 to the next Monday 00:00 local time, so a week that holds a
daylight saving change is 167 or 169 hours long, and its days are the seven local dates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

_WEEK = re.compile(r"(\d{4})-W(\d{2})")


@dataclass(frozen=True, order=True)
class IsoWeek:
    """One ISO 8601 week, such as 2026-W47."""

    year: int
    week: int

    @classmethod
    def parse(cls, text: str) -> IsoWeek:
        """`2026-W47`; ValueError with the expected form otherwise."""
        match = _WEEK.fullmatch(text.strip())
        if match is None:
            raise ValueError(f"expected an ISO week such as 2026-W47, got {text!r}")
        year, week = int(match.group(1)), int(match.group(2))
        try:
            date.fromisocalendar(year, week, 1)
        except ValueError:
            raise ValueError(f"{year} has no ISO week {week}") from None
        return cls(year, week)

    @classmethod
    def containing(cls, moment: datetime, zone: ZoneInfo) -> IsoWeek:
        """The week `moment` falls in, in `zone`."""
        year, week, _ = moment.astimezone(zone).isocalendar()
        return cls(year, week)

    @classmethod
    def last_complete(cls, now: datetime, zone: ZoneInfo) -> IsoWeek:
        """The latest week that has ended by `now`: what Monday's report is about."""
        return cls.containing(now, zone).previous()

    def previous(self, n: int = 1) -> IsoWeek:
        """The week `n` weeks before this one."""
        year, week, _ = (self.monday() - timedelta(weeks=n)).isocalendar()
        return IsoWeek(year, week)

    def monday(self) -> date:
        """Its first day."""
        return date.fromisocalendar(self.year, self.week, 1)

    def days(self) -> list[date]:
        """Its seven dates, Monday first."""
        return [self.monday() + timedelta(days=i) for i in range(7)]

    def bounds(self, zone: ZoneInfo) -> tuple[datetime, datetime]:
        """[start, end) in UTC: local Monday 00:00 to the next local Monday 00:00."""
        end_day = self.monday() + timedelta(days=7)
        return (datetime.combine(self.monday(), time(), zone).astimezone(timezone.utc),
                datetime.combine(end_day, time(), zone).astimezone(timezone.utc))

    def span(self) -> str:
        """The dates it covers, as people write them: "16-22 Nov 2026"."""
        first, last = self.monday(), self.monday() + timedelta(days=6)
        if first.month == last.month:
            return f"{first.day}\u2013{last.day} {last:%b %Y}"
        if first.year == last.year:
            return f"{first.day} {first:%b}\u2013{last.day} {last:%b %Y}"
        return f"{first.day} {first:%b %Y}\u2013{last.day} {last:%b %Y}"

    def __str__(self) -> str:
        return f"{self.year}-W{self.week:02d}"
