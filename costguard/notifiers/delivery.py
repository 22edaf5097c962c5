"""Delivering the outbox: each due message through its channel, with back-off and a give-up point.

Channels only send; this module owns retries. A failing channel is recorded on its own rows and
retried later, and never keeps the other channels from delivering. The store is reached through
the small `Outbox` protocol, so this module needs no database code.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from costguard.model import AlertKind, Message
from costguard.store.crash_points import crash_point
from costguard.text import oneline

if TYPE_CHECKING:
    from costguard.store.records import StoredNotification

log = logging.getLogger(__name__)

_MAX_EXPONENT = 60  # 2**60 seconds already exceeds any cap; avoids float overflow


class Channel(Protocol):
    """A way to reach people: e-mail, a ticket system, a chat hook.

    Every `costguard.notifiers.channel.Channel` subclass fits; so does any object with a `name`
    and a `send`, which keeps delivery testable with a plain in-test class.
    """

    name: str

    def send(self, message: Message) -> str | None:
        """Delivers `message`; returns an external id (Message-ID, ticket key) or raises."""
        ...


class Outbox(Protocol):
    """The part of `costguard.store.Store` that delivery needs."""

    def claim_due(
        self, *, now: datetime, lease_s: float = 60, limit: int = 50, key: str | None = None
    ) -> list[StoredNotification]:
        """Leases due rows (of one message key, when given) to the caller alone."""
        ...

    def mark_sent(
        self, notification_id: int, *, at: datetime, external_id: str | None = None
    ) -> object:
        """Records a delivery."""
        ...

    def mark_failed(
        self, notification_id: int, *, at: datetime, error: str, next_attempt_at: datetime | None
    ) -> object:
        """Records a failure and when to retry (None: give up)."""
        ...


@dataclass(frozen=True)
class Backoff:
    """When to retry: `first_s`, then `factor` times longer each time, at most `cap_s` apart.

    After `max_attempts` failed sends the message is given up on (status failed).
    """

    first_s: float = 30.0
    factor: float = 2.0
    cap_s: float = 3600.0
    max_attempts: int = 20

    def __post_init__(self) -> None:
        # A zero delay would let one `deliver_due` call retry the same row forever.
        if self.first_s <= 0 or self.factor < 1 or self.cap_s < self.first_s:
            raise ValueError(f"back-off must grow from a positive delay: {self}")
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")

    def next_attempt(self, failures: int, now: datetime) -> datetime | None:
        """When to try again after `failures` failed sends, or None to give up."""
        if failures >= self.max_attempts:
            return None
        exponent = min(failures - 1, _MAX_EXPONENT)
        delay = min(self.cap_s, self.first_s * self.factor**exponent)
        return now + timedelta(seconds=delay)


@dataclass(frozen=True)
class Delivered:
    """One message that went out, so the caller can stamp its incident's `notified_at`."""

    notification_id: int
    key: str
    channel: str
    kind: AlertKind
    incident_id: int | None
    sent_at: datetime
    external_id: str | None = None


@dataclass(frozen=True)
class DeliveryReport:
    """What one `deliver_due` did: counts, what went out, one line per failure for logs."""

    sent: int = 0
    failed: int = 0
    gave_up: int = 0
    errors: tuple[str, ...] = ()
    delivered: tuple[Delivered, ...] = ()


@dataclass
class _Tally:
    failed: int = 0
    gave_up: int = 0
    errors: list[str] = field(default_factory=list)
    delivered: list[Delivered] = field(default_factory=list)

    def report(self) -> DeliveryReport:
        return DeliveryReport(
            sent=len(self.delivered),
            failed=self.failed,
            gave_up=self.gave_up,
            errors=tuple(self.errors),
            delivered=tuple(self.delivered),
        )


def _send(channels: Mapping[str, Channel], row: StoredNotification) -> str | None:
    channel = channels.get(row.channel)
    if channel is None:
        raise LookupError(f"no channel named {row.channel!r} is configured")
    return channel.send(row.message)


def _deliver_one(
    store: Outbox,
    channels: Mapping[str, Channel],
    row: StoredNotification,
    now: datetime,
    backoff: Backoff,
    tally: _Tally,
) -> None:
    crash_point("before-send")
    try:
        external_id = _send(channels, row)
    except Exception as exc:  # any channel failure is recorded and retried, never fatal
        _failed(store, row, f"{type(exc).__name__}: {exc}", now, backoff, tally)
        return
    crash_point("after-send-accepted")
    try:
        store.mark_sent(row.id, at=now, external_id=external_id)
    except ValueError as exc:
        # Another sender marked it first: our lease ran out mid-send, so it went out twice.
        tally.errors.append(f"notification {row.id} ({row.key}) via {row.channel}: {exc}")
        log.error("lease of notification %d expired during its send: %s", row.id, exc)
        return
    log.info("%s: sent, external id %s", _which(row), external_id or "none")
    crash_point("after-send-recorded")
    tally.delivered.append(
        Delivered(
            notification_id=row.id,
            key=row.key,
            channel=row.channel,
            kind=row.message.kind,
            incident_id=row.message.incident_id,
            sent_at=now,
            external_id=external_id,
        )
    )


def _failed(
    store: Outbox,
    row: StoredNotification,
    error: str,
    now: datetime,
    backoff: Backoff,
    tally: _Tally,
) -> None:
    retry_at = backoff.next_attempt(row.attempts + 1, now)
    store.mark_failed(row.id, at=now, error=error, next_attempt_at=retry_at)
    tally.errors.append(f"notification {row.id} ({row.key}) via {row.channel}: {error}")
    if retry_at is None:
        tally.gave_up += 1
        log.error("%s: dead after %d attempts: %s", _which(row), row.attempts + 1,
                  oneline(error))
    else:
        tally.failed += 1
        log.warning("%s: failed: %s; next attempt %s", _which(row), oneline(error),
                    retry_at.isoformat())


def _which(row: StoredNotification) -> str:
    """How every delivery log line starts: channel, message key, outbox id."""
    return f"notification {row.id} via {row.channel} key={row.key}"


def deliver_due(
    store: Outbox,
    channels: Mapping[str, Channel],
    *,
    now: datetime,
    backoff: Backoff = Backoff(),
    lease_s: float = 300,
    batch: int = 10,
    key: str | None = None,
) -> DeliveryReport:
    """Sends every message due at `now` through its channel and records each outcome.

    Rows are claimed in batches under a lease, so several processes may call this at once. A
    lease must outlast its batch (`batch` sends at a channel's timeout each), or another
    process could send a slow batch's rows again. Batches after the first are claimed at
    `now` plus the real time spent so far, so their leases hold in wall-clock time. Every
    claimed row ends sent, retrying later or given up, so the loop ends. With `key`, only that
    message's rows (one per channel): a delivery job of the procrastinate engine.
    """
    tally = _Tally()
    started = time.monotonic()
    at = now
    while rows := store.claim_due(now=at, lease_s=lease_s, limit=batch, key=key):
        for row in rows:
            _deliver_one(store, channels, row, at, backoff, tally)
        at = now + timedelta(seconds=time.monotonic() - started)
    return tally.report()
