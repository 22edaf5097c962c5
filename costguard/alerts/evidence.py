"""What an incident's findings name, read the same way whatever check made them.

The merged playbook and the money facts must not depend on which checks fired (Sigma rules and
new event checks join incidents too), so they read two shared vocabularies instead of check ids:

- **entities** (`costguard.model.Finding`): `instance:ID`, `sg:ID`, `keypair:ACCOUNT:REGION:NAME`,
  `access_key:AKIA...`, `principal:ARN`; and the check's playbook **phase**, which says whether
  the instances a finding names are the incident's own (contain and stop-spend findings are about
  them; a close finding such as an open group also names the bystanders that use it);
- **details** keys the activity and spend layers give every finding that carries them: who used
  an access key (`access_key_id` beside `caller`, `principal_arn`, `launcher` or `principal`;
  `access_key_ids` beside `principal`), what a call created (`call` with `created`, as
  `costguard.activity.principals.effect` describes it; `new_access_key_id` beside `user_name`;
  `grants` and `credentials` of a `grantee_kind`/`grantee_name`), a group's world-open `rules`
  beside its `group_id`, an instance's `usd_per_hour` beside its `instance_id` and launch time.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from costguard.checks.base import Phase
from costguard.model import GLOBAL_REGION, StrEnum

INSTANCE, GROUP, KEY_PAIR, ACCESS_KEY, PRINCIPAL = (
    "instance:", "sg:", "keypair:", "access_key:", "principal:")
ROOT_USER = "<root_account>"
"""How CloudTrail and the credential report name the root user where a user name goes."""
OWN_INSTANCES = frozenset({Phase.CONTAIN, Phase.STOP_SPEND})
"""Phases whose findings' instance entities are the incident's own instances."""
_OWNER_FIELDS = ("caller", "principal_arn", "launcher", "principal")
_MAX_DEPTH = 4


class Shown(Protocol):
    """What the playbook reads of a finding: an `AlertFinding` or a stored finding."""

    check: str
    account: str
    region: str
    details: Mapping[str, Any]
    entities: Iterable[str]


PhaseOf = Callable[[str], "Phase | None"]
"""A check id's playbook phase (None for a check the registry does not know)."""


def phase_lookup(registry: Any) -> PhaseOf:
    """`PhaseOf` for a check registry (`costguard.checks.Registry`)."""
    def phase_of(check: str) -> Phase | None:
        return getattr(registry.get(check), "phase", None)
    return phase_of


@dataclass(frozen=True)
class Place:
    """An account and region."""

    account: str
    region: str


class OwnerKind(StrEnum):
    """Who an access key belongs to, which decides how it is switched off."""

    ROOT = "root"
    USER = "user"
    ROLE = "role"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Owner:
    """The owner of an access key: the root user, an IAM user or a role (by name)."""

    kind: OwnerKind
    name: str | None = None


_ROOT_ARN = re.compile(r"^arn:aws[\w-]*:iam::\d{12}:root$")
_USER_ARN = re.compile(r"^arn:aws[\w-]*:iam::\d{12}:user/(?:.*/)?([^/]+)$")
_ROLE_ARN = re.compile(r"^arn:aws[\w-]*:(?:sts::\d{12}:assumed-role|iam::\d{12}:role)/([^/]+)")


def owner_of(who: Any) -> Owner:
    """The owner a principal ARN or a user name stands for."""
    if not isinstance(who, str) or not who:
        return Owner(OwnerKind.UNKNOWN)
    if who == ROOT_USER or _ROOT_ARN.match(who):
        return Owner(OwnerKind.ROOT)
    for pattern, kind in ((_USER_ARN, OwnerKind.USER), (_ROLE_ARN, OwnerKind.ROLE)):
        found = pattern.match(who)
        if found:
            return Owner(kind, found.group(1))
    return Owner(OwnerKind.UNKNOWN) if who.startswith("arn:") else Owner(OwnerKind.USER, who)


@dataclass(frozen=True)
class KeyUse:
    """An access key the incident names: whose it is and whether the incident made it."""

    key_id: str
    account: str
    owner: Owner
    created: bool = False


@dataclass(frozen=True)
class OpenGroup:
    """A security group of the incident with the world-open rules its findings name."""

    place: Place
    group_id: str
    name: str | None
    permissions: tuple[Mapping[str, Any], ...]
    rules: tuple[str, ...]


class Made(StrEnum):
    """What an incident left behind to come back with, besides access keys."""

    USER = "user"
    ROLE = "role"
    LOGIN_PROFILE = "login_profile"
    POLICY = "policy"
    INLINE_POLICY = "inline_policy"


@dataclass(frozen=True)
class Persistence:
    """One thing made during the incident: an identity, a password or an admin grant to it.
    `holder` is the IAM kind (user, role, group) that `name` is; `policy` the ARN or name."""

    made: Made
    account: str
    name: str
    holder: str = "user"
    policy: str | None = None


def dicts(value: Any, parent: str | None = None, depth: int = 0,
          ) -> Iterator[tuple[str | None, Mapping[str, Any]]]:
    """Every mapping in a finding's details with the key it hangs under (lists pass the key
    through), at most a few levels down."""
    if depth > _MAX_DEPTH:
        return
    if isinstance(value, Mapping):
        yield parent, value
        for key, inner in value.items():
            yield from dicts(inner, str(key), depth + 1)
    elif isinstance(value, list | tuple):
        for inner in value:
            yield from dicts(inner, parent, depth + 1)


def entities(finding: Shown, prefix: str) -> list[str]:
    """The values of a finding's entities of one kind, sorted."""
    return sorted(e[len(prefix):] for e in finding.entities if e.startswith(prefix))


def incident_instances(findings: Sequence[Shown], phase_of: PhaseOf) -> dict[str, Place]:
    """Instance id -> where it runs, for the incident's own instances: those its contain and
    stop-spend findings name, and those a call of the incident launched. Instances that only
    share a group or an account with them are not the incident's."""
    found: dict[str, Place] = {}
    for f in findings:
        if f.region == GLOBAL_REGION:
            continue
        ids = entities(f, INSTANCE) if phase_of(f.check) in OWN_INSTANCES else []
        ids += _launched(f.details)
        for instance_id in ids:
            found.setdefault(instance_id, Place(f.account, f.region))
    return found


def _launched(details: Mapping[str, Any]) -> list[str]:
    created = details.get("created")
    listed = created.get("instances") if isinstance(created, Mapping) else None
    return [str(i["instance_id"]) for i in listed or () if isinstance(i, Mapping)
            and i.get("instance_id")] if not details.get("error_code") else []


def instance_facts(findings: Sequence[Shown], wanted: Iterable[str]) -> dict[str, dict[str, Any]]:
    """For each wanted instance, the first price (`usd_per_hour`) and earliest launch time any
    finding's details give it."""
    want = set(wanted)
    facts: dict[str, dict[str, Any]] = {}
    for f in findings:
        for _, d in dicts(f.details):
            instance_id = d.get("instance_id")
            if instance_id not in want:
                continue
            seen = facts.setdefault(str(instance_id), {"usd_per_hour": None, "launched_at": None})
            if seen["usd_per_hour"] is None and isinstance(d.get("usd_per_hour"), int | float):
                seen["usd_per_hour"] = float(d["usd_per_hour"])
            launched = _time(d.get("launch_time") or d.get("launched_at"))
            if launched and (seen["launched_at"] is None or launched < seen["launched_at"]):
                seen["launched_at"] = launched
    return facts


def _time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def key_pairs(findings: Sequence[Shown]) -> list[tuple[Place, str]]:
    """Every key pair the incident names, with where it is, by account and region."""
    found: set[tuple[str, str, str]] = set()
    for f in findings:
        for value in entities(f, KEY_PAIR):
            account, region, name = [*value.split(":", 2), "", ""][:3]
            if name:
                found.add((account, region, name))
    return [(Place(a, r), n) for a, r, n in sorted(found)]


def open_groups(findings: Sequence[Shown]) -> list[OpenGroup]:
    """The incident's groups that findings show open to the internet, each with every open
    rule once (the exact `ip_permission` that revokes it)."""
    ids = {g for f in findings for g in entities(f, GROUP)}
    groups: dict[str, dict[str, Any]] = {}
    for f in findings:
        for _, d in dicts(f.details):
            gid = d.get("group_id")
            if gid in ids and isinstance(d.get("rules"), list) and f.region != GLOBAL_REGION:
                seen = groups.setdefault(gid, {"place": Place(f.account, f.region), "name": None,
                                               "rules": {}})
                seen["name"] = seen["name"] or d.get("group_name")
                for rule in d["rules"]:
                    _add_rule(seen["rules"], rule)
    return [OpenGroup(g["place"], gid, g["name"], tuple(p for p, _ in g["rules"].values()),
                      tuple(text for _, text in g["rules"].values()))
            for gid, g in sorted(groups.items()) if g["rules"]]


def _add_rule(rules: dict[str, tuple[Mapping[str, Any], str]], rule: Any) -> None:
    permission = rule.get("ip_permission") if isinstance(rule, Mapping) else None
    if isinstance(permission, Mapping):
        key = json.dumps(permission, sort_keys=True)
        rules.setdefault(key, (permission, rule_text(rule)))


def rule_text(rule: Mapping[str, Any]) -> str:
    """"tcp 22 from 0.0.0.0/0", "all traffic from ::/0"."""
    protocol, low, high = rule.get("protocol"), rule.get("from_port"), rule.get("to_port")
    if protocol in ("-1", -1, "all"):
        what = "all traffic"
    elif low is None or low == high:
        what = f"{protocol} {low if low is not None else 'all ports'}"
    else:
        what = f"{protocol} {low}-{high}"
    return f"{what} from {rule.get('cidr') or 'anywhere'}"


def access_keys(findings: Sequence[Shown]) -> list[KeyUse]:
    """Every access key the incident names, in the order first named, with its owner and
    whether a call of the incident created it."""
    accounts: dict[str, str] = {}
    for f in findings:
        for key in entities(f, ACCESS_KEY):
            accounts.setdefault(key, f.account)
    owners, created = _stated_owners(findings)
    return [KeyUse(key, account, owners.get(key) or _co_named(findings, key), key in created)
            for key, account in accounts.items()]


def _stated_owners(findings: Sequence[Shown]) -> tuple[dict[str, Owner], set[str]]:
    """Key -> owner wherever a finding's details put a key beside its owner; and the keys
    created by a call of the incident."""
    owners: dict[str, Owner] = {}
    created: set[str] = set()
    for f in findings:
        for parent, d in dicts(f.details):
            for key, owner, made in _pairs(parent, d):
                if owner.kind is not OwnerKind.UNKNOWN:
                    owners.setdefault(key, owner)
                if made:
                    created.add(key)
    return owners, created


def _pairs(parent: str | None, d: Mapping[str, Any]) -> Iterator[tuple[str, Owner, bool]]:
    """(key, owner, created) for the key fields of one mapping."""
    if isinstance(d.get("new_access_key_id"), str):
        yield d["new_access_key_id"], owner_of(d.get("user_name")), True
    key = d.get("access_key_id")
    if isinstance(key, str) and key:
        made = parent == "created"
        yield key, owner_of(d.get("user_arn") or d.get("user_name")) if made else _user(d), made
    principal, listed = d.get("principal"), d.get("access_key_ids")
    if isinstance(principal, str) and isinstance(listed, list):
        for each in listed:
            yield str(each), owner_of(principal), False


def _user(d: Mapping[str, Any]) -> Owner:
    """Who used the key of one mapping: its caller, or GuardDuty's user type and name."""
    if d.get("user_type") == "Root":
        return Owner(OwnerKind.ROOT)
    if d.get("user_type") == "AssumedRole" and isinstance(d.get("user_name"), str):
        return Owner(OwnerKind.ROLE, d["user_name"])
    return owner_of(next((d[f] for f in _OWNER_FIELDS if isinstance(d.get(f), str)), None))


def _co_named(findings: Sequence[Shown], key: str) -> Owner:
    """The one principal named by every finding that names the key, when there is one."""
    common: set[str] | None = None
    for f in findings:
        if key in entities(f, ACCESS_KEY):
            named = set(entities(f, PRINCIPAL))
            common = named if common is None else common & named
    return owner_of(next(iter(common))) if common and len(common) == 1 else Owner(OwnerKind.UNKNOWN)


def persistence(findings: Sequence[Shown]) -> list[Persistence]:
    """What the incident's calls made to come back with, in the order first named: users and
    roles, console passwords, administrator policies (access keys are `access_keys`)."""
    found: dict[Persistence, None] = {}
    for f in findings:
        for item in (*_from_effect(f), *_from_grants(f)):
            found.setdefault(item)
    return list(found)


def _from_effect(f: Shown) -> Iterator[Persistence]:
    """What one successful call made (`call` and `created`, as the activity layer reads it)."""
    created, call = f.details.get("created"), f.details.get("call")
    if not isinstance(created, Mapping) or f.details.get("error_code"):
        return
    user, role = created.get("user_name"), created.get("role_name")
    if call == "CreateUser" and isinstance(user, str):
        yield Persistence(Made.USER, f.account, user)
    elif call == "CreateRole" and isinstance(role, str):
        yield Persistence(Made.ROLE, f.account, role, "role")
    elif call == "CreateLoginProfile" and isinstance(user, str) and user != ROOT_USER:
        yield Persistence(Made.LOGIN_PROFILE, f.account, user)
    elif call == "AttachUserPolicy" and isinstance(user, str):
        for arn in created.get("policy_arns") or ():
            yield Persistence(Made.POLICY, f.account, user, "user", str(arn))


def _from_grants(f: Shown) -> Iterator[Persistence]:
    """Administrator grants to one grantee and the passwords made for it."""
    name, holder = f.details.get("grantee_name"), f.details.get("grantee_kind")
    if not isinstance(name, str) or holder not in ("user", "role", "group"):
        return
    for grant in f.details.get("grants") or ():
        if isinstance(grant, Mapping) and grant.get("policy_arn"):
            yield Persistence(Made.POLICY, f.account, name, holder, str(grant["policy_arn"]))
        elif isinstance(grant, Mapping) and grant.get("policy_name"):
            yield Persistence(Made.INLINE_POLICY, f.account, name, holder,
                              str(grant["policy_name"]))
    for made in f.details.get("credentials") or ():
        if isinstance(made, Mapping) and made.get("password") and isinstance(
                made.get("user_name"), str):
            yield Persistence(Made.LOGIN_PROFILE, f.account, made["user_name"])
