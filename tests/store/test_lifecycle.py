"""The lifecycle rules on plain values, one rule per test (no database)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from costguard.model import Finding, Severity, Status
from costguard.store.lifecycle import (
    Change,
    Reason,
    check_acknowledge,
    check_mute,
    mute_expired,
    strongest,
    when_seen,
    when_unseen,
)

NOW = datetime(2024, 5, 1, 12, tzinfo=timezone.utc)
PAST = NOW - timedelta(minutes=1)
FUTURE = NOW + timedelta(minutes=1)


@pytest.mark.parametrize(
    ("status", "muted_until", "expected"),
    [
        (Status.OPEN, None, None),
        (Status.ACKNOWLEDGED, None, None),
        (Status.MUTED, FUTURE, None),
        (Status.MUTED, NOW, Change(Status.OPEN, Reason.MUTE_EXPIRED)),
        (Status.MUTED, PAST, Change(Status.OPEN, Reason.MUTE_EXPIRED)),
        (Status.RESOLVED, None, Change(Status.OPEN, Reason.REOPENED)),
    ],
)
def test_when_seen(status: Status, muted_until: datetime | None, expected: Change | None) -> None:
    assert when_seen(status, muted_until, NOW) == expected


@pytest.mark.parametrize("status", [Status.OPEN, Status.ACKNOWLEDGED, Status.MUTED])
def test_unseen_in_a_complete_scope_resolves_any_active_status(status: Status) -> None:
    assert when_unseen(status, FUTURE, NOW, in_scope=True) == Change(
        Status.RESOLVED, Reason.NOT_SEEN
    )


@pytest.mark.parametrize("status", [Status.OPEN, Status.ACKNOWLEDGED, Status.MUTED])
def test_unseen_outside_the_complete_scopes_changes_nothing(status: Status) -> None:
    assert when_unseen(status, FUTURE, NOW, in_scope=False) is None


def test_unseen_outside_scope_still_ends_an_expired_mute() -> None:
    assert when_unseen(Status.MUTED, PAST, NOW, in_scope=False) == Change(
        Status.OPEN, Reason.MUTE_EXPIRED
    )


def test_unseen_resolved_stays_resolved() -> None:
    assert when_unseen(Status.RESOLVED, None, NOW, in_scope=True) is None


def test_a_mute_without_an_end_never_expires() -> None:
    assert mute_expired(None, NOW) is False
    assert mute_expired(NOW, NOW) is True


@pytest.mark.parametrize("status", [Status.OPEN, Status.MUTED])
def test_open_and_muted_findings_can_be_acknowledged(status: Status) -> None:
    check_acknowledge(7, status)  # raises if refused


@pytest.mark.parametrize("status", [Status.RESOLVED, Status.ACKNOWLEDGED])
def test_resolved_or_acknowledged_findings_cannot_be_acknowledged(status: Status) -> None:
    with pytest.raises(ValueError, match=f"finding 7 is {status.value}"):
        check_acknowledge(7, status)


def test_mute_refuses_resolved_findings_and_past_ends() -> None:
    with pytest.raises(ValueError, match="finding 7 is resolved"):
        check_mute(7, Status.RESOLVED, FUTURE, NOW)
    with pytest.raises(ValueError, match="must end in the future"):
        check_mute(7, Status.OPEN, NOW, NOW)
    check_mute(7, Status.ACKNOWLEDGED, FUTURE, NOW)  # raises if refused


def _finding(severity: Severity, title: str, resource: str = "i-1") -> Finding:
    return Finding(
        check="c",
        policy="p",
        severity=severity,
        account="1",
        region="r",
        resource=resource,
        title=title,
    )


def test_strongest_keeps_the_most_severe_of_a_fingerprint_in_first_seen_order() -> None:
    chosen = strongest(
        [
            _finding(Severity.LOW, "low"),
            _finding(Severity.MEDIUM, "other", resource="i-2"),
            _finding(Severity.CRITICAL, "critical"),
            _finding(Severity.HIGH, "high"),
            _finding(Severity.CRITICAL, "second critical"),
        ]
    )
    assert [f.title for f in chosen.values()] == ["critical", "other"]
