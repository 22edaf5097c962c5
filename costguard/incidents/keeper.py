"""Keeps incidents in step with findings: opens, grows and resolves them, and announces each
change once (new, severity raised, resolved) through the notifier and the outbox.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from costguard.alerts.alert import Alert, Playbook
from costguard.alerts.money import incident_money
from costguard.incidents.grouping import all_resolved, incident_title, plan_groups
from costguard.model import AlertKind, Severity, Status
from costguard.store.records import IncidentTime

log = logging.getLogger(__name__)

ENTITY_SCOPE = (
    ("principal:", "principals"),
    ("access_key:", "access_keys"),
    ("keypair:", "key_pairs"),
    ("sg:", "security_groups"),
    ("instance:", "instances"),
)
"""Entity prefixes and the scope list each fills, in the order an analyst reads them."""


def incident_key(incident: Any, kind: AlertKind, suffix: str = "") -> str:
    """The outbox key of an incident's message of one kind: each is sent once per channel.

    The detection time is part of it, so a new database (ids from 1 again) never produces a
    key, and so an email Message-ID, that a mail client has seen before.
    """
    stamp = incident.detected_at.strftime("%Y%m%dT%H%M%S") if incident.detected_at else "0"
    return f"incident-{incident.id}-{stamp}-{kind.value}" + (f"-{suffix}" if suffix else "")


def scope_from(findings: Sequence[Any]) -> dict[str, list[str]]:
    """The incident's scope lists from its findings' entities (and their details, when richer)."""
    scope: dict[str, list[str]] = {}
    for f in findings:
        for entity in sorted(f.entities):
            for prefix, name in ENTITY_SCOPE:
                if entity.startswith(prefix):
                    value = entity[len(prefix):]
                    if name == "key_pairs":
                        value = value.split(":", 2)[-1]
                    items = scope.setdefault(name, [])
                    if value not in items:
                        items.append(value)
    for f in findings:
        for name in ("source_ips", "user_agents", "api_calls"):
            for value in f.details.get(name, ()) if isinstance(f.details, dict) else ():
                items = scope.setdefault(name, [])
                if value not in items:
                    items.append(value)
    return scope


@dataclass
class _Changes:
    created: list[int] = field(default_factory=list)
    raised: dict[int, Severity] = field(default_factory=dict)
    resolved: list[int] = field(default_factory=list)


class IncidentKeeper:
    """One cycle's incident bookkeeping; built per cycle with the cycle's `now`."""

    def __init__(self, store: Any, notifier: Any, config: Any, now: datetime) -> None:
        self.store = store
        self.notifier = notifier
        self.registry = notifier.registry
        """The check registry the engine built the notifier with: titles and money read it."""
        self.config = config
        self.now = now
        self.changes = _Changes()
        self.hotwash: dict[int, Any] = {}
        self.contained: dict[int, list[str]] = {}
        """What auto-containment did (or would do) per new incident, for its first message."""

    def update(self, reconciled: Any) -> list[Any]:
        """Group fresh findings, resolve incidents whose findings are all fixed."""
        fresh = [*reconciled.new, *reconciled.reopened, *reconciled.unmuted]
        touched = {incident.id for incident in self._group(fresh)}
        touched |= self._resolve({f.incident_id for f in reconciled.resolved} - {None})
        return [self.store.get_incident(i) for i in sorted(touched)]

    def _group(self, fresh: Sequence[Any]) -> Iterable[Any]:
        open_incidents = self.store.open_incidents()
        open_ids = {i.id for i in open_incidents}
        loose = [f for f in fresh if f.incident_id not in open_ids]
        for plan in plan_groups(loose, open_incidents, self.now):
            yield self._apply(plan)

    def _apply(self, plan: Any) -> Any:
        if plan.incident_id is None:
            findings = [self.store.get_finding(i) for i in plan.finding_ids]
            incident = self.store.create_incident(
                title=incident_title(findings, self.registry), severity=plan.severity,
                accounts=plan.accounts, entities=plan.entities, detected_at=self.now,
                finding_ids=plan.finding_ids, scope=scope_from(findings),
            )
            self.changes.created.append(incident.id)
            return incident
        before = self.store.get_incident(plan.incident_id)
        self.store.update_incident(before.id, add_findings=plan.finding_ids)
        findings = self.store.list_findings(incident_id=before.id)
        severity = Severity.highest(f.severity for f in findings if f.status != Status.RESOLVED)
        incident = self.store.update_incident(
            before.id, title=incident_title(findings, self.registry),
            severity=max(severity, before.severity), entities=before.entities | plan.entities,
            scope=scope_from(findings),
        )
        if incident.severity > before.severity and before.notified_at is not None:
            self.changes.raised[incident.id] = before.severity
        return incident

    def _resolve(self, candidates: set[int]) -> set[int]:
        resolved = set()
        for incident_id in sorted(candidates):
            incident = self.store.get_incident(incident_id)
            if incident.resolved_at is not None:
                continue
            findings = self.store.list_findings(incident_id=incident_id)
            if all_resolved(f.status for f in findings):
                self.store.set_incident_time(incident_id, IncidentTime.RESOLVED, self.now)
                self.changes.resolved.append(incident_id)
                resolved.add(incident_id)
                self._hotwash(incident_id)
        return resolved

    def _hotwash(self, incident_id: int) -> None:
        """Write the after-action review; a failure is logged, never costs the cycle."""
        from costguard.incidents.hotwash import write_hotwash

        folder = self.config.reports_dir
        try:
            target = timedelta(minutes=self.config.incidents.target_minutes)
            path = write_hotwash(self.store, self.notifier.renderer, incident_id, folder, target)
        except Exception:
            log.exception("could not write the after-action review of incident %s", incident_id)
            return
        self.hotwash[incident_id] = path
        log.info("incident %s resolved; after-action review: %s", incident_id, path)

    # -- announcing ----------------------------------------------------------------------------

    def announce(self) -> int:
        """Queue a message for each change of this cycle; returns how many were queued.

        An open incident never announced (seen first by `scan --no-notify`, or routed nowhere
        then) is announced now: a finding must not lose its alert because of how it was seen.
        """
        queued = 0
        for incident in self.store.open_incidents():
            if not self.store.notifications_for(incident_key(incident, AlertKind.NEW)):
                queued += self._queue(incident.id, AlertKind.NEW)
        for incident_id, previous in self.changes.raised.items():
            raised = f"raised-{self._sev(incident_id)}"
            queued += self._queue(incident_id, AlertKind.ESCALATION, raised,
                                  previous_severity=previous)
        queued += self._escalate_overdue()
        for incident_id in self.changes.resolved:
            queued += self._queue(incident_id, AlertKind.RESOLVED)
        return queued

    def _sev(self, incident_id: int) -> str:
        return self.store.get_incident(incident_id).severity.value

    def _escalate_overdue(self) -> int:
        """An incident notified but not fixed within the target goes to the escalation route."""
        target = timedelta(minutes=self.config.incidents.target_minutes)
        queued = 0
        for incident in self.store.open_incidents():
            start = incident.notified_at
            if start is None or incident.escalated_at is not None or self.now - start <= target:
                continue
            minutes = round((self.now - start).total_seconds() / 60)
            summary = (f"Incident #{incident.id} has been open for {minutes} minutes since its "
                       f"alert, past the {self.config.incidents.target_minutes}-minute target.")
            queued += self._queue(incident.id, AlertKind.ESCALATION, "overdue",
                                  route=list(self.config.incidents.escalate_to), summary=summary)
            self.store.set_incident_time(incident.id, IncidentTime.ESCALATED, self.now)
        return queued

    def _queue(self, incident_id: int, kind: AlertKind, suffix: str = "",
               route: list[str] | None = None, **facts: Any) -> int:
        alert = self.alert(incident_id, kind, suffix, **facts)
        if route:
            return self.notifier.enqueue(self.store, alert, route, self.now)
        channels = self.notifier.destinations(alert.findings, alert.severity)
        if kind is not AlertKind.NEW:
            incident = self.store.get_incident(incident_id)
            announced = self.store.notifications_for(incident_key(incident, AlertKind.NEW))
            channels = [c for c in channels if c in {n.channel for n in announced}]
        return self.notifier.enqueue(self.store, alert, channels, self.now)

    def alert(self, incident_id: int, kind: AlertKind, suffix: str = "", **facts: Any) -> Alert:
        """The alert for one incident event, with remediation rendered for its findings."""
        from costguard.alerts.routing import alert_finding

        incident = self.store.get_incident(incident_id)
        stored = self.store.list_findings(incident_id=incident_id)
        if kind is not AlertKind.RESOLVED:
            stored = [f for f in stored if f.status != Status.RESOLVED] or stored
        policies = self.notifier.policies
        findings = tuple(alert_finding(f, policies.get(f.policy)) for f in stored)
        facts = {**self._facts(incident, kind), **facts}
        playbook = self.notifier.remediation(findings) if kind is not AlertKind.RESOLVED else (
            Playbook())
        return Alert(
            kind=kind, key=incident_key(incident, kind, suffix), title=incident.title,
            severity=incident.severity, created_at=self.now, findings=findings,
            remediation=playbook.steps, actions=playbook.actions,
            incident_id=incident_id, accounts=incident.accounts, scope=incident.scope,
            facts=facts,
        )

    def _facts(self, incident: Any, kind: AlertKind) -> dict[str, Any]:
        findings = self.store.list_findings(incident_id=incident.id)
        facts: dict[str, Any] = incident_money(findings, self.registry, self.now)
        if self.contained.get(incident.id):
            facts["auto_contain"] = self.contained[incident.id]
        if kind is not AlertKind.NEW:
            facts["thread_key"] = incident_key(incident, AlertKind.NEW)
        if kind is AlertKind.RESOLVED and incident.detected_at is not None:
            start = incident.notified_at or incident.detected_at
            facts["time_to_fix"] = self.now - start
        return facts


def record_delivery(store: Any, report: Any) -> None:
    """Stamp `notified_at` on incidents whose first message went out in this delivery.

    Called for every delivery, not only a cycle's: a message the outbox retries later (the
    server was down) still starts the incident's alert-to-fix clock when it goes out.
    """
    for sent in getattr(report, "delivered", ()):
        if sent.kind is AlertKind.NEW and sent.incident_id is not None:
            incident = store.get_incident(sent.incident_id)
            if incident.notified_at is None:
                store.set_incident_time(incident.id, IncidentTime.NOTIFIED, sent.sent_at)
