"""No security group may open remote-administration ports to the whole internet."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Annotated, Any, cast

from pydantic import Field

from costguard.checks.base import Check, Context, Params, Phase, Resource
from costguard.model import Finding, Severity, Source
from costguard.snapshot import IngressRule, RegionInventory, SecurityGroup, Snapshot

OPEN_CIDRS = ("0.0.0.0/0", "::/0")
"""The ranges that mean "anyone on the internet", in IPv4 and IPv6."""

_ALL_TRAFFIC = ("-1", "all")
_PORT_PROTOCOLS = ("tcp", "6", "udp", "17")

Port = Annotated[int, Field(ge=0, le=65535)]


class OpenAdminPortsParams(Params):
    """Parameters of `open_admin_ports`."""

    ports: tuple[Port, ...] = Field(
        default=(22, 3389),
        min_length=1,
        description="Administration ports that must not be open to 0.0.0.0/0 or ::/0.",
    )


def admits(rule: IngressRule, port: int) -> bool:
    """Whether a rule lets traffic reach `port` over TCP or UDP (CIS counts both and "all").

    `IngressRule.covers_port` answers for TCP only; RDP also listens on UDP 3389.
    """
    if rule.protocol in _ALL_TRAFFIC:
        return True
    if rule.protocol not in _PORT_PROTOCOLS:
        return False
    if rule.from_port is None or rule.to_port is None:
        return True
    return rule.from_port <= port <= rule.to_port


def offending_rules(group: SecurityGroup, ports: Sequence[int]) -> list[dict[str, Any]]:
    """One entry per (rule, open range) that exposes any of `ports`, with the ports it does."""
    found = []
    for rule in group.ingress:
        exposed = [p for p in ports if admits(rule, p)]
        for cidr in (c for c in rule.cidrs if c in OPEN_CIDRS):
            if exposed:
                found.append(_rule(rule, cidr, exposed))
    return found


def _rule(rule: IngressRule, cidr: str, exposed: list[int]) -> dict[str, Any]:
    all_traffic = rule.protocol in _ALL_TRAFFIC
    return {
        "protocol": "-1" if all_traffic else rule.protocol,
        "from_port": None if all_traffic else rule.from_port,
        "to_port": None if all_traffic else rule.to_port,
        "cidr": cidr,
        "ports": exposed,
        "ip_permission": ip_permission(rule, cidr),
    }


def ip_permission(rule: IngressRule, cidr: str) -> dict[str, Any]:
    """The rule for one range in EC2's IpPermission shape, which is what
    `revoke-security-group-ingress --ip-permissions` needs to match it exactly."""
    permission: dict[str, Any] = {"IpProtocol": rule.protocol}
    if rule.protocol not in _ALL_TRAFFIC and rule.from_port is not None:
        permission.update(FromPort=rule.from_port, ToPort=rule.to_port)
    if ":" in cidr:
        permission["Ipv6Ranges"] = [{"CidrIpv6": cidr}]
    else:
        permission["IpRanges"] = [{"CidrIp": cidr}]
    return permission


class OpenAdminPorts(Check):
    """SSH and RDP open to the internet are scanned within minutes of opening and brute-forced
    around the clock; with a weak or leaked credential that is a foothold inside the VPC. An
    attacker holding a key also opens them to reach the instances they launch, so a new open
    group next to new instances is part of the same incident (shared `sg:` entities).

    Rules count when they allow TCP, UDP or all traffic (protocol -1) from 0.0.0.0/0 or ::/0 to
    a range that includes one of `ports`. The resource is the group id: groups have ARNs in
    IAM, but everything else (the console, the CLI, alerts people act on) names them by id.

    ```yaml
    policies:
      - name: open-admin-ports
        check: open_admin_ports
        severity: high
        params:
          ports: [22, 3389, 5985, 5986]
        references: ["CIS AWS Foundations v3.0.0 5.2", "CIS AWS Foundations v3.0.0 5.3"]
    ```
    """

    id = "open_admin_ports"
    title = "Security group opens administration ports to the internet"
    severity = Severity.HIGH
    sources = (Source.INVENTORY,)
    remediation = "remediation/open_admin_ports.md.j2"
    Params = OpenAdminPortsParams
    references = ("CIS AWS Foundations v3.0.0 5.2", "CIS AWS Foundations v3.0.0 5.3")

    noun = "security group"
    phrase_one = "an admin port open to the internet"
    phrase_many = "{n} security groups open to the internet"
    title_rank = 50
    phase = Phase.CLOSE
    playbook_rank = 10
    permissions = (
        "ec2:DescribeRegions", "ec2:DescribeInstances", "ec2:DescribeSecurityGroups",
        "ec2:DescribeKeyPairs", "ec2:DescribeInstanceTypes",
    )
    fix_summary = "Remove ingress rules that open administration ports to 0.0.0.0/0 or ::/0."
    cis = ("5.2", "5.3")
    security_hub = ("EC2.53", "EC2.54", "EC2.13", "EC2.14")

    def evaluate(self, snapshot: Snapshot, ctx: Context) -> Iterable[Finding]:
        """One finding per security group with at least one offending rule."""
        params = cast(OpenAdminPortsParams, ctx.params)
        for inv in snapshot.inventory:
            for group in inv.security_groups:
                rules = offending_rules(group, params.ports)
                if rules:
                    yield _finding(ctx, inv, group, rules)

    def resources(self, snapshot: Snapshot, ctx: Context) -> Iterable[Resource]:
        """Every security group of every scanned region."""
        return [(g.account, g.region, g.group_id) for g in snapshot.security_groups()]


def _finding(
    ctx: Context, inv: RegionInventory, group: SecurityGroup, rules: list[dict[str, Any]]
) -> Finding:
    users = [i for i in inv.instances if group.group_id in i.security_groups]
    ports = sorted({p for r in rules for p in r["ports"]})
    plural = "port" if len(ports) == 1 else "ports"
    return ctx.finding(
        account=group.account,
        region=group.region,
        resource=group.group_id,
        title=(
            f"Security group {group.group_id} is open to the internet on {plural} "
            f"{', '.join(map(str, ports))} in {group.region}"
        ),
        details={
            "account": group.account,
            "region": group.region,
            "group_id": group.group_id,
            "group_name": group.name,
            "vpc_id": group.vpc_id,
            "ports": ports,
            "rules": rules,
            "instances": [
                {
                    "instance_id": i.instance_id,
                    "instance_type": i.instance_type,
                    "state": i.state,
                    "name": i.tags.get("Name"),
                }
                for i in users
            ],
        },
        entities=[f"sg:{group.group_id}", *(f"instance:{i.instance_id}" for i in users)],
    )
