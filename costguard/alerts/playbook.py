"""An incident's first actions: what a responder runs first, merged across findings and checks.

Ten findings about the same ten instances make one `stop-instances` per account and region, an
open group one `revoke-security-group-ingress` with all its world-open rules, whatever checks
saw them. The order is the response's: the calling key first (while it still works), then the
instances, the groups, the key pairs, then what the attacker made to come back (users, keys,
passwords, admin policies, roles). Each action is structured: the `aws` command as its words,
which templates quote one by one with the `sh` filter, or console steps where no command can do
it (the root user's key). The per-check remediation steps follow these with the details, and
skip the commands an action already gives (`covered`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from costguard.alerts.evidence import (
    ACCESS_KEY,
    GROUP,
    INSTANCE,
    KEY_PAIR,
    KeyUse,
    Made,
    OpenGroup,
    OwnerKind,
    Persistence,
    PhaseOf,
    Place,
    Shown,
    access_keys,
    incident_instances,
    key_pairs,
    open_groups,
    persistence,
)
from costguard.model import StrEnum
from costguard.text import short

ROOT_KEY, USER, ROLE, LOGIN_PROFILE, POLICY = (
    "root_key:", "user:", "role:", "login_profile:", "policy:")
"""What actions cover besides entities, for remediation templates: an account's root key
(`root_key:ACCOUNT`: templates that know the account but not the key id), a user or role
blocked, a console password removed, a policy taken back (`policy:HOLDER:NAME:POLICY`)."""
DENY_ALL = "arn:aws:iam::aws:policy/AWSDenyAll"
"""AWS's managed policy that denies every action: blocks a user or role at once, reversibly."""
CONSOLE = "https://console.aws.amazon.com/"


class ActionKind(StrEnum):
    """What an action does; members are in the order a responder works."""

    ROOT_KEY = "root_key"
    DEACTIVATE_KEY = "deactivate_key"
    ROLE_SESSIONS = "role_sessions"
    FIND_KEY_OWNER = "find_key_owner"
    STOP_INSTANCES = "stop_instances"
    REVOKE_INGRESS = "revoke_ingress"
    DELETE_KEY_PAIR = "delete_key_pair"
    BLOCK_USER = "block_user"
    NEW_KEY = "new_key"
    DELETE_LOGIN_PROFILE = "delete_login_profile"
    DETACH_POLICY = "detach_policy"
    DELETE_INLINE_POLICY = "delete_inline_policy"
    BLOCK_ROLE = "block_role"

    @property
    def rank(self) -> int:
        """Position in the playbook, so kinds sort by meaning, not spelling."""
        return list(ActionKind).index(self)


@dataclass(frozen=True)
class Action:
    """One first action: what it does in words (`text`, every name in it capped and on one
    line), the `aws` command as its words (each quoted when rendered), or console steps."""

    kind: ActionKind
    account: str
    text: str
    command: tuple[str, ...] = ()
    console: tuple[str, ...] = ()
    covers: frozenset[str] = field(default_factory=frozenset)
    """Entities (`instance:i-1`, `sg:sg-1`, ...) this action acts on: remediation templates
    leave out their own commands for them."""


def build_actions(
    findings: Sequence[Shown], phase_of: PhaseOf, as_of: datetime | None = None
) -> tuple[Action, ...]:
    """The merged first actions for an incident's findings. `phase_of` gives a check's playbook
    phase; `as_of` (the newest activity) bounds the role sessions a revocation ends."""
    actions = [
        *(_key_action(k, as_of) for k in access_keys(findings)),
        *_stop_actions(incident_instances(findings, phase_of)),
        *(_revoke_action(g) for g in open_groups(findings)),
        *(_key_pair_action(place, name) for place, name in key_pairs(findings)),
        *(_persistence_action(p) for p in persistence(findings)),
    ]
    return tuple(sorted(actions, key=lambda a: a.kind.rank))


def covered(actions: Iterable[Action]) -> frozenset[str]:
    """Every entity some action acts on."""
    return frozenset(e for a in actions for e in a.covers)


# --- credentials --------------------------------------------------------------------------------


def _key_action(key: KeyUse, as_of: datetime | None) -> Action:
    """Switch a key off the way its owner allows: the root user only in the console, an IAM
    user's by command, a role's sessions by a deny, an owner nobody named after a lookup."""
    owner = key.owner
    if owner.kind is OwnerKind.ROOT:
        return _root_key(key)
    if owner.kind is OwnerKind.USER and owner.name:
        return _user_key(key, owner.name)
    if owner.kind is OwnerKind.ROLE and owner.name:
        return _role_sessions(key, owner.name, as_of)
    return Action(ActionKind.FIND_KEY_OWNER, key.account, (
        f"Deactivate access key {short(key.key_id)} in account {key.account}: its user is not "
        "in the findings. This names it (UserName); then run update-access-key --user-name "
        f"THAT-USER --access-key-id {short(key.key_id)} --status Inactive."), command=(
        "aws", "iam", "get-access-key-last-used", "--access-key-id", key.key_id),
        covers=frozenset({ACCESS_KEY + key.key_id}))


def _made(key: KeyUse) -> str:
    return " (made during the incident)" if key.created else ""


def _root_key(key: KeyUse) -> Action:
    return Action(ActionKind.ROOT_KEY, key.account, (
        f"Deactivate the root user's access key {short(key.key_id)}{_made(key)} in account "
        f"{key.account}; only the root user can, in the console:"), console=(
        f"Sign in at {CONSOLE} as the root user (email address and password).",
        "Account name (top right), Security credentials, Access keys: select "
        f"{short(key.key_id)}, Actions, Deactivate. Delete it once nothing of yours breaks."),
        covers=frozenset({ACCESS_KEY + key.key_id, ROOT_KEY + key.account}))


def _user_key(key: KeyUse, user: str) -> Action:
    kind = ActionKind.NEW_KEY if key.created else ActionKind.DEACTIVATE_KEY
    return Action(kind, key.account, (
        f"Deactivate access key {short(key.key_id)}{_made(key)} of IAM user {short(user)} "
        f"in account {key.account}:"), command=(
        "aws", "iam", "update-access-key", "--user-name", user, "--access-key-id",
        key.key_id, "--status", "Inactive"), covers=frozenset({ACCESS_KEY + key.key_id}))


def _role_sessions(key: KeyUse, role: str, as_of: datetime | None) -> Action:
    """Temporary keys cannot be deactivated; a deny on sessions issued until now ends them."""
    text = (f"End the sessions of IAM role {short(role)} in account {key.account}: "
            f"{short(key.key_id)} is a temporary key and cannot be deactivated.")
    covers = frozenset({ACCESS_KEY + key.key_id})
    if as_of is None:
        return Action(ActionKind.ROLE_SESSIONS, key.account, text, console=(
            f"In the IAM console, open Roles, then {short(role)}, the Revoke sessions tab, and "
            "choose Revoke active sessions.",), covers=covers)
    stamp = as_of.strftime("%Y-%m-%dT%H:%M:%SZ")
    policy = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "Action": ["*"], "Resource": ["*"],
        "Condition": {"DateLessThan": {"aws:TokenIssueTime": stamp}}}]}
    return Action(ActionKind.ROLE_SESSIONS, key.account, text + (
        f" This denies every session issued before {stamp} (the console's Revoke sessions):"),
        command=("aws", "iam", "put-role-policy", "--role-name", role, "--policy-name",
                 "AWSRevokeOlderSessions", "--policy-document", json.dumps(policy)),
        covers=covers)


# --- instances, network, key pairs ------------------------------------------------------------


def _stop_actions(instances: dict[str, Place]) -> list[Action]:
    """One stop-instances per account and region, every instance id in it."""
    by_place: dict[Place, list[str]] = {}
    for instance_id, place in instances.items():
        by_place.setdefault(place, []).append(instance_id)
    actions = []
    for place, ids in sorted(by_place.items(), key=lambda kv: (kv[0].account, kv[0].region)):
        ids = sorted(ids)
        many = f"the {len(ids)} instances" if len(ids) > 1 else "the instance"
        actions.append(Action(ActionKind.STOP_INSTANCES, place.account, (
            f"Stop {many} of this incident in {place.region} (account {place.account}). "
            "Disks stay for investigation; terminate once sure they are not yours."), command=(
            "aws", "ec2", "stop-instances", "--region", place.region, "--instance-ids", *ids),
            covers=frozenset(INSTANCE + i for i in ids)))
    return actions


def _revoke_action(group: OpenGroup) -> Action:
    name = f" ({short(group.name)})" if group.name else ""
    return Action(ActionKind.REVOKE_INGRESS, group.place.account, (
        f"Close security group {short(group.group_id)}{name} in {group.place.region}: revoke "
        f"{'; '.join(short(r) for r in group.rules)}."), command=(
        "aws", "ec2", "revoke-security-group-ingress", "--region", group.place.region,
        "--group-id", group.group_id, "--ip-permissions",
        json.dumps(list(group.permissions), sort_keys=True)),
        covers=frozenset({GROUP + group.group_id}))


def _key_pair_action(place: Place, name: str) -> Action:
    return Action(ActionKind.DELETE_KEY_PAIR, place.account, (
        f"Delete key pair {short(name)} in {place.region}: running instances keep working, "
        "nobody starts or logs in to one with it again."), command=(
        "aws", "ec2", "delete-key-pair", "--region", place.region, "--key-name", name),
        covers=frozenset({f"{KEY_PAIR}{place.account}:{place.region}:{name}"}))


# --- persistence ------------------------------------------------------------------------------


_BLOCKS = {Made.USER: (ActionKind.BLOCK_USER, "user", USER),
           Made.ROLE: (ActionKind.BLOCK_ROLE, "role", ROLE)}


def _persistence_action(item: Persistence) -> Action:
    """Take back what the incident made: block a user or role it created (one reversible deny,
    deleting comes later), remove a console password, take back an admin policy."""
    name, where = short(item.name), f"in account {item.account}"
    if item.made in _BLOCKS:
        kind, holder, prefix = _BLOCKS[item.made]
        later = " Delete it afterwards (below)." if item.made is Made.USER else ""
        return Action(kind, item.account, (
            f"Block IAM {holder} {name}, made during the incident, {where}: deny it "
            f"everything now.{later}"), command=(
            "aws", "iam", f"attach-{holder}-policy", f"--{holder}-name", item.name,
            "--policy-arn", DENY_ALL), covers=frozenset({prefix + item.name}))
    if item.made is Made.LOGIN_PROFILE:
        return Action(ActionKind.DELETE_LOGIN_PROFILE, item.account, (
            f"Remove the console password of IAM user {name} {where}:"), command=(
            "aws", "iam", "delete-login-profile", "--user-name", item.name),
            covers=frozenset({LOGIN_PROFILE + item.name}))
    return _policy_action(item, name, where)


def _policy_action(item: Persistence, name: str, where: str) -> Action:
    holder, policy = item.holder, str(item.policy)
    covers = frozenset({f"{POLICY}{holder}:{item.name}:{policy}"})
    if item.made is Made.POLICY:
        return Action(ActionKind.DETACH_POLICY, item.account, (
            f"Detach {short(policy)} from IAM {holder} {name} {where}:"), command=(
            "aws", "iam", f"detach-{holder}-policy", f"--{holder}-name", item.name,
            "--policy-arn", policy), covers=covers)
    return Action(ActionKind.DELETE_INLINE_POLICY, item.account, (
        f"Delete inline policy {short(policy)} of IAM {holder} {name} {where}:"), command=(
        "aws", "iam", f"delete-{holder}-policy", f"--{holder}-name", item.name,
        "--policy-name", policy), covers=covers)
