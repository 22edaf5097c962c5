"""The vocabulary every layer shares: severities, statuses, sources and the Finding a check emits.

Kept free of boto3, SQLAlchemy and I/O so that checks and grouping can import it and stay pure.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class StrEnum(str, enum.Enum):
    """The base of every costguard vocabulary enum: members are their string values, so they
    compare equal to, serialize as, and print as the words the config, JSON and store use.

    (Python 3.11's enum.StrEnum does this; costguard still runs on 3.10.)
    """

    def __str__(self) -> str:
        return self.value


GLOBAL_REGION = "global"
"""Region recorded for account-wide data (IAM, Cost Explorer), so every finding has a region."""


class Severity(StrEnum):
    """How bad a finding is; ordered info < low < medium < high < critical."""

    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """Position in the severity order, so severities compare by meaning, not spelling."""
        return _SEVERITY_ORDER.index(self)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank < other.rank

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank <= other.rank

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank > other.rank

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank >= other.rank

    @classmethod
    def highest(cls, severities: Iterable[Severity]) -> Severity:
        """The most severe of several; INFO for none, so an empty group never looks urgent."""
        return max(severities, default=cls.INFO, key=lambda s: s.rank)


_SEVERITY_ORDER = list(Severity)


class Status(StrEnum):
    """Where a finding is in its lifecycle (open, acknowledged, muted, resolved, reopened)."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    MUTED = "muted"
    RESOLVED = "resolved"


class Source(StrEnum):
    """A kind of data a collector gathers; checks declare which one they need.

    A scan that fails to collect a source never resolves findings of checks that need it.
    The names are also the keys of the `schedule:` section of the config.
    """

    INVENTORY = "inventory"
    CREDENTIAL_REPORT = "credential_report"
    COST = "cost"
    CLOUDTRAIL = "cloudtrail"
    GUARDDUTY = "guardduty"


def fingerprint(check: str, account: str, region: str, resource: str) -> str:
    """A finding's stable identity: the same problem seen again is the same finding.

    NUL separates the parts because no check id, account, region or ARN can contain it, so two
    different tuples can never hash alike.
    """
    raw = "\0".join((check, account, region, resource)).encode()
    return hashlib.sha256(raw).hexdigest()


@dataclass(frozen=True)
class Finding:
    """One problem a check saw on one resource, before the store gives it an id and a lifecycle.

    `entities` are the keys that tie findings into one incident ("principal:ARN",
    "instance:i-...", "sg:sg-...", "keypair:ACCOUNT:REGION:NAME", "access_key:AKIA...");
    `at` is when the activity behind the finding happened, when known (an event's time).
    """

    check: str
    policy: str
    severity: Severity
    account: str
    region: str
    resource: str
    title: str
    details: Mapping[str, Any] = field(default_factory=dict)
    entities: frozenset[str] = frozenset()
    at: datetime | None = None

    @property
    def fingerprint(self) -> str:
        """See :func:`fingerprint`."""
        return fingerprint(self.check, self.account, self.region, self.resource)


def root_arn(account: str) -> str:
    """The resource name the JSON contract gives root, used by every root-related finding."""
    return f"arn:aws:iam::{account}:root"


class AlertKind(StrEnum):
    """Why a message is sent."""

    NEW = "new"
    UPDATE = "update"
    RESOLVED = "resolved"
    ESCALATION = "escalation"
    RENOTIFY = "renotify"
    """A reminder: the incident is still open and nobody has acknowledged it."""
    DIGEST = "digest"
    REPORT = "report"


@dataclass(frozen=True)
class Message:
    """A rendered notification: what the outbox stores and every channel sends."""

    key: str
    kind: AlertKind
    severity: Severity
    subject: str
    text: str
    html: str
    incident_id: int | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)
