"""costguard's view of its own sources: consecutive failed cycles and the last event seen.

Kept in the store (one small JSON value), so a one-shot `scan` run from cron still notices a
source that has failed on every run, and so replicas share it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from costguard.runtime.gather import Gathered
from costguard.snapshot import SourceHealth

if TYPE_CHECKING:
    from costguard.store import Store

STATE_KEY = "health"
QUEUE_SOURCE = "events"
COVERAGE_SOURCE = "event_source"
"""Health records of whether a region's events reach costguard at all (a queue or the S3
trail source); a failure is a region with neither."""
UNCOVERED = ("no event queue and no S3 trail source covers this region: run "
             "`costguard setup events`, or set events.s3_trail")


def _key(source: str, account: str, region: str) -> str:
    return f"{source}|{account}|{region}"


class HealthBook:
    """Reads, updates and writes the health of every (source, account, region)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def _load(self) -> dict[str, dict[str, Any]]:
        raw = self.store.get_state(STATE_KEY)
        try:
            value = json.loads(raw) if raw else {}
        except ValueError:  # a damaged value restarts the counts rather than stopping scans
            return {}
        return value if isinstance(value, dict) else {}

    def update(self, gathered: Gathered, queues: Iterable[tuple[str, str]],
               received: Iterable[tuple[str, str]], now: datetime, *,
               write: bool = True) -> tuple[SourceHealth, ...]:
        """Count this cycle's outcome per scope; mark queues that delivered messages now.

        Without `write` it only says what it would store: a unit that serializes later counts
        again once serialized, on the book as it is then (another worker's unit may have counted
        its own scopes meanwhile, and the book is one row)."""
        book = self._load()
        for source, account, region in gathered.attempted:
            entry = book.setdefault(_key(str(source), account, region), {})
            entry["cycles"] = int(entry.get("cycles", 0)) + 1
            if (source, account, region) in gathered.failed:
                entry["failures"] = int(entry.get("failures", 0)) + 1
                entry["failed"] = int(entry.get("failed", 0)) + 1
                entry["error"] = _error_for(gathered.errors, str(source), account, region)
            else:
                entry.update(failures=0, success=now.isoformat(), error=None)
        for account, region in queues:
            book.setdefault(_key(QUEUE_SOURCE, account, region), {})
        for account, region in received:
            book.setdefault(_key(QUEUE_SOURCE, account, region), {})["event"] = now.isoformat()
        if write:
            self.store.set_state(STATE_KEY, json.dumps(book, sort_keys=True))
        return records(book)

    def mark_events(self, received: Iterable[tuple[str, str]], now: datetime) -> None:
        """The daemon's queue poller: messages arrived in these (account, region) queues."""
        book = self._load()
        for account, region in received:
            book.setdefault(_key(QUEUE_SOURCE, account, region), {})["event"] = now.isoformat()
        self.store.set_state(STATE_KEY, json.dumps(book, sort_keys=True))

    def mark_coverage(self, coverage: dict[tuple[str, str], bool]) -> None:
        """Record which regions' events reach costguard this cycle."""
        book = self._load()
        for (account, region), covered in coverage.items():
            entry = book.setdefault(_key(COVERAGE_SOURCE, account, region), {})
            if covered:
                entry.update(failures=0, error=None)
            else:
                entry.update(failures=int(entry.get("failures", 0)) + 1, error=UNCOVERED)
        self.store.set_state(STATE_KEY, json.dumps(book, sort_keys=True))

    def current(self) -> tuple[SourceHealth, ...]:
        """The stored health, unchanged."""
        return records(self._load())


def records(book: dict[str, dict[str, Any]]) -> tuple[SourceHealth, ...]:
    """The stored book as SourceHealth records, sorted for stable output."""
    out = []
    for key, entry in sorted(book.items()):
        source, account, region = key.split("|", 2)
        out.append(SourceHealth(
            source=source, account=account, region=region,
            consecutive_failures=int(entry.get("failures", 0)),
            last_success_at=_time(entry.get("success")), last_error=entry.get("error"),
            last_event_at=_time(entry.get("event")),
            cycles=int(entry.get("cycles", 0)), failed_cycles=int(entry.get("failed", 0)),
        ))
    return tuple(out)


def _time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def _error_for(errors: Iterable[str], source: str, account: str, region: str) -> str | None:
    where = f"{source} {account}" if region == "global" else f"{source} {account}/{region}"
    return next((e for e in errors if e.startswith(where)), None)
