"""One JSON POST to a vendor's API, and what its answer means for the outbox.

Every HTTP channel (PagerDuty, Slack, Teams, the webhook) goes through `post_json`, so they all
read answers the same way: 2xx delivered; 429 and 503 retried no sooner than Retry-After says;
400, 401, 403, 404 and 410 permanent (a revoked key or a deleted webhook never starts working
by itself); anything else retried with the outbox's back-off. There is no retry loop here: one
attempt per call, and the outbox decides when the next one is.

Webhook URLs and routing keys are secrets. They never reach an error message (the reason names
the channel's host only, and any secret is blanked out of what the server said) and never
reach the log: httpx logs every request's full URL at INFO, so `quiet_httpx` keeps its logger
at WARNING and above.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field

from costguard.notifiers.channel import ChannelParams, DeliveryError, SecretError
from costguard.text import oneline

if TYPE_CHECKING:
    import httpx  # imported where a request is made: a scan that sends nothing never loads it

PERMANENT = frozenset({400, 401, 403, 404, 405, 410, 413, 422})
"""Answers no retry can change: bad request, bad or revoked credentials, gone."""

RATE_LIMITED = frozenset({429, 503})
"""Answers that may carry Retry-After."""

MAX_REASON = 300
"""How much of the server's answer the outbox keeps: enough to read, not a whole HTML page."""

USER_AGENT = "costguard"

MAX_RETRY_AFTER_S = 86400
"""The longest wait a Retry-After may impose: a day. Longer is a misconfigured server, and an
alert a day late is still better than one a year late."""


def quiet_httpx() -> None:
    """Keep httpx's per-request INFO lines (which carry the full URL) out of the log."""
    for name in ("httpx", "httpcore"):
        logger = logging.getLogger(name)
        if logger.level < logging.WARNING:
            logger.setLevel(logging.WARNING)


def retry_after(value: str | None, now: datetime) -> datetime | None:
    """When a Retry-After header (delay in seconds, or an HTTP date) allows the next try."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return now + timedelta(seconds=min(int(value), MAX_RETRY_AFTER_S))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return min(max(when, now), now + timedelta(seconds=MAX_RETRY_AFTER_S))


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """`text` with every secret blanked out (longest first, so no part of one survives)."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "<redacted>")
    return text


def post_json(
    url: str,
    body: Any,
    *,
    where: str,
    now: datetime,
    timeout_s: float,
    secrets: Iterable[str | None] = (),
    headers: Mapping[str, str] | None = None,
    raw: bytes | None = None,
) -> httpx.Response:
    """POST `body` as JSON (or `raw`, already encoded) to `url`; the 2xx answer or DeliveryError.

    `where` names the endpoint in error messages (a host, never the URL: a webhook URL is
    its own secret).
    """
    import httpx

    quiet_httpx()
    secrets = [url, *secrets]
    content = raw if raw is not None else encode(body)
    sent_headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT,
                    **(headers or {})}
    try:
        with httpx.Client(timeout=timeout_s, follow_redirects=False) as client:
            response = client.post(url, content=content, headers=sent_headers)
    except httpx.TimeoutException:
        raise DeliveryError(f"{where}: no answer within {timeout_s:g} s") from None
    except httpx.HTTPError as exc:
        reason = redact(str(exc) or type(exc).__name__, secrets)
        raise DeliveryError(f"{where}: {type(exc).__name__}: {reason}") from None
    if response.is_success:
        return response
    raise answer_error(response, where=where, now=now, secrets=secrets)


def encode(body: Any) -> bytes:
    """The exact bytes sent: compact UTF-8 JSON (a signature is computed over these)."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def answer_error(
    response: httpx.Response, *, where: str, now: datetime, secrets: Iterable[str | None]
) -> DeliveryError:
    """A non-2xx answer as a DeliveryError the outbox knows how to retry, or not."""
    status = response.status_code
    said = redact(oneline(response.text or response.reason_phrase)[:MAX_REASON], secrets)
    reason = f"{where}: HTTP {status}" + (f": {said}" if said else "")
    if status in RATE_LIMITED:
        after = retry_after(response.headers.get("Retry-After"), now)
        if after is not None:
            reason += f" (retry after {after.isoformat()})"
        wait = None if after is None else (after - now).total_seconds()
        return DeliveryError(reason, retry_after_s=wait)
    return DeliveryError(reason, permanent=status in PERMANENT)


def host_of(url: str) -> str:
    """The host of `url`, all an error message may say about an endpoint."""
    try:
        return urlsplit(url).hostname or "?"
    except ValueError:
        return "?"


class HttpParams(ChannelParams):
    """What every HTTP channel's settings share: how long to wait for the vendor."""

    timeout_s: float = Field(10, gt=0, le=300, description="Seconds to wait for an answer.")


def _http_url(value: str) -> str:
    try:
        url = urlsplit(value)
        host = url.hostname
    except ValueError:
        url, host = urlsplit(""), None
    if url.scheme not in ("https", "http") or not host:
        raise ValueError("expected an http(s) URL such as https://hooks.example.com/costguard")
    return value


HttpUrl = Annotated[str, AfterValidator(_http_url)]
"""An absolute http(s) URL (https for anything but a local test server, by convention)."""


def secret_url(channel: str, name: str, value: str | None) -> str:
    """A URL read from a secret, checked when the channel is built (never shown: it is secret)."""
    try:
        return _http_url(value or "")
    except ValueError:
        raise SecretError(f"notifier {channel!r}: {name} is not an http(s) URL") from None
