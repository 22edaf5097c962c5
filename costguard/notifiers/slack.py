"""Slack through an incoming webhook: one Block Kit message per notification.

The blocks are built with slack-sdk's Block Kit models, which check Slack's limits (a header's
150 characters, a section's 3,000) when the message is built; the list of blocks is cut to
Slack's 50 here. What a responder needs comes first: severity and title, the scope as a list
of resources, the first remediation steps as commands, and the ticket when a ticket channel
has opened one (read from the store at send time, or `ticket_url` in the message's fields).

Every name from AWS goes through `mrkdwn`: `&`, `<` and `>` escaped as Slack documents, so a
tag cannot add a link, a mention (`<!channel>`) or a user ping.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import Field, model_validator

from costguard.model import AlertKind, Message
from costguard.notifiers.channel import THREAD_KEY, Channel, EnvVarName, document_of, utcnow
from costguard.notifiers.http_post import HttpParams, host_of, post_json, secret_url
from costguard.text import short

if TYPE_CHECKING:  # slack-sdk loads when a Slack message is built, never for a scan
    from slack_sdk.models.blocks import Block, SectionBlock

SECTION_MAX = 3000
HEADER_MAX = 150
MAX_BLOCKS = 50
SHOWN_RESOURCES = 20
SHOWN_STEPS = 3
TICKET_URL = "ticket_url"
"""`Message.fields` entry a ticket channel may set to the incident's ticket."""

_TITLES = {
    AlertKind.NEW: "", AlertKind.UPDATE: "Update: ", AlertKind.ESCALATION: "Escalated: ",
    AlertKind.RESOLVED: "Resolved: ", AlertKind.DIGEST: "", AlertKind.REPORT: "",
}


class SlackParams(HttpParams):
    """Settings of a `type: slack` notifier."""

    webhook_url_env: EnvVarName | None = Field(
        None, description="Environment variable holding the incoming webhook URL.")
    webhook_url_file: Path | None = Field(None, description="File holding the webhook URL.")

    @model_validator(mode="after")
    def _needs_url(self) -> SlackParams:
        if not (self.webhook_url_env or self.webhook_url_file):
            raise ValueError("webhook_url_env or webhook_url_file is required")
        return self


def mrkdwn(value: Any, limit: int) -> str:
    """A value as Slack shows it literally: one line, capped, `& < >` escaped (Slack's rule
    for all message text, so plain_text gets it too)."""
    text = short(value, limit)
    escaped = _escape(text)
    while len(escaped) > limit:  # entities made it longer: cut the text, never an entity
        text = short(text[:-1].rstrip("\u2026"), len(text) - 1)
        escaped = _escape(text)
    return escaped


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _section(text: str) -> SectionBlock:
    if len(text) > SECTION_MAX:
        text = text[: SECTION_MAX - 1] + "\u2026"
    from slack_sdk.models.blocks import MarkdownTextObject, SectionBlock

    return SectionBlock(text=MarkdownTextObject(text=text))


def _bullets(title: str, items: Iterable[str], total: int) -> str:
    lines = [f"*{title}*"]
    for item in items:
        line = f"\u2022 {item}"
        if sum(len(x) + 1 for x in lines) + len(line) > SECTION_MAX - 40:
            break
        lines.append(line)
    if total > len(lines) - 1:
        lines.append(f"_and {total - (len(lines) - 1)} more_")
    return "\n".join(lines)


def _steps(actions: Sequence[Mapping[str, Any]]) -> list[str]:
    steps = []
    for action in actions[:SHOWN_STEPS]:
        step = mrkdwn(action.get("text", ""), 300)
        command = action.get("command")
        if command:
            # Code blocks show their content literally; a ``` inside would end the block.
            step += "\n```" + str(command).replace("```", "'''")[:900] + "```"
        steps.append(step)
    return steps


class TicketBook(Protocol):
    """The part of the store a chat channel reads: the tickets a ticket channel opened."""

    def tickets_for(self, incident_key: str) -> list[Any]:
        """Every channel's ticket for one incident."""
        ...


class TicketLinking:
    """A channel whose messages link to the incident's ticket: delivery hands it the store."""

    book: TicketBook | None = None

    def use_book(self, book: TicketBook) -> None:
        """Read tickets from `book` (the store delivery runs on)."""
        self.book = book


def ticket_url(message: Message, book: TicketBook | None) -> str | None:
    """The link to the incident's ticket: given in the message's fields, or the first one a
    ticket channel recorded for the incident (when delivery handed over the store)."""
    given = message.fields.get(TICKET_URL)
    urls = [given] if isinstance(given, str) else []
    if book is not None:
        incident = str(message.fields.get(THREAD_KEY) or message.key)
        urls += [t.url for t in book.tickets_for(incident) if t.url]
    return next((u for u in urls if u.startswith(("https://", "http://"))), None)


def blocks(message: Message, book: TicketBook | None = None) -> list[Block]:
    """The Block Kit blocks for `message`, within Slack's limits."""
    from slack_sdk.models.blocks import (
        ContextBlock,
        DividerBlock,
        HeaderBlock,
        MarkdownTextObject,
    )

    document = document_of(message)
    title = _TITLES.get(message.kind, "") + (document.get("title") or message.subject)
    header = mrkdwn(f"[{str(message.severity).upper()}] {title}", HEADER_MAX)
    out: list[Block] = [HeaderBlock(text=header)]
    summary = mrkdwn(document.get("summary") or message.subject, 1000)
    where = ", ".join(mrkdwn(a, 64) for a in document.get("accounts") or [])
    regions = ", ".join(mrkdwn(r, 64) for r in document.get("regions") or [])
    facts = [summary] + ([f"*Account:* {where}"] if where else []) + (
        [f"*Regions:* {regions}"] if regions else [])
    out.append(_section("\n".join(facts)))
    if not document and message.text:
        # A report or a message stored before incident documents: its text, lines kept.
        lines = (_escape(" ".join(line.split())) for line in message.text.splitlines())
        out.append(_section("\n".join(lines)))
    new = [row for row in document.get("new") or [] if isinstance(row, dict)]
    if new:  # an update leads with what changed, as the email does
        out.append(_section("*New since the last message*\n" + "\n".join(
            f"\u2022 *{mrkdwn(row.get('label'), 40)}:* {mrkdwn(row.get('values'), 600)}"
            for row in new)))
    resources = list(document.get("resources") or [])
    if resources:
        shown = (f"`{mrkdwn(r, 300)}`" for r in resources[:SHOWN_RESOURCES])
        out.append(_section(_bullets("Scope", shown, len(resources))))
    steps = _steps(document.get("actions") or [])
    if steps and message.kind is not AlertKind.RESOLVED:
        out.append(DividerBlock())
        out.append(_section("*First steps*\n" + "\n".join(
            f"{i}. {s}" for i, s in enumerate(steps, 1))))
    ticket = ticket_url(message, book)
    if ticket:
        out.append(_section(f"*Ticket:* <{mrkdwn(ticket, 500)}|{mrkdwn(ticket, 100)}>"))
    context = f"costguard \u00b7 {mrkdwn(message.kind, 20)} \u00b7 `{mrkdwn(message.key, 200)}`"
    out.append(ContextBlock(elements=[MarkdownTextObject(text=context)]))
    return out[:MAX_BLOCKS]


def payload(message: Message, book: TicketBook | None = None) -> dict[str, Any]:
    """The webhook body: Block Kit blocks and the plain `text` notifications fall back to."""
    return {"text": mrkdwn(message.subject, 300),
            "blocks": [block.to_dict() for block in blocks(message, book)]}


class SlackChannel(TicketLinking, Channel):
    """Posts each notification to one Slack channel through its incoming webhook."""

    type = "slack"
    Params = SlackParams
    params: SlackParams

    def __init__(self, name: str, params: SlackParams,
                 env: Mapping[str, str] = os.environ, *,
                 clock: Callable[[], datetime] = utcnow) -> None:
        super().__init__(name, params, env, clock=clock)
        self._url = secret_url(name, "webhook_url", self.secret("webhook_url"))

    def send(self, message: Message) -> str | None:
        """Post the message; Slack answers `ok` and gives no id."""
        post_json(self._url, payload(message, self.book), where=f"slack {host_of(self._url)}",
                  now=self.clock(), timeout_s=self.params.timeout_s)
        return None
