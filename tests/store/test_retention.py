"""Retention: what aged out is deleted, what an open incident or a pending message needs is
kept, and a daemon's rows stay bounded however long it runs (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy.orm import Session

from costguard.model import Status
from costguard.runtime.bootstrap import read_config
from costguard.runtime.pruning import cutoffs, prune
from costguard.snapshot import ApiEvent, BurnSample
from costguard.store.models import (
    ActionRow,
    DeliveryAttemptRow,
    FindingRow,
    IncidentRow,
    NotificationRow,
    ScanRow,
    TransitionRow,
)

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
OLD = NOW - timedelta(days=400)
ACCOUNT = "111122223333"


def api_event(event_id: str, at: datetime) -> ApiEvent:
    return ApiEvent(event_id=event_id, time=at, account=ACCOUNT, region="us-east-1",
                    service="ec2.amazonaws.com", name="CreateTags", principal_type="IAMUser",
                    principal_arn=f"arn:aws:iam::{ACCOUNT}:user/ci", access_key_id="AKIA1",
                    source_ip="198.51.100.7", user_agent="aws-cli/2", read_only=False)


def incident(session: Session, status: str, resolved_at: datetime | None) -> int:
    row = IncidentRow(title="t", severity="high", status=status, accounts=[], entities=[],
                      scope={}, detected_at=OLD, resolved_at=resolved_at)
    session.add(row)
    session.flush()
    return row.id


def finding(session: Session, name: str, status: Status, incident_id: int | None) -> int:
    row = FindingRow(fingerprint=name, policy="p", check="instance_types", severity="high",
                     status=status.value, account=ACCOUNT, region="us-east-1", resource=name,
                     title=name, details={}, entities=[], first_seen=OLD, last_seen=OLD,
                     resolved_at=OLD if status is Status.RESOLVED else None,
                     incident_id=incident_id)
    session.add(row)
    session.flush()
    session.add(TransitionRow(finding_id=row.id, at=OLD, from_status=None,
                              to_status=status.value, reason="test"))
    return row.id


def message(session: Session, status: str, incident_id: int | None) -> int:
    row = NotificationRow(key=f"k{incident_id}{status}", channel="log", status=status,
                          message_key="m", kind="new", severity="high", subject="s", text="t",
                          html="h", incident_id=incident_id, fields={}, attempts=1,
                          created_at=OLD, last_attempt_at=OLD,
                          sent_at=OLD if status == "sent" else None)
    session.add(row)
    session.flush()
    session.add(DeliveryAttemptRow(notification_id=row.id, at=OLD, ok=status == "sent"))
    return row.id


def seed(store) -> dict[str, int]:
    """An old world: a resolved incident (all gone), an open one (all kept), a resolved one
    with a message still pending (kept), and a lone resolved finding (gone)."""
    with Session(store.engine) as session, session.begin():
        done = incident(session, "resolved", OLD)
        ids = {
            "done": done,
            "done_finding": finding(session, "done", Status.RESOLVED, done),
            "done_message": message(session, "sent", done),
            "open": (open_ := incident(session, "open", None)),
            "open_fixed": finding(session, "open-fixed", Status.RESOLVED, open_),
            "open_finding": finding(session, "open-still", Status.OPEN, open_),
            "open_message": message(session, "sent", open_),
            "waiting": (waiting := incident(session, "resolved", OLD)),
            "waiting_finding": finding(session, "waiting", Status.RESOLVED, waiting),
            "waiting_message": message(session, "pending", waiting),
            "lone": finding(session, "lone", Status.RESOLVED, None),
        }
        session.add(ActionRow(incident_id=done, at=OLD, action="stop", target="i-1",
                              dry_run=True, ok=True))
        session.add(ActionRow(incident_id=open_, at=OLD, action="stop", target="i-2",
                              dry_run=True, ok=True))
        for day in range(3):
            session.add(ScanRow(started_at=OLD + timedelta(days=day), complete=True))
    return ids


def present(store, model, ids) -> set[int]:
    with Session(store.engine) as session:
        return {row.id for row in session.query(model).filter(model.id.in_(ids))}


def test_what_aged_out_goes_and_what_an_open_incident_or_pending_message_needs_stays(store):
    ids = seed(store)
    store.record_events([api_event("old", OLD), api_event("new", NOW)], received_at=NOW)
    store.add_burn_samples([BurnSample(ACCOUNT, "us-east-1", at, 1.0)
                            for at in (OLD, NOW - timedelta(hours=1))])
    deleted = store.prune(cutoffs(read_config(None), [], NOW))
    assert deleted["events"] == 1 and deleted["burn_samples"] == 1
    assert deleted["scans"] == 2  # the newest scan is kept, however old
    assert present(store, IncidentRow, [ids["done"], ids["open"], ids["waiting"]]) == {
        ids["open"], ids["waiting"]}
    assert present(store, FindingRow, [ids[k] for k in ids if "finding" in k or k in (
        "lone", "open_fixed")]) == {ids["open_fixed"], ids["open_finding"],
                                    ids["waiting_finding"]}
    assert present(store, NotificationRow, [ids["done_message"], ids["open_message"],
                                            ids["waiting_message"]]) == {
        ids["open_message"], ids["waiting_message"]}
    counts = store.row_counts()
    assert counts["notification_attempts"] == 2
    assert counts["finding_transitions"] == 3
    assert counts["actions"] == 1  # the open incident's
    assert counts["events"] == 1 and counts["scans"] == 1
    assert sum(store.prune(cutoffs(read_config(None), [], NOW)).values()) == 0  # idempotent


def test_retention_never_cuts_into_what_the_checks_read(tmp_path):
    config_file = tmp_path / "costguard.yml"
    config_file.write_text("store: {retention: {events: 1h, burn_samples: 1h, scans: 1d}}\n")
    config = read_config(config_file)
    assert config.store.retention.events == 3600.0
    cut = cutoffs(config, [], NOW)
    assert cut.events <= NOW - timedelta(days=1)  # the event checks' look-back at least
    assert cut.burn_samples <= NOW - timedelta(days=7)  # the burn history at least
    assert cut.scans == NOW - timedelta(days=1)


def test_a_daemons_rows_stay_bounded_by_retention(store):
    """Two hundred simulated hours of a busy daemon, pruning each hour: the tables stop
    growing once retention is reached."""
    config = read_config(None)
    sizes = []
    for hour in range(200):
        at = NOW + timedelta(hours=hour)
        store.record_events([api_event(f"e{hour}-{i}", at) for i in range(5)], received_at=at)
        store.add_burn_samples([BurnSample(ACCOUNT, "us-east-1", at, 1.0)])
        with Session(store.engine) as session, session.begin():
            session.add(ScanRow(started_at=at, complete=True))
        prune(store, config, [], at)
        sizes.append(store.row_counts())
    # the documented defaults: events 8 days, burn samples 35, scans 90
    assert sizes[-1]["events"] == sizes[-2]["events"] == 5 * (8 * 24 + 1)
    assert sizes[-1]["burn_samples"] == 200  # 35 days have not passed: nothing to prune
