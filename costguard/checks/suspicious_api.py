"""Write calls a stolen key makes: key pairs, open groups, big launches, new users and keys,
and switching off the logs that would show it."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, cast

from pydantic import Field

from costguard.activity.api_calls import failed, is_world, same_range, unique
from costguard.activity.callers import caller_entities, callers
from costguard.activity.iam_grants import mfa_enabled
from costguard.activity.principals import by_principal, effect, principal_details
from costguard.activity.watched_calls import (
    GPU_TYPES,
    IAM_KINDS,
    INHERENT,
    SDK_AGENTS,
    UNVERIFIABLE,
    Kind,
    Raise,
    caller_name,
    merged_effects,
    raised_because,
    routine_launch,
    suspicious,
    watched_kind,
)
from costguard.checks.base import Check, Context, Params, Phase
from costguard.checks.instance_surge import InstanceStates
from costguard.checks.instance_types import first_match
from costguard.checks.open_admin_ports import ip_permission
from costguard.checks.param_types import InstanceTypeGlob
from costguard.checks.root_activity import shifted
from costguard.model import GLOBAL_REGION, Finding, Severity, Source
from costguard.snapshot import (
    ApiEvent,
    CredentialUser,
    IngressRule,
    RegionInventory,
    SecurityGroup,
    Snapshot,
)

KEY_CREATED_SLACK = timedelta(minutes=2)
"""A report key whose last_rotated is this close to the CreateAccessKey event is that key."""


class SuspiciousApiParams(Params):
    """Parameters of `suspicious_api`."""

    watch: tuple[Kind, ...] = Field(default=tuple(Kind), min_length=1,
                                    description="The API calls to report (CloudTrail names).")
    max_instances: int = Field(default=5, ge=0, description="RunInstances starting more "
                               "instances than this in one call is reported.")
    allowed_types: tuple[InstanceTypeGlob, ...] | None = Field(
        default=None, description="Globs of instance types a RunInstances call may start; any "
        "other type is reported. Off when unset.")
    admin_policies: tuple[str, ...] = Field(
        default=("AdministratorAccess", "PowerUserAccess", "IAMFullAccess"),
        description="Policies (names or ARNs) whose AttachUserPolicy is reported.")
    denied_types: tuple[str, ...] = Field(
        default=GPU_TYPES, description="Globs of instance types a RunInstances call is "
        "reported for whatever `allowed_types` says, even when it failed: a refused launch "
        "of a GPU type is an attacker probing the quotas.")
    include_failed: bool = Field(default=False, description="Also report other calls that "
                                 "failed (an attacker probing what a key may do).")
    require_signal: bool = Field(default=True, description="Report routine calls (groups, "
                                 "key pairs, users, keys, passwords, other ingress) only with "
                                 "a signal (see above).")
    admin_ports: tuple[int, ...] = Field(default=(22, 3389), description="Ports whose opening "
                                         "to the internet needs no signal.")
    mfa_within_minutes: float = Field(default=60, gt=0, description="A user given an MFA "
                                      "device this soon after is routine.")
    sdk_agent_patterns: tuple[str, ...] = Field(default=SDK_AGENTS, description="Globs "
                                                "(case-insensitive) of SDK and CLI user agents; "
                                                "a call made with one is one level more severe.")
    known_ip_days: float = Field(default=7, gt=0, description="Days of the principal's stored "
                                 "history in which its source address must appear; a call from "
                                 "an address not seen there is one level more severe.")
    window_minutes: float = Field(default=1440, gt=0, description="How long calls whose undoing "
                                  "costguard cannot see (policy attachments, bucket policies, "
                                  "failed calls) stay findings.")


class SuspiciousApi(Check):
    """The calls of a leaked-key attack, as they happen. Reported by what they did: many or
    unapproved instances started (a refused launch of a `denied_types` type too; a big
    launch by a known launcher with no signal is an autoscaling group), an admin policy
    attached, CloudTrail stopped or deleted, GuardDuty deleted, a bucket made public, an
    `admin_ports` port opened to the internet. Reported only with a signal (routine admin
    work otherwise): a key pair, a security group, other ingress, IAM users, keys and
    passwords (never a user given MFA within `mfa_within_minutes`). Signals: the root user,
    an address or user agent the principal has not used in `known_ip_days` (at least an hour
    before), an SDK or CLI agent from a console user. A signal raises severity one level.

    One finding per (call kind, resource it created or changed), dropped once current state
    shows the effect undone: the key pair, group or instances gone (or the group neither open
    nor used), the world-open rule revoked, the user, key or password deleted (by a newer
    credential report), the trail logging or the detector enabled again. Attachments, bucket
    policies and failed calls clear `window_minutes` after the call. Resources: what the call
    created (the first instance's ARN, the key pair, group or user ARN, the key id; the event
    id when a failed call created nothing), or the changed resource's ARN, `#` and the call.

    ```yaml
    policies:
      - name: suspicious-api
        check: suspicious_api
        severity: medium
        params:
          max_instances: 5
          allowed_types: ["t3.*", "m6i.large"]
          include_failed: false
          known_ip_days: 7
          window_minutes: 1440
    ```
    """

    id = "suspicious_api"
    title = "API call typical of a leaked-key attack"
    severity = Severity.MEDIUM
    sources = (Source.CLOUDTRAIL, Source.INVENTORY, Source.CREDENTIAL_REPORT)
    remediation = "remediation/suspicious_api.md.j2"
    Params = SuspiciousApiParams
    references = ("MITRE ATT&CK T1098 Account Manipulation", "MITRE ATT&CK T1562.008 Disable "
                  "or Modify Cloud Logs", "MITRE ATT&CK T1496 Resource Hijacking")

    noun = "API call"
    phrase_one = "a suspicious API call"
    phrase_many = "{n} suspicious API calls"
    title_rank = 70
    phase = Phase.CONTAIN
    playbook_rank = 40
    permissions = (
        "cloudtrail:LookupEvents", "cloudtrail:DescribeTrails", "cloudtrail:GetTrailStatus",
        "sqs:GetQueueUrl", "sqs:ReceiveMessage", "sqs:DeleteMessage", "ec2:DescribeRegions",
        "ec2:DescribeInstances", "ec2:DescribeSecurityGroups", "ec2:DescribeKeyPairs",
        "ec2:DescribeInstanceTypes", "iam:GenerateCredentialReport", "iam:GetCredentialReport",
        "iam:GetAccountSummary", "iam:ListVirtualMFADevices",
    )

    def evaluate(self, snapshot: Snapshot, ctx: Context) -> Iterable[Finding]:
        """One finding per suspicious change whose effect current state still shows."""
        params = cast(SuspiciousApiParams, ctx.params)
        state = State(snapshot, timedelta(minutes=params.window_minutes))
        history = by_principal(snapshot.events)
        mfa = mfa_enabled(snapshot.events)
        groups: dict[tuple[str, str, str], list[Call]] = {}
        for event in sorted(snapshot.events, key=lambda e: (e.time, e.event_id)):
            call = _reported(classify(event, params), params, state, history, mfa)
            if call is not None:
                groups.setdefault((event.account, call.region, call.resource), []).append(call)
        for calls in groups.values():
            yield _finding(ctx, params, calls, history)


@dataclass(frozen=True)
class Call:
    """One watched call, what it did (see `costguard.activity.principals.effect`), and the finding
    (region, resource) it belongs to."""

    kind: Kind
    event: ApiEvent
    region: str
    resource: str
    created: Mapping[str, Any]
    entities: tuple[str, ...] = ()
    reasons: tuple[Raise, ...] = ()


def classify(event: ApiEvent, params: SuspiciousApiParams) -> Call | None:
    """The watched call `event` is, or None when it is not one (or not under `params`).
    A refused launch counts (its types are judged; attempts are evidence); other failed
    calls only with `include_failed`."""
    kind = watched_kind(event, params.watch)
    if kind is None:
        return None
    if failed(event) and not params.include_failed and kind is not Kind.RUN_INSTANCES:
        return None
    found = effect(event)
    refused = failed(event) and not params.include_failed
    created = _judged(kind, found.created, params, refused) if found else None
    if found is None or created is None:
        return None
    region = GLOBAL_REGION if kind in IAM_KINDS else event.region
    return Call(kind, event, region, found.resource, created, found.entities)


def _judged(
    kind: Kind, created: Mapping[str, Any], params: SuspiciousApiParams, refused: bool = False,
) -> dict[str, Any] | None:
    """`created` with what makes the call suspicious, or None when it is not (a small launch,
    a policy that is not admin, a bucket policy that is not public)."""
    out = dict(created)
    if kind is Kind.RUN_INSTANCES:
        allowed, types = params.allowed_types, [t for t in out["instance_types"] if t]
        off = [t for t in types if (allowed is not None and first_match(t, allowed) is None)
               or first_match(t, params.denied_types) is not None]
        too_many = out["count"] > params.max_instances and not refused
        out["not_allowed_types"] = off
        out["reasons"] = ["count_above_max"] * too_many + ["type_not_allowed"] * bool(off)
        return out if out["reasons"] else None
    if kind is Kind.ATTACH_USER_POLICY:
        names = params.admin_policies
        admin = any(p in names or p.rsplit("/", 1)[-1] in names for p in out["policy_arns"])
        return out if admin else None
    if kind is Kind.PUT_BUCKET_POLICY:
        return out if out["public_statements"] else None
    if kind is Kind.AUTHORIZE_INGRESS:
        # The exact argument `revoke-security-group-ingress --ip-permissions` needs.
        out["rules"] = [
            {**r, "ip_permission": ip_permission(
                IngressRule(r["protocol"], r["from_port"], r["to_port"], (r["cidr"],)), r["cidr"])}
            for r in out["rules"]
        ]
    return out


def _reported(call: Call | None, params: SuspiciousApiParams, state: State,
              history: Mapping[str, list[ApiEvent]],
              mfa: Mapping[tuple[str, str], list[ApiEvent]]) -> Call | None:
    """The call with its signals, when it is reported (see the class docstring)."""
    if call is None or state.undone(call):
        return None
    e = call.event
    reasons = raised_because(e, history.get(e.principal_arn or "", []),
                             agent_patterns=params.sdk_agent_patterns,
                             known_ip_days=params.known_ip_days)
    if call.created.get("reasons") == ["count_above_max"] and routine_launch(
            e, history.get(e.principal_arn or "", []), params.known_ip_days):
        return None  # an autoscaling group scaling out: approved types, a known launcher
    wanted = call.kind in INHERENT or suspicious(
        call.kind, e, call.created, reasons, admin_ports=params.admin_ports, mfa=mfa,
        mfa_within=timedelta(minutes=params.mfa_within_minutes),
        require_signal=params.require_signal)
    return replace(call, reasons=tuple(reasons)) if wanted else None


# --- verification: is the effect still there? ----------------------------------------------


class State:
    """Current state the effects are looked up in; what is not collected cannot be verified."""

    def __init__(self, snapshot: Snapshot, window: timedelta) -> None:
        self.now, self.window, self.trails = snapshot.now, window, snapshot.trails
        self.instances = InstanceStates(snapshot.inventory)
        self.inventory = {(i.account, i.region): i for i in snapshot.inventory}
        self.reports = {i.account: i.report for i in snapshot.iam if i.report is not None}
        self.detectors = {(d.account, d.region): d for d in snapshot.detectors}

    def undone(self, call: Call) -> bool:
        """Whether the call's effect is verifiably gone (or, for calls costguard cannot
        verify, whether the call is older than the window)."""
        if failed(call.event) or call.kind in UNVERIFIABLE:
            return call.event.time < self.now - self.window
        return _UNDONE[call.kind](call, self)

    def user_row(self, call: Call) -> tuple[bool, CredentialUser | None]:
        """(known, row): a credential report older than the call knows nothing of it."""
        report = self.reports.get(call.event.account)
        if report is None or report.generated_at < call.event.time:
            return False, None
        name = call.created.get("user_name")
        return True, next((u for u in report.users if u.user == name), None)


def _region(call: Call, state: State) -> RegionInventory | None:
    """The region's inventory, if it was read after the call (an older one cannot tell
    whether the call's effect was undone: the daemon sees events before the next poll)."""
    inv = state.inventory.get((call.event.account, call.event.region))
    if inv is None or (inv.collected_at is not None and inv.collected_at < call.event.time):
        return None
    return inv


def _find_group(inv: RegionInventory, gid: str | None, name: str | None) -> SecurityGroup | None:
    return next((g for g in inv.security_groups
                 if g.group_id == gid or (gid is None and g.name == name)), None)


def _key_pair_gone(call: Call, state: State) -> bool:
    inv = _region(call, state)
    return inv is not None and call.created["key_name"] not in inv.key_pairs


def _group_harmless(call: Call, state: State) -> bool:
    inv = _region(call, state)
    group = _find_group(inv, call.created["group_id"], None) if inv else None
    if inv is None or group is None:
        return inv is not None
    open_ = any(is_world(c) for r in group.ingress for c in r.cidrs)
    used = any(i.running and group.group_id in i.security_groups for i in inv.instances)
    return not open_ and not used


def _ingress_revoked(call: Call, state: State) -> bool:
    inv = _region(call, state)
    group = _find_group(inv, call.created["group_id"], call.created["group_name"]) if inv else None
    if inv is None or group is None:
        return inv is not None
    return not any(_has(group, rule) for rule in call.created["rules"])


def _has(group: SecurityGroup, rule: Mapping[str, Any]) -> bool:
    """Whether the group still holds the rule (same protocol, ports and range)."""
    return any(
        r.protocol == rule["protocol"] and any(same_range(rule["cidr"], c) for c in r.cidrs)
        and (r.protocol == "-1" or (r.from_port, r.to_port) == (rule["from_port"], rule["to_port"]))
        for r in group.ingress
    )


def _instances_gone(call: Call, state: State) -> bool:
    e = call.event
    running = [state.instances.running(e.account, e.region, i["instance_id"], e.time, state.now)
               for i in call.created["instances"]]
    return bool(running) and all(r is False for r in running)


def _user_gone(call: Call, state: State) -> bool:
    known, row = state.user_row(call)
    return known and row is None


def _key_gone(call: Call, state: State) -> bool:
    known, row = state.user_row(call)
    if not known or row is None:
        return known
    return not any(
        k.active and k.last_rotated is not None
        and abs(k.last_rotated - call.event.time) <= KEY_CREATED_SLACK
        for k in row.access_keys
    )


def _password_gone(call: Call, state: State) -> bool:
    known, row = state.user_row(call)
    return known and (row is None or row.password_enabled is False)


def _trail_logging(call: Call, state: State) -> bool:
    arn, name = call.created["trail_arn"], call.created["trail_name"]
    return any(t.account == call.event.account and t.is_logging and (t.arn == arn or t.name == name)
               for t in state.trails)


def _detector_enabled(call: Call, state: State) -> bool:
    detector = state.detectors.get((call.event.account, call.event.region))
    return detector is not None and detector.enabled and detector.detector_id is not None


_UNDONE: dict[Kind, Callable[[Call, State], bool]] = {
    Kind.IMPORT_KEY_PAIR: _key_pair_gone, Kind.CREATE_KEY_PAIR: _key_pair_gone,
    Kind.CREATE_SECURITY_GROUP: _group_harmless, Kind.AUTHORIZE_INGRESS: _ingress_revoked,
    Kind.RUN_INSTANCES: _instances_gone, Kind.CREATE_USER: _user_gone,
    Kind.CREATE_ACCESS_KEY: _key_gone, Kind.CREATE_LOGIN_PROFILE: _password_gone,
    Kind.STOP_LOGGING: _trail_logging, Kind.DELETE_TRAIL: _trail_logging,
    Kind.DELETE_DETECTOR: _detector_enabled,
}


# --- the finding -----------------------------------------------------------------------------


def _finding(
    ctx: Context, params: SuspiciousApiParams, calls: list[Call],
    history: Mapping[str, list[ApiEvent]],
) -> Finding:
    first, e = calls[0], calls[0].event
    reasons = unique(r.value for c in calls for r in c.reasons)
    events = [c.event for c in calls]
    where = f"from {e.source_ip or 'an unknown address'} in {e.region}"
    return ctx.finding(
        account=e.account, region=first.region, resource=first.resource,
        title=f"{e.name} by {caller_name(e)} {where}",
        details={
            "account": e.account, "region": e.region, "call": first.kind.value,
            "caller": e.principal_arn, "principal_type": e.principal_type,
            "access_key_id": e.access_key_id, "user_name": e.user_name,
            "source_ip": e.source_ip, "user_agent": e.user_agent, "time": e.time.isoformat(),
            "event_id": e.event_id, "error_code": e.error_code,
            "created": merged_effects(c.created for c in calls),
            "events": [{"event_id": c.event.event_id, "time": c.event.time.isoformat(),
                        "caller": c.event.principal_arn, "source_ip": c.event.source_ip,
                        "error_code": c.event.error_code} for c in calls],
            "raised_because": reasons, "callers": callers(events, ctx.now),
            "verified_by": "window" if first.kind in UNVERIFIABLE or failed(e) else "state",
            "window_minutes": params.window_minutes,
            **principal_details(history.get(e.principal_arn or "", []), e.principal_arn,
                                [x.time for x in events], source_ips=(x.source_ip for x in events),
                                user_agents=(x.user_agent for x in events)),
        },
        entities=[*caller_entities(events), *(x for c in calls for x in c.entities)],
        severity=shifted(ctx.severity, 1) if reasons else ctx.severity,
        at=e.time,
    )
