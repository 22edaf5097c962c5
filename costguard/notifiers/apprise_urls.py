"""Chat and push services through apprise: Discord, Mattermost, Telegram, Google Chat, ntfy...

One channel reaches every service apprise supports, each named by an apprise URL
(`discord://WEBHOOK_ID/TOKEN`, `tgram://BOT_TOKEN/CHAT_ID`, `json://host/path`...). Those URLs
hold the services' tokens, so they come only from an environment variable or a file (several,
separated by whitespace or commas) and are blanked out of anything apprise logs.

apprise is an optional extra (`pip install 'costguard-daemon[apprise]'`): a config that names
this channel without it installed fails validation with that command. apprise does not report
HTTP statuses or Retry-After, so any failed service is a plain retry with the outbox's
back-off (the services that took the message get it again then).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, model_validator

from costguard.model import AlertKind, Message, Severity
from costguard.notifiers.channel import (
    Channel,
    ChannelParams,
    DeliveryError,
    EnvVarName,
    SecretError,
    utcnow,
)
from costguard.text import short

EXTRA = "pip install 'costguard-daemon[apprise]'"
BODY_MAX = 4000  # most chat services cut far shorter; apprise splits or trims for each
_SEPARATORS = re.compile(r"[\s,]+")


class AppriseParams(ChannelParams):
    """Settings of a `type: apprise` notifier."""

    urls_env: EnvVarName | None = Field(
        None, description="Environment variable holding apprise URLs (whitespace or comma "
        "separated).")
    urls_file: Path | None = Field(None, description="File holding apprise URLs.")
    timeout_s: float = Field(10, gt=0, le=300, description="Seconds to wait per service.")

    @model_validator(mode="after")
    def _usable(self) -> AppriseParams:
        if not (self.urls_env or self.urls_file):
            raise ValueError("urls_env or urls_file is required")
        if importlib.util.find_spec("apprise") is None:
            raise ValueError(f"the apprise channel needs the apprise extra: {EXTRA}")
        return self


def split_urls(value: str) -> list[str]:
    """The URLs of a secret's value: whitespace or commas separate them."""
    return [u for u in _SEPARATORS.split(value.strip()) if u]


def secret_parts(urls: Iterable[str]) -> set[str]:
    """Every piece of the URLs that may be a token: whole URLs, hosts, path parts, queries."""
    parts: set[str] = set()
    for url in urls:
        parts.add(url)
        split = urlsplit(url)
        pieces = [split.netloc, *split.netloc.split("@"), *split.path.split("/"),
                  *re.split(r"[&=]", split.query)]
        parts.update(p for p in pieces if len(p) >= 6)
    return parts


class _Redact(logging.Filter):
    """Blanks the services' tokens out of what apprise logs. One instance serves every apprise
    channel (a reload adds the new tokens rather than another filter)."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: list[str] = []

    def add(self, secrets: set[str]) -> None:
        self.secrets = sorted(set(self.secrets) | secrets, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        for secret in self.secrets:
            text = text.replace(secret, "<redacted>")
        record.msg, record.args = text, ()
        return True


_REDACT = _Redact()


def _quiet(secrets: set[str]) -> None:
    """Keep the tokens out of the log: apprise's DEBUG lines carry whole URLs and payloads and
    urllib3's (which apprise sends with) the request paths; what they log at WARNING and above
    is kept, with every token blanked out."""
    _REDACT.add(secrets)
    for name in ("apprise", "urllib3"):
        logger = logging.getLogger(name)
        if logger.level < logging.WARNING:
            logger.setLevel(logging.WARNING)
        logger.addFilter(_REDACT)  # a no-op when it is already there


def notify_type(message: Message) -> str:
    """apprise's four message types, which services show as colours or icons."""
    if message.kind is AlertKind.RESOLVED:
        return "success"
    if message.severity >= Severity.HIGH:
        return "failure"
    return "warning" if message.severity >= Severity.MEDIUM else "info"


class AppriseChannel(Channel):
    """Sends each notification to every apprise URL configured."""

    type = "apprise"
    Params = AppriseParams
    params: AppriseParams

    def __init__(self, name: str, params: AppriseParams, env: Mapping[str, str] = os.environ,
                 *, clock: Callable[[], datetime] = utcnow) -> None:
        super().__init__(name, params, env, clock=clock)
        import apprise

        self._urls = split_urls(self.secret("urls") or "")
        if not self._urls:
            raise SecretError(f"notifier {name!r}: no apprise URLs given")
        _quiet(secret_parts(self._urls))
        self._apprise: Any = apprise.Apprise()
        for i, url in enumerate(self._urls, 1):
            if not self._apprise.add(url):
                raise SecretError(f"notifier {name!r}: URL {i} of {len(self._urls)} is not "
                                  "one apprise supports")

    def send(self, message: Message) -> str | None:
        """Notify every service; DeliveryError if any of them failed."""
        text = message.text
        body = text if len(text) <= BODY_MAX else text[: BODY_MAX - 1] + "\u2026"
        result = self._apprise.notify(
            body=body, title=short(message.subject, 250), notify_type=notify_type(message),
            body_format="text", timeout=self.params.timeout_s)
        if not result:
            failed = getattr(result, "failed_count", None)
            timed_out = getattr(result, "timeout_count", 0) or 0
            count = f"{failed} of {len(self._urls)}" if failed is not None else "some"
            extra = f" ({timed_out} timed out)" if timed_out else ""
            raise DeliveryError(f"apprise: {count} service(s) failed{extra}")
        return None
