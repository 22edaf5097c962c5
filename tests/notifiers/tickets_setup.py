"""Building ticket channels against the local vendor stand-ins, and the messages a real cycle
queues for them (rendered with the shipped templates through `alerts.ticket_text`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from costguard.alerts.alert import Alert, AlertFinding
from costguard.alerts.compose import build_message
from costguard.alerts.render import Renderer
from costguard.alerts.ticket_text import with_ticket
from costguard.model import AlertKind, Message, Severity
from costguard.notifiers import CHANNEL_TYPES
from costguard.notifiers.ticket_channel import TicketChannel
from tests.notifiers.ticket_vendors import GitHub, Jira, ServiceNow, Vendor

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
ACCOUNT = "111122223333"
ENV_NAME = "TICKET_SECRET"


@dataclass(frozen=True)
class Flavour:
    """One ticket system: its stand-in and the config that reaches it."""

    name: str
    channel_type: str
    vendor: Callable[[], Vendor]
    config: Callable[[str], dict[str, Any]]
    secret: Callable[[Vendor], str]


FLAVOURS = (
    Flavour("jira-cloud", "jira", lambda: Jira(version=3),
            lambda url: {"url": url, "api_version": 3, "project": "SEC", "user": "bot@example.com",
                         "token_env": ENV_NAME, "components": ["security"],
                         "custom_fields": {"customfield_10010": "costguard"}},
            lambda v: v.token),  # type: ignore[attr-defined]
    Flavour("jira-dc", "jira", lambda: Jira(version=2),
            lambda url: {"url": url, "api_version": 2, "project": "SEC", "token_env": ENV_NAME},
            lambda v: v.token),  # type: ignore[attr-defined]
    Flavour("github", "github", GitHub,
            lambda url: {"repo": "acme/security", "api_url": url, "token_env": ENV_NAME},
            lambda v: v.token),  # type: ignore[attr-defined]
    Flavour("servicenow", "servicenow", ServiceNow,
            lambda url: {"instance_url": url, "user": "costguard", "password_env": ENV_NAME},
            lambda v: v.password),  # type: ignore[attr-defined]
)


def channel(flavour: Flavour, vendor: Vendor, url: str, clock: Callable[[], datetime] = lambda: T0,
            **extra: Any) -> TicketChannel:
    """A fresh channel object, as a restarted process builds it."""
    cls = CHANNEL_TYPES[flavour.channel_type]
    params = cls.Params.model_validate({**flavour.config(url), **extra})
    built = cls("tickets", params, {ENV_NAME: flavour.secret(vendor)}, clock=clock)
    assert isinstance(built, TicketChannel)
    return built


def finding(resource: str, *, check: str = "open_admin_ports", title: str = "SSH open to the "
            "world", severity: Severity = Severity.HIGH, fid: int = 1) -> AlertFinding:
    return AlertFinding(id=fid, policy="p", check=check, severity=severity, status="open",
                        account=ACCOUNT, region="us-east-1", resource=resource, title=title,
                        first_seen=T0, last_seen=T0)


def message(kind: AlertKind, incident_id: int, findings: tuple[AlertFinding, ...],
            channel_type: str, at: datetime = T0, detected: datetime = T0,
            scope: dict[str, Any] | None = None, title: str = "Admin ports open to the world",
            severity: Severity = Severity.HIGH, **facts: Any) -> Message:
    """The message a cycle queues for a ticket channel (keys as `incidents.announcer` makes)."""
    stamp = f"incident-{incident_id}-{detected:%Y%m%dT%H%M%S}"
    if kind is not AlertKind.NEW:
        facts["thread_key"] = f"{stamp}-new"
    alert = Alert(kind=kind, key=f"{stamp}-{kind.value}", title=title,
                  severity=severity, created_at=at, findings=findings,
                  incident_id=incident_id, accounts=(ACCOUNT,), facts=facts,
                  scope=scope or {})
    renderer = Renderer()
    return with_ticket(build_message(alert, renderer), alert, renderer, channel_type)
