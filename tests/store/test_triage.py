"""Triage with names: every step a person takes on a finding or an incident keeps who and why,
on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from costguard.model import Severity, Status
from costguard.store import IncidentTime, Store, StoredFinding

from .conftest import ACCOUNT, REGION

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
T1, T2, T3 = (T0 + timedelta(minutes=m) for m in (5, 10, 15))
SCOPE = ("instance_types", ACCOUNT, REGION)


@pytest.fixture
def finding(store: Store, make_finding) -> StoredFinding:
    """One open finding in an open incident."""
    [found] = store.reconcile(scan_id=None, findings=[make_finding()], scopes=[SCOPE],
                              now=T0).new
    store.create_incident(title="GPUs", severity=Severity.HIGH, accounts=[ACCOUNT],
                          entities=[], detected_at=T0, finding_ids=[found.id])
    return store.get_finding(found.id)


def steps(store: Store, finding: StoredFinding) -> list[tuple[str, str, str | None, str | None]]:
    """(from, to, reason, actor) of every transition after the first."""
    return [(t.from_status.value, t.to_status.value, t.reason, t.actor)
            for t in store.transitions(finding.id)[1:] if t.from_status is not None]


def test_each_step_records_who_and_why(store: Store, finding: StoredFinding) -> None:
    store.acknowledge(finding.id, now=T1, by="alice", reason="on it")
    store.unacknowledge(finding.id, now=T2, by="alice", reason="handing over")
    store.mute(finding.id, until=T3 + timedelta(days=1), reason="accepted risk", now=T3,
               by="bob")
    unmuted = store.unmute(finding.id, now=T3 + timedelta(minutes=1), by="carol",
                           reason="not accepted")

    assert steps(store, finding) == [
        ("open", "acknowledged", "on it", "alice"),
        ("acknowledged", "open", "handing over", "alice"),
        ("open", "muted", "accepted risk", "bob"),
        ("muted", "open", "not accepted", "carol"),
    ]
    assert (unmuted.status, unmuted.muted_until, unmuted.mute_reason) == (Status.OPEN, None, None)
    assert store.transitions(finding.id)[0].actor is None  # costguard opened it, nobody signed


def test_unacknowledging_forgets_the_acknowledged_time(store: Store, finding) -> None:
    store.acknowledge(finding.id, now=T1, by="alice")
    back = store.unacknowledge(finding.id, now=T2, by="alice")

    assert (back.status, back.acknowledged_at) == (Status.OPEN, None)
    assert steps(store, finding)[-1] == ("acknowledged", "open", "unacknowledged", "alice")


@pytest.mark.parametrize(("step", "message"), [
    ("unacknowledge", "is open; only an acknowledged finding can be unacknowledged"),
    ("unmute", "is open, not muted"),
])
def test_undoing_what_was_not_done_is_refused_and_changes_nothing(store, finding, step, message):
    with pytest.raises(ValueError, match=message):
        getattr(store, step)(finding.id, now=T1, by="alice")
    assert store.get_finding(finding.id) == finding
    assert steps(store, finding) == []


def test_acknowledging_a_finding_leaves_its_incident_alone(store: Store, finding) -> None:
    store.acknowledge(finding.id, now=T1, by="alice")

    incident = store.get_incident(finding.incident_id)
    assert (incident.acknowledged_at, incident.acknowledged_by) == (None, None)


def test_an_incident_is_acknowledged_with_who_and_why(store: Store, finding) -> None:
    acked = store.acknowledge_incident(finding.incident_id, now=T1, by="alice",
                                       reason="paging the owner")

    assert (acked.acknowledged_at, acked.acknowledged_by, acked.acknowledged_reason) == (
        T1, "alice", "paging the owner")
    assert store.get_incident(acked.id) == acked
    assert store.get_finding(finding.id).status is Status.OPEN  # its findings are untouched


def test_an_incident_is_acknowledged_once(store: Store, finding) -> None:
    store.acknowledge_incident(finding.incident_id, now=T1, by="alice")

    with pytest.raises(ValueError, match=r"already acknowledged by alice at 2024-05-01T12:05"):
        store.acknowledge_incident(finding.incident_id, now=T2, by="bob")
    assert store.get_incident(finding.incident_id).acknowledged_by == "alice"


def test_a_resolved_incident_cannot_be_acknowledged(store: Store, finding) -> None:
    store.set_incident_time(finding.incident_id, IncidentTime.RESOLVED, T1)

    with pytest.raises(ValueError, match="is resolved; there is nothing to acknowledge"):
        store.acknowledge_incident(finding.incident_id, now=T2, by="alice")
    with pytest.raises(LookupError, match="no incident with id 404"):
        store.acknowledge_incident(404, now=T2, by="alice")


def test_incidents_are_listed_by_status(store: Store, finding, make_finding) -> None:
    [other] = store.reconcile(scan_id=None, findings=[make_finding("i-other")], scopes=(),
                              now=T1).new
    later = store.create_incident(title="Other", severity=Severity.LOW, accounts=[ACCOUNT],
                                  entities=[], detected_at=T1, finding_ids=[other.id])
    store.set_incident_time(later.id, IncidentTime.RESOLVED, T2)

    def ids(status=None):
        return [i.id for i in store.list_incidents(status=status)]

    assert (ids("open"), ids("resolved"), ids()) == (
        [finding.incident_id], [later.id], [finding.incident_id, later.id])
