"""GuardDuty must be on in every region costguard watches."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from pydantic import Field

from costguard.activity.posture_causes import cause, detector_off_calls
from costguard.checks.base import Check, Context, Params, Phase, Resource
from costguard.checks.param_types import Region
from costguard.model import Finding, Severity, Source
from costguard.snapshot import DetectorStatus, Snapshot


class GuardDutyEnabledParams(Params):
    """Parameters of `guardduty_enabled`."""

    regions: tuple[Region, ...] | None = Field(
        default=None,
        description="Only these regions must have GuardDuty on; every scanned region when unset.",
    )


class GuardDutyEnabled(Check):
    """Without a GuardDuty detector, nothing reports an instance talking to a mining pool or a
    key used from a Tor exit node; deleting or suspending the detector (DeleteDetector,
    UpdateDetector) is how an intruder switches that off. One finding per scanned region whose
    detector is missing or not enabled, named `arn:aws:guardduty:REGION:ACCOUNT:detector` (the
    detector ARN without its id: the name must stay the same whether the detector is suspended
    or deleted and recreated under a new id). Attackers favour regions nobody uses, which is
    why every scanned region counts unless `regions` narrows it.

    ```yaml
    policies:
      - name: guardduty-enabled
        check: guardduty_enabled
        severity: medium
        params:
          regions: ["us-east-1", "eu-west-1"]
        references: ["AWS Foundational Security Best Practices GuardDuty.1"]
    ```
    """

    id = "guardduty_enabled"
    title = "GuardDuty is not enabled"
    severity = Severity.MEDIUM
    sources = (Source.GUARDDUTY,)
    remediation = "remediation/guardduty_enabled.md.j2"
    Params = GuardDutyEnabledParams
    references = ("AWS Foundational Security Best Practices GuardDuty.1",)

    noun = "region"
    phrase_one = "GuardDuty off"
    phrase_many = "GuardDuty off in {n} regions"
    title_rank = 120
    phase = Phase.POSTURE
    playbook_rank = 40
    permissions = (
        "guardduty:ListDetectors", "guardduty:GetDetector", "guardduty:ListFindings",
        "guardduty:GetFindings",
    )
    fix_summary = "Enable a GuardDuty detector in every watched region."
    security_hub = ("GuardDuty.1",)

    def evaluate(self, snapshot: Snapshot, ctx: Context) -> Iterable[Finding]:
        """One finding per watched region without an enabled detector."""
        params = cast(GuardDutyEnabledParams, ctx.params)
        for status in sorted(snapshot.detectors, key=lambda d: (d.account, d.region)):
            if params.regions is not None and status.region not in params.regions:
                continue
            if status.detector_id is None or not status.enabled:
                calls = detector_off_calls(snapshot.events, status.account, status.region)
                yield _finding(ctx, status, *cause(calls, ctx.now))

    def resources(self, snapshot: Snapshot, ctx: Context) -> Iterable[Resource]:
        """Every watched region's detector, present or not."""
        params = cast(GuardDutyEnabledParams, ctx.params)
        return [(d.account, d.region, detector_arn(d)) for d in snapshot.detectors
                if params.regions is None or d.region in params.regions]


def detector_arn(status: DetectorStatus) -> str:
    """The detector's name in findings: its ARN without the id, stable across re-creation."""
    return f"arn:aws:guardduty:{status.region}:{status.account}:detector"


def _finding(ctx: Context, status: DetectorStatus, caused: dict[str, Any],
             entities: list[str]) -> Finding:
    what = "has no GuardDuty detector" if status.detector_id is None else "has GuardDuty suspended"
    return ctx.finding(
        account=status.account,
        region=status.region,
        resource=detector_arn(status),
        title=f"Region {status.region} of account {status.account} {what}",
        details={
            "account": status.account,
            "region": status.region,
            "detector_id": status.detector_id,
            "enabled": status.enabled,
            **caused,
        },
        entities=entities,
    )
