"""Outbox delivery against a real SQLite store: retries with back-off, exactly-once, isolation.

The channel is an in-test class that records what it got and fails when told to; time is
injected, so back-off is checked at exact instants. (End-to-end with a real SMTP server is in
the SMTP channel's tests.)
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from costguard.model import AlertKind, Message, Severity
from costguard.notifiers.delivery import Backoff, Delivered, DeliveryReport, deliver_due
from costguard.store import NotificationStatus, Store

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
SECOND = timedelta(seconds=1)


class FlakyChannel:
    """Records every message it is asked to send; fails the first `failures` sends."""

    def __init__(self, name: str, failures: int = 0) -> None:
        self.name = name
        self.failures = failures
        self.calls = 0
        self.delivered: list[Message] = []
        self._lock = threading.Lock()

    def send(self, message: Message) -> str | None:
        with self._lock:
            self.calls += 1
            if self.calls <= self.failures:
                raise ConnectionRefusedError(f"{self.name} is down (call {self.calls})")
            self.delivered.append(message)
            return f"<{len(self.delivered)}@{self.name}>"


def _message(key: str, incident_id: int | None = None) -> Message:
    return Message(
        key=key,
        kind=AlertKind.NEW,
        severity=Severity.CRITICAL,
        subject=f"[costguard] {key}",
        text="text",
        html="<p>html</p>",
        incident_id=incident_id,
    )


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/costguard.db"


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    with Store.open(db_url) as opened:
        yield opened


def _enqueue(store: Store, key: str, channel: str = "email", incident_id: int | None = None) -> int:
    message = _message(key, incident_id)
    notification_id = store.enqueue(key=key, channel=channel, message=message, now=T0)
    assert notification_id is not None
    return notification_id


def test_backoff_doubles_from_thirty_seconds_up_to_an_hour_and_never_gives_up() -> None:
    backoff = Backoff()
    delays = [backoff.next_attempt(n, T0) for n in range(1, 21)]
    assert [int((d - T0).total_seconds()) for d in delays[:9]] == [
        30,
        60,
        120,
        240,
        480,
        960,
        1920,
        3600,
        3600,
    ]
    assert delays[18] == delays[19] == T0 + timedelta(hours=1)
    assert backoff.next_attempt(5000, T0) == T0 + timedelta(hours=1)  # two days of an outage
    assert Backoff(max_attempts=3).next_attempt(3, T0) is None  # only when a caller asks


@pytest.mark.parametrize(
    "settings",
    [{"first_s": 0}, {"factor": 0.5}, {"cap_s": 10}, {"max_attempts": 0}],
)
def test_backoff_refuses_settings_that_would_retry_at_once(settings: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Backoff(**settings)  # type: ignore[arg-type]


def test_down_then_up_delivers_once_after_retries_at_the_backoff_times(store: Store) -> None:
    notification_id = _enqueue(store, "incident-1/new", incident_id=1)
    channel = FlakyChannel("email", failures=3)
    channels = {"email": channel}

    first = deliver_due(store, channels, now=T0)
    assert first == DeliveryReport(
        sent=0,
        failed=1,
        errors=(
            "notification 1 (incident-1/new) via email: "
            "ConnectionRefusedError: email is down (call 1)",
        ),
    )
    assert deliver_due(store, channels, now=T0 + 29 * SECOND) == DeliveryReport()
    assert channel.calls == 1
    assert deliver_due(store, channels, now=T0 + 30 * SECOND).failed == 1
    assert deliver_due(store, channels, now=T0 + 89 * SECOND) == DeliveryReport()
    assert deliver_due(store, channels, now=T0 + 90 * SECOND).failed == 1
    up = deliver_due(store, channels, now=T0 + 210 * SECOND)
    assert up == DeliveryReport(
        sent=1,
        delivered=(
            Delivered(
                notification_id=notification_id,
                key="incident-1/new",
                channel="email",
                kind=AlertKind.NEW,
                incident_id=1,
                sent_at=T0 + 210 * SECOND,
                external_id="<1@email>",
            ),
        ),
    )
    assert deliver_due(store, channels, now=T0 + timedelta(days=1)) == DeliveryReport()

    assert channel.delivered == [_message("incident-1/new", incident_id=1)]
    assert channel.calls == 4
    [row] = store.notifications()
    assert (row.status, row.attempts, row.external_id) == (NotificationStatus.SENT, 4, "<1@email>")
    attempts = store.delivery_attempts(notification_id)
    assert [(a.at - T0).total_seconds() for a in attempts] == [0, 30, 90, 210]
    assert [a.ok for a in attempts] == [False, False, False, True]


def test_a_caller_that_limits_attempts_gets_the_message_marked_dead(store: Store) -> None:
    _enqueue(store, "incident-2/new")
    channel = FlakyChannel("email", failures=1_000)
    backoff = Backoff(first_s=10, factor=1, cap_s=10, max_attempts=3)
    reports = [
        deliver_due(store, {"email": channel}, now=T0 + n * 10 * SECOND, backoff=backoff)
        for n in range(5)
    ]
    assert [(r.sent, r.failed, r.gave_up) for r in reports] == [
        (0, 1, 0),
        (0, 1, 0),
        (0, 0, 1),
        (0, 0, 0),
        (0, 0, 0),
    ]
    assert channel.calls == 3
    [row] = store.notifications()
    assert (row.status, row.attempts, row.next_attempt_at) == (NotificationStatus.DEAD, 3, None)
    assert row.last_error == "ConnectionRefusedError: email is down (call 3)"


def test_a_crash_between_enqueue_and_send_still_delivers_exactly_once(db_url: str) -> None:
    with Store.open(db_url) as before_crash:
        _enqueue(before_crash, "incident-3/new")
    channel = FlakyChannel("email")
    with Store.open(db_url) as after_restart:
        assert deliver_due(after_restart, {"email": channel}, now=T0 + SECOND).sent == 1
    with Store.open(db_url) as next_restart:
        assert deliver_due(next_restart, {"email": channel}, now=T0 + 2 * SECOND).sent == 0
    assert channel.delivered == [_message("incident-3/new")]


def test_a_crash_mid_send_is_retried_only_after_the_lease_ends(db_url: str) -> None:
    """A sender that claimed a row and died holds it until its lease runs out, then it is sent."""
    with Store.open(db_url) as crashed:
        _enqueue(crashed, "incident-4/new")
        assert len(crashed.claim_due(now=T0, lease_s=60)) == 1
    channel = FlakyChannel("email")
    with Store.open(db_url) as restarted:
        assert deliver_due(restarted, {"email": channel}, now=T0 + 59 * SECOND).sent == 0
        assert deliver_due(restarted, {"email": channel}, now=T0 + 60 * SECOND).sent == 1
    assert channel.delivered == [_message("incident-4/new")]


def test_delivering_twice_never_resends(store: Store) -> None:
    for n in range(3):
        _enqueue(store, f"incident-{n}/new")
    channel = FlakyChannel("email")
    assert deliver_due(store, {"email": channel}, now=T0).sent == 3
    assert deliver_due(store, {"email": channel}, now=T0 + SECOND).sent == 0
    assert [m.key for m in channel.delivered] == [f"incident-{n}/new" for n in range(3)]


def test_more_rows_than_one_batch_are_all_delivered(store: Store) -> None:
    for n in range(7):
        _enqueue(store, f"k{n}")
    channel = FlakyChannel("email")
    assert deliver_due(store, {"email": channel}, now=T0, batch=3).sent == 7
    assert sorted(m.key for m in channel.delivered) == [f"k{n}" for n in range(7)]


def test_two_stores_delivering_at_once_send_each_message_once(db_url: str) -> None:
    """Two Store objects (as two processes or replicas) drain one outbox concurrently."""
    with Store.open(db_url) as setup:
        for n in range(60):
            _enqueue(setup, f"k{n:02d}")
    channel = FlakyChannel("email")
    reports: list[DeliveryReport] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def deliver() -> None:
        try:
            with Store.open(db_url) as own:
                barrier.wait()
                reports.append(deliver_due(own, {"email": channel}, now=T0, batch=2))
        except BaseException as exc:  # collected and asserted below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert sorted(m.key for m in channel.delivered) == [f"k{n:02d}" for n in range(60)]
    assert sum(r.sent for r in reports) == 60


def test_a_failing_channel_does_not_block_another(store: Store) -> None:
    for n in range(3):
        _enqueue(store, f"incident-{n}/new", channel="tickets")
        _enqueue(store, f"incident-{n}/new", channel="email")
    tickets = FlakyChannel("tickets", failures=1_000)
    email = FlakyChannel("email")
    report = deliver_due(store, {"tickets": tickets, "email": email}, now=T0)
    assert (report.sent, report.failed, report.gave_up) == (3, 3, 0)
    assert [m.key for m in email.delivered] == [f"incident-{n}/new" for n in range(3)]
    assert all(" via tickets: ConnectionRefusedError" in error for error in report.errors)
    pending = store.notifications([NotificationStatus.PENDING])
    assert {n.channel for n in pending} == {"tickets"}


def test_a_channel_missing_from_the_config_is_an_error_not_a_crash(store: Store) -> None:
    _enqueue(store, "incident-5/new", channel="pager")
    _enqueue(store, "incident-5/new", channel="email")
    email = FlakyChannel("email")
    report = deliver_due(store, {"email": email}, now=T0)
    assert (report.sent, report.failed) == (1, 1)
    assert report.errors == (
        "notification 1 (incident-5/new) via pager: "
        "LookupError: no channel named 'pager' is configured",
    )
    [pager] = store.notifications([NotificationStatus.PENDING])
    assert (pager.channel, pager.next_attempt_at) == ("pager", T0 + 30 * SECOND)


def test_later_batches_are_claimed_at_the_real_time_spent(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A slow first batch must not leave the next batch with a lease already expired."""
    clock = [1000.0]
    monkeypatch.setattr("costguard.notifiers.delivery.time.monotonic", lambda: clock[0])

    class SlowChannel(FlakyChannel):
        def send(self, message: Message) -> str | None:
            clock[0] += 100  # each send takes 100 s of real time
            return super().send(message)

    first, second = _enqueue(store, "k1"), _enqueue(store, "k2")
    report = deliver_due(store, {"email": SlowChannel("email")}, now=T0, lease_s=120, batch=1)
    assert report.sent == 2
    assert [a.at for a in store.delivery_attempts(first)] == [T0]
    assert [a.at for a in store.delivery_attempts(second)] == [T0 + 100 * SECOND]


def test_a_row_sent_by_another_sender_after_our_lease_ran_out_is_reported(
    store: Store, db_url: str
) -> None:
    """Our send outlived the lease and another process delivered and marked the row first."""
    notification_id = _enqueue(store, "incident-6/new")

    class OvertakenChannel(FlakyChannel):
        def send(self, message: Message) -> str | None:
            with Store.open(db_url) as other:
                [row] = other.claim_due(now=T0 + 400 * SECOND)
                other.mark_sent(row.id, at=T0 + 401 * SECOND, external_id="<other>")
            return super().send(message)

    report = deliver_due(store, {"email": OvertakenChannel("email")}, now=T0)
    assert (report.sent, report.failed) == (0, 0)
    assert report.errors == (
        f"notification {notification_id} (incident-6/new) via email: "
        f"notification {notification_id} is already sent",
    )
    [row] = store.notifications()
    assert (row.status, row.external_id) == (NotificationStatus.SENT, "<other>")
