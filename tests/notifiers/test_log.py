"""The log channel: what an install without notifiers gets, one parseable line per message."""

from __future__ import annotations

import json
import logging

import pytest
from pydantic import ValidationError

from costguard.model import AlertKind, Message, Severity
from costguard.notifiers import CHANNEL_TYPES
from costguard.notifiers.log import LogChannel, LogParams


def message(severity: Severity, subject: str = "[costguard] HIGH: open SSH") -> Message:
    """A stored message as the outbox hands it to a channel."""
    return Message(
        key="incident:3:new",
        kind=AlertKind.NEW,
        severity=severity,
        subject=subject,
        text="Line one.\nLine two.\n",
        html="<p>unused</p>",
        incident_id=3,
    )


def send(msg: Message, caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """Send through the log channel; the records it wrote, DEBUG included."""
    with caplog.at_level(logging.DEBUG, logger="costguard.notifications"):
        result = LogChannel("log", LogParams()).send(msg)
    assert result is None
    return [r for r in caplog.records if r.name == "costguard.notifications"]


@pytest.mark.parametrize(
    ("severity", "level"),
    [
        (Severity.CRITICAL, logging.WARNING),
        (Severity.HIGH, logging.WARNING),
        (Severity.MEDIUM, logging.INFO),
        (Severity.INFO, logging.INFO),
    ],
)
def test_one_line_with_severity_key_and_subject_then_the_body_at_debug(caplog, severity, level):
    summary, body = send(message(severity), caplog)

    assert (summary.levelno, summary.getMessage()) == (
        level,
        f'notification severity={severity} key="incident:3:new" '
        'subject="[costguard] HIGH: open SSH"',
    )
    assert (summary.severity, summary.key, summary.subject, summary.notifier) == (
        str(severity), "incident:3:new", "[costguard] HIGH: open SSH", "log",
    )
    assert (body.levelno, body.getMessage()) == (
        logging.DEBUG,
        'notification key="incident:3:new" text:\nLine one.\nLine two.\n',
    )


def test_a_hostile_subject_cannot_forge_a_second_log_line(caplog):
    hostile = 'x"\nERROR forged line <script>'
    summary, _ = send(message(Severity.LOW, hostile), caplog)

    line = summary.getMessage()
    assert "\n" not in line
    assert line.endswith("subject=" + json.dumps(hostile, ensure_ascii=False))


def test_log_is_registered_and_takes_no_settings():
    assert CHANNEL_TYPES["log"] is LogChannel
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        LogParams.model_validate({"level": "debug"})
