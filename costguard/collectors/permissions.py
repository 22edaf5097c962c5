"""The IAM actions each source's collectors call: what the collectors are, not what a check needs.

Each check class lists the actions it needs (`Check.permissions`, which `iam-policy` grants);
tests/collectors/test_permissions.py records every call a collector makes against moto and
compares it with this table, and tests/checks/test_meta.py compares the checks' lists with it,
so neither side drifts.
"""

from __future__ import annotations

from costguard.model import Source

READ_PERMISSIONS: dict[Source, tuple[str, ...]] = {
    Source.INVENTORY: (
        "ec2:DescribeRegions",
        "ec2:DescribeInstances",
        "ec2:DescribeSecurityGroups",
        "ec2:DescribeKeyPairs",
        "ec2:DescribeInstanceTypes",
    ),
    Source.CREDENTIAL_REPORT: (
        "iam:GenerateCredentialReport",
        "iam:GetCredentialReport",
        "iam:GetAccountSummary",
        "iam:ListVirtualMFADevices",
    ),
    Source.COST: (
        "ce:GetCostAndUsage",
        "ce:GetCostForecast",
        "pricing:GetProducts",
    ),
    Source.CLOUDTRAIL: (
        "cloudtrail:LookupEvents",
        "cloudtrail:DescribeTrails",
        "cloudtrail:GetTrailStatus",
        "sqs:GetQueueUrl",
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
    ),
    Source.GUARDDUTY: (
        "guardduty:ListDetectors",
        "guardduty:GetDetector",
        "guardduty:ListFindings",
        "guardduty:GetFindings",
    ),
}
"""Read-only actions per source. sts:GetCallerIdentity needs no permission and is not listed.

The event queue (sqs:*) is read under CLOUDTRAIL; it carries GuardDuty findings too.
"""

SETUP_PERMISSIONS: tuple[str, ...] = (
    "events:DescribeRule",
    "events:ListTargetsByRule",
    "events:PutRule",
    "events:PutTargets",
    "sqs:CreateQueue",
    "sqs:GetQueueAttributes",
    "sqs:GetQueueUrl",
    "sqs:SetQueueAttributes",
)
"""What `costguard setup events` calls (reads to plan, writes to apply): a separate statement
of the IAM policy, needed only by whoever runs the setup, not by the daemon."""

SETUP_REGIONS_PERMISSIONS: tuple[str, ...] = ("ec2:DescribeRegions",)
"""What `setup events` calls to list the enabled regions when none are configured: an action
without resource-level permissions, so a statement of its own."""

TRAIL_FILE_PERMISSIONS: tuple[str, ...] = ("s3:GetObject",)
"""What the S3 trail source (`events.s3_trail`) calls besides the queue's sqs: actions."""

BATCH_ACTIONS: dict[str, str] = {
    "sqs:DeleteMessageBatch": "sqs:DeleteMessage",
    "sqs:SendMessageBatch": "sqs:SendMessage",
    "sqs:ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
}
"""SQS's batch calls have no IAM action of their own: each is authorized by its single form."""


def authorizing_action(call: str) -> str:
    """The IAM action that authorizes a counted call (`Aws.calls` keys are per operation)."""
    return BATCH_ACTIONS.get(call, call)


def permissions_for(*sources: Source) -> tuple[str, ...]:
    """The sorted union of the actions the given sources' collectors call (what the checks
    reading those sources must, between them, declare)."""
    return tuple(sorted({a for s in sources for a in READ_PERMISSIONS[s]}))
