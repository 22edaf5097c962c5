"""The signed webhook (a local receiver recomputes the HMAC over the bytes it read), SES
(SESv2 SendEmail against moto; the raw message moto keeps is parsed back and compared with what
the smtp channel builds) and apprise (a json:// URL at a local server, apprise's JSON shape)."""

from __future__ import annotations

import email
import hashlib
import hmac
import logging
from datetime import datetime, timezone
from email.policy import default
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from pydantic import ValidationError

from costguard.model import AlertKind
from costguard.notifiers.apprise_urls import AppriseChannel, AppriseParams
from costguard.notifiers.channel import DeliveryError, SecretError
from costguard.notifiers.delivery import deliver_due
from costguard.notifiers.ses import SesChannel, SesParams
from costguard.notifiers.smtp import SmtpParams, build_email
from costguard.notifiers.webhook import SIGNATURE_HEADER, WebhookChannel, WebhookParams
from costguard.store import Store
from costguard.store.delivery_stats import DEAD_STATUSES
from tests.notifiers.channel_messages import HOSTILE, hostile_message, messages
from tests.notifiers.vendor_http import Answer, Request, common_problems, vendor_server

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)
SECRET = "whs3cret-shared-between-both-ends"
DOCUMENT_KEYS = {"schema", "key", "incident_key", "incident_id", "kind", "severity", "title",
                 "summary", "created_at", "accounts", "regions", "resources", "findings",
                 "findings_total", "actions", "commands", "remediation", "cost", "subject", "text"}


def signed_document(request: Request) -> list[str]:
    """What the receiver docs/notifiers.md describes accepts: a valid signature, the schema."""
    problems = common_problems(request, "/costguard")
    expected = "sha256=" + hmac.new(SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(request.headers.get(SIGNATURE_HEADER.lower(), ""), expected):
        problems.append("bad signature")
    if not problems:
        missing = DOCUMENT_KEYS - set(request.json())
        problems += [f"missing {k}" for k in sorted(missing)]
    return problems


def webhook(url: str) -> WebhookChannel:
    params = WebhookParams(url=url, secret_env="HOOK_SECRET")
    return WebhookChannel("hook", params, {"HOOK_SECRET": SECRET}, clock=lambda: T0)


def test_the_webhook_posts_the_signed_incident_document() -> None:
    sent = messages()
    ok = Answer(200, b'{"id": "evt-1"}', {"Content-Type": "application/json"})
    with vendor_server(signed_document, ok, "/costguard") as server:
        hook = webhook(server.url)
        ids = [hook.send(sent[k]) for k in (AlertKind.NEW, AlertKind.UPDATE,
                                            AlertKind.RESOLVED)]
    assert server.problems == [] and ids == ["evt-1"] * 3
    new, update, resolved = (r.json() for r in server.requests)
    assert [d["kind"] for d in (new, update, resolved)] == ["new", "update", "resolved"]
    assert new["incident_key"] == update["incident_key"] == resolved["incident_key"] == new["key"]
    assert new["severity"] == "critical" and new["accounts"] and new["resources"]
    assert new["findings"][0]["check"]
    assert any((a["command"] or "").startswith("aws ") for a in new["actions"])
    assert new["commands"] and all(c.startswith("aws ") for c in new["commands"])
    assert "cost_so_far_usd" in new["cost"]
    assert server.requests[0].headers["x-costguard-key"] == new["key"]


def test_a_tampered_body_fails_the_receivers_check() -> None:
    """The server's check is real: the same request with one byte changed is refused."""
    with vendor_server(signed_document, Answer(200), "/costguard") as server:
        webhook(server.url).send(messages()[AlertKind.NEW])
    request = server.requests[0]
    tampered = Request(request.method, request.path, request.headers,
                       request.body.replace(b'"critical"', b'"low"', 1))
    assert signed_document(tampered) == ["bad signature"]


def test_webhook_hostile_names_stay_one_line_and_capped() -> None:
    with vendor_server(signed_document, Answer(204), "/costguard") as server:
        webhook(server.url).send(hostile_message())
    assert server.problems == []
    document = server.requests[0].json()
    for finding in document["findings"]:
        assert len(finding["title"]) <= 300 and "\r" not in finding["title"]
        assert all(len(k) <= 128 and len(v) <= 256 for k, v in finding["tags"].items())
    assert HOSTILE not in server.requests[0].body.decode()


def test_webhook_401_is_dead_and_the_secret_is_nowhere(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with Store.open(f"sqlite:///{tmp_path}/c.db") as store:
        new = messages()[AlertKind.NEW]
        nid = store.enqueue(key=new.key, channel="hook", message=new, now=T0)
        with vendor_server(signed_document, Answer(200), "/costguard") as server, \
                caplog.at_level(logging.DEBUG):
            server.answer(401, f"unauthorized: secret {SECRET} rejected")
            deliver_due(store, {"hook": webhook(server.url)}, now=T0)
        assert [n.id for n in store.notifications(DEAD_STATUSES)] == [nid]
        kept = repr(store.notifications()) + repr(store.delivery_attempts(nid))
        assert "HTTP 401" in kept and SECRET not in kept
    assert SECRET not in caplog.text


@mock_aws
def test_ses_sends_the_smtp_channels_mime_through_sesv2() -> None:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    boto3.client("ses", region_name="eu-west-1").verify_email_identity(
        EmailAddress="costguard@example.com")
    fields = {"from": "costguard@example.com", "to": ["secops@example.com"],
              "cc": ["audit@example.com"]}
    params = SesParams(region="eu-west-1", **fields)
    channel = SesChannel("ses-mail", params, {}, clock=lambda: T0)
    message = messages()[AlertKind.NEW]
    message_id = channel.send(message)
    sent = ses_backends[DEFAULT_ACCOUNT_ID]["eu-west-1"].sent_messages
    assert len(sent) == 1
    received = email.message_from_string(sent[0].raw_data, policy=default)
    built = build_email(message, SmtpParams(host="unused", **fields), T0)
    expected = email.message_from_bytes(built.as_bytes(), policy=default)
    assert received["Message-ID"] == message_id == expected["Message-ID"]
    def headers(mail: Any) -> list[tuple[str, str]]:  # the MIME boundary is random per build
        return [(k, v.split(";")[0]) for k, v in mail.items()]

    assert headers(received) == headers(expected)
    assert [p.get_content() for p in received.walk() if not p.is_multipart()] == [
        p.get_content() for p in expected.walk() if not p.is_multipart()]


@mock_aws
def test_ses_from_an_unverified_sender_is_dead_at_once() -> None:
    params = SesParams(region="eu-west-1", **{"from": "nobody@example.com",
                                              "to": ["secops@example.com"]})
    with pytest.raises(DeliveryError) as failed:
        SesChannel("ses-mail", params, {}).send(messages()[AlertKind.NEW])
    assert failed.value.permanent and "MessageRejected" in str(failed.value)


def apprise_json(request: Request) -> list[str]:
    """apprise's json:// shape: version, title, message, type."""
    problems = common_problems(request, "/notify/t0kenInPath")
    if not problems:
        body = request.json()
        if body.get("version") != "1.0" or body.get("type") not in (
                "info", "success", "warning", "failure"):
            problems.append(f"not apprise's JSON shape: {sorted(body)}")
        if not body.get("title") or not body.get("message"):
            problems.append("title and message are required")
    return problems


def apprise_channel(server: Any) -> AppriseChannel:
    url = server.url.replace("http://", "json://")
    env = {"APPRISE_URLS": f"{url} ,\n"}
    return AppriseChannel("push", AppriseParams(urls_env="APPRISE_URLS"), env)


def test_apprise_delivers_to_a_json_url(caplog: pytest.LogCaptureFixture) -> None:
    sent = messages()
    with vendor_server(apprise_json, Answer(200), "/notify/t0kenInPath") as server, \
            caplog.at_level(logging.DEBUG):
        push = apprise_channel(server)
        for kind in (AlertKind.NEW, AlertKind.UPDATE, AlertKind.RESOLVED):
            push.send(sent[kind])
        push.send(hostile_message())
    assert server.problems == [] and len(server.requests) == 4
    types = [r.json()["type"] for r in server.requests]
    assert types[:3] == ["failure", "failure", "success"]
    assert "t0kenInPath" not in caplog.text


def test_apprise_failure_is_a_retryable_delivery_error(caplog: pytest.LogCaptureFixture) -> None:
    with vendor_server(apprise_json, Answer(200), "/notify/t0kenInPath") as server, \
            caplog.at_level(logging.DEBUG):
        server.answer(500, "down")
        with pytest.raises(DeliveryError) as failed:
            apprise_channel(server).send(messages()[AlertKind.NEW])
    assert not failed.value.permanent and "1 of 1" in str(failed.value)
    assert "t0kenInPath" not in caplog.text + str(failed.value)


def test_apprise_needs_urls_it_knows() -> None:
    with pytest.raises(SecretError, match="URL 1 of 1"):
        AppriseChannel("push", AppriseParams(urls_env="U"), {"U": "nosuchscheme://x"})
    with pytest.raises(ValidationError, match="urls_env or urls_file"):
        AppriseParams()


def test_every_yaml_example_in_the_notifier_docs_is_a_valid_config(tmp_path: Path) -> None:
    import re

    from costguard.runtime.bootstrap import read_config

    docs = Path(__file__).resolve().parents[2] / "docs"
    blocks = re.findall(r"```yaml\n(.*?)```", (docs / "notifiers.md").read_text(), re.DOTALL)
    assert len(blocks) == 6  # smtp+ses, pagerduty, slack, teams, webhook, apprise
    for n, block in enumerate(blocks):
        path = tmp_path / f"example{n}.yml"
        path.write_text(block)
        assert read_config(path, env={}).notifiers, f"example {n} configures no notifier"


def test_apprise_without_the_extra_is_a_validation_error(monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "apprise", None)  # what find_spec sees when not installed
    with pytest.raises(ValidationError, match=r"pip install 'costguard-daemon\[apprise\]'"):
        AppriseParams(urls_env="U")


@pytest.mark.parametrize(("kind", "inline"), [
    ("pagerduty", {"routing_key": "R0ut1ngKeyS3cretR0ut1ngKeyS3cr3t"}),
    ("slack", {"webhook_url": "https://hooks.slack.com/services/T/B/s3cr3tT0ken"}),
    ("teams", {"webhook_url": "https://x.logic.azure.com/workflows/1?sig=s3cr3tT0ken"}),
    ("webhook", {"url": "https://hooks.example.com/cg", "secret": "s3cr3tT0ken"}),
    ("apprise", {"urls": "discord://1/s3cr3tT0ken"}),
])
def test_an_inline_secret_is_refused_without_echoing_it(kind: str, inline: dict[str, str]
                                                        ) -> None:
    from costguard.notifiers import CHANNEL_TYPES

    with pytest.raises(ValidationError) as refused:
        CHANNEL_TYPES[kind].Params.model_validate(inline)
    said = str(refused.value)
    assert "Inline secrets are refused" in said
    assert "s3cr3t" not in said and "S3cret" not in said
