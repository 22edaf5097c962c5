"""`costguard setup events` on moto: creates, then finds nothing to change; dry runs only read;
an event put to EventBridge afterwards arrives in the queue."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws
from moto.core.models import DEFAULT_ACCOUNT_ID

from costguard.actions.event_pipeline import (
    QUEUE_ATTRIBUTES,
    RULES,
    TARGET_ID,
    Change,
    apply,
    partition,
    plan,
    queue_policy,
)
from costguard.collectors.event_queue import EventQueue
from costguard.collectors.permissions import SETUP_PERMISSIONS, authorizing_action
from costguard.collectors.session import Aws
from costguard.snapshot import ApiEvent, GuardDutyFinding

ACCOUNT = DEFAULT_ACCOUNT_ID
FIXTURES = Path(__file__).parents[1] / "fixtures" / "events"
QUEUE = "costguard-events"
WRITES = {"sqs:CreateQueue", "sqs:SetQueueAttributes", "events:PutRule", "events:PutTargets"}
RULE_NAMES = ["costguard-cloudtrail-api", "costguard-console-signin", "costguard-guardduty"]


@pytest.fixture
def aws() -> Iterator[Aws]:
    with mock_aws():
        yield Aws.from_environment(region="us-east-1")


def client(service: str, region: str = "us-east-1"):
    """An uncounted client for looking at moto's state."""
    return boto3.client(service, region_name=region)


def writes(calls: Counter[str]) -> set[str]:
    return {c for c in calls if c in WRITES}


def queue_url(region: str = "us-east-1") -> str:
    return client("sqs", region).get_queue_url(QueueName=QUEUE)["QueueUrl"]


def queue_arn(region: str = "us-east-1") -> str:
    return f"arn:aws:sqs:{region}:{ACCOUNT}:{QUEUE}"


def test_apply_creates_the_queue_its_policy_rules_and_targets(aws):
    lines = apply(plan(aws, ACCOUNT, ["us-east-1"], QUEUE))

    assert lines[0] == "created queue costguard-events in us-east-1 (4-day retention, SSE-SQS)"
    assert lines[1] == "set access policy of queue costguard-events in us-east-1"
    assert "created rule costguard-cloudtrail-api in us-east-1" in lines
    assert ("set queue costguard-events as the target of rule costguard-guardduty in us-east-1"
            in lines)
    assert lines[-1] == "8 changes made"  # queue, policy, 3 rules, 3 targets

    attributes = client("sqs").get_queue_attributes(
        QueueUrl=queue_url(), AttributeNames=["All"]
    )["Attributes"]
    assert attributes["MessageRetentionPeriod"] == "345600"
    assert attributes["SqsManagedSseEnabled"] == "true"
    assert attributes["VisibilityTimeout"] == "300"
    policy = json.loads(attributes["Policy"])
    [statement] = policy["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    assert statement["Resource"] == queue_arn()
    assert statement["Condition"]["ArnEquals"]["aws:SourceArn"] == [
        f"arn:aws:events:us-east-1:{ACCOUNT}:rule/{name}" for name in RULE_NAMES
    ]

    events = client("events")
    for rule in RULES:
        described = events.describe_rule(Name=rule.name)
        assert json.loads(described["EventPattern"]) == rule.pattern
        assert described["State"] == "ENABLED"
        [target] = events.list_targets_by_rule(Rule=rule.name)["Targets"]
        assert (target["Id"], target["Arn"]) == (TARGET_ID, queue_arn())


def test_the_patterns_are_the_documented_detail_types():
    patterns = {rule.name: rule.pattern for rule in RULES}

    assert patterns == {
        "costguard-cloudtrail-api": {"detail-type": ["AWS API Call via CloudTrail"]},
        "costguard-console-signin": {"detail-type": ["AWS Console Sign In via CloudTrail"]},
        "costguard-guardduty": {"source": ["aws.guardduty"], "detail-type": ["GuardDuty Finding"]},
    }


def test_a_second_run_changes_nothing_and_says_so(aws):
    apply(plan(aws, ACCOUNT, ["us-east-1"], QUEUE))
    before = Counter(aws.calls)

    actions = plan(aws, ACCOUNT, ["us-east-1"], QUEUE)
    lines = apply(actions)

    assert {a.change for a in actions} == {Change.NONE}
    assert lines[0] == "queue costguard-events already exists in us-east-1"
    assert lines[1] == "access policy of queue costguard-events in us-east-1 is current"
    assert "rule costguard-console-signin in us-east-1 is current" in lines
    assert lines[-1] == "no changes: the event pipeline is already set up"
    assert writes(Counter(aws.calls) - before) == set()


def test_a_dry_run_only_reads(aws):
    actions = plan(aws, ACCOUNT, ["us-east-1", "eu-west-1"], QUEUE)

    assert writes(aws.calls) == set()
    assert [a.description for a in actions if a.region == "eu-west-1"][:2] == [
        "create queue costguard-events in eu-west-1 (4-day retention, SSE-SQS)",
        "set access policy of queue costguard-events in eu-west-1 "
        "(EventBridge, from costguard's rules only)",
    ]
    assert sum(a.changes for a in actions) == 16
    with pytest.raises(Exception, match=r"NonExistentQueue|does not exist"):
        queue_url()


def test_drift_is_corrected(aws):
    apply(plan(aws, ACCOUNT, ["us-east-1"], QUEUE))
    policy = json.dumps(queue_policy(queue_arn(), [
        f"arn:aws:events:us-east-1:{ACCOUNT}:rule/{name}" for name in RULE_NAMES
    ]))
    # With the policy: moto's SetQueueAttributes forgets a policy it is not given (SQS keeps it).
    client("sqs").set_queue_attributes(
        QueueUrl=queue_url(), Attributes={"MessageRetentionPeriod": "86400", "Policy": policy}
    )
    client("events").put_rule(Name="costguard-guardduty",
                              EventPattern=json.dumps({"source": ["aws.guardduty"]}))
    client("events").remove_targets(Rule="costguard-console-signin", Ids=[TARGET_ID])

    actions = plan(aws, ACCOUNT, ["us-east-1"], QUEUE)
    changing = [a.description for a in actions if a.changes]

    assert changing == [
        "update queue costguard-events in us-east-1: MessageRetentionPeriod 86400 -> 345600",
        "set queue costguard-events as the target of rule costguard-console-signin in us-east-1",
        "update rule costguard-guardduty in us-east-1",
    ]
    apply(actions)
    assert all(a.change is Change.NONE for a in plan(aws, ACCOUNT, ["us-east-1"], QUEUE))


def test_a_queue_encrypted_with_its_owners_key_is_left_so(aws):
    client("sqs").create_queue(QueueName=QUEUE, Attributes={
        "KmsMasterKeyId": "alias/queues", "MessageRetentionPeriod": "345600",
        "VisibilityTimeout": "300",
    })

    [queue_action] = plan(aws, ACCOUNT, ["us-east-1"], QUEUE)[:1]

    assert queue_action.change is Change.NONE


def test_events_put_after_setup_arrive_in_the_queue(aws):
    apply(plan(aws, ACCOUNT, ["us-east-1"], QUEUE))
    envelopes = [
        json.loads((FIXTURES / f"{name}.json").read_text())
        for name in ("create_access_key", "console_login_root", "guardduty_bitcoin_dns")
    ]
    client("events").put_events(Entries=[
        {"Source": e["source"], "DetailType": e["detail-type"], "Detail": json.dumps(e["detail"])}
        for e in envelopes
    ])

    received = EventQueue(aws, ACCOUNT, "us-east-1", QUEUE).drain(wait_s=0)

    events = [r.event for r in received]
    assert sorted(type(e).__name__ for e in events) == ["ApiEvent", "ApiEvent", "GuardDutyFinding"]
    names = {e.name for e in events if isinstance(e, ApiEvent)}
    assert names == {"CreateAccessKey", "ConsoleLogin"}
    assert [e.type for e in events if isinstance(e, GuardDutyFinding)] == [
        "CryptoCurrency:EC2/BitcoinTool.B!DNS"
    ]


def test_every_region_gets_its_own_queue_and_rules(aws):
    apply(plan(aws, ACCOUNT, ["us-east-1", "eu-west-1"], QUEUE))

    assert queue_url("eu-west-1").endswith(f"/{ACCOUNT}/{QUEUE}")
    targets = client("events", "eu-west-1").list_targets_by_rule(Rule="costguard-guardduty")
    assert [t["Arn"] for t in targets["Targets"]] == [queue_arn("eu-west-1")]


def test_without_us_east_1_the_plan_warns_about_global_events(aws):
    actions = plan(aws, ACCOUNT, ["eu-west-1"], QUEUE)

    [note] = [a for a in actions if a.change is Change.NOTE]
    assert "us-east-1 is not among the regions" in note.description
    assert "IAM calls" in note.description and "root console sign-ins" in note.description
    assert not note.changes


def test_setup_permissions_are_exactly_the_calls_setup_makes(aws):
    apply(plan(aws, ACCOUNT, ["us-east-1"], QUEUE))
    apply(plan(aws, ACCOUNT, ["us-east-1"], QUEUE))  # the second run reads the current state

    used = {authorizing_action(c) for c in aws.calls}

    assert used == set(SETUP_PERMISSIONS)


def test_queue_policy_and_partition():
    policy = queue_policy("arn:aws-cn:sqs:cn-north-1:1:q", ["b", "a"])

    assert policy["Statement"][0]["Condition"]["ArnEquals"]["aws:SourceArn"] == ["a", "b"]
    assert [partition(r) for r in ("cn-north-1", "us-gov-west-1", "eu-west-1")] == [
        "aws-cn", "aws-us-gov", "aws",
    ]


def test_the_queue_attributes_are_what_the_output_promises():
    assert QUEUE_ATTRIBUTES["MessageRetentionPeriod"] == str(4 * 24 * 3600)
    assert QUEUE_ATTRIBUTES["SqsManagedSseEnabled"] == "true"
