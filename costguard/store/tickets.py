"""The tickets ticket channels keep: one per incident per channel, recorded as soon as the vendor
answers, so a restart updates the same ticket instead of opening a second one.

Every method is its own short transaction (delivery runs outside any unit of work), so a key the
vendor gave is committed before the next request goes out.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select

from costguard.store.connection import SessionBase
from costguard.store.models import TicketRow
from costguard.store.records import StoredTicket, TicketState

_T = TicketRow

__all__ = ["StoredTicket", "TicketState", "TicketsMixin"]


def _record(row: TicketRow) -> StoredTicket:
    return StoredTicket(
        id=row.id, channel=row.channel, incident_key=row.incident_key,
        incident_id=row.incident_id, state=TicketState(row.state),
        external_id=row.external_id, external_key=row.external_key, url=row.url,
        fingerprints=tuple(row.fingerprints or ()), created_at=row.created_at,
        updated_at=row.updated_at, resolved_at=row.resolved_at,
    )


class TicketsMixin(SessionBase):
    """`ticket`, `tickets_for`, `resolved_tickets`, `begin_ticket`, `record_ticket`."""

    def ticket(self, channel: str, incident_key: str) -> StoredTicket | None:
        """The channel's ticket for the incident whose first message has this key."""
        query = select(_T).where(_T.channel == channel, _T.incident_key == incident_key)
        with self._read() as session:
            row = session.execute(query).scalar_one_or_none()
            return None if row is None else _record(row)

    def tickets_for(self, incident_key: str) -> list[StoredTicket]:
        """Every channel's ticket for one incident, oldest first: what chat messages link to."""
        query = select(_T).where(_T.incident_key == incident_key).order_by(_T.id)
        with self._read() as session:
            return [_record(row) for row in session.execute(query).scalars()]

    def resolved_tickets(self, channel: str, since: datetime) -> list[StoredTicket]:
        """The channel's tickets resolved at or after `since`, newest first: what a recurring
        problem may reopen."""
        query = (select(_T)
                 .where(_T.channel == channel, _T.state == TicketState.RESOLVED.value,
                        _T.resolved_at >= since)
                 .order_by(_T.resolved_at.desc(), _T.id.desc()))
        with self._read() as session:
            return [_record(row) for row in session.execute(query).scalars()]

    def begin_ticket(self, *, channel: str, incident_key: str, incident_id: int | None,
                     fingerprints: Iterable[str], at: datetime) -> StoredTicket:
        """Records that a create is about to be sent (state pending); the existing record when
        there is one already (a retry after a crash)."""
        with self._write() as session:
            query = select(_T).where(_T.channel == channel, _T.incident_key == incident_key)
            row = session.execute(query).scalar_one_or_none()
            if row is None:
                row = _T(channel=channel, incident_key=incident_key, incident_id=incident_id,
                         state=TicketState.PENDING.value, fingerprints=sorted(set(fingerprints)),
                         created_at=at, updated_at=at)
                session.add(row)
                session.flush()
            return _record(row)

    def record_ticket(self, ticket_id: int, *, at: datetime, state: TicketState,
                      external_id: str | None = None, external_key: str | None = None,
                      url: str | None = None, incident_key: str | None = None,
                      incident_id: int | None = None,
                      fingerprints: Iterable[str] = ()) -> StoredTicket:
        """Records what the vendor answered: ids once known, the new state, and (on reopening
        for a recurrence) the new incident the ticket now follows."""
        with self._write() as session:
            row = session.get(_T, ticket_id)
            if row is None:
                raise LookupError(f"no ticket with id {ticket_id}")
            row.state = state.value
            row.updated_at = at
            row.resolved_at = at if state is TicketState.RESOLVED else None
            for name, value in (("external_id", external_id), ("external_key", external_key),
                                ("url", url), ("incident_key", incident_key),
                                ("incident_id", incident_id)):
                if value is not None:
                    setattr(row, name, value)
            added = set(fingerprints) - set(row.fingerprints or ())
            if added:
                row.fingerprints = sorted({*(row.fingerprints or ()), *added})
            session.flush()
            return _record(row)
