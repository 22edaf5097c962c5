"""The response side end to end on moto: escalation timing with an injected clock, the same
queued event delivered twice changing nothing, and auto-containment through the engine."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from costguard.actions.event_pipeline import apply, plan
from costguard.model import Source
from costguard.runtime.bootstrap import load_setup, open_store
from costguard.runtime.cycle import Engine
from costguard.store.records import NotificationStatus

T0 = datetime.now(timezone.utc).replace(microsecond=0)
POLICIES = """\
policies:
  - name: unapproved-instance-types
    check: instance_types
    params: {allowed: ["t3.*"]}
    auto_contain: %s
  - name: suspicious-api
    check: suspicious_api
"""
CONFIG = """\
policies: [policies.yml]
aws: {regions: [us-east-1]}
events: {regions: [us-east-1]}
database: {url: 'sqlite:///%s/cg.db'}
notifiers:
  oncall: {type: log}
  manager: {type: log}
routes:
  - match: {severity: [critical, high, medium]}
    notify: [oncall]
incidents: {target_minutes: 30, escalate_to: [manager], reports_dir: reports}
"""


class Clock:
    """The engine's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def make_engine(tmp_path: Path) -> Iterator[Any]:
    stores: list[Any] = []

    def make(auto_contain: str = "false") -> tuple[Engine, Clock]:
        (tmp_path / "policies.yml").write_text(POLICIES % auto_contain)
        config = tmp_path / "costguard.yml"
        config.write_text(CONFIG % tmp_path)
        setup = load_setup(config)
        store = open_store(setup.config)
        stores.append(store)
        clock = Clock()
        return Engine(setup.config, setup.policies, store, clock=clock), clock

    with mock_aws():
        yield make
    for store in stores:
        store.close()


def launch(count: int = 2, itype: str = "c5.4xlarge") -> list[str]:
    ec2 = boto3.client("ec2", region_name="us-east-1")
    answer = ec2.run_instances(ImageId="ami-12345678", MinCount=count, MaxCount=count,
                               InstanceType=itype)
    return [i["InstanceId"] for i in answer["Instances"]]


def sent(engine: Engine, channel: str) -> list[str]:
    return [n.key for n in engine.store.notifications([NotificationStatus.SENT])
            if n.channel == channel]


def test_an_incident_open_past_its_target_escalates_once(make_engine) -> None:
    engine, clock = make_engine()
    launch()
    engine.run_cycle({Source.INVENTORY})
    [incident] = engine.store.open_incidents()
    assert incident.notified_at == T0
    assert [k.rsplit("-", 1)[-1] for k in sent(engine, "oncall")] == ["new"]

    clock.now = T0 + timedelta(minutes=29)
    engine.run_cycle({Source.INVENTORY})
    assert sent(engine, "manager") == []

    clock.now = T0 + timedelta(minutes=31)
    engine.run_cycle({Source.INVENTORY})
    [escalation] = sent(engine, "manager")
    assert escalation.endswith("-escalation-overdue")
    assert engine.store.get_incident(incident.id).escalated_at == clock.now
    [stored] = [n for n in engine.store.notifications() if n.channel == "manager"]
    assert "open for 31 minutes since its alert, past the 30-minute target" in stored.message.text

    clock.now = T0 + timedelta(minutes=90)
    engine.run_cycle({Source.INVENTORY})
    assert len(sent(engine, "manager")) == 1  # once


def import_key_pair_record() -> dict[str, Any]:
    """A CloudTrail record of mallory importing a key pair at T0."""
    return {
        "eventVersion": "1.09", "eventTime": T0.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": "ec2.amazonaws.com", "eventName": "ImportKeyPair",
        "awsRegion": "us-east-1", "eventID": "5c8e7a4e-0000-4000-8000-000000000001",
        "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/mallory",
                         "accountId": "123456789012", "accessKeyId": "AKIAEXAMPLEMALLORY"},
        "sourceIPAddress": "203.0.113.45", "userAgent": "aws-sdk-go/1.44.109",
        "requestParameters": {"keyName": "k"}, "responseElements": {"keyName": "k"},
        "readOnly": False,
    }


def test_the_same_event_delivered_twice_changes_nothing(make_engine) -> None:
    engine, _ = make_engine()
    apply(plan(engine.aws, engine.aws.account_id(), ["us-east-1"], "costguard-events"))
    bus = boto3.client("events", region_name="us-east-1")
    entry = {"Source": "aws.ec2", "DetailType": "AWS API Call via CloudTrail",
             "Detail": json.dumps(import_key_pair_record())}
    bus.put_events(Entries=[entry, entry])  # SQS delivers at least once: here, twice

    first = engine.run_cycle({Source.CLOUDTRAIL})
    assert first.new_events == 1
    findings = engine.store.list_findings()
    assert [f.check for f in findings] == ["suspicious_api"]
    messages = len(engine.store.notifications())

    bus.put_events(Entries=[entry])  # and once more, later
    again = engine.run_cycle({Source.CLOUDTRAIL})
    assert again.new_events == 0
    assert [f.id for f in engine.store.list_findings()] == [f.id for f in findings]
    assert len(engine.store.notifications()) == messages
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.get_queue_url(QueueName="costguard-events")["QueueUrl"]
    assert sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0).get("Messages") is None


@pytest.mark.parametrize(("mode", "expected_state", "dry"), [
    ("true", {"stopping", "stopped"}, False),
    ("dry_run", {"running"}, True),
])
def test_auto_contain_stops_the_instances_or_only_says_so(make_engine, mode, expected_state,
                                                           dry) -> None:
    engine, _ = make_engine(mode)
    ids = launch()
    engine.run_cycle({Source.INVENTORY})
    ec2 = boto3.client("ec2", region_name="us-east-1")
    states = {i["State"]["Name"] for r in ec2.describe_instances(InstanceIds=ids)["Reservations"]
              for i in r["Instances"]}
    assert states <= expected_state
    [incident] = engine.store.open_incidents()
    [action] = engine.store.actions(incident.id)
    assert (action.action, sorted(action.target.split()), action.dry_run, action.ok) == (
        "stop_instances", sorted(ids), dry, True)
    [new] = [n for n in engine.store.notifications() if n.key.endswith("-new")]
    said = "dry run: would stop" if dry else "done: stop"
    assert f"Auto contain: {said} 2 instance(s) in 123456789012/us-east-1: " in new.message.text


def test_the_pollers_intake_stores_evaluates_and_commits_once_then_deletes(make_engine,
                                                                          ledger) -> None:
    engine, _ = make_engine()
    apply(plan(engine.aws, engine.aws.account_id(), ["us-east-1"], "costguard-events"))
    entry = {"Source": "aws.ec2", "DetailType": "AWS API Call via CloudTrail",
             "Detail": json.dumps(import_key_pair_record())}
    boto3.client("events", region_name="us-east-1").put_events(Entries=[entry])
    [queue] = engine.event_queues()
    received = queue.receive(0)
    stored_at_delete: list[int] = []
    delete = queue.delete

    def delete_after_commit(messages: Any) -> Any:
        stored_at_delete.append(len(engine.store.recent_events(since=T0)[0]))  # another session
        return delete(messages)

    queue.delete = delete_after_commit  # type: ignore[method-assign]
    with ledger(engine.store) as seen:
        result = engine.ingest(queue, received)

    assert result is not None and [f.check for f in result.reconciled.new] == ["suspicious_api"]
    assert stored_at_delete == [1]
    unit = seen.transactions[0]
    assert {("INSERT", "events"), ("INSERT", "findings"), ("INSERT", "notifications"),
            ("INSERT", "scans")} <= set(unit.writes)
    assert seen.writing("events", "findings", "scans") == [unit]
    assert queue.receive(0) == []

    queue.delete = delete  # type: ignore[method-assign]
    with ledger(engine.store) as again:  # SQS hands the same message over again: nothing new
        assert engine.ingest(queue, received) is None
    assert len(again) == 1
    assert len(engine.store.last_scans(5)) == 1


def test_an_events_only_evaluation_is_one_transaction(make_engine, ledger) -> None:
    engine, _ = make_engine()
    engine.event_queues()  # the daemon resolves the accounts before its pollers start
    with ledger(engine.store) as seen:
        result = engine.evaluate_events(notify=False)
    assert result.scan.complete
    assert len(seen) == 1


def test_the_poller_owns_its_queue_and_the_scheduled_cycle_leaves_it_alone(make_engine,
                                                                           monkeypatch) -> None:
    """The daemon's poller drains the queue; while it runs, the scheduled cloudtrail cycle
    makes no ReceiveMessage call (it no longer holds the engine for up to 100 receives)."""
    import threading

    from costguard.runtime import pollers

    monkeypatch.setattr(pollers, "WAIT_S", 1)
    engine, _ = make_engine()
    apply(plan(engine.aws, engine.aws.account_id(), ["us-east-1"], "costguard-events"))
    entry = {"Source": "aws.ec2", "DetailType": "AWS API Call via CloudTrail",
             "Detail": json.dumps(import_key_pair_record())}
    boto3.client("events", region_name="us-east-1").put_events(Entries=[entry])
    [queue] = engine.event_queues()
    stop = threading.Event()
    poller = pollers.QueuePoller(engine, queue, stop)
    poller.start()
    for _ in range(200):  # until the poller has taken the batch in (no time is asserted)
        if poller.batches:
            break
        stop.wait(0.05)
    assert poller.batches == 1 and queue.polled
    assert [f.check for f in engine.store.list_findings()] == ["suspicious_api"]

    drains: list[int] = []
    drain = queue.drain
    queue.drain = lambda batches: drains.append(batches) or drain(batches)  # type: ignore
    cycle = engine.run_cycle({Source.CLOUDTRAIL})
    assert drains == []  # the poller owns the queue
    assert cycle.new_events == 0 and cycle.complete
    stop.set()
    poller.join(10)
    assert not poller.is_alive() and not queue.polled

    boto3.client("events", region_name="us-east-1").put_events(Entries=[entry])
    again = engine.run_cycle({Source.CLOUDTRAIL})  # no poller: the cycle drains it itself
    assert len(drains) == 1 and again.complete
