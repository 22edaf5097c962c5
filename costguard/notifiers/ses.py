"""Email through Amazon SES (the SESv2 SendEmail API), byte for byte the email `smtp` sends.

The MIME message is built by `costguard.notifiers.smtp.build_email` and handed to SES as raw
content, so both channels send the same headers (Message-ID from the message key, threading of
follow-ups) and bodies. Credentials are the daemon's own (the standard chain, or the role it
runs as); the one permission needed is `ses:SendEmail` on the sending identity.

botocore retries a throttled call once (standard mode, two attempts in all) and the outbox does
the rest; an answer that retrying cannot change (the sender is not verified, the account is
paused) makes the message dead at once.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from pydantic import Field

from costguard.model import Message
from costguard.notifiers.channel import Channel, ChannelParams, DeliveryError, utcnow
from costguard.notifiers.smtp import EmailAddress, build_email
from costguard.settings.regions import Region

PERMANENT = frozenset({
    "MessageRejected", "MailFromDomainNotVerifiedException", "AccountSuspendedException",
    "SendingPausedException", "BadRequestException", "NotFoundException",
    "AccessDeniedException", "AccessDenied", "InvalidClientTokenId", "UnrecognizedClientException",
})
"""SES error codes no retry fixes: an operator has to act first (then `outbox retry`)."""


class SesParams(ChannelParams):
    """Settings of a `type: ses` notifier."""

    region: Region = Field(description="The SES region whose verified identity sends.")
    from_: EmailAddress = Field(alias="from", description="Sender: a verified SES identity.")
    to: tuple[EmailAddress, ...] = Field(min_length=1, description="Recipient addresses.")
    cc: tuple[EmailAddress, ...] = Field((), description="Addresses copied on every message.")
    configuration_set: str | None = Field(
        None, description="SES configuration set to send with (event publishing, IP pool).")
    timeout_s: float = Field(30, gt=0, le=300, description="Seconds to wait for SES.")


class SesChannel(Channel):
    """Sends each notification as one email through SES."""

    type = "ses"
    Params = SesParams
    params: SesParams

    def __init__(self, name: str, params: SesParams, env: Mapping[str, str] = os.environ, *,
                 clock: Callable[[], datetime] = utcnow) -> None:
        super().__init__(name, params, env, clock=clock)
        self._client: Any = None

    def client(self) -> Any:
        """The SESv2 client, made on first send (a daemon that never emails never needs it)."""
        if self._client is None:
            import boto3
            from botocore.config import Config

            p = self.params
            config = Config(retries={"mode": "standard", "max_attempts": 2},
                            connect_timeout=p.timeout_s, read_timeout=p.timeout_s,
                            user_agent_extra="costguard")
            self._client = boto3.session.Session().client("sesv2", region_name=p.region,
                                                          config=config)
        return self._client

    def send(self, message: Message) -> str | None:
        """Send the email; returns the Message-ID it carries (SES's own id is logged by SES)."""
        p = self.params
        try:
            email = build_email(message, p, self.clock())
            raw = email.as_bytes()
        except ValueError as exc:
            raise DeliveryError(f"refusing to send: {exc}") from exc
        request: dict[str, Any] = {
            "FromEmailAddress": p.from_,
            "Destination": {"ToAddresses": list(p.to), "CcAddresses": list(p.cc)},
            "Content": {"Raw": {"Data": raw}},
        }
        if p.configuration_set:
            request["ConfigurationSetName"] = p.configuration_set
        try:
            self.client().send_email(**request)
        except Exception as exc:  # botocore's ClientError and connection errors alike
            raise _failure(exc, p.region) from None
        return str(email["Message-ID"])


def _failure(exc: Exception, region: str) -> DeliveryError:
    response = getattr(exc, "response", None)
    error = response.get("Error", {}) if isinstance(response, dict) else {}
    code = str(error.get("Code") or type(exc).__name__)
    said = str(error.get("Message") or exc)
    return DeliveryError(f"ses {region}: {code}: {said}", permanent=code in PERMANENT)
