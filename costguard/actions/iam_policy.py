"""`costguard iam-policy`: the least-privilege IAM policy, from what the enabled checks read
(each check class lists its `permissions`) and, in their own statements, what set-up and
auto-containment write."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from costguard.actions.contain import CONTAIN_PERMISSIONS
from costguard.checks.base import Registry
from costguard.collectors.permissions import (
    SETUP_PERMISSIONS,
    SETUP_REGIONS_PERMISSIONS,
    TRAIL_FILE_PERMISSIONS,
)

if TYPE_CHECKING:
    from costguard.settings.config import Config
    from costguard.settings.policies import Policy


def iam_policy_document(
    config: Config, policies: Sequence[Policy], registry: Registry
) -> dict[str, Any]:
    """The least-privilege policy: exactly the read calls the enabled policies' checks need."""
    reads = {a for p in policies if (c := registry.get(p.check)) for a in c.permissions}
    statements: list[dict[str, Any]] = [{
        "Sid": "CostguardRead",
        "Effect": "Allow",
        "Action": sorted(reads),
        "Resource": "*",
    }]
    statements.append(_setup_statement())
    statements.append({"Sid": "CostguardSetupRegions", "Effect": "Allow",
                       "Action": list(SETUP_REGIONS_PERMISSIONS), "Resource": "*"})
    if config.events.s3_trail is not None:  # the trail's log files, wherever the bucket is
        statements.append({"Sid": "CostguardTrailFiles", "Effect": "Allow",
                           "Action": list(TRAIL_FILE_PERMISSIONS),
                           "Resource": "arn:aws:s3:::*/AWSLogs/*"})
    if any(getattr(p, "auto_contain", False) for p in policies):
        statements.append({"Sid": "CostguardAutoContain", "Effect": "Allow",
                           "Action": list(CONTAIN_PERMISSIONS), "Resource": "*"})
    org = config.aws.organization
    if org is not None:
        statements.append({"Sid": "CostguardListMembers", "Effect": "Allow",
                           "Action": ["organizations:ListAccounts"], "Resource": "*"})
    roles = sorted(a.role_arn for a in config.aws.accounts if a.role_arn)
    if org is not None:
        roles.append(f"arn:aws:iam::*:role/{org.role_name.strip('/')}")
    if roles:
        statements.append({
            "Sid": "CostguardAssumeScanRoles", "Effect": "Allow",
            "Action": ["sts:AssumeRole"], "Resource": roles,
        })
    return {"Version": "2012-10-17", "Statement": statements}


def _setup_statement() -> dict[str, Any]:
    """`costguard setup events` only: create the queue and rules (attach it for setup, then
    detach it; the daemon never writes)."""
    return {
        "Sid": "CostguardSetupEvents", "Effect": "Allow", "Action": list(SETUP_PERMISSIONS),
        "Resource": ["arn:aws:sqs:*:*:costguard-*", "arn:aws:events:*:*:rule/costguard-*"],
    }


PAYER_ONLY = ("ce:", "pricing:")
"""Cost Explorer and the Price List are asked from the management (payer) account only."""


def member_role_documents(config: Config, policies: Sequence[Policy], registry: Registry,
                          trusted_account: str | None) -> dict[str, Any]:
    """What each member of an Organization needs: the role costguard assumes, the trust
    policy letting the account costguard runs in assume it, and the read policy to attach."""
    from costguard.checks.account_access import trust_policy

    reads = sorted({a for p in policies if (c := registry.get(p.check)) for a in c.permissions
                    if not a.startswith(PAYER_ONLY)})
    org = config.aws.organization
    role = org.role_name if org is not None else "OrganizationAccountAccessRole"
    trust = trust_policy(trusted_account)
    if org is not None and org.external_id_env:
        trust["Statement"][0]["Condition"] = {
            "StringEquals": {"sts:ExternalId": f"${org.external_id_env}"}}
    return {
        "role_name": role,
        "trust_policy": trust,
        "permissions_policy": {"Version": "2012-10-17", "Statement": [
            {"Sid": "CostguardMemberRead", "Effect": "Allow", "Action": reads, "Resource": "*"}]},
    }
