"""A hand-built snapshot of the reference incident in which every shipped check fires.

`costguard validate` renders every remediation and email template with the findings this
produces, so a template that breaks on real data (a typo under StrictUndefined) fails
validation instead of an alert at 3 a.m. Pure data: no AWS, no store.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from costguard.snapshot import (
    AccessKey,
    AccountSummary,
    BurnSample,
    CostData,
    CostPoint,
    CredentialReport,
    CredentialUser,
    IamSnapshot,
    IngressRule,
    Instance,
    RegionInventory,
    SecurityGroup,
    Snapshot,
)

ACCOUNT = "123456789012"
REGION = "us-east-1"
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)
MINERS = tuple(f"i-0{n:016x}" for n in range(1, 11))
GROUP = "sg-0attacker0000001"
KEY_PAIR = "xmrig-deploy"


def _iam() -> IamSnapshot:
    root = CredentialUser(
        user="<root_account>", arn=f"arn:aws:iam::{ACCOUNT}:root", is_root=True,
        mfa_active=False, access_keys=(
            AccessKey(slot=1, active=True, last_rotated=NOW - timedelta(days=400),
                      last_used_date=NOW - timedelta(minutes=5), last_used_region=REGION,
                      last_used_service="ec2"),
        ),
    )
    user = CredentialUser(
        user="carol", arn=f"arn:aws:iam::{ACCOUNT}:user/carol", password_enabled=True,
        mfa_active=False, created=NOW - timedelta(days=30),
    )
    report = CredentialReport(account=ACCOUNT, generated_at=NOW, users=(root, user))
    summary = AccountSummary(account=ACCOUNT, access_keys_present=True, mfa_enabled=False)
    return IamSnapshot(account=ACCOUNT, report=report, summary=summary, root_virtual_mfa=None)


def _inventory() -> RegionInventory:
    miners = tuple(
        Instance(account=ACCOUNT, region=REGION, instance_id=i, instance_type="c5.4xlarge",
                 state="running", launch_time=NOW - timedelta(minutes=4), key_name=KEY_PAIR,
                 security_groups=(GROUP,), tags={})
        for i in MINERS
    )
    group = SecurityGroup(
        account=ACCOUNT, region=REGION, group_id=GROUP, name="launch-wizard-7",
        ingress=(IngressRule("tcp", 22, 22, ("0.0.0.0/0", "::/0")),),
    )
    return RegionInventory(account=ACCOUNT, region=REGION, instances=miners,
                           security_groups=(group,), key_pairs=(KEY_PAIR,))


def _burn() -> tuple[BurnSample, ...]:
    return (BurnSample(account=ACCOUNT, region=REGION, at=NOW, usd_per_hour=6.8,
                       by_family={"c5": 6.8}, recent_usd_per_hour=6.8, instance_count=10),)


def _history() -> tuple[BurnSample, ...]:
    return tuple(
        BurnSample(account=ACCOUNT, region=REGION, at=NOW - timedelta(hours=h),
                   usd_per_hour=0.18, by_family={"t3": 0.08, "m6i": 0.1}, instance_count=3)
        for h in range(1, 25)
    )


def _cost() -> tuple[CostData, ...]:
    day = NOW.replace(hour=0) - timedelta(days=1)
    points = (CostPoint(start=day, end=day + timedelta(days=1), service="Amazon Elastic "
                        "Compute Cloud - Compute", amount=2450.0),)
    hours = tuple(
        CostPoint(start=NOW - timedelta(hours=h + 1), end=NOW - timedelta(hours=h),
                  service="Amazon Elastic Compute Cloud - Compute", amount=102.0)
        for h in range(1, 3)
    )
    return (CostData(account=ACCOUNT, granularity="DAILY", points=points, fetched_at=NOW),
            CostData(account=ACCOUNT, granularity="HOURLY", points=hours, fetched_at=NOW))


def reference_snapshot() -> Snapshot:
    """The reference incident as one snapshot: every shipped check finds something in it."""
    return Snapshot(
        now=NOW, accounts=(ACCOUNT,), inventory=(_inventory(),), iam=(_iam(),), cost=_cost(),
        burn=_burn(), burn_history=_history(), instance_prices={(REGION, "c5.4xlarge"): 0.68},
    )

