"""Mute rules and postponed and held outbox rows, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from costguard.model import AlertKind, Message, Severity
from costguard.store import NotificationStatus, Store

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)
DAY = timedelta(days=1)


def test_rules_are_active_until_they_expire_or_end(store: Store) -> None:
    first = store.add_mute_rule(check="open_admin_ports", resource="sg-0*", until=T0 + DAY,
                                reason="bastion", now=T0, by="alice")
    second = store.add_mute_rule(tag={"env": "sandbox"}, until=T0 + 2 * DAY, reason="lab",
                                 now=T0)
    assert [r.id for r in store.active_mute_rules(T0)] == [first.id, second.id]
    assert store.active_mute_rules(T0)[1].tag == {"env": "sandbox"}
    assert [r.id for r in store.active_mute_rules(T0 + DAY)] == [second.id]
    ended = store.end_mute_rule(second.id, T0 + timedelta(hours=1))
    assert ended.ended_at == T0 + timedelta(hours=1)
    assert [r.id for r in store.active_mute_rules(T0 + timedelta(hours=2))] == [first.id]
    with pytest.raises(ValueError, match="already ended"):
        store.end_mute_rule(second.id, T0 + timedelta(hours=2))
    with pytest.raises(LookupError):
        store.end_mute_rule(99, T0)


def test_a_rule_must_name_something_and_end_later(store: Store) -> None:
    with pytest.raises(ValueError, match="at least one"):
        store.add_mute_rule(until=T0 + DAY, reason="x", now=T0)
    with pytest.raises(ValueError, match="not in the future"):
        store.add_mute_rule(check="x", until=T0, reason="x", now=T0)


def _message(key: str) -> Message:
    return Message(key=key, kind=AlertKind.NEW, severity=Severity.HIGH, subject=key, text="t",
                   html="<p>t</p>")


def test_a_held_row_is_due_at_its_not_before(store: Store) -> None:
    store.enqueue(key="k", channel="c", message=_message("k"), now=T0, not_before=T0 + DAY)
    assert store.claim_due(now=T0 + DAY - timedelta(seconds=1)) == []
    assert [r.key for r in store.claim_due(now=T0 + DAY)] == ["k"]


def test_a_postponed_row_is_released_unattempted(store: Store) -> None:
    store.enqueue(key="k", channel="c", message=_message("k"), now=T0)
    (row,) = store.claim_due(now=T0)
    later = store.postpone(row.id, until=T0 + DAY)
    assert (later.attempts, later.next_attempt_at, later.lease_until) == (0, T0 + DAY, None)
    assert later.status is NotificationStatus.PENDING
    assert store.claim_due(now=T0 + timedelta(hours=1)) == []
    assert [r.id for r in store.claim_due(now=T0 + DAY)] == [row.id]
