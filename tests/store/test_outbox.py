"""The outbox table: idempotent enqueue, leases that never hand one row to two claimers, marks."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest

from costguard.model import AlertKind, Message, Severity
from costguard.store import NotificationStatus, Store
from costguard.store.outbox import MAX_ERROR_CHARS

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
SECOND = timedelta(seconds=1)


def _message(key: str = "incident-7/new", subject: str = "[costguard] HIGH: GPUs launched",
             incident_id: int = 7):
    return Message(
        key=key,
        kind=AlertKind.NEW,
        severity=Severity.HIGH,
        subject=subject,
        text="Someone launched p5.48xlarge in us-east-1.",
        html="<p>Someone launched <code>p5.48xlarge</code> in us-east-1.</p>",
        incident_id=incident_id,
        fields={"thread_key": "incident-7/new", "findings": [1, 2]},
    )


def test_enqueue_stores_the_whole_message_before_any_send(store: Store) -> None:
    notification_id = store.enqueue(
        key="incident-7/new", channel="email", message=_message(), now=T0
    )
    assert isinstance(notification_id, int)
    [stored] = store.notifications()
    assert stored.id == notification_id
    assert stored.message == _message()
    assert (stored.key, stored.channel, stored.status) == (
        "incident-7/new",
        "email",
        NotificationStatus.PENDING,
    )
    assert (stored.attempts, stored.created_at, stored.next_attempt_at) == (0, T0, T0)
    assert (stored.sent_at, stored.external_id, stored.last_error) == (None, None, None)


def test_enqueueing_the_same_key_and_channel_again_changes_nothing(store: Store) -> None:
    first = store.enqueue(key="k", channel="email", message=_message(), now=T0)
    again = store.enqueue(
        key="k", channel="email", message=_message(subject="different"), now=T0 + SECOND
    )
    other_channel = store.enqueue(key="k", channel="tickets", message=_message(), now=T0)
    assert again is None
    assert other_channel not in (None, first)
    rows = store.notifications()
    assert [(n.id, n.channel) for n in rows] == [(first, "email"), (other_channel, "tickets")]
    assert rows[0].message.subject == "[costguard] HIGH: GPUs launched"
    assert rows[0].created_at == T0


def test_claim_takes_due_rows_oldest_first_up_to_the_limit(store: Store) -> None:
    ids = [
        store.enqueue(key=f"k{n}", channel="email", message=_message(incident_id=n),
                      now=T0 + n * SECOND)
        for n in range(4)
    ]
    store.enqueue(key="later", channel="email", message=_message(), now=T0 + 60 * SECOND)
    claimed = store.claim_due(now=T0 + 10 * SECOND, lease_s=60, limit=3)
    assert [n.id for n in claimed] == ids[:3]
    assert {n.lease_until for n in claimed} == {T0 + 70 * SECOND}
    rest = store.claim_due(now=T0 + 10 * SECOND, limit=10)
    assert [n.id for n in rest] == [ids[3]]


def test_a_leased_row_is_not_claimed_again_until_the_lease_ends(store: Store) -> None:
    notification_id = store.enqueue(key="k", channel="email", message=_message(), now=T0)
    assert [n.id for n in store.claim_due(now=T0, lease_s=60)] == [notification_id]
    assert store.claim_due(now=T0 + 59 * SECOND) == []
    assert [n.id for n in store.claim_due(now=T0 + 60 * SECOND)] == [notification_id]


def test_mark_sent_is_final(store: Store) -> None:
    notification_id = store.enqueue(key="k", channel="email", message=_message(), now=T0)
    store.claim_due(now=T0)
    sent = store.mark_sent(notification_id, at=T0 + SECOND, external_id="<abc@costguard>")
    assert (sent.status, sent.sent_at, sent.external_id) == (
        NotificationStatus.SENT,
        T0 + SECOND,
        "<abc@costguard>",
    )
    assert (sent.attempts, sent.lease_until, sent.next_attempt_at) == (1, None, None)
    assert store.claim_due(now=T0 + timedelta(days=1)) == []
    with pytest.raises(ValueError, match="is already sent"):
        store.mark_sent(notification_id, at=T0 + 2 * SECOND)
    with pytest.raises(ValueError, match="is already sent"):
        store.mark_failed(notification_id, at=T0, error="x", next_attempt_at=None)


def test_mark_failed_schedules_a_retry_or_gives_up(store: Store) -> None:
    notification_id = store.enqueue(key="k", channel="email", message=_message(), now=T0)
    store.claim_due(now=T0)
    retry_at = T0 + 30 * SECOND
    failed = store.mark_failed(
        notification_id, at=T0, error="SMTPServerDisconnected: gone", next_attempt_at=retry_at
    )
    assert (failed.status, failed.attempts, failed.next_attempt_at) == (
        NotificationStatus.PENDING,
        1,
        retry_at,
    )
    assert (failed.last_error, failed.lease_until) == ("SMTPServerDisconnected: gone", None)
    assert store.claim_due(now=retry_at - SECOND) == []
    assert [n.id for n in store.claim_due(now=retry_at)] == [notification_id]
    gave_up = store.mark_failed(notification_id, at=retry_at, error="still", next_attempt_at=None)
    assert (gave_up.status, gave_up.attempts) == (NotificationStatus.DEAD, 2)
    assert store.claim_due(now=T0 + timedelta(days=1)) == []
    assert [n.id for n in store.notifications([NotificationStatus.DEAD])] == [notification_id]
    assert store.notifications([NotificationStatus.PENDING, NotificationStatus.SENT]) == []


def test_every_attempt_is_a_row(store: Store) -> None:
    notification_id = store.enqueue(key="k", channel="email", message=_message(), now=T0)
    store.mark_failed(notification_id, at=T0, error="refused", next_attempt_at=T0 + SECOND)
    store.mark_sent(notification_id, at=T0 + SECOND, external_id="<id>")
    attempts = store.delivery_attempts(notification_id)
    assert [(a.at, a.ok, a.error, a.external_id) for a in attempts] == [
        (T0, False, "refused", None),
        (T0 + SECOND, True, None, "<id>"),
    ]


def test_long_errors_are_truncated(store: Store) -> None:
    notification_id = store.enqueue(key="k", channel="email", message=_message(), now=T0)
    failed = store.mark_failed(notification_id, at=T0, error="x" * 10_000, next_attempt_at=None)
    assert failed.last_error == "x" * MAX_ERROR_CHARS


def test_marking_an_unknown_notification_raises_lookup_error(store: Store) -> None:
    with pytest.raises(LookupError, match="no notification with id 5"):
        store.mark_sent(5, at=T0)
    with pytest.raises(LookupError, match="no notification with id 5"):
        store.mark_failed(5, at=T0, error="x", next_attempt_at=None)


def test_two_stores_claiming_at_once_never_get_the_same_row(store: Store, db_url: str) -> None:
    """Two Store objects (two pools, as two processes would have) race over 120 rows."""
    ids = {
        store.enqueue(key=f"k{n}", channel="email", message=_message(incident_id=n), now=T0)
        for n in range(120)
    }
    claims: dict[int, list[int]] = {0: [], 1: []}
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def claim_all(worker: int, claimer: Store) -> None:
        try:
            barrier.wait()
            while batch := claimer.claim_due(now=T0 + SECOND, lease_s=300, limit=4):
                claims[worker].extend(n.id for n in batch)
        except BaseException as exc:  # collected and asserted below, in the test's thread
            errors.append(exc)

    with Store.open(db_url) as other:
        threads = [
            threading.Thread(target=claim_all, args=(0, store)),
            threading.Thread(target=claim_all, args=(1, other)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    assert errors == []
    assert set(claims[0]).isdisjoint(claims[1])
    assert sorted(claims[0] + claims[1]) == sorted(ids)


def test_notifications_for_a_key_lists_every_channel_it_went_to(store: Store) -> None:
    email = store.enqueue(key="incident-7/new", channel="email", message=_message(), now=T0)
    tickets = store.enqueue(key="incident-7/new", channel="tickets", message=_message(), now=T0)
    store.enqueue(key="incident-8/new", channel="email", message=_message(), now=T0)
    copies = store.notifications_for("incident-7/new")
    assert [(n.id, n.channel) for n in copies] == [(email, "email"), (tickets, "tickets")]
    assert store.notifications_for("incident-9/new") == []
