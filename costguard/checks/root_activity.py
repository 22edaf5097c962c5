"""Any use of the root user: its access key or a console sign-in."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from pydantic import Field, field_validator

from costguard.activity.api_calls import failed, unique
from costguard.activity.principals import ROOT_TYPE, group_calls, principal_details
from costguard.checks.base import Check, Context, Params, Phase
from costguard.checks.root_access_key import root_row
from costguard.model import GLOBAL_REGION, Finding, Severity, Source, StrEnum, root_arn
from costguard.snapshot import ApiEvent, IamSnapshot, Snapshot

LONG_TERM_KEY = "AKIA"
"""Prefix of long-term access key ids; console sessions sign with temporary ASIA... keys."""


class How(StrEnum):
    """How the root user was used; a key is worse (it can be anywhere, and it is long-lived)."""

    ACCESS_KEY = "access_key"
    CONSOLE = "console"


class Via(StrEnum):
    """What the finding rests on."""

    CLOUDTRAIL = "cloudtrail"
    CREDENTIAL_REPORT = "credential_report"


class RootActivityParams(Params):
    """Parameters of `root_activity`."""

    window_minutes: float = Field(
        default=60,
        gt=0,
        description="How long a console sign-in (or a credential report's last-used date) "
        "keeps the finding open after the last use; key use stays until the key is deleted.",
    )
    ignore_source_ips: tuple[str, ...] = Field(
        default=(),
        description='Address ranges (CIDR, e.g. "198.51.100.0/24") whose root use is expected, '
        "such as the office an account owner signs in from.",
    )

    @field_validator("ignore_source_ips")
    @classmethod
    def _cidrs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for cidr in value:
            ipaddress.ip_network(cidr, strict=False)  # raises ValueError: "... does not appear..."
        return value


class RootActivity(Check):
    """Nobody should use the root user day to day; a call signed with the root access key is the
    opening move of the reference incident, and a root console sign-in nobody expected is an
    account takeover. Critical when made with an access key (CloudTrail's accessKeyId is a
    long-term AKIA... key), one level lower (high by default) for console use: a ConsoleLogin
    or calls signed with the console session's temporary keys. Failed console sign-ins are not
    use; failed calls with the key are (the key worked, the call was refused).

    The finding stays while the problem does: for key use, until the account has no root key
    (GetAccountSummary, else a credential report newer than the last use), whatever the age of
    the events, as long as the store still holds them; for console-only use, `window_minutes`
    after the last console activity. Without any root event for an account, the credential
    report's last-used dates stand in (`via: credential_report`): a root key or password used
    within `window_minutes` is a finding.

    ```yaml
    policies:
      - name: root-activity
        check: root_activity
        severity: critical
        params:
          window_minutes: 60
          ignore_source_ips: ["198.51.100.0/24"]
        references: ["CIS AWS Foundations v3.0.0 1.7"]
    ```
    """

    id = "root_activity"
    title = "The root user was used"
    severity = Severity.CRITICAL
    sources = (Source.CLOUDTRAIL, Source.CREDENTIAL_REPORT)
    remediation = "remediation/root_activity.md.j2"
    Params = RootActivityParams
    references = ("CIS AWS Foundations v3.0.0 1.7",)

    noun = "account"
    phrase_one = "root credentials in use"
    phrase_many = "root credentials in use"
    title_rank = 10
    supersedes = ("root_access_key",)
    phase = Phase.CONTAIN
    playbook_rank = 10
    permissions = (
        "cloudtrail:LookupEvents", "cloudtrail:DescribeTrails", "cloudtrail:GetTrailStatus",
        "sqs:GetQueueUrl", "sqs:ReceiveMessage", "sqs:DeleteMessage",
        "iam:GenerateCredentialReport", "iam:GetCredentialReport", "iam:GetAccountSummary",
        "iam:ListVirtualMFADevices",
    )

    def evaluate(self, snapshot: Snapshot, ctx: Context) -> Iterable[Finding]:
        """One finding per account whose root user was used and is not yet verified quiet."""
        params = cast(RootActivityParams, ctx.params)
        root_events: dict[str, list[ApiEvent]] = {}
        for event in sorted(snapshot.events, key=lambda e: (e.time, e.event_id)):
            if event.principal_type == ROOT_TYPE:
                root_events.setdefault(event.account, []).append(event)
        iam = {i.account: i for i in snapshot.iam}
        for account in sorted(set(root_events) | set(iam)):
            events = root_events.get(account, [])
            if events:
                finding = _from_events(ctx, snapshot, params, events, iam.get(account))
            else:
                finding = _from_report(ctx, snapshot, params, iam[account])
            if finding is not None:
                yield finding


def key_use(event: ApiEvent) -> bool:
    """Whether a call was signed with a long-term access key (the root key, for root events)."""
    return (event.access_key_id or "").startswith(LONG_TERM_KEY)


def _ignored(event: ApiEvent, params: RootActivityParams) -> bool:
    try:
        address = ipaddress.ip_address(event.source_ip or "")
    except ValueError:  # "AWS Internal", a service name or none: never on the ignore list
        return False
    return any(address in ipaddress.ip_network(c, strict=False) for c in params.ignore_source_ips)


def _failed_sign_in(event: ApiEvent) -> bool:
    return event.name == "ConsoleLogin" and failed(event)


def root_key_active(iam: IamSnapshot | None, since: datetime) -> bool | None:
    """Whether root still has an active key; None when nothing current says so. A credential
    report older than `since` (the last key use) cannot say the key is gone."""
    if iam is None:
        return None
    if iam.summary is not None:
        return iam.summary.access_keys_present
    row = root_row(iam)
    if row is None or iam.report is None or iam.report.generated_at < since:
        return None
    return bool(row.active_keys)


def _from_events(
    ctx: Context, snapshot: Snapshot, params: RootActivityParams, events: list[ApiEvent],
    iam: IamSnapshot | None,
) -> Finding | None:
    kept = [e for e in events if not _ignored(e, params)]
    keyed = [e for e in kept if key_use(e)]
    console = [e for e in kept if not key_use(e) and not _failed_sign_in(e)]
    active = root_key_active(iam, keyed[-1].time) if keyed else None
    if active is False:
        keyed = []
    window = timedelta(minutes=params.window_minutes)
    if not console or console[-1].time < snapshot.now - window:
        console = []
    evidence = sorted(keyed + console, key=lambda e: (e.time, e.event_id))
    if not evidence:
        return None
    how = How.ACCESS_KEY if keyed else How.CONSOLE
    details = {
        "via": Via.CLOUDTRAIL.value,
        "root_key_active": active,
        "access_key_ids": unique(e.access_key_id for e in keyed),
        "console_sign_ins": sum(1 for e in console if e.name == "ConsoleLogin"),
        "calls": group_calls(evidence),
        "first_seen": evidence[0].time.isoformat(),
        "last_seen": evidence[-1].time.isoformat(),
        "key_last_used": None,
        "password_last_used": None,
        **principal_details(
            snapshot.events, evidence[0].principal_arn or root_arn(evidence[0].account),
            [e.time for e in evidence], source_ips=(e.source_ip for e in evidence),
            user_agents=(e.user_agent for e in evidence),
        ),
    }
    return _finding(ctx, evidence[0].account, how, details, params, evidence[0].time)


def _from_report(
    ctx: Context, snapshot: Snapshot, params: RootActivityParams, iam: IamSnapshot
) -> Finding | None:
    row = root_row(iam)
    if row is None:
        return None
    since = snapshot.now - timedelta(minutes=params.window_minutes)
    present = iam.summary.access_keys_present if iam.summary else bool(row.active_keys)
    slots = row.access_keys if iam.summary else row.active_keys
    key_times = [k.last_used_date for k in slots if k.last_used_date] if present else []
    key_time = max((t for t in key_times if t >= since), default=None)
    last_login = row.password_last_used
    login = last_login if last_login and last_login >= since else None
    if key_time is None and login is None:
        return None
    times = [t for t in (key_time, login) if t is not None]
    details = {
        "via": Via.CREDENTIAL_REPORT.value,
        "root_key_active": present,
        "access_key_ids": [],
        "console_sign_ins": 0,
        "calls": [],
        "first_seen": min(times).isoformat(),
        "last_seen": max(times).isoformat(),
        "key_last_used": key_time.isoformat() if key_time else None,
        "password_last_used": login.isoformat() if login else None,
        **principal_details(snapshot.events, root_arn(iam.account), times),
    }
    how = How.ACCESS_KEY if key_time else How.CONSOLE
    return _finding(ctx, iam.account, how, details, params, min(times))


def _finding(
    ctx: Context, account: str, how: How, details: dict[str, Any], params: RootActivityParams,
    at: datetime,
) -> Finding:
    arn = root_arn(account)
    severity = ctx.severity if how is How.ACCESS_KEY else shifted(ctx.severity, -1)
    what = "its access key" if how is How.ACCESS_KEY else "a console sign-in"
    return ctx.finding(
        account=account,
        region=GLOBAL_REGION,
        resource=arn,
        title=f"Root user of account {account} used with {what}",
        details={
            "account": account,
            "principal": arn,
            "how": how.value,
            "window_minutes": params.window_minutes,
            **details,
        },
        entities=[f"principal:{arn}", *(f"access_key:{k}" for k in details["access_key_ids"])],
        severity=severity,
        at=at,
    )


def shifted(severity: Severity, steps: int) -> Severity:
    """`steps` levels higher (or lower, when negative), kept between info and critical."""
    order: Sequence[Severity] = list(Severity)
    return order[min(max(severity.rank + steps, 0), len(order) - 1)]
