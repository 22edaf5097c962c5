"""Events seen once by id (at-least-once delivery made idempotent) and containment actions."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from costguard.snapshot import ApiEvent, GuardDutyFinding
from costguard.store import Store

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)


def api(event_id: str, minutes: int = 0, **extra: object) -> ApiEvent:
    return ApiEvent(
        event_id=event_id, time=T0 + timedelta(minutes=minutes), account="123456789012",
        region="us-east-1", service="ec2.amazonaws.com", name="RunInstances",
        principal_type="Root", principal_arn="arn:aws:iam::123456789012:root",
        access_key_id="AKIAIOSFODNN7EXAMPLE", source_ip="203.0.113.45",
        user_agent="aws-sdk-go/1.44.109", read_only=False,
        request={"instanceType": "c5.4xlarge", "minCount": 10},
        response={"instancesSet": {"items": [{"instanceId": "i-0abc"}]}}, **extra,
    )


def finding(updated_minutes: int) -> GuardDutyFinding:
    return GuardDutyFinding(
        finding_id="gd-1", type="CryptoCurrency:EC2/BitcoinTool.B!DNS", severity=8.0,
        account="123456789012", region="us-east-1", title="Bitcoin tool",
        created_at=T0, updated_at=T0 + timedelta(minutes=updated_minutes),
        resource={"instanceDetails": {"instanceId": "i-0abc"}},
    )


def test_same_event_twice_is_new_once(store: Store) -> None:
    first = store.record_events([api("e-1"), api("e-2")], received_at=T0)
    again = store.record_events([api("e-2"), api("e-1"), api("e-3")], received_at=T0)
    assert [e.event_id for e in first] == ["e-1", "e-2"]
    assert [e.event_id for e in again] == ["e-3"]


def test_duplicate_within_one_batch_counts_once(store: Store) -> None:
    assert len(store.record_events([api("e-1"), api("e-1")], received_at=T0)) == 1


def test_round_trip_keeps_every_field(store: Store) -> None:
    event = api("e-1", console_login=False, error_code=None)
    store.record_events([event], received_at=T0)
    events, findings = store.recent_events(since=T0 - timedelta(hours=1))
    assert events == [event]
    assert findings == []
    assert events[0].time.tzinfo is not None


def test_window_and_prune(store: Store) -> None:
    store.record_events([api("old", minutes=-120), api("new", minutes=0)], received_at=T0)
    events, _ = store.recent_events(since=T0 - timedelta(minutes=60))
    assert [e.event_id for e in events] == ["new"]
    assert store.prune_events(T0 - timedelta(minutes=60)) == 1
    events, _ = store.recent_events(since=T0 - timedelta(days=1))
    assert [e.event_id for e in events] == ["new"]


def test_guardduty_update_counts_again_and_latest_wins(store: Store) -> None:
    assert len(store.record_events([finding(0)], received_at=T0)) == 1
    assert store.record_events([finding(0)], received_at=T0) == []
    assert len(store.record_events([finding(5)], received_at=T0)) == 1
    _, findings = store.recent_events(since=T0 - timedelta(hours=1))
    assert [(f.finding_id, f.updated_at) for f in findings] == [("gd-1", T0 + timedelta(minutes=5))]


def test_actions_are_recorded_per_incident(store: Store) -> None:
    incident = store.create_incident(
        title="t", severity="critical", accounts=["123456789012"], entities=[],
        detected_at=T0, finding_ids=[],
    )
    store.record_action(incident_id=incident.id, at=T0, action="stop_instances",
                        target="us-east-1:i-0abc", dry_run=True, ok=True, result="would stop")
    store.record_action(incident_id=None, at=T0, action="other", target="x", dry_run=False,
                        ok=False, result="AccessDenied")
    [action] = store.actions(incident.id)
    assert (action.action, action.target, action.dry_run, action.result) == (
        "stop_instances", "us-east-1:i-0abc", True, "would stop")
    assert len(store.actions()) == 2
