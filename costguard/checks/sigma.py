"""Sigma rules matched on CloudTrail events: detections as data."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any, cast

from pydantic import Field

from costguard.activity.api_calls import unique
from costguard.activity.callers import caller_entities, callers
from costguard.activity.principals import by_principal, principal_details
from costguard.activity.sigma_match import Match, RuleSet
from costguard.activity.undo import undo_steps
from costguard.activity.watched_calls import caller_name
from costguard.checks.base import Check, Context, Params, Phase
from costguard.model import Finding, Severity, Source
from costguard.snapshot import ApiEvent, Snapshot

RULES_OPTION = "sigma_rules"
"""The `Context.options` key the engine hands the loaded rules over in (a RuleSet)."""


class SigmaParams(Params):
    """Parameters of `sigma`."""

    window_minutes: float = Field(
        default=1440, gt=0,
        description="How long a match stays a finding after the last matching event (a rule "
        "sees calls, not state, so costguard cannot see what it found undone).")
    max_events: int = Field(
        default=20, ge=1, description="How many of the matching events a finding lists.")


class Sigma(Check):
    """Detections written as Sigma rules (the open format SOC teams share detections in), run
    on every CloudTrail event costguard takes in. The rules come from `events.sigma.rules` in
    costguard.yml (by default the rules costguard ships under `policies/sigma/`; a checkout of
    a public rule set such as SigmaHQ's `rules/cloud/aws` works as it is). Rules for other log
    sources are left out.

    One finding per rule, account, region and principal, named by the principal's ARN
    followed by `#sigma/` and the rule's id, with every matching event within
    `window_minutes`. Severity is the rule's `level` (mapped through `events.sigma.levels`;
    the policy's severity for a rule without one). The rule's id, title, description,
    ATT&CK tags and references are in the details; the calling principal and its access key
    are incident entities, so a match joins the incident of the key that made the call.

    ```yaml
    policies:
      - name: sigma
        check: sigma
        severity: medium
        params: {window_minutes: 1440, max_events: 20}
    ```
    """

    id = "sigma"
    title = "A Sigma rule matched a CloudTrail event"
    severity = Severity.MEDIUM
    sources = (Source.CLOUDTRAIL,)
    remediation = "remediation/sigma.md.j2"
    Params = SigmaParams
    references = ("Sigma detection format (https://sigmahq.io)",)

    noun = "Sigma rule match"
    phrase_one = "a Sigma rule match"
    phrase_many = "{n} Sigma rule matches"
    title_rank = 65
    phase = Phase.CONTAIN
    playbook_rank = 50
    permissions = (
        "cloudtrail:LookupEvents", "cloudtrail:DescribeTrails", "cloudtrail:GetTrailStatus",
        "sqs:GetQueueUrl", "sqs:ReceiveMessage", "sqs:DeleteMessage",
    )

    @classmethod
    def phrase(cls, findings: Sequence[Any]) -> str:
        """Names the rule when one rule matched."""
        titles = unique(str((_details(f).get("rule") or {}).get("title") or "") for f in findings)
        if len(titles) == 1 and titles[0]:
            return f"Sigma: {titles[0]}"
        return super().phrase(findings)

    def evaluate(self, snapshot: Snapshot, ctx: Context) -> Iterable[Finding]:
        """One finding per (rule, account, region, principal) with matches in the window."""
        params = cast(SigmaParams, ctx.params)
        rules = ctx.options.get(RULES_OPTION)
        oldest = snapshot.now - timedelta(minutes=params.window_minutes)
        recent = [e for e in snapshot.events if e.time >= oldest]
        if not recent or not isinstance(rules, RuleSet) or not rules.rules:
            return  # no event first: rules loaded on demand stay unloaded
        groups: dict[tuple[str, str, str, str], list[Match]] = {}
        for match in rules.match(sorted(recent, key=lambda e: (e.time, e.event_id))):
            e = match.event
            key = (match.rule.info.id, e.account, e.region, e.principal_arn or "")
            groups.setdefault(key, []).append(match)
        history = by_principal(snapshot.events)
        for matches in groups.values():
            yield _finding(ctx, params, matches, history.get(matches[0].event.principal_arn
                                                             or "", []))


def _details(finding: Any) -> dict[str, Any]:
    details = getattr(finding, "details", None)
    return dict(details) if isinstance(details, dict) else {}


def _event(event: ApiEvent) -> dict[str, Any]:
    return {"event_id": event.event_id, "time": event.time.isoformat(), "name": event.name,
            "service": event.service, "caller": event.principal_arn,
            "access_key_id": event.access_key_id, "source_ip": event.source_ip,
            "user_agent": event.user_agent, "error_code": event.error_code,
            "undo": undo_steps(event)}


def _finding(ctx: Context, params: SigmaParams, matches: list[Match],
             history: list[ApiEvent]) -> Finding:
    rule, first = matches[0].rule, matches[0].event
    events = [m.event for m in matches]
    principal = first.principal_arn
    resource = f"{principal or f'arn:aws:iam::{first.account}:unknown'}#sigma/{rule.info.id}"
    return ctx.finding(
        account=first.account, region=first.region, resource=resource,
        title=f"{rule.info.title}: {first.name} by {caller_name(first)} in {first.region}",
        details={
            "account": first.account, "region": first.region, "rule": rule.info.as_details(),
            "count": len(events), "events": [_event(e) for e in events[-params.max_events:]],
            "first_seen": events[0].time.isoformat(), "last_seen": events[-1].time.isoformat(),
            "window_minutes": params.window_minutes, "callers": callers(events, ctx.now),
            **principal_details(history, principal, [e.time for e in events],
                                source_ips=(e.source_ip for e in events),
                                user_agents=(e.user_agent for e in events)),
        },
        entities=caller_entities(events),
        severity=rule.severity or ctx.severity,
        at=first.time,
    )
