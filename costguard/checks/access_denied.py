"""One principal refused again and again: a stolen key being tried on what it may do."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import timedelta
from fnmatch import fnmatchcase
from typing import cast

from pydantic import Field

from costguard.activity.api_calls import unique
from costguard.activity.callers import caller_entities, callers
from costguard.activity.principals import by_principal, group_calls, principal_details
from costguard.activity.watched_calls import caller_name
from costguard.checks.base import Check, Context, Params, Phase
from costguard.model import GLOBAL_REGION, Finding, Severity, Source
from costguard.snapshot import ApiEvent, Snapshot

DENIED = ("AccessDenied*", "*UnauthorizedOperation", "UnauthorizedAccess*", "*NotAuthorized*",
          "AuthorizationError", "Forbidden*")
"""errorCode globs of a refusal for want of permission (not throttling, not a bad request)."""


class AccessDeniedParams(Params):
    """Parameters of `access_denied`."""

    min_refusals: int = Field(default=10, ge=2, description="Refused calls by one principal "
                              "within `within_minutes` that make a burst.")
    min_distinct_calls: int = Field(default=3, ge=1, description="...of at least this many "
                                    "different API calls (one script retrying one call is a "
                                    "bug, many different calls is someone exploring).")
    within_minutes: float = Field(default=10, gt=0, description="The sliding window.")
    error_codes: tuple[str, ...] = Field(default=DENIED, min_length=1, description="errorCode "
                                         "globs that count as refused.")
    window_minutes: float = Field(default=1440, gt=0, description="How long a burst stays a "
                                  "finding after its last refused call.")


class AccessDenied(Check):
    """A leaked key's first minutes are spent finding out what it may do: many different
    calls, most of them refused (AccessDenied, UnauthorizedOperation). CloudTrail records
    refused calls too; each is evidence even though it changed nothing. A burst is
    `min_refusals` refused calls of at least `min_distinct_calls` different APIs by one
    principal within `within_minutes`.

    One finding per principal (its ARN followed by `#access-denied`), with the refused calls
    grouped by API, regions, addresses and user agents; the principal and its keys are incident
    entities, so the probing and what the key then managed to do are one incident.

    ```yaml
    policies:
      - name: access-denied
        check: access_denied
        severity: medium
        params: {min_refusals: 10, min_distinct_calls: 3, within_minutes: 10}
    ```
    """

    id = "access_denied"
    title = "A principal was refused many different calls in a short time"
    severity = Severity.MEDIUM
    sources = (Source.CLOUDTRAIL,)
    remediation = "remediation/access_denied.md.j2"
    Params = AccessDeniedParams
    references = ("MITRE ATT&CK T1580 Cloud Infrastructure Discovery",
                  "MITRE ATT&CK T1526 Cloud Service Discovery")

    noun = "principal"
    phrase_one = "a burst of refused calls"
    phrase_many = "{n} principals refused in bursts"
    title_rank = 85
    phase = Phase.CONTAIN
    playbook_rank = 60
    permissions = (
        "cloudtrail:LookupEvents", "cloudtrail:DescribeTrails", "cloudtrail:GetTrailStatus",
        "sqs:GetQueueUrl", "sqs:ReceiveMessage", "sqs:DeleteMessage",
    )

    def evaluate(self, snapshot: Snapshot, ctx: Context) -> Iterable[Finding]:
        """One finding per principal with a burst of refusals in the window."""
        params = cast(AccessDeniedParams, ctx.params)
        oldest = snapshot.now - timedelta(minutes=params.window_minutes)
        history = by_principal(snapshot.events)
        for principal, events in history.items():
            refused = [e for e in events if e.time >= oldest and refusal(e, params.error_codes)]
            found = burst(refused, params)
            if found:
                yield _finding(ctx, params, principal, found, events)


def refusal(event: ApiEvent, codes: Sequence[str]) -> bool:
    """Whether the call was refused for want of permission."""
    code = (event.error_code or "").lower()
    return bool(code) and any(fnmatchcase(code, c.lower()) for c in codes)


def burst(refused: Sequence[ApiEvent], params: AccessDeniedParams) -> list[ApiEvent]:
    """Every refused call in some window of `within_minutes` that holds a burst."""
    within, members = timedelta(minutes=params.within_minutes), set()
    start = 0
    for end, event in enumerate(refused):
        while event.time - refused[start].time > within:
            start += 1
        window = refused[start:end + 1]
        if (len(window) >= params.min_refusals
                and len({e.name for e in window}) >= params.min_distinct_calls):
            members.update(range(start, end + 1))
    return [refused[i] for i in sorted(members)]


def _finding(ctx: Context, params: AccessDeniedParams, principal: str, refused: list[ApiEvent],
             history: list[ApiEvent]) -> Finding:
    first = refused[0]
    return ctx.finding(
        account=first.account, region=GLOBAL_REGION, resource=f"{principal}#access-denied",
        title=(f"{caller_name(first)} was refused {len(refused)} calls of "
               f"{len({e.name for e in refused})} kinds within {params.within_minutes:g} minutes"),
        details={
            "account": first.account, "principal": principal, "count": len(refused),
            "refused": group_calls(refused),
            "error_codes": unique(e.error_code for e in refused),
            "first_seen": first.time.isoformat(), "last_seen": refused[-1].time.isoformat(),
            "callers": callers(refused, ctx.now), "window_minutes": params.window_minutes,
            **principal_details(history, principal, [e.time for e in refused],
                                source_ips=(e.source_ip for e in refused),
                                user_agents=(e.user_agent for e in refused)),
        },
        entities=caller_entities(refused),
        at=first.time,
    )
