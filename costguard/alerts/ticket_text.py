"""What a ticket channel files: the title, the description and the comment of one message,
rendered from `templates/<channel type>/` when the message is queued.

Rendering here, not at send time, keeps the outbox's promise that a retry sends exactly what was
first rendered, and lets `costguard validate` try the templates. The text is a neutral markup
(paragraphs, `## ` headings, `- ` bullets, ``` fences) that each channel turns into its
vendor's format (Atlassian Document Format, wiki markup, Markdown, plain text), escaping every
value on the way; every value a template gets is already one line and capped, so a tag cannot
add a heading, a bullet or a fence of its own.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from costguard.alerts.alert import Alert
from costguard.alerts.compose import email_context
from costguard.alerts.render import Renderer
from costguard.model import AlertKind, Message, fingerprint
from costguard.notifiers.channel import THREAD_KEY
from costguard.notifiers.ticket_channel import TICKET, label
from costguard.text import short

RESOURCES_MAX = 100
"""Resources listed in a ticket; the rest are counted (a ticket is not an inventory)."""
COMMANDS_MAX = 10
"""First actions whose commands a ticket shows."""
TITLE_CHARS = 1000
"""A rendered title's cap before each channel cuts it to its vendor's limit."""
RESOURCE_CHARS = 2048
"""An ARN's longest legal length: a longer "resource" is an attacker's string, cut."""


def incident_key(alert: Alert) -> str:
    """The key of the incident's first message: every message of the incident carries it."""
    return alert.key if alert.kind is AlertKind.NEW else str(alert.facts.get(THREAD_KEY) or
                                                             alert.key)


def ticket_context(alert: Alert) -> dict[str, Any]:
    """The email's context plus what a ticket lists: every resource (up to RESOURCES_MAX) and
    the first actions that come with a command."""
    context = email_context(alert)
    shown = sorted(alert.findings, key=lambda f: (-f.severity.rank, f.check, f.resource))
    context.update(
        resources=tuple(
            {"resource": short(f.resource, RESOURCE_CHARS), "severity": str(f.severity).upper(),
             "check": short(f.check), "account": short(f.account), "region": short(f.region),
             "title": short(f.title)}
            for f in shown[:RESOURCES_MAX]),
        more_resources=max(0, len(shown) - RESOURCES_MAX),
        commands=tuple(a for a in alert.actions if a.command)[:COMMANDS_MAX],
        incident_key=incident_key(alert),
    )
    return context


def ticket_fields(alert: Alert, renderer: Renderer, channel_type: str) -> dict[str, Any]:
    """What a ticket channel of `channel_type` reads from the message: the incident's key and
    label, its findings' fingerprints (a recurrence shares one), and the rendered texts. A new
    incident's `comment` is the one a recurrence adds when it reopens an earlier ticket."""
    context = ticket_context(alert)
    key = context["incident_key"]

    def text(name: str) -> str:
        return renderer.render(f"{channel_type}/{name}.txt.j2", context).strip() + "\n"

    return {
        "key": key,
        "label": label(key),
        "fingerprints": sorted({fingerprint(f.check, f.account, f.region, f.resource)
                                for f in alert.findings}),
        "checks": sorted({short(f.check, 40) for f in alert.findings}),
        "title": short(" ".join(renderer.render(f"{channel_type}/title.txt.j2", context).split()),
                       TITLE_CHARS),
        "description": text("description"),
        "comment": text("comment"),
    }


def with_ticket(message: Message, alert: Alert, renderer: Renderer, channel_type: str) -> Message:
    """`message` with the ticket texts for one channel type added to its fields."""
    fields = {**message.fields, TICKET: ticket_fields(alert, renderer, channel_type)}
    return replace(message, fields=fields)
