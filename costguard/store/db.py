"""The Store: the one object the engine, daemon and CLI use to reach the database."""

from __future__ import annotations

from types import TracebackType

from costguard.store.access import StoreUnavailable, engine_url, guarded, masked
from costguard.store.connection import create_engine
from costguard.store.event_log import EventsMixin
from costguard.store.findings import FindingsMixin
from costguard.store.incidents import IncidentsMixin
from costguard.store.migrate import SchemaTooNew, ensure_schema
from costguard.store.outbox import OutboxMixin
from costguard.store.scans import ScansMixin
from costguard.store.state import StateMixin
from costguard.store.time_series import SamplesMixin


class Store(
    ScansMixin, FindingsMixin, IncidentsMixin, SamplesMixin, OutboxMixin, StateMixin, EventsMixin
):
    """Everything costguard keeps between runs, behind plain methods and frozen records.

    Each method is one short transaction, so a Store is safe to share between threads and
    between processes on the same database. Callers pass and get aware UTC datetimes.
    """

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
