"""CloudTrail records and GuardDuty findings, normalized into ApiEvent and GuardDutyFinding.

Pure: no boto3, no I/O. The same record reaches costguard three ways (an EventBridge envelope
read from SQS, a LookupEvents entry, a GetFindings answer); each is normalized here so that the
CloudTrail `eventID` (or the GuardDuty finding id) identifies an event whatever the path, and
the engine dedupes the paths against each other by it.

Every string in a record is chosen by whoever made the call (user names, key names, user
agents), so nothing here interprets them beyond copying.
"""

from __future__ import annotations

import enum
import ipaddress
import json
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime, timezone
from typing import Any

from costguard.model import root_arn
from costguard.snapshot import ApiEvent, GuardDutyFinding, IngressRule

log = logging.getLogger("costguard.events")

READ_PREFIXES = ("Get", "List", "Describe", "Head", "Lookup")
"""Name prefixes of calls that only read: CloudTrail's readOnly, when a record lacks it."""

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
    return {kind.value: _unique(ids) for kind, ids in found.items() if _unique(ids)}


def world_open_permissions(event: ApiEvent) -> list[IngressRule]:
    """The internet-wide ingress an AuthorizeSecurityGroupIngress call asked for, as rules.

    Only the world-open ranges are kept in `cidrs`: they are what a playbook revokes.
    """
    if event.name != "AuthorizeSecurityGroupIngress" or event.error_code:
        return []
    rules = []
    for permission in _items(_mapping(event.request.get("ipPermissions"))):
        cidrs = [r.get("cidrIp") for r in _items(_mapping(permission.get("ipRanges")))]
        cidrs += [r.get("cidrIpv6") for r in _items(_mapping(permission.get("ipv6Ranges")))]
        open_cidrs = tuple(c for c in cidrs if isinstance(c, str) and is_world(c))
        if open_cidrs:
            rules.append(_ingress_rule(permission, open_cidrs))
    return rules


def is_world(cidr: str) -> bool:
    """Whether a CIDR covers every address of its family (0.0.0.0/0, ::/0)."""
    try:
        return ipaddress.ip_network(cidr.strip(), strict=False).prefixlen == 0
    except ValueError:
        return False


def is_read_only(name: str) -> bool:
    """Whether a call only reads, by AWS's naming convention (Get/List/Describe/Head/Lookup)."""
    return name.startswith(READ_PREFIXES)


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


# --- Helpers ----------------------------------------------------------------------------------


def _authorize_ingress(event: ApiEvent) -> dict[ResourceKind, list[Any]]:
    """The group and the rule ids, when the call opened the group to the whole internet."""
    rules = [
        r for r in _items(_mapping(event.response.get("securityGroupRuleSet")))
        if is_world(str(r.get("cidrIpv4") or r.get("cidrIpv6") or ""))
    ]
    if not rules and not world_open_permissions(event):
        return {}
    return {
        # By group name (default VPC) the request has no id; the response's rules do.
        ResourceKind.SECURITY_GROUP: [event.request.get("groupId")]
        + [r.get("groupId") for r in rules],
        ResourceKind.SECURITY_GROUP_RULE: [r.get("securityGroupRuleId") for r in rules],
    }


def _key_pair(event: ApiEvent) -> dict[ResourceKind, list[Any]]:
    return {ResourceKind.KEY_PAIR: [event.response.get("keyName") or event.request.get("keyName")]}


def _response(event: ApiEvent, *path: str) -> Any:
    """A nested value of the call's responseElements, or None."""
    value: Any = event.response
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    return value


_Extractor = Callable[[ApiEvent], Mapping[ResourceKind, list[Any]]]
_EXTRACTORS: dict[str, _Extractor] = {
    "RunInstances": lambda e: {ResourceKind.INSTANCE: [
        i.get("instanceId") for i in _items(_mapping(e.response.get("instancesSet")))
    ]},
    "ImportKeyPair": _key_pair,
    "CreateKeyPair": _key_pair,
    "CreateSecurityGroup": lambda e: {ResourceKind.SECURITY_GROUP: [e.response.get("groupId")]},
    "AuthorizeSecurityGroupIngress": _authorize_ingress,
    "CreateUser": lambda e: {
        ResourceKind.USER: [_response(e, "user", "userName") or e.request.get("userName")]
    },
    "CreateAccessKey": lambda e: {
        ResourceKind.ACCESS_KEY: [_response(e, "accessKey", "accessKeyId")]
    },
    # Without userName the caller (an IAM user) gave itself a console password.
    "CreateLoginProfile": lambda e: {
        ResourceKind.LOGIN_PROFILE: [e.request.get("userName") or e.user_name]
    },
    "CreateRole": lambda e: {
        ResourceKind.ROLE: [_response(e, "role", "roleName") or e.request.get("roleName")]
    },
}


def _ingress_rule(permission: Mapping[str, Any], cidrs: tuple[str, ...]) -> IngressRule:
    """An IngressRule from a CloudTrail ipPermissions item (ports None for "every port")."""
    protocol = str(permission.get("ipProtocol", "-1")).lower()
    low, high = permission.get("fromPort"), permission.get("toPort")
    every_port = protocol == "-1" or low is None or high is None or low == -1
    return IngressRule(
        protocol=protocol,
        from_port=None if every_port else int(low),
        to_port=None if every_port else int(high),
        cidrs=cidrs,
    )


def _items(container: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """The elements of CloudTrail's EC2-style lists: {"items": [...]} (or {"item": [...]})."""
    elements = container.get("items", container.get("item", ()))
    if isinstance(elements, list):
        yield from (e for e in elements if isinstance(e, Mapping))


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
    if name == CONSOLE_LOGIN and response.get(CONSOLE_LOGIN) not in (None, "Success"):
        return CONSOLE_LOGIN_FAILED
    return None


def _text(value: Any) -> str | None:
    """A non-empty string or None: CloudTrail writes "" where it has nothing (accessKeyId)."""
    return value if isinstance(value, str) and value else None


def _mapping(value: Any) -> dict[str, Any]:
    """A dict for CloudTrail's objects, which are null when empty."""
    return dict(value) if isinstance(value, Mapping) else {}


def _unique(values: Iterable[Any]) -> list[str]:
    """Non-empty strings in first-seen order, once each."""
    return list(dict.fromkeys(v for v in values if isinstance(v, str) and v))
