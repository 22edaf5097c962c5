"""Running instances must be of an approved type."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from fnmatch import fnmatchcase
from typing import Any, cast

from pydantic import Field, model_validator

from costguard.checks.base import Check, Context, Params, Phase, Resource
from costguard.checks.param_types import InstanceTypeGlob, Region
from costguard.model import Finding, Severity, Source, StrEnum
from costguard.snapshot import Instance, Snapshot

_ALLOWED = (
    'Shell-style globs (fnmatch: *, ?, [..]) of instance types that may run, e.g. "t3.*". '
    "When given, every other type is flagged."
)
_DENIED = 'Globs of instance types that must never run, e.g. "p*"; denied wins over allowed.'


class Reason(StrEnum):
    """Why an instance type is flagged."""

    DENIED = "denied"
    NOT_ALLOWED = "not_allowed"


class RegionTypes(Params):
    """One region's lists; each replaces the global list of the same name in that region."""

    allowed: tuple[InstanceTypeGlob, ...] | None = Field(default=None, description=_ALLOWED)
    denied: tuple[InstanceTypeGlob, ...] | None = Field(default=None, description=_DENIED)

    @model_validator(mode="after")
    def _one_list(self) -> RegionTypes:
        if self.allowed is None and self.denied is None:
            raise ValueError("give `allowed`, `denied` or both")
        return self


class InstanceTypesParams(Params):
    """Parameters of `instance_types`."""

    allowed: tuple[InstanceTypeGlob, ...] | None = Field(default=None, description=_ALLOWED)
    denied: tuple[InstanceTypeGlob, ...] | None = Field(default=None, description=_DENIED)
    regions: dict[Region, RegionTypes] = Field(
        default_factory=dict,
        description=(
            "Per-region `allowed`/`denied` lists, keyed by region name; a list given for a "
            "region replaces the global list of the same name there, one not given is inherited."
        ),
    )

    @model_validator(mode="after")
    def _some_list(self) -> InstanceTypesParams:
        # Without any list the check would flag nothing, which is never what a policy means.
        if self.allowed is None and self.denied is None and not self.regions:
            raise ValueError("give `allowed`, `denied` or both (globally or under `regions`)")
        return self

    def lists_for(self, region: str) -> tuple[tuple[str, ...] | None, tuple[str, ...] | None]:
        """The (allowed, denied) lists that apply in `region`."""
        override = self.regions.get(region)
        allowed = override.allowed if override and override.allowed is not None else self.allowed
        denied = override.denied if override and override.denied is not None else self.denied
        return allowed, denied


def first_match(instance_type: str, patterns: Sequence[str] | None) -> str | None:
    """The first glob in `patterns` that matches the type (case-insensitively), or None."""
    lowered = instance_type.lower()
    return next((p for p in patterns or () if fnmatchcase(lowered, p.lower())), None)


def verdict(
    instance_type: str, allowed: Sequence[str] | None, denied: Sequence[str] | None
) -> tuple[Reason, str | None] | None:
    """Why a type is not approved (and the denied glob it matched), or None when it is."""
    hit = first_match(instance_type, denied)
    if hit is not None:
        return Reason.DENIED, hit
    if allowed is not None and first_match(instance_type, allowed) is None:
        return Reason.NOT_ALLOWED, None
    return None


class InstanceTypes(Check):
    """Whoever steals a key launches the biggest instances they can (GPU and high-vCPU types
    for mining); a short list of approved types makes that launch a finding within one
    inventory poll, long before the bill shows it. Only pending and running instances count:
    a stopped instance costs nothing per hour and is reported if it starts again.

    ```yaml
    policies:
      - name: unapproved-instance-types
        check: instance_types
        severity: high
        params:
          allowed: ["t3.*", "m6i.large"]
          denied: ["p*", "g*"]
          regions:
            eu-west-1: {allowed: ["t3.micro"]}
    ```
    """

    id = "instance_types"
    title = "Instance is not an approved type"
    severity = Severity.HIGH
    sources = (Source.INVENTORY,)
    remediation = "remediation/instance_types.md.j2"
    Params = InstanceTypesParams
    references = ("AWS Well-Architected COST02-BP05 Implement cost controls",)

    noun = "instance"
    phrase_one = "an unapproved instance"
    phrase_many = "{n} unapproved instances"
    title_rank = 40
    phase = Phase.STOP_SPEND
    playbook_rank = 20
    permissions = (
        "ec2:DescribeRegions", "ec2:DescribeInstances", "ec2:DescribeSecurityGroups",
        "ec2:DescribeKeyPairs", "ec2:DescribeInstanceTypes",
    )
    fix_summary = "Stop instances of unapproved types, or approve the type in the policy."

    def evaluate(self, snapshot: Snapshot, ctx: Context) -> Iterable[Finding]:
        """One finding per running instance whose type the region's lists reject."""
        params = cast(InstanceTypesParams, ctx.params)
        for instance in snapshot.instances():
            if not instance.running:
                continue
            allowed, denied = params.lists_for(instance.region)
            result = verdict(instance.instance_type, allowed, denied)
            if result is None:
                continue
            reason, pattern = result
            yield ctx.finding(
                account=instance.account,
                region=instance.region,
                resource=instance.arn,
                title=_title(instance, reason),
                details={
                    **instance_details(instance),
                    "reason": reason.value,
                    "matched_pattern": pattern,
                    "allowed": list(allowed) if allowed is not None else None,
                    "denied": list(denied) if denied is not None else None,
                    "usd_per_hour": snapshot.instance_prices.get(
                        (instance.region, instance.instance_type)
                    ),
                },
                entities=instance_entities(instance),
            )

    def resources(self, snapshot: Snapshot, ctx: Context) -> Iterable[Resource]:
        """Every pending or running instance (a stopped one bills nothing and is not judged)."""
        return [(i.account, i.region, i.arn) for i in snapshot.instances() if i.running]


def _title(instance: Instance, reason: Reason) -> str:
    what = "a denied" if reason is Reason.DENIED else "not an approved"
    return (
        f"Instance {instance.instance_id} ({instance.instance_type}) is {what} type "
        f"in {instance.region}"
    )


def instance_details(instance: Instance) -> dict[str, Any]:
    """What an alert shows about an instance (JSON-ready)."""
    return {
        "account": instance.account,
        "region": instance.region,
        "instance_id": instance.instance_id,
        "instance_type": instance.instance_type,
        "state": instance.state,
        "launch_time": instance.launch_time.isoformat() if instance.launch_time else None,
        "key_name": instance.key_name,
        "security_groups": list(instance.security_groups),
        "iam_instance_profile": instance.iam_instance_profile,
        "tags": dict(instance.tags),
    }


def instance_entities(instance: Instance) -> list[str]:
    """The incident keys an instance shares with findings about its groups and key pair."""
    entities = [f"instance:{instance.instance_id}"]
    entities += [f"sg:{g}" for g in instance.security_groups]
    if instance.key_name:
        entities.append(f"keypair:{instance.account}:{instance.region}:{instance.key_name}")
    return entities
