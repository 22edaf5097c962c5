"""costguard must be able to get into every account it is told to watch."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from costguard.checks.base import Check, Context, Params, Phase
from costguard.model import GLOBAL_REGION, Finding, Severity, Source
from costguard.snapshot import AccountAccess as Access
from costguard.snapshot import Snapshot

READ_POLICY_ARN = "arn:aws:iam::aws:policy/SecurityAudit"
"""A managed read-only policy that covers what costguard reads in a member; `costguard
iam-policy` prints the exact least-privilege one."""


class AccountAccessParams(Params):
    """Parameters of `account_access` (none: an account costguard cannot enter is always
    worth a finding)."""


class AccountAccess(Check):
    """A member account whose role costguard cannot assume, or that answers AccessDenied, is
    an account nobody is watching, and it looks exactly like a quiet one. Organizations change:
    a new member joins without the role, someone tightens a trust policy, an SCP denies the
    read calls. Each such account is one finding (the others are still scanned), naming the
    role ARN to create or fix and the trust policy it needs.

    The finding resolves on the first cycle after costguard gets into the account again and
    collects its IAM or cost data in full.

    ```yaml
    policies:
      - name: account-access
        check: account_access
        severity: high
    ```
    """

    id = "account_access"
    title = "costguard cannot get into an account"
    severity = Severity.HIGH
    sources = (Source.INVENTORY, Source.CREDENTIAL_REPORT, Source.COST)
    remediation = "remediation/account_access.md.j2"
    Params = AccountAccessParams
    references = ("CIS AWS Foundations v3.0.0 1.1",)

    noun = "account"
    phrase_one = "account costguard cannot enter"
    phrase_many = "accounts costguard cannot enter"
    title_rank = 125
    phase = Phase.POSTURE
    playbook_rank = 45
    permissions = (
        "ec2:DescribeRegions", "ec2:DescribeInstances", "ec2:DescribeSecurityGroups",
        "ec2:DescribeKeyPairs", "ec2:DescribeInstanceTypes", "iam:GenerateCredentialReport",
        "iam:GetCredentialReport", "iam:GetAccountSummary", "iam:ListVirtualMFADevices",
        "ce:GetCostAndUsage", "ce:GetCostForecast", "pricing:GetProducts",
    )
    fix_summary = "Create or fix the member role costguard assumes, and its trust policy."

    def evaluate(self, snapshot: Snapshot, ctx: Context) -> Iterable[Finding]:
        """One finding per account costguard could not get into on its last attempt."""
        for access in snapshot.access:
            yield ctx.finding(
                account=access.account,
                region=GLOBAL_REGION,
                resource=access.role_arn or f"arn:aws:iam::{access.account}:root",
                title=f"costguard cannot get into account {access.account}",
                details=_details(access),
            )


def _details(access: Access) -> dict[str, Any]:
    return {
        "account": access.account,
        "account_name": access.name,
        "role_arn": access.role_arn,
        "role_name": access.role_arn.split(":role/", 1)[1] if access.role_arn else None,
        "error": access.error,
        "trusted_account": access.trusted_account,
        "trust_policy": trust_policy(access.trusted_account) if access.role_arn else None,
        "read_policy_arn": READ_POLICY_ARN,
    }


def trust_policy(trusted_account: str | None) -> dict[str, Any]:
    """The trust policy a member role needs: the account costguard runs in may assume it."""
    principal = f"arn:aws:iam::{trusted_account or 'MANAGEMENT_ACCOUNT_ID'}:root"
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": principal},
                       "Action": "sts:AssumeRole"}],
    }
