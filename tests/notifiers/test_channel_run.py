"""One incident's life (new, update, resolved) through every channel at once, via the outbox:
how many requests each vendor sees, with and without a throttled first answer."""

from __future__ import annotations

import json
from contextlib import ExitStack
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import boto3
from moto import mock_aws

from costguard.model import AlertKind
from costguard.notifiers.apprise_urls import AppriseChannel, AppriseParams
from costguard.notifiers.delivery import deliver_due
from costguard.notifiers.ses import SesChannel, SesParams
from costguard.store import NotificationStatus, Store
from tests.notifiers import test_chat_webhooks as chat
from tests.notifiers import test_pagerduty as pd
from tests.notifiers import test_webhook_ses_apprise as other
from tests.notifiers.channel_messages import messages
from tests.notifiers.vendor_http import Answer, vendor_server

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)
KINDS = (AlertKind.NEW, AlertKind.UPDATE, AlertKind.RESOLVED)


def _servers(stack: ExitStack) -> dict[str, Any]:
    return {
        "pager": stack.enter_context(vendor_server(pd.events_v2, pd.SUCCESS, "/v2/enqueue")),
        "chat": stack.enter_context(vendor_server(chat.block_kit, chat.SLACK_OK,
                                                  chat.SLACK_PATH)),
        "teams": stack.enter_context(vendor_server(chat.adaptive_card, chat.TEAMS_OK,
                                                   chat.TEAMS_PATH)),
        "hook": stack.enter_context(vendor_server(other.signed_document, Answer(200),
                                                  "/costguard")),
        "push": stack.enter_context(vendor_server(other.apprise_json, Answer(200),
                                                  "/notify/t0kenInPath")),
    }


def _channels(servers: dict[str, Any]) -> dict[str, Any]:
    boto3.client("ses", region_name="us-east-1").verify_email_identity(
        EmailAddress="costguard@example.com")
    ses = SesParams(region="us-east-1", **{"from": "costguard@example.com",
                                           "to": ["secops@example.com"]})
    push_env = {"U": servers["push"].url.replace("http://", "json://")}
    return {
        "pager": pd.channel(servers["pager"].url),
        "chat": chat.slack(servers["chat"].url),
        "teams": chat.teams(servers["teams"].url),
        "hook": other.webhook(servers["hook"].url),
        "push": AppriseChannel("push", AppriseParams(urls_env="U"), push_env),
        "ses-mail": SesChannel("ses-mail", ses, {}, clock=lambda: T0),
    }


def _run(tmp_path: Path, throttle_first: bool) -> tuple[dict[str, int], int]:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    sent = messages()
    with ExitStack() as stack, Store.open(f"sqlite:///{tmp_path}/run.db") as store:
        servers = _servers(stack)
        channels = _channels(servers)
        if throttle_first:
            for server in servers.values():
                server.answer(429 if server is not servers["push"] else 503, "slow down",
                              {"Retry-After": "60"})
        now = T0
        for kind in KINDS:
            for name in channels:
                store.enqueue(key=sent[kind].key, channel=name, message=sent[kind], now=now)
        for _ in range(3):  # now, then after Retry-After, then once more: nothing left
            deliver_due(store, channels, now=now)
            now += timedelta(seconds=61)
        assert {n.status for n in store.notifications()} == {NotificationStatus.SENT}
        assert all(s.problems == [] for s in servers.values())
        counts = {name: len(server.requests) for name, server in servers.items()}
        counts["ses-mail"] = len(ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages)
        attempts = sum(n.attempts for n in store.notifications())
    print(json.dumps({"throttled_first": throttle_first, "requests": counts,
                      "attempts": attempts}))
    return counts, attempts


@mock_aws
def test_one_request_per_message_per_channel(tmp_path: Path) -> None:
    counts, attempts = _run(tmp_path, throttle_first=False)
    assert counts == {"pager": 3, "chat": 3, "teams": 3, "hook": 3, "push": 3, "ses-mail": 3}
    assert attempts == 18


@mock_aws
def test_a_throttled_first_answer_costs_each_channel_one_request_more(tmp_path: Path) -> None:
    """Every HTTP channel answers its first request 429/503 with Retry-After: 60. The other two
    messages of that channel wait with it unattempted; after a minute all three go."""
    counts, attempts = _run(tmp_path, throttle_first=True)
    assert counts == {"pager": 4, "chat": 4, "teams": 4, "hook": 4, "push": 4, "ses-mail": 3}
    assert attempts == 18 + 5
