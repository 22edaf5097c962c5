"""A hand-built snapshot of the reference incident in which every shipped check fires.

`costguard validate` renders every remediation and email template with the findings this
produces, so a template that breaks on real data (a typo under StrictUndefined) fails
validation instead of an alert at 3 a.m. Pure data: no AWS, no store.

The story: the root user's access key, used from 203.0.113.45 with the Go SDK, imports a key
pair, opens a new security group to the internet on port 22, starts ten c5.4xlarge miners,
creates an IAM user made administrator with an access key to come back with, and stops the
only trail; the new key is tried out, runs a command on a miner and shares a snapshot.
GuardDuty sees one miner talk to a mining pool. eu-west-1 is scanned but nobody set it up: no
trail covers it, no GuardDuty detector, and costguard's role cannot list its instances.
Cost Explorer's figures are staged as if the spend had run for a day, so the bill-based
findings (hours later in a real incident) render along with everything else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

from sigma.rule import SigmaRule

from costguard.activity.sigma_match import RuleSet, compile_rule
from costguard.model import root_arn
from costguard.snapshot import (
    AccessKey,
    AccountAccess,
    AccountSummary,
    ApiEvent,
    BurnSample,
    CostData,
    CostForecast,
    CostPoint,
    CredentialReport,
    CredentialUser,
    DetectorStatus,
    GuardDutyFinding,
    IamSnapshot,
    IngressRule,
    Instance,
    RegionInventory,
    SecurityGroup,
    Snapshot,
    SourceHealth,
    TrailStatus,
)

ACCOUNT = "123456789012"
REGION = "us-east-1"
UNWATCHED_REGION = "eu-west-1"
"""Scanned, never set up: what attackers look for and costguard must complain about."""
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)
START = NOW - timedelta(minutes=14)
"""The stolen key's first call."""

ROOT_ARN = root_arn(ACCOUNT)
ROOT_KEY = "AKIA4Q7ZROOTEXAMPLE1"
ATTACKER_IP = "203.0.113.45"
ATTACKER_AGENT = "aws-sdk-go/1.44.109 (go1.19.3; linux; amd64)"
MINERS = tuple(f"i-0{n:016x}" for n in range(1, 11))
MINER_TYPE = "c5.4xlarge"
GROUP = "sg-0a7c4e2f9b8d61350"
KEY_PAIR = "xmrig-deploy"
BACKDOOR_USER = "backup-operator"
BACKDOOR_KEY = "AKIA4Q7ZBACKUPEXMPL2"
ADMIN_POLICY = ("%7B%0A%20%20%22Version%22%3A%20%222012-10-17%22%2C%0A%20%20%22Statement%22%3A"
                "%20%5B%7B%22Effect%22%3A%20%22Allow%22%2C%20%22Action%22%3A%20%22%2A%22%2C%20"
                "%22Resource%22%3A%20%22%2A%22%7D%5D%0A%7D")
"""The backdoor user's inline policy, URL-encoded as some CloudTrail records carry it."""
TRAIL = "management-events"
TRAIL_ARN = f"arn:aws:cloudtrail:{REGION}:{ACCOUNT}:trail/{TRAIL}"
DETECTOR = "4ec1f0a8d2b64c0e9a7f3b5d1c8e2a6f"
SNAPSHOT, ATTACKER_ACCOUNT = "snap-0e7d6c5b4a3928170", "999988887777"
MEMBER_ROLE = "arn:aws:iam::444455556666:role/OrganizationAccountAccessRole"
GD_FINDING_ID = "b6c9e1f2a3d44e7b8c0d1e2f3a4b5c6d"
GD_TYPE = "CryptoCurrency:EC2/BitcoinTool.B"
POOL_IP = "198.51.100.23"
POOL_PORT = 7777
MONTHLY_BUDGET_USD = 250.0
"""The team's normal month is about $170; the sample's forecast is far above it."""

EC2_COMPUTE = "Amazon Elastic Compute Cloud - Compute"
_NORMAL_DAY = {EC2_COMPUTE: 4.32, "EC2 - Other": 0.48, "Amazon Simple Storage Service": 0.61,
               "AmazonCloudWatch": 0.27}
"""What a day cost before the attack, by Cost Explorer service name."""
_TEAM = (("i-0d4b1e7a9c2f30581", "t3.medium", "web-1"),
         ("i-0d4b1e7a9c2f30582", "t3.medium", "web-2"),
         ("i-0e8a2c6f1b3d47905", "m6i.large", "ci-runner"))
"""The team's own instances: approved types, launched months ago; no check should name them."""
_PRICES = {MINER_TYPE: 0.68, "t3.medium": 0.0416, "m6i.large": 0.096}


SIGMA_RULE_ID = "5d2f6c1a-8e4b-4a7d-9c3e-1b2a3c4d5e6f"
SIGMA_RULE = f"""{{title: EC2 key pair imported, id: {SIGMA_RULE_ID}, status: experimental,
  description: 'A key pair was imported: whoever holds it can log in to instances started with it.',
  logsource: {{product: aws, service: cloudtrail}}, level: medium,
  detection: {{selection: {{eventSource: ec2.amazonaws.com, eventName: ImportKeyPair}},
              condition: selection}},
  falsepositives: [An engineer adding their own key], tags: [attack.persistence, attack.t1098.004]}}
"""


def check_options() -> dict[str, Any]:
    """`Context.options` as the engine passes them, with the sample budget (so
    monthly_forecast fires whatever costguard.yml says) and the sample's Sigma rule."""
    rule = SigmaRule.from_yaml(SIGMA_RULE)
    return {"monthly_budget_usd": MONTHLY_BUDGET_USD,
            "sigma_rules": RuleSet((compile_rule(rule, file="<sample>"),))}


# --- CloudTrail: the attack, call by call ----------------------------------------------------


def _call(
    n: int, name: str, minutes: float, request: Mapping[str, Any],
    response: Mapping[str, Any] | None, service: str = "ec2",
) -> ApiEvent:
    """One call signed with the root key, `minutes` after START."""
    return ApiEvent(
        event_id=f"7f3e2d1c-5b4a-4c9d-8e7f-{n:012x}", time=START + timedelta(minutes=minutes),
        account=ACCOUNT, region=REGION, service=f"{service}.amazonaws.com", name=name,
        principal_type="Root", principal_arn=ROOT_ARN, access_key_id=ROOT_KEY,
        source_ip=ATTACKER_IP, user_agent=ATTACKER_AGENT, read_only=False,
        request=dict(request), response=dict(response or {}),
    )


def _items(*entries: Mapping[str, Any]) -> dict[str, Any]:
    """CloudTrail's shape of an EC2 list."""
    return {"items": [dict(e) for e in entries]}


def _ec2_calls() -> tuple[ApiEvent, ...]:
    world = {"ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "groups": {},
             "ipRanges": _items({"cidrIp": "0.0.0.0/0"}), "ipv6Ranges": {}, "prefixListIds": {}}
    rule = {"groupOwnerId": ACCOUNT, "groupId": GROUP, "securityGroupRuleId":
            "sgr-0c1d2e3f4a5b6c7d8", "isEgress": False, "ipProtocol": "tcp", "fromPort": 22,
            "toPort": 22, "cidrIpv4": "0.0.0.0/0"}
    return (
        _call(1, "ImportKeyPair", 0, {"keyName": KEY_PAIR,
                                      "publicKeyMaterial": "<sensitiveDataRemoved>"},
              {"requestId": "0a1b2c3d-0001", "keyName": KEY_PAIR, "keyPairId":
               "key-0f3a9c2e7b1d48a56", "keyFingerprint": "1f:51:ae:28:bf:89:e9:d8:1f:25"}),
        _call(2, "CreateSecurityGroup", 1, {"groupName": "launch-wizard-7",
                                            "groupDescription": "ssh", "vpcId": "vpc-0c2e4a6b"},
              {"requestId": "0a1b2c3d-0002", "_return": True, "groupId": GROUP}),
        _call(3, "AuthorizeSecurityGroupIngress", 1.5,
              {"groupId": GROUP, "ipPermissions": _items(world)},
              {"requestId": "0a1b2c3d-0003", "_return": True,
               "securityGroupRuleSet": _items(rule)}),
        _run_instances(),
    )


def _run_instances() -> ApiEvent:
    groups = _items({"groupId": GROUP})
    request = {"instancesSet": _items({"imageId": "ami-0c7217cdde317cfec", "minCount": 10,
                                       "maxCount": 10}),
               "instanceType": MINER_TYPE, "keyName": KEY_PAIR, "groupSet": groups,
               "monitoring": {"enabled": False}, "disableApiTermination": False}
    started = [{"instanceId": i, "imageId": "ami-0c7217cdde317cfec", "instanceType": MINER_TYPE,
                "keyName": KEY_PAIR, "instanceState": {"code": 0, "name": "pending"},
                "placement": {"availabilityZone": f"{REGION}a"}, "groupSet": groups}
               for i in MINERS]
    response = {"requestId": "0a1b2c3d-0004", "reservationId": "r-0e1f2a3b4c5d6e7f8",
                "ownerId": ACCOUNT, "instancesSet": _items(*started)}
    return _call(4, "RunInstances", 2, request, response)


def _persistence_calls() -> tuple[ApiEvent, ...]:
    user_arn = f"arn:aws:iam::{ACCOUNT}:user/{BACKDOOR_USER}"
    created = f"{START + timedelta(minutes=4):%b %d, %Y %I:%M:%S %p}"
    return (
        _call(5, "CreateUser", 4, {"userName": BACKDOOR_USER},
              {"user": {"path": "/", "userName": BACKDOOR_USER, "userId":
                        "AIDA4Q7ZBACKUPEXMPL3", "arn": user_arn, "createDate": created}},
              service="iam"),
        _call(8, "PutUserPolicy", 4.2, {"userName": BACKDOOR_USER, "policyName": "backup",
                                         "policyDocument": ADMIN_POLICY}, None, service="iam"),
        _call(6, "CreateAccessKey", 4.5, {"userName": BACKDOOR_USER},
              {"accessKey": {"userName": BACKDOOR_USER, "accessKeyId": BACKDOOR_KEY,
                             "status": "Active", "createDate": created}}, service="iam"),
        _call(7, "StopLogging", 5, {"name": TRAIL_ARN}, None, service="cloudtrail"),
    )


def _backdoor(n: int, name: str, minutes: float, service: str, **changes: Any) -> ApiEvent:
    return replace(_call(n, name, minutes, changes.pop("request", {}), changes.pop("response",
                   None), service=service), principal_type="IAMUser", access_key_id=BACKDOOR_KEY,
                   principal_arn=f"arn:aws:iam::{ACCOUNT}:user/{BACKDOOR_USER}",
                   user_name=BACKDOOR_USER, **changes)


def _later_calls() -> tuple[ApiEvent, ...]:
    """The backdoor key tried out (refused before its policy applies), then used: a command on
    a miner through Systems Manager, a snapshot shared with the attacker's own account."""
    probes = [_backdoor(20 + i, name, 5.5 + i / 20, service, error_code="AccessDenied",
                        read_only=True) for i, (name, service) in enumerate(
        [("ListUsers", "iam"), ("ListBuckets", "s3"), ("GetCallerIdentity", "sts")] * 4)]
    command = _backdoor(40, "SendCommand", 7, "ssm", request={
        "instanceIds": [MINERS[0]], "documentName": "AWS-RunShellScript"},
        response={"command": {"commandId": "5c1d2e3f-aaaa-4bbb-8ccc-0d1e2f3a4b5c"}})
    shared = _backdoor(41, "ModifySnapshotAttribute", 8, "ec2", request={
        "snapshotId": SNAPSHOT, "attributeType": "CREATE_VOLUME_PERMISSION",
        "createVolumePermission": {"add": _items({"userId": ATTACKER_ACCOUNT})}})
    return (*probes, command, shared)


def events() -> tuple[ApiEvent, ...]:
    """The attack's calls, oldest first, as costguard.activity.event_records normalizes them."""
    return _ec2_calls() + _persistence_calls() + _later_calls()


# --- IAM -------------------------------------------------------------------------------------


def _iam() -> IamSnapshot:
    last_call = START + timedelta(minutes=5)
    root = CredentialUser(
        user="<root_account>", arn=ROOT_ARN, is_root=True, created=NOW - timedelta(days=900),
        mfa_active=False, access_keys=(
            AccessKey(slot=1, active=True, last_rotated=NOW - timedelta(days=400),
                      last_used_date=last_call, last_used_region=REGION,
                      last_used_service="cloudtrail"),
        ),
    )
    carol = CredentialUser(
        user="carol", arn=f"arn:aws:iam::{ACCOUNT}:user/carol", password_enabled=True,
        mfa_active=False, created=NOW - timedelta(days=30),
    )
    # Generated after the attack, so it shows the user and key the attacker left behind.
    backdoor = CredentialUser(
        user=BACKDOOR_USER, arn=f"arn:aws:iam::{ACCOUNT}:user/{BACKDOOR_USER}",
        created=START + timedelta(minutes=4), password_enabled=False, access_keys=(
            AccessKey(slot=1, active=True, last_rotated=START + timedelta(minutes=4.5)),
        ),
    )
    report = CredentialReport(account=ACCOUNT, generated_at=NOW, users=(root, carol, backdoor))
    summary = AccountSummary(account=ACCOUNT, access_keys_present=True, mfa_enabled=False)
    return IamSnapshot(account=ACCOUNT, report=report, summary=summary, root_virtual_mfa=None)


# --- EC2 inventory and burn rate --------------------------------------------------------------


def _inventory() -> RegionInventory:
    miners = tuple(
        Instance(account=ACCOUNT, region=REGION, instance_id=i, instance_type=MINER_TYPE,
                 state="running", launch_time=START + timedelta(minutes=2), key_name=KEY_PAIR,
                 security_groups=(GROUP,), tags={})
        for i in MINERS)
    team = tuple(
        Instance(account=ACCOUNT, region=REGION, instance_id=i, instance_type=kind,
                 state="running", launch_time=NOW - timedelta(days=97), key_name="team-ops",
                 security_groups=("sg-0b5d7f9e1a3c52468",), tags={"Name": name})
        for i, kind, name in _TEAM)
    attacker = SecurityGroup(
        account=ACCOUNT, region=REGION, group_id=GROUP, name="launch-wizard-7",
        vpc_id="vpc-0c2e4a6b", ingress=(IngressRule("tcp", 22, 22, ("0.0.0.0/0", "::/0")),))
    web = SecurityGroup(
        account=ACCOUNT, region=REGION, group_id="sg-0b5d7f9e1a3c52468", name="web",
        vpc_id="vpc-0c2e4a6b", ingress=(IngressRule("tcp", 443, 443, ("0.0.0.0/0",)),))
    return RegionInventory(account=ACCOUNT, region=REGION, instances=team + miners,
                           security_groups=(web, attacker), key_pairs=("team-ops", KEY_PAIR),
                           collected_at=NOW)


def _burn() -> tuple[BurnSample, ...]:
    miners = round(len(MINERS) * _PRICES[MINER_TYPE], 4)
    return (BurnSample(account=ACCOUNT, region=REGION, at=NOW, usd_per_hour=round(miners + 0.18, 4),
                       by_family={"c5": miners, "t3": 0.08, "m6i": 0.1},
                       recent_usd_per_hour=miners, instance_count=len(MINERS) + len(_TEAM)),)


def _history() -> tuple[BurnSample, ...]:
    return tuple(
        BurnSample(account=ACCOUNT, region=REGION, at=NOW - timedelta(hours=h),
                   usd_per_hour=0.18, by_family={"t3": 0.08, "m6i": 0.1},
                   instance_count=len(_TEAM))
        for h in range(1, 25))


# --- Cost Explorer ---------------------------------------------------------------------------


def _daily_points() -> tuple[CostPoint, ...]:
    """Fourteen days by service: a quiet fortnight, then yesterday's EC2 bill. Today has no
    figure yet (Cost Explorer lags)."""
    today = NOW.replace(hour=0, minute=0)
    points = []
    for back in range(14, 0, -1):
        day = today - timedelta(days=back)
        for service, usual in _NORMAL_DAY.items():
            spike = back == 1 and service == EC2_COMPUTE
            points.append(CostPoint(
                start=day, end=day + timedelta(days=1), service=service,
                amount=2450.0 if spike else round(usual + 0.01 * (back % 4), 2),
                estimated=back == 1,
            ))
    return tuple(points)


def _cost() -> tuple[CostData, ...]:
    hours = tuple(
        CostPoint(start=NOW - timedelta(hours=h + 1), end=NOW - timedelta(hours=h),
                  service=EC2_COMPUTE, amount=102.0, estimated=True)
        for h in range(1, 3)
    )
    return (CostData(account=ACCOUNT, granularity="DAILY", points=_daily_points(),
                     fetched_at=NOW),
            CostData(account=ACCOUNT, granularity="HOURLY", points=hours, fetched_at=NOW))


def _forecast() -> tuple[CostForecast, ...]:
    """Cost Explorer's month-end forecast: the month so far plus the spike's rate carried on."""
    start = NOW.replace(day=1, hour=0, minute=0)
    points = _daily_points()
    # The fortnight of points starts after the 1st: the days before it cost a normal day.
    before = (min(p.start for p in points) - start).days * sum(_NORMAL_DAY.values())
    spent = round(before + sum(p.amount for p in points if p.start >= start), 2)
    return (CostForecast(account=ACCOUNT, month_start=start, month_end=start.replace(month=12),
                         forecast_usd=round(spent + 6950.0, 2), actual_to_date_usd=spent,
                         lower_usd=round(spent + 4100.0, 2), upper_usd=round(spent + 9800.0, 2)),)


# --- GuardDuty and self-watch ----------------------------------------------------------------


def _guardduty() -> tuple[GuardDutyFinding, ...]:
    """One miner talking to a mining pool, as EventBridge delivers it (camelCase keys)."""
    first, last = START + timedelta(minutes=6), NOW - timedelta(minutes=1)
    miner = MINERS[0]
    connection = {
        "connectionDirection": "OUTBOUND", "protocol": "TCP", "blocked": False,
        "remoteIpDetails": {"ipAddressV4": POOL_IP, "country": {"countryName": "Netherlands"}},
        "remotePortDetails": {"port": POOL_PORT, "portName": "Unknown"},
        "localPortDetails": {"port": 49812, "portName": "Unknown"},
    }
    return (GuardDutyFinding(
        finding_id=GD_FINDING_ID, type=GD_TYPE, severity=8.0, account=ACCOUNT, region=REGION,
        title=f"Bitcoin-related IP address contacted by EC2 instance {miner}.",
        description=f"EC2 instance {miner} is communicating with a Bitcoin-related IP address "
                    f"{POOL_IP} on TCP port {POOL_PORT}.",
        created_at=first, updated_at=last,
        resource={"resourceType": "Instance", "instanceDetails": {
            "instanceId": miner, "instanceType": MINER_TYPE, "instanceState": "running",
            "availabilityZone": f"{REGION}a", "imageId": "ami-0c7217cdde317cfec"}},
        service={"serviceName": "guardduty", "detectorId": DETECTOR, "archived": False,
                 "count": 14, "resourceRole": "ACTOR", "eventFirstSeen": first.isoformat(),
                 "eventLastSeen": last.isoformat(), "action": {
                     "actionType": "NETWORK_CONNECTION", "networkConnectionAction": connection}},
    ),)


def _trails() -> tuple[TrailStatus, ...]:
    """The account's only trail, single-region and stopped by the attacker."""
    return (TrailStatus(account=ACCOUNT, region=REGION, name=TRAIL, arn=TRAIL_ARN,
                        home_region=REGION, is_logging=False, multi_region=False,
                        stopped_at=START + timedelta(minutes=5)),)


def _detectors() -> tuple[DetectorStatus, ...]:
    return (DetectorStatus(account=ACCOUNT, region=REGION, detector_id=DETECTOR, enabled=True),
            DetectorStatus(ACCOUNT, UNWATCHED_REGION, detector_id=None, enabled=False))


def _health() -> tuple[SourceHealth, ...]:
    """Trails read everywhere; eu-west-1's instances unreadable for three cycles in a row (and
    a member of the Organization whose role is gone: `access`)."""
    denied = ("UnauthorizedOperation: You are not authorized to perform this operation. "
              f"User: arn:aws:sts::{ACCOUNT}:assumed-role/costguard/scan is not authorized "
              "to perform: ec2:DescribeInstances with an explicit deny in a service control "
              "policy")
    return (
        SourceHealth(source="cloudtrail", account=ACCOUNT, region=REGION,
                     last_success_at=NOW),
        SourceHealth(source="cloudtrail", account=ACCOUNT, region=UNWATCHED_REGION,
                     last_success_at=NOW),
        SourceHealth(source="inventory", account=ACCOUNT, region=UNWATCHED_REGION,
                     consecutive_failures=3, last_success_at=NOW - timedelta(minutes=50),
                     last_error=denied),
        SourceHealth(source="events", account=ACCOUNT, region=REGION,
                     last_success_at=NOW, last_event_at=START + timedelta(minutes=5)),
    )


def reference_snapshot() -> Snapshot:
    """The reference incident as one snapshot: every shipped check finds something in it."""
    return Snapshot(
        now=NOW, accounts=(ACCOUNT,), inventory=(_inventory(),), iam=(_iam(),), cost=_cost(),
        events=events(), guardduty=_guardduty(), burn=_burn(), burn_history=_history(),
        instance_prices={(REGION, t): p for t, p in _PRICES.items()}, trails=_trails(),
        detectors=_detectors(), forecasts=_forecast(), health=_health(), access=(AccountAccess(
            "444455556666", MEMBER_ROLE, "AssumeRole refused (AccessDenied)", None, ACCOUNT),),
    )
