"""Automatic containment: planned from findings, carried out on moto, recorded, dry-run safe."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import boto3
import pytest
from moto import mock_aws

from costguard.actions.contain import (
    DEACTIVATE_KEY,
    STOP_INSTANCES,
    ActionTaken,
    Step,
    contain,
    execute,
    plan,
)
from costguard.collectors.session import Aws

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)
ACCOUNT = "123456789012"


@dataclass
class F:
    policy: str
    region: str
    entities: frozenset[str]
    details: dict[str, Any] = field(default_factory=dict)
    account: str = ACCOUNT


@dataclass
class P:
    auto_contain: Any
    name: str = ""


def test_plan_takes_only_findings_of_containing_policies() -> None:
    findings = [
        F("types", "us-east-1", frozenset({"instance:i-1", "instance:i-2", "sg:sg-1"})),
        F("api", "us-east-1", frozenset({"instance:i-2"}),
          {"principal_arn": f"arn:aws:iam::{ACCOUNT}:user/ops/mallory",
           "access_key_id": "AKIAEXAMPLE1"}),
        F("quiet", "eu-west-1", frozenset({"instance:i-9"})),
    ]
    steps, dry = plan(findings, {"types": P(True), "api": P(True), "quiet": P(False)})
    assert dry is False
    assert steps == [
        Step(STOP_INSTANCES, ACCOUNT, "us-east-1", ("i-1", "i-2")),
        Step(DEACTIVATE_KEY, ACCOUNT, "global", ("AKIAEXAMPLE1",), user="mallory"),
    ]


def test_root_and_temporary_keys_are_never_planned() -> None:
    findings = [
        F("api", "us-east-1", frozenset(), {"principal_arn": f"arn:aws:iam::{ACCOUNT}:root",
                                            "access_key_id": "AKIAROOT"}),
        F("api", "us-east-1", frozenset(), {
            "principal_arn": f"arn:aws:iam::{ACCOUNT}:user/bob", "access_key_id": "ASIATEMP"}),
    ]
    assert plan(findings, {"api": P(True)}) == ([], False)


def test_any_dry_run_policy_makes_the_plan_a_dry_run() -> None:
    findings = [F("a", "us-east-1", frozenset({"instance:i-1"})),
                F("b", "us-east-1", frozenset({"instance:i-2"}))]
    assert plan(findings, {"a": P(True), "b": P("dry_run")})[1] is True


@pytest.fixture
def aws() -> Any:
    with mock_aws():
        yield Aws(boto3.Session(region_name="us-east-1"))


def test_execute_stops_and_deactivates_and_records(aws: Aws) -> None:
    ec2 = boto3.client("ec2", region_name="us-east-1")
    ids = [i["InstanceId"] for i in ec2.run_instances(
        ImageId="ami-12345678", MinCount=2, MaxCount=2, InstanceType="c5.4xlarge")["Instances"]]
    iam = boto3.client("iam")
    iam.create_user(UserName="mallory")
    key = iam.create_access_key(UserName="mallory")["AccessKey"]["AccessKeyId"]
    recorded: list[dict[str, Any]] = []
    steps = [Step(STOP_INSTANCES, ACCOUNT, "us-east-1", tuple(ids)),
             Step(DEACTIVATE_KEY, ACCOUNT, "global", (key,), user="mallory")]
    lines = execute(steps, lambda _account: aws, dry_run=False,
                    record=lambda **kw: recorded.append(kw), incident_id=7, now=NOW)
    states = {i["InstanceId"]: i["State"]["Name"] for r in ec2.describe_instances()[
        "Reservations"] for i in r["Instances"]}
    assert set(states.values()) <= {"stopping", "stopped"}
    assert iam.list_access_keys(UserName="mallory")["AccessKeyMetadata"][0]["Status"] == "Inactive"
    assert [r["action"] for r in recorded] == [STOP_INSTANCES, DEACTIVATE_KEY]
    assert all(r["ok"] and not r["dry_run"] and r["incident_id"] == 7 for r in recorded)
    assert lines[0].startswith("done: stop 2 instance(s)")


def test_dry_run_changes_nothing(aws: Aws) -> None:
    ec2 = boto3.client("ec2", region_name="us-east-1")
    [instance] = ec2.run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1,
                                   InstanceType="c5.4xlarge")["Instances"]
    recorded: list[dict[str, Any]] = []
    lines = execute([Step(STOP_INSTANCES, ACCOUNT, "us-east-1", (instance["InstanceId"],))],
                    lambda _a: aws, dry_run=True, record=lambda **kw: recorded.append(kw),
                    incident_id=1, now=NOW)
    state = ec2.describe_instances()["Reservations"][0]["Instances"][0]["State"]["Name"]
    assert state == "running"
    assert aws.total_calls == 0
    assert lines == [f"dry run: would stop 1 instance(s) in {ACCOUNT}/us-east-1: "
                     f"{instance['InstanceId']}"]
    assert recorded[0]["dry_run"] is True


def test_a_failing_step_is_recorded_and_the_rest_still_run(aws: Aws) -> None:
    iam = boto3.client("iam")
    iam.create_user(UserName="mallory")
    key = iam.create_access_key(UserName="mallory")["AccessKey"]["AccessKeyId"]
    recorded: list[dict[str, Any]] = []
    steps = [Step(STOP_INSTANCES, ACCOUNT, "us-east-1", ("i-doesnotexist",)),
             Step(DEACTIVATE_KEY, ACCOUNT, "global", (key,), user="mallory")]
    execute(steps, lambda _a: aws, dry_run=False, record=lambda **kw: recorded.append(kw),
            incident_id=None, now=NOW)
    assert [r["ok"] for r in recorded] == [False, True]
    assert "InvalidInstanceID" in recorded[0]["result"]


def test_contain_takes_its_inputs_and_returns_the_lines_and_the_rows_to_record(aws: Aws) -> None:
    ec2 = boto3.client("ec2", region_name="us-east-1")
    [instance] = ec2.run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1,
                                   InstanceType="c5.4xlarge")["Instances"]
    iid = instance["InstanceId"]
    findings = {7: [F("types", "us-east-1", frozenset({f"instance:{iid}"}))],
                8: [F("quiet", "us-east-1", frozenset({"instance:i-other"}))]}
    policies = [P(True, name="types"), P(False, name="quiet")]

    result = contain([7, 8], findings, policies, lambda _account: aws, NOW)

    assert result.lines == {7: [f"done: stop 1 instance(s) in {ACCOUNT}/us-east-1: {iid}"]}
    assert result.actions == (ActionTaken(7, NOW, STOP_INSTANCES, iid, False, True, "done"),)


def test_nothing_to_contain_touches_no_account(aws: Aws) -> None:
    findings = {1: [F("quiet", "us-east-1", frozenset({"instance:i-1"}))]}
    result = contain([1], findings, [P(False, name="quiet")], lambda _a: aws, NOW)
    assert (result.lines, result.actions, aws.total_calls) == ({}, (), 0)
