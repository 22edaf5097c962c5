"""The event checks' look-back, kept between evaluations so that each stored event is read once.

An evaluation used to read every stored event of the look-back (seven days by default) and
decode its payload again: 354 ms at 10,000 stored events, every ten messages in a burst. The
engine now keeps the look-back in memory and asks the store only for rows received since the
newest one it read (`received_at`, indexed). Events old enough that no check shows them as
evidence any more (older than the longest check window, plus the hour of a principal's activity
a finding shows around it) are kept as summaries: who called (principal, type, access key),
from where, with what, when, and whether from a console session. That is all the "new address
/ new user agent / console user" history reads, and it is a fraction of a full record. The
strings events repeat (account, region, principal, address, agent, ...) are shared between the
events kept: decoded from each row they were copies, half of an event's memory (a look-back of
93,000 events held about 50 MiB of them, 570 bytes an event).

Another process may store events too (a one-shot scan beside the daemon, the other workers of
the procrastinate engine). A row it commits with a `received_at` older than the newest one
read here would be missed, so the whole look-back is read again every `FULL_READ_EVERY`: a
miss is healed within that time and is never more than late.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from costguard.snapshot import ApiEvent, GuardDutyFinding

if TYPE_CHECKING:
    from costguard.store import Unit


FULL_READ_EVERY = timedelta(hours=1)
"""How often the whole look-back is read again (see the module's docstring)."""

MAX_SKIPPED = 1000
"""At most this many ids are named to the store as already read (see `at_cursor`)."""

SUMMARY_EXTRA = ("sessionCredentialFromConsole",)
"""The record fields outside the normalized ones that the history checks read."""

REPEATED = ("account", "region", "service", "name", "principal_type", "principal_arn",
            "access_key_id", "user_name", "source_ip", "user_agent", "error_code")
"""The fields whose values recur from event to event, kept once (see the module's docstring)."""


def shared(event: ApiEvent) -> ApiEvent:
    """The same event, its repeated strings replaced by one interned copy of each."""
    values = {name: sys.intern(value) for name in REPEATED
              if isinstance(value := getattr(event, name), str)}
    return replace(event, **values)


def summary(event: ApiEvent) -> ApiEvent:
    """An event reduced to what a principal's history is judged on."""
    extra = {k: event.extra[k] for k in SUMMARY_EXTRA if k in event.extra}
    return replace(event, request={}, response={}, extra=extra)


@dataclass
class EventHistory:
    """The look-back of one engine: whole events in the detail window, summaries before it."""

    api: dict[str, ApiEvent] = field(default_factory=dict)
    guardduty: dict[str, tuple[datetime, GuardDutyFinding]] = field(default_factory=dict)
    cursor: datetime | None = None
    at_cursor: set[str] = field(default_factory=set)
    """The rows read that were received exactly at `cursor` (one unit's): not read again."""
    full_read_at: datetime | None = None
    detail: timedelta | None = None
    last_read: int = 0
    """Rows the last `read` took from the store (what the tests and benchmarks count)."""
    unevaluated: bool = False
    """Events were stored without an evaluation (a burst's intake, Engine.ingest)."""

    def read(self, unit: Unit, *, since: datetime, detail_since: datetime,
             now: datetime) -> tuple[list[ApiEvent], list[GuardDutyFinding]]:
        """The look-back at `now`: events at or after `since`, whole from `detail_since`."""
        if self._must_read_all(now, now - detail_since):
            self.api.clear()
            self.guardduty.clear()
            self.cursor, self.full_read_at, self.detail = None, now, now - detail_since
            self.at_cursor = set()
        rows = unit.events_received(since=since, received_from=self.cursor,
                                    already=self.at_cursor)
        self.last_read = len(rows)
        for row in rows:
            self._add(row.event, row.time)
            if self.cursor is None or row.received_at > self.cursor:
                self.cursor, self.at_cursor = row.received_at, set()
            if row.received_at == self.cursor:
                self.at_cursor.add(row.key)
        if len(self.at_cursor) > MAX_SKIPPED:
            self.at_cursor = set()  # read those again rather than send thousands of ids
        self._age(since, detail_since)
        api = sorted(self.api.values(), key=lambda e: (e.time, e.event_id))
        latest = sorted(self.guardduty.values(), key=lambda pair: pair[0])
        return api, [finding for _, finding in latest]

    def _must_read_all(self, now: datetime, detail: timedelta) -> bool:
        """Cold, due for the periodic full read, or the checks' windows changed (a reload):
        summaries cannot become whole events again."""
        return (self.full_read_at is None or now - self.full_read_at >= FULL_READ_EVERY
                or now < self.full_read_at or detail != self.detail)

    def _add(self, event: ApiEvent | GuardDutyFinding, time: datetime) -> None:
        if isinstance(event, ApiEvent):
            if event.event_id not in self.api:
                self.api[event.event_id] = shared(event)
            return
        known = self.guardduty.get(event.finding_id)
        if known is None or time >= known[0]:  # the latest update wins
            self.guardduty[event.finding_id] = (time, event)

    def _age(self, since: datetime, detail_since: datetime) -> None:
        """Forget what left the look-back; summarize what left the detail window."""
        for key, event in list(self.api.items()):
            if event.time < since:
                del self.api[key]
            elif event.time < detail_since and (
                    event.request or event.response
                    or any(k not in SUMMARY_EXTRA for k in event.extra)):
                self.api[key] = summary(event)
        for key, (time, _) in list(self.guardduty.items()):
            if time < since:
                del self.guardduty[key]
