"""Retention: deleting what has aged out, so an always-on daemon's store stays the size of its
retention periods rather than of its uptime.

What is never deleted, whatever the periods say: anything of an incident that is not resolved
(its findings and their transitions, its containment actions, its messages: a ticket channel
keeps the ticket's id on the message), a finding that is not resolved, a message still pending,
and the newest scan. A resolved finding that still belongs to a kept incident stays with it.
One transaction: a prune that fails deletes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, exists, func, not_, or_, select
from sqlalchemy.orm import Session

from costguard.model import Status
from costguard.store.connection import SessionBase
from costguard.store.models import (
    ActionRow,
    BurnSampleRow,
    DeliveryAttemptRow,
    EventRow,
    FindingRow,
    IncidentRow,
    NotificationRow,
    ScanRow,
    TransitionRow,
)
from costguard.store.records import IncidentStatus, NotificationStatus


@dataclass(frozen=True)
class Cutoffs:
    """Rows older than these are deleted (each an aware UTC datetime)."""

    events: datetime
    burn_samples: datetime
    scans: datetime
    resolved: datetime
    messages: datetime


class RetentionMixin(SessionBase):
    """Pruning by age, never touching what an open incident or a pending message needs."""

    def prune(self, cutoffs: Cutoffs) -> dict[str, int]:
        """Delete what is older than the cutoffs; returns the rows deleted per table."""
        with self._write() as session:
            done = {
                "events": session.execute(
                    delete(EventRow).where(EventRow.time < cutoffs.events)).rowcount,
                "burn_samples": session.execute(
                    delete(BurnSampleRow).where(BurnSampleRow.at < cutoffs.burn_samples)
                ).rowcount,
            }
            newest = select(func.max(ScanRow.id)).scalar_subquery()
            done["scans"] = session.execute(delete(ScanRow).where(
                ScanRow.started_at < cutoffs.scans, ScanRow.id != newest)).rowcount
            done.update(_prune_messages(session, cutoffs.messages))
            done.update(_prune_resolved(session, cutoffs.resolved))
        return {table: count or 0 for table, count in done.items()}

    def row_counts(self) -> dict[str, int]:
        """Rows per table (the daemon benchmark's and the tests' measure of boundedness)."""
        tables = [EventRow, BurnSampleRow, ScanRow, FindingRow, TransitionRow, IncidentRow,
                  NotificationRow, DeliveryAttemptRow, ActionRow]
        with self._read() as session:
            return {t.__tablename__: session.scalar(select(func.count()).select_from(t)) or 0
                    for t in tables}


def _open_incident(incident_id: Any) -> Any:
    """SQL: the incident is missing (NULL) or not resolved."""
    return exists().where(IncidentRow.id == incident_id,
                          IncidentRow.status != IncidentStatus.RESOLVED.value)


def _prune_messages(session: Session, before: datetime) -> dict[str, int]:
    """Sent or dead messages older than `before`, not of an incident still open."""
    finished = [NotificationStatus.SENT.value, NotificationStatus.FAILED.value]
    last = func.coalesce(NotificationRow.sent_at, NotificationRow.last_attempt_at,
                         NotificationRow.created_at)
    old = select(NotificationRow.id).where(
        NotificationRow.status.in_(finished), last < before,
        or_(NotificationRow.incident_id.is_(None),
            not_(_open_incident(NotificationRow.incident_id))),
    )
    attempts = session.execute(
        delete(DeliveryAttemptRow).where(DeliveryAttemptRow.notification_id.in_(old))).rowcount
    messages = session.execute(
        delete(NotificationRow).where(NotificationRow.id.in_(old))).rowcount
    return {"notification_attempts": attempts, "notifications": messages}


def _prune_resolved(session: Session, before: datetime) -> dict[str, int]:
    """Resolved findings and incidents older than `before`: an incident only when every one
    of its findings is resolved and no message of it is pending; a finding only when its
    incident (if any) goes too or is already gone."""
    pending = exists().where(NotificationRow.incident_id == IncidentRow.id,
                             NotificationRow.status == NotificationStatus.PENDING.value)
    unresolved = exists().where(FindingRow.incident_id == IncidentRow.id,
                                FindingRow.status != Status.RESOLVED.value)
    incidents = select(IncidentRow.id).where(
        IncidentRow.status == IncidentStatus.RESOLVED.value, IncidentRow.resolved_at < before,
        not_(pending), not_(unresolved),
    )
    gone_incidents = list(session.scalars(incidents))
    findings = select(FindingRow.id).where(
        FindingRow.status == Status.RESOLVED.value, FindingRow.resolved_at < before,
        or_(FindingRow.incident_id.is_(None), FindingRow.incident_id.in_(gone_incidents),
            not_(exists().where(IncidentRow.id == FindingRow.incident_id))),
    )
    gone_findings = list(session.scalars(findings))
    run = session.execute
    out = {
        "finding_transitions": run(delete(TransitionRow).where(
            TransitionRow.finding_id.in_(gone_findings))).rowcount,
        "findings": run(delete(FindingRow).where(FindingRow.id.in_(gone_findings))).rowcount,
        "actions": run(delete(ActionRow).where(ActionRow.incident_id.in_(gone_incidents))
                       ).rowcount,
    }
    remaining = exists().where(FindingRow.incident_id == IncidentRow.id)
    out["incidents"] = run(delete(IncidentRow).where(
        IncidentRow.id.in_(gone_incidents), not_(remaining))).rowcount
    return out

