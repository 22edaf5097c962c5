"""Notification channels by their config `type:`.

Each channel class is imported by name, so a missing or broken channel fails at import and a
duplicate type cannot ship. Adding a channel: one module here, one entry below, its tests.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from costguard.notifiers.apprise_urls import AppriseChannel
from costguard.notifiers.channel import Channel, ChannelParams, DeliveryError, SecretError
from costguard.notifiers.github import GithubChannel
from costguard.notifiers.jira import JiraChannel
from costguard.notifiers.log import LogChannel
from costguard.notifiers.pagerduty import PagerDutyChannel
from costguard.notifiers.servicenow import ServicenowChannel
from costguard.notifiers.ses import SesChannel
from costguard.notifiers.slack import SlackChannel
from costguard.notifiers.smtp import SmtpChannel
from costguard.notifiers.teams import TeamsChannel
from costguard.notifiers.webhook import WebhookChannel


def _by_type(*classes: type[Channel]) -> Mapping[str, type[Channel]]:
    """The type -> class table; two classes claiming one type is a programming error."""
    table: dict[str, type[Channel]] = {}
    for cls in classes:
        if cls.type in table:
            raise RuntimeError(f"notifier type {cls.type!r} defined twice")
        table[cls.type] = cls
    return MappingProxyType(table)


CHANNEL_TYPES: Mapping[str, type[Channel]] = _by_type(
    LogChannel, SmtpChannel, SesChannel, JiraChannel, GithubChannel, ServicenowChannel,
    PagerDutyChannel, SlackChannel, TeamsChannel, WebhookChannel, AppriseChannel,
)
"""Config `type:` value -> channel class."""

__all__ = ["CHANNEL_TYPES", "Channel", "ChannelParams", "DeliveryError", "SecretError"]
