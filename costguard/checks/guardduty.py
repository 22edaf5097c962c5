"""GuardDuty findings of the kinds a leaked key leads to: mining, credential abuse, backdoors."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from pydantic import Field

from costguard.activity.principals import by_principal, principal_details
from costguard.checks.base import Check, Context, Params, Phase
from costguard.checks.instance_surge import InstanceStates
from costguard.checks.instance_types import first_match
from costguard.checks.root_activity import shifted
from costguard.model import Finding, Severity, Source, root_arn
from costguard.snapshot import GuardDutyFinding, Snapshot

TYPES = (
    "CryptoCurrency:*", "Impact:*", "UnauthorizedAccess:IAMUser/*",
    "Policy:IAMUser/RootCredentialUsage", "Backdoor:*", "Trojan:*", "PenTest:*", "Stealth:*",
)

LEVELS = ((9.0, Severity.CRITICAL), (7.0, Severity.HIGH), (4.0, Severity.MEDIUM),
          (0.0, Severity.LOW))
"""GuardDuty's own bands: 9.0-10 Critical, 7.0-8.9 High, 4.0-6.9 Medium, 1.0-3.9 Low."""


def level(score: float) -> Severity:
    """GuardDuty's label for a 0-10 severity score."""
    return next(label for floor, label in LEVELS if score >= floor)


class GuardDutyParams(Params):
    """Parameters of `guardduty`."""

    types: tuple[str, ...] = Field(
        default=TYPES, min_length=1,
        description='Globs of GuardDuty finding types to report, e.g. "CryptoCurrency:*".')
    min_severity: float = Field(
        default=4.0, ge=0, le=10,
        description="Lowest GuardDuty severity (its 0-10 score) reported; 4 leaves out Low.")
    window_minutes: float = Field(
        default=1440, gt=0,
        description="A GuardDuty finding not updated for this long is no longer reported "
        "(GuardDuty updates a finding while the activity goes on).")


class GuardDuty(Check):
    """GuardDuty sees what API calls do not show: an instance talking to a mining pool, a key
    used from a Tor exit node, the root user's credentials in use. This check reports the
    finding types of this attack class as a finding each, named by the GuardDuty finding's ARN
    (built from its detector id; the bare finding id when the detector is unknown), with the
    instance, access key and principal it names as incident entities, so it joins the
    incident the API calls opened.

    Severity follows GuardDuty's bands relative to the policy: a GuardDuty High (7.0-8.9) gets
    the policy's severity, Critical (9.0-10) one level more, Medium (4.0-6.9) one less, Low two
    less. With the default `high`, that is GuardDuty's own label, which is what a responder sees
    in its console.

    A finding stops being reported when the instance it names no longer runs (by the
    inventory), when it is archived, or when GuardDuty has not updated it for
    `window_minutes`.

    ```yaml
    policies:
      - name: guardduty
        check: guardduty
        severity: high
        params:
          types: ["CryptoCurrency:*", "Impact:*", "UnauthorizedAccess:IAMUser/*"]
          min_severity: 4
          window_minutes: 1440
    ```
    """

    id = "guardduty"
    title = "GuardDuty reports an attack"
    severity = Severity.HIGH
    sources = (Source.GUARDDUTY, Source.INVENTORY)
    remediation = "remediation/guardduty.md.j2"
    Params = GuardDutyParams
    references = ("AWS Security Incident Response Guide: Detection",)

    noun = "GuardDuty finding"
    phrase_one = "a GuardDuty finding"
    phrase_many = "{n} GuardDuty findings"
    title_rank = 30
    phase = Phase.STOP_SPEND
    playbook_rank = 10
    permissions = (
        "guardduty:ListDetectors", "guardduty:GetDetector", "guardduty:ListFindings",
        "guardduty:GetFindings", "ec2:DescribeRegions", "ec2:DescribeInstances",
        "ec2:DescribeSecurityGroups", "ec2:DescribeKeyPairs", "ec2:DescribeInstanceTypes",
    )

    @classmethod
    def phrase(cls, findings: Sequence[Any]) -> str:
        """Crypto-mining is named as such: it is what the bill will show."""
        if any(str(_details(f).get("type", "")).startswith("CryptoCurrency:") for f in findings):
            return "crypto-mining seen by GuardDuty"
        return super().phrase(findings)

    def evaluate(self, snapshot: Snapshot, ctx: Context) -> Iterable[Finding]:
        """One finding per GuardDuty finding of a listed type and severity still current."""
        params = cast(GuardDutyParams, ctx.params)
        states = InstanceStates(snapshot.inventory)
        oldest = snapshot.now - timedelta(minutes=params.window_minutes)
        history = by_principal(snapshot.events)
        latest: dict[str, GuardDutyFinding] = {}
        for found in snapshot.guardduty:  # the newest version of each finding wins
            prior = latest.get(found.finding_id)
            if prior is None or _seen(found, snapshot.now) >= _seen(prior, snapshot.now):
                latest[found.finding_id] = found
        for found in sorted(latest.values(), key=lambda f: (_seen(f, snapshot.now), f.finding_id)):
            if _wanted(found, params) and _current(found, states, oldest, snapshot.now):
                yield _finding(ctx, found, history)


def _details(finding: Any) -> Mapping[str, Any]:
    """A finding's details, from a stored finding or a fresh one (either may lack them)."""
    details = getattr(finding, "details", None)
    return details if isinstance(details, Mapping) else {}


def dig(mapping: Any, *path: str) -> Any:
    """A nested value of a finding's `resource` or `service` (camelCase keys), or None."""
    for key in path:
        mapping = mapping.get(key) if isinstance(mapping, Mapping) else None
    return mapping


def _seen(found: GuardDutyFinding, now: datetime) -> datetime:
    return found.updated_at or found.created_at or now


def _wanted(found: GuardDutyFinding, params: GuardDutyParams) -> bool:
    listed = first_match(found.type, params.types) is not None
    return listed and found.severity >= params.min_severity


def _current(
    found: GuardDutyFinding, states: InstanceStates, oldest: datetime, now: datetime
) -> bool:
    """Not archived, updated within the window, and its instance (if any) still running."""
    if dig(found.service, "archived") is True or _seen(found, now) < oldest:
        return False
    instance = dig(found.resource, "instanceDetails", "instanceId")
    if not instance:
        return True
    running = states.running(found.account, found.region, instance, _seen(found, now), now)
    return running is not False


def finding_arn(found: GuardDutyFinding) -> str:
    """The GuardDuty finding's ARN (detector/DETECTOR/finding/ID), or its id without a detector."""
    detector = dig(found.service, "detectorId")
    if not detector:
        return found.finding_id
    return (f"arn:aws:guardduty:{found.region}:{found.account}:detector/{detector}"
            f"/finding/{found.finding_id}")


def principal_of(found: GuardDutyFinding) -> str | None:
    """The principal an IAM finding names: root or an IAM user (roles carry no usable ARN)."""
    key = dig(found.resource, "accessKeyDetails") or {}
    if key.get("userType") == "Root":
        return root_arn(found.account)
    if key.get("userType") == "IAMUser" and key.get("userName"):
        return f"arn:aws:iam::{found.account}:user/{key['userName']}"
    return None


def _network(found: GuardDutyFinding) -> dict[str, Any]:
    """Where the activity came from or went: callers are sources, an outbound peer is not."""
    action = dig(found.service, "action") or {}
    api = action.get("awsApiCallAction") or {}
    conn = action.get("networkConnectionAction") or {}
    probes = dig(action, "portProbeAction", "portProbeDetails") or []
    inbound = conn.get("connectionDirection") == "INBOUND"
    sources = [dig(api, "remoteIpDetails", "ipAddressV4")]
    sources += [dig(conn, "remoteIpDetails", "ipAddressV4")] if inbound else []
    sources += [dig(p, "remoteIpDetails", "ipAddressV4") for p in probes]
    return {
        "action_type": action.get("actionType"),
        "api": api.get("api"),
        "remote_ip": None if inbound else dig(conn, "remoteIpDetails", "ipAddressV4"),
        "remote_port": None if inbound else dig(conn, "remotePortDetails", "port"),
        "domain": dig(action, "dnsRequestAction", "domain"),
        "sources": sources,
        "user_agents": [api.get("userAgent")],
    }


def _finding(ctx: Context, found: GuardDutyFinding, history: Mapping[str, Any]) -> Finding:
    resource, key = found.resource, dig(found.resource, "accessKeyDetails") or {}
    instance = dig(resource, "instanceDetails", "instanceId")
    principal, network = principal_of(found), _network(found)
    times = [t for t in (found.created_at, found.updated_at) if t is not None]
    gd_level = level(found.severity)
    subject = instance or key.get("accessKeyId") or key.get("userName") or found.account
    entities = [f"instance:{instance}"] if instance else []
    entities += [f"access_key:{key['accessKeyId']}"] if key.get("accessKeyId") else []
    entities += [f"principal:{principal}"] if principal else []
    return ctx.finding(
        account=found.account,
        region=found.region,
        resource=finding_arn(found),
        title=f"GuardDuty {gd_level.value}: {found.type} on {subject} in {found.region}",
        details={
            "account": found.account, "region": found.region, "finding_id": found.finding_id,
            "finding_arn": finding_arn(found), "type": found.type,
            "gd_severity": found.severity, "gd_level": gd_level.value,
            "gd_title": found.title, "description": found.description,
            "created_at": found.created_at.isoformat() if found.created_at else None,
            "updated_at": found.updated_at.isoformat() if found.updated_at else None,
            "count": dig(found.service, "count"), "detector_id": dig(found.service, "detectorId"),
            "resource_type": dig(resource, "resourceType"), "instance_id": instance,
            "instance_type": dig(resource, "instanceDetails", "instanceType"),
            "access_key_id": key.get("accessKeyId"), "user_name": key.get("userName"),
            "user_type": key.get("userType"), "principal": principal,
            **{k: v for k, v in network.items() if k not in ("sources", "user_agents")},
            **principal_details(history.get(principal or "", []), principal, times,
                                source_ips=network["sources"],
                                user_agents=network["user_agents"]),
        },
        entities=entities,
        severity=shifted(ctx.severity, gd_level.rank - Severity.HIGH.rank),
        at=found.created_at,
    )
