"""Which events are worth storing (pure): the intake's filter.

Most of a CloudTrail stream is successful read-only calls (Describe*, Get*, List*): about
nineteen of twenty in a working account. No built-in check reads their contents, so they are
stored only when a loaded Sigma rule could match them (decided on the rules' conditions on
eventSource, eventName and readOnly: sigma_match.RuleSet.wants). Refused calls are always
kept (a key being tried out). What the checks do read from reads is who called from where
with what: a principal's everyday addresses and user agents, against which a write from a new
address stands out. So of the reads no rule wants, the first of each (principal, address,
agent) in a batch is kept as a sighting, without its request, response or rest of record.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from costguard.activity.api_calls import failed, is_read
from costguard.activity.event_records import PrincipalType
from costguard.snapshot import ApiEvent, GuardDutyFinding

Event = ApiEvent | GuardDutyFinding


def sighting(event: ApiEvent) -> ApiEvent:
    """A read kept only for who called, from where, with what."""
    return replace(event, request={}, response={}, extra={})


def _whole(event: Event, rules: Any) -> bool:
    """Whether an event is stored as it is: not a read, or a read some rule could match."""
    if not isinstance(event, ApiEvent) or not is_read(event) or failed(event):
        return True  # a refused read is evidence (a key being tried out)
    return rules is not None and bool(rules.wants(event))


def kept(events: Iterable[Event], rules: Any = None) -> list[Event]:
    """The events to store: every write and GuardDuty finding, the reads a rule could match,
    and one sighting per (principal, address, agent) of the other reads."""
    out: list[Event] = []
    seen: set[tuple[str | None, str | None, str | None]] = set()
    for event in events:
        if _whole(event, rules):
            out.append(event)
        elif event.principal_arn and event.principal_type != PrincipalType.AWS_SERVICE:
            who = (event.principal_arn, event.source_ip, event.user_agent)
            if who not in seen:
                seen.add(who)
                out.append(sighting(event))
    return out
