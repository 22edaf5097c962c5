"""Taking events in: store them (each id once), then delete their queue messages, then move
the history cursors. In that order, so a crash between steps delivers again rather than loses:
processing is at least once, and storing by event id makes it idempotent.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from costguard.activity.intake_filter import kept
from costguard.runtime.source_health import HealthBook

log = logging.getLogger(__name__)


class Intake:
    """The store side of the event pipeline. Read-only calls (most of a CloudTrail stream)
    are not stored unless a Sigma rule could match them (`kept`)."""

    def __init__(self, store: Any, rules: Any = None) -> None:
        self.store = store
        self.rules = rules

    def cursor(self, key: str) -> datetime | None:
        """A history cursor (None: never read, start from the initial look-back)."""
        value = self.store.get_state(key)
        try:
            return datetime.fromisoformat(value) if value else None
        except ValueError:
            log.warning("ignoring a damaged cursor %s=%r", key, value)
            return None

    def take(self, harvest: Any, targets: Iterable[Any], now: datetime) -> int:
        """Store the harvest's events, delete the messages that carried them, save cursors;
        returns how many events were new."""
        new = self.store.record_events(kept(harvest.events, self.rules), received_at=now)
        by_account = {t.account: t for t in targets}
        for (account, region), received in harvest.received.items():
            if received and account in by_account:
                queue = by_account[account].collectors.get(f"queue:{region}")
                if queue is not None:
                    queue.delete(received)
        for queue, messages in harvest.trail_files:
            queue.delete(messages)
        for key, cursor in harvest.cursors.items():
            self.store.set_state(key, cursor.isoformat())
        if harvest.coverage:
            HealthBook(self.store).mark_coverage(harvest.coverage)
        if new:
            log.info("%d new events (%d delivered)", len(new), len(harvest.events))
        return len(new)

    def take_messages(self, queue: Any, received: list[Any], now: datetime) -> int:
        """The daemon's poller: one receive's messages, stored then deleted."""
        events = [e for r in received for e in r.events]
        new = self.store.record_events(kept(events, self.rules), received_at=now)
        queue.delete(received)
        return len(new)
