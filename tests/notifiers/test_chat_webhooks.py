"""Slack (Block Kit) and Teams (Adaptive Card) webhooks against local servers that check each
body against the vendor's documented shape and answer as the vendor does.

Slack: POST JSON to the incoming webhook's /services/T/B/TOKEN path; `blocks` at most 50, each a
known type; header text plain_text of at most 150 characters; section text at most 3,000;
context elements at most 10; answers `ok`, or 400 invalid_blocks, 403 invalid_token, 404
no_service, 410 channel_is_archived, 429 with Retry-After. Teams (Workflows webhook): a
`message` whose attachments hold one Adaptive Card (contentType
application/vnd.microsoft.card.adaptive, type AdaptiveCard, version 1.4 or 1.5, a body of known
elements); answers 202.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from costguard.model import AlertKind
from costguard.notifiers.channel import DeliveryError
from costguard.notifiers.delivery import deliver_due
from costguard.notifiers.slack import SlackChannel, SlackParams
from costguard.notifiers.teams import TeamsChannel, TeamsParams
from costguard.store import NotificationStatus, Store
from costguard.store.delivery_stats import DEAD_STATUSES
from tests.notifiers.channel_messages import HOSTILE, hostile_message, messages
from tests.notifiers.vendor_http import Answer, Request, common_problems, vendor_server

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)
SLACK_PATH = "/services/T0AAAAAAA/B0BBBBBBB/sl4ckS3cretT0kenXYZ"
TEAMS_PATH = "/workflows/77aa/triggers/manual/paths/invoke?sig=t3amsS3cretSig"
SLACK_BLOCKS = {"header", "section", "context", "divider", "actions", "image", "rich_text"}
CARD_ELEMENTS = {"TextBlock", "FactSet", "Container", "ColumnSet", "Image", "RichTextBlock"}


def block_kit(request: Request) -> list[str]:
    """What Slack's incoming webhook refuses (as invalid_blocks / invalid_payload)."""
    problems = common_problems(request, SLACK_PATH)
    if problems:
        return problems
    body = request.json()
    blocks = body.get("blocks")
    if not isinstance(body.get("text"), str) or not body["text"]:
        problems.append("text (the notification fallback) is missing")
    if not isinstance(blocks, list) or not 0 < len(blocks) <= 50:
        return [*problems, "blocks must be 1 to 50 blocks"]
    for i, block in enumerate(blocks):
        kind = block.get("type")
        if kind not in SLACK_BLOCKS:
            problems.append(f"blocks[{i}]: unknown type {kind!r}")
        if kind == "header" and (block["text"].get("type") != "plain_text"
                                 or len(block["text"]["text"]) > 150):
            problems.append(f"blocks[{i}]: header must be plain_text of at most 150")
        if kind == "section":
            text = block.get("text") or {}
            if text.get("type") not in ("mrkdwn", "plain_text") or not text.get("text"):
                problems.append(f"blocks[{i}]: section text missing")
            elif len(text["text"]) > 3000:
                problems.append(f"blocks[{i}]: section text over 3000 characters")
        if kind == "context" and not 0 < len(block.get("elements") or []) <= 10:
            problems.append(f"blocks[{i}]: context needs 1 to 10 elements")
    return problems


def adaptive_card(request: Request) -> list[str]:
    """What a Teams Workflows webhook refuses."""
    problems = common_problems(request, TEAMS_PATH)
    if problems:
        return problems
    body = request.json()
    if body.get("type") != "message":
        problems.append("type must be message")
    attachments = body.get("attachments")
    if not isinstance(attachments, list) or len(attachments) != 1:
        return [*problems, "one attachment expected"]
    attachment = attachments[0]
    if attachment.get("contentType") != "application/vnd.microsoft.card.adaptive":
        problems.append(f"contentType {attachment.get('contentType')!r}")
    card = attachment.get("content") or {}
    if card.get("type") != "AdaptiveCard" or card.get("version") not in ("1.4", "1.5"):
        problems.append("content must be an AdaptiveCard of version 1.4 or 1.5")
    for i, element in enumerate(card.get("body") or []):
        if element.get("type") not in CARD_ELEMENTS:
            problems.append(f"body[{i}]: unknown element {element.get('type')!r}")
        if element.get("type") == "TextBlock" and not isinstance(element.get("text"), str):
            problems.append(f"body[{i}]: TextBlock without text")
        if element.get("type") == "FactSet":
            for fact in element.get("facts") or []:
                if set(fact) != {"title", "value"}:
                    problems.append(f"body[{i}]: a fact is title and value")
    if len(request.body) > 28 * 1024:
        problems.append("card over Teams' 28 KB message limit")
    return problems


SLACK_OK = Answer(200, b"ok", {"Content-Type": "text/html"})
TEAMS_OK = Answer(202, b"")


def slack(url: str) -> SlackChannel:
    return SlackChannel("chat", SlackParams(webhook_url_env="SLACK_URL"), {"SLACK_URL": url},
                        clock=lambda: T0)


def teams(url: str) -> TeamsChannel:
    return TeamsChannel("teams", TeamsParams(webhook_url_env="TEAMS_URL"), {"TEAMS_URL": url},
                        clock=lambda: T0)


def _all_text(body: Any) -> str:
    return json.dumps(body, ensure_ascii=False)


def test_slack_gets_valid_block_kit_for_new_update_and_resolved() -> None:
    sent = messages()
    with vendor_server(block_kit, SLACK_OK, SLACK_PATH) as server:
        chat = slack(server.url)
        for kind in (AlertKind.NEW, AlertKind.UPDATE, AlertKind.RESOLVED):
            assert chat.send(sent[kind]) is None
    assert server.problems == [] and len(server.requests) == 3
    new = server.requests[0].json()
    sections = [b["text"]["text"] for b in new["blocks"] if b["type"] == "section"]
    scope = next(s for s in sections if s.startswith("*Scope*"))
    assert ":instance/i-" in scope, "the scope lists the incident's instances"
    steps = next(s for s in sections if s.startswith("*First steps*"))
    assert "```aws " in steps, "the first step is a runnable command"


def test_slack_shows_the_ticket_when_a_ticket_channel_opened_one() -> None:
    from dataclasses import replace

    message = messages()[AlertKind.NEW]
    ticketed = replace(message, fields={**message.fields,
                                        "ticket_url": "https://acme.atlassian.net/browse/SEC-1"})
    with vendor_server(block_kit, SLACK_OK, SLACK_PATH) as server:
        slack(server.url).send(ticketed)
    assert "<https://acme.atlassian.net/browse/SEC-1|" in server.requests[0].body.decode()


def test_teams_gets_a_valid_adaptive_card_for_new_update_and_resolved() -> None:
    sent = messages()
    with vendor_server(adaptive_card, TEAMS_OK, TEAMS_PATH) as server:
        channel = teams(server.url)
        for kind in (AlertKind.NEW, AlertKind.UPDATE, AlertKind.RESOLVED):
            channel.send(sent[kind])
    assert server.problems == [] and len(server.requests) == 3
    card = server.requests[0].json()["attachments"][0]["content"]
    texts = [e.get("text", "") for e in card["body"]]
    assert "Scope" in texts and "First steps" in texts


@pytest.mark.parametrize("make, check, path, ok", [
    (slack, block_kit, SLACK_PATH, SLACK_OK), (teams, adaptive_card, TEAMS_PATH, TEAMS_OK)])
def test_hostile_names_arrive_inert(make: Any, check: Any, path: str, ok: Answer) -> None:
    with vendor_server(check, ok, path) as server:
        make(server.url).send(hostile_message())
    assert server.problems == []
    body = server.requests[0].body.decode()
    assert HOSTILE not in body, "the 10,000-character name is capped"
    assert "<script>" not in body and "<!channel>" not in body
    assert "\\r\\n" not in body, "no line break from a name survives"
    assert "\u202e" not in body, "right-to-left overrides are shown as code points"
    if make is teams:
        assert "[click](https" not in body, "card markdown cannot make a link"


@pytest.mark.parametrize("status, said, dead", [
    (404, "no_service", True), (403, "invalid_token", True), (410, "channel_is_archived", True),
    (400, "invalid_blocks", True), (500, "rollup_error", False)])
def test_slack_errors_are_dead_or_retried_and_never_show_the_url(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, status: int, said: str,
        dead: bool) -> None:
    with Store.open(f"sqlite:///{tmp_path}/c.db") as store:
        new = messages()[AlertKind.NEW]
        nid = store.enqueue(key=new.key, channel="chat", message=new, now=T0)
        with vendor_server(block_kit, SLACK_OK, SLACK_PATH) as server, caplog.at_level(
                logging.DEBUG):
            server.answer(status, said)
            deliver_due(store, {"chat": slack(server.url)}, now=T0)
        assert [n.id for n in store.notifications(DEAD_STATUSES)] == ([nid] if dead else [])
        row = store.notifications()[0]
        assert said in (row.last_error or "")
        assert "sl4ckS3cret" not in repr(row) + repr(store.delivery_attempts(nid))
    assert "sl4ckS3cret" not in caplog.text and "B0BBBBBBB" not in caplog.text


def test_teams_429_retry_after_holds_only_that_channel(tmp_path: Path) -> None:
    """Teams throttles: its second message waits with it, unattempted; Slack, due at the same
    time, still delivers both of its messages in the same run."""
    sent = messages()
    with Store.open(f"sqlite:///{tmp_path}/c.db") as store:
        for kind in (AlertKind.NEW, AlertKind.UPDATE):
            for name in ("teams", "chat"):
                store.enqueue(key=sent[kind].key, channel=name, message=sent[kind], now=T0)
        with vendor_server(adaptive_card, TEAMS_OK, TEAMS_PATH) as t_server, vendor_server(
                block_kit, SLACK_OK, SLACK_PATH) as s_server:
            t_server.answer(429, "Too many requests", {"Retry-After": "600"})
            report = deliver_due(store, {"teams": teams(t_server.url),
                                         "chat": slack(s_server.url)}, now=T0)
        assert report.sent == 2 and len(s_server.requests) == 2
        assert len(t_server.requests) == 1, "the throttled channel is not asked again"
        held = [n for n in store.notifications() if n.channel == "teams"]
        assert {n.status for n in held} == {NotificationStatus.PENDING}
        assert held[0].next_attempt_at == T0 + timedelta(seconds=600)
        assert [n.attempts for n in held] == [1, 0], "the update waits for the alert (in order)"
        later = deliver_due(store, {"teams": teams(t_server.url), "chat": slack(s_server.url)},
                            now=T0 + timedelta(seconds=60))
        assert (later.sent, later.failed) == (0, 0), "nothing due before Retry-After"


def test_a_timeout_is_a_retryable_failure_naming_only_the_host() -> None:
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()  # accepts, never answers
    port = listener.getsockname()[1]
    params = SlackParams(webhook_url_env="U", timeout_s=0.2)
    chat = SlackChannel("chat", params, {"U": f"http://127.0.0.1:{port}{SLACK_PATH}"})
    try:
        with pytest.raises(DeliveryError) as failed:
            chat.send(messages()[AlertKind.NEW])
    finally:
        listener.close()
    assert not failed.value.permanent
    assert "sl4ckS3cret" not in str(failed.value) and "127.0.0.1" in str(failed.value)


def test_slack_and_teams_link_the_ticket_a_ticket_channel_recorded(tmp_path: Path) -> None:
    """Delivery hands chat channels the store; they read the incident's ticket at send time."""
    from costguard.store.tickets import TicketState

    resolved = messages()[AlertKind.RESOLVED]
    incident = resolved.fields["thread_key"]
    url = "https://acme.atlassian.net/browse/SEC-7"
    with Store.open(f"sqlite:///{tmp_path}/c.db") as store:
        ticket = store.begin_ticket(channel="tickets", incident_key=incident, incident_id=1,
                                    fingerprints=(), at=T0)
        store.record_ticket(ticket.id, at=T0, state=TicketState.OPEN, external_key="SEC-7",
                            url=url)
        for name in ("chat", "teams"):
            store.enqueue(key=resolved.key, channel=name, message=resolved, now=T0)
        with vendor_server(block_kit, SLACK_OK, SLACK_PATH) as s_server, vendor_server(
                adaptive_card, TEAMS_OK, TEAMS_PATH) as t_server:
            deliver_due(store, {"chat": slack(s_server.url), "teams": teams(t_server.url)},
                        now=T0)
    assert s_server.problems == [] and t_server.problems == []
    assert f"<{url}|{url}>" in s_server.requests[0].body.decode()
    card = t_server.requests[0].json()["attachments"][0]["content"]
    assert card["actions"] == [{"type": "Action.OpenUrl", "title": "Open the ticket", "url": url}]
