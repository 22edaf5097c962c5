"""`costguard notify test NOTIFIER`: a sample alert through one channel, now.

It goes straight to the channel, not through the outbox: nothing is stored, no incident's state
changes, and a failure is reported to whoever ran the test instead of being retried.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from costguard.alerts.alert import Alert, AlertFinding
from costguard.alerts.compose import build_message
from costguard.alerts.render import Renderer
from costguard.alerts.routing import LOG_CHANNEL
from costguard.model import AlertKind, Message, Severity
from costguard.settings.config import Config

if TYPE_CHECKING:
    from costguard.notifiers.channel import Channel

SAMPLE_ACCOUNT = "123456789012"
SAMPLE_REGION = "us-east-1"


def sample_message(renderer: Renderer, now: datetime) -> Message:
    """A made-up incident of one finding, rendered with the configured templates. Its key is
    unique to the moment, so no mail client drops it as a copy of an earlier test."""
    finding = AlertFinding(
        id=None, policy="notification-test", check="instance_types", severity=Severity.LOW,
        status="open", account=SAMPLE_ACCOUNT, region=SAMPLE_REGION,
        resource=f"arn:aws:ec2:{SAMPLE_REGION}:{SAMPLE_ACCOUNT}:instance/i-0123456789abcdef0",
        title="Sample finding: nothing is wrong, this is a notification test",
        first_seen=now, last_seen=now,
    )
    alert = Alert(
        kind=AlertKind.NEW, key=f"notify-test-{now:%Y%m%dT%H%M%S%f}",
        title="costguard notification test (sample data, no action needed)",
        severity=Severity.LOW, created_at=now, findings=(finding,), accounts=(SAMPLE_ACCOUNT,),
    )
    return build_message(alert, renderer)


def channel_named(config: Config, name: str, env: Mapping[str, str] = os.environ) -> Channel:
    """The configured channel `name`, built alone, so another channel's missing secret cannot
    stop this one's test. LookupError for an unknown name, SecretError for a missing secret."""
    from costguard.notifiers import CHANNEL_TYPES

    if not config.notifiers and name == LOG_CHANNEL:
        log_type = CHANNEL_TYPES[LOG_CHANNEL]
        return log_type(LOG_CHANNEL, log_type.Params(), env)
    if name not in config.notifiers:
        known = ", ".join(sorted(config.notifiers)) or f"none, so use {LOG_CHANNEL!r}"
        raise LookupError(f"no notifier named {name!r}; configured: {known}")
    cls, params = config.notifiers[name]
    return cls(name, params, env)


def send_test(config: Config, name: str, now: datetime,
              env: Mapping[str, str] = os.environ) -> str | None:
    """Send the sample through notifier `name`; returns the id the other side gave it.

    LookupError or SecretError before any send (bad input); any other exception is the send
    failing (DeliveryError, with the channel's one-line reason).
    """
    channel = channel_named(config, name, env)
    return channel.send(sample_message(Renderer(config.template_dirs), now))
