"""PagerDuty through the Events API v2: one alert per incident, resolved when the incident is.

The dedup key is the incident's key (the key of its first message), so every message about one
incident lands on one PagerDuty alert: NEW triggers it, UPDATE and ESCALATION trigger again with
the same key (PagerDuty folds them into the open alert and keeps the newest summary), RESOLVED
resolves it. Digests and reports do not page anyone: they are skipped (and logged).

The routing key is the integration's secret; it travels in the body, and `post_json` keeps it
out of every error message.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from costguard.model import AlertKind, Message, Severity
from costguard.notifiers.channel import (
    THREAD_KEY,
    Channel,
    EnvVarName,
    document_of,
    utcnow,
)
from costguard.notifiers.http_post import HttpParams, HttpUrl, host_of, post_json
from costguard.text import short

log = logging.getLogger(__name__)

EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
SUMMARY_MAX = 1024  # the Events API v2 limit on payload.summary
DEDUP_MAX = 255  # and on dedup_key

SEVERITIES: Mapping[Severity, str] = {
    Severity.CRITICAL: "critical",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "info",
    Severity.INFO: "info",
}
"""costguard's five severities on PagerDuty's four."""

_PAGED = frozenset({AlertKind.NEW, AlertKind.UPDATE, AlertKind.ESCALATION, AlertKind.RESOLVED})


class PagerDutyParams(HttpParams):
    """Settings of a `type: pagerduty` notifier."""

    routing_key_env: EnvVarName | None = Field(
        None, description="Environment variable holding the integration's routing key.")
    routing_key_file: Path | None = Field(None, description="File holding the routing key.")
    events_url: HttpUrl = Field(EVENTS_URL, description="The Events API v2 enqueue endpoint.")
    source: str = Field("costguard", min_length=1, max_length=255,
                        description="payload.source when the message names no account.")

    @model_validator(mode="after")
    def _needs_key(self) -> PagerDutyParams:
        if not (self.routing_key_env or self.routing_key_file):
            raise ValueError("routing_key_env or routing_key_file is required")
        return self


def dedup_key(message: Message) -> str:
    """One key for every message about one incident: the key of its first message."""
    return short(message.fields.get(THREAD_KEY) or message.key, DEDUP_MAX)


def event(message: Message, routing_key: str, source: str, now: datetime) -> dict[str, Any]:
    """The Events API v2 event for `message`: a trigger, or a resolve for RESOLVED."""
    base = {"routing_key": routing_key, "dedup_key": dedup_key(message)}
    if message.kind is AlertKind.RESOLVED:
        return {**base, "event_action": "resolve"}
    document = document_of(message)
    accounts = list(document.get("accounts") or message.fields.get("accounts") or [])
    details: dict[str, Any] = {
        "kind": str(message.kind),
        "costguard_severity": str(message.severity),
        "incident_id": message.incident_id,
        "accounts": accounts,
        "regions": list(document.get("regions") or []),
        "resources": list(document.get("resources") or [])[:50],
        "first_actions": [a.get("command") or a.get("text") for a in
                          document.get("actions") or []][:10],
        "cost": dict(document.get("cost") or {}),
    }
    payload = {
        "summary": short(message.subject, SUMMARY_MAX),
        "source": short(f"aws:{','.join(accounts)}" if accounts else source, 255),
        "severity": SEVERITIES[message.severity],
        "timestamp": now.isoformat(),
        "component": short(",".join(document.get("regions") or []) or "aws", 255),
        "group": "costguard",
        "class": short(str(message.kind), 255),
        "custom_details": details,
    }
    return {**base, "event_action": "trigger", "payload": payload, "client": "costguard"}


class PagerDutyChannel(Channel):
    """Triggers and resolves one PagerDuty alert per incident."""

    type = "pagerduty"
    Params = PagerDutyParams
    params: PagerDutyParams

    def __init__(self, name: str, params: PagerDutyParams,
                 env: Mapping[str, str] = os.environ, *,
                 clock: Callable[[], datetime] = utcnow) -> None:
        super().__init__(name, params, env, clock=clock)
        self._routing_key = self.secret("routing_key") or ""

    def send(self, message: Message) -> str | None:
        """Enqueue the event; returns the dedup key PagerDuty answers with."""
        if message.kind not in _PAGED:
            log.info("notifier %r: %s messages do not page; skipped", self.name, message.kind)
            return None
        p, now = self.params, self.clock()
        body = event(message, self._routing_key, p.source, now)
        response = post_json(p.events_url, body, where=f"pagerduty {host_of(p.events_url)}",
                             now=now, timeout_s=p.timeout_s, secrets=[self._routing_key])
        answer = _json(response)
        return str(answer.get("dedup_key") or body["dedup_key"])


def _json(response: Any) -> dict[str, Any]:
    try:
        answer = response.json()
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}
