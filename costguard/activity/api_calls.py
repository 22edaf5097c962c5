"""What a CloudTrail record of an API call says and did: its request and response objects,
the ingress it opened to the internet, the instances it launched and their groups, and what it
created. Pure; built on the records costguard/events.py normalizes, so the checks, the principal
activity (costguard/activity.py) and the burn rate read calls one way.

Every string in a record is chosen by whoever made the call: nothing here interprets them beyond
copying.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from costguard.activity.event_records import READ_NAMES, ResourceKind, dig, login_failed
from costguard.snapshot import ApiEvent, IngressRule

WORLD_CIDRS = ("0.0.0.0/0", "::/0")
"""The ranges that mean "anyone on the internet", as EC2 writes them back."""

AUTHORIZE_INGRESS = "AuthorizeSecurityGroupIngress"
_PROTOCOLS = {"6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6", "all": "-1"}
"""IP protocol numbers (and "all") as the names EC2 answers with, so rules compare equal."""


# --- What a record says -----------------------------------------------------------------------


def request(event: ApiEvent, *path: str) -> dict[str, Any]:
    """The call's requestParameters, or the object at `path` inside them ({} where absent)."""
    return dig(event.request, path)


def response(event: ApiEvent, *path: str) -> dict[str, Any]:
    """The call's responseElements, or the object at `path` inside them ({} where absent:
    failed calls and calls that return nothing have none)."""
    return dig(event.response, path)


def listed(value: Any) -> list[Mapping[str, Any]]:
    """The objects of a CloudTrail list: EC2's are {"items": [...]} (or {"item": [...]}),
    other services' plain lists; null or anything else is empty."""
    if isinstance(value, Mapping):
        value = value.get("items", value.get("item"))
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def service_of(event: ApiEvent) -> str:
    """The short name of the service a call went to ("iam" for "iam.amazonaws.com")."""
    return event.service.removeprefix("aws.").split(".")[0]


def failed(event: ApiEvent) -> bool:
    """Whether a call failed; a failed ConsoleLogin has no errorCode, only its response."""
    return bool(event.error_code) or login_failed(event.name, event.response)



def is_read(event: ApiEvent) -> bool:
    """Whether a call only reads, so a principal's activity leaves it out: CloudTrail's readOnly
    flag, or a Get/List/Describe/Head name even where the flag says otherwise."""
    # Without the flag, "Lookup" alone is not taken as a read (tests/test_activity.py pins an
    # unflagged LookupEvents as a write); every event from_record builds has the flag set.
    return bool(event.read_only) or event.name.startswith(READ_NAMES)


def unique(values: Iterable[Any]) -> list[Any]:
    """Values in first-seen order without repeats or blanks, for JSON lists in details."""
    seen: list[Any] = []
    for value in values:
        if value not in (None, "") and value not in seen:
            seen.append(value)
    return seen


# --- Security groups and launches -------------------------------------------------------------


def normalized_cidr(cidr: str) -> str | None:
    """A range as EC2 writes it back ("0.0.0.0/00" and "0.0.0.0/0" are "0.0.0.0/0", "::0/0"
    is "::/0"), or None for text that is no range. Detection and verification both compare
    ranges through this one function, so a rule written oddly is found and then seen revoked
    by the same reading."""
    try:
        return str(ipaddress.ip_network(cidr.strip(), strict=False))
    except (ValueError, AttributeError):
        return None


def same_range(a: str, b: str) -> bool:
    """Whether two ranges are the same once normalized."""
    left = normalized_cidr(a)
    return left is not None and left == normalized_cidr(b)


def is_world(cidr: str) -> bool:
    """Whether a CIDR covers every address of its family (0.0.0.0/0, ::/0)."""
    return normalized_cidr(cidr) in WORLD_CIDRS


def world_open_permissions(event: ApiEvent) -> list[IngressRule]:
    """The internet-wide ingress a successful AuthorizeSecurityGroupIngress opened, one rule per
    permission; only the world-open ranges are kept in `cidrs`: they are what a playbook revokes.
    """
    return [] if event.error_code else _world_permissions(event)


def world_rules(event: ApiEvent) -> list[IngressRule]:
    """The rules an AuthorizeSecurityGroupIngress call asked to open to the internet, one per
    range, whether or not it succeeded (a refused attempt still shows intent)."""
    return [replace(rule, cidrs=(c,)) for rule in _world_permissions(event) for c in rule.cidrs]


def key_pair_name(event: ApiEvent) -> str | None:
    """The key pair an ImportKeyPair or CreateKeyPair call made (the request's when it failed)."""
    return response(event).get("keyName") or request(event).get("keyName")


@dataclass(frozen=True)
class Launched:
    """One instance a RunInstances call started: its type is what it costs."""

    instance_id: str
    instance_type: str | None


def launched_instances(event: ApiEvent) -> list[Launched]:
    """The instances a RunInstances call started, from its response (none when it failed)."""
    asked = request(event).get("instanceType")
    return [
        Launched(str(item["instanceId"]), item.get("instanceType") or asked)
        for item in listed(response(event).get("instancesSet"))
        if item.get("instanceId")
    ]


def launch_groups(event: ApiEvent) -> list[str]:
    """Security group ids a RunInstances call attached, from its request and response."""
    params = request(event)
    ids = [g.get("groupId") for g in listed(params.get("groupSet"))]
    for nic in listed(params.get("networkInterfaceSet")):
        ids += [g.get("groupId") for g in listed(nic.get("groupSet"))]
    for item in listed(response(event).get("instancesSet")):
        ids += [g.get("groupId") for g in listed(item.get("groupSet"))]
    return unique(ids)


# --- What a call created ----------------------------------------------------------------------


def created_resources(event: ApiEvent) -> dict[str, list[str]]:
    """What a successful write call created or opened, keyed by ResourceKind value.

    A failed call created nothing. AuthorizeSecurityGroupIngress counts only when it opened
    the group to the whole internet (0.0.0.0/0 or ::/0); its rule ids come from the response.
    """
    if event.error_code:
        return {}
    extract = _EXTRACTORS.get(event.name)
    found = extract(event) if extract else {}
    named = {k.value: unique(i for i in ids if isinstance(i, str)) for k, ids in found.items()}
    return {kind: ids for kind, ids in named.items() if ids}


def _authorize_ingress(event: ApiEvent) -> dict[ResourceKind, list[Any]]:
    """The group and the rule ids, when the call opened the group to the whole internet."""
    rules = [
        r for r in listed(response(event).get("securityGroupRuleSet"))
        if is_world(str(r.get("cidrIpv4") or r.get("cidrIpv6") or ""))
    ]
    if not rules and not world_open_permissions(event):
        return {}
    return {
        # By group name (default VPC) the request has no id; the response's rules do.
        ResourceKind.SECURITY_GROUP: [request(event).get("groupId")]
        + [r.get("groupId") for r in rules],
        ResourceKind.SECURITY_GROUP_RULE: [r.get("securityGroupRuleId") for r in rules],
    }


_Extractor = Callable[[ApiEvent], Mapping[ResourceKind, list[Any]]]
_EXTRACTORS: dict[str, _Extractor] = {
    "RunInstances": lambda e: {
        ResourceKind.INSTANCE: [i.instance_id for i in launched_instances(e)]
    },
    "ImportKeyPair": lambda e: {ResourceKind.KEY_PAIR: [key_pair_name(e)]},
    "CreateKeyPair": lambda e: {ResourceKind.KEY_PAIR: [key_pair_name(e)]},
    "CreateSecurityGroup": lambda e: {ResourceKind.SECURITY_GROUP: [response(e).get("groupId")]},
    AUTHORIZE_INGRESS: _authorize_ingress,
    "CreateUser": lambda e: {
        ResourceKind.USER: [response(e, "user").get("userName") or request(e).get("userName")]
    },
    "CreateAccessKey": lambda e: {
        ResourceKind.ACCESS_KEY: [response(e, "accessKey").get("accessKeyId")]
    },
    # Without userName the caller (an IAM user) gave itself a console password.
    "CreateLoginProfile": lambda e: {
        ResourceKind.LOGIN_PROFILE: [request(e).get("userName") or e.user_name]
    },
    "CreateRole": lambda e: {
        ResourceKind.ROLE: [response(e, "role").get("roleName") or request(e).get("roleName")]
    },
}



# --- Helpers ----------------------------------------------------------------------------------


def _world_permissions(event: ApiEvent) -> list[IngressRule]:
    """The permissions of an AuthorizeSecurityGroupIngress request that include world-open
    ranges, each with only those ranges in `cidrs`."""
    if event.name != AUTHORIZE_INGRESS:
        return []
    params = request(event)
    rules = []
    # The older flat form puts cidrIp (with ipProtocol, fromPort, toPort) at the top level.
    for permission in [*listed(params.get("ipPermissions")), params]:
        cidrs = [permission.get("cidrIp")]
        cidrs += [r.get("cidrIp") for r in listed(permission.get("ipRanges"))]
        cidrs += [r.get("cidrIpv6") for r in listed(permission.get("ipv6Ranges"))]
        open_cidrs = tuple(c for c in cidrs if isinstance(c, str) and is_world(c))
        if open_cidrs:
            rules.append(_ingress_rule(permission, open_cidrs))
    return rules


def _ingress_rule(permission: Mapping[str, Any], cidrs: tuple[str, ...]) -> IngressRule:
    """An IngressRule from a CloudTrail ipPermissions item (ports None for "every port")."""
    raw = permission.get("ipProtocol")
    protocol = "-1" if raw is None else str(raw).lower()
    protocol = _PROTOCOLS.get(protocol, protocol)
    low, high = permission.get("fromPort"), permission.get("toPort")
    every_port = protocol == "-1" or low is None or high is None or low == -1
    return IngressRule(
        protocol=protocol,
        from_port=None if every_port else int(low),
        to_port=None if every_port else int(high),
        cidrs=cidrs,
    )
