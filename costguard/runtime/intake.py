"""Taking events in: store them (each id once) with the history cursors that led to them, in
the cycle's unit of work; delete their queue messages only once that has committed.

In that order, so a crash at any point delivers again rather than loses: a message deleted
before its event was stored would be gone, while a message whose event was stored but that was
not deleted comes back and is dropped as already seen. Processing is at least once, and
storing by event id makes it idempotent.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING

from costguard.activity.intake_filter import kept
from costguard.activity.sigma_match import RuleSet
from costguard.collectors.accounts import Target
from costguard.collectors.event_queue import EventQueue, Received
from costguard.runtime.gather_events import Harvest
from costguard.runtime.source_health import HealthBook

if TYPE_CHECKING:
    from costguard.store import Store, Unit

log = logging.getLogger(__name__)

CURSOR_PREFIX = "cursor:"
"""The state keys of the history cursors (see gather_events.cursor_key)."""


class Cursors:
    """The history cursors (None: never read, start from the initial look-back), all loaded
    in one read the first time one is asked for."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._values: dict[str, str] | None = None

    def __call__(self, key: str) -> datetime | None:
        if self._values is None:
            self._values = self._store.states(CURSOR_PREFIX)
        return _parse(key, self._values.get(key))


def _parse(key: str, value: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if value else None
    except ValueError:
        log.warning("ignoring a damaged cursor %s=%r", key, value)
        return None


def take(unit: Unit, harvest: Harvest, targets: Iterable[Target], now: datetime,
         rules: RuleSet | None = None) -> int:
    """Store the harvest's events (read-only calls only when a Sigma rule could match them,
    see activity.intake_filter) and cursors in the unit, and which regions' events reached
    costguard; the messages that carried them are deleted after its commit. Returns how many
    events were new."""
    new = unit.record_events(kept(harvest.events, rules), received_at=now)
    unit.set_states({key: cursor.isoformat() for key, cursor in harvest.cursors.items()})
    by_account = {t.account: t for t in targets}
    for (account, region), received in harvest.received.items():
        target = by_account.get(account)
        queue = target.collectors.get(f"queue:{region}") if target else None
        if received and queue is not None:
            unit.after_commit(partial(queue.delete, received))
    for trail_queue, messages in harvest.trail_files:
        unit.after_commit(partial(trail_queue.delete, messages))
    if harvest.coverage:
        HealthBook(unit).mark_coverage(harvest.coverage)
    if new:
        log.info("%d new events (%d delivered)", len(new), len(harvest.events))
    return len(new)


def take_messages(unit: Unit, queue: EventQueue, received: list[Received],
                  now: datetime, rules: RuleSet | None = None) -> int:
    """The daemon's poller: one receive's events (a trail file's records too), stored in the
    unit as `take` does, deleted after it."""
    events = [e for r in received for e in r.events]
    new = unit.record_events(kept(events, rules), received_at=now)
    unit.after_commit(partial(queue.delete, received))
    return len(new)
