"""What the outbox tells about each channel, and the two outbox calls the CLI builds on
(`notifications(status=...)`, `retry`), on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from costguard.model import AlertKind, Message, Severity
from costguard.store import NotificationStatus, Store
from costguard.store.delivery_stats import (
    ChannelDelivery,
    DeliveryState,
    delivery_state,
)

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
MINUTE = timedelta(minutes=1)


def message(key: str, incident_id: int | None = 7) -> Message:
    return Message(key=key, kind=AlertKind.NEW, severity=Severity.HIGH, subject="s", text="t",
                   html="<p>t</p>", incident_id=incident_id)


def queue(store: Store, key: str, channel: str, incident_id: int | None = 7) -> int:
    notification_id = store.enqueue(key=key, channel=channel, message=message(key, incident_id),
                                     now=T0)
    assert notification_id is not None
    return notification_id


def fail(store: Store, notification_id: int, at: datetime, *, give_up: bool = False) -> None:
    store.mark_failed(notification_id, at=at, error=f"refused at {at:%H:%M}",
                      next_attempt_at=None if give_up else at + MINUTE)


def test_each_channel_counts_sends_failures_dead_and_backlog(store: Store) -> None:
    sent, failing, dead = (queue(store, k, "email") for k in ("a", "b", "c"))
    queue(store, "a", "tickets")
    fail(store, sent, T0)
    store.mark_sent(sent, at=T0 + MINUTE, external_id="<a>")
    fail(store, failing, T0 + 2 * MINUTE)
    fail(store, dead, T0 + 3 * MINUTE, give_up=True)

    email, tickets = store.channel_delivery()

    assert email == ChannelDelivery(
        channel="email", sent=1, failed=3, dead=1, backlog=1, recent=(False, False, True),
        last_error="refused at 12:03")
    assert tickets == ChannelDelivery(channel="tickets", backlog=1)
    assert (email.failing, tickets.failing) == (False, False)


def test_a_channel_whose_last_three_sends_failed_is_failing(store: Store) -> None:
    notification_id = queue(store, "a", "email")
    fail(store, notification_id, T0)
    fail(store, notification_id, T0 + MINUTE)
    assert store.channel_delivery()[0].failing is False  # two are not three
    fail(store, notification_id, T0 + 2 * MINUTE)

    [email] = store.channel_delivery()
    assert (email.failing, email.recent, email.last_error) == (
        True, (False, False, False), "refused at 12:02")

    store.mark_sent(notification_id, at=T0 + 3 * MINUTE)
    assert store.channel_delivery()[0].failing is False


def test_an_empty_outbox_has_no_channels(store: Store) -> None:
    assert store.channel_delivery() == []


def test_the_state_an_operator_reads(store: Store) -> None:
    notification_id = queue(store, "a", "email")
    [queued] = store.notifications()
    assert delivery_state(queued) is DeliveryState.QUEUED
    assert delivery_state(replace(queued, attempts=2)) is DeliveryState.FAILING
    assert delivery_state(replace(queued, status=NotificationStatus.SENT)) is DeliveryState.SENT
    assert delivery_state(replace(queued, status=NotificationStatus.FAILED)) is DeliveryState.DEAD
    assert delivery_state(replace(queued, status=NotificationStatus.DEAD)) is DeliveryState.DEAD
    assert delivery_state(replace(queued, in_flight_at=T0)) is DeliveryState.IN_FLIGHT
    assert delivery_state(replace(queued, status=NotificationStatus.SUMMARIZED)) is (
        DeliveryState.SUMMARIZED)
    assert notification_id == queued.id


def test_notifications_by_status_and_by_incident(store: Store) -> None:
    first, second = queue(store, "a", "email"), queue(store, "b", "email", incident_id=8)
    fail(store, second, T0, give_up=True)

    def ids(**filters):
        return [n.id for n in store.notifications(**filters)]

    assert ids(status=NotificationStatus.DEAD) == [second]
    assert ids(status=NotificationStatus.PENDING) == [first]
    assert (ids(incident_id=7), ids(incident_id=8), ids(incident_id=9)) == ([first], [second], [])


def test_retry_makes_a_dead_or_failing_message_due_now(store: Store) -> None:
    # two incidents: one incident's later message would wait for its earlier one
    dead, failing = queue(store, "a", "email"), queue(store, "b", "email", incident_id=8)
    fail(store, dead, T0, give_up=True)
    fail(store, failing, T0)
    later = T0 + timedelta(hours=1)

    again = store.retry(dead, later)
    store.retry(failing, later)

    assert (again.status, again.next_attempt_at, again.attempts) == (
        NotificationStatus.PENDING, later, 1)
    assert [n.id for n in store.claim_due(now=later)] == [dead, failing]


def test_retry_refuses_what_was_sent_or_never_tried_and_unknown_ids(store: Store) -> None:
    sent, fresh = queue(store, "a", "email"), queue(store, "b", "email")
    store.mark_sent(sent, at=T0)

    with pytest.raises(ValueError, match=f"notification {sent} is already sent"):
        store.retry(sent, T0)
    with pytest.raises(ValueError, match=f"notification {fresh} is queued and not tried yet"):
        store.retry(fresh, T0)
    with pytest.raises(LookupError, match="no notification with id 99"):
        store.retry(99, T0)
