"""What the outbox says about each channel: sent, failed and dead, the backlog, the last tries.

Read at scrape time by `/metrics` and `/healthz` and by `costguard outbox list`, so the figures
come from the store (the same on every replica, kept across restarts) rather than from counters
in one process's memory.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from costguard.model import StrEnum
from costguard.store.connection import SessionBase
from costguard.store.models import DeliveryAttemptRow, NotificationRow
from costguard.store.records import NotificationStatus, StoredNotification

_N, _A = NotificationRow, DeliveryAttemptRow

DEAD_STATUSES = (NotificationStatus.DEAD, NotificationStatus.FAILED)
"""Statuses of a message that will not be sent unless a person retries it (`failed` is what
versions that gave up after a number of attempts wrote)."""

RECENT = 3
"""A channel whose last this-many sends all failed is degraded."""


class DeliveryState(StrEnum):
    """Where a message stands, as an operator reads it."""

    QUEUED = "queued"
    IN_FLIGHT = "in-flight"
    """A send started and was never recorded (the sender died): maybe delivered; it is sent
    again, with the same Message-ID, once its lease runs out."""
    FAILING = "failing"
    SENT = "sent"
    SUMMARIZED = "summarized"
    DEAD = "dead"


def delivery_state(notification: StoredNotification) -> DeliveryState:
    """Queued (not tried yet), in flight, failing (tried, will be tried again), sent,
    summarized (over a route's hourly cap, told in the overflow summary), or dead."""
    if notification.status is NotificationStatus.SENT:
        return DeliveryState.SENT
    if notification.status is NotificationStatus.SUMMARIZED:
        return DeliveryState.SUMMARIZED
    if notification.status in DEAD_STATUSES:
        return DeliveryState.DEAD
    if notification.in_flight_at is not None:
        return DeliveryState.IN_FLIGHT
    return DeliveryState.FAILING if notification.attempts else DeliveryState.QUEUED


@dataclass(frozen=True)
class ChannelDelivery:
    """One channel's delivery record: counts of sends and messages, and its latest tries."""

    channel: str
    sent: int = 0
    """Sends that succeeded."""
    failed: int = 0
    """Sends that failed (a message retried five times counts five)."""
    dead: int = 0
    """Messages given up on."""
    backlog: int = 0
    """Messages waiting to go out: queued or failing."""
    recent: tuple[bool, ...] = ()
    """Whether each of the latest sends succeeded, newest first (at most RECENT)."""
    last_error: str | None = None
    """The newest failed send's error among the recent ones."""

    @property
    def failing(self) -> bool:
        """Its last RECENT sends all failed."""
        return len(self.recent) >= RECENT and not any(self.recent[:RECENT])


class DeliveryStatsMixin(SessionBase):
    """Per-channel delivery figures, in three small grouped queries and one per channel."""

    def channel_delivery(self) -> list[ChannelDelivery]:
        """Every channel the outbox has held a message for, by name."""
        with self._read() as session:
            messages = _message_counts(session)
            attempts = _attempt_counts(session)
            names = sorted({c for c, _ in messages} | {c for c, _ in attempts})
            return [_channel(session, name, messages, attempts) for name in names]


def _message_counts(session: Session) -> dict[tuple[str, str], int]:
    query = select(_N.channel, _N.status, func.count()).group_by(_N.channel, _N.status)
    return {(channel, status): n for channel, status, n in session.execute(query)}


def _attempt_counts(session: Session) -> dict[tuple[str, bool], int]:
    query = (select(_N.channel, _A.ok, func.count()).join(_N, _A.notification_id == _N.id)
             .group_by(_N.channel, _A.ok))
    return {(channel, bool(ok)): n for channel, ok, n in session.execute(query)}


def _channel(session: Session, name: str, messages: dict[tuple[str, str], int],
             attempts: dict[tuple[str, bool], int]) -> ChannelDelivery:
    latest = session.execute(
        select(_A.ok, _A.error).join(_N, _A.notification_id == _N.id).where(_N.channel == name)
        .order_by(_A.at.desc(), _A.id.desc()).limit(RECENT)).all()
    return ChannelDelivery(
        channel=name,
        sent=attempts.get((name, True), 0),
        failed=attempts.get((name, False), 0),
        dead=_count(messages, name, DEAD_STATUSES),
        backlog=_count(messages, name, [NotificationStatus.PENDING]),
        recent=tuple(bool(ok) for ok, _ in latest),
        last_error=next((error for ok, error in latest if not ok), None),
    )


def _count(messages: dict[tuple[str, str], int], channel: str,
           statuses: Iterable[NotificationStatus]) -> int:
    return sum(messages.get((channel, s.value), 0) for s in statuses)
