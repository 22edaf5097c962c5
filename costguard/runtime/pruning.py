"""Retention on a schedule: the daemon deletes what `store.retention` says has aged out.

The periods are floors, never cuts into what the checks read: events are kept for at least
the event checks' look-back and burn samples for at least the burn history, whatever the
config says, so pruning can never change a finding. What an open incident or a pending
message needs is never deleted (store.retention).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from costguard.runtime.snapshot_builder import event_window, history_since
from costguard.settings.config import Config
from costguard.settings.policies import Policy

if TYPE_CHECKING:
    from costguard.store import Store
    from costguard.store.retention import Cutoffs

log = logging.getLogger(__name__)


def cutoffs(config: Config, policies: Sequence[Policy], now: datetime) -> Cutoffs:
    """What is older than these goes, given the config's periods and the checks' needs."""
    from costguard.store.retention import Cutoffs

    keep = config.store.retention
    return Cutoffs(
        events=now - max(timedelta(seconds=keep.events), event_window(policies)),
        burn_samples=min(now - timedelta(seconds=keep.burn_samples), history_since(now)),
        scans=now - timedelta(seconds=keep.scans),
        resolved=now - timedelta(seconds=keep.resolved),
        messages=now - timedelta(seconds=keep.messages),
    )


def prune(store: Store, config: Config, policies: Sequence[Policy], now: datetime
          ) -> dict[str, int]:
    """Delete what aged out, in one transaction; returns the rows deleted per table."""
    deleted = store.prune(cutoffs(config, policies, now))
    if any(deleted.values()):
        log.info("pruned %s", ", ".join(f"{n} {t}" for t, n in deleted.items() if n))
    return deleted
