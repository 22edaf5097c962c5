"""Snapshot builders for check tests (imported as `from .conftest import ...`).

Every builder fills in plausible defaults so a test spells out only what it is about.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from costguard.alerts import AlertFinding
from costguard.checks.base import Check, Context
from costguard.model import Finding, Severity, Status
from costguard.render import Renderer
from costguard.snapshot import (
    AccessKey,
    AccountSummary,
    CredentialReport,
    CredentialUser,
    IamSnapshot,
    IngressRule,
    Instance,
    RegionInventory,
    SecurityGroup,
    Snapshot,
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
    *items: Instance | SecurityGroup, region: str = "us-east-1", account: str = ACCOUNT
) -> RegionInventory:
    """One account and region's inventory from a mix of instances and groups."""
    return RegionInventory(
        account=account,
        region=region,
        instances=tuple(i for i in items if isinstance(i, Instance)),
        security_groups=tuple(g for g in items if isinstance(g, SecurityGroup)),
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
