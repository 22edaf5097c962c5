"""Incidents: groups of findings (chosen by `incidents.grouping`) and their milestone times."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from costguard.model import Severity
from costguard.store.connection import SessionBase
from costguard.store.models import FindingRow, IncidentRow
from costguard.store.records import IncidentStatus, IncidentTime, StoredIncident


def _record(row: IncidentRow, finding_ids: Iterable[int]) -> StoredIncident:
    return StoredIncident(
        id=row.id,
        title=row.title,
        severity=Severity(row.severity),
        status=IncidentStatus(row.status),
        accounts=tuple(row.accounts or ()),
        entities=frozenset(row.entities or ()),
        scope=dict(row.scope or {}),
        detected_at=row.detected_at,
        notified_at=row.notified_at,
        acknowledged_at=row.acknowledged_at,
        resolved_at=row.resolved_at,
        escalated_at=row.escalated_at,
        finding_ids=tuple(sorted(finding_ids)),
        acknowledged_by=row.acknowledged_by,
        acknowledged_reason=row.acknowledged_reason,
    )


def _records(session: Session, rows: list[IncidentRow]) -> list[StoredIncident]:
    """Records for many incidents with one query for all their finding ids."""
    members: dict[int, list[int]] = {row.id: [] for row in rows}
    if members:
        query = select(FindingRow.id, FindingRow.incident_id).where(
            FindingRow.incident_id.in_(list(members))
        )
        for finding_id, incident_id in session.execute(query):
            members[incident_id].append(finding_id)
    return [_record(row, members[row.id]) for row in rows]


def _get(session: Session, incident_id: int) -> IncidentRow:
    row = session.get(IncidentRow, incident_id)
    if row is None:
        raise LookupError(f"no incident with id {incident_id}")
    return row


def _attach(session: Session, incident_id: int, finding_ids: Iterable[int]) -> set[str]:
    """Points findings at the incident; returns their accounts. LookupError for unknown ids."""
    wanted = set(finding_ids)
    if not wanted:
        return set()
    found = session.execute(
        select(FindingRow.id, FindingRow.account).where(FindingRow.id.in_(wanted))
    ).all()
    unknown = wanted - {finding_id for finding_id, _ in found}
    if unknown:
        raise LookupError(f"no finding with id {', '.join(map(str, sorted(unknown)))}")
    session.execute(
        update(FindingRow).where(FindingRow.id.in_(wanted)).values(incident_id=incident_id)
    )
    return {account for _, account in found}


def _check_acknowledge(row: IncidentRow) -> None:
    if row.status == IncidentStatus.RESOLVED.value:
        raise ValueError(f"incident {row.id} is resolved; there is nothing to acknowledge")
    if row.acknowledged_at is not None:
        who = f" by {row.acknowledged_by}" if row.acknowledged_by else ""
        raise ValueError(
            f"incident {row.id} was already acknowledged{who} at {row.acknowledged_at.isoformat()}")


class IncidentsMixin(SessionBase):
    """Create, grow and time incidents; a finding belongs to at most one incident."""

    def create_incident(
        self,
        *,
        title: str,
        severity: Severity,
        accounts: Iterable[str],
        entities: Iterable[str],
        detected_at: datetime,
        finding_ids: Iterable[int],
        scope: Mapping[str, Any] | None = None,
    ) -> StoredIncident:
        """A new open incident owning `finding_ids` (taken from any incident they were in)."""
        with self._write() as session:
            row = IncidentRow(
                title=title,
                severity=Severity(severity).value,
                status=IncidentStatus.OPEN.value,
                accounts=sorted(set(accounts)),
                entities=sorted(set(entities)),
                scope=dict(scope or {}),
                detected_at=detected_at,
            )
            session.add(row)
            session.flush()
            found = _attach(session, row.id, finding_ids)
            row.accounts = sorted(set(row.accounts) | found)
            return _records(session, [row])[0]

    def update_incident(
        self,
        incident_id: int,
        *,
        title: str | None = None,
        severity: Severity | None = None,
        entities: Iterable[str] | None = None,
        scope: Mapping[str, Any] | None = None,
        add_findings: Iterable[int] = (),
    ) -> StoredIncident:
        """Changes what is given; `entities` and `scope` replace, findings are added.

        The accounts of added findings join the incident's accounts.
        """
        with self._write() as session:
            row = _get(session, incident_id)
            if title is not None:
                row.title = title
            if severity is not None:
                row.severity = Severity(severity).value
            if entities is not None:
                row.entities = sorted(set(entities))
            if scope is not None:
                row.scope = dict(scope)
            found = _attach(session, incident_id, add_findings)
            row.accounts = sorted(set(row.accounts) | found)
            return _records(session, [row])[0]

    def set_incident_time(
        self, incident_id: int, field: IncidentTime, at: datetime | None
    ) -> StoredIncident:
        """Records a milestone; setting (or clearing) `resolved` also closes (or reopens) it."""
        field = IncidentTime(field)
        with self._write() as session:
            row = _get(session, incident_id)
            setattr(row, field.value, at)
            if field is IncidentTime.RESOLVED:
                status = IncidentStatus.RESOLVED if at is not None else IncidentStatus.OPEN
                row.status = status.value
            return _records(session, [row])[0]

    def acknowledge_incident(
        self, incident_id: int, *, now: datetime, by: str | None, reason: str | None = None
    ) -> StoredIncident:
        """Someone (`by`) has taken the incident: its acknowledged time, who and why.

        Acknowledging one of its findings does not do this; an incident is taken as a whole.
        Refused (ValueError) when it is resolved or already acknowledged.
        """
        with self._write() as session:
            row = _get(session, incident_id)
            _check_acknowledge(row)
            row.acknowledged_at = now
            row.acknowledged_by = by
            row.acknowledged_reason = reason
            return _records(session, [row])[0]

    def get_incident(self, incident_id: int) -> StoredIncident:
        """One incident; LookupError when there is none with that id."""
        with self._read() as session:
            return _records(session, [_get(session, incident_id)])[0]

    def open_incidents(self) -> list[StoredIncident]:
        """Incidents not yet resolved, oldest first: the ones new findings may join."""
        query = (
            select(IncidentRow)
            .where(IncidentRow.status == IncidentStatus.OPEN.value)
            .order_by(IncidentRow.detected_at, IncidentRow.id)
        )
        with self._read() as session:
            return _records(session, list(session.scalars(query)))

    def list_incidents(
        self, since: datetime | None = None, status: IncidentStatus | None = None
    ) -> list[StoredIncident]:
        """Incidents detected at or after `since` (all when None), only those with `status`
        when given, oldest first."""
        query = select(IncidentRow).order_by(IncidentRow.detected_at, IncidentRow.id)
        if since is not None:
            query = query.where(IncidentRow.detected_at >= since)
        if status is not None:
            query = query.where(IncidentRow.status == IncidentStatus(status).value)
        with self._read() as session:
            return _records(session, list(session.scalars(query)))
