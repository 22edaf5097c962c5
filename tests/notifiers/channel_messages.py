"""The messages the channel tests send: the demo incident's new, update and resolved messages
as the outbox stores them, and one whose every name is hostile."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from costguard.model import AlertKind, Message
from tests.notifiers import demo_incident

RTL = "\u202egnp.exe"
HOSTILE = ("<script>alert(1)</script>\r\nBcc: evil@example.com {{ 7*7 }} {% raw %} "
           f"<!channel> [click](https://evil.example) *bold* `tick` {RTL} " + "x" * 10_000)
"""HTML, CRLF, template syntax, a Slack mention, markdown, right-to-left text, 10,000 chars."""


def messages() -> dict[AlertKind, Message]:
    """NEW, UPDATE and RESOLVED of the demo incident, rendered as the announcer would."""
    notifier = demo_incident.notifier()
    return {
        AlertKind.NEW: notifier.message(demo_incident.new_alert()),
        AlertKind.UPDATE: notifier.message(demo_incident.update_alert()),
        AlertKind.RESOLVED: notifier.message(demo_incident.resolved_alert()),
    }


def hostile_message() -> Message:
    """The demo's new message with every finding's title, resource, tags and user hostile."""
    incident = demo_incident.incident()
    findings = [
        replace(f, title=HOSTILE, resource=f"arn:aws:ec2:::instance/{HOSTILE}",
                details={**f.details, "tags": {HOSTILE: HOSTILE, "Name": HOSTILE},
                         "user": HOSTILE})
        for f in demo_incident.stored()
    ]
    alert = demo_incident.alert(AlertKind.NEW, incident.detected_at + timedelta(seconds=1),
                                findings)
    return demo_incident.notifier().message(replace(alert, title=HOSTILE))
