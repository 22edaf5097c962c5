"""costguard itself must keep seeing: sources collected, the event queue alive."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, cast

from pydantic import Field

from costguard.checks.base import Check, Context, Params, Phase
from costguard.checks.root_activity import shifted
from costguard.model import Finding, Severity, Source, StrEnum
from costguard.snapshot import Snapshot, SourceHealth

QUEUE_SOURCE = "events"
"""`SourceHealth.source` of the event queue (EventBridge -> SQS); any record with a
`last_event_at` is treated as a queue too."""


COVERAGE_SOURCE = "event_source"
"""`SourceHealth.source` of a region's event coverage: failing means no queue and no S3 trail
source delivers its events (the history look-back, when on, is minutes late)."""


class Problem(StrEnum):
    """What is wrong with one source."""

    FAILING = "failing"
    SILENT = "silent"
    UNCOVERED = "uncovered"


class CostguardHealthParams(Params):
    """Parameters of `costguard_health`."""

    max_failed_cycles: int = Field(
        default=3, ge=1,
        description="Consecutive failed collections of one source (account, region) that "
        "make a finding; one failure is usually a throttle or a network blip.")
    max_queue_silence_minutes: float = Field(
        default=1440, gt=0,
        description="Minutes without any message on the event queue that make a finding.")


class CostguardHealth(Check):
    """A guard that has gone blind looks exactly like a quiet account. This check turns
    costguard's own trouble into findings: a source (inventory, credential report, cost,
    CloudTrail, GuardDuty, the event queue) that failed `max_failed_cycles` collections in a
    row for an account and region (permissions removed, a role that cannot be assumed, a region
    disabled), and an event queue silent for more than `max_queue_silence_minutes`.

    EventBridge forwards only what happens, so silence is measured from the last message
    (`last_event_at`), and a queue that never received one cannot be judged. An idle account
    can be silent for a day; a busy one silent for an hour has lost its rules or its queue
    policy. A scanned region whose events reach costguard through neither a queue nor the S3
    trail source (`events.s3_trail`) is a finding too. A silent-only or uncovered finding is
    one level below the policy's severity. An account costguard cannot get into at all is
    left to `account_access` (one finding for the account, not one per source and region).

    The check lists every source, so it runs on every cycle whichever sources were collected
    (a check runs when one of its sources was). Each finding is named
    `costguard:health/SOURCE/ACCOUNT/REGION`: not an AWS resource, but stable per source.

    ```yaml
    policies:
      - name: costguard-health
        check: costguard_health
        severity: high
        params:
          max_failed_cycles: 3
          max_queue_silence_minutes: 1440
    ```
    """

    id = "costguard_health"
    title = "costguard cannot see part of the account"
    severity = Severity.HIGH
    sources = (Source.INVENTORY, Source.CREDENTIAL_REPORT, Source.COST, Source.CLOUDTRAIL,
               Source.GUARDDUTY)
    remediation = "remediation/costguard_health.md.j2"
    Params = CostguardHealthParams
    references = ("NIST SP 800-61r2 3.2.4 Detection and Analysis",)

    noun = "data source"
    phrase_one = "costguard cannot collect"
    phrase_many = "costguard cannot collect"
    title_rank = 130
    phase = Phase.POSTURE
    playbook_rank = 50
    permissions = (
        "ec2:DescribeRegions", "ec2:DescribeInstances", "ec2:DescribeSecurityGroups",
        "ec2:DescribeKeyPairs", "ec2:DescribeInstanceTypes", "iam:GenerateCredentialReport",
        "iam:GetCredentialReport", "iam:GetAccountSummary", "iam:ListVirtualMFADevices",
        "ce:GetCostAndUsage", "ce:GetCostForecast", "pricing:GetProducts",
        "cloudtrail:LookupEvents", "cloudtrail:DescribeTrails", "cloudtrail:GetTrailStatus",
        "sqs:GetQueueUrl", "sqs:ReceiveMessage", "sqs:DeleteMessage", "guardduty:ListDetectors",
        "guardduty:GetDetector", "guardduty:ListFindings", "guardduty:GetFindings",
    )

    def evaluate(self, snapshot: Snapshot, ctx: Context) -> Iterable[Finding]:
        """One finding per source (account, region) failing or silent for too long."""
        params = cast(CostguardHealthParams, ctx.params)
        refused = {a.account for a in snapshot.access}  # account_access reports those, once
        for health in sorted(snapshot.health, key=lambda h: (h.source, h.account, h.region)):
            if health.account in refused:
                continue
            problems = _problems(health, params, snapshot.now)
            if problems:
                yield _finding(ctx, health, problems, params, snapshot.now)


def is_queue(health: SourceHealth) -> bool:
    """Whether a health record is about the event queue."""
    return health.source == QUEUE_SOURCE or health.last_event_at is not None


def _problems(
    health: SourceHealth, params: CostguardHealthParams, now: datetime
) -> list[Problem]:
    problems = []
    if health.source == COVERAGE_SOURCE:
        return [Problem.UNCOVERED] if health.consecutive_failures > 0 else []
    if health.consecutive_failures >= params.max_failed_cycles:
        problems.append(Problem.FAILING)
    silence = timedelta(minutes=params.max_queue_silence_minutes)
    if is_queue(health) and health.last_event_at and now - health.last_event_at > silence:
        problems.append(Problem.SILENT)
    return problems


def _finding(
    ctx: Context, health: SourceHealth, problems: list[Problem], params: CostguardHealthParams,
    now: datetime,
) -> Finding:
    where = f"{health.account}/{health.region}"
    if Problem.UNCOVERED in problems:
        title = f"No event queue or trail source delivers the events of {where}"
    elif Problem.FAILING in problems:
        title = (f"costguard failed to collect {health.source} for {where} "
                 f"{health.consecutive_failures} times in a row")
    else:
        last = f"{health.last_event_at:%Y-%m-%d %H:%M}"
        title = f"No event has reached costguard's queue for {where} since {last} UTC"
    details: dict[str, Any] = {
        "account": health.account,
        "region": health.region,
        "source": health.source,
        "problems": [p.value for p in problems],
        "consecutive_failures": health.consecutive_failures,
        "max_failed_cycles": params.max_failed_cycles,
        "last_success_at": _iso(health.last_success_at),
        "last_error": health.last_error,
        "last_event_at": _iso(health.last_event_at),
        "silent_minutes": round((now - health.last_event_at).total_seconds() / 60)
        if health.last_event_at else None,
        "queue": is_queue(health),
    }
    return ctx.finding(
        account=health.account,
        region=health.region,
        resource=f"costguard:health/{health.source}/{health.account}/{health.region}",
        title=title,
        details=details,
        severity=ctx.severity if Problem.FAILING in problems else shifted(ctx.severity, -1),
    )


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None
