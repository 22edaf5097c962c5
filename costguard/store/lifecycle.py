"""The finding lifecycle as pure rules: what a scan's sighting (or its absence) does to a status.

Kept apart from the queries so each rule is tested with plain values:
open -> acknowledged | muted -> resolved -> reopened.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from costguard.model import Finding, Status, StrEnum


class Reason(StrEnum):
    """Why the store moved a finding; the text stored with its transition."""

    NEW = "new"
    REOPENED = "reopened"
    MUTE_EXPIRED = "mute expired"
    NOT_SEEN = "not seen"
    ACKNOWLEDGED = "acknowledged"
    MUTED = "muted"
    UNACKNOWLEDGED = "unacknowledged"
    UNMUTED = "unmuted"


ACTIVE = frozenset({Status.OPEN, Status.ACKNOWLEDGED, Status.MUTED})
"""Statuses a complete scan can resolve."""


@dataclass(frozen=True)
class Change:
    """A status change the store must apply and record."""

    to: Status
    reason: Reason


def mute_expired(muted_until: datetime | None, now: datetime) -> bool:
    """A mute ends at its `until`; a mute without one never expires."""
    return muted_until is not None and muted_until <= now


def when_seen(status: Status, muted_until: datetime | None, now: datetime) -> Change | None:
    """What seeing an existing finding again does to it."""
    if status is Status.RESOLVED:
        return Change(Status.OPEN, Reason.REOPENED)
    if status is Status.MUTED and mute_expired(muted_until, now):
        return Change(Status.OPEN, Reason.MUTE_EXPIRED)
    return None


def when_unseen(
    status: Status, muted_until: datetime | None, now: datetime, *, in_scope: bool
) -> Change | None:
    """What a scan that did not report a finding does to it.

    Only a scope evaluated with complete data can say a problem is gone; elsewhere the finding
    keeps its status, except that an expired mute still ends.
    """
    if status not in ACTIVE:
        return None
    if in_scope:
        return Change(Status.RESOLVED, Reason.NOT_SEEN)
    if status is Status.MUTED and mute_expired(muted_until, now):
        return Change(Status.OPEN, Reason.MUTE_EXPIRED)
    return None


def check_acknowledge(finding_id: int, status: Status) -> None:
    """Refuses to acknowledge what is not waiting for someone (resolved, or already acked)."""
    if status not in (Status.OPEN, Status.MUTED):
        raise ValueError(
            f"finding {finding_id} is {status.value}; only open or muted findings "
            "can be acknowledged"
        )


def check_unacknowledge(finding_id: int, status: Status) -> None:
    """Only an acknowledged finding can be handed back (to open, waiting for someone)."""
    if status is not Status.ACKNOWLEDGED:
        raise ValueError(
            f"finding {finding_id} is {status.value}; only an acknowledged finding can be "
            "unacknowledged"
        )


def check_unmute(finding_id: int, status: Status) -> None:
    """Only a muted finding can be unmuted."""
    if status is not Status.MUTED:
        raise ValueError(f"finding {finding_id} is {status.value}, not muted")


def check_mute(finding_id: int, status: Status, until: datetime, now: datetime) -> None:
    """Refuses to mute a resolved finding, or with an `until` already past."""
    if status is Status.RESOLVED:
        raise ValueError(f"finding {finding_id} is resolved; there is nothing to mute")
    if until <= now:
        raise ValueError(f"mute of finding {finding_id} must end in the future, not {until}")


def strongest(findings: Iterable[Finding]) -> dict[str, Finding]:
    """One finding per fingerprint, the most severe one (the first of equals), in input order."""
    chosen: dict[str, Finding] = {}
    for finding in findings:
        kept = chosen.get(finding.fingerprint)
        if kept is None or finding.severity > kept.severity:
            chosen[finding.fingerprint] = finding
    return chosen
