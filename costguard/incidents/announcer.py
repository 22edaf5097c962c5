"""Announces each incident change of a cycle once (new, severity raised, overdue, resolved)
through the notifier into the outbox, in the cycle's unit of work.

It works from the keeper's copies of the incidents and their findings; the one thing it reads is
which channels each incident's first message went to, for all incidents in one query.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from costguard.alerts.alert import Alert, Playbook
from costguard.alerts.money import incident_money
from costguard.incidents.keeper import IncidentKeeper
from costguard.model import AlertKind, Severity, Status
from costguard.store.records import IncidentTime, StoredFinding, StoredIncident

if TYPE_CHECKING:
    from costguard.alerts.routing import Notifier
    from costguard.notifiers.delivery import DeliveryReport
    from costguard.store import Store


def incident_key(incident: StoredIncident, kind: AlertKind, suffix: str = "") -> str:
    """The outbox key of an incident's message of one kind: each is sent once per channel.

    The detection time is part of it, so a new database (ids from 1 again) never produces a
    key, and so an email Message-ID, that a mail client has seen before.
    """
    stamp = incident.detected_at.strftime("%Y%m%dT%H%M%S") if incident.detected_at else "0"
    return f"incident-{incident.id}-{stamp}-{kind.value}" + (f"-{suffix}" if suffix else "")


class Announcer:
    """Queues one cycle's messages; `contained` holds what auto-containment did (or would do)
    per new incident, for its first message."""

    def __init__(self, keeper: IncidentKeeper, notifier: Notifier,
                 contained: Mapping[int, Sequence[str]] | None = None) -> None:
        self.keeper = keeper
        self.store = keeper.store
        self.notifier = notifier
        self.now = keeper.now
        self.contained = dict(contained or {})
        self.announced: dict[str, set[str]] = {}

    def announce(self) -> int:
        """Queue a message for each change of this cycle; returns how many were queued.

        An open incident never announced (seen first by `scan --no-notify`, or routed nowhere
        then) is announced now: a finding must not lose its alert because of how it was seen.
        """
        changes, live = self.keeper.changes, self.keeper.open_incidents()
        self.announced = self.store.channels_for(
            incident_key(i, AlertKind.NEW) for i in self.keeper.incidents.values())
        fresh = [i for i in live if incident_key(i, AlertKind.NEW) not in self.announced]
        overdue = [i for i in live if self._overdue(i)]
        self.keeper.members.need({i.id for i in [*fresh, *overdue]} | set(changes.raised)
                                 | set(changes.resolved))
        queued = sum(self._queue(i.id, AlertKind.NEW) for i in fresh)
        queued += sum(self._raised(i, previous) for i, previous in changes.raised.items())
        queued += sum(self._escalate(i) for i in overdue)
        return queued + sum(self._queue(i, AlertKind.RESOLVED) for i in changes.resolved)

    def _raised(self, incident_id: int, previous: Severity) -> int:
        """A worse finding joined an announced incident: tell the channels told before."""
        raised = f"raised-{self.keeper.incidents[incident_id].severity.value}"
        return self._queue(incident_id, AlertKind.ESCALATION, raised, previous_severity=previous)

    def _overdue(self, incident: StoredIncident) -> bool:
        """Notified but not fixed within the target, and not escalated yet."""
        start = incident.notified_at
        target = timedelta(minutes=self.keeper.config.incidents.target_minutes)
        return start is not None and incident.escalated_at is None and self.now - start > target

    def _escalate(self, incident: StoredIncident) -> int:
        """An overdue incident goes to the escalation route, once."""
        incidents = self.keeper.config.incidents
        minutes = round((self.now - (incident.notified_at or self.now)).total_seconds() / 60)
        summary = (f"Incident #{incident.id} has been open for {minutes} minutes since its "
                   f"alert, past the {incidents.target_minutes}-minute target.")
        queued = self._queue(incident.id, AlertKind.ESCALATION, "overdue",
                             route=list(incidents.escalate_to), summary=summary)
        self.keeper.escalated(incident.id)
        return queued

    def _queue(self, incident_id: int, kind: AlertKind, suffix: str = "",
               route: list[str] | None = None, **facts: Any) -> int:
        alert = self.alert(incident_id, kind, suffix, **facts)
        if route:
            return self.notifier.enqueue(self.store, alert, route, self.now)
        channels = self.notifier.destinations(alert.findings, alert.severity)
        first = incident_key(self.keeper.incidents[incident_id], AlertKind.NEW)
        if kind is not AlertKind.NEW:
            channels = [c for c in channels if c in self.announced.get(first, set())]
        queued = self.notifier.enqueue(self.store, alert, channels, self.now)
        if kind is AlertKind.NEW:
            self.announced.setdefault(first, set()).update(channels)
        return queued

    def alert(self, incident_id: int, kind: AlertKind, suffix: str = "", **facts: Any) -> Alert:
        """The alert for one incident event, with remediation rendered for its findings."""
        from costguard.alerts.routing import alert_finding

        incident = self.keeper.incidents[incident_id]
        stored = self.keeper.members.of(incident_id)
        shown = stored
        if kind is not AlertKind.RESOLVED:
            shown = [f for f in stored if f.status != Status.RESOLVED] or stored
        policies = self.notifier.policies
        findings = tuple(alert_finding(f, policies.get(f.policy)) for f in shown)
        facts = {**self._facts(incident, kind, stored), **facts}
        playbook = self.notifier.remediation(findings) if kind is not AlertKind.RESOLVED else (
            Playbook())
        return Alert(
            kind=kind, key=incident_key(incident, kind, suffix), title=incident.title,
            severity=incident.severity, created_at=self.now, findings=findings,
            remediation=playbook.steps, actions=playbook.actions,
            incident_id=incident_id, accounts=incident.accounts, scope=incident.scope,
            facts=facts,
        )

    def _facts(self, incident: StoredIncident, kind: AlertKind,
               findings: Sequence[StoredFinding]) -> dict[str, Any]:
        facts: dict[str, Any] = incident_money(findings, self.notifier.registry, self.now)
        if self.contained.get(incident.id):
            facts["auto_contain"] = list(self.contained[incident.id])
        if kind is not AlertKind.NEW:
            facts["thread_key"] = incident_key(incident, AlertKind.NEW)
        if kind is AlertKind.RESOLVED and incident.detected_at is not None:
            start = incident.notified_at or incident.detected_at
            facts["time_to_fix"] = self.now - start
        return facts


def record_delivery(store: Store, report: DeliveryReport) -> None:
    """Stamp `notified_at` on incidents whose first message went out in this delivery.

    Called for every delivery, not only a cycle's: a message the outbox retries later (the
    server was down) still starts the incident's alert-to-fix clock when it goes out. The
    caller opens the unit of work, and only when something was delivered.
    """
    for sent in report.delivered:
        if sent.kind is AlertKind.NEW and sent.incident_id is not None:
            incident = store.get_incident(sent.incident_id)
            if incident.notified_at is None:
                store.set_incident_time(incident.id, IncidentTime.NOTIFIED, sent.sent_at)
