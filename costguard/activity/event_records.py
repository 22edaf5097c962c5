"""CloudTrail records and GuardDuty findings, normalized into ApiEvent and GuardDutyFinding.

Pure: no boto3, no I/O. The same record reaches costguard three ways (an EventBridge envelope
read from SQS, a LookupEvents entry, a GetFindings answer); each is normalized here so that the
CloudTrail `eventID` (or the GuardDuty finding id) identifies an event whatever the path, and
the engine dedupes the paths against each other by it.

What a record says beyond who and when (request and response objects, world-open ingress,
launched instances, what a call created) is read in costguard/api_calls.py, on these records.

Every string in a record is chosen by whoever made the call (user names, key names, user
agents), so nothing here interprets them beyond copying.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from costguard.activity.trail_record import record_extra
from costguard.model import StrEnum, root_arn
from costguard.snapshot import ApiEvent, GuardDutyFinding
from costguard.text import RECORD_FIELD_LIMIT, bounded

log = logging.getLogger(__name__)

READ_NAMES = ("Get", "List", "Describe", "Head")
"""What `api_calls.is_read` reads from the name of an event whose readOnly flag is unknown."""
READ_PREFIXES = (*READ_NAMES, "Lookup")
"""Name prefixes of calls that only read: CloudTrail's readOnly, when a record lacks it."""

CONSOLE_LOGIN = "ConsoleLogin"
CONSOLE_LOGIN_FAILED = "ConsoleLoginFailure"
"""`error_code` of a failed console sign-in, which CloudTrail records without an errorCode."""


class DetailType(StrEnum):
    """The EventBridge detail-types costguard reads; any other envelope is ignored."""

    API_CALL = "AWS API Call via CloudTrail"
    CONSOLE_SIGN_IN = "AWS Console Sign In via CloudTrail"
    GUARDDUTY_FINDING = "GuardDuty Finding"


class PrincipalType(StrEnum):
    """CloudTrail's userIdentity.type values; ApiEvent.principal_type compares equal to these."""

    ROOT = "Root"
    IAM_USER = "IAMUser"
    ASSUMED_ROLE = "AssumedRole"
    FEDERATED_USER = "FederatedUser"
    AWS_ACCOUNT = "AWSAccount"
    AWS_SERVICE = "AWSService"
    IDENTITY_CENTER_USER = "IdentityCenterUser"
    UNKNOWN = "Unknown"


class ResourceKind(StrEnum):
    """The keys of `created_resources`: what an attacker creates or opens and a playbook undoes."""

    INSTANCE = "instance"
    KEY_PAIR = "key_pair"
    SECURITY_GROUP = "security_group"
    SECURITY_GROUP_RULE = "security_group_rule"
    USER = "user"
    ACCESS_KEY = "access_key"
    LOGIN_PROFILE = "login_profile"
    ROLE = "role"


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
    message SQS delivers twice still carries one id. Every string is bounded first
    (`text.bounded`): a record's fields are the caller's choice, NUL and invalid UTF-8 included.
    """
    record = bounded(record, RECORD_FIELD_LIMIT)
    identity = record.get("userIdentity")
    identity = identity if isinstance(identity, Mapping) else {}
    name = _text(record.get("eventName"))
    event_id = _text(record.get("eventID")) or fallback_id
    if not name or not event_id:
        raise EventFormatError("a CloudTrail record needs an eventID and an eventName")
    account = (
        _text(record.get("recipientAccountId")) or account or _text(identity.get("accountId"))
    )
    response = as_mapping(record.get("responseElements"))
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
        request=as_mapping(record.get("requestParameters")),
        response=response,
        console_login=name == CONSOLE_LOGIN,
        extra=record_extra(record),
    )


def guardduty_finding(finding: Mapping[str, Any]) -> GuardDutyFinding:
    """A GuardDutyFinding from a finding as EventBridge delivers it (camelCase keys)."""
    finding = bounded(finding, RECORD_FIELD_LIMIT)
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
        resource=as_mapping(finding.get("resource")),
        service=as_mapping(finding.get("service")),
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


# --- Who and when ------------------------------------------------------------------------------


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
    issuer = as_mapping(as_mapping(identity.get("sessionContext")).get("sessionIssuer"))
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
    return CONSOLE_LOGIN_FAILED if login_failed(name, response) else None


def login_failed(name: str, response: Any) -> bool:
    """A ConsoleLogin answered with anything but Success."""
    answer = as_mapping(response).get(CONSOLE_LOGIN)
    return name == CONSOLE_LOGIN and answer not in (None, "Success")


def _text(value: Any) -> str | None:
    """A non-empty string or None: CloudTrail writes "" where it has nothing (accessKeyId)."""
    return value if isinstance(value, str) and value else None


def as_mapping(value: Any) -> dict[str, Any]:
    """A dict for CloudTrail's objects, which are null when empty."""
    return dict(value) if isinstance(value, Mapping) else {}


def dig(value: Any, path: tuple[str, ...]) -> dict[str, Any]:
    """The object at `path` inside `value`, or {} where any step is missing or not an object."""
    for key in path:
        value = as_mapping(value).get(key)
    return as_mapping(value)
