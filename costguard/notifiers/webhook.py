"""A generic webhook: the incident document as JSON, signed with HMAC-SHA256.

The body is the incident document (docs/notifiers.md describes every field), plus the
message's `subject` and `text` so a receiver can show a human sentence without templates of
its own. The header `X-Costguard-Signature: sha256=<hex>` is the HMAC-SHA256 of the exact
body bytes under the shared secret: the receiver recomputes it over the bytes it read (before
parsing them) and compares in constant time. `X-Costguard-Key` repeats the message key, the
same on every retry, so a receiver can drop a duplicate delivery.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import Field

from costguard.model import Message
from costguard.notifiers.channel import Channel, EnvVarName, document_of, utcnow
from costguard.notifiers.http_post import HttpParams, HttpUrl, encode, host_of, post_json
from costguard.text import short

SIGNATURE_HEADER = "X-Costguard-Signature"
TEXT_MAX = 20_000  # a receiver wants the words, not a megabyte of them


class WebhookParams(HttpParams):
    """Settings of a `type: webhook` notifier."""

    url: HttpUrl = Field(description="Where to POST, e.g. https://hooks.example.com/costguard.")
    secret_env: EnvVarName | None = Field(
        None, description="Environment variable holding the HMAC secret; unsigned when unset.")
    secret_file: Path | None = Field(None, description="File holding the HMAC secret.")


def signature(secret: str, body: bytes) -> str:
    """The X-Costguard-Signature value for `body`."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def body_of(message: Message) -> dict[str, Any]:
    """The JSON document posted for `message`."""
    document = dict(document_of(message))
    document.setdefault("key", message.key)
    document.setdefault("kind", str(message.kind))
    document.setdefault("severity", str(message.severity))
    document.setdefault("incident_id", message.incident_id)
    document["subject"] = message.subject
    text = message.text
    document["text"] = text if len(text) <= TEXT_MAX else text[: TEXT_MAX - 1] + "\u2026"
    document["title"] = short(document.get("title") or message.subject, 300)
    return document


class WebhookChannel(Channel):
    """POSTs each notification's incident document to one URL."""

    type = "webhook"
    Params = WebhookParams
    params: WebhookParams

    def __init__(self, name: str, params: WebhookParams,
                 env: Mapping[str, str] = os.environ, *,
                 clock: Callable[[], datetime] = utcnow) -> None:
        super().__init__(name, params, env, clock=clock)
        self._secret = self.secret("secret")

    def send(self, message: Message) -> str | None:
        """Post the document; returns the receiver's `id` when it answers JSON with one."""
        p = self.params
        raw = encode(body_of(message))
        headers = {"X-Costguard-Key": message.key, "X-Costguard-Kind": str(message.kind)}
        if self._secret:
            headers[SIGNATURE_HEADER] = signature(self._secret, raw)
        response = post_json(p.url, None, raw=raw, headers=headers, now=self.clock(),
                             where=f"webhook {host_of(p.url)}", timeout_s=p.timeout_s,
                             secrets=[self._secret])
        try:
            answer = response.json()
        except ValueError:
            return None
        found = answer.get("id") if isinstance(answer, dict) else None
        return short(found, 200) if found is not None else None
