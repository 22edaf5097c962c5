"""Email over SMTP: one multipart/alternative message (text, then HTML) per notification.

The Message-ID is derived from the message key, so a retried send is recognisably the same email
(clients drop the duplicate) and an incident's follow-ups can point `In-Reply-To` at its first
email without asking the store. No header value may contain a line break: subjects, keys and
addresses pass through here after templates have seen attacker-chosen names, and a CR/LF there
would let a tag value add a `Bcc:`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import smtplib
import ssl
from collections.abc import Callable, Mapping
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, parseaddr
from pathlib import Path
from typing import Annotated, Protocol

from pydantic import AfterValidator, Field, field_validator, model_validator

from costguard.model import AlertKind, Message, StrEnum
from costguard.notifiers.channel import (
    THREAD_KEY,
    Channel,
    ChannelParams,
    DeliveryError,
    EnvVarName,
    SecretError,
    utcnow,
)

log = logging.getLogger(__name__)

_FOLLOW_UPS = frozenset({AlertKind.RESOLVED, AlertKind.ESCALATION, AlertKind.UPDATE,
                         AlertKind.RENOTIFY})
_LINE_BREAKS = frozenset("\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029\0")
"""What `str.splitlines()` breaks on (the email package refuses all of it in headers), and NUL."""


class Security(StrEnum):
    """How the connection is protected: STARTTLS upgrade, implicit TLS, or none (local relays)."""

    STARTTLS = "starttls"
    TLS = "tls"
    NONE = "none"


def _address(value: str) -> str:
    """An address as a header shows it ("a@b" or "Name <a@b>"); refuse what is not one."""
    if _LINE_BREAKS & set(value):
        raise ValueError("an address must not contain a line break")
    local, _, domain = parseaddr(value)[1].rpartition("@")
    if not local or not domain:
        raise ValueError(f"{value!r} is not an email address")
    return value


EmailAddress = Annotated[str, AfterValidator(_address)]
"""An address as a header shows it, checked as `_address` does."""


class SmtpParams(ChannelParams):
    """Settings of a `type: smtp` notifier."""

    host: str = Field(description="SMTP server host name or IP address.")
    port: int = Field(587, ge=1, le=65535, description="SMTP server port.")
    security: Security = Field(
        Security.STARTTLS,
        description="starttls (upgrade a plain connection, usually port 587), "
        "tls (implicit TLS, usually port 465) or none (a trusted local relay only).",
    )
    username: str | None = Field(None, description="Login name; no login when unset.")
    password_env: EnvVarName | None = Field(
        None, description="Name of the environment variable holding the password."
    )
    password_file: Path | None = Field(None, description="File holding the password.")
    from_: str = Field(alias="from", description="Sender address, e.g. costguard@example.com.")
    to: tuple[str, ...] = Field(min_length=1, description="Recipient addresses.")
    cc: tuple[str, ...] = Field((), description="Addresses copied on every message.")
    timeout_s: float = Field(30, gt=0, description="Seconds to wait for the server per step.")
    ca_file: Path | None = Field(
        None, description="PEM file of CAs to trust instead of the system's, for a private CA."
    )

    @field_validator("username")
    @classmethod
    def _check_username(cls, value: str | None) -> str | None:
        if value is not None and not value.isascii():
            raise ValueError("must be ASCII (smtplib's login sends nothing else)")
        return value

    @field_validator("from_")
    @classmethod
    def _check_from(cls, value: str) -> str:
        return _address(value)

    @field_validator("to", "cc")
    @classmethod
    def _check_recipients(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_address(v) for v in value)

    @model_validator(mode="after")
    def _login_needs_both(self) -> SmtpParams:
        has_password = bool(self.password_env or self.password_file)
        if self.username and not has_password:
            raise ValueError("username needs password_env or password_file")
        if has_password and not self.username:
            raise ValueError("password_env/password_file need a username")
        return self


def message_id(key: str, domain: str) -> str:
    """The Message-ID of the email for message `key`: the same key always gives the same id."""
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
    return f"<costguard.{digest}@{domain if domain.isascii() else 'costguard.invalid'}>"


def _bare(address: str) -> str:
    return parseaddr(address)[1]


class Addressed(Protocol):
    """Who an email is from and to: what building one needs of a channel's settings (SMTP's,
    SES's)."""

    from_: str
    to: tuple[str, ...]
    cc: tuple[str, ...]


def _headers(message: Message, params: Addressed, now: datetime) -> dict[str, str]:
    """Every header the email carries, in order; refuses a value with a line break."""
    domain = _bare(params.from_).rpartition("@")[2]
    headers = {
        "Subject": message.subject,
        "From": params.from_,
        "To": ", ".join(params.to),
        "Cc": ", ".join(params.cc),
        "Date": format_datetime(now),
        "Message-ID": message_id(message.key, domain),
        "X-Costguard-Key": message.key,
        "X-Costguard-Severity": str(message.severity),
        "X-Costguard-Incident": "" if message.incident_id is None else str(message.incident_id),
    }
    thread = message.fields.get(THREAD_KEY)
    if message.kind in _FOLLOW_UPS and thread and thread != message.key:
        headers["In-Reply-To"] = headers["References"] = message_id(str(thread), domain)
    for name, value in headers.items():
        if _LINE_BREAKS & set(value):
            raise DeliveryError(f"refusing to send: the {name} header has a line break in it")
    return {name: value for name, value in headers.items() if value}


def build_email(message: Message, params: Addressed, now: datetime) -> EmailMessage:
    """The email for `message`: text/plain then text/html, UTF-8, quoted-printable.

    Quoted-printable keeps every line short and 7-bit, so no relay has to support 8BITMIME.
    """
    email = EmailMessage(policy=SMTP_POLICY)
    for name, value in _headers(message, params, now).items():
        email[name] = value
    email.set_content(message.text, subtype="plain", charset="utf-8", cte="quoted-printable")
    email.add_alternative(message.html, subtype="html", charset="utf-8", cte="quoted-printable")
    return email


def _response(exc: smtplib.SMTPResponseException) -> str:
    text = exc.smtp_error
    return f"{exc.smtp_code} {text.decode('utf-8', 'replace') if isinstance(text, bytes) else text}"


def failure_reason(exc: Exception, timeout_s: float) -> str:
    """What went wrong, as the short phrase an operator needs in the outbox's error column."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        refused: Mapping[str, tuple[int, bytes]] = exc.recipients
        return "every recipient refused: " + "; ".join(
            f"{rcpt}: {code} {text.decode('utf-8', 'replace')}"
            for rcpt, (code, text) in refused.items()
        )
    if isinstance(exc, smtplib.SMTPResponseException):
        return _response(exc)
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout_s:g} s"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate not trusted: {exc.verify_message}"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def refused_for_good(exc: Exception) -> bool:
    """Every recipient was refused with a permanent (5xx) reply: sending again cannot help.

    A 4xx reply, a refused connection or a timeout is an outage, retried however long it lasts.
    """
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        return bool(codes) and all(500 <= code < 600 for code in codes)
    return False


class SmtpChannel(Channel):
    """Sends each notification as one email to the configured recipients."""

    type = "smtp"
    Params = SmtpParams
    params: SmtpParams

    def __init__(
        self,
        name: str,
        params: SmtpParams,
        env: Mapping[str, str] = os.environ,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        super().__init__(name, params, env, clock=clock)
        # Read now, so a missing secret stops startup instead of failing every send.
        self._password = self.secret("password")
        if self._password and not self._password.isascii():
            # smtplib's login sends ASCII only; say so now rather than crash on every send.
            raise SecretError(f"notifier {name!r}: the SMTP password must be ASCII")

    def send(self, message: Message) -> str | None:
        """Deliver one email; returns its Message-ID, raises DeliveryError with the reason."""
        p = self.params
        try:
            email = build_email(message, p, self.clock())
        except ValueError as exc:  # the email package's own header checks, as a last line
            raise DeliveryError(f"refusing to send: {exc}") from exc
        recipients = [_bare(a) for a in (*p.to, *p.cc)]
        try:
            refused = self._deliver(email, recipients)
        except (smtplib.SMTPException, OSError) as exc:
            reason = failure_reason(exc, p.timeout_s)
            raise DeliveryError(f"smtp {p.host}:{p.port}: {reason}",
                                permanent=refused_for_good(exc)) from exc
        if refused:
            # Others got it; raising would make every retry mail them again for a typo.
            log.warning("notifier %r: recipients refused: %s", self.name, ", ".join(refused))
        return str(email["Message-ID"])

    def _deliver(self, email: EmailMessage, recipients: list[str]) -> dict[str, object]:
        p = self.params
        smtp = self._connect()
        try:
            if p.security is Security.STARTTLS:
                # starttls() raises if the server does not offer it: never fall back to plain text.
                smtp.starttls(context=self._tls_context())
            if p.username and self._password:
                smtp.login(p.username, self._password)
            return smtp.send_message(email, from_addr=_bare(p.from_), to_addrs=recipients)
        finally:
            _quit(smtp)

    def _connect(self) -> smtplib.SMTP:
        p = self.params
        if p.security is Security.TLS:
            context = self._tls_context()
            return smtplib.SMTP_SSL(p.host, p.port, timeout=p.timeout_s, context=context)
        return smtplib.SMTP(p.host, p.port, timeout=p.timeout_s)

    def _tls_context(self) -> ssl.SSLContext:
        ca_file = self.params.ca_file
        return ssl.create_default_context(cafile=str(ca_file) if ca_file else None)


def _quit(smtp: smtplib.SMTP) -> None:
    """Say goodbye politely; a failure here changes nothing about the message's fate."""
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()
