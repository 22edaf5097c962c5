"""The incident document: one alert as plain JSON data, for channels that are not email.

The webhook posts it as it is; PagerDuty, Slack and Teams build their payloads from it. It is
stored in the message's fields with the rendered text, so a retry sends what was first built.

Every string in it is one line (control characters gone, bidirectional controls shown as code
points) and capped: names come from AWS tags and API callers, and a 10,000-character tag must
neither bury the message nor push a vendor's payload past its size limit.

Schema version 1 (docs/notifiers.md shows an example):
`key`, `incident_key` (the key of the incident's first message: one id for its whole life),
`incident_id`, `kind`, `severity`, `title`, `summary`, `created_at`, `accounts`, `regions`,
`resources`, `findings` (id, check, policy, severity, status, account, region, resource,
title, first_seen, last_seen, tags), `actions` (text, command as one shell line, console
steps), `commands` (the actions' commands alone, in order), `remediation` (step titles),
`cost` (the money facts that are numbers or text).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from costguard.alerts.alert import Alert, AlertFinding
from costguard.alerts.message_parts import new_rows
from costguard.alerts.money import FACT_KEYS
from costguard.model import AlertKind
from costguard.notifiers.channel import THREAD_KEY
from costguard.text import sh, short

SCHEMA_VERSION = 1

MAX_TEXT = 1000
"""Longest string: an ARN fits (2,048 is the most AWS allows, and rare), a pasted page does not."""
MAX_FINDINGS = 100
MAX_RESOURCES = 200
MAX_TAGS = 20


def incident_document(alert: Alert) -> dict[str, Any]:
    """`alert` as the JSON document the non-email channels send."""
    findings = alert.findings[:MAX_FINDINGS]
    actions = [_action(a) for a in alert.actions]
    thread = alert.key if alert.kind is AlertKind.NEW else alert.facts.get(THREAD_KEY)
    return {
        "schema": SCHEMA_VERSION,
        "key": alert.key,
        "incident_key": short(thread or alert.key, MAX_TEXT),
        "incident_id": alert.incident_id,
        "kind": str(alert.kind),
        "severity": str(alert.severity),
        "title": short(alert.title, 300),
        "summary": short(alert.facts.get("summary") or alert.title, MAX_TEXT),
        "created_at": alert.created_at.isoformat(),
        "accounts": sorted({short(a, 64) for a in alert.accounts}
                           or {short(f.account, 64) for f in alert.findings}),
        "regions": sorted({short(f.region, 64) for f in alert.findings}),
        "resources": _resources(alert.findings),
        "findings": [_finding(f) for f in findings],
        "findings_total": len(alert.findings),
        "actions": actions,
        "commands": [a["command"] for a in actions if a["command"]],
        "remediation": [short(step.title, 300) for step in alert.remediation],
        "cost": _cost(alert.facts),
        "new": [{"label": label, "values": values}
                for label, values in new_rows(alert.facts.get("new"))],
    }


def _resources(findings: tuple[AlertFinding, ...]) -> list[str]:
    seen: dict[str, None] = {}
    for f in findings:
        seen.setdefault(short(f.resource, MAX_TEXT))
    return list(seen)[:MAX_RESOURCES]


def _finding(f: AlertFinding) -> dict[str, Any]:
    return {
        "id": f.id,
        "check": short(f.check, 100),
        "policy": short(f.policy, 100),
        "severity": str(f.severity),
        "status": short(f.status, 20),
        "account": short(f.account, 64),
        "region": short(f.region, 64),
        "resource": short(f.resource, MAX_TEXT),
        "title": short(f.title, 300),
        "first_seen": _when(f.first_seen),
        "last_seen": _when(f.last_seen),
        "tags": _tags(f.details.get("tags")),
    }


def _tags(tags: Any) -> dict[str, str]:
    if not isinstance(tags, Mapping):
        return {}
    items = sorted(tags.items(), key=lambda kv: str(kv[0]))[:MAX_TAGS]
    return {short(k, 128): short(v, 256) for k, v in items}


def _action(action: Any) -> dict[str, Any]:
    return {
        "text": short(action.text, MAX_TEXT),
        "command": " ".join(sh(word) for word in action.command) if action.command else None,
        "console": [short(step, MAX_TEXT) for step in action.console],
    }


def _cost(facts: Mapping[str, Any]) -> dict[str, Any]:
    cost: dict[str, Any] = {}
    for key in FACT_KEYS:
        value = facts.get(key)
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, int | float):
            cost[key] = round(float(value), 2)
        elif isinstance(value, datetime):
            cost[key] = value.isoformat()
        elif isinstance(value, str):
            cost[key] = short(value, 300)
    return cost


def _when(at: datetime | timedelta | None) -> str | None:
    return at.isoformat() if isinstance(at, datetime) else None
