"""Commands run on instances through Systems Manager by someone who does not usually."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any, cast

from pydantic import Field

from costguard.activity.api_calls import failed, request, response, service_of, unique
from costguard.activity.callers import caller_entities, callers
from costguard.activity.principals import by_principal, principal_details
from costguard.activity.watched_calls import (
    KNOWN_IP_MIN_AGE,
    SDK_AGENTS,
    caller_name,
    raised_because,
)
from costguard.checks.base import Check, Context, Params, Phase
from costguard.model import Finding, Severity, Source
from costguard.snapshot import ApiEvent, Snapshot

CALLS = ("SendCommand", "StartSession")


class RemoteCommandParams(Params):
    """Parameters of `remote_command`."""

    known_days: float = Field(default=7, gt=0, description="Days of the principal's history in "
                              "which an earlier SendCommand or StartSession makes it usual.")
    sdk_agent_patterns: tuple[str, ...] = Field(default=SDK_AGENTS, description="Globs of SDK "
                                                "and CLI user agents (see suspicious_api).")
    window_minutes: float = Field(default=1440, gt=0, description="How long a finding stays "
                                  "after the last call.")


class RemoteCommand(Check):
    """With Systems Manager, a key that may call SendCommand or StartSession runs commands as
    root on every managed instance, no SSH key or open port needed. Operators do this too, so
    a call is reported only when the principal is unusual for it: it has not called either in
    the `known_days` before (at least an hour before), or the call carries a signal
    (the root user, a new address or user agent, an SDK in a console user's hands).

    One finding per principal and region (the principal's ARN, `#ssm/`, the region), naming
    the instances, documents, command ids and session ids; the principal, its key and the
    instances are incident entities.

    ```yaml
    policies:
      - name: remote-command
        check: remote_command
        severity: high
        params: {known_days: 7, window_minutes: 1440}
    ```
    """

    id = "remote_command"
    title = "Commands were run on instances through Systems Manager by an unusual principal"
    severity = Severity.HIGH
    sources = (Source.CLOUDTRAIL,)
    remediation = "remediation/remote_command.md.j2"
    Params = RemoteCommandParams
    references = ("MITRE ATT&CK T1651 Cloud Administration Command",)

    noun = "principal"
    phrase_one = "commands run through Systems Manager"
    phrase_many = "commands run through Systems Manager by {n} principals"
    title_rank = 35
    phase = Phase.CONTAIN
    playbook_rank = 70
    permissions = (
        "cloudtrail:LookupEvents", "cloudtrail:DescribeTrails", "cloudtrail:GetTrailStatus",
        "sqs:GetQueueUrl", "sqs:ReceiveMessage", "sqs:DeleteMessage",
    )

    def evaluate(self, snapshot: Snapshot, ctx: Context) -> Iterable[Finding]:
        """One finding per principal and region with unusual remote commands."""
        params = cast(RemoteCommandParams, ctx.params)
        oldest = snapshot.now - timedelta(minutes=params.window_minutes)
        history = by_principal(snapshot.events)
        found: dict[tuple[str, str, str], list[tuple[ApiEvent, list[str]]]] = {}
        for principal, events in history.items():
            for event in events:
                why = _unusual(event, events, params) if event.time >= oldest else None
                if why is not None:
                    found.setdefault((event.account, event.region, principal), []).append(
                        (event, why))
        for (_, region, principal), calls in found.items():
            yield _finding(ctx, params, region, principal, calls, history[principal])


def remote_call(event: ApiEvent) -> bool:
    """A successful SendCommand or StartSession."""
    return event.name in CALLS and service_of(event) == "ssm" and not failed(event)


def _unusual(event: ApiEvent, history: list[ApiEvent],
             params: RemoteCommandParams) -> list[str] | None:
    """Why the call is unusual for its principal (None when it is not, or not such a call)."""
    if not remote_call(event):
        return None
    oldest = event.time - timedelta(days=params.known_days)
    newest = event.time - KNOWN_IP_MIN_AGE
    usual = any(remote_call(h) and oldest <= h.time <= newest for h in history)
    signals = [r.value for r in raised_because(event, history,
                                               agent_patterns=params.sdk_agent_patterns,
                                               known_ip_days=params.known_days)]
    why = ([] if usual else ["first_remote_command"]) + signals
    return why or None


def targets(event: ApiEvent) -> list[str]:
    """The instance ids a SendCommand or StartSession named."""
    params = request(event)
    ids = params.get("instanceIds") or []
    ids = [*ids] if isinstance(ids, list) else [ids]
    if params.get("target"):
        ids.append(params["target"])
    return unique(str(i) for i in ids if str(i).startswith(("i-", "mi-")))


def _call(event: ApiEvent, why: list[str]) -> dict[str, Any]:
    command = response(event, "command")
    return {"event_id": event.event_id, "time": event.time.isoformat(), "call": event.name,
            "instances": targets(event), "document": request(event).get("documentName")
            or command.get("documentName"), "command_id": command.get("commandId"),
            "session_id": response(event).get("sessionId"), "why": why}


def _finding(ctx: Context, params: RemoteCommandParams, region: str, principal: str,
             calls: list[tuple[ApiEvent, list[str]]], history: list[ApiEvent]) -> Finding:
    events = [e for e, _ in calls]
    first, instances = events[0], unique(i for e in events for i in targets(e))
    return ctx.finding(
        account=first.account, region=region, resource=f"{principal}#ssm/{region}",
        title=(f"{caller_name(first)} ran commands through Systems Manager on "
               f"{len(instances)} instance{'s' if len(instances) != 1 else ''} in {region}"),
        details={
            "account": first.account, "region": region, "principal": principal,
            "instances": instances, "calls": [_call(e, w) for e, w in calls],
            "why": unique(w for _, why in calls for w in why),
            "callers": callers(events, ctx.now), "window_minutes": params.window_minutes,
            **principal_details(history, principal, [e.time for e in events],
                                source_ips=(e.source_ip for e in events),
                                user_agents=(e.user_agent for e in events)),
        },
        entities=[*caller_entities(events), *(f"instance:{i}" for i in instances)],
        at=first.time,
    )
