"""CloudTrail must be recording: every trail logging, every scanned region covered."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from costguard.activity.posture_causes import cause, trail_off_calls
from costguard.checks.base import Check, Context, NoParams, Phase, Resource
from costguard.model import GLOBAL_REGION, Finding, Severity, Source, StrEnum
from costguard.snapshot import Snapshot, TrailStatus


class Reason(StrEnum):
    """What is wrong with the account's logging."""

    NOT_LOGGING = "not_logging"
    REGION_UNCOVERED = "region_uncovered"


def covers(trail: TrailStatus, region: str) -> bool:
    """Whether a trail records `region` (a multi-region trail records them all)."""
    return trail.multi_region or trail.home_region == region


class CloudTrailLogging(Check):
    """Stopping or deleting the trail is how an intruder hides what comes next; without a trail,
    costguard's polling fallback (LookupEvents) and any later investigation see only 90 days of
    management events, and nothing is kept. Two kinds of finding, from the trail status read
    every cycle (DescribeTrails with shadow trails, GetTrailStatus):

    - a trail that exists but is not logging (StopLogging), named by the trail's ARN, in its
      home region;
    - a scanned region no logging trail covers (the trail was deleted, or never existed), named
      `arn:aws:cloudtrail:REGION:ACCOUNT:trail-coverage` (a pseudo-ARN: coverage is not an AWS
      resource, but the name must stay the same while trails come and go). A region a stopped
      trail would cover is not reported again: the stopped trail's finding says it.

    Regions are those the trail collector read (with a trail, or a successful `cloudtrail`
    health record) and the inventory's, minus regions whose last `cloudtrail` collection
    failed; an account is judged only once some trail data or health record shows its trails
    were read, so a failed collection is never mistaken for "no trail" (costguard_health
    reports the failure). The suspicious_api check reports the StopLogging or DeleteTrail call
    itself, with who made it.

    ```yaml
    policies:
      - name: cloudtrail-logging
        check: cloudtrail_logging
        severity: high
        params: {}
        references: ["CIS AWS Foundations v3.0.0 3.1"]
    ```
    """

    id = "cloudtrail_logging"
    title = "CloudTrail is not recording"
    severity = Severity.HIGH
    sources = (Source.CLOUDTRAIL,)
    remediation = "remediation/cloudtrail_logging.md.j2"
    Params = NoParams
    references = ("CIS AWS Foundations v3.0.0 3.1",)

    noun = "trail"
    phrase_one = "CloudTrail not logging"
    phrase_many = "CloudTrail not logging"
    title_rank = 110
    phase = Phase.POSTURE
    playbook_rank = 30
    permissions = (
        "cloudtrail:LookupEvents", "cloudtrail:DescribeTrails", "cloudtrail:GetTrailStatus",
        "sqs:GetQueueUrl", "sqs:ReceiveMessage", "sqs:DeleteMessage",
    )
    fix_summary = "Keep a multi-region CloudTrail trail logging; start any stopped trail."
    cis = ("3.1",)
    security_hub = ("CloudTrail.1",)

    def evaluate(self, snapshot: Snapshot, ctx: Context) -> Iterable[Finding]:
        """A finding per stopped trail and per scanned region no logging trail covers."""
        trails: dict[str, TrailStatus] = {}
        for trail in snapshot.trails:
            trails.setdefault(trail.arn, trail)
        for account in sorted({t.account for t in snapshot.trails} | _read_accounts(snapshot)):
            mine = [t for t in trails.values() if t.account == account]
            stopped = [t for t in mine if not t.is_logging]
            for trail in stopped:
                calls = trail_off_calls(snapshot.events, account, trail.name, trail.arn)
                yield _stopped(ctx, trail, *cause(calls, ctx.now))
            logging = [t for t in mine if t.is_logging]
            for region in sorted(_regions(snapshot, account)):
                if not any(covers(t, region) for t in logging + stopped):
                    yield _uncovered(ctx, account, region, logging)

    def resources(self, snapshot: Snapshot, ctx: Context) -> Iterable[Resource]:
        """Every trail (in its home region) and every judged region's coverage."""
        trails = {t.arn: t for t in snapshot.trails}
        judged: list[Resource] = [(t.account, t.home_region, t.arn) for t in trails.values()]
        for account in sorted({t.account for t in snapshot.trails} | _read_accounts(snapshot)):
            judged += [(account, region, coverage_arn(account, region))
                       for region in sorted(_regions(snapshot, account))]
        return judged


def _read_accounts(snapshot: Snapshot) -> set[str]:
    return {h.account for h in snapshot.health
            if h.source == Source.CLOUDTRAIL.value and h.consecutive_failures == 0}


def _regions(snapshot: Snapshot, account: str) -> set[str]:
    """The account's scanned regions whose CloudTrail state is known this cycle."""
    health = [h for h in snapshot.health
              if h.source == Source.CLOUDTRAIL.value and h.account == account]
    failing = {h.region for h in health if h.consecutive_failures > 0}
    regions = {t.region for t in snapshot.trails if t.account == account}
    regions |= {h.region for h in health if h.consecutive_failures == 0}
    regions |= {i.region for i in snapshot.inventory if i.account == account}
    return regions - failing - {GLOBAL_REGION}


def _trail(trail: TrailStatus) -> dict[str, Any]:
    return {
        "name": trail.name, "arn": trail.arn, "home_region": trail.home_region,
        "multi_region": trail.multi_region, "is_logging": trail.is_logging,
        "stopped_at": trail.stopped_at.isoformat() if trail.stopped_at else None,
        "latest_delivery_error": trail.latest_delivery_error,
    }


def _stopped(ctx: Context, trail: TrailStatus, caused: dict[str, Any],
             entities: list[str]) -> Finding:
    scope = "every region" if trail.multi_region else trail.home_region
    return ctx.finding(
        account=trail.account,
        region=trail.home_region,
        resource=trail.arn,
        title=f"CloudTrail trail {trail.name} is not logging ({scope})",
        details={"account": trail.account, "reason": Reason.NOT_LOGGING.value,
                 "region": trail.home_region, "trail": _trail(trail), "logging_trails": [],
                 **caused},
        entities=entities,
        at=trail.stopped_at,
    )


def coverage_arn(account: str, region: str) -> str:
    """The pseudo-ARN naming a region's trail coverage (see the class's docstring)."""
    return f"arn:aws:cloudtrail:{region}:{account}:trail-coverage"


def _uncovered(
    ctx: Context, account: str, region: str, logging: list[TrailStatus]
) -> Finding:
    title = (f"No CloudTrail trail records {region}" if logging
             else f"Account {account} has no logging CloudTrail trail ({region} unrecorded)")
    return ctx.finding(
        account=account,
        region=region,
        resource=coverage_arn(account, region),
        title=title,
        details={"account": account, "reason": Reason.REGION_UNCOVERED.value, "region": region,
                 "trail": None, "logging_trails": [_trail(t) for t in logging]},
    )
