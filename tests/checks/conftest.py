"""Snapshot builders for check tests (imported as `from .conftest import ...`).

Every builder fills in plausible defaults so a test spells out only what it is about.
"""

from __future__ import annotations

import itertools
import json
import shlex
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from costguard.alerts.alert import AlertFinding
from costguard.alerts.render import Renderer
from costguard.checks.base import Check, Context
from costguard.model import Finding, Severity, Status
from costguard.snapshot import (
    AccessKey,
    AccountSummary,
    ApiEvent,
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

ACCOUNT = "111122223333"
OTHER_ACCOUNT = "444455556666"
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)
HOSTILE = "x'; rm -rf / #"
"""A name an attacker might give a tag, key pair or group to break out of a shell command."""
SCRIPT = "<script>alert(1)</script>"


def ago(**delta: float) -> datetime:
    """A time before NOW, e.g. ago(minutes=10)."""
    return NOW - timedelta(**delta)


# --- EC2 -------------------------------------------------------------------------------------


def instance(
    instance_id: str = "i-0abc",
    instance_type: str = "t3.micro",
    *,
    state: str = "running",
    region: str = "us-east-1",
    account: str = ACCOUNT,
    launched: datetime | None = None,
    key_name: str | None = None,
    groups: Iterable[str] = (),
    tags: Mapping[str, str] | None = None,
) -> Instance:
    """An instance, running in us-east-1 by default, launched a day before NOW."""
    return Instance(
        account=account,
        region=region,
        instance_id=instance_id,
        instance_type=instance_type,
        state=state,
        launch_time=launched or ago(days=1),
        key_name=key_name,
        security_groups=tuple(groups),
        tags=dict(tags or {}),
    )


def rule(
    protocol: str = "tcp",
    from_port: int | None = 22,
    to_port: int | None = None,
    cidrs: Iterable[str] = ("0.0.0.0/0",),
) -> IngressRule:
    """An ingress rule; `to_port` defaults to `from_port` (a single port)."""
    end = from_port if to_port is None else to_port
    return IngressRule(protocol=protocol, from_port=from_port, to_port=end, cidrs=tuple(cidrs))


def group(
    group_id: str = "sg-0abc",
    *rules: IngressRule,
    name: str = "web",
    region: str = "us-east-1",
    account: str = ACCOUNT,
) -> SecurityGroup:
    """A security group with the given ingress rules."""
    return SecurityGroup(
        account=account,
        region=region,
        group_id=group_id,
        name=name,
        vpc_id="vpc-0123",
        ingress=tuple(rules),
    )


def inventory(
    *items: Instance | SecurityGroup,
    region: str = "us-east-1",
    account: str = ACCOUNT,
    key_pairs: Iterable[str] = (),
) -> RegionInventory:
    """One account and region's inventory from a mix of instances and groups."""
    return RegionInventory(
        account=account,
        region=region,
        instances=tuple(i for i in items if isinstance(i, Instance)),
        security_groups=tuple(g for g in items if isinstance(g, SecurityGroup)),
        key_pairs=tuple(key_pairs),
    )


def snapshot(**fields: Any) -> Snapshot:
    """A Snapshot taken at NOW unless `now` is given."""
    fields.setdefault("now", NOW)
    return Snapshot(**fields)


# --- IAM -------------------------------------------------------------------------------------


def key(
    slot: int = 1,
    *,
    active: bool = True,
    used: datetime | None = None,
    region: str | None = None,
    service: str | None = None,
) -> AccessKey:
    """One access-key slot of a credential-report row."""
    return AccessKey(
        slot=slot,
        active=active,
        last_rotated=ago(days=30),
        last_used_date=used,
        last_used_region=region,
        last_used_service=service,
    )


def user(
    name: str,
    *,
    password: bool | None = True,
    mfa: bool = False,
    keys: Iterable[AccessKey] = (),
    account: str = ACCOUNT,
    last_login: datetime | None = None,
) -> CredentialUser:
    """An IAM user's credential-report row."""
    return CredentialUser(
        user=name,
        arn=f"arn:aws:iam::{account}:user/{name}",
        created=ago(days=400),
        password_enabled=password,
        password_last_used=last_login,
        mfa_active=mfa,
        access_keys=tuple(keys),
    )


def root(
    *,
    mfa: bool = True,
    keys: Iterable[AccessKey] = (),
    account: str = ACCOUNT,
    last_login: datetime | None = None,
) -> CredentialUser:
    """The `<root_account>` row (AWS reports its password_enabled as not_supported: None)."""
    return CredentialUser(
        user="<root_account>",
        arn=f"arn:aws:iam::{account}:root",
        is_root=True,
        created=ago(days=900),
        password_enabled=None,
        password_last_used=last_login,
        mfa_active=mfa,
        access_keys=tuple(keys),
    )


def report(*users: CredentialUser, account: str = ACCOUNT) -> CredentialReport:
    """A credential report generated two hours before NOW."""
    return CredentialReport(account=account, generated_at=ago(hours=2), users=users)


def iam(
    *,
    account: str = ACCOUNT,
    report: CredentialReport | None = None,
    keys: bool | None = None,
    mfa: bool | None = None,
    virtual: bool | None = None,
) -> IamSnapshot:
    """An account's IAM data; `keys`/`mfa` given means GetAccountSummary answered."""
    summary = None
    if keys is not None or mfa is not None:
        summary = AccountSummary(account, access_keys_present=bool(keys), mfa_enabled=bool(mfa))
    return IamSnapshot(account=account, report=report, summary=summary, root_virtual_mfa=virtual)


# --- CloudTrail events, GuardDuty, self-watch --------------------------------------------------

ROOT_ARN = f"arn:aws:iam::{ACCOUNT}:root"
ROOT_KEY = "AKIAROOTKEY000000001"
ATTACKER_IP = "203.0.113.45"
GO_SDK = "aws-sdk-go/1.44.109 (go1.19.3; linux; amd64)"
"""The reference incident: the root key, used from a cloud host with the Go SDK."""
BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"
DEV_ARN = f"arn:aws:iam::{ACCOUNT}:user/dev"
DEV_KEY = "AKIADEVKEY0000000001"
OFFICE_IP = "198.51.100.7"
MINERS = tuple(f"i-0miner{n:02d}" for n in range(10))
ATTACK_GROUP = "sg-0attack"
ATTACK_KEY_PAIR = "xmrig-deploy"

_SERVICES = {
    "ConsoleLogin": "signin", "CreateUser": "iam", "CreateAccessKey": "iam",
    "CreateLoginProfile": "iam", "EnableMFADevice": "iam", "ListUsers": "iam", "GetUser": "iam",
    "DeleteUser": "iam",
    "DeleteRole": "iam", "StopLogging": "cloudtrail", "DeleteTrail": "cloudtrail",
    "DeleteDetector": "guardduty", "PutBucketPolicy": "s3", "HeadBucket": "s3",
    **{f"{verb}{kind}Policy": "iam" for verb in ("Attach", "Detach", "Put", "Delete")
       for kind in ("User", "Role", "Group")},
}
_EVENT_IDS = itertools.count(1)


def _principal_type(arn: str) -> str:
    if arn.endswith(":root"):
        return "Root"
    return "AssumedRole" if ":assumed-role/" in arn else "IAMUser"


def event(
    name: str,
    *,
    at: datetime | None = None,
    principal: str = ROOT_ARN,
    key: str | None = ROOT_KEY,
    ip: str | None = ATTACKER_IP,
    agent: str | None = GO_SDK,
    region: str = "us-east-1",
    account: str = ACCOUNT,
    request: Mapping[str, Any] | None = None,
    response: Mapping[str, Any] | None = None,
    error: str | None = None,
    read_only: bool | None = None,
    event_id: str | None = None,
) -> ApiEvent:
    """A CloudTrail event as activity.records normalizes it; by default a call with the root
    key from the reference incident's address and agent, ten minutes before NOW."""
    kind = _principal_type(principal)
    return ApiEvent(
        event_id=event_id or f"ev-{next(_EVENT_IDS)}",
        time=at or ago(minutes=10),
        account=account,
        region=region,
        service=f"{_SERVICES.get(name, 'ec2')}.amazonaws.com",
        name=name,
        principal_type=kind,
        principal_arn=principal,
        access_key_id=key,
        user_name=principal.rsplit("/", 1)[-1] if kind == "IAMUser" else None,
        source_ip=ip,
        user_agent=agent,
        read_only=read_only,
        error_code=error,
        request=dict(request or {}),
        response=dict(response or {}),
        console_login=name == "ConsoleLogin",
    )


def items(*entries: Mapping[str, Any]) -> dict[str, Any]:
    """CloudTrail's EC2 list shape: {"items": [...]}."""
    return {"items": [dict(e) for e in entries]}


def import_key_pair(name: str = ATTACK_KEY_PAIR, **kw: Any) -> ApiEvent:
    """ImportKeyPair as CloudTrail records it."""
    return event("ImportKeyPair", request={"keyName": name,
                                           "publicKeyMaterial": "<sensitiveDataRemoved>"},
                 response={"requestId": "req-1", "keyName": name, "keyPairId": "key-0attack",
                           "keyFingerprint": "1f:51:ae:28:bf:89:e9:d8"}, **kw)


def create_group(
    group_id: str = ATTACK_GROUP, name: str = "launch-wizard-7", **kw: Any
) -> ApiEvent:
    """CreateSecurityGroup as CloudTrail records it."""
    return event("CreateSecurityGroup",
                 request={"groupName": name, "groupDescription": "ssh", "vpcId": "vpc-0123"},
                 response={"requestId": "req-2", "_return": True, "groupId": group_id}, **kw)


def open_ingress(
    group_id: str = ATTACK_GROUP, port: int = 22, cidr: str = "0.0.0.0/0", **kw: Any
) -> ApiEvent:
    """AuthorizeSecurityGroupIngress of one TCP port from `cidr`, as CloudTrail records it."""
    ranges = items({"cidrIpv6": cidr}) if ":" in cidr else items({"cidrIp": cidr})
    key = "ipv6Ranges" if ":" in cidr else "ipRanges"
    permission = {"ipProtocol": "tcp", "fromPort": port, "toPort": port, "groups": {},
                  key: ranges, "prefixListIds": {}}
    rule_cidr = {"cidrIpv6": cidr} if ":" in cidr else {"cidrIpv4": cidr}
    answer = items({"groupOwnerId": ACCOUNT, "groupId": group_id, "isEgress": False,
                    "securityGroupRuleId": f"sgr-0{port}", "ipProtocol": "tcp",
                    "fromPort": port, "toPort": port, **rule_cidr})
    return event("AuthorizeSecurityGroupIngress",
                 request={"groupId": group_id, "ipPermissions": items(permission)},
                 response={"requestId": "req-3", "_return": True,
                           "securityGroupRuleSet": answer}, **kw)


def run_instances(
    ids: Sequence[str] = MINERS,
    instance_type: str = "c5.4xlarge",
    *,
    key_name: str | None = ATTACK_KEY_PAIR,
    groups: Iterable[str] = (ATTACK_GROUP,),
    **kw: Any,
) -> ApiEvent:
    """RunInstances that started `ids`, as CloudTrail records it (no response when it failed)."""
    group_set = items(*({"groupId": g} for g in groups))
    request = {"instancesSet": items({"imageId": "ami-0abc", "minCount": len(ids),
                                      "maxCount": len(ids)}),
               "instanceType": instance_type, "groupSet": group_set,
               **({"keyName": key_name} if key_name else {})}
    started = [{"instanceId": i, "instanceType": instance_type, "keyName": key_name,
                "instanceState": {"code": 0, "name": "pending"}, "groupSet": group_set}
               for i in ids]
    response = None if kw.get("error") else {"requestId": "req-4", "reservationId": "r-0abc",
                                             "ownerId": ACCOUNT, "instancesSet": items(*started)}
    return event("RunInstances", request=request, response=response, **kw)


def attack_events(start: datetime | None = None) -> tuple[ApiEvent, ...]:
    """The reference incident's calls with the root key, a minute apart from `start`."""
    at = start or ago(minutes=12)
    minute = timedelta(minutes=1)
    return (
        import_key_pair(at=at, event_id="ev-import"),
        create_group(at=at + minute, event_id="ev-group"),
        open_ingress(at=at + 2 * minute, event_id="ev-ingress"),
        run_instances(at=at + 3 * minute, event_id="ev-run"),
    )


def attack_inventory(*extra: Instance | SecurityGroup, running: bool = True) -> RegionInventory:
    """us-east-1 as the attack left it: the key pair, the open group, ten miners."""
    miners = [
        instance(i, "c5.4xlarge", state="running" if running else "terminated",
                 launched=ago(minutes=9), key_name=ATTACK_KEY_PAIR, groups=[ATTACK_GROUP])
        for i in MINERS
    ]
    open_group = group(ATTACK_GROUP, rule("tcp", 22), name="launch-wizard-7")
    return inventory(*miners, open_group, *extra, key_pairs=[ATTACK_KEY_PAIR])


def gd_finding(
    finding_id: str = "gd-1",
    finding_type: str = "CryptoCurrency:EC2/BitcoinTool.B!DNS",
    severity: float = 8.0,
    *,
    instance_id: str | None = None,
    access_key: Mapping[str, Any] | None = None,
    action: Mapping[str, Any] | None = None,
    archived: bool = False,
    created: datetime | None = None,
    updated: datetime | None = None,
    region: str = "us-east-1",
    account: str = ACCOUNT,
    detector: str | None = "det-1",
) -> GuardDutyFinding:
    """A GuardDuty finding as costguard.activity.event_records normalizes it (camelCase keys)."""
    resource: dict[str, Any] = {"resourceType": "Instance" if instance_id else "AccessKey"}
    if instance_id:
        resource["instanceDetails"] = {"instanceId": instance_id, "instanceType": "c5.4xlarge"}
    if access_key:
        resource["accessKeyDetails"] = dict(access_key)
    service: dict[str, Any] = {"serviceName": "guardduty", "archived": archived, "count": 3,
                               "action": dict(action or {})}
    if detector:
        service["detectorId"] = detector
    return GuardDutyFinding(
        finding_id=finding_id, type=finding_type, severity=severity, account=account,
        region=region, title=f"{finding_type} seen", description="GuardDuty says so.",
        created_at=created or ago(minutes=8), updated_at=updated or ago(minutes=5),
        resource=resource, service=service,
    )


def trail(
    name: str = "main",
    *,
    logging: bool = True,
    multi_region: bool = True,
    region: str = "us-east-1",
    home: str = "us-east-1",
    account: str = ACCOUNT,
    stopped: datetime | None = None,
) -> TrailStatus:
    """A trail as the CloudTrail collector reports it for one region it covers."""
    return TrailStatus(
        account=account, region=region, name=name,
        arn=f"arn:aws:cloudtrail:{home}:{account}:trail/{name}", home_region=home,
        is_logging=logging, multi_region=multi_region, stopped_at=stopped,
    )


def detector(
    region: str = "us-east-1", *, enabled: bool = True, detector_id: str | None = "det-1",
    account: str = ACCOUNT,
) -> DetectorStatus:
    """GuardDuty's state in one region."""
    return DetectorStatus(account=account, region=region, detector_id=detector_id, enabled=enabled)


def health(
    source: str = "inventory",
    *,
    failures: int = 0,
    region: str = "us-east-1",
    account: str = ACCOUNT,
    last_event: datetime | None = None,
    error: str | None = None,
) -> SourceHealth:
    """costguard's record of one source in one account and region."""
    return SourceHealth(
        source=source, account=account, region=region, consecutive_failures=failures,
        last_success_at=ago(minutes=5) if failures == 0 else ago(hours=2), last_error=error,
        last_event_at=last_event,
    )


# --- running checks and templates ------------------------------------------------------------


def run(
    check: type[Check],
    snap: Snapshot,
    *,
    severity: Severity | None = None,
    now: datetime = NOW,
    **params: Any,
) -> list[Finding]:
    """Evaluate one check as the default policy would, and insist details are plain JSON."""
    ctx = Context(
        policy=check.id.replace("_", "-"),
        check=check.id,
        severity=severity or check.severity,
        params=check.Params.model_validate(params),
        now=now,
    )
    findings = list(check().evaluate(snap, ctx))
    for finding in findings:
        # Round-tripping through JSON changes nothing only if every value is JSON-native.
        assert json.loads(json.dumps(finding.details)) == finding.details
    return findings


def alert_finding(finding: Finding, finding_id: int = 1) -> AlertFinding:
    """The finding as the store would hand it to a message."""
    return AlertFinding(
        id=finding_id,
        policy=finding.policy,
        check=finding.check,
        severity=finding.severity,
        status=Status.OPEN.value,
        account=finding.account,
        region=finding.region,
        resource=finding.resource,
        title=finding.title,
        details=finding.details,
        first_seen=NOW,
        last_seen=NOW,
    )


def render(check_id: str, findings: Iterable[Finding], account: str = ACCOUNT) -> str:
    """The check's remediation text for these findings, through the shipped templates."""
    context = {
        "findings": [alert_finding(f, n) for n, f in enumerate(findings, 1)],
        "account": account,
    }
    return Renderer().remediation(check_id, context, None)


def assert_only_quoted(text: str, value: str) -> None:
    """`value` occurs in `text`, and every occurrence is inside its shell-quoted form."""
    quoted = shlex.quote(value)
    assert quoted != value, "pick a value that needs quoting"
    assert quoted in text
    assert value not in text.replace(quoted, "")
