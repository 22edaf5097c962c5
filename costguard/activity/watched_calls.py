"""The write calls a leaked key makes, as CloudTrail names them: which service each must come
from, which ones costguard can verify undone, and what makes one more alarming than its kind
(an SDK or CLI user agent, an address new for the principal). Pure; the `suspicious_api` check
decides on these, the activity and effects it reads are costguard.activity.principals'.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import timedelta
from fnmatch import fnmatchcase
from typing import Any

from costguard.activity.api_calls import launched_instances, service_of, unique
from costguard.activity.principals import ROOT_TYPE, new_address, sdk_agent
from costguard.model import StrEnum
from costguard.snapshot import ApiEvent, IngressRule


class Kind(StrEnum):
    """The API calls watched, by CloudTrail eventName."""

    IMPORT_KEY_PAIR = "ImportKeyPair"
    CREATE_KEY_PAIR = "CreateKeyPair"
    CREATE_SECURITY_GROUP = "CreateSecurityGroup"
    AUTHORIZE_INGRESS = "AuthorizeSecurityGroupIngress"
    RUN_INSTANCES = "RunInstances"
    CREATE_USER = "CreateUser"
    CREATE_ACCESS_KEY = "CreateAccessKey"
    CREATE_LOGIN_PROFILE = "CreateLoginProfile"
    ATTACH_USER_POLICY = "AttachUserPolicy"
    STOP_LOGGING = "StopLogging"
    DELETE_TRAIL = "DeleteTrail"
    DELETE_DETECTOR = "DeleteDetector"
    PUT_BUCKET_POLICY = "PutBucketPolicy"


class Raise(StrEnum):
    """The signals that make a call suspicious (routine calls need one) and one level more
    severe than its policy says."""

    ROOT = "root"
    SDK_USER_AGENT = "sdk_user_agent"
    """An SDK or CLI agent in the hands of a principal that works in the console."""
    NEW_SOURCE_IP = "new_source_ip"
    NEW_USER_AGENT = "new_user_agent"


_EC2 = {Kind.IMPORT_KEY_PAIR, Kind.CREATE_KEY_PAIR, Kind.CREATE_SECURITY_GROUP,
        Kind.AUTHORIZE_INGRESS, Kind.RUN_INSTANCES}
IAM_KINDS = frozenset({Kind.CREATE_USER, Kind.CREATE_ACCESS_KEY, Kind.CREATE_LOGIN_PROFILE,
                       Kind.ATTACH_USER_POLICY})
"""IAM is global: these findings are in region "global", verified by the credential report."""
SERVICE = {
    **{k: "ec2" for k in _EC2}, **{k: "iam" for k in IAM_KINDS},
    Kind.STOP_LOGGING: "cloudtrail", Kind.DELETE_TRAIL: "cloudtrail",
    Kind.DELETE_DETECTOR: "guardduty", Kind.PUT_BUCKET_POLICY: "s3",
}
"""The service each name must come from (Amazon MQ, Transfer and others have a CreateUser too)."""
INHERENT = frozenset({Kind.RUN_INSTANCES, Kind.ATTACH_USER_POLICY, Kind.STOP_LOGGING,
                      Kind.DELETE_TRAIL, Kind.DELETE_DETECTOR, Kind.PUT_BUCKET_POLICY})
"""Calls suspicious by what they did (a big or unapproved launch, an admin policy, logging
off, a public bucket), signal or not; the others are routine without one."""
GPU_TYPES = ("p*", "g*", "inf*", "trn*", "dl*", "f1.*", "f2.*", "vt1.*")
"""GPU, machine-learning, FPGA and video accelerators: what stolen keys are launched for."""
UNVERIFIABLE = frozenset({Kind.ATTACH_USER_POLICY, Kind.PUT_BUCKET_POLICY})
"""Calls whose undoing the collected state cannot show; they clear after a window."""
KNOWN_IP_MIN_AGE = timedelta(hours=1)
"""An address vouches for a call only if the principal used it at least this long before, so
an attacker's first calls from a new address do not make the rest of the burst look familiar."""
_DIGITS = re.compile(r"\d+")
SDK_AGENTS = ("*aws-sdk-*", "*boto3/*", "*botocore/*", "*aws-cli/*", "*go-http-client/*")
"""User agents of SDKs and CLIs (case-insensitive globs): scripts, not people in a console."""


def watched_kind(event: ApiEvent, watch: Iterable[Kind]) -> Kind | None:
    """The watched call `event` is, when its name is in `watch` and it came from the service
    that name belongs to; None otherwise."""
    try:
        kind = Kind(event.name)
    except ValueError:
        return None
    return kind if kind in watch and SERVICE[kind] == service_of(event) else None


def raised_because(
    event: ApiEvent, history: Iterable[ApiEvent], *, agent_patterns: Iterable[str],
    known_ip_days: float,
) -> list[Raise]:
    """The signals a call carries: the root user; an SDK or CLI agent from a principal whose
    history shows it working in the console; a source address, or a user agent, the
    principal's `history` does not show in the `known_ip_days` before it (at least an hour
    before it, so an attacker's burst does not vouch for itself)."""
    history = list(history)
    reasons = [Raise.ROOT] if event.principal_type == ROOT_TYPE else []
    if sdk_agent(event, agent_patterns) and console_user(event, history):
        reasons.append(Raise.SDK_USER_AGENT)
    if new_address(event, history, known_ip_days, KNOWN_IP_MIN_AGE):
        reasons.append(Raise.NEW_SOURCE_IP)
    if new_agent(event, history, known_ip_days):
        reasons.append(Raise.NEW_USER_AGENT)
    return reasons


def console_user(event: ApiEvent, history: Iterable[ApiEvent]) -> bool:
    """Whether the principal signed in to the console, or made calls from a console session,
    in its history (people in the console do not suddenly script)."""
    return any(h.principal_arn == event.principal_arn and h.time <= event.time
               and (h.console_login or str(h.extra.get("sessionCredentialFromConsole", ""))
                    .lower() == "true")
               for h in history)


def new_agent(event: ApiEvent, history: Iterable[ApiEvent], days: float) -> bool:
    """Whether the call's user agent is new for a principal that has a history (calls at least
    KNOWN_IP_MIN_AGE before it, within `days`): a principal costguard knows nothing of has no
    agent to compare with (its address is judged instead)."""
    oldest, newest = event.time - timedelta(days=days), event.time - KNOWN_IP_MIN_AGE
    known = [h for h in history if h.principal_arn == event.principal_arn
             and oldest <= h.time <= newest]
    agent = agent_family(event.user_agent)
    return bool(known) and bool(agent) and all(agent_family(h.user_agent) != agent for h in known)


def agent_family(agent: str | None) -> str:
    """A user agent without its version numbers: an upgraded CLI is the same tool."""
    return _DIGITS.sub("#", agent or "")


def routine_launch(event: ApiEvent, history: Iterable[ApiEvent], days: float = 7) -> bool:
    """Whether a RunInstances is a principal's everyday work: it launched instances before
    (successfully, at least KNOWN_IP_MIN_AGE earlier and within `days`), this call carries no
    signal, and it starts no GPU-class type. An autoscaling group's launches are."""
    history = [h for h in history if h.principal_arn == event.principal_arn]
    oldest, newest = event.time - timedelta(days=days), event.time - KNOWN_IP_MIN_AGE
    before = any(h.name == "RunInstances" and not h.error_code and oldest <= h.time <= newest
                 for h in history)
    types = [i.instance_type or "" for i in launched_instances(event)]
    gpu = any(fnmatchcase(t.lower(), g) for t in types for g in GPU_TYPES)
    signals = raised_because(event, history, agent_patterns=SDK_AGENTS, known_ip_days=days)
    return before and not gpu and not signals


def suspicious(
    kind: Kind, event: ApiEvent, created: Mapping[str, Any], reasons: Iterable[Raise], *,
    admin_ports: Iterable[int], mfa: Mapping[tuple[str, str], list[ApiEvent]],
    mfa_within: timedelta, require_signal: bool = True,
) -> bool:
    """Whether a routine call (a group, key pair, user, key, password, ingress) is reported:
    an admin port opened to the world always is; otherwise it needs a signal (`reasons`),
    and a user (or password) that got an MFA device within `mfa_within` never does, unless
    the root user made it."""
    reasons = list(reasons)
    if kind is Kind.AUTHORIZE_INGRESS and _opens(created, admin_ports):
        return True
    if kind in (Kind.CREATE_USER, Kind.CREATE_LOGIN_PROFILE) and Raise.ROOT not in reasons:
        enabled = mfa.get((event.account, str(created.get("user_name"))), [])
        if any(timedelta(0) <= e.time - event.time <= mfa_within for e in enabled):
            return False
    return bool(reasons) or not require_signal


def _opens(created: Mapping[str, Any], ports: Iterable[int]) -> bool:
    return any(IngressRule(r["protocol"], r["from_port"], r["to_port"]).covers_port(p)
               for r in created.get("rules") or [] for p in ports)


def merged_effects(created: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """One `created` for several calls on one resource: lists joined, other values from the
    first call that has one."""
    out: dict[str, Any] = {}
    for made in created:
        for name, value in made.items():
            if isinstance(value, list):
                out[name] = unique([*out.get(name, []), *value])
            elif out.get(name) is None:
                out[name] = value
    return out


def caller_name(event: ApiEvent) -> str:
    """Who made a call, short, for a title: "root", the user or role session name."""
    if event.principal_type == ROOT_TYPE:
        return "root"
    name = (event.principal_arn or "").rsplit(":", 1)[-1] or event.user_name
    return name or "an unknown principal"
