"""What a principal did, and what each of its calls created or changed (pure).

An analyst's first question about a leaked key is "what else did it do?": every finding tied to
a principal carries that principal's non-read calls around the finding, grouped by API name
(`principal_activity`); whether a call came from an SDK or a new address is judged against the
same history. The second is "what must be removed?": `effect` names what a call created or
changed. Reading the CloudTrail record itself (its request and response, world-open rules,
launched instances, read-only and failed calls) is costguard/api_calls.py's job; this module only
builds on it.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from fnmatch import fnmatchcase
from typing import Any

from costguard.activity.api_calls import (
    failed,
    is_read,
    key_pair_name,
    launch_groups,
    launched_instances,
    listed,
    normalized_cidr,
    request,
    response,
    unique,
    world_rules,
)
from costguard.activity.event_records import PrincipalType
from costguard.snapshot import ApiEvent

ROOT_TYPE = PrincipalType.ROOT
"""CloudTrail's userIdentity.type for the root user (the checks compare principal_type to it)."""

ACTIVITY_MARGIN = timedelta(hours=1)
"""How far before the first and after the last related event a principal's activity is shown."""


def by_principal(events: Iterable[ApiEvent]) -> dict[str, list[ApiEvent]]:
    """Events per principal ARN, oldest first, so each finding scans only its principal's calls."""
    index: dict[str, list[ApiEvent]] = {}
    for event in sorted(events, key=lambda e: (e.time, e.event_id)):
        if event.principal_arn:
            index.setdefault(event.principal_arn, []).append(event)
    return index


def group_calls(events: Iterable[ApiEvent]) -> list[dict[str, Any]]:
    """Calls grouped by (service, API name), in order of each group's first call."""
    groups: dict[tuple[str, str], list[ApiEvent]] = {}
    for event in sorted(events, key=lambda e: (e.time, e.event_id)):
        groups.setdefault((event.service, event.name), []).append(event)
    return [
        {
            "name": name,
            "service": service,
            "count": len(calls),
            "failed": sum(1 for e in calls if failed(e)),
            "regions": unique(e.region for e in calls),
            "source_ips": unique(e.source_ip for e in calls),
            "user_agents": unique(e.user_agent for e in calls),
            "first": calls[0].time.isoformat(),
            "last": calls[-1].time.isoformat(),
        }
        for (service, name), calls in groups.items()
    ]


def principal_activity(
    events: Iterable[ApiEvent], principal_arn: str, start: datetime, end: datetime
) -> dict[str, Any]:
    """`principal_arn`'s non-read calls from `start` to `end`, grouped by API (JSON-ready)."""
    mine = [
        e
        for e in events
        if e.principal_arn == principal_arn and start <= e.time <= end and not is_read(e)
    ]
    return {
        "principal": principal_arn,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "total": len(mine),
        "calls": group_calls(mine),
        "regions": unique(e.region for e in mine),
        "source_ips": unique(e.source_ip for e in mine),
        "user_agents": unique(e.user_agent for e in mine),
    }


def activity_window(times: Iterable[datetime]) -> tuple[datetime, datetime]:
    """From an hour before the first related event to an hour after the last."""
    ordered = sorted(times)
    return ordered[0] - ACTIVITY_MARGIN, ordered[-1] + ACTIVITY_MARGIN


def principal_details(
    events: Iterable[ApiEvent],
    principal_arn: str | None,
    times: Sequence[datetime],
    *,
    source_ips: Iterable[str | None] = (),
    user_agents: Iterable[str | None] = (),
) -> dict[str, Any]:
    """The keys every principal-tied finding carries in its details.

    `activity` is the principal's non-read calls around `times` (None without a principal or
    a time); `source_ips` and `user_agents` are those of the finding's own evidence (the
    incident's scope reads them); `api_calls` names what the principal called in the window.
    """
    activity = None
    if principal_arn and times:
        start, end = activity_window(times)
        activity = principal_activity(events, principal_arn, start, end)
    return {
        "activity": activity,
        "source_ips": unique(source_ips),
        "user_agents": unique(user_agents),
        "api_calls": [c["name"] for c in activity["calls"]] if activity else [],
    }


# --- what a principal's history says about a call ---------------------------------------------


def sdk_agent(event: ApiEvent, patterns: Iterable[str]) -> bool:
    """Whether the call came from an SDK or CLI (case-insensitive globs on the user agent):
    people click in the console, scripts holding a stolen key do not."""
    agent = (event.user_agent or "").lower()
    return bool(agent) and any(fnmatchcase(agent, p.lower()) for p in patterns)


def new_address(
    event: ApiEvent, history: Iterable[ApiEvent], days: float, min_age: timedelta
) -> bool:
    """Whether the principal never used the call's source address in the `days` before it,
    counting only uses at least `min_age` older than the call (so an attacker's own first
    calls from an address do not vouch for the rest of the burst). Non-addresses ("AWS
    Internal", a service name) are never new."""
    try:
        ipaddress.ip_address(event.source_ip or "")
    except ValueError:
        return False
    oldest, newest = event.time - timedelta(days=days), event.time - min_age
    return not any(h.source_ip == event.source_ip and oldest <= h.time <= newest for h in history)


# --- what a call created or changed ----------------------------------------------------------


def public_statements(event: ApiEvent) -> list[dict[str, Any]]:
    """Statements of a PutBucketPolicy call that allow anyone ("*") with no condition."""
    policy = request(event).get("bucketPolicy")
    if isinstance(policy, str):
        try:
            policy = json.loads(policy)
        except ValueError:
            return []
    statements = policy.get("Statement") if isinstance(policy, Mapping) else None
    statements = [statements] if isinstance(statements, Mapping) else statements
    if not isinstance(statements, list):
        return []
    return [
        dict(s) for s in statements
        if isinstance(s, Mapping) and s.get("Effect") == "Allow"
        and _anyone(s.get("Principal")) and not s.get("Condition")
    ]


def _anyone(principal: Any) -> bool:
    """Principal "*" or {"AWS": "*"} (or a list holding "*"): everyone, signed in or not."""
    if principal == "*":
        return True
    values = principal.values() if isinstance(principal, Mapping) else ()
    return any(v == "*" or (isinstance(v, list) and "*" in v) for v in values)


@dataclass(frozen=True)
class Effect:
    """What one call created or changed: the name of the finding about it, what to show and
    remove (`created`), and the incident entities it adds.

    `resource` is what the call created (the first instance's ARN for RunInstances, the key
    pair, group or user ARN, the access key id; the event id when a failed call created
    nothing) or, for a call that changes an existing resource, that resource's ARN followed by
    "#" and the call, since one resource can be both created and changed (a group created, then
    opened) and each is its own finding.
    """

    resource: str
    created: dict[str, Any]
    entities: tuple[str, ...] = ()


def effect(event: ApiEvent) -> Effect | None:
    """The effect of one of the watched calls, or None for any other call (or one too
    incomplete to name what it touched)."""
    build = _EFFECTS.get(event.name)
    return build(event) if build else None


def _ec2(e: ApiEvent, path: str) -> str:
    return f"arn:aws:ec2:{e.region}:{e.account}:{path}"


def _user(e: ApiEvent, name: str | None) -> tuple[str | None, str | None]:
    """(user name, ARN) of a named user, else of the caller itself (root's credential-report
    row is "<root_account>")."""
    if name:
        return name, f"arn:aws:iam::{e.account}:user/{name}"
    if e.principal_type == ROOT_TYPE:
        return "<root_account>", f"arn:aws:iam::{e.account}:root"
    if e.principal_type == PrincipalType.IAM_USER:
        return e.user_name, e.principal_arn
    return None, None


def _key_pair(e: ApiEvent) -> Effect | None:
    out, name = response(e), key_pair_name(e)
    if not name:
        return None
    made = {"key_name": name, "key_pair_id": out.get("keyPairId"),
            "key_fingerprint": out.get("keyFingerprint")}
    resource = _ec2(e, f"key-pair/{made['key_pair_id'] or name}")
    return Effect(resource, made, (f"keypair:{e.account}:{e.region}:{name}",))


def _group(e: ApiEvent) -> Effect:
    gid = response(e).get("groupId")
    made = {"group_id": gid, "group_name": request(e).get("groupName"),
            "vpc_id": request(e).get("vpcId")}
    return Effect(_ec2(e, f"security-group/{gid}") if gid else e.event_id, made,
                  (f"sg:{gid}",) if gid else ())


def _ingress(e: ApiEvent) -> Effect | None:
    params, rules = request(e), world_rules(e)
    # The response's rule set has the id even when a default-VPC group was named by name.
    answered = listed(response(e).get("securityGroupRuleSet"))
    gid = params.get("groupId") or next((r.get("groupId") for r in answered), None)
    name = params.get("groupName")
    if not rules or not (gid or name):
        return None
    made = {"group_id": gid, "group_name": name, "rules": [
        {"protocol": r.protocol, "from_port": r.from_port, "to_port": r.to_port,
         "cidr": normalized_cidr(r.cidrs[0]) or r.cidrs[0], "cidr_as_written": r.cidrs[0]}
        for r in rules]}
    return Effect(f"{_ec2(e, f'security-group/{gid or name}')}#{e.name}", made,
                  (f"sg:{gid}",) if gid else ())


def _run(e: ApiEvent) -> Effect:
    started = launched_instances(e)
    asked = [int(i.get("maxCount") or i.get("minCount") or 1)
             for i in listed(request(e).get("instancesSet"))]
    key, groups = request(e).get("keyName"), launch_groups(e)
    made = {"instances": [{"instance_id": i.instance_id, "instance_type": i.instance_type}
                          for i in started],
            "count": len(started) or sum(asked) or 1,
            "instance_types": unique([i.instance_type for i in started]
                                     or [request(e).get("instanceType")]),
            "key_name": key, "security_groups": groups}
    entities = [f"instance:{i.instance_id}" for i in started] + [f"sg:{g}" for g in groups]
    entities += [f"keypair:{e.account}:{e.region}:{key}"] if key else []
    resource = _ec2(e, f"instance/{started[0].instance_id}") if started else e.event_id
    return Effect(resource, made, tuple(entities))


def _new_user(e: ApiEvent) -> Effect | None:
    user = response(e, "user")
    name = request(e).get("userName") or user.get("userName")
    if not name:
        return None
    arn = user.get("arn") or f"arn:aws:iam::{e.account}:user/{name}"
    return Effect(arn, {"user_name": name, "user_arn": arn}, (f"principal:{arn}",))


def _access_key(e: ApiEvent) -> Effect:
    # Without a userName the key is the caller's own; the response names the user then.
    made_key = response(e, "accessKey")
    key = made_key.get("accessKeyId")
    user, arn = _user(e, request(e).get("userName") or made_key.get("userName"))
    entities = ([f"access_key:{key}"] if key else []) + ([f"principal:{arn}"] if arn else [])
    made = {"access_key_id": key, "user_name": user, "user_arn": arn}
    return Effect(key or e.event_id, made, tuple(entities))


def _user_change(e: ApiEvent) -> Effect | None:
    """CreateLoginProfile and AttachUserPolicy: a change to an existing user."""
    user, arn = _user(e, request(e).get("userName"))
    if arn is None:
        return None
    policy = request(e).get("policyArn")
    made = {"user_name": user, "user_arn": arn, "policy_arns": [policy] if policy else []}
    return Effect(f"{arn}#{e.name}", made, (f"principal:{arn}",))


def _trail(e: ApiEvent) -> Effect | None:
    name = str(request(e).get("name") or "")
    if not name:
        return None
    arn = name if name.startswith("arn:") else (
        f"arn:aws:cloudtrail:{e.region}:{e.account}:trail/{name}")
    parts = arn.split(":")
    home = parts[3] if len(parts) > 3 and parts[3] else e.region
    made = {"trail_name": arn.rsplit("/", 1)[-1], "trail_arn": arn, "trail_region": home}
    return Effect(f"{arn}#{e.name}", made)


def _detector(e: ApiEvent) -> Effect | None:
    detector = request(e).get("detectorId")
    if not detector:
        return None
    arn = f"arn:aws:guardduty:{e.region}:{e.account}:detector/{detector}"
    return Effect(f"{arn}#{e.name}", {"detector_id": detector})


def _bucket(e: ApiEvent) -> Effect | None:
    bucket = request(e).get("bucketName")
    if not bucket:
        return None
    made = {"bucket_name": bucket, "public_statements": public_statements(e)}
    return Effect(f"arn:aws:s3:::{bucket}#{e.name}", made)


_EFFECTS: dict[str, Callable[[ApiEvent], Effect | None]] = {
    "ImportKeyPair": _key_pair, "CreateKeyPair": _key_pair, "CreateSecurityGroup": _group,
    "AuthorizeSecurityGroupIngress": _ingress, "RunInstances": _run, "CreateUser": _new_user,
    "CreateAccessKey": _access_key, "CreateLoginProfile": _user_change,
    "AttachUserPolicy": _user_change, "StopLogging": _trail, "DeleteTrail": _trail,
    "DeleteDetector": _detector, "PutBucketPolicy": _bucket,
}
