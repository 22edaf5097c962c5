"""CloudTrail records and GuardDuty findings, normalized into ApiEvent and GuardDutyFinding.

Pure: no boto3, no I/O. The same record reaches costguard three ways (an EventBridge envelope
read from SQS, a LookupEvents entry, a GetFindings answer); each is normalized here so that the
CloudTrail `eventID` (or the GuardDuty finding id) identifies an event whatever the path, and
the engine dedupes the paths against each other by it.

It is also the one place that reads what a record says (request and response objects and
lists, world-open ingress, launched instances and their groups, read-only and failed calls), so
costguard/activity.py and the checks build on these helpers rather than parse records again.

Every string in a record is chosen by whoever made the call (user names, key names, user
agents), so nothing here interprets them beyond copying.
"""

from __future__ import annotations

import enum
import ipaddress
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any

from costguard.model import root_arn
from costguard.snapshot import ApiEvent, GuardDutyFinding, IngressRule

log = logging.getLogger("costguard.events")

_READ_NAMES = ("Get", "List", "Describe", "Head")
"""What `is_read` reads from the name of an event whose readOnly flag is unknown."""
READ_PREFIXES = (*_READ_NAMES, "Lookup")
"""Name prefixes of calls that only read: CloudTrail's readOnly, when a record lacks it."""

WORLD_CIDRS = ("0.0.0.0/0", "::/0")
"""The ranges that mean "anyone on the internet", as EC2 writes them back."""

AUTHORIZE_INGRESS = "AuthorizeSecurityGroupIngress"
_PROTOCOLS = {"6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6", "all": "-1"}
"""IP protocol numbers (and "all") as the names EC2 answers with, so rules compare equal."""

CONSOLE_LOGIN = "ConsoleLogin"
CONSOLE_LOGIN_FAILED = "ConsoleLoginFailure"
"""`error_code` of a failed console sign-in, which CloudTrail records without an errorCode."""


class DetailType(str, enum.Enum):
    """The EventBridge detail-types costguard reads; any other envelope is ignored."""

    API_CALL = "AWS API Call via CloudTrail"
    CONSOLE_SIGN_IN = "AWS Console Sign In via CloudTrail"
    GUARDDUTY_FINDING = "GuardDuty Finding"

    def __str__(self) -> str:
        return self.value


class PrincipalType(str, enum.Enum):
    """CloudTrail's userIdentity.type values; ApiEvent.principal_type compares equal to these."""

    ROOT = "Root"
    IAM_USER = "IAMUser"
    ASSUMED_ROLE = "AssumedRole"
    FEDERATED_USER = "FederatedUser"
    AWS_ACCOUNT = "AWSAccount"
    AWS_SERVICE = "AWSService"
    IDENTITY_CENTER_USER = "IdentityCenterUser"
    UNKNOWN = "Unknown"

    def __str__(self) -> str:
        return self.value


class ResourceKind(str, enum.Enum):
    """The keys of `created_resources`: what an attacker creates or opens and a playbook undoes."""

    INSTANCE = "instance"
    KEY_PAIR = "key_pair"
    SECURITY_GROUP = "security_group"
    SECURITY_GROUP_RULE = "security_group_rule"
    USER = "user"
    ACCESS_KEY = "access_key"
    LOGIN_PROFILE = "login_profile"
    ROLE = "role"

    def __str__(self) -> str:
        return self.value


# Enum members hash by name, so membership of the raw string is tested against the values.
_DETAIL_TYPES = frozenset(t.value for t in DetailType)


class EventFormatError(ValueError):
    """A record lacks what every CloudTrail record has (an id, a name, a time)."""


# --- Envelopes --------------------------------------------------------------------------------


def parse_envelope(body: str | Mapping[str, Any]) -> ApiEvent | GuardDutyFinding | None:
    """The event in an EventBridge envelope from the queue, or None for anything costguard
    does not read (another detail-type, or a body that is not a well-formed envelope).

    Never raises: a poison message must come back as None so its caller can delete it.
    """
    try:
        envelope = json.loads(body) if isinstance(body, (str, bytes)) else body
        if not isinstance(envelope, Mapping):
            raise EventFormatError("the body is not a JSON object")
        detail_type = envelope.get("detail-type")
        detail = envelope.get("detail")
        if detail_type not in _DETAIL_TYPES or not isinstance(detail, Mapping):
            log.debug("ignoring an envelope with detail-type %r", detail_type)
            return None
        if detail_type == DetailType.GUARDDUTY_FINDING:
            return guardduty_finding(detail)
        return from_record(
            detail,
            account=_text(envelope.get("account")) or "",
            region=_text(envelope.get("region")) or "",
            fallback_id=_text(envelope.get("id")),
        )
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        log.debug("not an event costguard reads: %s", exc)
        return None


def from_lookup_event(
    event: Mapping[str, Any], *, account: str = "", region: str = ""
) -> ApiEvent:
    """An ApiEvent from one LookupEvents entry (its `CloudTrailEvent` string holds the record).

    The entry's own fields stand in for whatever the record lacks; `account` and `region` (the
    ones the lookup was made for) for a record without them.
    """
    raw = event.get("CloudTrailEvent")
    record: dict[str, Any] = json.loads(raw) if isinstance(raw, str) and raw else {}
    if not isinstance(record, dict):
        raise EventFormatError("CloudTrailEvent is not a JSON object")
    record.setdefault("eventID", event.get("EventId"))
    record.setdefault("eventName", event.get("EventName"))
    record.setdefault("eventSource", event.get("EventSource"))
    if "eventTime" not in record and isinstance(event.get("EventTime"), datetime):
        record["eventTime"] = event["EventTime"].isoformat()
    if "readOnly" not in record and event.get("ReadOnly") in ("true", "false"):
        record["readOnly"] = event["ReadOnly"] == "true"
    identity = record.setdefault("userIdentity", {})
    if isinstance(identity, dict) and event.get("AccessKeyId"):
        identity.setdefault("accessKeyId", event["AccessKeyId"])
    return from_record(record, account=account, region=region)


def from_record(
    record: Mapping[str, Any],
    *,
    account: str = "",
    region: str = "",
    fallback_id: str | None = None,
) -> ApiEvent:
    """An ApiEvent from one CloudTrail record (the `detail` of an EventBridge envelope).

    `fallback_id` (the envelope's id) is used only for a record without an eventID, so a
    message SQS delivers twice still carries one id.
    """
    identity = record.get("userIdentity")
    identity = identity if isinstance(identity, Mapping) else {}
    name = _text(record.get("eventName"))
    event_id = _text(record.get("eventID")) or fallback_id
    if not name or not event_id:
        raise EventFormatError("a CloudTrail record needs an eventID and an eventName")
    account = (
        _text(record.get("recipientAccountId")) or account or _text(identity.get("accountId"))
    )
    response = _mapping(record.get("responseElements"))
    return ApiEvent(
        event_id=event_id,
        time=parse_time(record.get("eventTime")),
        account=account or "",
        region=_text(record.get("awsRegion")) or region,
        service=_text(record.get("eventSource")) or "",
        name=name,
        principal_type=_text(identity.get("type")),
        principal_arn=_principal_arn(identity, account),
        access_key_id=_text(identity.get("accessKeyId")),
        user_name=_user_name(identity),
        source_ip=_text(record.get("sourceIPAddress")),
        user_agent=_text(record.get("userAgent")),
        read_only=_read_only(record.get("readOnly"), name),
        error_code=_error_code(record, name, response),
        request=_mapping(record.get("requestParameters")),
        response=response,
        console_login=name == CONSOLE_LOGIN,
    )


def guardduty_finding(finding: Mapping[str, Any]) -> GuardDutyFinding:
    """A GuardDutyFinding from a finding as EventBridge delivers it (camelCase keys)."""
    finding_id = _text(finding.get("id"))
    finding_type = _text(finding.get("type"))
    if not finding_id or not finding_type:
        raise EventFormatError("a GuardDuty finding needs an id and a type")
    created = finding.get("createdAt")
    updated = finding.get("updatedAt")
    return GuardDutyFinding(
        finding_id=finding_id,
        type=finding_type,
        severity=float(finding.get("severity") or 0.0),
        account=_text(finding.get("accountId")) or "",
        region=_text(finding.get("region")) or "",
        title=_text(finding.get("title")) or "",
        description=_text(finding.get("description")) or "",
        created_at=parse_time(created) if created else None,
        updated_at=parse_time(updated) if updated else None,
        resource=_mapping(finding.get("resource")),
        service=_mapping(finding.get("service")),
    )


def guardduty_finding_from_api(finding: Mapping[str, Any]) -> GuardDutyFinding:
    """A GuardDutyFinding from a GetFindings answer, whose keys are PascalCase.

    Keys are turned into EventBridge's camelCase (first letter lowered, all the way down), so
    checks read `resource` and `service` one way whichever path a finding came by.
    """
    return guardduty_finding(camel_keys(finding))


def camel_keys(value: Any) -> Any:
    """`value` with the first letter of every mapping key lowered, recursively."""
    if isinstance(value, Mapping):
        return {str(k)[:1].lower() + str(k)[1:]: camel_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [camel_keys(v) for v in value]
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat()
    return value


# --- What a record says -----------------------------------------------------------------------


def request(event: ApiEvent, *path: str) -> dict[str, Any]:
    """The call's requestParameters, or the object at `path` inside them ({} where absent)."""
    return _dig(event.request, path)


def response(event: ApiEvent, *path: str) -> dict[str, Any]:
    """The call's responseElements, or the object at `path` inside them ({} where absent:
    failed calls and calls that return nothing have none)."""
    return _dig(event.response, path)


def listed(value: Any) -> list[Mapping[str, Any]]:
    """The objects of a CloudTrail list: EC2's are {"items": [...]} (or {"item": [...]}),
    other services' plain lists; null or anything else is empty."""
    if isinstance(value, Mapping):
        value = value.get("items", value.get("item"))
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def failed(event: ApiEvent) -> bool:
    """Whether a call failed; a failed ConsoleLogin has no errorCode, only its response."""
    return bool(event.error_code) or _login_failed(event.name, event.response)


def is_read_only(name: str) -> bool:
    """Whether a call only reads, by AWS's naming convention (Get/List/Describe/Head/Lookup)."""
    return name.startswith(READ_PREFIXES)


def is_read(event: ApiEvent) -> bool:
    """Whether a call only reads, so a principal's activity leaves it out: CloudTrail's readOnly
    flag, or a Get/List/Describe/Head name even where the flag says otherwise."""
    # Without the flag, "Lookup" alone is not taken as a read (tests/test_activity.py pins an
    # unflagged LookupEvents as a write); every event from_record builds has the flag set.
    return bool(event.read_only) or event.name.startswith(_READ_NAMES)


def principal_key(event: ApiEvent) -> str | None:
    """The ARN that groups a principal's calls; None for AWS services acting on their own.

    Root is always `arn:aws:iam::ACCOUNT:root`; an assumed role keeps its session ARN (role and
    session name); a principal from another account without an ARN groups as that account.
    """
    if event.principal_type == PrincipalType.ROOT and event.account:
        return root_arn(event.account)
    if event.principal_type == PrincipalType.AWS_SERVICE:
        return None
    return event.principal_arn


def parse_time(value: Any) -> datetime:
    """An aware UTC datetime from CloudTrail's and GuardDuty's ISO 8601 text (or a datetime)."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    else:
        raise EventFormatError(f"not a time: {value!r}")
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def unique(values: Iterable[Any]) -> list[Any]:
    """Values in first-seen order without repeats or blanks, for JSON lists in details."""
    seen: list[Any] = []
    for value in values:
        if value not in (None, "") and value not in seen:
            seen.append(value)
    return seen


# --- Security groups and launches -------------------------------------------------------------


def is_world(cidr: str) -> bool:
    """Whether a CIDR covers every address of its family (0.0.0.0/0, ::/0)."""
    try:
        return ipaddress.ip_network(cidr.strip(), strict=False).prefixlen == 0
    except ValueError:
        return False


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


def _principal_arn(identity: Mapping[str, Any], account: str | None) -> str | None:
    arn = _text(identity.get("arn"))
    if arn:
        return arn
    if identity.get("type") == PrincipalType.ROOT and account:
        return root_arn(account)
    other = _text(identity.get("accountId"))
    if identity.get("type") == PrincipalType.AWS_ACCOUNT and other:
        return root_arn(other)
    return None


def _user_name(identity: Mapping[str, Any]) -> str | None:
    """The IAM user's name, or for an assumed role the role's (the session issuer's)."""
    name = _text(identity.get("userName"))
    if name:
        return name
    issuer = _mapping(_mapping(identity.get("sessionContext")).get("sessionIssuer"))
    return _text(issuer.get("userName"))


def _read_only(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return is_read_only(name)


def _error_code(record: Mapping[str, Any], name: str, response: Mapping[str, Any]) -> str | None:
    """errorCode; for a failed ConsoleLogin (recorded without one) CONSOLE_LOGIN_FAILED, so
    `error_code is None` means success for every kind of event."""
    code = _text(record.get("errorCode"))
    if code:
        return code
    return CONSOLE_LOGIN_FAILED if _login_failed(name, response) else None


def _login_failed(name: str, response: Any) -> bool:
    """A ConsoleLogin answered with anything but Success."""
    return name == CONSOLE_LOGIN and _mapping(response).get(CONSOLE_LOGIN) not in (None, "Success")


def _text(value: Any) -> str | None:
    """A non-empty string or None: CloudTrail writes "" where it has nothing (accessKeyId)."""
    return value if isinstance(value, str) and value else None


def _mapping(value: Any) -> dict[str, Any]:
    """A dict for CloudTrail's objects, which are null when empty."""
    return dict(value) if isinstance(value, Mapping) else {}


def _dig(value: Any, path: tuple[str, ...]) -> dict[str, Any]:
    """The object at `path` inside `value`, or {} where any step is missing or not an object."""
    for key in path:
        value = _mapping(value).get(key)
    return _mapping(value)
