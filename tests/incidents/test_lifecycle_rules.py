"""The pure rules of an incident's messages: when reminders are due, what an update calls new,
which findings are one region family, how a subject names regions; and, on a real SQLite
store, that an interrupted cycle's leftovers are picked up and that an incident's messages
leave the outbox in order."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from costguard.alerts.compose import regions_label
from costguard.checks import default_registry
from costguard.incidents.announcer import reminders_due
from costguard.incidents.dispatch import new_since
from costguard.incidents.grouping import plan_groups
from costguard.incidents.keeper import IncidentKeeper
from costguard.model import AlertKind, Finding, Message, Severity, Status
from costguard.runtime.bootstrap import read_config
from costguard.store import Store
from costguard.store.records import Reconciled

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
HOUR = timedelta(hours=1)


@pytest.mark.parametrize(("hours", "due"), [
    (3.99, 0), (4, 1), (7.99, 1), (8, 2), (16, 3), (32, 4), (55.99, 4), (56, 5), (80, 6)])
def test_reminders_come_at_4_8_16_32_hours_then_every_24(hours: float, due: int) -> None:
    assert reminders_due(T0, T0 + hours * HOUR, 4 * HOUR, 24 * HOUR) == due


@dataclass(frozen=True)
class F:
    """A finding as grouping and updates read it."""

    id: int
    check: str = "guardduty_enabled"
    severity: Severity = Severity.MEDIUM
    account: str = "111122223333"
    region: str = "us-east-1"
    resource: str = ""
    title: str = ""
    entities: frozenset[str] = frozenset()
    first_seen: datetime | None = T0
    incident_id: int | None = None


def detector(fid: int, region: str) -> F:
    return F(fid, region=region, resource=f"arn:aws:guardduty:{region}:111122223333:detector")


def test_one_checks_findings_that_differ_only_by_region_are_one_family() -> None:
    fresh = [detector(1, "us-east-1"), detector(2, "eu-west-1"), detector(3, "ap-south-1"),
             F(4, check="user_mfa", region="global", resource="arn:aws:iam::1:user/a"),
             F(5, check="user_mfa", region="global", resource="arn:aws:iam::1:user/b")]
    assert [p.finding_ids for p in plan_groups(fresh, [], T0)] == [(1, 2, 3), (4,), (5,)]


def test_an_update_names_only_what_the_channel_was_not_told() -> None:
    told = F(1, region="us-east-1", title="i-1 unapproved",
             entities=frozenset({"instance:i-1", "principal:arn:aws:iam::1:root"}))
    joined = F(2, region="us-west-2", title="i-2 unapproved",
               entities=frozenset({"instance:i-2", "principal:arn:aws:iam::1:root",
                                   "sg:sg-9"}))
    new = new_since([told, joined], {1})
    assert new == {"instances": ["i-2"], "security_groups": ["sg-9"],
                   "regions": ["us-west-2"], "findings": ["i-2 unapproved"]}
    assert new_since([told, joined], {1, 2}) == {}


def test_a_subject_names_one_region_or_how_many() -> None:
    assert regions_label(("us-east-1",)) == "us-east-1"
    assert regions_label(("global", "us-east-1")) == "us-east-1"
    assert regions_label(("global",)) == "global"
    assert regions_label(("eu-west-1", "us-east-1", "us-west-2", "global")) == "3 regions"
    assert regions_label(()) == ""


@pytest.fixture
def store(tmp_path: Path):
    with Store.open(f"sqlite:///{tmp_path}/cg.db") as opened:
        yield opened


def finding(n: int) -> Finding:
    return Finding(check="instance_types", policy="unapproved-instance-types",
                   severity=Severity.HIGH, account="111122223333", region="us-east-1",
                   resource=f"i-{n}", title=f"i-{n} unapproved",
                   entities=frozenset({f"instance:i-{n}"}))


def test_an_interrupted_cycles_leftovers_are_grouped_and_resolved(store, tmp_path) -> None:
    config = read_config(_config(tmp_path), env={})
    scope = {("instance_types", "111122223333", "us-east-1")}
    with store.unit() as unit:  # a cycle that stored findings and died before grouping
        unit.reconcile(scan_id=None, findings=[finding(1), finding(2)], scopes=scope, now=T0)
    with store.unit() as unit:
        touched = IncidentKeeper(unit, config, default_registry(), T0).update(Reconciled())
    assert [sorted(i.finding_ids) for i in touched] == [[1, 2]]

    with store.unit() as unit:  # the fix seen, but the cycle died before resolving
        unit.reconcile(scan_id=None, findings=[], scopes=scope, now=T0 + HOUR)
    assert {f.status for f in store.list_findings()} == {Status.RESOLVED}
    assert len(store.open_incidents()) == 1
    with store.unit() as unit:
        keeper = IncidentKeeper(unit, config, default_registry(), T0 + 2 * HOUR)
        keeper.update(Reconciled())
    assert store.open_incidents() == []
    assert keeper.changes.resolved == [touched[0].id]


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "costguard.yml"
    path.write_text(f"database: {{url: 'sqlite:///{tmp_path}/cg.db'}}\n")
    return path


def message(kind: AlertKind, incident_id: int = 7) -> Message:
    return Message(key=f"incident-{incident_id}-{kind}", kind=kind, severity=Severity.HIGH,
                   subject=str(kind), text="", html="", incident_id=incident_id)


def test_a_follow_up_waits_while_the_first_alert_is_pending_or_retrying(store) -> None:
    first = store.enqueue(key="a", channel="email", message=message(AlertKind.NEW), now=T0)
    update = store.enqueue(key="b", channel="email", message=message(AlertKind.UPDATE), now=T0)
    other = store.enqueue(key="c", channel="email", message=message(AlertKind.NEW, 8), now=T0)
    chat = store.enqueue(key="b", channel="chat", message=message(AlertKind.UPDATE), now=T0)
    assert [n.id for n in store.claim_due(now=T0)] == [first, other, chat]
    for sent in (other, chat):
        store.mark_sent(sent, at=T0)
    store.mark_failed(first, at=T0, error="down", next_attempt_at=T0 + HOUR)
    assert store.claim_due(now=T0 + timedelta(minutes=30)) == []  # retrying: the update waits
    assert [n.id for n in store.claim_due(now=T0 + HOUR)] == [first]
    store.mark_in_flight(first, at=T0 + HOUR)
    store.mark_sent(first, at=T0 + HOUR)
    assert [n.id for n in store.claim_due(now=T0 + 2 * HOUR)] == [update]
