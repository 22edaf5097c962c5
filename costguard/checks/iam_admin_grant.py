"""An IAM user, role or group made an administrator, and the key or password made to use it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Any, cast

from pydantic import Field, field_validator

from costguard.activity.api_calls import unique
from costguard.activity.iam_grants import (
    ADMINISTRATOR_ACCESS,
    Credential,
    Grant,
    GranteeKind,
    NewCredential,
    admin_grant,
    new_credential,
    takes_back,
)
from costguard.activity.principals import ROOT_TYPE, by_principal, principal_details
from costguard.activity.watched_calls import caller_name
from costguard.checks.base import Check, Context, Params, Phase
from costguard.checks.root_activity import key_use, shifted
from costguard.model import GLOBAL_REGION, Finding, Severity, Source
from costguard.snapshot import ApiEvent, Snapshot


class IamAdminGrantParams(Params):
    """Parameters of `iam_admin_grant`."""

    admin_policy_arns: tuple[str, ...] = Field(
        default=(ADMINISTRATOR_ACCESS,), min_length=1,
        description="Managed policies (ARNs) whose attachment makes a user, role or group an "
        "administrator. Inline policies allowing every action on every resource always count.")
    within_minutes: float = Field(
        default=60, gt=0,
        description="An access key or console password created for the grantee this close to "
        "the grant joins its finding (critical when the same caller made both).")
    window_minutes: float = Field(
        default=1440, gt=0,
        description="How long a grant stays a finding when no call taking it back is seen "
        "(costguard does not read IAM policies, so it cannot see the grant gone otherwise).")

    @field_validator("admin_policy_arns")
    @classmethod
    def _policy_arns(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for arn in value:
            if not (arn.startswith("arn:") and ":policy/" in arn):
                raise ValueError(f"{arn!r} is not a policy ARN (arn:aws:iam::...:policy/NAME)")
        return value


class IamAdminGrant(Check):
    """After a leaked key, the attacker's next move is to stay: make an IAM user (or a role it
    can assume) an administrator and give it an access key or a console password of its own,
    so that deleting the leaked key changes nothing. This check reads CloudTrail for a
    successful AttachUserPolicy, AttachRolePolicy or AttachGroupPolicy of
    `admin_policy_arns` (AdministratorAccess by default), or a PutUserPolicy, PutRolePolicy or
    PutGroupPolicy whose document (JSON, URL-encoded in some records) allows every action
    (`*` or `*:*`) on every resource. Failed calls grant nothing and are not findings.

    One finding per grantee, named by its ARN, with every grant to it and every access key
    (CreateAccessKey) or console password (CreateLoginProfile) created for it within
    `within_minutes` of a grant. Severity is the policy's (high by default), one level more
    when the same caller both granted and created the credential: that is the persistence
    step itself. The caller, the access key it used, the grantee and the new key are incident
    entities, so the finding joins the incident of the leaked key.

    A grant is taken back by a later DetachUserPolicy (or Role, Group), DeleteUserPolicy, an
    inline policy of the same name that no longer allows everything, or the grantee deleted;
    otherwise the finding clears `window_minutes` after the last grant.

    ```yaml
    policies:
      - name: iam-admin-grant
        check: iam_admin_grant
        severity: high
        params:
          admin_policy_arns: ["arn:aws:iam::aws:policy/AdministratorAccess"]
          within_minutes: 60
          window_minutes: 1440
        references: ["MITRE ATT&CK T1098.003 Additional Cloud Roles"]
    ```
    """

    id = "iam_admin_grant"
    title = "An IAM identity was made an administrator"
    severity = Severity.HIGH
    sources = (Source.CLOUDTRAIL,)
    remediation = "remediation/iam_admin_grant.md.j2"
    Params = IamAdminGrantParams
    references = ("MITRE ATT&CK T1098.003 Additional Cloud Roles",
                  "MITRE ATT&CK T1098.001 Additional Cloud Credentials")

    noun = "IAM identity"
    phrase_one = "an IAM identity made administrator"
    phrase_many = "{n} IAM identities made administrator"
    title_rank = 25
    phase = Phase.CONTAIN
    playbook_rank = 30
    permissions = (
        "cloudtrail:LookupEvents", "cloudtrail:DescribeTrails", "cloudtrail:GetTrailStatus",
        "sqs:GetQueueUrl", "sqs:ReceiveMessage", "sqs:DeleteMessage",
    )

    def evaluate(self, snapshot: Snapshot, ctx: Context) -> Iterable[Finding]:
        """One finding per grantee holding an administrator grant nobody took back."""
        params = cast(IamAdminGrantParams, ctx.params)
        events = sorted(snapshot.events, key=lambda e: (e.time, e.event_id))
        oldest = snapshot.now - timedelta(minutes=params.window_minutes)
        grants: dict[str, list[Grant]] = {}
        for event in events:
            grant = admin_grant(event, params.admin_policy_arns)
            if grant and event.time >= oldest and not any(takes_back(e, grant) for e in events):
                grants.setdefault(grant.grantee.arn, []).append(grant)
        made = [c for e in events if (c := new_credential(e)) is not None]
        history = by_principal(events)
        for held in grants.values():
            yield _finding(ctx, params, held, _credentials_for(held, made, params), history)


def _credentials_for(
    grants: Sequence[Grant], made: Iterable[NewCredential], params: IamAdminGrantParams
) -> list[NewCredential]:
    """The credentials created for a granted user within `within_minutes` of a grant."""
    grantee = grants[0].grantee
    if grantee.kind is not GranteeKind.USER:
        return []
    within = timedelta(minutes=params.within_minutes)
    return [c for c in made
            if c.event.account == grantee.account and c.user_name == grantee.name
            and any(abs(c.event.time - g.event.time) <= within for g in grants)]


def _same_caller(grants: Sequence[Grant], credentials: Sequence[NewCredential]) -> bool:
    granted_by = {g.event.principal_arn for g in grants} - {None}
    return any(c.event.principal_arn in granted_by for c in credentials)


def _call(event: ApiEvent) -> dict[str, Any]:
    """Who made a call, with what and from where: what the remediation contains."""
    role = None
    if ":assumed-role/" in (event.principal_arn or ""):
        role = (event.principal_arn or "").split(":assumed-role/", 1)[1].split("/")[0]
    return {
        "call": event.name, "event_id": event.event_id, "time": event.time.isoformat(),
        "caller": event.principal_arn, "principal_type": event.principal_type,
        "caller_user_name": event.user_name, "caller_role": role,
        "access_key_id": event.access_key_id, "long_term_key": key_use(event),
        "root": event.principal_type == ROOT_TYPE,
        "source_ip": event.source_ip, "user_agent": event.user_agent,
    }


def _grant_details(grant: Grant) -> dict[str, Any]:
    return {**_call(grant.event), "policy_arn": grant.policy_arn,
            "policy_name": grant.policy_name, "statements": [dict(s) for s in grant.statements]}


def _credential_details(made: NewCredential) -> dict[str, Any]:
    return {**_call(made.event), "user_name": made.user_name, "new_access_key_id":
            made.access_key_id, "password": made.kind is Credential.PASSWORD}


def _callers(events: Sequence[ApiEvent]) -> list[dict[str, Any]]:
    """Each caller's key once, first use first: the keys to deactivate."""
    seen: dict[tuple[str | None, str | None], dict[str, Any]] = {}
    for event in events:
        seen.setdefault((event.principal_arn, event.access_key_id), _call(event))
    return list(seen.values())


def _what(grant: Grant) -> str:
    """The grant in a few words, for a title."""
    if grant.policy_arn == ADMINISTRATOR_ACCESS:
        return "AdministratorAccess"
    if grant.policy_arn:
        return f"policy {grant.policy_arn}"
    return f"inline policy {grant.policy_name} allowing everything"


def _title(grants: Sequence[Grant], credentials: Sequence[NewCredential]) -> str:
    grantee = grants[0].grantee
    made = unique("an access key" if c.kind is Credential.ACCESS_KEY else "a console password"
                  for c in credentials)
    extra = f", then {' and '.join(made)} for it" if made else ""
    return (f"IAM {grantee.kind.value} {grantee.name} given {_what(grants[0])} by "
            f"{caller_name(grants[0].event)}{extra}")


def _finding(
    ctx: Context, params: IamAdminGrantParams, grants: Sequence[Grant],
    credentials: Sequence[NewCredential], history: Mapping[str, list[ApiEvent]],
) -> Finding:
    grantee, first = grants[0].grantee, grants[0].event
    events = sorted([g.event for g in grants] + [c.event for c in credentials],
                    key=lambda e: (e.time, e.event_id))
    same = _same_caller(grants, credentials)
    new_keys = unique(c.access_key_id for c in credentials)
    return ctx.finding(
        account=grantee.account, region=GLOBAL_REGION, resource=grantee.arn,
        title=_title(grants, credentials),
        details={
            "account": grantee.account, "grantee_kind": grantee.kind.value,
            "grantee_name": grantee.name, "grantee_arn": grantee.arn,
            "grants": [_grant_details(g) for g in grants],
            "credentials": [_credential_details(c) for c in credentials],
            "callers": _callers(events), "same_caller": same,
            "within_minutes": params.within_minutes, "window_minutes": params.window_minutes,
            "first_seen": events[0].time.isoformat(), "last_seen": events[-1].time.isoformat(),
            **principal_details(history.get(first.principal_arn or "", []), first.principal_arn,
                                [e.time for e in events], source_ips=(e.source_ip for e in events),
                                user_agents=(e.user_agent for e in events)),
        },
        entities=[*(f"principal:{p}" for p in unique(e.principal_arn for e in events)),
                  *(f"access_key:{k}" for k in unique(e.access_key_id for e in events)),
                  f"principal:{grantee.arn}", *(f"access_key:{k}" for k in new_keys)],
        severity=shifted(ctx.severity, 1) if same else ctx.severity,
        at=first.time,
    )
