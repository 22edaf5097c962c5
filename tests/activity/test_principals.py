"""activity: a principal's non-read calls grouped by API, history judgements, call effects."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from costguard.activity.api_calls import failed, is_read, world_rules
from costguard.activity.principals import (
    Effect,
    activity_window,
    effect,
    new_address,
    principal_activity,
    principal_details,
    public_statements,
    sdk_agent,
)
from costguard.snapshot import ApiEvent, IngressRule

ACCOUNT = "111122223333"
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)
ROOT = f"arn:aws:iam::{ACCOUNT}:root"
DEV = f"arn:aws:iam::{ACCOUNT}:user/dev"
GO_SDK = "aws-sdk-go/1.44.109 (go1.19.3; linux; amd64)"


def ev(
    name: str, minutes_ago: float = 10, *, principal: str = ROOT, ip: str | None = "203.0.113.45",
    agent: str | None = GO_SDK, region: str = "us-east-1", service: str = "ec2.amazonaws.com",
    read_only: bool | None = None, error: str | None = None, key: str | None = "AKIAROOT",
    request: dict[str, Any] | None = None, response: dict[str, Any] | None = None,
    event_id: str | None = None,
) -> ApiEvent:
    kind = "Root" if principal.endswith(":root") else "IAMUser"
    return ApiEvent(
        event_id=event_id or f"{name}-{minutes_ago}-{ip}",
        time=NOW - timedelta(minutes=minutes_ago),
        account=ACCOUNT, region=region, service=service, name=name, principal_type=kind,
        principal_arn=principal, access_key_id=key,
        user_name=principal.rsplit("/", 1)[-1] if kind == "IAMUser" else None,
        source_ip=ip, user_agent=agent, read_only=read_only, error_code=error,
        request=request or {}, response=response or {},
    )


# --- principal activity ----------------------------------------------------------------------


def test_activity_groups_non_read_calls_by_api_with_counts_regions_ips_and_agents():
    events = [
        ev("RunInstances", 30, region="us-east-1"),
        ev("RunInstances", 20, region="eu-west-1", ip="198.51.100.9", agent="aws-cli/2.15.0"),
        ev("RunInstances", 15, error="UnauthorizedOperation"),
        ev("ImportKeyPair", 40),
        ev("DescribeInstances", 25),
        ev("ListBuckets", 25, service="s3.amazonaws.com"),
        ev("GetCallerIdentity", 25, service="sts.amazonaws.com"),
        ev("HeadBucket", 25, service="s3.amazonaws.com"),
        ev("LookupEvents", 25, service="cloudtrail.amazonaws.com", read_only=True),
        ev("CreateUser", 25, principal=DEV, service="iam.amazonaws.com"),  # someone else
        ev("CreateSecurityGroup", 200),  # outside the window
    ]

    activity = principal_activity(events, ROOT, NOW - timedelta(hours=1), NOW)

    assert activity == {
        "principal": ROOT,
        "start": "2026-11-22T11:00:00+00:00",
        "end": "2026-11-22T12:00:00+00:00",
        "total": 4,
        "calls": [
            {
                "name": "ImportKeyPair", "service": "ec2.amazonaws.com", "count": 1,
                "failed": 0, "regions": ["us-east-1"], "source_ips": ["203.0.113.45"],
                "user_agents": [GO_SDK], "first": "2026-11-22T11:20:00+00:00",
                "last": "2026-11-22T11:20:00+00:00",
            },
            {
                "name": "RunInstances", "service": "ec2.amazonaws.com", "count": 3,
                "failed": 1, "regions": ["us-east-1", "eu-west-1"],
                "source_ips": ["203.0.113.45", "198.51.100.9"],
                "user_agents": [GO_SDK, "aws-cli/2.15.0"],
                "first": "2026-11-22T11:30:00+00:00", "last": "2026-11-22T11:45:00+00:00",
            },
        ],
        "regions": ["us-east-1", "eu-west-1"],
        "source_ips": ["203.0.113.45", "198.51.100.9"],
        "user_agents": [GO_SDK, "aws-cli/2.15.0"],
    }
    assert json.loads(json.dumps(activity)) == activity


def test_read_calls_are_recognised_by_flag_and_by_name():
    assert is_read(ev("DescribeKeyPairs"))
    assert is_read(ev("GetObject"))
    assert is_read(ev("ListUsers"))
    assert is_read(ev("HeadObject"))
    assert is_read(ev("LookupEvents", read_only=True))
    assert not is_read(ev("LookupEvents"))
    assert not is_read(ev("ConsoleLogin", read_only=False))
    assert not is_read(ev("RunInstances", read_only=False))


def test_a_failed_console_sign_in_counts_as_failed_with_or_without_an_error_code():
    assert failed(ev("ConsoleLogin", response={"ConsoleLogin": "Failure"}))
    assert failed(ev("ConsoleLogin", error="ConsoleLoginFailure"))
    assert not failed(ev("ConsoleLogin", response={"ConsoleLogin": "Success"}))
    assert failed(ev("RunInstances", error="Client.UnauthorizedOperation"))


def test_the_window_reaches_an_hour_either_side_of_the_related_events():
    start, end = activity_window([NOW - timedelta(minutes=5), NOW - timedelta(minutes=50)])

    assert (start, end) == (NOW - timedelta(minutes=110), NOW + timedelta(minutes=55))


def test_principal_details_name_the_calls_and_the_evidence_addresses():
    events = [ev("ImportKeyPair", 30), ev("RunInstances", 20), ev("DescribeRegions", 25)]

    details = principal_details(
        events, ROOT, [NOW - timedelta(minutes=20)],
        source_ips=["203.0.113.45", None, "203.0.113.45"], user_agents=[GO_SDK],
    )

    assert details["api_calls"] == ["ImportKeyPair", "RunInstances"]
    assert details["source_ips"] == ["203.0.113.45"]
    assert details["user_agents"] == [GO_SDK]
    assert details["activity"]["total"] == 2
    assert principal_details(events, None, [NOW])["activity"] is None
    assert principal_details(events, ROOT, [])["api_calls"] == []


# --- history judgements ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("agent", "sdk"),
    [
        (GO_SDK, True),
        ("[aws-sdk-go/1.44.109 (go1.19.3; linux; amd64)]", True),
        ("Boto3/1.34.0 md/Botocore#1.34.0 ua/2.0 os/linux Python/3.11", True),
        ("aws-cli/2.15.0 md/awscrt#0.19.19 ua/2.0 os/linux#6.1", True),
        ("Go-http-client/1.1", True),
        ("Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0", False),
        ("AWS Internal", False),
        (None, False),
    ],
)
def test_sdk_and_cli_agents_match_the_default_patterns(agent, sdk):
    patterns = ("*aws-sdk-*", "*boto3/*", "*botocore/*", "*aws-cli/*", "*go-http-client/*")

    assert sdk_agent(ev("RunInstances", agent=agent), patterns) is sdk


def test_an_address_is_new_unless_the_principal_used_it_long_enough_before():
    call = ev("RunInstances", 0, principal=DEV, ip="198.51.100.7")
    week, hour = 7, timedelta(hours=1)

    def new(*history: ApiEvent) -> bool:
        return new_address(call, history, week, hour)

    assert new()
    assert not new(ev("ListUsers", 60 * 24, principal=DEV, ip="198.51.100.7"))
    # Used only minutes before the call: the same burst, which vouches for nothing.
    assert new(ev("ImportKeyPair", 5, principal=DEV, ip="198.51.100.7"))
    # Used longer ago than the history counts.
    assert new(ev("ListUsers", 60 * 24 * 8, principal=DEV, ip="198.51.100.7"))
    assert new(ev("ListUsers", 60 * 24, principal=DEV, ip="198.51.100.8"))
    assert not new_address(ev("RunInstances", ip="AWS Internal"), (), week, hour)
    assert not new_address(ev("RunInstances", ip=None), (), week, hour)


# --- what a call created or changed ----------------------------------------------------------


def _ingress_request(*permissions: dict[str, Any], group: str | None = "sg-1") -> dict[str, Any]:
    request: dict[str, Any] = {"ipPermissions": {"items": list(permissions)}}
    if group:
        request["groupId"] = group
    return request


def _permission(protocol="tcp", port=22, v4=(), v6=()) -> dict[str, Any]:
    return {
        "ipProtocol": protocol, "fromPort": port, "toPort": port, "groups": {},
        "ipRanges": {"items": [{"cidrIp": c} for c in v4]},
        "ipv6Ranges": {"items": [{"cidrIpv6": c} for c in v6]},
    }


def test_world_rules_keep_only_internet_ranges_of_every_form():
    call = ev("AuthorizeSecurityGroupIngress", request=_ingress_request(
        _permission("tcp", 22, v4=["0.0.0.0/0", "10.0.0.0/8"], v6=["::/0"]),
        _permission("6", 3389, v4=["192.0.2.0/24"]),
        {"ipProtocol": "-1", "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}},
    ))
    legacy = ev("AuthorizeSecurityGroupIngress", request={
        "groupName": "default", "cidrIp": "0.0.0.0/0", "ipProtocol": "6", "fromPort": 80,
        "toPort": 80})

    assert world_rules(call) == [
        IngressRule("tcp", 22, 22, ("0.0.0.0/0",)),
        IngressRule("tcp", 22, 22, ("::/0",)),
        IngressRule("-1", None, None, ("0.0.0.0/0",)),
    ]
    assert world_rules(legacy) == [IngressRule("tcp", 80, 80, ("0.0.0.0/0",))]


def test_public_statements_are_allow_to_anyone_without_a_condition():
    anyone = {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"}
    aws_star = {"Effect": "Allow", "Principal": {"AWS": ["*"]}, "Action": "s3:*"}
    conditioned = {**anyone, "Condition": {"IpAddress": {"aws:SourceIp": "192.0.2.0/24"}}}
    denied = {**anyone, "Effect": "Deny"}
    named = {**anyone, "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}}

    def public(policy: Any) -> list[dict[str, Any]]:
        return public_statements(ev("PutBucketPolicy", request={"bucketPolicy": policy}))

    assert public({"Statement": [anyone, conditioned, denied, named, aws_star]}) == [
        anyone, aws_star]
    assert public(json.dumps({"Statement": anyone})) == [anyone]
    assert public("not json") == []
    assert public(None) == []


def _run_response(*ids: str, instance_type: str = "c5.4xlarge") -> dict[str, Any]:
    return {"instancesSet": {"items": [
        {"instanceId": i, "instanceType": instance_type, "groupSet": {"items": [
            {"groupId": "sg-1"}]}} for i in ids]}}


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (
            ev("ImportKeyPair", request={"keyName": "xmrig"},
               response={"keyName": "xmrig", "keyPairId": "key-0a", "keyFingerprint": "1f:51"}),
            Effect(f"arn:aws:ec2:us-east-1:{ACCOUNT}:key-pair/key-0a",
                   {"key_name": "xmrig", "key_pair_id": "key-0a", "key_fingerprint": "1f:51"},
                   (f"keypair:{ACCOUNT}:us-east-1:xmrig",)),
        ),
        (
            ev("CreateSecurityGroup", request={"groupName": "w", "vpcId": "vpc-1"},
               response={"groupId": "sg-9"}),
            Effect(f"arn:aws:ec2:us-east-1:{ACCOUNT}:security-group/sg-9",
                   {"group_id": "sg-9", "group_name": "w", "vpc_id": "vpc-1"}, ("sg:sg-9",)),
        ),
        (
            ev("CreateSecurityGroup", request={"groupName": "w"}, error="InvalidGroup.Duplicate",
               event_id="ev-dup"),
            Effect("ev-dup", {"group_id": None, "group_name": "w", "vpc_id": None}),
        ),
        (
            ev("AuthorizeSecurityGroupIngress", request=_ingress_request(
                _permission(v4=["0.0.0.0/0"]), group=None) | {"groupName": "default"},
               response={"securityGroupRuleSet": {"items": [{"groupId": "sg-def"}]}}),
            Effect(f"arn:aws:ec2:us-east-1:{ACCOUNT}:security-group/sg-def"
                   "#AuthorizeSecurityGroupIngress",
                   {"group_id": "sg-def", "group_name": "default", "rules": [
                       {"protocol": "tcp", "from_port": 22, "to_port": 22,
                        "cidr": "0.0.0.0/0", "cidr_as_written": "0.0.0.0/0"}]},
                   ("sg:sg-def",)),
        ),
        (
            ev("AuthorizeSecurityGroupIngress",
               request=_ingress_request(_permission(v4=["10.0.0.0/8"]))),
            None,
        ),
        (
            ev("RunInstances", request={"instanceType": "c5.4xlarge", "keyName": "xmrig",
                                        "groupSet": {"items": [{"groupId": "sg-1"}]}},
               response=_run_response("i-1", "i-2")),
            Effect(f"arn:aws:ec2:us-east-1:{ACCOUNT}:instance/i-1",
                   {"instances": [{"instance_id": "i-1", "instance_type": "c5.4xlarge"},
                                  {"instance_id": "i-2", "instance_type": "c5.4xlarge"}],
                    "count": 2, "instance_types": ["c5.4xlarge"], "key_name": "xmrig",
                    "security_groups": ["sg-1"]},
                   ("instance:i-1", "instance:i-2", "sg:sg-1",
                    f"keypair:{ACCOUNT}:us-east-1:xmrig")),
        ),
        (
            ev("RunInstances", error="VcpuLimitExceeded", event_id="ev-run",
               request={"instanceType": "p4d.24xlarge",
                        "instancesSet": {"items": [{"minCount": 1, "maxCount": 8}]}}),
            Effect("ev-run", {"instances": [], "count": 8, "instance_types": ["p4d.24xlarge"],
                              "key_name": None, "security_groups": []}),
        ),
    ],
    ids=["key-pair", "group", "failed-group", "ingress-by-name", "ingress-private", "run",
         "run-failed"],
)
def test_ec2_effects(call, expected):
    assert effect(call) == expected


def test_iam_effects_name_the_user_including_the_caller_itself():
    backup = f"arn:aws:iam::{ACCOUNT}:user/ops/backup"
    user = ev("CreateUser", service="iam.amazonaws.com", request={"userName": "backup"},
              response={"user": {"userName": "backup", "arn": backup}})
    own_key = ev("CreateAccessKey", principal=DEV, service="iam.amazonaws.com",
                 response={"accessKey": {"accessKeyId": "AKIANEW", "status": "Active"}})
    root_key = ev("CreateAccessKey", service="iam.amazonaws.com",
                  response={"accessKey": {"accessKeyId": "AKIAROOT2", "status": "Active"}})
    attach = ev("AttachUserPolicy", service="iam.amazonaws.com", request={
        "userName": "backup", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"})

    assert effect(user) == Effect(
        backup, {"user_name": "backup", "user_arn": backup}, (f"principal:{backup}",))
    assert effect(own_key) == Effect(
        "AKIANEW", {"access_key_id": "AKIANEW", "user_name": "dev", "user_arn": DEV},
        ("access_key:AKIANEW", f"principal:{DEV}"))
    assert effect(root_key).created["user_name"] == "<root_account>"
    assert effect(root_key).created["user_arn"] == ROOT
    assert effect(attach) == Effect(
        f"arn:aws:iam::{ACCOUNT}:user/backup#AttachUserPolicy",
        {"user_name": "backup", "user_arn": f"arn:aws:iam::{ACCOUNT}:user/backup",
         "policy_arns": ["arn:aws:iam::aws:policy/AdministratorAccess"]},
        (f"principal:arn:aws:iam::{ACCOUNT}:user/backup",))


def test_logging_effects_name_the_trail_detector_and_bucket():
    by_name = ev("StopLogging", service="cloudtrail.amazonaws.com", region="eu-west-1",
                 request={"name": "main"})
    by_arn = ev("DeleteTrail", service="cloudtrail.amazonaws.com", region="eu-west-1",
                request={"name": f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/org"})
    detector = ev("DeleteDetector", service="guardduty.amazonaws.com",
                  request={"detectorId": "12abc"})

    assert effect(by_name) == Effect(
        f"arn:aws:cloudtrail:eu-west-1:{ACCOUNT}:trail/main#StopLogging",
        {"trail_name": "main", "trail_arn": f"arn:aws:cloudtrail:eu-west-1:{ACCOUNT}:trail/main",
         "trail_region": "eu-west-1"})
    assert effect(by_arn).created["trail_region"] == "us-east-1"
    assert effect(by_arn).created["trail_name"] == "org"
    assert effect(detector) == Effect(
        f"arn:aws:guardduty:us-east-1:{ACCOUNT}:detector/12abc#DeleteDetector",
        {"detector_id": "12abc"})
    assert effect(ev("StopLogging", service="cloudtrail.amazonaws.com")) is None
    assert effect(ev("DescribeInstances")) is None
