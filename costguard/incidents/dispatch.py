"""Incident messages rendered when they are sent, from the incident as it stands then.

The outbox stores what to send (kind, key, incident, a few facts known only when it was
queued); delivery calls `SendTimeRenderer` just before each send. So findings that join an
incident between queuing and sending are in its message, an update says what is new since the
last message that channel actually got, and the outbox records what went out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from costguard.alerts.alert import Alert, Playbook
from costguard.alerts.message_parts import GROWN
from costguard.alerts.money import incident_money
from costguard.incidents.keeper import ENTITY_SCOPE
from costguard.model import AlertKind, Message, Severity, Status
from costguard.store.records import NotificationStatus, StoredFinding, StoredIncident

if TYPE_CHECKING:
    from costguard.alerts.routing import Notifier
    from costguard.store import Store
    from costguard.store.records import StoredNotification

FACTS = "facts"
"""The message field holding the facts known only when it was queued (JSON-safe)."""
SENT_FINDINGS = "finding_ids"
"""The message field recording which findings a sent message covered."""
OVERFLOW = "incidents"
"""The field of an overflow summary listing the incidents it tells."""


def incident_key(incident: StoredIncident, kind: AlertKind, suffix: str = "") -> str:
    """The outbox key of an incident's message of one kind: each is sent once per channel.

    The detection time is part of it, so a new database (ids from 1 again) never produces a
    key, and so an email Message-ID, that a mail client has seen before.
    """
    stamp = incident.detected_at.strftime("%Y%m%dT%H%M%S") if incident.detected_at else "0"
    return f"incident-{incident.id}-{stamp}-{kind.value}" + (f"-{suffix}" if suffix else "")


def build_alert(notifier: Notifier, incident: StoredIncident, stored: Sequence[StoredFinding],
                kind: AlertKind, key: str, now: datetime, **facts: Any) -> Alert:
    """The alert for one incident event, with remediation rendered for its findings."""
    from costguard.alerts.routing import alert_finding

    shown = list(stored)
    if kind is not AlertKind.RESOLVED:
        shown = [f for f in stored if f.status != Status.RESOLVED] or list(stored)
    findings = tuple(alert_finding(f, notifier.policies.get(f.policy)) for f in shown)
    all_facts: dict[str, Any] = incident_money(stored, notifier.registry, now)
    if kind is not AlertKind.NEW:
        all_facts["thread_key"] = incident_key(incident, AlertKind.NEW)
    if kind is AlertKind.RESOLVED and incident.detected_at is not None:
        start = incident.notified_at or incident.detected_at
        all_facts["time_to_fix"] = (incident.resolved_at or now) - start
    all_facts.update(facts)
    playbook = (notifier.remediation(findings) if kind is not AlertKind.RESOLVED
                else Playbook())
    return Alert(
        kind=kind, key=key, title=incident.title, severity=incident.severity, created_at=now,
        findings=findings, remediation=playbook.steps, actions=playbook.actions,
        incident_id=incident.id, accounts=incident.accounts, scope=incident.scope,
        facts=all_facts,
    )


def placeholder(kind: AlertKind, key: str, incident: StoredIncident,
                facts: Mapping[str, Any]) -> Message:
    """What the outbox holds for a deferred message until it is sent: a subject to list it by
    and the facts to render it with."""
    from costguard.alerts.compose import one_line_subject

    subject = one_line_subject(f"[costguard] {kind.value.upper()} {incident.severity}: "
                               f"{incident.title} (text rendered when sent)")
    fields: dict[str, Any] = {FACTS: dict(facts)}
    if kind is not AlertKind.NEW:
        fields["thread_key"] = incident_key(incident, AlertKind.NEW)
    return Message(key=key, kind=kind, severity=incident.severity, subject=subject, text="",
                   html="", incident_id=incident.id, fields=fields)


def new_since(findings: Sequence[StoredFinding], told: set[int]) -> dict[str, list[str]]:
    """What the findings not in `told` add to what was told: findings, regions and the
    entities (instances, groups, principals, keys) none of the told findings named."""
    before = [f for f in findings if f.id in told]
    fresh = [f for f in findings if f.id not in told]
    known = {e for f in before for e in f.entities}
    new: dict[str, list[str]] = {}
    for f in fresh:
        for entity in sorted(f.entities - known):
            for prefix, name in ENTITY_SCOPE:
                if entity.startswith(prefix):
                    value = entity[len(prefix):]
                    if name == "key_pairs":
                        value = value.split(":", 2)[-1]
                    new.setdefault(name, [])
                    if value not in new[name]:
                        new[name].append(value)
    regions = sorted({f.region for f in fresh} - {f.region for f in before})
    if regions:
        new["regions"] = regions
    if fresh:
        new["findings"] = [f.title for f in fresh]
    return new


class SendTimeRenderer:
    """Delivery's `render` hook: the text of a deferred message, produced just before it is
    sent. Reads the incident, its findings and what this channel was sent before."""

    def __init__(self, store: Store, notifier: Notifier) -> None:
        self.store = store
        self.notifier = notifier

    def __call__(self, row: StoredNotification, now: datetime) -> Message | None:
        message = row.message
        if OVERFLOW in message.fields:
            return self._overflow(row, now)
        if message.incident_id is None:
            return None
        incident = self.store.get_incident(message.incident_id)
        findings = self.store.list_findings(incident_id=incident.id)
        facts = dict(message.fields.get(FACTS) or {})
        if message.kind in GROWN:
            facts["new"] = new_since(findings, self._told(row))
        if message.kind is AlertKind.RENOTIFY:
            facts.setdefault("summary", _still_open(incident, findings, now))
        alert = build_alert(self.notifier, incident, findings, message.kind, message.key, now,
                            **facts)
        rendered = self.notifier.for_channel(row.channel, self.notifier.message(alert), alert)
        shown = [f.id for f in alert.findings if f.id is not None]
        return replace(rendered, fields={**rendered.fields, SENT_FINDINGS: shown})

    def _told(self, row: StoredNotification) -> set[int]:
        """Every finding a message this channel got about the incident covered."""
        told: set[int] = set()
        for sent in self.store.notifications([NotificationStatus.SENT],
                                             incident_id=row.message.incident_id):
            if sent.channel == row.channel:
                told.update(int(i) for i in sent.message.fields.get(SENT_FINDINGS, ()))
        return told

    def _overflow(self, row: StoredNotification, now: datetime) -> Message:
        """One message for every incident over the channel's hourly cap."""
        from costguard.alerts.routing import alert_finding

        ids = [int(i) for i in row.message.fields.get(OVERFLOW, ())]
        findings = [alert_finding(f, self.notifier.policies.get(f.policy))
                    for f in self.store.list_findings(incident_ids=ids)]
        count = f"{len(ids)} more incident{'s' if len(ids) != 1 else ''}"
        title = f"{count} over the hourly cap of {row.channel}"
        accounts = tuple(sorted({f.account for f in findings}))
        regions = sorted({f.region for f in findings})
        summary = (f"{row.channel} gets at most {self.notifier.hourly_cap(row.channel)} messages "
                   f"an hour; {count} ({len(findings)} findings, "
                   f"{len(regions)} region{'s' if len(regions) != 1 else ''}) came after that. "
                   "Each is listed below; `costguard incidents list` shows them all.")
        alert = Alert(kind=AlertKind.DIGEST, key=row.message.key, title=title,
                      severity=Severity.highest(f.severity for f in findings), created_at=now,
                      findings=tuple(findings), accounts=accounts,
                      facts={"summary": summary, "regions": regions})
        rendered = self.notifier.message(alert)
        return replace(rendered, fields={**rendered.fields, OVERFLOW: ids})


def _still_open(incident: StoredIncident, findings: Sequence[StoredFinding],
                now: datetime) -> str:
    since = incident.notified_at or incident.detected_at or now
    hours = (now - since).total_seconds() / 3600
    left = sum(1 for f in findings if f.status != Status.RESOLVED)
    return (f"Incident #{incident.id} is still open {hours:.0f} h after its alert and nobody "
            f"has acknowledged it: {left} finding{'s' if left != 1 else ''} not fixed. "
            f"`costguard incidents ack {incident.id}` stops these reminders.")
