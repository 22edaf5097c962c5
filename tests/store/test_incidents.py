"""Incidents: creation, growth, milestone times and listing, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from costguard.model import Severity
from costguard.store import IncidentStatus, IncidentTime, Store

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
OTHER_ACCOUNT = "999988887777"


@pytest.fixture
def finding_ids(store: Store, make_finding) -> dict[str, int]:
    """Three stored findings by resource: two in the default account, one in another."""
    findings = [
        make_finding("i-a"),
        make_finding("i-b"),
        make_finding("i-c", account=OTHER_ACCOUNT),
    ]
    result = store.reconcile(scan_id=None, findings=findings, scopes=(), now=T0)
    return {f.resource: f.id for f in result.new}


def _create(store: Store, ids: list[int], **overrides: object):
    values: dict[str, object] = {
        "title": "Leaked key used to launch GPUs",
        "severity": Severity.HIGH,
        "accounts": ["111122223333"],
        "entities": ["access_key:AKIAEXAMPLE", "instance:i-a"],
        "detected_at": T0,
        "finding_ids": ids,
        "scope": {"regions": ["us-east-1"]},
    }
    values.update(overrides)
    return store.create_incident(**values)  # type: ignore[arg-type]


def test_create_incident_owns_its_findings(store: Store, finding_ids: dict[str, int]) -> None:
    incident = _create(store, [finding_ids["i-b"], finding_ids["i-a"]])
    assert incident.title == "Leaked key used to launch GPUs"
    assert (incident.severity, incident.status) == (Severity.HIGH, IncidentStatus.OPEN)
    assert incident.finding_ids == tuple(sorted([finding_ids["i-a"], finding_ids["i-b"]]))
    assert incident.entities == frozenset({"access_key:AKIAEXAMPLE", "instance:i-a"})
    assert incident.accounts == ("111122223333",)
    assert incident.scope == {"regions": ["us-east-1"]}
    assert incident.detected_at == T0
    assert (incident.notified_at, incident.resolved_at) == (None, None)
    assert store.get_finding(finding_ids["i-a"]).incident_id == incident.id
    assert store.get_finding(finding_ids["i-c"]).incident_id is None
    assert store.get_incident(incident.id) == incident


def test_accounts_include_those_of_the_findings(store: Store, finding_ids) -> None:
    incident = _create(store, [finding_ids["i-c"]], accounts=[])
    assert incident.accounts == (OTHER_ACCOUNT,)


def test_create_with_an_unknown_finding_creates_nothing(store: Store, finding_ids) -> None:
    with pytest.raises(LookupError, match="no finding with id 4040"):
        _create(store, [finding_ids["i-a"], 4040])
    assert store.list_incidents() == []
    assert store.get_finding(finding_ids["i-a"]).incident_id is None


def test_update_changes_only_what_is_given(store: Store, finding_ids) -> None:
    incident = _create(store, [finding_ids["i-a"]])
    updated = store.update_incident(
        incident.id,
        severity=Severity.CRITICAL,
        entities=["principal:arn:aws:iam::1:user/ci"],
        add_findings=[finding_ids["i-c"]],
    )
    assert updated.title == incident.title
    assert updated.scope == incident.scope
    assert updated.severity is Severity.CRITICAL
    assert updated.entities == frozenset({"principal:arn:aws:iam::1:user/ci"})
    assert updated.finding_ids == tuple(sorted([finding_ids["i-a"], finding_ids["i-c"]]))
    assert updated.accounts == tuple(sorted(["111122223333", OTHER_ACCOUNT]))
    renamed = store.update_incident(incident.id, title="Renamed", scope={"regions": []})
    assert (renamed.title, renamed.scope) == ("Renamed", {"regions": []})
    assert renamed.finding_ids == updated.finding_ids


def test_a_finding_moved_to_another_incident_leaves_the_first(store: Store, finding_ids) -> None:
    first = _create(store, [finding_ids["i-a"], finding_ids["i-b"]])
    second = _create(store, [finding_ids["i-b"]], title="second")
    assert store.get_incident(first.id).finding_ids == (finding_ids["i-a"],)
    assert second.finding_ids == (finding_ids["i-b"],)


def test_unknown_incident_ids_raise_lookup_error(store: Store) -> None:
    with pytest.raises(LookupError, match="no incident with id 77"):
        store.get_incident(77)
    with pytest.raises(LookupError, match="no incident with id 77"):
        store.update_incident(77, title="x")
    with pytest.raises(LookupError, match="no incident with id 77"):
        store.set_incident_time(77, IncidentTime.NOTIFIED, T0)


def test_milestone_times_are_recorded_and_resolving_closes_it(store: Store, finding_ids) -> None:
    incident = _create(store, [finding_ids["i-a"]])
    times = {
        IncidentTime.NOTIFIED: T0 + timedelta(minutes=1),
        IncidentTime.ACKNOWLEDGED: T0 + timedelta(minutes=4),
        IncidentTime.ESCALATED: T0 + timedelta(minutes=30),
    }
    for field, at in times.items():
        store.set_incident_time(incident.id, field, at)
    current = store.get_incident(incident.id)
    assert (current.notified_at, current.acknowledged_at, current.escalated_at) == tuple(
        times.values()
    )
    assert current.status is IncidentStatus.OPEN
    assert [i.id for i in store.open_incidents()] == [incident.id]
    resolved = store.set_incident_time(incident.id, IncidentTime.RESOLVED, T0 + timedelta(hours=1))
    assert (resolved.status, resolved.resolved_at) == (
        IncidentStatus.RESOLVED,
        T0 + timedelta(hours=1),
    )
    assert store.open_incidents() == []
    reopened = store.set_incident_time(incident.id, IncidentTime.RESOLVED, None)
    assert (reopened.status, reopened.resolved_at) == (IncidentStatus.OPEN, None)


def test_list_incidents_since(store: Store, finding_ids) -> None:
    old = _create(store, [finding_ids["i-a"]], detected_at=T0 - timedelta(days=40))
    recent = _create(store, [finding_ids["i-b"]], detected_at=T0)
    assert [i.id for i in store.list_incidents()] == [old.id, recent.id]
    assert [i.id for i in store.list_incidents(since=T0 - timedelta(days=30))] == [recent.id]
    assert store.list_incidents()[1].finding_ids == (finding_ids["i-b"],)
