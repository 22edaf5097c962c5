"""Plain, frozen records the store returns, so no SQLAlchemy object ever leaves `costguard.store`.

Callers (engine, CLI, notifiers) read these without a session, a lazy load or a detached-instance
error, and tests build them by hand. Every datetime in them is aware and in UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from costguard.model import Message, Severity, Status, StrEnum


class IncidentStatus(StrEnum):
    """An incident is open until every finding in it is fixed (the engine decides when)."""

    OPEN = "open"
    RESOLVED = "resolved"


class IncidentTime(StrEnum):
    """The milestones of an incident; alert-to-fix is resolved_at minus notified_at."""

    NOTIFIED = "notified_at"
    ACKNOWLEDGED = "acknowledged_at"
    RESOLVED = "resolved_at"
    ESCALATED = "escalated_at"


class NotificationStatus(StrEnum):
    """Where a queued message is: waiting (or retrying), delivered, or given up on."""

    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    """Given up on by an earlier version (after a fixed number of attempts); shown as dead."""
    DEAD = "dead"
    """Can never succeed (the server refused it for good): kept, shown, retried only by hand."""
    SUMMARIZED = "summarized"
    """Over its route's hourly cap: told in that hour's overflow summary instead of alone."""


def iso(at: datetime | None) -> str | None:
    """ISO 8601 with an explicit UTC offset, as the JSON contract in docs/output.md wants."""
    return at.isoformat() if at is not None else None


@dataclass(frozen=True)
class ScanRecord:
    """One scan cycle: when it ran, whether all sources were collected, and what failed."""

    id: int
    started_at: datetime
    finished_at: datetime | None
    complete: bool
    api_calls: int
    errors: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The `scan` object of `costguard scan --format json` (docs/output.md)."""
        return {
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "complete": self.complete,
            "accounts": list(self.accounts),
            "regions": list(self.regions),
            "api_calls": self.api_calls,
            "errors": list(self.errors),
        }


@dataclass(frozen=True)
class StoredFinding:
    """A finding with the identity and lifecycle the store gave it."""

    id: int
    fingerprint: str
    policy: str
    check: str
    severity: Severity
    status: Status
    account: str
    region: str
    resource: str
    title: str
    details: dict[str, Any] = field(default_factory=dict, hash=False)
    entities: frozenset[str] = frozenset()
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    resolved_at: datetime | None = None
    muted_until: datetime | None = None
    mute_reason: str | None = None
    acknowledged_at: datetime | None = None
    incident_id: int | None = None

    def to_json(self) -> dict[str, Any]:
        """A finding object of `costguard scan --format json`, keys as docs/output.md."""
        return {
            "id": self.id,
            "fingerprint": self.fingerprint,
            "policy": self.policy,
            "check": self.check,
            "severity": self.severity.value,
            "status": self.status.value,
            "account": self.account,
            "region": self.region,
            "resource": self.resource,
            "title": self.title,
            "details": self.details,
            "first_seen": iso(self.first_seen),
            "last_seen": iso(self.last_seen),
            "incident": self.incident_id,
        }


@dataclass(frozen=True)
class Transition:
    """One lifecycle step of a finding; `from_status` is None for its creation."""

    finding_id: int
    from_status: Status | None
    to_status: Status
    at: datetime
    reason: str | None = None
    scan_id: int | None = None
    actor: str | None = None
    """Who made a triage step; None for a step costguard made itself."""


@dataclass(frozen=True)
class Reconciled:
    """What one reconcile changed, so the engine knows what to group and announce.

    `seen` holds every finding the scan reported (after dedupe), whatever its state, including
    those also listed in `new`, `reopened` or `unmuted`. `unmuted` holds findings whose mute
    expired this cycle and that are open again.
    """

    new: list[StoredFinding] = field(default_factory=list)
    reopened: list[StoredFinding] = field(default_factory=list)
    resolved: list[StoredFinding] = field(default_factory=list)
    unmuted: list[StoredFinding] = field(default_factory=list)
    seen: list[StoredFinding] = field(default_factory=list)


@dataclass(frozen=True)
class StoredIncident:
    """A group of related findings and the times that measure how fast it was handled."""

    id: int
    title: str
    severity: Severity
    status: IncidentStatus
    accounts: tuple[str, ...] = ()
    entities: frozenset[str] = frozenset()
    scope: dict[str, Any] = field(default_factory=dict, hash=False)
    detected_at: datetime | None = None
    notified_at: datetime | None = None
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None
    escalated_at: datetime | None = None
    finding_ids: tuple[int, ...] = ()
    acknowledged_by: str | None = None
    acknowledged_reason: str | None = None


@dataclass(frozen=True)
class StoredNotification:
    """A queued message for one channel, with its delivery state.

    `attempts` counts the sends tried so far; `lease_until` is set while a worker holds it.
    """

    id: int
    key: str
    channel: str
    status: NotificationStatus
    message: Message
    attempts: int
    created_at: datetime
    next_attempt_at: datetime | None
    lease_until: datetime | None = None
    last_attempt_at: datetime | None = None
    last_error: str | None = None
    sent_at: datetime | None = None
    external_id: str | None = None
    in_flight_at: datetime | None = None
    deferred: bool = False


@dataclass(frozen=True)
class DeliveryAttempt:
    """One try at sending a notification: the audit trail of what each channel answered."""

    notification_id: int
    at: datetime
    ok: bool
    error: str | None = None
    external_id: str | None = None


class TicketState(StrEnum):
    """Where a ticket stands as costguard last left it."""

    PENDING = "pending"
    """A create was sent, or is about to be, and no answer is recorded: search before creating."""
    OPEN = "open"
    RESOLVED = "resolved"
    NOTED_RESOLVED = "noted-resolved"
    """The resolution's comment was accepted and the close is not recorded yet: a retry of the
    close must not post the comment again (String(16): the names fit the column)."""
    NOTED_ESCALATION = "noted-escalation"
    """The same for an escalation's comment and its new priority or label."""


@dataclass(frozen=True)
class StoredTicket:
    """A ticket as recorded: the vendor's id (for API calls), key (for people) and link."""

    id: int
    channel: str
    incident_key: str
    incident_id: int | None
    state: TicketState
    external_id: str | None
    external_key: str | None
    url: str | None
    fingerprints: tuple[str, ...]
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None = None
