"""Notifications to the log, for installs without notifiers: nothing is lost, just less loud.

One line per message with severity, key and subject (as JSON strings, so an attacker-chosen
subject cannot forge a second log line), and the text body at DEBUG.
"""

from __future__ import annotations

import json
import logging

from costguard.model import Message, Severity
from costguard.notifiers.channel import Channel, ChannelParams

log = logging.getLogger("costguard.notifications")


class LogParams(ChannelParams):
    """Settings of a `type: log` notifier: none; it writes to the log."""


class LogChannel(Channel):
    """Writes each notification to the `costguard.alerts.routing` logger."""

    type = "log"
    Params = LogParams

    def send(self, message: Message) -> str | None:
        """Log the message; high and critical at WARNING so a default log level shows them."""
        level = logging.WARNING if message.severity >= Severity.HIGH else logging.INFO
        fields = {
            "severity": str(message.severity),
            "key": message.key,
            "subject": message.subject,
        }
        log.log(
            level,
            "notification severity=%s key=%s subject=%s",
            fields["severity"],
            _quoted(message.key),
            _quoted(message.subject),
            extra={"notifier": self.name, **fields},
        )
        log.debug("notification key=%s text:\n%s", _quoted(message.key), message.text)
        return None


def _quoted(value: str) -> str:
    """A JSON string: quotes and escaped control characters keep the record on one line."""
    return json.dumps(value, ensure_ascii=False)
