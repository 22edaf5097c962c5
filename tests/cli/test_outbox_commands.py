"""`outbox list [--dead]`, `outbox retry ID` and `notify test NOTIFIER`, on a SQLite store and a
real SMTP server (costguard's demo inbox, aiosmtpd)."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from costguard.cli.main import main
from costguard.demo.inbox import Inbox
from costguard.model import AlertKind, Message, Severity
from costguard.store import Store

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)


def costguard(*args: object) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_config(tmp_path: Path, port: int, extra: str = "") -> Path:
    path = tmp_path / "costguard.yml"
    path.write_text(
        f"database: {{url: 'sqlite:///{tmp_path}/cg.db'}}\n"
        "notifiers:\n"
        f"  security: {{type: smtp, host: 127.0.0.1, port: {port}, security: none,\n"
        "             from: costguard@test.invalid, to: [secops@test.invalid]}\n" + extra)
    return path


def store_of(tmp_path: Path) -> Store:
    return Store.open(f"sqlite:///{tmp_path}/cg.db")


@pytest.fixture
def inbox(tmp_path: Path) -> Iterator[Inbox]:
    with Inbox(tmp_path / "inbox") as server:
        yield server


@pytest.fixture
def stocked(tmp_path: Path) -> Path:
    """Three messages for `security`: 1 sent, 2 failing (retried later), 3 dead."""
    cfg = write_config(tmp_path, closed_port())
    with store_of(tmp_path) as store:
        ids = [store.enqueue(key=f"incident-{n}-new", channel="security", now=T0, message=Message(
            key=f"incident-{n}-new", kind=AlertKind.NEW, severity=Severity.HIGH, subject="s",
            text="t", html="<p>t</p>", incident_id=n)) for n in (1, 2, 3)]
        store.mark_sent(ids[0], at=T0, external_id="<1@test>")
        store.mark_failed(ids[1], at=T0, error="smtp 127.0.0.1:25: connection\nrefused",
                          next_attempt_at=T0 + timedelta(minutes=1))
        store.mark_failed(ids[2], at=T0, error="smtp 127.0.0.1:25: 550 no", next_attempt_at=None)
    return cfg


def rows(result: Result) -> list[list[str]]:
    assert result.exit_code == 0, result.stderr
    return [line.split() for line in result.stdout.splitlines()[1:]]


def test_outbox_list_shows_each_message_state_error_and_next_attempt(stocked):
    listed = costguard("outbox", "list", "-c", stocked)

    assert listed.stdout.splitlines()[0].split() == [
        "ID", "CHANNEL", "KEY", "KIND", "STATUS", "ATTEMPTS", "LAST", "ERROR", "NEXT", "ATTEMPT"]
    assert rows(listed) == [
        ["1", "security", "incident-1-new", "new", "sent", "1", "-"],
        ["2", "security", "incident-2-new", "new", "failing", "1", "smtp", "127.0.0.1:25:",
         "connection", "refused", "2026-11-22", "12:01:00", "UTC"],
        ["3", "security", "incident-3-new", "new", "dead", "1", "smtp", "127.0.0.1:25:", "550",
         "no", "-"],
    ]
    assert [r[0] for r in rows(costguard("outbox", "list", "--dead", "-c", stocked))] == ["3"]


def test_an_empty_outbox_says_so(tmp_path):
    cfg = write_config(tmp_path, closed_port())

    assert costguard("outbox", "list", "-c", cfg).stdout == "the outbox is empty\n"
    assert costguard("outbox", "list", "--dead", "-c", cfg).stdout == "no dead messages\n"


def test_retry_queues_a_dead_message_again_now(stocked, tmp_path):
    before = datetime.now(timezone.utc)

    retried = costguard("outbox", "retry", 3, "-c", stocked)

    assert (retried.exit_code, retried.stdout) == (
        0, "notification 3 via security queued again, due now (after 1 attempt(s))\n")
    assert rows(costguard("outbox", "list", "--dead", "-c", stocked)) == []
    with store_of(tmp_path) as store:
        [again] = [n for n in store.notifications() if n.id == 3]
    assert again.next_attempt_at >= before
    assert rows(costguard("outbox", "list", "-c", stocked))[2][4] == "failing"


@pytest.mark.parametrize(("notification_id", "message"), [
    (9, "no notification with id 9\n"),
    (1, "notification 1 is already sent; nothing to retry\n"),
])
def test_retry_of_an_unknown_or_sent_message_exits_2(stocked, notification_id, message):
    result = costguard("outbox", "retry", notification_id, "-c", stocked)

    assert (result.exit_code, result.stderr) == (2, message)


def test_notify_test_sends_a_sample_through_one_channel_and_stores_nothing(tmp_path, inbox):
    cfg = write_config(tmp_path, inbox.port)

    result = costguard("notify", "test", "security", "-c", cfg)

    assert result.exit_code == 0, result.stderr
    [(_, _, email)] = inbox.messages()
    assert result.stdout == f"sent a sample alert via security: {email['Message-ID']}\n"
    assert "costguard notification test" in email["Subject"]
    assert email["To"] == "secops@test.invalid"
    with store_of(tmp_path) as store:
        assert (store.notifications(), store.list_incidents()) == ([], [])


def test_notify_test_through_a_refusing_server_exits_1_with_the_reason(tmp_path):
    port = closed_port()
    cfg = write_config(tmp_path, port)

    result = costguard("notify", "test", "security", "-c", cfg)

    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == (
        f"costguard: notifier security: send failed: smtp 127.0.0.1:{port}: connection refused\n")


def test_notify_test_of_an_unknown_notifier_or_a_missing_secret_exits_2(tmp_path, monkeypatch):
    monkeypatch.delenv("TEST_SMTP_PASSWORD", raising=False)
    cfg = write_config(tmp_path, closed_port(), extra=(
        "  locked: {type: smtp, host: 127.0.0.1, port: 25, security: none, username: u,\n"
        "           password_env: TEST_SMTP_PASSWORD, from: a@test.invalid, "
        "to: [b@test.invalid]}\n"))

    unknown = costguard("notify", "test", "pager", "-c", cfg)
    locked = costguard("notify", "test", "locked", "-c", cfg)

    assert (unknown.exit_code, unknown.stderr) == (
        2, "costguard: no notifier named 'pager'; configured: locked, security\n")
    assert (locked.exit_code, locked.stderr) == (
        2, "costguard: notifier 'locked': password_env names $TEST_SMTP_PASSWORD, which is "
           "not set\n")


def test_notify_test_without_notifiers_uses_the_log(tmp_path, caplog):
    cfg = tmp_path / "costguard.yml"
    cfg.write_text(f"database: {{url: 'sqlite:///{tmp_path}/cg.db'}}\n")
    caplog.set_level(logging.INFO, logger="costguard.notifications")

    result = costguard("notify", "test", "log", "-c", cfg)

    assert (result.exit_code, result.stdout) == (0, "sent a sample alert via log\n")
    assert "costguard notification test" in caplog.text
