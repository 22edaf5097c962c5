"""The EC2 inventory of one account: instances, security groups and key pairs per region."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timezone
from typing import Any

from costguard.clock import utcnow
from costguard.collectors.session import Aws, error_code
from costguard.snapshot import IngressRule, Instance, RegionInventory, SecurityGroup

PAGE_SIZE = 1000
"""The largest page DescribeInstances and DescribeSecurityGroups allow: fewest calls."""

INSTANCE_TYPES_PER_CALL = 100
"""DescribeInstanceTypes accepts at most 100 names in InstanceTypes."""

# AWS names the common protocols but answers with the number for the ones it has no name for;
# rules created with "6" come back as "tcp", yet we normalise defensively.
_PROTOCOL_NAMES = {"6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6"}
_ALL_PORTS = (0, 65535)
# "The following supplied instance types do not exist: [a.b, c.d]"
_BAD_TYPES = re.compile(r"\[([^\]]*)\]")


class InventoryCollector:
    """Reads EC2 for one account (the `inventory` source) and normalises it into snapshots."""

    def __init__(self, aws: Aws, account: str, *, page_size: int = PAGE_SIZE) -> None:
        self._aws = aws
        self._account = account
        self._page_size = page_size

    def regions(self) -> list[str]:
        """The regions enabled for the account, where there can be anything to inventory."""
        answer = self._aws.client("ec2").describe_regions(AllRegions=False)
        # AllRegions=False already leaves out regions not opted in; the filter keeps emulators
        # that list every region honest too.
        return sorted(
            r["RegionName"] for r in answer["Regions"] if r.get("OptInStatus") != "not-opted-in"
        )

    def collect(self, region: str) -> RegionInventory:
        """Everything the checks read about one region, as frozen dataclasses."""
        started = utcnow()  # before the calls: the picture is at least this old
        ec2 = self._aws.client("ec2", region)
        instances = [
            normalize_instance(raw, self._account, region)
            for page in self._pages(ec2, "describe_instances")
            for reservation in page["Reservations"]
            for raw in reservation["Instances"]
        ]
        groups = [
            normalize_security_group(raw, self._account, region)
            for page in self._pages(ec2, "describe_security_groups")
            for raw in page["SecurityGroups"]
        ]
        key_pairs = sorted(k["KeyName"] for k in ec2.describe_key_pairs()["KeyPairs"])
        return RegionInventory(
            account=self._account,
            region=region,
            instances=tuple(sorted(instances, key=lambda i: i.instance_id)),
            security_groups=tuple(sorted(groups, key=lambda g: g.group_id)),
            key_pairs=tuple(key_pairs),
            collected_at=started,
        )

    def instance_vcpus(self, types: Iterable[str]) -> dict[str, int]:
        """Default vCPUs per instance type, for types the price table does not know.

        Types AWS does not know are left out of the answer rather than failing the others.
        """
        wanted = sorted(set(types))
        ec2 = self._aws.client("ec2")
        vcpus: dict[str, int] = {}
        for start in range(0, len(wanted), INSTANCE_TYPES_PER_CALL):
            vcpus.update(_vcpus_tolerant(ec2, wanted[start : start + INSTANCE_TYPES_PER_CALL]))
        return vcpus

    def _pages(self, ec2: Any, operation: str) -> Iterator[dict[str, Any]]:
        """The pages of a paginated Describe call, at the configured page size."""
        paginator = ec2.get_paginator(operation)
        yield from paginator.paginate(PaginationConfig={"PageSize": self._page_size})


def _vcpus_tolerant(ec2: Any, batch: list[str]) -> dict[str, int]:
    """One batch of DescribeInstanceTypes that survives unknown names.

    AWS rejects the whole batch with InvalidInstanceType when any name is unknown, naming the bad
    ones in brackets in its message. We retry once without the names it listed; if the message
    could not be read or the retry fails again, we ask per type and skip each type AWS rejects.
    That is at most 2 + len(batch) calls, and only when the batch holds an unknown name.
    """
    try:
        return _vcpus(ec2, batch)
    except Exception as exc:
        if error_code(exc) != "InvalidInstanceType":
            raise
        bad = _rejected_types(str(exc))
    remaining = [t for t in batch if t not in bad]
    if bad & set(batch):
        try:
            return _vcpus(ec2, remaining) if remaining else {}
        except Exception as exc:
            if error_code(exc) != "InvalidInstanceType":
                raise
    return _vcpus_one_by_one(ec2, remaining)


def _vcpus_one_by_one(ec2: Any, types: list[str]) -> dict[str, int]:
    """The last resort of `_vcpus_tolerant`: one call per type, skipping the rejected ones."""
    vcpus: dict[str, int] = {}
    for instance_type in types:
        try:
            vcpus.update(_vcpus(ec2, [instance_type]))
        except Exception as exc:
            if error_code(exc) != "InvalidInstanceType":
                raise
    return vcpus


def _vcpus(ec2: Any, types: list[str]) -> dict[str, int]:
    """DescribeInstanceTypes for known-good names (paginated, although 100 names fit a page)."""
    paginator = ec2.get_paginator("describe_instance_types")
    return {
        t["InstanceType"]: int(t["VCpuInfo"]["DefaultVCpus"])
        for page in paginator.paginate(InstanceTypes=types)
        for t in page["InstanceTypes"]
    }


def _rejected_types(message: str) -> set[str]:
    """The instance types AWS named as unknown in an InvalidInstanceType message."""
    match = _BAD_TYPES.search(message)
    if not match:
        return set()
    return {name.strip() for name in match.group(1).split(",") if name.strip()}


def normalize_instance(raw: Mapping[str, Any], account: str, region: str) -> Instance:
    """An Instance from one element of DescribeInstances' Reservations[].Instances[]."""
    profile = raw.get("IamInstanceProfile") or {}
    return Instance(
        account=account,
        region=region,
        instance_id=raw["InstanceId"],
        instance_type=raw["InstanceType"],
        state=raw["State"]["Name"],
        launch_time=_utc(raw.get("LaunchTime")),
        key_name=raw.get("KeyName") or None,
        security_groups=tuple(g["GroupId"] for g in raw.get("SecurityGroups", ())),
        tags=tags_dict(raw.get("Tags")),
        iam_instance_profile=profile.get("Arn"),
    )


def normalize_security_group(raw: Mapping[str, Any], account: str, region: str) -> SecurityGroup:
    """A SecurityGroup from one element of DescribeSecurityGroups' SecurityGroups[]."""
    return SecurityGroup(
        account=account,
        region=region,
        group_id=raw["GroupId"],
        name=raw.get("GroupName", ""),
        vpc_id=raw.get("VpcId") or None,
        ingress=tuple(normalize_rule(p) for p in raw.get("IpPermissions", ())),
        tags=tags_dict(raw.get("Tags")),
    )


def normalize_rule(permission: Mapping[str, Any]) -> IngressRule:
    """An IngressRule from one IpPermissions entry.

    Protocol "-1" (all traffic), a missing port, -1 ports (every ICMP type) and 0-65535 all
    mean "every port", which IngressRule spells as None.
    """
    protocol = str(permission.get("IpProtocol", "-1")).lower()
    protocol = _PROTOCOL_NAMES.get(protocol, protocol)
    from_port, to_port = permission.get("FromPort"), permission.get("ToPort")
    every_port = (
        protocol == "-1"
        or from_port is None
        or to_port is None
        or from_port == -1
        or (from_port, to_port) == _ALL_PORTS
    )
    cidrs = [r["CidrIp"] for r in permission.get("IpRanges", ()) if "CidrIp" in r]
    cidrs += [r["CidrIpv6"] for r in permission.get("Ipv6Ranges", ()) if "CidrIpv6" in r]
    groups = [p["GroupId"] for p in permission.get("UserIdGroupPairs", ()) if "GroupId" in p]
    return IngressRule(
        protocol=protocol,
        from_port=None if every_port else int(from_port),
        to_port=None if every_port else int(to_port),
        cidrs=tuple(cidrs),
        source_groups=tuple(groups),
    )


def tags_dict(tags: Iterable[Mapping[str, str]] | None) -> dict[str, str]:
    """AWS's [{"Key": k, "Value": v}] as a plain dict (values stay untrusted text)."""
    return {t["Key"]: t.get("Value", "") for t in tags or ()}


def _utc(value: datetime | None) -> datetime | None:
    """An aware UTC datetime; botocore parses timestamps with tzutc, naive ones are taken as UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)
