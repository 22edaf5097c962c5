"""The SMTP channel against a real SMTP server (aiosmtpd): what arrives is what mail clients see."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timezone
from email.message import EmailMessage
from typing import Any

import pytest
from pydantic import ValidationError

from costguard.alerts.alert import Alert, AlertFinding
from costguard.alerts.compose import build_message
from costguard.alerts.render import Renderer
from costguard.model import AlertKind, Message, Severity
from costguard.notifiers import CHANNEL_TYPES, DeliveryError, SecretError
from costguard.notifiers.smtp import SmtpChannel, SmtpParams, message_id

# The AUTH server allows login without TLS, which aiosmtpd rightly warns about; tests only.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")

SENT_AT = datetime(2024, 5, 1, 3, 20, 0, tzinfo=timezone.utc)

MESSAGE = Message(
    key="incident:7:new",
    kind=AlertKind.NEW,
    severity=Severity.CRITICAL,
    subject="[costguard] CRITICAL: 10 c5.4xlarge launched (account 123456789012)",
    text="Ten c5.4xlarge instances \u2265 $6.80/h \u2014 stop them.\nSecond line.\n",
    html="<p>Ten <b>c5.4xlarge</b> instances \u2265 $6.80/h \u2014 stop them.</p>\n",
    incident_id=7,
    fields={"thread_key": "incident:7:new"},
)


def params(server: Any = None, **overrides: Any) -> SmtpParams:
    """Settings as a config file gives them, pointed at `server`."""
    raw: dict[str, Any] = {
        "host": server.host if server else "127.0.0.1",
        "port": server.port if server else 25,
        "security": "none",
        "from": "Costguard <costguard@example.com>",
        "to": ["secops@example.com", "oncall@example.com"],
        "timeout_s": 5,
    }
    raw.update(overrides)
    return SmtpParams.model_validate({k: v for k, v in raw.items() if v is not None})


def channel(p: SmtpParams, env: dict[str, str] | None = None) -> SmtpChannel:
    """A channel with a fixed clock, so the Date header is exact."""
    return SmtpChannel("security-email", p, env or {}, clock=lambda: SENT_AT)


def only(server: Any) -> Any:
    """The one message the server received."""
    assert len(server.received) == 1
    return server.received[0]


def parts(email: EmailMessage) -> list[tuple[str, str, str]]:
    """(content type, charset, decoded body) of each alternative, in order.

    Bodies travel with CRLF line ends, as SMTP requires; the message was written with LF.
    """
    return [
        (p.get_content_type(), p.get_content_charset(), p.get_content().replace("\r\n", "\n"))
        for p in email.iter_parts()
    ]


def test_sends_one_multipart_alternative_email_with_exact_headers(smtp_server):
    sent_id = channel(params(smtp_server, cc=["audit@example.com"])).send(MESSAGE)

    got = only(smtp_server)
    email = got.parsed()
    assert got.mail_from == "costguard@example.com"
    assert got.rcpt_tos == ("secops@example.com", "oncall@example.com", "audit@example.com")
    assert [(k, str(v)) for k, v in email.items()] == [
        ("Subject", MESSAGE.subject),
        ("From", "Costguard <costguard@example.com>"),
        ("To", "secops@example.com, oncall@example.com"),
        ("Cc", "audit@example.com"),
        ("Date", "Wed, 01 May 2024 03:20:00 +0000"),
        ("Message-ID", message_id("incident:7:new", "example.com")),
        ("X-Costguard-Key", "incident:7:new"),
        ("X-Costguard-Severity", "critical"),
        ("X-Costguard-Incident", "7"),
        ("MIME-Version", "1.0"),
        ("Content-Type", email["Content-Type"]),
    ]
    assert email.get_content_type() == "multipart/alternative"
    assert parts(email) == [
        ("text/plain", "utf-8", MESSAGE.text),
        ("text/html", "utf-8", MESSAGE.html),
    ]
    assert sent_id == email["Message-ID"]


def test_message_id_is_derived_from_the_key_so_a_retry_is_the_same_email(smtp_server):
    mail = channel(params(smtp_server))
    first, retry = mail.send(MESSAGE), mail.send(MESSAGE)
    other = mail.send(replace(MESSAGE, key="incident:8:new"))

    assert first == retry == message_id("incident:7:new", "example.com")
    assert other != first
    assert first.startswith("<costguard.") and first.endswith("@example.com>")
    assert [r.parsed()["Message-ID"] for r in smtp_server.received] == [first, first, other]


@pytest.mark.parametrize("kind", [AlertKind.RESOLVED, AlertKind.ESCALATION])
def test_follow_ups_reply_to_the_incidents_first_email(smtp_server, kind):
    mail = channel(params(smtp_server))
    first_id = mail.send(MESSAGE)
    follow_up = replace(MESSAGE, key=f"incident:7:{kind}", kind=kind)
    mail.send(follow_up)

    first, second = (r.parsed() for r in smtp_server.received)
    assert "In-Reply-To" not in first and "References" not in first
    assert second["In-Reply-To"] == second["References"] == first_id
    assert second["Message-ID"] != first_id


def test_auth_uses_the_password_from_the_named_environment_variable(smtp_auth_server):
    p = params(smtp_auth_server, username=smtp_auth_server.username, password_env="SMTP_PASSWORD")
    channel(p, {"SMTP_PASSWORD": smtp_auth_server.password}).send(MESSAGE)

    assert only(smtp_auth_server).login == "costguard"


def test_auth_reads_the_password_file_without_its_trailing_newline(smtp_auth_server, tmp_path):
    secret = tmp_path / "smtp-password"
    secret.write_text(smtp_auth_server.password + "\n", encoding="utf-8")
    p = params(smtp_auth_server, username=smtp_auth_server.username, password_file=str(secret))
    channel(p).send(MESSAGE)

    assert only(smtp_auth_server).login == "costguard"


def test_a_wrong_password_is_a_delivery_error_with_the_servers_answer(smtp_auth_server):
    p = params(smtp_auth_server, username=smtp_auth_server.username, password_env="SMTP_PASSWORD")
    with pytest.raises(DeliveryError) as caught:
        channel(p, {"SMTP_PASSWORD": "wrong"}).send(MESSAGE)

    assert str(caught.value) == (
        f"smtp 127.0.0.1:{smtp_auth_server.port}: 535 5.7.8 Authentication credentials invalid"
    )
    assert smtp_auth_server.received == []


def test_a_missing_environment_variable_stops_the_channel_from_being_built():
    p = params(username="costguard", password_env="SMTP_PASSWORD")
    with pytest.raises(SecretError) as caught:
        channel(p, {"OTHER": "x"})

    assert str(caught.value) == (
        "notifier 'security-email': password_env names $SMTP_PASSWORD, which is not set"
    )


def test_an_empty_environment_variable_is_as_good_as_missing():
    p = params(username="costguard", password_env="SMTP_PASSWORD")
    with pytest.raises(SecretError, match=r"\$SMTP_PASSWORD, which is empty$"):
        channel(p, {"SMTP_PASSWORD": ""})


def test_a_missing_password_file_stops_the_channel_from_being_built(tmp_path):
    p = params(username="costguard", password_file=str(tmp_path / "nope"))
    with pytest.raises(SecretError) as caught:
        channel(p)

    assert str(caught.value) == (
        f"notifier 'security-email': password_file {tmp_path / 'nope'}: No such file or directory"
    )


def test_a_non_ascii_password_is_refused_when_the_channel_is_built():
    p = params(username="costguard", password_env="SMTP_PASSWORD")
    with pytest.raises(SecretError) as caught:
        channel(p, {"SMTP_PASSWORD": "p\u00e4ss"})

    assert str(caught.value) == "notifier 'security-email': the SMTP password must be ASCII"


def test_an_inline_password_is_refused_without_echoing_it():
    with pytest.raises(ValidationError) as caught:
        params(username="costguard", password="hunter2")

    (error,) = caught.value.errors()
    assert error["type"] == "inline_secret"
    assert error["loc"] == ("password",)
    assert error["msg"] == (
        "Inline secrets are refused: put the password in an environment variable and name it "
        "in password_env, or in a file and give its path in password_file"
    )
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"password_env": "SMTP_PASSWORD"}, "password_env/password_file need a username"),
        ({"username": "costguard"}, "username needs password_env or password_file"),
        (
            {"username": "u", "password_env": "P", "password_file": "/run/p"},
            "set password_env or password_file, not both",
        ),
        ({"password_env": "my pass!"}, "expected an environment variable name"),
        ({"to": []}, "should have at least 1 item"),
        ({"to": ["secops"]}, "'secops' is not an email address"),
        ({"username": "b\u00e4r", "password_env": "P"}, "must be ASCII"),
        ({"from": "a@example.com\r\nBcc: evil@x"}, "an address must not contain a line break"),
        ({"security": "ssl"}, "Input should be 'starttls', 'tls' or 'none'"),
        ({"tls": True}, "Extra inputs are not permitted"),
    ],
)
def test_params_refuse_bad_settings(overrides, message):
    with pytest.raises(ValidationError, match=message):
        params(**overrides)


def test_smtp_is_registered_under_its_config_type():
    assert CHANNEL_TYPES["smtp"] is SmtpChannel
    assert SmtpParams.model_json_schema()["properties"]["from"]["description"]


@pytest.mark.parametrize(
    ("field", "value", "header"),
    [
        ("subject", "Hi\r\nBcc: evil@example.net", "Subject"),
        ("subject", "Hi\nBcc: evil@example.net", "Subject"),
        ("subject", "Hi\u2028Bcc: evil@example.net", "Subject"),
        ("subject", "Hi\x85Bcc: evil@example.net", "Subject"),
        ("key", "incident:7\rBcc: evil@example.net", "X-Costguard-Key"),
    ],
)
def test_a_line_break_in_a_header_value_is_refused_and_nothing_is_sent(
    smtp_server, field, value, header
):
    with pytest.raises(DeliveryError) as caught:
        channel(params(smtp_server)).send(replace(MESSAGE, **{field: value}))

    assert str(caught.value) == f"refusing to send: the {header} header has a line break in it"
    assert smtp_server.received == []


def test_hostile_names_in_an_alert_never_become_headers(smtp_server):
    hostile = "<script>alert(1)</script> {{ 7*7 }}\r\nBcc: evil@example.net"
    finding = AlertFinding(
        id=1, policy="p", check="key_pairs", severity=Severity.HIGH, status="open",
        account="123456789012", region="us-east-1", resource=hostile, title=hostile,
    )
    alert = Alert(
        kind=AlertKind.NEW, key="incident:9:new", title=f"Key pair {hostile}",
        severity=Severity.HIGH, created_at=SENT_AT, findings=(finding,), incident_id=9,
        accounts=("123456789012",), scope={"key_pairs": [hostile]},
    )
    channel(params(smtp_server)).send(build_message(alert, Renderer()))

    got = only(smtp_server)
    email = got.parsed()
    assert got.rcpt_tos == ("secops@example.com", "oncall@example.com")
    assert "Bcc" not in email
    assert email["Subject"] == (
        "[costguard] HIGH: Key pair <script>alert(1)</script> {{ 7*7 }} Bcc: evil@example.net "
        "(account 123456789012, us-east-1)"
    )


def test_some_recipients_refused_still_delivers_to_the_others(smtp_server, caplog):
    p = params(smtp_server, to=["secops@example.com", smtp_server.refused_rcpt])
    with caplog.at_level(logging.WARNING, logger="costguard.notifiers.smtp"):
        sent_id = channel(p).send(MESSAGE)

    assert sent_id == message_id(MESSAGE.key, "example.com")
    assert only(smtp_server).rcpt_tos == ("secops@example.com",)
    assert caplog.messages == [
        "notifier 'security-email': recipients refused: nobody@example.com"
    ]


def test_every_recipient_refused_is_a_delivery_error(smtp_server):
    p = params(smtp_server, to=[smtp_server.refused_rcpt])
    with pytest.raises(DeliveryError) as caught:
        channel(p).send(MESSAGE)

    assert str(caught.value) == (
        f"smtp 127.0.0.1:{smtp_server.port}: every recipient refused: "
        "nobody@example.com: 550 5.1.1 no such mailbox"
    )


def test_server_down_is_a_delivery_error_saying_connection_refused(closed_port):
    with pytest.raises(DeliveryError) as caught:
        channel(params(port=closed_port)).send(MESSAGE)

    assert str(caught.value) == f"smtp 127.0.0.1:{closed_port}: connection refused"


def test_starttls_then_auth_on_a_submission_server(smtp_starttls_server):
    server = smtp_starttls_server
    p = params(
        server, security="starttls", ca_file=str(server.ca_file),
        username=server.username, password_env="SMTP_PASSWORD",
    )
    channel(p, {"SMTP_PASSWORD": server.password}).send(MESSAGE)

    got = only(server)
    assert got.tls_version in {"TLSv1.2", "TLSv1.3"}
    assert got.login == "costguard"
    assert got.parsed()["Subject"] == MESSAGE.subject


def test_starttls_refuses_a_certificate_it_does_not_trust(smtp_starttls_server):
    server = smtp_starttls_server
    p = params(server, security="starttls", username="u", password_env="SMTP_PASSWORD")
    with pytest.raises(DeliveryError) as caught:
        channel(p, {"SMTP_PASSWORD": "x"}).send(MESSAGE)

    assert str(caught.value) == (
        f"smtp 127.0.0.1:{server.port}: TLS certificate not trusted: self-signed certificate"
    )
    assert server.received == []


def test_starttls_never_falls_back_to_plain_text(smtp_server):
    with pytest.raises(DeliveryError) as caught:
        channel(params(smtp_server, security="starttls")).send(MESSAGE)

    assert str(caught.value) == (
        f"smtp 127.0.0.1:{smtp_server.port}: STARTTLS extension not supported by server."
    )
    assert smtp_server.received == []


def test_implicit_tls(smtp_tls_server):
    p = params(smtp_tls_server, security="tls", ca_file=str(smtp_tls_server.ca_file))
    channel(p).send(MESSAGE)

    assert only(smtp_tls_server).tls_version in {"TLSv1.2", "TLSv1.3"}
