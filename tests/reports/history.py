"""A known store history, written through the store's own API at chosen times: two weeks of an
account's life (2026-W46 and 2026-W47, UTC) that the golden figures are worked out from.

Account A (111122223333) in us-east-1:
- W46, Thu 12 Nov: root has no MFA (critical, 1 of 1 fails); 10 instances, 2 unapproved (high);
  5 security groups, all fine (high).
- W47, Fri 20 Nov: root MFA fixed (0 fails); 12 instances, 1 unapproved; 5 groups, 1 open.
- Findings: root MFA (opened Tue 10, resolved Wed 18), i-1 (opened Thu 12, still open),
  i-2 (opened Tue 17, new), sg-1 (opened Thu 19, acknowledged the same day "on it"),
  user alice without MFA (opened Mon 2 Nov, muted Wed 11 "break-glass" until 2027-01-01),
  i-3 (opened Tue 17, resolved Fri 20: new and fixed), a spend spike (opened Wed 18).
- Incidents: #1 detected Tue 17 10:00, notified 10:01, resolved 10:21 (20 min, within 30);
  #2 detected Thu 19 09:00, notified 09:02, resolved 12:02 (3 h, late).
- Cost (DAILY, collected by A, linked accounts A and B): W46 EC2 $100/day + S3 $10/day;
  W47 EC2 $150/day + S3 $10/day in A, and B EC2 $20/day in W47 only.
- Burn: $6.80/h from Wed 18 03:00 to 05:00, $0.50/h otherwise.
- Scans in W47: 3 inventory (one failed), 1 cost; delivery: 2 sent and 1 failed attempt on
  security-email, one message given up; Cost Explorer: 4 requests on Mon, 2 on Tue.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone

from costguard.model import AlertKind, Finding, Message, Severity, Status
from costguard.snapshot import BurnSample, CostPoint
from costguard.store import IncidentTime, Store
from costguard.store.check_counts import Judgement

A, B = "111122223333", "444455556666"
EAST = "us-east-1"
ROOT = f"arn:aws:iam::{A}:root"
ALICE = f"arn:aws:iam::{A}:user/alice"
WEEK = "2026-W47"


def at(day: int, hour: int = 12, minute: int = 0, month: int = 11) -> datetime:
    """A time in November 2026 (UTC)."""
    return datetime(2026, month, day, hour, minute, tzinfo=timezone.utc)


def instance(n: int) -> str:
    return f"arn:aws:ec2:{EAST}:{A}:instance/i-{n}"


def finding(check: str, resource: str, severity: Severity, region: str = EAST,
            title: str | None = None) -> Finding:
    return Finding(check=check, policy=check.replace("_", "-"), severity=severity, account=A,
                   region=region, resource=resource, title=title or f"{check} on {resource}")


ROOT_MFA = finding("root_mfa", ROOT, Severity.CRITICAL, "global", "Root user has no MFA device")
I1 = finding("instance_types", instance(1), Severity.HIGH)
I2 = finding("instance_types", instance(2), Severity.HIGH)
I3 = finding("instance_types", instance(3), Severity.HIGH)
SG = finding("open_admin_ports", "sg-1", Severity.HIGH)
ALICE_MFA = finding("user_mfa", ALICE, Severity.HIGH, "global")
SPIKE = finding("daily_spend", f"arn:aws:ce::{A}:daily-spend", Severity.HIGH, "global",
                "Yesterday's cost is 4x the usual")


def judged(day: str, store: Store, when: datetime, rows: dict[tuple[str, str], tuple]) -> None:
    """Record the counts (and resources) of one day, as a cycle would."""
    table = {(check, A, region): Judgement(severity, resources, failed)
             for (check, region), (severity, resources, failed) in rows.items()}
    store.record_judged(table, day=day, oldest_day="2025-01-01", now=when)


def build(store: Store) -> None:
    """Write the whole history."""
    _counts(store)
    ids = _findings(store)
    _triage(store, ids)
    _incidents(store, ids)
    _cost(store)
    _burn(store)
    _upkeep(store)


def _counts(store: Store) -> None:
    judged("2026-11-12", store, at(12), {
        ("root_mfa", "global"): (Severity.CRITICAL, [ROOT], 1),
        ("instance_types", EAST): (Severity.HIGH, [instance(n) for n in range(1, 11)], 2),
        ("open_admin_ports", EAST): (Severity.HIGH, [f"sg-{n}" for n in range(1, 6)], 0),
    })
    judged("2026-11-20", store, at(20), {
        ("root_mfa", "global"): (Severity.CRITICAL, [ROOT], 0),
        ("instance_types", EAST): (Severity.HIGH, [instance(n) for n in range(1, 13)], 1),
        ("open_admin_ports", EAST): (Severity.HIGH, [f"sg-{n}" for n in range(1, 6)], 1),
    })


def _seen(store: Store, when: datetime, *findings: Finding,
          resolve: tuple[tuple[str, str, str], ...] = ()) -> dict[str, int]:
    done = store.reconcile(scan_id=None, findings=list(findings), scopes=resolve, now=when)
    return {f.fingerprint: f.id for f in done.seen}


def _findings(store: Store) -> dict[str, int]:
    ids: dict[str, int] = {}
    ids |= _seen(store, at(2, 9), ALICE_MFA)
    ids |= _seen(store, at(10, 9), ROOT_MFA)
    ids |= _seen(store, at(12, 9), I1)
    ids |= _seen(store, at(17, 9), I2, I3)
    _seen(store, at(18, 9), resolve=(("root_mfa", A, "global"),))
    ids |= _seen(store, at(18, 9, 30), SPIKE)
    ids |= _seen(store, at(19, 8), SG)
    _seen(store, at(20, 9), I1, I2, SG, resolve=(("instance_types", A, EAST),))
    return {name: ids[f.fingerprint] for name, f in
            (("alice", ALICE_MFA), ("root", ROOT_MFA), ("i1", I1), ("i2", I2), ("i3", I3),
             ("sg", SG), ("spike", SPIKE))}


def _triage(store: Store, ids: dict[str, int]) -> None:
    store.mute(ids["alice"], until=datetime(2027, 1, 1, tzinfo=timezone.utc),
               reason="break-glass", now=at(11, 15))
    store.acknowledge(ids["sg"], now=at(19, 8, 30), reason="on it")


def _incidents(store: Store, ids: dict[str, int]) -> None:
    first = store.create_incident(title="Unapproved instances", severity=Severity.HIGH,
                                  accounts=[A], entities=[], detected_at=at(17, 10),
                                  finding_ids=[ids["i3"]])
    store.set_incident_time(first.id, IncidentTime.NOTIFIED, at(17, 10, 1))
    store.set_incident_time(first.id, IncidentTime.RESOLVED, at(17, 10, 21))
    second = store.create_incident(title="Admin port open", severity=Severity.HIGH,
                                   accounts=[A], entities=[], detected_at=at(19, 9),
                                   finding_ids=[ids["sg"]])
    store.set_incident_time(second.id, IncidentTime.NOTIFIED, at(19, 9, 2))
    store.set_incident_time(second.id, IncidentTime.RESOLVED, at(19, 12, 2))


def _cost(store: Store) -> None:
    points = []
    for offset in range(14):
        day = date(2026, 11, 9) + timedelta(days=offset)
        start = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
        end = start + timedelta(days=1)
        this_week = day >= date(2026, 11, 16)
        points.append(CostPoint(start, end, "Amazon EC2", 150.0 if this_week else 100.0,
                                linked_account=A))
        points.append(CostPoint(start, end, "Amazon S3", 10.0, linked_account=A))
        if this_week:
            points.append(CostPoint(start, end, "Amazon EC2", 20.0, linked_account=B))
    store.upsert_cost_points(A, "DAILY", points, at(23, 1))


def _burn(store: Store) -> None:
    store.add_burn_samples([
        BurnSample(A, EAST, at(15, 0), 0.5, instance_count=1),
        BurnSample(A, EAST, at(18, 3), 6.8, instance_count=11),
        BurnSample(A, EAST, at(18, 5), 0.5, instance_count=1),
        *(BurnSample(A, EAST, at(d, h), 0.5, instance_count=1)
          for d in range(16, 23) for h in range(0, 24, 1) if (d, h) not in ((18, 3), (18, 4))),
    ])


def _upkeep(store: Store) -> None:
    for day, sources, failed in ((16, ["inventory"], []), (17, ["inventory"], ["inventory"]),
                                 (18, ["inventory"], []), (18, ["cost"], [])):
        scan = store.start_scan(at(day, 6))
        store.finish_scan(scan, finished_at=at(day, 6, 1), complete=not failed, api_calls=3,
                          errors=[], accounts=[A], regions=[EAST], sources=sources,
                          failed_sources=failed)
    message = Message(key="m", kind=AlertKind.NEW, severity=Severity.HIGH, subject="s",
                      text="t", html="<p>t</p>")
    for n, outcome in enumerate(("sent", "sent", "retry", "dead")):
        row = store.enqueue(key=f"m{n}", channel="security-email", message=message, now=at(17))
        if outcome == "sent":
            store.mark_sent(row, at=at(17, 1))
        else:
            store.mark_failed(row, at=at(17, 2), error="refused",
                              next_attempt_at=at(30) if outcome == "retry" else None)
    store.set_states({"ce.budget.day.2026-11-16": json.dumps({"calls": 4}),
                      "ce.budget.day.2026-11-17": json.dumps({"calls": 2}),
                      "ce.budget.day.2026-11-23": json.dumps({"calls": 9})})


OPEN_AT_END = (Status.OPEN, Status.ACKNOWLEDGED)
