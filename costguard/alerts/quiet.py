"""Quiet hours and mutes applied at an instant: pure, so tested with an injected clock.

Quiet hours hold a route's non-critical messages in the outbox until the window ends (they are
stored at once, due later, so a restart in the night loses nothing); critical ones are never
held. A channel that some route takes the incident to outside quiet hours gets it at once.

A finding is muted when the store says so (`costguard findings mute ID`) or when a mute rule
(the config's `mutes:`, or one added with `costguard findings mute --check ...`) matches it
and has not expired. An incident whose findings are all muted is not
announced; when the mute ends, the next cycle announces it if it is still open.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from fnmatch import fnmatchcase
from typing import Protocol

from costguard.alerts.alert import AlertFinding
from costguard.model import Severity, Status
from costguard.settings.muting import QuietHours


class MuteLike(Protocol):
    """A mute rule from the config (`settings.muting.MuteRule`) or from the store
    (`store.mute_rules.StoredMute`): any condition left None matches anything."""

    @property
    def account(self) -> str | None: ...
    @property
    def check(self) -> str | None: ...
    @property
    def resource(self) -> str | None: ...
    @property
    def tag(self) -> Mapping[str, str] | None: ...
    @property
    def until(self) -> datetime: ...


def quiet_until(quiet: QuietHours, now: datetime) -> datetime | None:
    """When the quiet window `now` falls in ends (in UTC); None outside it.

    A window whose end is earlier than its start runs over midnight (22:00 to 07:00). Times
    are wall-clock times in the window's zone, so the window follows daylight saving.
    """
    zone = quiet.zone
    local = now.astimezone(zone)
    start, end = quiet.times()
    for day in (local.date() - timedelta(days=1), local.date()):
        opens = datetime.combine(day, start, tzinfo=zone)
        closes_on = day if end > start else day + timedelta(days=1)
        closes = datetime.combine(closes_on, end, tzinfo=zone)
        if opens <= local < closes:
            return closes.astimezone(timezone.utc)
    return None


def held_until(quiet: QuietHours | None, severity: Severity, now: datetime) -> datetime | None:
    """When a message of `severity` on a route with `quiet` may go; None for right away."""
    if quiet is None or severity >= Severity.CRITICAL:
        return None
    return quiet_until(quiet, now)


def latest_hold(holds: Iterable[datetime | None]) -> datetime | None:
    """A channel several routes take an incident to: right away if any of them says so,
    else at the earliest end of their quiet windows."""
    ends = []
    for hold in holds:
        if hold is None:
            return None
        ends.append(hold)
    return min(ends) if ends else None


def mute_matches(rule: MuteLike, finding: AlertFinding, now: datetime) -> bool:
    """Whether an unexpired rule covers the finding: every condition it gives holds."""
    if rule.until <= now:
        return False
    if rule.account is not None and finding.account != rule.account:
        return False
    if rule.check is not None and finding.check != rule.check:
        return False
    if rule.resource is not None and not fnmatchcase(finding.resource, rule.resource):
        return False
    return rule.tag is None or _has_tags(finding, rule.tag)


def is_muted(finding: AlertFinding, rules: Sequence[MuteLike], now: datetime) -> bool:
    """Muted by triage (`findings mute`) or by a config rule."""
    if finding.status == Status.MUTED.value:
        return True
    return any(mute_matches(rule, finding, now) for rule in rules)


def all_muted(findings: Sequence[AlertFinding], rules: Sequence[MuteLike],
              now: datetime) -> bool:
    """An incident nobody is told about: it has findings and every one is muted."""
    return bool(findings) and all(is_muted(f, rules, now) for f in findings)


def _has_tags(finding: AlertFinding, wanted: Mapping[str, str]) -> bool:
    tags = finding.details.get("tags") or {}
    return isinstance(tags, Mapping) and all(tags.get(k) == v for k, v in wanted.items())
