"""Every send is one log line: channel, message key, and sent (with the external id), failed
(with the reason and the next attempt) or dead. Against a real SQLite store."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from costguard.model import AlertKind, Message, Severity
from costguard.notifiers.delivery import Backoff, deliver_due
from costguard.store import Store

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
LOGGER = "costguard.notifiers.delivery"


class Channel:
    """Fails while `down` says so, with a reason that spans two lines."""

    def __init__(self, down: bool) -> None:
        self.name = "email"
        self.down = down

    def send(self, message: Message) -> str | None:
        if self.down:
            raise ConnectionRefusedError("connection refused\nby 127.0.0.1")
        return "<1@test>"


@pytest.fixture
def store(tmp_path: Path):
    with Store.open(f"sqlite:///{tmp_path}/cg.db") as opened:
        message = Message(key="incident-1-new", kind=AlertKind.NEW, severity=Severity.HIGH,
                          subject="s", text="t", html="<p>t</p>")
        opened.enqueue(key=message.key, channel="email", message=message, now=T0)
        yield opened


def lines(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.name == LOGGER]


def test_a_failure_then_a_send_are_one_line_each(store, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    backoff = Backoff(first_s=30)

    deliver_due(store, {"email": Channel(down=True)}, now=T0, backoff=backoff)
    deliver_due(store, {"email": Channel(down=False)}, now=T0 + timedelta(seconds=30),
                backoff=backoff)

    assert lines(caplog) == [
        (logging.WARNING, "notification 1 via email key=incident-1-new: failed: "
                          "ConnectionRefusedError: connection refused by 127.0.0.1; "
                          "next attempt 2024-05-01T12:00:30+00:00"),
        (logging.INFO, "notification 1 via email key=incident-1-new: sent, external id <1@test>"),
    ]


def test_giving_up_is_logged_as_dead(store, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)

    deliver_due(store, {"email": Channel(down=True)}, now=T0, backoff=Backoff(max_attempts=1))

    assert lines(caplog) == [(logging.ERROR, "notification 1 via email key=incident-1-new: "
                              "dead after 1 attempts (it can never succeed; `costguard outbox "
                              "retry 1` tries again): ConnectionRefusedError: connection "
                              "refused by 127.0.0.1")]
