"""The tickets table on SQLite and PostgreSQL: pending before a create, the vendor's ids once
it answers, resolved tickets a recurrence may reopen, one record per channel and incident."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from costguard.store import Store
from costguard.store.tickets import TicketState

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def test_a_ticket_goes_pending_open_resolved_and_moves_to_a_recurrence(store: Store) -> None:
    pending = store.begin_ticket(channel="jira", incident_key="incident-1-new", incident_id=1,
                                 fingerprints=["b", "a"], at=T0)
    assert pending.state is TicketState.PENDING and pending.external_id is None
    assert pending.fingerprints == ("a", "b")
    again = store.begin_ticket(channel="jira", incident_key="incident-1-new", incident_id=1,
                               fingerprints=["c"], at=T0 + timedelta(minutes=1))
    assert again.id == pending.id and again.fingerprints == ("a", "b")

    opened = store.record_ticket(pending.id, at=T0, state=TicketState.OPEN, external_id="10001",
                                 external_key="SEC-1", url="https://x/browse/SEC-1")
    assert (opened.external_key, opened.url) == ("SEC-1", "https://x/browse/SEC-1")
    assert store.ticket("jira", "incident-1-new") == opened
    assert store.ticket("github", "incident-1-new") is None

    fixed = T0 + timedelta(hours=1)
    store.record_ticket(pending.id, at=fixed, state=TicketState.RESOLVED)
    assert [t.id for t in store.resolved_tickets("jira", since=fixed)] == [pending.id]
    assert store.resolved_tickets("jira", since=fixed + timedelta(seconds=1)) == []

    moved = store.record_ticket(pending.id, at=fixed + timedelta(days=1), state=TicketState.OPEN,
                                incident_key="incident-2-new", incident_id=2,
                                fingerprints=["a", "z"])
    assert (moved.incident_key, moved.incident_id, moved.external_key) == (
        "incident-2-new", 2, "SEC-1")
    assert moved.fingerprints == ("a", "b", "z") and moved.resolved_at is None
    assert store.ticket("jira", "incident-1-new") is None


def test_recording_an_unknown_ticket_is_a_lookup_error(store: Store) -> None:
    with pytest.raises(LookupError):
        store.record_ticket(99, at=T0, state=TicketState.OPEN)
