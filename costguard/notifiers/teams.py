"""Microsoft Teams through a Workflows (or classic incoming) webhook: one Adaptive Card each.

The body is the shape Teams documents for webhooks: a `message` whose one attachment has
content type `application/vnd.microsoft.card.adaptive` and an Adaptive Card 1.4 as content
(1.4 is what every Teams client renders). A card holds the title, the facts (account,
regions, severity), the scope as a list of resources and the first steps.

Adaptive Card text is markdown: every name from AWS has the markdown characters escaped with
a backslash, so a tag cannot add a link or change the card's emphasis.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from costguard.model import AlertKind, Message, Severity
from costguard.notifiers.channel import Channel, EnvVarName, document_of, utcnow
from costguard.notifiers.http_post import HttpParams, host_of, post_json, secret_url
from costguard.notifiers.slack import TicketBook, TicketLinking, ticket_url
from costguard.text import short

CARD_TYPE = "application/vnd.microsoft.card.adaptive"
CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
CARD_VERSION = "1.4"
SHOWN_RESOURCES = 20
SHOWN_STEPS = 3

_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!<>|~])")
_COLORS = {Severity.CRITICAL: "attention", Severity.HIGH: "attention",
           Severity.MEDIUM: "warning", Severity.LOW: "accent", Severity.INFO: "default"}
_TITLES = {AlertKind.UPDATE: "Update: ", AlertKind.ESCALATION: "Escalated: ",
           AlertKind.RESOLVED: "Resolved: "}


class TeamsParams(HttpParams):
    """Settings of a `type: teams` notifier."""

    webhook_url_env: EnvVarName | None = Field(
        None, description="Environment variable holding the Workflows webhook URL.")
    webhook_url_file: Path | None = Field(None, description="File holding the webhook URL.")

    @model_validator(mode="after")
    def _needs_url(self) -> TeamsParams:
        if not (self.webhook_url_env or self.webhook_url_file):
            raise ValueError("webhook_url_env or webhook_url_file is required")
        return self


def literal(value: Any, limit: int) -> str:
    """A value as card markdown shows it literally: one line, capped, markdown escaped."""
    return _MARKDOWN.sub(r"\\\1", short(value, limit))


def _text(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "wrap": True, **style}


def card(message: Message, book: TicketBook | None = None) -> dict[str, Any]:
    """The Adaptive Card for `message`; a button to the incident's ticket when there is one."""
    document = document_of(message)
    title = _TITLES.get(message.kind, "") + str(document.get("title") or message.subject)
    body: list[dict[str, Any]] = [
        _text(literal(title, 300), size="Large", weight="Bolder",
              color=_COLORS[message.severity], style="heading"),
        _text(literal(document.get("summary") or message.subject, 1000)),
        {"type": "FactSet", "facts": [
            {"title": "Severity", "value": str(message.severity).upper()},
            {"title": "Account", "value": literal(", ".join(document.get("accounts") or []) or
                                                  "-", 300)},
            {"title": "Regions", "value": literal(", ".join(document.get("regions") or []) or
                                                  "-", 300)},
            {"title": "Key", "value": literal(message.key, 200)},
        ]},
    ]
    if not document and message.text:
        # A report or a message stored before incident documents: its text, lines kept.
        lines = [literal(line, 500) for line in message.text.splitlines()[:100]]
        body.append(_text("\n\n".join(line for line in lines if line)))
    new = [row for row in document.get("new") or [] if isinstance(row, dict)]
    if new:  # an update leads with what changed, as the email does
        body.append(_text("New since the last message", weight="Bolder"))
        body.append({"type": "FactSet", "facts": [
            {"title": literal(row.get("label"), 40), "value": literal(row.get("values"), 600)}
            for row in new]})
    resources = list(document.get("resources") or [])
    if resources:
        body.append(_text("Scope", weight="Bolder"))
        listed = "\n".join(f"- {literal(r, 300)}" for r in resources[:SHOWN_RESOURCES])
        more = len(resources) - SHOWN_RESOURCES
        body.append(_text(listed + (f"\n\n\\.\\.\\. and {more} more" if more > 0 else "")))
    actions = list(document.get("actions") or [])[:SHOWN_STEPS]
    if actions and message.kind is not AlertKind.RESOLVED:
        body.append(_text("First steps", weight="Bolder"))
        for i, action in enumerate(actions, 1):
            body.append(_text(f"{i}\\. {literal(action.get('text', ''), 300)}"))
            if action.get("command"):
                body.append(_text(literal(action["command"], 900), fontType="Monospace"))
    content = {"$schema": CARD_SCHEMA, "type": "AdaptiveCard", "version": CARD_VERSION,
               "body": body, "msteams": {"width": "Full"}}
    ticket = ticket_url(message, book)
    if ticket:
        content["actions"] = [{"type": "Action.OpenUrl", "title": "Open the ticket",
                               "url": ticket}]
    return content


def payload(message: Message, book: TicketBook | None = None) -> dict[str, Any]:
    """The webhook body: a message with the card as its one attachment."""
    return {"type": "message", "attachments": [
        {"contentType": CARD_TYPE, "contentUrl": None, "content": card(message, book)}]}


class TeamsChannel(TicketLinking, Channel):
    """Posts each notification as an Adaptive Card to a Teams channel's webhook."""

    type = "teams"
    Params = TeamsParams
    params: TeamsParams

    def __init__(self, name: str, params: TeamsParams,
                 env: Mapping[str, str] = os.environ, *,
                 clock: Callable[[], datetime] = utcnow) -> None:
        super().__init__(name, params, env, clock=clock)
        self._url = secret_url(name, "webhook_url", self.secret("webhook_url"))

    def send(self, message: Message) -> str | None:
        """Post the card; a Workflows webhook answers 202 and gives no id."""
        post_json(self._url, payload(message, self.book), where=f"teams {host_of(self._url)}",
                  now=self.clock(), timeout_s=self.params.timeout_s)
        return None
