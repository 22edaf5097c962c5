"""A CloudTrail record as CloudTrail wrote it, and its fields by Sigma's dotted names.

Sigma rules for AWS name the fields of the CloudTrail record itself (`eventName`,
`userIdentity.type`, `requestParameters.ipPermissions.items.ipRanges.items.cidrIp`), so the
record an ApiEvent came from is rebuilt here: from the fields the event keeps of it
(`ApiEvent.extra` holds what the normalized fields leave out), over what the normalized
fields say (all an event built by hand, or kept as a sighting, has). Pure.

A dotted name walks objects by key and every list on the way transparently, so one name can
reach many values (every `cidrIp` of every permission); a rule item matches when any does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from costguard.snapshot import ApiEvent

NORMALIZED = ("requestParameters", "responseElements")
"""Top-level record fields an ApiEvent keeps in `request` and `response`, not in `extra`."""


class UnsupportedRule(ValueError):
    """A rule uses something this matcher cannot evaluate (a placeholder, a timestamp part)."""


def as_text(value: Any) -> str | None:
    """A record value as Sigma compares it: text, with true/false and numbers spelled out."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(int(value)) if float(value).is_integer() else str(value)
    return None


Test = Callable[[list[Any]], bool]
"""Whether a field's values (see trail_record.Fields.values) satisfy one rule value."""


def record_extra(record: Mapping[str, Any]) -> dict[str, Any]:
    """What `ApiEvent.extra` keeps of a record: every top-level field but the two it holds as
    `request` and `response`, so nothing a rule could name is lost and nothing is stored twice."""
    return {k: v for k, v in record.items() if k not in NORMALIZED}


def record_of(event: ApiEvent) -> dict[str, Any]:
    """The CloudTrail record `event` was read from (as close as the event allows)."""
    base = {**_synthesized(event), **event.extra}
    base["requestParameters"] = dict(event.request) or None
    base["responseElements"] = dict(event.response) or None
    return base


def _synthesized(event: ApiEvent) -> dict[str, Any]:
    """A record from the normalized fields, for events that carry no `extra`."""
    identity: dict[str, Any] = {"type": event.principal_type, "arn": event.principal_arn,
                                "accountId": event.account}
    if event.access_key_id:
        identity["accessKeyId"] = event.access_key_id
    if event.user_name:
        identity["userName"] = event.user_name
    record: dict[str, Any] = {
        "eventVersion": "1.08", "eventID": event.event_id, "eventTime": event.time.isoformat(),
        "eventSource": event.service, "eventName": event.name, "awsRegion": event.region,
        "recipientAccountId": event.account, "userIdentity": identity,
        "sourceIPAddress": event.source_ip, "userAgent": event.user_agent,
        "readOnly": event.read_only, "eventType": "AwsApiCall",
    }
    if event.error_code:
        record["errorCode"] = event.error_code
    return record


class Fields:
    """A record's values by dotted name, each name walked once per record."""

    __slots__ = ("_cache", "_leaves", "data")

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = data
        self._cache: dict[tuple[str, ...], list[Any]] = {}
        self._leaves: list[Any] | None = None

    def values(self, path: tuple[str, ...]) -> list[Any]:
        """Every value at `path` (lists on the way and at the end are walked through); an
        object at the end is one value too (it matches nothing but `exists`)."""
        found = self._cache.get(path)
        if found is None:
            found = self._cache[path] = walk(self.data, path)
        return found

    def leaves(self) -> list[Any]:
        """Every scalar anywhere in the record, for Sigma's keyword (field-less) search."""
        if self._leaves is None:
            self._leaves = list(_scalars(self.data))
        return self._leaves


def walk(data: Any, path: tuple[str, ...]) -> list[Any]:
    """The values at a dotted path (see Fields.values)."""
    nodes = [data]
    for key in path:
        step: list[Any] = []
        for node in _spread(nodes):
            if isinstance(node, Mapping) and key in node:
                step.append(node[key])
        if not step:
            return []
        nodes = step
    return [n for n in _spread(nodes) if n is not None]


def _spread(nodes: list[Any]) -> Iterator[Any]:
    for node in nodes:
        if isinstance(node, list):
            yield from _spread(node)
        else:
            yield node


def _scalars(value: Any) -> Iterator[Any]:
    if isinstance(value, Mapping):
        for item in value.values():
            yield from _scalars(item)
    elif isinstance(value, list):
        for item in value:
            yield from _scalars(item)
    elif value is not None:
        yield value
