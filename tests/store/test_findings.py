"""Every finding lifecycle transition, on SQLite and PostgreSQL, with the rows it leaves behind."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest

from costguard.model import Finding, Severity, Status
from costguard.store import Store, StoredFinding

from .conftest import ACCOUNT, REGION

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
T1 = T0 + timedelta(minutes=5)
T2 = T0 + timedelta(minutes=10)
T3 = T0 + timedelta(minutes=15)

MakeFinding = Callable[..., Finding]
SCOPE = ("instance_types", ACCOUNT, REGION)


def _history(store: Store, finding: StoredFinding) -> list[tuple[str | None, str, str | None]]:
    return [
        (t.from_status.value if t.from_status else None, t.to_status.value, t.reason)
        for t in store.transitions(finding.id)
    ]


def _scan(store: Store, findings: list[Finding], at: datetime, scopes=(SCOPE,)):
    scan_id = store.start_scan(at)
    return store.reconcile(scan_id=scan_id, findings=findings, scopes=scopes, now=at)


def test_a_new_finding_opens_with_its_first_transition(store: Store, make_finding) -> None:
    scan_id = store.start_scan(T0)
    result = store.reconcile(scan_id=scan_id, findings=[make_finding()], scopes=[SCOPE], now=T0)
    [new] = result.new
    assert result.seen == [new]
    assert (result.reopened, result.resolved, result.unmuted) == ([], [], [])
    assert new.status is Status.OPEN
    assert new.severity is Severity.HIGH
    assert (new.first_seen, new.last_seen, new.resolved_at) == (T0, T0, None)
    assert new.fingerprint == make_finding().fingerprint
    assert new.entities == frozenset({"instance:i-0abc"})
    assert new.details == {"instance_type": "p5.48xlarge"}
    [transition] = store.transitions(new.id)
    assert (transition.from_status, transition.to_status, transition.reason) == (
        None,
        Status.OPEN,
        "new",
    )
    assert (transition.at, transition.scan_id) == (T0, scan_id)


def test_seen_again_updates_what_the_check_says_but_keeps_identity(
    store: Store, make_finding: MakeFinding
) -> None:
    [first] = _scan(store, [make_finding()], T0).new
    changed = make_finding(
        severity=Severity.CRITICAL,
        policy="no-gpu",
        title="now worse",
        details={"instance_type": "p5.48xlarge", "count": 2},
        entities=frozenset({"instance:i-0abc", "principal:arn:aws:iam::1:user/x"}),
    )
    result = _scan(store, [changed], T1)
    assert result.new == [] and result.reopened == []
    [seen] = result.seen
    assert seen.id == first.id
    assert (seen.first_seen, seen.last_seen, seen.status) == (T0, T1, Status.OPEN)
    assert (seen.severity, seen.policy, seen.title) == (Severity.CRITICAL, "no-gpu", "now worse")
    assert seen.details == {"instance_type": "p5.48xlarge", "count": 2}
    assert seen.entities == frozenset({"instance:i-0abc", "principal:arn:aws:iam::1:user/x"})
    assert store.get_finding(first.id) == seen
    assert _history(store, seen) == [(None, "open", "new")]


def test_a_complete_scan_that_no_longer_sees_it_resolves_it(
    store: Store, make_finding: MakeFinding
) -> None:
    [first] = _scan(store, [make_finding()], T0).new
    result = _scan(store, [], T1)
    [resolved] = result.resolved
    assert (resolved.id, resolved.status, resolved.resolved_at) == (first.id, Status.RESOLVED, T1)
    assert result.seen == []
    assert _history(store, resolved) == [(None, "open", "new"), ("open", "resolved", "not seen")]
    assert store.transitions(first.id)[-1].at == T1


def test_a_resolved_finding_seen_again_is_reopened_with_the_same_id(
    store: Store, make_finding: MakeFinding
) -> None:
    [first] = _scan(store, [make_finding()], T0).new
    _scan(store, [], T1)
    result = _scan(store, [make_finding()], T2)
    [reopened] = result.reopened
    assert result.new == [] and result.seen == [reopened]
    assert (reopened.id, reopened.status, reopened.resolved_at) == (first.id, Status.OPEN, None)
    assert (reopened.first_seen, reopened.last_seen) == (T0, T2)
    assert _history(store, reopened) == [
        (None, "open", "new"),
        ("open", "resolved", "not seen"),
        ("resolved", "open", "reopened"),
    ]


@pytest.mark.parametrize(
    "scopes",
    [
        pytest.param((), id="nothing-complete"),
        pytest.param((("other_check", ACCOUNT, REGION),), id="other-check"),
        pytest.param((("instance_types", "999988887777", REGION),), id="other-account"),
        pytest.param((("instance_types", ACCOUNT, "eu-west-1"),), id="other-region"),
    ],
)
def test_an_incomplete_scan_never_resolves_findings_outside_its_scopes(
    store: Store, make_finding: MakeFinding, scopes: tuple[tuple[str, str, str], ...]
) -> None:
    [first] = _scan(store, [make_finding()], T0).new
    result = _scan(store, [], T1, scopes=scopes)
    assert result.resolved == []
    kept = store.get_finding(first.id)
    assert (kept.status, kept.resolved_at, kept.last_seen) == (Status.OPEN, None, T0)
    assert _history(store, kept) == [(None, "open", "new")]


def test_only_the_findings_in_complete_scopes_resolve(
    store: Store, make_finding: MakeFinding
) -> None:
    here = make_finding("i-here")
    there = make_finding("i-there", region="eu-west-1")
    _scan(store, [here, there], T0, scopes=[SCOPE, ("instance_types", ACCOUNT, "eu-west-1")])
    result = _scan(store, [], T1, scopes=[SCOPE])
    assert [f.resource for f in result.resolved] == ["i-here"]
    statuses = {f.resource: f.status for f in store.list_findings()}
    assert statuses == {"i-here": Status.RESOLVED, "i-there": Status.OPEN}


def test_acknowledge_records_who_is_on_it(store: Store, make_finding: MakeFinding) -> None:
    [first] = _scan(store, [make_finding()], T0).new
    acked = store.acknowledge(first.id, now=T1, reason="alice is on it")
    assert (acked.status, acked.acknowledged_at) == (Status.ACKNOWLEDGED, T1)
    assert store.get_finding(first.id) == acked
    assert _history(store, acked)[-1] == ("open", "acknowledged", "alice is on it")
    assert store.transitions(first.id)[-1].scan_id is None


def test_acknowledge_without_reason_says_acknowledged(store: Store, make_finding) -> None:
    [first] = _scan(store, [make_finding()], T0).new
    store.acknowledge(first.id, now=T1)
    assert _history(store, first)[-1] == ("open", "acknowledged", "acknowledged")


def test_an_acknowledged_finding_stays_acknowledged_while_seen_and_resolves_when_gone(
    store: Store, make_finding: MakeFinding
) -> None:
    [first] = _scan(store, [make_finding()], T0).new
    store.acknowledge(first.id, now=T1)
    assert _scan(store, [make_finding()], T2).seen[0].status is Status.ACKNOWLEDGED
    [resolved] = _scan(store, [], T3).resolved
    assert resolved.status is Status.RESOLVED
    assert _history(store, resolved)[-1] == ("acknowledged", "resolved", "not seen")


def test_acknowledging_a_resolved_finding_is_refused_and_changes_nothing(
    store: Store, make_finding: MakeFinding
) -> None:
    [first] = _scan(store, [make_finding()], T0).new
    [resolved] = _scan(store, [], T1).resolved
    with pytest.raises(ValueError, match=f"finding {first.id} is resolved"):
        store.acknowledge(first.id, now=T2)
    assert store.get_finding(first.id) == resolved
    assert len(store.transitions(first.id)) == 2


def test_acknowledging_twice_is_refused(store: Store, make_finding: MakeFinding) -> None:
    [first] = _scan(store, [make_finding()], T0).new
    store.acknowledge(first.id, now=T1)
    with pytest.raises(ValueError, match="is acknowledged"):
        store.acknowledge(first.id, now=T2)


def test_unknown_ids_raise_lookup_error(store: Store) -> None:
    with pytest.raises(LookupError, match="no finding with id 404"):
        store.get_finding(404)
    with pytest.raises(LookupError, match="no finding with id 404"):
        store.acknowledge(404, now=T0)
    with pytest.raises(LookupError, match="no finding with id 404"):
        store.mute(404, until=T1, reason="x", now=T0)
    with pytest.raises(LookupError, match="no finding with id 404"):
        store.transitions(404)


def test_mute_silences_until_its_end(store: Store, make_finding: MakeFinding) -> None:
    [first] = _scan(store, [make_finding()], T0).new
    muted = store.mute(first.id, until=T2, reason="load test until 12:10", now=T1)
    assert (muted.status, muted.muted_until, muted.mute_reason) == (
        Status.MUTED,
        T2,
        "load test until 12:10",
    )
    assert _history(store, muted)[-1] == ("open", "muted", "load test until 12:10")
    still = _scan(store, [make_finding()], T1 + timedelta(minutes=1))
    assert still.unmuted == [] and still.seen[0].status is Status.MUTED


def test_a_mute_that_expired_opens_the_finding_again(
    store: Store, make_finding: MakeFinding
) -> None:
    [first] = _scan(store, [make_finding()], T0).new
    store.mute(first.id, until=T2, reason="load test", now=T1)
    result = _scan(store, [make_finding()], T2)
    [unmuted] = result.unmuted
    assert result.seen == [unmuted] and result.reopened == []
    assert (unmuted.status, unmuted.muted_until, unmuted.mute_reason) == (Status.OPEN, None, None)
    assert _history(store, unmuted)[-1] == ("muted", "open", "mute expired")


def test_a_mute_expires_even_when_the_scan_could_not_look(
    store: Store, make_finding: MakeFinding
) -> None:
    [first] = _scan(store, [make_finding()], T0).new
    store.mute(first.id, until=T2, reason="load test", now=T1)
    [unmuted] = _scan(store, [], T3, scopes=()).unmuted
    assert (unmuted.id, unmuted.status) == (first.id, Status.OPEN)


def test_a_muted_finding_no_longer_seen_resolves(store: Store, make_finding) -> None:
    [first] = _scan(store, [make_finding()], T0).new
    store.mute(first.id, until=T3, reason="accepted", now=T1)
    [resolved] = _scan(store, [], T2).resolved
    assert resolved.id == first.id
    assert _history(store, resolved)[-1] == ("muted", "resolved", "not seen")


def test_acknowledging_a_muted_finding_ends_the_mute(store: Store, make_finding) -> None:
    [first] = _scan(store, [make_finding()], T0).new
    store.mute(first.id, until=T3, reason="accepted", now=T1)
    acked = store.acknowledge(first.id, now=T2)
    assert (acked.status, acked.muted_until, acked.mute_reason) == (
        Status.ACKNOWLEDGED,
        None,
        None,
    )


def test_mute_refuses_resolved_findings_and_past_ends(store: Store, make_finding) -> None:
    [first] = _scan(store, [make_finding()], T0).new
    with pytest.raises(ValueError, match="must end in the future"):
        store.mute(first.id, until=T0, reason="x", now=T1)
    _scan(store, [], T1)
    with pytest.raises(ValueError, match="is resolved"):
        store.mute(first.id, until=T3, reason="x", now=T2)
    assert store.get_finding(first.id).status is Status.RESOLVED


def test_reopening_forgets_the_old_acknowledgement(store: Store, make_finding) -> None:
    [first] = _scan(store, [make_finding()], T0).new
    store.acknowledge(first.id, now=T1)
    _scan(store, [], T2)
    [reopened] = _scan(store, [make_finding()], T3).reopened
    assert (reopened.status, reopened.acknowledged_at) == (Status.OPEN, None)


@pytest.mark.parametrize("order", [1, -1], ids=["low-first", "critical-first"])
def test_the_same_fingerprint_twice_keeps_the_highest_severity(
    store: Store, make_finding: MakeFinding, order: int
) -> None:
    findings = [
        make_finding(severity=Severity.LOW, title="low"),
        make_finding(severity=Severity.CRITICAL, title="critical"),
    ][::order]
    result = _scan(store, findings, T0)
    [only] = result.new
    assert (only.severity, only.title) == (Severity.CRITICAL, "critical")
    assert len(store.list_findings()) == 1


def test_list_findings_filters_by_status_severity_and_incident(
    store: Store, make_finding: MakeFinding
) -> None:
    result = _scan(
        store,
        [
            make_finding("i-low", severity=Severity.LOW),
            make_finding("i-med", severity=Severity.MEDIUM),
            make_finding("i-crit", severity=Severity.CRITICAL),
        ],
        T0,
    )
    ids = {f.resource: f.id for f in result.new}
    store.acknowledge(ids["i-med"], now=T1)
    incident = store.create_incident(
        title="t",
        severity=Severity.CRITICAL,
        accounts=[ACCOUNT],
        entities=[],
        detected_at=T1,
        finding_ids=[ids["i-crit"]],
    )

    def resources(**filters: object) -> list[str]:
        return [f.resource for f in store.list_findings(**filters)]  # type: ignore[arg-type]

    assert resources() == ["i-low", "i-med", "i-crit"]
    assert resources(statuses=[Status.OPEN]) == ["i-low", "i-crit"]
    assert resources(min_severity=Severity.MEDIUM) == ["i-med", "i-crit"]
    assert resources(statuses=[Status.OPEN], min_severity=Severity.MEDIUM) == ["i-crit"]
    assert resources(incident_id=incident.id) == ["i-crit"]
    assert resources(statuses=[]) == []


def test_many_findings_resolve_and_reopen_together(store: Store, make_finding) -> None:
    """More findings than one IN (...) chunk holds, so every chunk is looked up."""
    findings = [make_finding(f"i-{n:05d}") for n in range(1200)]
    assert len(_scan(store, findings, T0).new) == 1200
    assert len(_scan(store, [], T1).resolved) == 1200
    result = _scan(store, findings, T2)
    assert (len(result.reopened), len(result.new), len(result.seen)) == (1200, 0, 1200)
    assert {f.status for f in store.list_findings()} == {Status.OPEN}
