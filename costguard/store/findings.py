"""Findings: reconciling a scan's results with what is stored, triage, and the transition log."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from costguard.model import Finding, Severity, Status
from costguard.store.connection import SessionBase
from costguard.store.lifecycle import (
    Change,
    Reason,
    check_acknowledge,
    check_mute,
    check_unacknowledge,
    check_unmute,
    strongest,
    when_seen,
    when_unseen,
)
from costguard.store.models import FindingRow, TransitionRow
from costguard.store.records import Reconciled, StoredFinding, Transition

_CHUNK = 500  # bind parameters per IN (...); far below SQLite's and PostgreSQL's limits


def finding_record(row: FindingRow) -> StoredFinding:
    """The caller-facing copy of a finding row."""
    return StoredFinding(
        id=row.id,
        fingerprint=row.fingerprint,
        policy=row.policy,
        check=row.check,
        severity=Severity(row.severity),
        status=Status(row.status),
        account=row.account,
        region=row.region,
        resource=row.resource,
        title=row.title,
        details=dict(row.details or {}),
        entities=frozenset(row.entities or ()),
        first_seen=row.first_seen,
        last_seen=row.last_seen,
        resolved_at=row.resolved_at,
        muted_until=row.muted_until,
        mute_reason=row.mute_reason,
        acknowledged_at=row.acknowledged_at,
        incident_id=row.incident_id,
    )


def _transition_record(row: TransitionRow) -> Transition:
    return Transition(
        finding_id=row.finding_id,
        from_status=Status(row.from_status) if row.from_status else None,
        to_status=Status(row.to_status),
        at=row.at,
        reason=row.reason,
        scan_id=row.scan_id,
        actor=row.actor,
    )


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _load(session: Session, fingerprints: Iterable[str]) -> dict[str, FindingRow]:
    """Every active finding, plus any (resolved) finding the scan saw again."""
    active = select(FindingRow).where(FindingRow.status != Status.RESOLVED.value)
    rows = {row.fingerprint: row for row in session.scalars(active)}
    missing = [fp for fp in fingerprints if fp not in rows]
    for chunk in _chunks(missing):
        query = select(FindingRow).where(FindingRow.fingerprint.in_(chunk))
        rows.update((row.fingerprint, row) for row in session.scalars(query))
    return rows


def _new_row(finding: Finding, now: datetime) -> FindingRow:
    return FindingRow(
        fingerprint=finding.fingerprint,
        check=finding.check,
        account=finding.account,
        region=finding.region,
        resource=finding.resource,
        status=Status.OPEN.value,
        first_seen=now,
        **_observed(finding, now),
    )


def _observed(finding: Finding, now: datetime) -> dict[str, object]:
    """What a new sighting updates: the check may have changed its mind about any of these."""
    return {
        "policy": finding.policy,
        "severity": finding.severity.value,
        "title": finding.title,
        "details": dict(finding.details),
        "entities": sorted(finding.entities),
        "last_seen": now,
    }


def _log(
    session: Session,
    row: FindingRow,
    from_status: Status | None,
    change: Change,
    now: datetime,
    scan_id: int | None,
    reason: str | None = None,
    actor: str | None = None,
) -> None:
    session.add(
        TransitionRow(
            finding=row,
            from_status=from_status.value if from_status else None,
            to_status=change.to.value,
            at=now,
            reason=reason or change.reason.value,
            scan_id=scan_id,
            actor=actor,
        )
    )


def _triage(session: Session, row: FindingRow, change: Change, now: datetime,
            reason: str | None, by: str | None) -> None:
    """A person's step: logged with who and why, then applied."""
    _log(session, row, Status(row.status), change, now, None, reason, by)
    row.status = change.to.value


def _apply(
    session: Session, row: FindingRow, change: Change, now: datetime, scan_id: int | None
) -> None:
    """Moves a finding and records why; reopening or unmuting forgets the old triage."""
    before = Status(row.status)
    row.status = change.to.value
    if change.to is Status.RESOLVED:
        row.resolved_at = now
    elif change.to is Status.OPEN:
        row.resolved_at = None
        row.acknowledged_at = None
        row.muted_until = None
        row.mute_reason = None
    _log(session, row, before, change, now, scan_id)


class _Buckets:
    """Rows sorted by what happened to them during one reconcile."""

    def __init__(self) -> None:
        self.new: list[FindingRow] = []
        self.reopened: list[FindingRow] = []
        self.resolved: list[FindingRow] = []
        self.unmuted: list[FindingRow] = []
        self.seen: list[FindingRow] = []

    def add(self, row: FindingRow, change: Change | None) -> None:
        if change is None:
            return
        bucket = {
            Reason.NEW: self.new,
            Reason.REOPENED: self.reopened,
            Reason.NOT_SEEN: self.resolved,
            Reason.MUTE_EXPIRED: self.unmuted,
        }[change.reason]
        bucket.append(row)

    def result(self) -> Reconciled:
        copies: dict[int, StoredFinding] = {}  # a new finding is also a seen one: copy it once

        def records(rows: list[FindingRow]) -> list[StoredFinding]:
            return [copies.get(row.id) or copies.setdefault(row.id, finding_record(row))
                    for row in rows]

        return Reconciled(
            new=records(self.new),
            reopened=records(self.reopened),
            resolved=records(self.resolved),
            unmuted=records(self.unmuted),
            seen=records(self.seen),
        )


class FindingsMixin(SessionBase):
    """Finding identity and lifecycle (the lifecycle README.md describes)."""

    def reconcile(
        self,
        *,
        scan_id: int | None,
        findings: Sequence[Finding],
        scopes: Collection[tuple[str, str, str]],
        now: datetime,
    ) -> Reconciled:
        """Merges one scan's findings into the store and reports what changed.

        `scopes` are the (check, account, region) evaluated with complete data this cycle:
        only there may an absent finding be resolved.
        """
        chosen = strongest(findings)
        complete = frozenset(scopes)
        buckets = _Buckets()
        with self._write() as session:
            rows = _load(session, chosen)
            for fingerprint, finding in chosen.items():
                row, change = self._sighted(session, rows.get(fingerprint), finding, now, scan_id)
                buckets.add(row, change)
                buckets.seen.append(row)
            for row in rows.values():
                if row.fingerprint in chosen:
                    continue
                in_scope = (row.check, row.account, row.region) in complete
                change = when_unseen(Status(row.status), row.muted_until, now, in_scope=in_scope)
                if change is not None:
                    _apply(session, row, change, now, scan_id)
                buckets.add(row, change)
            session.flush()  # assigns ids to new findings before they are copied out
            return buckets.result()

    @staticmethod
    def _sighted(
        session: Session,
        row: FindingRow | None,
        finding: Finding,
        now: datetime,
        scan_id: int | None,
    ) -> tuple[FindingRow, Change | None]:
        if row is None:
            row = _new_row(finding, now)
            session.add(row)
            change = Change(Status.OPEN, Reason.NEW)
            _log(session, row, None, change, now, scan_id)
            return row, change
        change = when_seen(Status(row.status), row.muted_until, now)
        for name, value in _observed(finding, now).items():
            setattr(row, name, value)
        if change is not None:
            _apply(session, row, change, now, scan_id)
        return row, change

    def list_findings(
        self,
        statuses: Iterable[Status] | None = None,
        min_severity: Severity | None = None,
        incident_id: int | None = None,
        incident_ids: Collection[int] | None = None,
        ungrouped: bool = False,
    ) -> list[StoredFinding]:
        """Findings filtered by status, lowest severity and incident (one, or any of several
        in one query, or none with `ungrouped`), oldest first."""
        query = select(FindingRow).order_by(FindingRow.id)
        if statuses is not None:
            query = query.where(FindingRow.status.in_([Status(s).value for s in statuses]))
        if min_severity is not None:
            allowed = [s.value for s in Severity if s >= min_severity]
            query = query.where(FindingRow.severity.in_(allowed))
        if incident_id is not None:
            query = query.where(FindingRow.incident_id == incident_id)
        if incident_ids is not None:
            query = query.where(FindingRow.incident_id.in_(sorted(incident_ids)))
        if ungrouped:
            query = query.where(FindingRow.incident_id.is_(None))
        with self._read() as session:
            return [finding_record(row) for row in session.scalars(query)]

    def get_finding(self, finding_id: int) -> StoredFinding:
        """One finding; LookupError when there is none with that id."""
        with self._read() as session:
            return finding_record(_get(session, finding_id))

    def acknowledge(
        self, finding_id: int, *, now: datetime, reason: str | None = None,
        by: str | None = None,
    ) -> StoredFinding:
        """Someone (`by`) is on it: stops reminders; who, when and why are recorded."""
        with self._write() as session:
            row = _get(session, finding_id)
            check_acknowledge(finding_id, Status(row.status))
            _triage(session, row, Change(Status.ACKNOWLEDGED, Reason.ACKNOWLEDGED), now,
                    reason, by)
            row.acknowledged_at = now
            row.muted_until = None
            row.mute_reason = None
            return finding_record(row)

    def unacknowledge(
        self, finding_id: int, *, now: datetime, reason: str | None = None,
        by: str | None = None,
    ) -> StoredFinding:
        """Nobody is on it after all: open again, waiting for someone."""
        with self._write() as session:
            row = _get(session, finding_id)
            check_unacknowledge(finding_id, Status(row.status))
            _triage(session, row, Change(Status.OPEN, Reason.UNACKNOWLEDGED), now, reason, by)
            row.acknowledged_at = None
            return finding_record(row)

    def mute(
        self, finding_id: int, *, until: datetime, reason: str, now: datetime,
        by: str | None = None,
    ) -> StoredFinding:
        """Accepted for now: silent until `until`, when it opens again if still seen."""
        with self._write() as session:
            row = _get(session, finding_id)
            check_mute(finding_id, Status(row.status), until, now)
            _triage(session, row, Change(Status.MUTED, Reason.MUTED), now, reason, by)
            row.muted_until = until
            row.mute_reason = reason
            return finding_record(row)

    def unmute(
        self, finding_id: int, *, now: datetime, reason: str | None = None,
        by: str | None = None,
    ) -> StoredFinding:
        """The mute ends now rather than at its `until`: open again."""
        with self._write() as session:
            row = _get(session, finding_id)
            check_unmute(finding_id, Status(row.status))
            _triage(session, row, Change(Status.OPEN, Reason.UNMUTED), now, reason, by)
            row.muted_until = None
            row.mute_reason = None
            return finding_record(row)

    def transitions(self, finding_id: int) -> list[Transition]:
        """A finding's history, oldest first; LookupError for an unknown id."""
        query = (
            select(TransitionRow)
            .where(TransitionRow.finding_id == finding_id)
            .order_by(TransitionRow.at, TransitionRow.id)
        )
        with self._read() as session:
            _get(session, finding_id)
            return [_transition_record(row) for row in session.scalars(query)]


def _get(session: Session, finding_id: int) -> FindingRow:
    row = session.get(FindingRow, finding_id)
    if row is None:
        raise LookupError(f"no finding with id {finding_id}")
    return row
