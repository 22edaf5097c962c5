"""The weekly reports' own rows (one per ISO week: frozen figures, when it was queued) and the
reads a report needs that no cycle does: every transition up to a moment, the scans and the
delivery attempts of a period, every account's cost points.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update

from costguard.model import Status
from costguard.snapshot import CostPoint
from costguard.store.connection import SessionBase
from costguard.store.models import (
    CostPointRow,
    DeliveryAttemptRow,
    NotificationRow,
    ScanRow,
    TransitionRow,
    WeeklyReportRow,
)
from costguard.store.records import Transition


@dataclass(frozen=True)
class WeeklyReport:
    """A stored week: its figures (as JSON) and when it was queued (None: not yet)."""

    week: str
    figures: dict[str, Any]
    computed_at: datetime
    sent_at: datetime | None


@dataclass(frozen=True)
class ScanOutcome:
    """One scan as a report counts it: when, whether complete, which sources ran and failed
    (both None for scans stored before costguard recorded them)."""

    started_at: datetime
    complete: bool
    sources: tuple[str, ...] | None
    failed_sources: tuple[str, ...] | None


@dataclass(frozen=True)
class ChannelAttempts:
    """Delivery attempts to one channel in a period, and the messages given up on in it."""

    channel: str
    sent: int
    failed: int
    given_up: int


GIVEN_UP = ("failed", "dead")
"""Outbox statuses that mean no more attempts will be made."""


def _report(row: WeeklyReportRow) -> WeeklyReport:
    return WeeklyReport(row.week, dict(row.figures), row.computed_at, row.sent_at)


def _transition(row: TransitionRow) -> Transition:
    return Transition(row.finding_id, Status(row.from_status) if row.from_status else None,
                      Status(row.to_status), row.at, row.reason, row.scan_id)


class WeeklyReportsMixin(SessionBase):
    """Frozen weekly figures, the once-a-week send claim, and the reports' period reads."""

    def weekly_report(self, week: str) -> WeeklyReport | None:
        """The stored week, or None."""
        with self._read() as session:
            row = session.get(WeeklyReportRow, week)
            return _report(row) if row else None

    def weekly_reports(self, weeks: list[str]) -> dict[str, WeeklyReport]:
        """The stored ones among `weeks`, by week."""
        query = select(WeeklyReportRow).where(WeeklyReportRow.week.in_(sorted(set(weeks))))
        with self._read() as session:
            return {row.week: _report(row) for row in session.scalars(query)}

    def freeze_weekly_figures(self, week: str, figures: Mapping[str, Any], now: datetime,
                              *, replace: bool = False) -> WeeklyReport:
        """Store a finished week's figures unless some are stored (or, with `replace`, over
        them: figures of an older shape); returns what is stored, so two processes freezing
        at once agree on one. Replacing keeps when the week was sent."""
        statement = self._insert()(WeeklyReportRow).values(
            week=week, figures=dict(figures), computed_at=now, sent_at=None)
        if replace:
            statement = statement.on_conflict_do_update(
                index_elements=["week"],
                set_={"figures": statement.excluded.figures, "computed_at": now})
        else:
            statement = statement.on_conflict_do_nothing(index_elements=["week"])
        with self._write() as session:
            session.execute(statement)
            return _report(session.get(WeeklyReportRow, week, populate_existing=True))

    def claim_weekly_send(self, week: str, now: datetime) -> bool:
        """Mark the stored week queued; True only for the one caller that marked it."""
        statement = (update(WeeklyReportRow)
                     .where(WeeklyReportRow.week == week, WeeklyReportRow.sent_at.is_(None))
                     .values(sent_at=now))
        with self._write() as session:
            return session.execute(statement).rowcount == 1

    def transitions_before(self, end: datetime) -> list[Transition]:
        """Every finding transition before `end`, oldest first: a past state, replayed."""
        query = (select(TransitionRow).where(TransitionRow.at < end)
                 .order_by(TransitionRow.at, TransitionRow.id))
        with self._read() as session:
            return [_transition(row) for row in session.scalars(query)]

    def scan_outcomes(self, start: datetime, end: datetime) -> list[ScanOutcome]:
        """Scans started in [start, end), oldest first."""
        query = (select(ScanRow).where(ScanRow.started_at >= start, ScanRow.started_at < end)
                 .order_by(ScanRow.started_at, ScanRow.id))
        with self._read() as session:
            return [ScanOutcome(r.started_at, r.complete, _strings(r.sources),
                                _strings(r.failed_sources)) for r in session.scalars(query)]

    def channel_attempts(self, start: datetime, end: datetime) -> list[ChannelAttempts]:
        """Per channel: attempts in [start, end) that sent or failed, and messages given up
        on whose last attempt fell in it."""
        attempts = (select(NotificationRow.channel, DeliveryAttemptRow.ok, func.count())
                    .join(NotificationRow, NotificationRow.id == DeliveryAttemptRow.notification_id)
                    .where(DeliveryAttemptRow.at >= start, DeliveryAttemptRow.at < end)
                    .group_by(NotificationRow.channel, DeliveryAttemptRow.ok))
        dead = (select(NotificationRow.channel, func.count())
                .where(NotificationRow.status.in_(GIVEN_UP),
                       NotificationRow.last_attempt_at >= start,
                       NotificationRow.last_attempt_at < end)
                .group_by(NotificationRow.channel))
        counts: dict[str, list[int]] = {}
        with self._read() as session:
            for channel, ok, n in session.execute(attempts):
                counts.setdefault(channel, [0, 0, 0])[0 if ok else 1] += n
            for channel, n in session.execute(dead):
                counts.setdefault(channel, [0, 0, 0])[2] += n
        return [ChannelAttempts(c, *counts[c]) for c in sorted(counts)]

    def all_cost_points(self, *, granularity: str, since: datetime,
                        before: datetime) -> list[tuple[str, CostPoint]]:
        """(collecting account, point) of every account's periods starting in [since, before)."""
        query = (
            select(CostPointRow)
            .where(CostPointRow.granularity == granularity, CostPointRow.period_start >= since,
                   CostPointRow.period_start < before)
            .order_by(CostPointRow.period_start, CostPointRow.account, CostPointRow.service,
                      CostPointRow.linked_account)
        )
        with self._read() as session:
            return [(r.account, CostPoint(r.period_start, r.period_end, r.service, r.amount,
                                          r.unit, r.linked_account or None, r.estimated))
                    for r in session.scalars(query)]


def _strings(value: Any) -> tuple[str, ...] | None:
    return None if value is None else tuple(str(v) for v in value)
