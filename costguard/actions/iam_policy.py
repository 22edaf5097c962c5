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
    roles = sorted(a.role_arn for a in config.aws.accounts if a.role_arn)
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
