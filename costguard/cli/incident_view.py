"""How `incidents list` and `incidents show` present an incident: pure functions of the records
the store returns, so they are tested without a database."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from costguard.model import AlertKind
from costguard.store.delivery_stats import DeliveryState, delivery_state
from costguard.store.records import (
    StoredFinding,
    StoredIncident,
    StoredNotification,
    iso,
)
from costguard.text import oneline, table, ts

COSTGUARD = "costguard"
"""Who detects and resolves: costguard itself, by its scans."""


def incidents_table(incidents: Sequence[StoredIncident], width: int | None = None) -> str:
    """One line per incident: id, severity, status, when detected, who acknowledged, size."""
    rows = [
        (i.id, i.severity.value, i.status.value, ts(i.detected_at, "%Y-%m-%d %H:%M"),
         i.acknowledged_by or ("yes" if i.acknowledged_at else "-"), len(i.finding_ids), i.title)
        for i in incidents
    ]
    headers = ("id", "severity", "status", "detected", "acknowledged", "findings", "title")
    return table(rows, headers, width)


def incident_doc(incident: StoredIncident, findings: Sequence[StoredFinding],
                 messages: Sequence[StoredNotification]) -> dict[str, Any]:
    """Everything `incidents show` tells, as one JSON-ready object."""
    sent = [m for m in messages if delivery_state(m) is DeliveryState.SENT]
    per_channel: dict[str, int] = {}
    for m in sent:
        per_channel[m.channel] = per_channel.get(m.channel, 0) + 1
    return {
        "id": incident.id, "title": incident.title, "severity": incident.severity.value,
        "status": incident.status.value, "accounts": list(incident.accounts),
        "detected": {"at": iso(incident.detected_at), "by": COSTGUARD},
        "notified": {"at": iso(incident.notified_at), "via": sorted(
            {m.channel for m in sent if m.message.kind is AlertKind.NEW})},
        "acknowledged": {"at": iso(incident.acknowledged_at), "by": incident.acknowledged_by,
                         "reason": incident.acknowledged_reason},
        "resolved": {"at": iso(incident.resolved_at),
                     "by": COSTGUARD if incident.resolved_at else None},
        "escalated": {"at": iso(incident.escalated_at)},
        "scope": incident.scope,
        "findings": [{"id": f.id, "severity": f.severity.value, "status": f.status.value,
                      "check": f.check, "resource": f.resource, "title": f.title}
                     for f in findings],
        "messages": [_message(m) for m in messages],
        "sent_per_channel": dict(sorted(per_channel.items())),
    }


def _message(m: StoredNotification) -> dict[str, Any]:
    return {"id": m.id, "channel": m.channel, "kind": m.message.kind.value, "key": m.key,
            "state": delivery_state(m).value, "attempts": m.attempts,
            "sent_at": iso(m.sent_at), "last_error": m.last_error}


def incident_text(doc: dict[str, Any]) -> str:
    """The `incidents show` page: the milestones with who, scope, findings, messages."""
    lines = [f"incident {doc['id']} [{doc['severity']}] {doc['status']}: {oneline(doc['title'])}"]
    lines += [f"  {name:<13} {_milestone(doc[name])}" for name in MILESTONES]
    lines.append(f"  {'accounts':<13} {', '.join(doc['accounts']) or '-'}")
    lines += ["scope", *(f"  {k:<13} {', '.join(map(str, v))}" for k, v in doc["scope"].items()
                         if isinstance(v, list))]
    lines += ["findings", _indent(table(
        [(f["id"], f["severity"], f["status"], f["check"], f["resource"], f["title"])
         for f in doc["findings"]], ("id", "severity", "status", "check", "resource", "title")))]
    sent = ", ".join(f"{c} {n}" for c, n in doc["sent_per_channel"].items()) or "none"
    lines += [f"messages (sent per channel: {sent})", _indent(table(
        [(m["id"], m["channel"], m["kind"], m["state"], m["attempts"],
          _when(m["sent_at"]), m["last_error"] or "") for m in doc["messages"]],
        ("id", "channel", "kind", "state", "attempts", "sent", "last error")))]
    return "\n".join(lines)


MILESTONES = ("detected", "notified", "acknowledged", "resolved", "escalated")


def _milestone(step: dict[str, Any]) -> str:
    """`2026-11-22 12:00:00 UTC by alice: on it`, `... via email`, or `-`."""
    if step["at"] is None:
        return "-"
    text = _when(step["at"])
    if step.get("via"):
        text += f" via {', '.join(step['via'])}"
    if step.get("by"):
        text += f" by {oneline(step['by'])}"
    if step.get("reason"):
        text += f": {oneline(step['reason'])}"
    return text


def _when(at: str | None) -> str:
    """An ISO time from the doc as the terminal shows times."""
    return ts(datetime.fromisoformat(at)) if at else "-"


def _indent(text: str) -> str:
    return "\n".join(f"  {line}" for line in text.splitlines())
