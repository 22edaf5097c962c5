"""The event queue against moto: EventBridge delivers CloudTrail-shaped events to SQS, the
queue reads them back as ApiEvents and GuardDutyFindings, and deletes them.

moto's EventBridge does not emit CloudTrail events by itself; the tests publish the records
with PutEvents (as the demo does) and a rule targeting the queue, and moto delivers them.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from pathlib import Path

import pytest
from botocore.stub import Stubber

from costguard.activity.api_calls import created_resources
from costguard.activity.event_records import parse_time
from costguard.collectors.event_queue import EventQueue, QueueMissing, Received
from costguard.snapshot import ApiEvent, GuardDutyFinding

from .conftest import ACCOUNT, REGION

FIXTURES = Path(__file__).parents[1] / "fixtures" / "events"
QUEUE = "costguard-events"
INSTANCES = [f"i-0a4c3e2f1b9d8{n:04d}" for n in range(10)]


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


@pytest.fixture
def bus(setup_client):
    """A queue fed by a rule that matches CloudTrail calls and GuardDuty findings."""
    sqs, events = setup_client("sqs"), setup_client("events")
    url = sqs.create_queue(QueueName=QUEUE)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.put_rule(
        Name="all",
        EventPattern=json.dumps({"detail-type": [
            "AWS API Call via CloudTrail", "AWS Console Sign In via CloudTrail",
            "GuardDuty Finding",
        ]}),
    )
    events.put_targets(Rule="all", Targets=[{"Id": "q", "Arn": arn}])
    return events, sqs, url


def publish(events, *names: str) -> None:
    """PutEvents with each fixture's source, detail-type, time and detail (10 per call)."""
    entries = []
    for name in names:
        envelope = fixture(name)
        entries.append({
            "Source": envelope["source"],
            "DetailType": envelope["detail-type"],
            "Detail": json.dumps(envelope["detail"]),
            "Resources": envelope["resources"],
            "Time": parse_time(envelope["time"]),
        })
    for start in range(0, len(entries), 10):
        answer = events.put_events(Entries=entries[start : start + 10])
        assert answer["FailedEntryCount"] == 0


def test_events_come_back_normalized_then_are_deleted(aws, bus):
    events, _, _ = bus
    publish(events, "import_key_pair", "run_instances", "guardduty_bitcoin_dns")
    queue = EventQueue(aws, ACCOUNT, REGION, QUEUE)

    received = queue.receive(wait_s=0)

    by_id = {r.event.event_id if isinstance(r.event, ApiEvent) else r.event.finding_id: r
             for r in received}
    assert set(by_id) == {
        "3b2f6d9e-6c1a-4d0b-9f3e-2a7c5e8b1d01",
        "3b2f6d9e-6c1a-4d0b-9f3e-2a7c5e8b1d04",
        "a2c7f4e1b93d5e6f8a0b1c2d3e4f5a6b",
    }
    run = by_id["3b2f6d9e-6c1a-4d0b-9f3e-2a7c5e8b1d04"].event
    assert run.name == "RunInstances"
    assert (run.principal_type, run.access_key_id) == ("Root", "AKIAIOSFODNN7EXAMPLE")
    assert run.source_ip == "198.51.100.23"
    assert run.user_agent.startswith("aws-sdk-go/")
    assert run.time == datetime.fromisoformat("2024-05-14T10:02:15+00:00")
    assert created_resources(run) == {"instance": INSTANCES}
    finding = by_id["a2c7f4e1b93d5e6f8a0b1c2d3e4f5a6b"].event
    assert isinstance(finding, GuardDutyFinding)
    assert finding.type == "CryptoCurrency:EC2/BitcoinTool.B!DNS"
    assert all(json.loads(r.body)["detail-type"] for r in received)

    assert queue.delete(received) == []
    assert queue.receive(wait_s=0) == []
    assert aws.calls["sqs:DeleteMessage"] == 1


def test_the_same_event_delivered_twice_comes_back_twice_with_one_event_id(aws, bus):
    events, _, _ = bus
    publish(events, "create_user", "create_user")
    queue = EventQueue(aws, ACCOUNT, REGION, QUEUE)

    received = queue.receive(wait_s=0)

    assert len(received) == 2
    assert len({r.message_id for r in received}) == 2
    assert {r.event.event_id for r in received} == {"3b2f6d9e-6c1a-4d0b-9f3e-2a7c5e8b1d05"}


def test_unreadable_messages_come_back_without_an_event_and_can_be_deleted(aws, bus, caplog):
    _, sqs, url = bus
    foreign = json.dumps(
        {"version": "0", "detail-type": "Scheduled Event", "source": "aws.events", "detail": {}}
    )
    sqs.send_message(QueueUrl=url, MessageBody="not an envelope")
    sqs.send_message(QueueUrl=url, MessageBody=foreign)
    caplog.set_level(logging.WARNING, logger="costguard.collectors.event_queue")
    queue = EventQueue(aws, ACCOUNT, REGION, QUEUE)

    received = queue.receive(wait_s=0)

    assert [r.event for r in received] == [None, None]
    assert {r.body for r in received} == {"not an envelope", foreign}
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert all(r.message_id in logged for r in received)
    assert queue.delete(received) == []
    assert queue.receive(wait_s=0) == []


def test_deletes_go_in_batches_of_ten(aws, bus):
    _, sqs, url = bus
    for n in range(25):
        sqs.send_message(QueueUrl=url, MessageBody=f"poison {n}")
    queue = EventQueue(aws, ACCOUNT, REGION, QUEUE)
    received = queue.drain(wait_s=0)

    assert len(received) == 25
    assert queue.delete(received) == []
    assert aws.calls["sqs:DeleteMessage"] == 3
    assert queue.receive(wait_s=0) == []


def test_a_partial_delete_failure_is_reported(aws, bus, caplog):
    """moto deletes any handle it issued, so Stubber answers as SQS does for a stale one."""
    queue = EventQueue(aws, ACCOUNT, REGION, QUEUE)
    queue.url  # noqa: B018  (looked up on moto before the stub takes over the client)
    items = [Received(f"m{n}", f"handle-{n}", None, "") for n in range(2)]
    caplog.set_level(logging.WARNING, logger="costguard.collectors.event_queue")

    with Stubber(aws.client("sqs", REGION)) as stub:
        stub.add_response(
            "delete_message_batch",
            {"Successful": [{"Id": "0"}], "Failed": [{
                "Id": "1", "SenderFault": True, "Code": "ReceiptHandleIsInvalid",
                "Message": 'The input receipt handle "handle-1" is not a valid receipt handle.',
            }]},
            expected_params={"QueueUrl": queue.url, "Entries": [
                {"Id": "0", "ReceiptHandle": "handle-0"}, {"Id": "1", "ReceiptHandle": "handle-1"},
            ]},
        )
        [failure] = queue.delete([*items, items[0]])  # a repeated handle is sent once

    assert failure.received == items[1]
    assert (failure.code, failure.sender_fault) == ("ReceiptHandleIsInvalid", True)
    assert "m1" in caplog.text and "ReceiptHandleIsInvalid" in caplog.text


def test_drain_reads_until_empty_and_respects_the_cap(aws, bus):
    events, _, _ = bus
    names = ["import_key_pair", "create_security_group", "authorize_security_group_ingress",
             "run_instances", "create_user", "create_access_key", "stop_logging",
             "console_login_root", "guardduty_bitcoin_dns"]
    publish(events, *names, *names[:6])  # 15 messages
    queue = EventQueue(aws, ACCOUNT, REGION, QUEUE)

    capped = queue.drain(max_batches=1, wait_s=0)
    assert len(capped) == 10

    rest = queue.drain(wait_s=0)
    assert len(rest) == 5
    assert aws.calls["sqs:ReceiveMessage"] == 1 + 2  # the capped batch; then 5 and an empty one
    assert {r.message_id for r in capped}.isdisjoint(r.message_id for r in rest)


def test_receive_clamps_to_what_sqs_allows(aws, bus):
    """A wait over 20 s would block a test on moto, so Stubber checks the request instead."""
    queue = EventQueue(aws, ACCOUNT, REGION, QUEUE, visibility_timeout_s=300)
    url = queue.url
    with Stubber(aws.client("sqs", REGION)) as stub:
        stub.add_response(
            "receive_message", {},
            {"QueueUrl": url, "MaxNumberOfMessages": 10, "WaitTimeSeconds": 20,
             "VisibilityTimeout": 300},
        )
        stub.add_response(
            "receive_message", {},
            {"QueueUrl": url, "MaxNumberOfMessages": 1, "WaitTimeSeconds": 0,
             "VisibilityTimeout": 300},
        )
        stub.add_response(
            "receive_message", {},
            {"QueueUrl": url, "MaxNumberOfMessages": 10, "WaitTimeSeconds": 1,
             "VisibilityTimeout": 300},
        )
        assert queue.receive(wait_s=60, max_messages=50) == []
        assert queue.receive(wait_s=-1, max_messages=0) == []
        assert queue.drain() == []  # a drain waits 1 s so SQS asks all its servers
        stub.assert_no_pending_responses()


def test_the_queue_url_is_asked_once(aws, bus):
    queue = EventQueue(aws, ACCOUNT, REGION, QUEUE)

    queue.receive(wait_s=0)
    queue.receive(wait_s=0)

    assert aws.calls["sqs:GetQueueUrl"] == 1


def test_a_missing_queue_says_how_to_create_it(aws):
    queue = EventQueue(aws, ACCOUNT, "eu-west-1", "nope")

    with pytest.raises(QueueMissing) as caught:
        queue.receive(wait_s=0)

    text = str(caught.value)
    assert "'nope'" in text and "eu-west-1" in text and ACCOUNT in text
    assert "costguard setup events --regions eu-west-1" in text
