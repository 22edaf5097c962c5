"""Events seen (each once, by its id) and containment actions.

Event delivery is at least once: SQS may hand the same message over twice, and the queue and
LookupEvents overlap. `record_events` inserts only ids never seen and says which were new, in
the same transaction, so a message is deleted from the queue only after this has committed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, or_, select

from costguard.snapshot import ApiEvent, GuardDutyFinding
from costguard.store.connection import SessionBase
from costguard.store.models import ActionRow, EventRow

API, GUARDDUTY = "api", "guardduty"


@dataclass(frozen=True)
class ActionRecord:
    """A containment step taken (or, in dry-run, only described) for an incident."""

    id: int
    incident_id: int | None
    at: datetime
    action: str
    target: str
    dry_run: bool
    ok: bool
    result: str | None


@dataclass(frozen=True)
class StoredEvent:
    """An event as read back, with its row's time (a GuardDuty finding's last update) and when
    it was received (the incremental reader's cursor)."""

    event: ApiEvent | GuardDutyFinding
    time: datetime
    received_at: datetime
    key: str


def _payload(event: ApiEvent | GuardDutyFinding) -> dict[str, Any]:
    """The event as JSON-ready data; datetimes as ISO strings."""
    out: dict[str, Any] = {}
    for field in dataclasses.fields(event):
        value = getattr(event, field.name)
        out[field.name] = value.isoformat() if isinstance(value, datetime) else value
    return out


def _event(kind: str, payload: dict[str, Any]) -> ApiEvent | GuardDutyFinding:
    cls = ApiEvent if kind == API else GuardDutyFinding
    names = {f.name for f in dataclasses.fields(cls)}
    values = {k: v for k, v in payload.items() if k in names}
    for key in ("time", "created_at", "updated_at"):
        if isinstance(values.get(key), str):
            values[key] = datetime.fromisoformat(values[key])
    return cls(**values)


def _row(event: ApiEvent | GuardDutyFinding, received_at: datetime) -> EventRow:
    if isinstance(event, ApiEvent):
        return EventRow(
            event_id=event.event_id, kind=API, account=event.account, region=event.region,
            time=event.time, name=event.name, principal_arn=event.principal_arn,
            payload=_payload(event), received_at=received_at,
        )
    return EventRow(
        event_id=f"guardduty:{event.finding_id}:{(event.updated_at or received_at).isoformat()}",
        kind=GUARDDUTY, account=event.account, region=event.region,
        time=event.updated_at or event.created_at or received_at, name=event.type,
        principal_arn=None, payload=_payload(event), received_at=received_at,
    )


class EventsMixin(SessionBase):
    """Dedupe, window and actions."""

    def record_events(
        self, events: Iterable[ApiEvent | GuardDutyFinding], *, received_at: datetime
    ) -> list[ApiEvent | GuardDutyFinding]:
        """Store events not seen before; returns those that were new (in the given order).

        A GuardDuty finding is keyed by id and update time, so an updated finding counts again.
        """
        rows = {row.event_id: (row, event) for event in events
                for row in [_row(event, received_at)]}
        if not rows:
            return []
        with self._write() as session:
            seen = set(session.scalars(
                select(EventRow.event_id).where(EventRow.event_id.in_(list(rows)))
            ))
            new = [(row, event) for key, (row, event) in rows.items() if key not in seen]
            session.add_all(row for row, _ in new)
        return [event for _, event in new]

    def recent_events(
        self, *, since: datetime
    ) -> tuple[list[ApiEvent], list[GuardDutyFinding]]:
        """API events and GuardDuty findings whose time is at or after `since`, oldest first."""
        query = select(EventRow).where(EventRow.time >= since).order_by(EventRow.time)
        api: list[ApiEvent] = []
        findings: dict[str, GuardDutyFinding] = {}
        with self._read() as session:
            for row in session.scalars(query):
                event = _event(row.kind, row.payload)
                if isinstance(event, ApiEvent):
                    api.append(event)
                else:
                    findings[event.finding_id] = event  # the latest update wins
        return api, list(findings.values())

    def events_received(
        self, *, since: datetime, received_from: datetime | None = None,
        already: Collection[str] = (),
    ) -> list[StoredEvent]:
        """Events whose time is at or after `since`, and (when given) that were received at or
        after `received_from`, except the ids `already` read of those received at exactly
        `received_from`: what an incremental reader has not seen yet, in storage order."""
        query = select(EventRow.kind, EventRow.payload, EventRow.time, EventRow.received_at,
                       EventRow.event_id).where(EventRow.time >= since)
        if received_from is not None:
            query = query.where(EventRow.received_at >= received_from)
            if already:
                query = query.where(or_(EventRow.received_at > received_from,
                                        EventRow.event_id.not_in(list(already))))
        with self._read() as session:
            return [StoredEvent(_event(kind, payload), time, received, key)
                    for kind, payload, time, received, key in session.execute(query)]

    def prune_events(self, before: datetime) -> int:
        """Forget events older than `before` (their dedupe window has passed); returns how many."""
        with self._write() as session:
            return session.execute(delete(EventRow).where(EventRow.time < before)).rowcount or 0

    def record_action(
        self, *, incident_id: int | None, at: datetime, action: str, target: str,
        dry_run: bool, ok: bool, result: str | None = None,
    ) -> ActionRecord:
        """Record one containment step, done or described."""
        row = ActionRow(incident_id=incident_id, at=at, action=action, target=target,
                        dry_run=dry_run, ok=ok, result=result)
        with self._write() as session:
            session.add(row)
            session.flush()
            return _action(row)

    def actions(self, incident_id: int | None = None) -> Sequence[ActionRecord]:
        """Containment steps, oldest first, for one incident or all."""
        query = select(ActionRow).order_by(ActionRow.at, ActionRow.id)
        if incident_id is not None:
            query = query.where(ActionRow.incident_id == incident_id)
        with self._read() as session:
            return [_action(row) for row in session.scalars(query)]


def _action(row: ActionRow) -> ActionRecord:
    return ActionRecord(row.id, row.incident_id, row.at, row.action, row.target, row.dry_run,
                        row.ok, row.result)
