"""IAM calls that hand out power or a way in, read from their CloudTrail records: a managed
policy attached or an inline policy put on a user, role or group (and whether it makes them an
administrator), the calls that take it back, and new access keys and console passwords.

Pure: the `iam_admin_grant` check decides on these. Every name in a record was chosen by the
caller, so nothing here interprets one beyond copying it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from costguard.activity.api_calls import failed, request, response, service_of
from costguard.activity.event_records import PrincipalType
from costguard.model import StrEnum
from costguard.snapshot import ApiEvent

ADMINISTRATOR_ACCESS = "arn:aws:iam::aws:policy/AdministratorAccess"
ANY_ACTION = ("*", "*:*")
"""An Action that allows every call of every service."""


class GranteeKind(StrEnum):
    """What an IAM policy can be attached to; the values are the words in its ARN."""

    USER = "user"
    ROLE = "role"
    GROUP = "group"


class Credential(StrEnum):
    """A way to sign in that a call created for a user."""

    ACCESS_KEY = "CreateAccessKey"
    PASSWORD = "CreateLoginProfile"


_KINDS = {"User": GranteeKind.USER, "Role": GranteeKind.ROLE, "Group": GranteeKind.GROUP}
_NAME_KEYS = {GranteeKind.USER: "userName", GranteeKind.ROLE: "roleName",
              GranteeKind.GROUP: "groupName"}
_CALL = re.compile(r"^(Attach|Put|Detach|Delete)(User|Role|Group)Policy$|^Delete(User|Role|Group)$")
_PERCENT = re.compile(rb"%([0-9A-Fa-f]{2})")


@dataclass(frozen=True)
class Grantee:
    """The user, role or group a policy was given to."""

    account: str
    kind: GranteeKind
    name: str

    @property
    def arn(self) -> str:
        """Its ARN, without the path (CloudTrail's request names it by name only)."""
        return f"arn:aws:iam::{self.account}:{self.kind.value}/{self.name}"


@dataclass(frozen=True)
class Grant:
    """A successful call that gave a grantee administrator rights."""

    event: ApiEvent
    grantee: Grantee
    policy_arn: str | None = None
    """The managed policy attached (Attach*Policy)."""
    policy_name: str | None = None
    """The inline policy put (Put*Policy)."""
    statements: tuple[Mapping[str, Any], ...] = ()
    """The inline policy's statements that allow everything."""


@dataclass(frozen=True)
class NewCredential:
    """A successful CreateAccessKey or CreateLoginProfile, and for which user."""

    event: ApiEvent
    kind: Credential
    user_name: str
    access_key_id: str | None = None


def _iam_call(event: ApiEvent) -> tuple[str, GranteeKind] | None:
    """(verb, grantee kind) of a successful IAM policy or delete call, else None."""
    if service_of(event) != "iam" or failed(event):
        return None
    match = _CALL.match(event.name)
    if match is None:
        return None
    verb, kind = (match.group(1), match.group(2)) if match.group(1) else ("Delete", match.group(3))
    return verb, _KINDS[kind]


def _grantee(event: ApiEvent, kind: GranteeKind) -> Grantee | None:
    name = request(event).get(_NAME_KEYS[kind])
    return Grantee(event.account, kind, name) if isinstance(name, str) and name else None


def admin_grant(event: ApiEvent, admin_policy_arns: Iterable[str]) -> Grant | None:
    """The administrator grant a call made: one of `admin_policy_arns` attached, or an inline
    policy allowing every action on every resource; None for anything else (failed calls too)."""
    call = _iam_call(event)
    if call is None or call[0] not in ("Attach", "Put"):
        return None
    grantee = _grantee(event, call[1])
    if grantee is None:
        return None
    params = request(event)
    if call[0] == "Attach":
        arn = params.get("policyArn")
        admin = isinstance(arn, str) and arn in tuple(admin_policy_arns)
        return Grant(event, grantee, policy_arn=arn) if admin else None
    statements = admin_statements(policy_document(params.get("policyDocument")))
    name = params.get("policyName")
    if not statements or not isinstance(name, str):
        return None
    return Grant(event, grantee, policy_name=name, statements=tuple(statements))


def takes_back(event: ApiEvent, grant: Grant) -> bool:
    """Whether a later successful call undid `grant`: the policy detached or deleted, the inline
    policy replaced by one that is not an administrator's, or the grantee deleted."""
    call = _iam_call(event)
    if call is None or event.time < grant.event.time or event.event_id == grant.event.event_id:
        return False
    verb, kind = call
    if _grantee(event, kind) != grant.grantee:
        return False
    if not event.name.endswith("Policy"):
        return True  # DeleteUser, DeleteRole, DeleteGroup: the grantee is gone
    params = request(event)
    if grant.policy_arn is not None:
        return verb == "Detach" and params.get("policyArn") == grant.policy_arn
    if params.get("policyName") != grant.policy_name:
        return False
    document = policy_document(params.get("policyDocument"))
    return verb == "Delete" or (verb == "Put" and not admin_statements(document))


def new_credential(event: ApiEvent) -> NewCredential | None:
    """The access key or console password a successful call created, and for whom: the named
    user, else the calling IAM user itself."""
    if service_of(event) != "iam" or failed(event):
        return None
    try:
        kind = Credential(event.name)
    except ValueError:
        return None
    made = response(event, "accessKey")
    name = request(event).get("userName") or made.get("userName")
    if not name and event.principal_type == PrincipalType.IAM_USER:
        name = event.user_name
    if not isinstance(name, str) or not name:
        return None
    key = made.get("accessKeyId") if kind is Credential.ACCESS_KEY else None
    return NewCredential(event, kind, name, key if isinstance(key, str) else None)


def policy_document(value: Any) -> Mapping[str, Any] | None:
    """A policy document from a request: JSON text, URL-encoded in some records (the console's
    calls); None when it is neither."""
    if isinstance(value, Mapping):
        return value
    if not isinstance(value, str):
        return None
    text = value.strip()
    candidates = [text] if text.startswith("{") else [
        _percent_decoded(text), _percent_decoded(text.replace("+", " "))]
    for candidate in candidates:
        try:
            document = json.loads(candidate)
        except ValueError:
            continue
        return document if isinstance(document, Mapping) else None
    return None


def _percent_decoded(text: str) -> str:
    # urllib.parse.unquote would do, but urllib is a network package and the pure layers may
    # not import it (setup.cfg, contract pure-checks).
    raw = _PERCENT.sub(lambda m: bytes([int(m.group(1), 16)]), text.encode("utf-8"))
    return raw.decode("utf-8", errors="replace")


def admin_statements(document: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The statements of a policy document that allow every action ("*" or "*:*") on every
    resource ("*")."""
    found = document.get("Statement") if isinstance(document, Mapping) else None
    statements = [found] if isinstance(found, Mapping) else found
    if not isinstance(statements, list):
        return []
    return [
        dict(s) for s in statements
        if isinstance(s, Mapping) and s.get("Effect") == "Allow"
        and _names(s.get("Action"), ANY_ACTION) and _names(s.get("Resource"), ("*",))
    ]


def _names(value: Any, wanted: tuple[str, ...]) -> bool:
    """Whether a policy element (a string or a list of them) holds one of `wanted`."""
    values = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    return any(v in wanted for v in values)


def mfa_enabled(events: Iterable[ApiEvent]) -> dict[tuple[str, str], list[ApiEvent]]:
    """Successful EnableMFADevice calls by (account, user name): a user given MFA right after
    it was created is a person being set up, not a backdoor."""
    found: dict[tuple[str, str], list[ApiEvent]] = {}
    for event in events:
        if event.name == "EnableMFADevice" and service_of(event) == "iam" and not failed(event):
            name = request(event).get("userName") or event.user_name
            if isinstance(name, str) and name:
                found.setdefault((event.account, name), []).append(event)
    return found
