"""The IAM actions each source's collector calls: one table that `iam-policy`, the checks'
metadata and a test (every call a collector makes against moto is listed here) all read.
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
"""Read-only actions per source. sts:GetCallerIdentity needs no permission and is not listed."""


def permissions_for(*sources: Source) -> tuple[str, ...]:
    """The sorted union of the actions the given sources' collectors call."""
    return tuple(sorted({a for s in sources for a in READ_PERMISSIONS[s]}))
