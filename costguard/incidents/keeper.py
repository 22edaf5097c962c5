"""Keeps incidents in step with findings: opens, grows and resolves them within the cycle's unit
of work, and writes the after-action review of each incident it resolves once that has committed.

It reads what it needs once per cycle: the open incidents (one query), the fresh findings as the
reconcile returned them, and every finding of the incidents it touches (one query, `Members`).
Each write returns the incident as stored, which replaces the keeper's copy, so the announcer
(`incidents.announcer`) works from the same copies without reading them again.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from costguard.incidents.grouping import Plan, all_resolved, incident_title, plan_groups
from costguard.model import Severity, Status
from costguard.store.records import IncidentTime, Reconciled, StoredFinding, StoredIncident

if TYPE_CHECKING:
    from costguard.alerts.render import Renderer
    from costguard.checks.base import Registry
    from costguard.settings.config import Config
    from costguard.store import Store
    from costguard.store.event_log import ActionRecord

log = logging.getLogger(__name__)

ENTITY_SCOPE = (
    ("principal:", "principals"),
    ("access_key:", "access_keys"),
    ("keypair:", "key_pairs"),
    ("sg:", "security_groups"),
    ("instance:", "instances"),
)
"""Entity prefixes and the scope list each fills, in the order an analyst reads them."""


def scope_from(findings: Sequence[StoredFinding]) -> dict[str, list[str]]:
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
class Changes:
    """What one cycle did to incidents: opened, grown (the findings that joined), raised (with
    the severity before), resolved."""

    created: list[int] = field(default_factory=list)
    raised: dict[int, Severity] = field(default_factory=dict)
    resolved: list[int] = field(default_factory=list)
    joined: dict[int, list[int]] = field(default_factory=dict)


@dataclass(frozen=True)
class Review:
    """What an after-action review shows, gathered in the unit, written after its commit."""

    incident: StoredIncident
    findings: tuple[StoredFinding, ...]
    actions: tuple[ActionRecord, ...]


class Members:
    """Every finding of the incidents a cycle touches, each read from the store at most once."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._by_incident: dict[int, dict[int, StoredFinding]] = {}

    def need(self, incident_ids: Iterable[int]) -> None:
        """Load the findings of the incidents not loaded yet, in one query."""
        missing = set(incident_ids) - set(self._by_incident)
        if not missing:
            return
        for incident_id in missing:
            self._by_incident[incident_id] = {}
        for finding in self.store.list_findings(incident_ids=missing):
            if finding.incident_id is not None:
                self._by_incident[finding.incident_id][finding.id] = finding

    def of(self, incident_id: int) -> list[StoredFinding]:
        """The incident's findings, oldest first (loaded on first use)."""
        self.need([incident_id])
        return sorted(self._by_incident[incident_id].values(), key=lambda f: f.id)

    def attach(self, incident_id: int, findings: Iterable[StoredFinding]) -> None:
        """Mirror what the store just did: the findings now belong to `incident_id` (taken from
        any incident they were in)."""
        moved = []
        for f in findings:
            if f.incident_id is not None:
                self._by_incident.get(f.incident_id, {}).pop(f.id, None)
            moved.append(replace(f, incident_id=incident_id))
        self._by_incident.setdefault(incident_id, {}).update((f.id, f) for f in moved)


class IncidentKeeper:
    """One cycle's incident bookkeeping; built per cycle with the cycle's unit and `now`."""

    def __init__(self, store: Store, config: Config, registry: Registry, now: datetime) -> None:
        self.store = store
        self.config = config
        self.registry = registry
        """The check registry: incident titles are worded by the checks' own phrases."""
        self.now = now
        self.changes = Changes()
        self.members = Members(store)
        self.incidents: dict[int, StoredIncident] = {}
        self.reviews: list[Review] = []

    def update(self, reconciled: Reconciled) -> list[StoredIncident]:
        """Group fresh findings, resolve incidents whose findings are all fixed; returns the
        incidents this cycle touched.

        What an earlier cycle left undone is picked up too: open findings in no incident (a
        `scan` run before grouping existed, a store written by hand) are grouped, and every
        open incident whose findings are all resolved is resolved, not only those whose
        findings resolved in this cycle. Two cheap reads make this self-healing.
        """
        self.incidents = {i.id: i for i in self.store.open_incidents()}
        fresh = [*reconciled.new, *reconciled.reopened, *reconciled.unmuted]
        seen = {f.id for f in fresh}
        fresh += [f for f in self.store.list_findings([Status.OPEN], ungrouped=True)
                  if f.id not in seen]
        loose = [f for f in fresh if f.incident_id not in self.incidents]
        plans = plan_groups(loose, list(self.incidents.values()), self.now)
        candidates = set(self.incidents)
        self.members.need({p.incident_id for p in plans if p.incident_id} | candidates)
        by_id = {f.id: f for f in loose}
        touched = {self._apply(p, [by_id[i] for i in p.finding_ids]).id for p in plans}
        touched |= self._resolve(candidates)
        return [self.incidents[i] for i in sorted(touched)]

    def open_incidents(self) -> list[StoredIncident]:
        """The incidents open now, in the order the store lists them."""
        live = [i for i in self.incidents.values() if i.resolved_at is None]
        return sorted(live, key=lambda i: (i.detected_at is not None, i.detected_at, i.id))

    def _apply(self, plan: Plan, joining: list[StoredFinding]) -> StoredIncident:
        if plan.incident_id is None:
            return self._open(plan, joining)
        before = self.incidents[plan.incident_id]
        findings = sorted({f.id: f for f in [*self.members.of(before.id), *joining]}.values(),
                          key=lambda f: f.id)
        severity = Severity.highest(f.severity for f in findings if f.status != Status.RESOLVED)
        incident = self._keep(self.store.update_incident(
            before.id, title=incident_title(findings, self.registry),
            severity=max(severity, before.severity),
            entities=before.entities | plan.entities, scope=scope_from(findings),
            add_findings=plan.finding_ids,
        ))
        self.members.attach(incident.id, joining)
        self.changes.joined.setdefault(incident.id, []).extend(plan.finding_ids)
        if incident.severity > before.severity and before.notified_at is not None:
            self.changes.raised[incident.id] = before.severity
        return incident

    def _open(self, plan: Plan, findings: list[StoredFinding]) -> StoredIncident:
        incident = self._keep(self.store.create_incident(
            title=incident_title(findings, self.registry), severity=plan.severity,
            accounts=plan.accounts, entities=plan.entities, detected_at=self.now,
            finding_ids=plan.finding_ids, scope=scope_from(findings),
        ))
        self.members.attach(incident.id, findings)
        self.changes.created.append(incident.id)
        return incident

    def _keep(self, incident: StoredIncident) -> StoredIncident:
        self.incidents[incident.id] = incident
        return incident

    def _resolve(self, candidates: Collection[int]) -> set[int]:
        resolved = set()
        for incident_id in sorted(candidates):
            findings = self.members.of(incident_id)
            if not all_resolved(f.status for f in findings):
                continue
            incident = self._keep(
                self.store.set_incident_time(incident_id, IncidentTime.RESOLVED, self.now))
            self.changes.resolved.append(incident_id)
            resolved.add(incident_id)
            actions = tuple(self.store.actions(incident_id))
            self.reviews.append(Review(incident, tuple(findings), actions))
        return resolved

    def escalated(self, incident_id: int) -> None:
        """Stamp the escalation time of an overdue incident (the announcer queued its message)."""
        self._keep(self.store.set_incident_time(incident_id, IncidentTime.ESCALATED, self.now))

    def write_reviews(self, renderer: Renderer) -> dict[int, Path]:
        """Write the after-action review of every incident this cycle resolved (call it once
        the unit has committed); a failure is logged, never costs the cycle."""
        written = {}
        for review in self.reviews:
            path = self._write_review(review, renderer)
            if path is not None:
                written[review.incident.id] = path
        return written

    def _write_review(self, review: Review, renderer: Renderer) -> Path | None:
        from costguard.incidents.hotwash import write_hotwash

        incident_id = review.incident.id
        target = timedelta(minutes=self.config.incidents.target_minutes)
        try:
            path = write_hotwash(review.incident, list(review.findings), list(review.actions),
                                 renderer, self.config.reports_dir, target)
        except Exception:
            log.exception("could not write the after-action review of incident %s", incident_id)
            return None
        log.info("incident %s resolved; after-action review: %s", incident_id, path)
        return path
