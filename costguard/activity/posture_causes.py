"""The calls that explain a posture finding (pure): who switched GuardDuty off, who stopped
the trail. A posture finding caused by a call belongs to the incident of whoever made it, so
it is given that caller's entities; the evasion and the spending it hid are one incident.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from costguard.activity.api_calls import failed, request, service_of
from costguard.activity.callers import caller_entities, callers
from costguard.snapshot import ApiEvent


def _successful(events: Iterable[ApiEvent], service: str, names: tuple[str, ...],
                account: str) -> list[ApiEvent]:
    return sorted((e for e in events if e.name in names and e.account == account
                   and service_of(e) == service and not failed(e)),
                  key=lambda e: (e.time, e.event_id))


def detector_off_calls(events: Iterable[ApiEvent], account: str, region: str) -> list[ApiEvent]:
    """DeleteDetector, or UpdateDetector with enable false, in that account and region."""
    found = _successful(events, "guardduty", ("DeleteDetector", "UpdateDetector"), account)
    return [e for e in found if e.region == region
            and (e.name == "DeleteDetector" or request(e).get("enable") is False)]


def trail_off_calls(events: Iterable[ApiEvent], account: str, name: str,
                    arn: str) -> list[ApiEvent]:
    """StopLogging or DeleteTrail naming that trail (by name or ARN)."""
    found = _successful(events, "cloudtrail", ("StopLogging", "DeleteTrail"), account)
    return [e for e in found if str(request(e).get("name") or "") in (name, arn)]


def cause(calls: list[ApiEvent], now: datetime) -> tuple[dict[str, Any], list[str]]:
    """(details, entities) of a posture finding the calls explain; empty without calls."""
    details = {"caused_by": [
        {"event_id": e.event_id, "time": e.time.isoformat(), "call": e.name,
         "caller": e.principal_arn, "access_key_id": e.access_key_id,
         "source_ip": e.source_ip} for e in calls], "callers": callers(calls, now)}
    return details, caller_entities(calls)
