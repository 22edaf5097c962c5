"""`costguard iam-policy`: the least-privilege IAM policy, from what the enabled checks read
(each check class lists its `permissions`) and, in statements printed only when asked for, what
set-up and containment write.

"Least" is checked, not hoped for: tests/actions/test_least_privilege.py records every AWS call
the collectors, the event intake, `setup events` and containment make against moto and asserts
this document allows exactly those actions. The read statements hold no write action: the one
call that changes anything, deleting a message costguard has read from its own queue, is in a
statement of its own whose resource is that queue.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from costguard.actions.contain import CONTAIN_PERMISSIONS
from costguard.actions.event_pipeline import RULES
from costguard.checks.base import Registry
from costguard.collectors.permissions import (
    SETUP_PERMISSIONS,
    SETUP_REGIONS_PERMISSIONS,
    TRAIL_FILE_PERMISSIONS,
)

if TYPE_CHECKING:
    from costguard.settings.config import Config
    from costguard.settings.policies import Policy

REGION_LISTING = "ec2:DescribeRegions"
"""Called only to find the enabled regions, so granted only when no regions are configured."""

QUEUE_ACTIONS = ("sqs:DeleteMessage", "sqs:GetQueueUrl", "sqs:ReceiveMessage")
"""The daemon's calls on its own event queues (and the S3 trail's notification queue):
scoped to those queues' ARNs."""

def iam_policy_document(
    config: Config, policies: Sequence[Policy], registry: Registry, *,
    setup: bool = False, contain: bool = False,
) -> dict[str, Any]:
    """The least-privilege policy: the read calls the enabled policies' checks need, the event
    queues scoped by name; with `setup`, what `costguard setup events` calls; with `contain`,
    what auto-containment calls. The daemon's role needs neither of the last two unless a
    policy enables `auto_contain`."""
    needed = {a for p in policies if (c := registry.get(p.check)) for a in c.permissions}
    reads = {a for a in needed if a not in QUEUE_ACTIONS}
    if config.aws.regions:
        reads.discard(REGION_LISTING)
    statements: list[dict[str, Any]] = [_allow("CostguardRead", reads, "*")]
    queues = [config.events.queue_name] if needed & set(QUEUE_ACTIONS) else []
    if config.events.s3_trail is not None:
        queues.append(config.events.s3_trail.queue_name)
    if queues:
        statements.append(_allow("CostguardEventQueue", QUEUE_ACTIONS,
                                 sorted({_queue_arn(q) for q in queues})))
    if config.events.s3_trail is not None:  # the trail's log files, wherever the bucket is
        statements.append(_allow("CostguardTrailFiles", TRAIL_FILE_PERMISSIONS,
                                 "arn:aws:s3:::*/AWSLogs/*"))
    org = config.aws.organization
    if org is not None:
        statements.append(_allow("CostguardListMembers", ["organizations:ListAccounts"], "*"))
    roles = sorted(a.role_arn for a in config.aws.accounts if a.role_arn)
    if org is not None:
        roles.append(f"arn:aws:iam::*:role/{org.role_name.strip('/')}")
    if roles:
        statements.append(_allow("CostguardAssumeScanRoles", ["sts:AssumeRole"], roles))
    if setup:
        statements.extend(_setup_statements(config))
    if contain:
        statements.extend(_contain_statements())
    return {"Version": "2012-10-17", "Statement": statements}


PAYER_ONLY = ("ce:", "pricing:")
"""Cost Explorer and the Price List are asked from the management (payer) account only."""


def member_role_documents(config: Config, policies: Sequence[Policy], registry: Registry,
                          trusted_account: str | None) -> dict[str, Any]:
    """What each member of an Organization needs: the role costguard assumes, the trust
    policy letting the account costguard runs in assume it, and the read policy to attach.

    A member is read as the management account is, less what only the payer is asked, and
    its own event queue (costguard reads one per account and region) scoped as in the
    management account's policy, so the read statement holds no write either."""
    from costguard.checks.account_access import trust_policy

    needed = {a for p in policies if (c := registry.get(p.check)) for a in c.permissions
              if not a.startswith(PAYER_ONLY)}
    reads = {a for a in needed if a not in QUEUE_ACTIONS}
    if config.aws.regions:
        reads.discard(REGION_LISTING)
    statements = [_allow("CostguardMemberRead", reads, "*")]
    if needed & set(QUEUE_ACTIONS):
        statements.append(_allow("CostguardMemberEventQueue", QUEUE_ACTIONS,
                                 [_queue_arn(config.events.queue_name)]))
    org = config.aws.organization
    role = org.role_name if org is not None else "OrganizationAccountAccessRole"
    trust = trust_policy(trusted_account)
    if org is not None and org.external_id_env:
        trust["Statement"][0]["Condition"] = {
            "StringEquals": {"sts:ExternalId": f"${org.external_id_env}"}}
    return {"role_name": role, "trust_policy": trust,
            "permissions_policy": {"Version": "2012-10-17", "Statement": statements}}


def containing_policies(policies: Sequence[Policy]) -> list[str]:
    """The policies that enable `auto_contain` (their role needs `iam-policy --contain`)."""
    return [p.name for p in policies if getattr(p, "auto_contain", False)]


def _allow(sid: str, actions: Sequence[str] | set[str], resource: str | list[str]
           ) -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Allow", "Action": sorted(actions), "Resource": resource}


def _queue_arn(name: str) -> str:
    return f"arn:aws:sqs:*:*:{name}"


def _setup_statements(config: Config) -> list[dict[str, Any]]:
    """`costguard setup events`: create the queue and rules (attach it for setup, then detach
    it; the daemon never writes). Resources are the configured queue and costguard's rules."""
    rules = [f"arn:aws:events:*:*:rule/{r.name}" for r in RULES]
    statements = [_allow("CostguardSetupEvents", SETUP_PERMISSIONS,
                         [_queue_arn(config.events.queue_name), *rules])]
    if not (config.events.regions or config.aws.regions):  # an action without resource scope
        statements.append(_allow("CostguardSetupRegions", SETUP_REGIONS_PERMISSIONS, "*"))
    return statements


def _contain_statements() -> list[dict[str, Any]]:
    """Auto-containment: stop instances, deactivate IAM users' access keys (never root's)."""
    stop, deactivate = CONTAIN_PERMISSIONS
    return [_allow("CostguardContainInstances", [stop], "arn:aws:ec2:*:*:instance/*"),
            _allow("CostguardContainAccessKeys", [deactivate], "arn:aws:iam::*:user/*")]
