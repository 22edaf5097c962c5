"""The Store: the one object the engine, daemon and CLI use to reach the database.

Outside a unit of work every Store method is one short transaction of its own, which is what a
CLI command or a read from another thread wants. A cycle instead opens one unit (`Store.unit`)
and hands it down: the unit has every method of the Store, all running in the unit's one
session, and what they write commits together when the unit ends (or not at all).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import TracebackType

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from costguard.store.access import StoreUnavailable, engine_url, guarded, masked
from costguard.store.check_counts import CheckCountsMixin
from costguard.store.connection import create_engine, plain_value_errors
from costguard.store.crash_points import crash_point
from costguard.store.delivery_stats import DeliveryStatsMixin
from costguard.store.event_log import EventsMixin
from costguard.store.findings import FindingsMixin
from costguard.store.incidents import IncidentsMixin
from costguard.store.migrate import SchemaTooNew, ensure_schema
from costguard.store.mute_rules import MuteRulesMixin
from costguard.store.outbox import OutboxMixin
from costguard.store.retention import RetentionMixin
from costguard.store.scans import ScansMixin
from costguard.store.state import StateMixin
from costguard.store.tickets import TicketsMixin
from costguard.store.time_series import SamplesMixin
from costguard.store.weekly_reports import WeeklyReportsMixin

log = logging.getLogger(__name__)

_UNIT_LOCK = 0x63677577  # "cguw": the advisory lock id of serial units


class Store(
    ScansMixin, FindingsMixin, IncidentsMixin, SamplesMixin, OutboxMixin, StateMixin, EventsMixin,
    CheckCountsMixin, WeeklyReportsMixin, DeliveryStatsMixin, TicketsMixin, MuteRulesMixin,
    RetentionMixin,
):
    """Everything costguard keeps between runs, behind plain methods and frozen records.

    Each method is one short transaction, so a Store is safe to share between threads and
    between processes on the same database. Callers pass and get aware UTC datetimes.
    """

    serial_units = False
    """When set (the procrastinate engine, on PostgreSQL), units of work take one
    transaction-scoped advisory lock: workers collect in parallel but conclude one at a time, as
    grouping findings into incidents, the hourly caps and the source health read what another
    worker's unit may be writing. A unit opened with `serialize_later` takes it only when it
    calls `Unit.serialize()`, so the part before (building the snapshot, evaluating) runs in
    parallel too."""

    @classmethod
    def open(cls, url: str) -> Store:
        """Connects to `url` (making a SQLite file's folder), migrating it to the newest schema.

        Any failure to reach or read the database is a one-line StoreUnavailable (the CLI's
        exit code 4); a corrupt or newer database is left exactly as it was.
        """
        target = engine_url(url)
        engine = guarded(target, lambda: create_engine(target.render_as_string(False)))
        try:
            guarded(target, lambda: ensure_schema(engine))
        except SchemaTooNew as exc:
            engine.dispose()
            raise StoreUnavailable(f"cannot use the store {masked(target)}: {exc}") from None
        except BaseException:
            engine.dispose()
            raise
        return cls(engine)

    @contextmanager
    def unit(self, *, serialize_later: bool = False) -> Iterator[Unit]:
        """One unit of work: a Store whose methods share one transaction, committed when the
        block ends and rolled back when it raises; then its after-commit hooks run.

        The transaction is a writer's: on SQLite it takes the write lock with its first
        statement (BEGIN IMMEDIATE), so another process's `findings ack` waits for the unit to
        end. Keep slow work (AWS calls) outside the block. With `serialize_later` the caller
        promises to only read, and insert rows no other unit reads, until it calls
        `Unit.serialize()`.
        """
        serial = self.serial_units and self._engine.dialect.name == "postgresql"
        with self._writes() as session:
            unit = Unit(self._engine, session, serial=serial)
            with plain_value_errors(), session.begin():
                if not serialize_later:
                    unit.serialize()
                yield unit
        crash_point("after-unit-commit")
        unit.run_hooks()

    def _serialize(self, session: Session) -> None:
        """Wait for the other workers' units of work: the lock is the transaction's, so it is
        released by the commit or the rollback, and by a worker's death."""
        session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _UNIT_LOCK})

    def close(self) -> None:
        """Closes every pooled connection."""
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class Unit(Store):
    """The Store inside a unit of work: every method runs in the unit's session.

    A writing method runs in a SAVEPOINT, so one that fails (an unknown id, a refused
    transition) leaves nothing half-done in the unit, as it would leave nothing outside one.
    Reads see what the unit wrote before them.
    """

    def __init__(self, engine: Engine, session: Session, *, serial: bool = False) -> None:
        super().__init__(engine)
        self._session = session
        self._hooks: list[Callable[[], object]] = []
        self._serial = serial
        """Whether this unit must run alone before its read-modify-writes (see serialize)."""

    @property
    def beside_others(self) -> bool:
        """Whether other serial units may still be running beside this one (it promised to
        serialize later and has not yet): what it reads may change before its commit."""
        return self._serial

    def serialize(self) -> None:
        """From here to the commit no other serial unit runs (a no-op unless the Store's
        `serial_units` is set on PostgreSQL, and when already serialized).

        Rows read before are forgotten, so the rest of the unit reads what the units that ran
        before it committed, not what it saw while they were still running."""
        if not self._serial:
            return
        self._serial = False
        self._session.flush()
        self._serialize(self._session)
        self._session.expire_all()

    @contextmanager
    def _write(self) -> Iterator[Session]:
        with plain_value_errors(), self._session.begin_nested():
            yield self._session

    @contextmanager
    def _read(self) -> Iterator[Session]:
        with plain_value_errors():
            yield self._session

    @contextmanager
    def unit(self, *, serialize_later: bool = False) -> Iterator[Unit]:
        """Already in one: code handed a unit that asks for a unit joins it (serialized, unless
        it promises to serialize later)."""
        if not serialize_later:
            self.serialize()
        yield self

    def after_commit(self, hook: Callable[[], object]) -> None:
        """Run `hook` once the unit has committed (never when it rolls back): side effects
        that must follow the commit, such as deleting queue messages whose events it stored."""
        self._hooks.append(hook)

    def run_hooks(self) -> None:
        """Run the after-commit hooks in order. The commit stands whatever they do, so a
        failing hook is logged and the others still run; hooks are for effects whose failure
        the protocol tolerates (an undeleted message comes back, and is deduplicated)."""
        hooks, self._hooks = self._hooks, []
        for hook in hooks:
            try:
                hook()
            except Exception:
                log.exception("after-commit step %r failed", hook)

    def close(self) -> None:
        """A unit's connection is its Store's: closing is the owner's business."""
