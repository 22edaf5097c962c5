"""A snapshot, image or role opened to an AWS account nobody listed, or a role to anyone."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import cast

from pydantic import Field, field_validator

from costguard.activity.callers import caller_entities, callers
from costguard.activity.principals import by_principal, principal_details
from costguard.activity.shares import Share, share
from costguard.activity.undo import undo_steps
from costguard.activity.watched_calls import caller_name
from costguard.checks.base import Check, Context, Params, Phase
from costguard.checks.root_activity import shifted
from costguard.model import GLOBAL_REGION, Finding, Severity, Source
from costguard.snapshot import ApiEvent, Snapshot


class ExternalAccessParams(Params):
    """Parameters of `external_access`."""

    known_accounts: tuple[str, ...] = Field(
        default=(), description="Account ids (12 digits) snapshots, images and roles may be "
        "shared with: your other accounts, your backup vendor. The scanned accounts always "
        "may.")
    window_minutes: float = Field(
        default=1440, gt=0, description="How long a share stays a finding (costguard does not "
        "read sharing attributes or trust policies, so it cannot see one taken back).")

    @field_validator("known_accounts")
    @classmethod
    def _ids(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for account in value:
            if not (len(account) == 12 and account.isdigit()):
                raise ValueError(f"{account!r} is not a 12-digit account id")
        return value


class ExternalAccess(Check):
    """Data leaves an account as a copy another account is allowed to make: an EBS snapshot,
    an AMI or an RDS snapshot shared with an account id (ModifySnapshotAttribute,
    ModifyImageAttribute, ModifyDBSnapshotAttribute, ModifyDBClusterSnapshotAttribute), and
    access stays through a role another account may assume (CreateRole,
    UpdateAssumeRolePolicy trusting an account, or any principal without a condition). An
    account in `known_accounts` or scanned by costguard is not external. Shares with everyone
    ("all") are the shipped Sigma rule's.

    One finding per shared resource (its ARN), with every external account and call; the
    caller and its key are incident entities. It clears `window_minutes` after the last call.

    ```yaml
    policies:
      - name: external-access
        check: external_access
        severity: high
        params:
          known_accounts: ["210987654321"]
          window_minutes: 1440
    ```
    """

    id = "external_access"
    title = "A snapshot, image or role was opened to another AWS account"
    severity = Severity.HIGH
    sources = (Source.CLOUDTRAIL,)
    remediation = "remediation/external_access.md.j2"
    Params = ExternalAccessParams
    references = ("MITRE ATT&CK T1537 Transfer Data to Cloud Account",
                  "MITRE ATT&CK T1098.003 Additional Cloud Roles")

    noun = "shared resource"
    phrase_one = "a resource shared with another account"
    phrase_many = "{n} resources shared with other accounts"
    title_rank = 45
    phase = Phase.CLOSE
    playbook_rank = 30
    permissions = (
        "cloudtrail:LookupEvents", "cloudtrail:DescribeTrails", "cloudtrail:GetTrailStatus",
        "sqs:GetQueueUrl", "sqs:ReceiveMessage", "sqs:DeleteMessage",
    )

    def evaluate(self, snapshot: Snapshot, ctx: Context) -> Iterable[Finding]:
        """One finding per resource shared outside the known accounts within the window."""
        params = cast(ExternalAccessParams, ctx.params)
        known = {*params.known_accounts, *snapshot.accounts}
        oldest = snapshot.now - timedelta(minutes=params.window_minutes)
        found: dict[str, list[Share]] = {}
        for event in sorted(snapshot.events, key=lambda e: (e.time, e.event_id)):
            opened = share(event, known) if event.time >= oldest else None
            if opened is not None:
                found.setdefault(opened.arn, []).append(opened)
        history = by_principal(snapshot.events)
        for shares in found.values():
            yield _finding(ctx, params, shares, history.get(
                shares[0].event.principal_arn or "", []))


def _finding(ctx: Context, params: ExternalAccessParams, shares: list[Share],
             history: list[ApiEvent]) -> Finding:
    first, events = shares[0], [s.event for s in shares]
    accounts = list(dict.fromkeys(a for s in shares for a in s.accounts))
    whom = "anyone" if "*" in accounts else f"account {', '.join(accounts)}"
    e = first.event
    return ctx.finding(
        account=e.account, region=GLOBAL_REGION if first.kind == "role" else e.region,
        resource=first.arn,
        title=f"{first.kind.replace('_', ' ').capitalize()} {first.name} opened to {whom} by "
              f"{caller_name(e)}",
        details={
            "account": e.account, "region": e.region, "kind": first.kind,
            "name": first.name, "arn": first.arn, "accounts": accounts,
            "calls": [{"event_id": s.event.event_id, "time": s.event.time.isoformat(),
                       "call": s.event.name, "accounts": list(s.accounts),
                       "undo": undo_steps(s.event)} for s in shares],
            "callers": callers(events, ctx.now), "window_minutes": params.window_minutes,
            **principal_details(history, e.principal_arn, [x.time for x in events],
                                source_ips=(x.source_ip for x in events),
                                user_agents=(x.user_agent for x in events)),
        },
        entities=caller_entities(events),
        severity=shifted(ctx.severity, 1) if "*" in accounts else ctx.severity,
        at=e.time,
    )
