"""Announces each incident change of a cycle once (new, grown, severity raised, overdue, still
open, resolved) through the notifier into the outbox, in the cycle's unit of work.

It works from the keeper's copies of the incidents and their findings; it reads which channels
each incident's first message went to, for all incidents in one query, and the outbox rows of
the incidents that grew. What it queues is rendered when it is sent (`incidents.dispatch`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from costguard.alerts.alert import Alert
from costguard.incidents.dispatch import OVERFLOW, build_alert, incident_key, placeholder
from costguard.incidents.keeper import IncidentKeeper
from costguard.model import AlertKind, Message, Severity, Status
from costguard.store.crash_points import crash_point
from costguard.store.records import IncidentTime, NotificationStatus, StoredIncident

if TYPE_CHECKING:
    from costguard.alerts.routing import Notifier
    from costguard.notifiers.delivery import DeliveryReport
    from costguard.store import Store

__all__ = ["Announcer", "incident_key", "record_delivery", "reminders_due"]

CAPPED = frozenset({AlertKind.NEW})
"""Kinds a route's hourly cap applies to: an incident's first message. Follow-ups of an
incident a channel was told about always go to it."""


def reminders_due(notified_at: datetime, now: datetime, first: timedelta,
                  cap: timedelta) -> int:
    """How many reminders of an unacknowledged incident are due by `now`: the first `first`
    after its alert, then at twice the time since the alert each time (4 h, 8 h, 16 h, ...),
    never more than `cap` apart."""
    count, at, gap = 0, notified_at + first, first
    while at <= now:
        count += 1
        at += min(gap, cap)
        gap *= 2
        if count > 10_000:  # a zero-length gap cannot happen (durations are >= 1 s); belt
            break
    return count


class Announcer:
    """Queues one cycle's messages; `contained` holds what auto-containment did (or would do)
    per new incident, for its first message."""

    def __init__(self, keeper: IncidentKeeper, notifier: Notifier,
                 contained: Mapping[int, Sequence[str]] | None = None) -> None:
        self.keeper = keeper
        self.store = keeper.store
        self.notifier = notifier
        self.now = keeper.now
        self.contained = dict(contained or {})
        self.announced: dict[str, set[str]] = {}
        """The channels each incident's first message was queued for, summarized or not."""
        self.told: dict[str, set[str]] = {}
        """The channels that got (or will get) an incident's first message on its own: its
        follow-ups go there. An incident only named in an overflow summary gets none, so a
        fix of 200 capped incidents is not 200 resolutions."""

    def announce(self) -> int:
        """Queue a message for each change of this cycle; returns how many were queued.

        An open incident never announced (seen first by `scan --no-notify`, or routed nowhere
        then) is announced now: a finding must not lose its alert because of how it was seen.
        """
        changes, live = self.keeper.changes, self.keeper.open_incidents()
        firsts = [incident_key(i, AlertKind.NEW) for i in self.keeper.incidents.values()]
        self.announced = self.store.channels_for(firsts)
        self.told = self.store.channels_for(firsts, skip=[NotificationStatus.SUMMARIZED])
        fresh = [i for i in live if incident_key(i, AlertKind.NEW) not in self.announced]
        overdue = [i for i in live if self._overdue(i)]
        self.keeper.members.need({i.id for i in [*fresh, *overdue]} | set(changes.raised)
                                 | set(changes.resolved) | set(changes.joined))
        queued = sum(self._queue(i.id, AlertKind.NEW) for i in fresh)
        queued += sum(self._raised(i, previous) for i, previous in changes.raised.items())
        updates = self._updates({i.id for i in fresh})
        if updates:
            crash_point("after-update-queued")
        queued += updates + sum(self._escalate(i) for i in overdue)
        reminders = self._reminders(live)
        if reminders:
            crash_point("after-renotify-queued")
        queued += reminders
        return queued + sum(self._queue(i, AlertKind.RESOLVED) for i in changes.resolved)

    def _raised(self, incident_id: int, previous: Severity) -> int:
        """A worse finding joined an announced incident: tell the channels told before."""
        raised = f"raised-{self.keeper.incidents[incident_id].severity.value}"
        return self._queue(incident_id, AlertKind.ESCALATION, raised,
                           previous_severity=str(previous))

    def _updates(self, fresh: set[int]) -> int:
        """Findings joined announced incidents: one update per incident and channel, due
        after the settle window. A channel whose first message or an update is still waiting
        gets nothing more: that message is rendered when sent and will include the change."""
        changes, queued = self.keeper.changes, 0
        settle = timedelta(seconds=self.keeper.config.incidents.update_settle)
        for incident_id in sorted(changes.joined):
            incident = self.keeper.incidents[incident_id]
            if (incident_id in fresh or incident_id in changes.raised
                    or incident.resolved_at is not None):
                continue
            rows = self.store.notifications(incident_id=incident_id)
            told = {r.channel for r in rows if r.message.kind is AlertKind.NEW
                    and r.status is not NotificationStatus.SUMMARIZED}
            waiting = {r.channel for r in rows if r.status is NotificationStatus.PENDING
                       and r.in_flight_at is None
                       and r.message.kind in (AlertKind.NEW, AlertKind.UPDATE)}
            channels = sorted(told - waiting)
            if not channels:
                continue
            seq = 1 + len({r.key for r in rows if r.message.kind is AlertKind.UPDATE})
            queued += self._queue(incident_id, AlertKind.UPDATE, str(seq), route=channels,
                                  due=self.now + settle)
        return queued

    def _reminders(self, live: Sequence[StoredIncident]) -> int:
        """Unacknowledged open incidents, again at `incidents.renotify`, doubling."""
        config = self.keeper.config.incidents
        if config.renotify is None:
            return 0
        first, cap = timedelta(seconds=config.renotify), timedelta(seconds=config.renotify_max)
        due: dict[str, tuple[StoredIncident, int]] = {}
        for incident in live:
            if incident.notified_at is None or incident.acknowledged_at is not None:
                continue
            count = reminders_due(incident.notified_at, self.now, first, cap)
            if count:
                due[incident_key(incident, AlertKind.RENOTIFY, str(count))] = (incident, count)
        done = self.store.channels_for(due)
        queued = 0
        for key, (incident, count) in due.items():
            if key not in done:
                queued += self._queue(incident.id, AlertKind.RENOTIFY, str(count))
        return queued

    def _overdue(self, incident: StoredIncident) -> bool:
        """Notified but not fixed within the target, and not escalated yet."""
        start = incident.notified_at
        target = timedelta(minutes=self.keeper.config.incidents.target_minutes)
        return start is not None and incident.escalated_at is None and self.now - start > target

    def _escalate(self, incident: StoredIncident) -> int:
        """An overdue incident goes to the escalation route, once."""
        incidents = self.keeper.config.incidents
        minutes = round((self.now - (incident.notified_at or self.now)).total_seconds() / 60)
        summary = (f"Incident #{incident.id} has been open for {minutes} minutes since its "
                   f"alert, past the {incidents.target_minutes}-minute target.")
        queued = self._queue(incident.id, AlertKind.ESCALATION, "overdue",
                             route=list(incidents.escalate_to), summary=summary)
        self.keeper.escalated(incident.id)
        return queued

    def _queue(self, incident_id: int, kind: AlertKind, suffix: str = "",
               route: list[str] | None = None, due: datetime | None = None,
               **facts: Any) -> int:
        """Queue one deferred message per channel: `route`, else the incident's destinations
        (for a follow-up, only those its first message went to)."""
        from costguard.alerts.routing import alert_finding

        incident = self.keeper.incidents[incident_id]
        first = incident_key(incident, AlertKind.NEW)
        if route:
            channels = list(route)
        else:
            stored = self.keeper.members.of(incident_id)
            shown = [f for f in stored if f.status != Status.RESOLVED] or stored
            findings = [alert_finding(f, self.notifier.policies.get(f.policy)) for f in shown]
            channels = self.notifier.destinations(findings, incident.severity)
            if kind is not AlertKind.NEW:
                channels = [c for c in channels if c in self.told.get(first, set())]
        if kind is AlertKind.NEW and self.contained.get(incident_id):
            facts["auto_contain"] = list(self.contained[incident_id])
        message = placeholder(kind, incident_key(incident, kind, suffix), incident, facts)
        queued = 0
        for channel in channels:
            added, alone = self._enqueue(message, channel, due)
            queued += added
            if kind is AlertKind.NEW:
                self.announced.setdefault(first, set()).add(channel)
                if alone:
                    self.told.setdefault(first, set()).add(channel)
        return queued

    def _enqueue(self, message: Message, channel: str, due: datetime | None,
                 ) -> tuple[int, bool]:
        """One channel's copy: (messages queued, whether it goes alone). An incident's first
        message over the channel's hourly cap is recorded as summarized and named in the
        hour's overflow summary instead."""
        if message.kind in CAPPED:
            cap = self.notifier.hourly_cap(channel)
            if self.store.queued_since(channel, self.now - timedelta(hours=1)) >= cap:
                added = self.store.enqueue(key=message.key, channel=channel, message=message,
                                           now=self.now, deferred=True,
                                           status=NotificationStatus.SUMMARIZED)
                if added is None:
                    return 0, False
                return self._summarize(channel, message), False
        added = self.store.enqueue(key=message.key, channel=channel, message=message,
                                   now=self.now, deferred=True, due=due)
        return int(added is not None), True

    def _summarize(self, channel: str, message: Message) -> int:
        """Name the incident in this hour's overflow summary of `channel`; 1 when that queued
        a new summary."""
        base = f"overflow-{channel}-{self.now:%Y%m%dT%H}"
        for n in range(1000):
            key = base if n == 0 else f"{base}-{n}"
            known = bool(self.store.channels_for([key]))
            summary = Message(key=key, kind=AlertKind.DIGEST, severity=message.severity,
                              subject=f"[costguard] incidents over the hourly cap of {channel}",
                              text="", html="", fields={OVERFLOW: []})
            if self.store.add_to_summary(key=key, channel=channel, message=summary,
                                         now=self.now, due=self.now,
                                         incident_id=int(message.incident_id or 0)):
                return 0 if known else 1
        return 0

    def alert(self, incident_id: int, kind: AlertKind, suffix: str = "", **facts: Any) -> Alert:
        """The alert for one incident event as it would be rendered now (previews, tests)."""
        incident = self.keeper.incidents[incident_id]
        return build_alert(self.notifier, incident, self.keeper.members.of(incident_id), kind,
                           incident_key(incident, kind, suffix), self.now, **facts)


def record_delivery(store: Store, report: DeliveryReport) -> None:
    """Stamp `notified_at` on incidents whose first message went out in this delivery.

    The outbox stamps it in the transaction that records the send (`mark_sent`); this is for
    a delivery recorded by something else (a channel's own test harness), and changes nothing
    already stamped.
    """
    for sent in report.delivered:
        if sent.kind is AlertKind.NEW and sent.incident_id is not None:
            incident = store.get_incident(sent.incident_id)
            if incident.notified_at is None:
                store.set_incident_time(incident.id, IncidentTime.NOTIFIED, sent.sent_at)
