"""The credential that made a call, and how a responder takes it away (pure).

The first thing a playbook must say after a leaked key is which key, and the command that
stops it: an IAM user's access key is deactivated (`update-access-key --status Inactive`); a
role's sessions, whose temporary keys cannot be deactivated, are revoked by putting the inline
deny policy the IAM console calls "revoke active sessions" (`AWSRevokeOlderSessions`, denying
everything to tokens issued before now) on the role; the root user's key only its owner can
delete in the console. Every finding about a call carries this as `details["callers"]` and
names each calling key as a `caller_key:` entity (besides `access_key:`), so the playbook can
put it first.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from costguard.activity.event_records import PrincipalType
from costguard.model import StrEnum
from costguard.snapshot import ApiEvent

CALLER_KEY = "caller_key"
"""Entity prefix of the access key that signed a call (`caller_key:AKIA...`)."""
REVOKE_POLICY_NAME = "AWSRevokeOlderSessions"


class Containment(StrEnum):
    """How the calling credential is taken away."""

    DEACTIVATE_KEY = "deactivate_key"
    REVOKE_SESSIONS = "revoke_sessions"
    ROOT_KEY = "root_key"
    NONE = "none"


def role_name(event: ApiEvent) -> str | None:
    """The role of an assumed-role session ("arn:aws:sts::A:assumed-role/ROLE/SESSION")."""
    arn = event.principal_arn or ""
    if ":assumed-role/" not in arn:
        return None
    return arn.split(":assumed-role/", 1)[1].split("/")[0] or None


def containment(event: ApiEvent) -> Containment:
    """What takes the credential of this call away."""
    if event.principal_type == PrincipalType.ROOT:
        return Containment.ROOT_KEY
    if event.principal_type == PrincipalType.IAM_USER and event.access_key_id and event.user_name:
        return Containment.DEACTIVATE_KEY
    if role_name(event):
        return Containment.REVOKE_SESSIONS
    return Containment.NONE


def revoke_policy(issued_before: datetime) -> dict[str, Any]:
    """The inline policy that denies a role everything for tokens issued before a time."""
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "Action": ["*"], "Resource": ["*"],
        "Condition": {"DateLessThan": {"aws:TokenIssueTime": issued_before.isoformat()}},
    }]}


def caller(event: ApiEvent, now: datetime) -> dict[str, Any]:
    """The calling credential as finding details (JSON-ready)."""
    how = containment(event)
    return {
        "principal": event.principal_arn, "principal_type": event.principal_type,
        "access_key_id": event.access_key_id, "user_name": event.user_name,
        "role_name": role_name(event), "containment": how.value,
        "revoke_policy": json.dumps(revoke_policy(now), separators=(",", ":"))
        if how is Containment.REVOKE_SESSIONS else None,
    }


def callers(events: Iterable[ApiEvent], now: datetime) -> list[dict[str, Any]]:
    """Each distinct calling credential once, in order of first use."""
    seen: dict[tuple[str | None, str | None], dict[str, Any]] = {}
    for event in sorted(events, key=lambda e: (e.time, e.event_id)):
        seen.setdefault((event.principal_arn, event.access_key_id), caller(event, now))
    return list(seen.values())


def caller_entities(events: Iterable[ApiEvent]) -> list[str]:
    """`principal:`, `access_key:` and `caller_key:` entities of the calls' credentials."""
    out: list[str] = []
    for event in events:
        names = [f"principal:{event.principal_arn}"] if event.principal_arn else []
        if event.access_key_id:
            names += [f"access_key:{event.access_key_id}", f"{CALLER_KEY}:{event.access_key_id}"]
        out += [n for n in names if n not in out]
    return out
