"""Ticket channels when the vendor says no, and when names are hostile.

Failures are one-line DeliveryErrors the outbox records and retries (429 carries Retry-After);
no secret reaches an error, a log line or a stored payload; attacker-chosen strings arrive in
every system escaped for it, on one line where a line is expected, and within its limits.
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from costguard.model import AlertKind
from costguard.notifiers.channel import DeliveryError
from costguard.notifiers.delivery import deliver_due
from costguard.store import Store
from tests.notifiers.ticket_vendors import serving
from tests.notifiers.tickets_setup import FLAVOURS, T0, Flavour, channel, finding, message

IDS = [f.name for f in FLAVOURS]
SG = "arn:aws:ec2:us-east-1:111122223333:security-group/sg-0abc"


@pytest.mark.parametrize("flavour", FLAVOURS, ids=IDS)
@pytest.mark.parametrize(("status", "headers", "words"), [
    (401, {}, "401 Unauthorized (check the credentials)"),
    (404, {}, "404 Not Found (check the URL, project or repository)"),
    (429, {"Retry-After": "120"}, "429 Too Many Requests"),
    (503, {"Retry-After": "Tue, 01 Dec 2026 10:00:30 GMT"}, "503 Service Unavailable"),
    (500, {}, "500 Internal Server Error"),
])
def test_a_refusal_is_one_line_with_its_reason_and_wait(
        flavour: Flavour, status: int, headers: dict[str, str], words: str) -> None:
    vendor = flavour.vendor()
    new = message(AlertKind.NEW, 1, (finding(SG),), flavour.channel_type)
    with serving(vendor) as url:
        chan = channel(flavour, vendor, url)
        vendor.fail_next(status, headers)
        with pytest.raises(DeliveryError) as caught:
            chan.send(new)
    reason = str(caught.value)
    assert words in reason and "\n" not in reason
    assert "injected" in reason  # the vendor's own words are kept
    expected = {429: 120.0, 503: 30.0}.get(status)
    assert caught.value.retry_after_s == expected
    assert flavour.secret(vendor) not in reason


def test_real_bad_credentials_are_refused_by_the_stand_in_and_named() -> None:
    """Not injected: the stand-in checks the header, so a wrong token really fails."""
    for flavour in FLAVOURS:
        vendor = flavour.vendor()
        with serving(vendor) as url:
            chan = channel(flavour, vendor, url)
            chan._secrets.clear()
            chan.client().headers["Authorization"] = "Bearer wrong"
            chan.client().auth = None
            with pytest.raises(DeliveryError, match="401"):
                chan.send(message(AlertKind.NEW, 1, (finding(SG),), flavour.channel_type))


def test_an_unreachable_vendor_and_a_slow_one_are_delivery_errors() -> None:
    flavour = FLAVOURS[2]
    vendor = flavour.vendor()
    chan = channel(flavour, vendor, "http://127.0.0.1:9")
    with pytest.raises(DeliveryError, match="ConnectError"):
        chan.send(message(AlertKind.NEW, 1, (finding(SG),), "github"))


@pytest.mark.parametrize("flavour", FLAVOURS, ids=IDS)
def test_secrets_never_reach_logs_errors_or_the_outbox(
        flavour: Flavour, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A vendor that echoes the credentials in its error still gets them redacted."""
    vendor = flavour.vendor()
    secret = flavour.secret(vendor)
    new = message(AlertKind.NEW, 1, (finding(SG),), flavour.channel_type)
    caplog.set_level(logging.DEBUG)
    with serving(vendor) as url, Store.open(f"sqlite:///{tmp_path}/cg.db") as store:
        store.enqueue(key=new.key, channel="tickets", message=new, now=T0)
        chan = channel(flavour, vendor, url)
        echoed: Any = {"message": f"token {secret} is not valid",
                       "errorMessages": [f"bad {secret}"],
                       "error": {"message": f"bad {secret}"}}
        vendor.fail_next(500, {}, echoed)
        report = deliver_due(store, {"tickets": chan}, now=T0)
        assert report.failed == 1
        assert deliver_due(store, {"tickets": chan}, now=T0 + timedelta(hours=1)).sent == 1
        stored = [str(n) for n in store.notifications()]
        attempts = [str(a) for n in store.notifications() for a in store.delivery_attempts(n.id)]
    assert "redacted" in " ".join(report.errors)
    for text in (*report.errors, caplog.text, *stored, *attempts):
        assert secret not in text
    assert any(secret in h or h.startswith("Basic ") for h in vendor.seen_auth)


HOSTILE = {
    "html": '<script>alert(1)</script><img src=x onerror=alert(2)>',
    "crlf": "web\r\nBcc: evil@example.com\r\n\r\n## Injected heading\n- injected bullet",
    "jinja": "{{ 7*7 }}{% raw %}{{ config }}",
    "long": "n" * 10_000,
    "rtl": "\u202egnp.exe\u202c \u05e9\u05dc\u05d5\u05dd",
    "markup": "*bold* _it_ [link|http://evil] {code}x{code} @here #1 [code]<b>x</b>[/code]",
}


@pytest.mark.parametrize("flavour", FLAVOURS, ids=IDS)
def test_hostile_names_reach_every_channel_safely(flavour: Flavour) -> None:
    """Tags and user names an attacker chose, in titles, resources, scope and bodies."""
    vendor = flavour.vendor()
    findings = tuple(
        finding(f"arn:aws:iam::111122223333:user/{value}", title=f"User {value} has no MFA",
                check="user_mfa", fid=i)
        for i, value in enumerate(HOSTILE.values(), start=1))
    with serving(vendor) as url:
        chan = channel(flavour, vendor, url)
        scope = {"principals": list(HOSTILE.values()), "user_agents": list(HOSTILE.values())}
        title = " ".join(HOSTILE.values())
        chan.send(message(AlertKind.NEW, 1, findings, flavour.channel_type, scope=scope,
                          title=title))
    assert vendor.problems == []  # one-line titles within the limit, valid ADF
    (ticket,) = (getattr(vendor, "issues", None) or getattr(vendor, "records", {})).values()
    summary = next(ticket.fields[k] for k in ("summary", "title", "short_description")
                   if k in ticket.fields)
    assert summary.endswith("\u2026") and "\u202e" not in summary and "\n" not in summary
    body = str(ticket.fields.get("description") or ticket.fields.get("body"))
    assert "49" not in body  # no template ran the attacker's expression
    assert "\u202e" not in body and "<U+202E>" in body.replace("\\", "")
    assert "\r" not in body and "Bcc: evil" in body.replace("\\", "")
    assert "n" * 2100 not in body  # a 10,000-character name is capped
    if flavour.channel_type == "github":
        assert "<script>" not in body and "\\<script\\>" in body
        assert re.search(r"(?<!\\)[@#<]\w", body) is None  # no mention, reference or tag
    if flavour.name == "jira-dc":
        assert "{code}" not in body and "*bold*" not in body
    if flavour.channel_type == "servicenow":
        assert "[code]" not in body.lower()
    # No value started a heading or a bullet of its own (in ADF: a node of its own).
    assert not any(re.match(r"\s*(#+|h3\.|\*|-)\s*\\?[Ii]nject", line)
                   for line in body.splitlines())
    assert "'text': 'Injected heading'" not in body and "'text': 'injected bullet'" not in body
