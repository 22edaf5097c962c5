"""Delivering the outbox: each due message through its channel, with capped back-off, forever.

Channels only send; this module owns retries. A failing channel is recorded on its own rows and
retried later, and never keeps the other channels from delivering. A message is given up on
(dead) only when the channel says it can never succeed; an outage of any length is retried.
Each send is bracketed as tightly as the protocol allows: marked in flight (committed) just
before, recorded sent (committed) right after. A deferred message is rendered between the two,
from its incident as it stands then. The store is reached through the small `Outbox` protocol,
so this module needs no database code.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from costguard.model import AlertKind, Message
from costguard.notifiers.channel import DeliveryError
from costguard.notifiers.slack import TicketLinking
from costguard.notifiers.ticket_channel import TicketChannel
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

    def mark_in_flight(self, notification_id: int, *, at: datetime) -> object:
        """Records that a send is about to start."""
        ...

    def mark_sent(
        self, notification_id: int, *, at: datetime, external_id: str | None = None,
        sent: Message | None = None,
    ) -> object:
        """Records a delivery and what was sent."""
        ...

    def mark_failed(
        self, notification_id: int, *, at: datetime, error: str, next_attempt_at: datetime | None
    ) -> object:
        """Records a failure and when to retry (None: give up)."""
        ...

    def postpone(self, notification_id: int, *, until: datetime) -> object:
        """Makes a claimed row due later without counting an attempt."""
        ...


@dataclass(frozen=True)
class Backoff:
    """When to retry: `first_s`, then `factor` times longer each time, at most `cap_s` apart.

    Forever by default: a channel down for days still gets the message when it comes back.
    `max_attempts` (None: no limit) exists for callers that must stop, such as a test.
    """

    first_s: float = 30.0
    factor: float = 2.0
    cap_s: float = 3600.0
    max_attempts: int | None = None

    def __post_init__(self) -> None:
        # A zero delay would let one `deliver_due` call retry the same row forever.
        if self.first_s <= 0 or self.factor < 1 or self.cap_s < self.first_s:
            raise ValueError(f"back-off must grow from a positive delay: {self}")
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")

    def next_attempt(self, failures: int, now: datetime) -> datetime | None:
        """When to try again after `failures` failed sends, or None to give up."""
        if self.max_attempts is not None and failures >= self.max_attempts:
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
    down: dict[str, datetime] = field(default_factory=dict)
    """Channels that said in this run they take nothing now (rate limited, down, not
    answering), with when to try them again."""

    def report(self) -> DeliveryReport:
        return DeliveryReport(
            sent=len(self.delivered),
            failed=self.failed,
            gave_up=self.gave_up,
            errors=tuple(self.errors),
            delivered=tuple(self.delivered),
        )


Render = Callable[["StoredNotification", datetime], "Message | None"]
"""Produces a deferred message's text at send time (None: send what is stored)."""


def _channel(channels: Mapping[str, Channel], row: StoredNotification) -> Channel:
    channel = channels.get(row.channel)
    if channel is None:
        raise LookupError(f"no channel named {row.channel!r} is configured")
    return channel


def _deliver_one(
    store: Outbox,
    channels: Mapping[str, Channel],
    row: StoredNotification,
    now: datetime,
    backoff: Backoff,
    tally: _Tally,
    render: Render | None = None,
) -> None:
    if row.channel in tally.down:
        # Its channel failed moments ago: wait with it rather than burn an attempt (and a
        # timeout that would hold up every other channel's messages in this run).
        store.postpone(row.id, until=tally.down[row.channel])
        log.info("%s: postponed to %s with its channel", _which(row),
                 tally.down[row.channel].isoformat())
        return
    try:
        store.mark_in_flight(row.id, at=now)
    except ValueError:  # our lease ran out and another sender took it: it is theirs now
        return
    crash_point("after-in-flight-marked")
    message = row.message
    try:
        channel = _channel(channels, row)
        if render is not None and row.deferred:
            message = render(row, now) or message
        crash_point("before-send")
        external_id = channel.send(message)
    except Exception as exc:  # any channel failure is recorded and retried, never fatal
        _failed(store, row, f"{type(exc).__name__}: {exc}", now, backoff, tally,
                **_hints(exc, now))
        return
    crash_point("after-send-accepted")
    try:
        store.mark_sent(row.id, at=now, external_id=external_id, sent=message)
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
    *,
    retry_after: datetime | None = None,
    permanent: bool = False,
    transient: bool = False,
) -> None:
    retry_at = None if permanent else backoff.next_attempt(row.attempts + 1, now)
    if retry_at is not None and retry_after is not None:
        # The other side said when it takes messages again; sooner only burns an attempt.
        retry_at = max(retry_at, retry_after)
    if transient and retry_at is not None:
        tally.down[row.channel] = retry_at
    store.mark_failed(row.id, at=now, error=error, next_attempt_at=retry_at)
    tally.errors.append(f"notification {row.id} ({row.key}) via {row.channel}: {error}")
    if retry_at is None:
        tally.gave_up += 1
        log.error("%s: dead after %d attempts (it can never succeed; `costguard outbox retry "
                  "%d` tries again): %s", _which(row), row.attempts + 1, row.id, oneline(error))
    else:
        tally.failed += 1
        log.warning("%s: failed: %s; next attempt %s", _which(row), oneline(error),
                    retry_at.isoformat())


def _hints(exc: Exception, now: datetime) -> dict[str, Any]:
    """What a channel's DeliveryError says about retrying: not before, or never."""
    if not isinstance(exc, DeliveryError):
        return {}
    wait = exc.retry_after_s
    # A channel's own verdict: anything but a permanent refusal means the channel (not this
    # message) is the problem, so its other messages wait too.
    return {"retry_after": None if wait is None else now + timedelta(seconds=max(0.0, wait)),
            "permanent": exc.permanent, "transient": not exc.permanent}


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
    render: Render | None = None,
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
    for channel in channels.values():
        if isinstance(channel, TicketChannel | TicketLinking):
            channel.use_book(store)  # type: ignore[arg-type]  # the Store is both
    started = time.monotonic()
    at = now
    while rows := store.claim_due(now=at, lease_s=lease_s, limit=batch, key=key):
        for row in rows:
            _deliver_one(store, channels, row, at, backoff, tally, render)
        at = now + timedelta(seconds=time.monotonic() - started)
    return tally.report()
