"""Engines and sessions: SQLite tuning, transaction control and the JSON encoding of every column.

SQLite needs the most care. Python's sqlite3 driver (before 3.16) does not BEGIN before a SELECT,
so a read-then-write is not isolated; we take transaction control ourselves. Writers use
`BEGIN IMMEDIATE`, which takes the write lock up front, so two processes (the daemon and a CLI
`findings ack`) wait for each other under the busy timeout instead of failing with
"database is locked" halfway through. Readers use a plain deferred BEGIN and, in WAL mode,
never block anyone.
"""

from __future__ import annotations

import enum
import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine
from sqlalchemy.orm import Session, sessionmaker

from costguard.store.access import masked
from costguard.store.unavailable import StoreUnavailable

WRITE_OPTION = "costguard_write"
"""Execution option marking a connection that will write (SQLite: BEGIN IMMEDIATE)."""

BUSY_TIMEOUT_MS = 30_000
"""How long a SQLite writer waits for another's lock before giving up."""
BUSY_TIMEOUT_ENV = "COSTGUARD_SQLITE_BUSY_TIMEOUT_MS"
"""Overrides BUSY_TIMEOUT_MS, in milliseconds: a tuning knob, and what lets the fault suite hold
a lock past the timeout in seconds rather than half a minute."""


def busy_timeout_ms(env: Mapping[str, str] = os.environ) -> int:
    """The busy timeout SQLite connections get: BUSY_TIMEOUT_ENV when set, else the default.
    A bad value is refused rather than ignored, or a typo would silently mean 30 s."""
    raw = env.get(BUSY_TIMEOUT_ENV, "").strip()
    if not raw:
        return BUSY_TIMEOUT_MS
    if not raw.isdigit() or not 0 < int(raw) <= 3_600_000:
        raise StoreUnavailable(f"{BUSY_TIMEOUT_ENV}={raw!r}: expected whole milliseconds, "
                               "1 to 3600000")
    return int(raw)


def _json_default(value: Any) -> Any:
    """Encodes the few non-JSON values checks put in details: times, enums, sets.

    Anything else raises, so a bad value fails where it is written rather than when read.
    """
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dumps(value: Any) -> str:
    """The JSON serializer of every engine the store creates."""
    return json.dumps(value, default=_json_default, separators=(",", ":"))


def _make_parent(url: URL) -> None:
    """Creates the folder of a SQLite file, so a fresh state directory just works."""
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return
    Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)


def _use_wal(cursor: Any, timeout_ms: int) -> None:
    """Switch a new database to WAL. Switching takes an exclusive lock that SQLite's busy
    timeout does not wait for, so two processes opening a fresh file at once would see
    "database is locked": retry briefly, and skip the switch once the file is already WAL."""
    import sqlite3
    import time

    deadline = time.monotonic() + timeout_ms / 1000
    while True:
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _tune_sqlite(engine: Engine, timeout_ms: int) -> None:
    """WAL for concurrent readers, enforced foreign keys, a busy timeout, our own BEGIN."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # the driver must not BEGIN; "begin" below does
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {timeout_ms}")
        _use_wal(cursor, timeout_ms)
        cursor.execute("PRAGMA synchronous = NORMAL")  # durable enough with WAL, much faster
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        writes = connection.get_execution_options().get(WRITE_OPTION, False)
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")
        except sa.exc.OperationalError as exc:
            # Only BEGIN waits for a lock (it takes the write lock up front), so this is the one
            # place "database is locked" can surface: say so in words, not as a driver error.
            if "locked" not in str(exc.orig):
                raise
            raise StoreUnavailable(_locked(engine.url, timeout_ms)) from exc


def _locked(url: URL, timeout_ms: int) -> str:
    return (f"the store {masked(url)} is locked by another process (database is locked after "
            f"waiting {timeout_ms / 1000:g} s): nothing was written (the daemon's next cycle "
            "tries again); if this repeats, find what holds the lock, such as an open sqlite3 "
            "shell")


def create_engine(url: str) -> Engine:
    """An engine for `url`, tuned for the store's access pattern on SQLite and PostgreSQL."""
    parsed = sa.make_url(url)
    sqlite = parsed.get_backend_name() == "sqlite"
    if sqlite:
        _make_parent(parsed)
    engine = sa.create_engine(parsed, json_serializer=dumps, pool_pre_ping=not sqlite)
    if sqlite:
        _tune_sqlite(engine, busy_timeout_ms())
    return engine


def writer(engine: Engine) -> Engine:
    """A view of `engine` whose transactions take the write lock first."""
    return engine.execution_options(**{WRITE_OPTION: True})


@contextmanager
def plain_value_errors() -> Iterator[None]:
    """Re-raises a bad argument (a naive datetime) as the ValueError it is, not SQLAlchemy's
    StatementError wrapper, so callers handle it like any other invalid input."""
    try:
        yield
    except sa.exc.StatementError as exc:
        if isinstance(exc, sa.exc.DBAPIError) or not isinstance(exc.orig, ValueError):
            raise
        raise exc.orig from exc


class SessionBase:
    """What every part of the Store shares: the engine and short read and write sessions."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._reads = sessionmaker(engine, expire_on_commit=False)
        self._writes = sessionmaker(writer(engine), expire_on_commit=False)

    @property
    def engine(self) -> Engine:
        """The engine, for tests and tools that inspect the database directly."""
        return self._engine

    @property
    def dialect(self) -> str:
        """The dialect's name ("sqlite", "postgresql"): it picks INSERT ... ON CONFLICT."""
        return self._engine.dialect.name

    @contextmanager
    def _write(self) -> Iterator[Session]:
        """A session in one transaction, committed on success, rolled back on error."""
        with plain_value_errors(), self._writes.begin() as session:
            yield session

    @contextmanager
    def _read(self) -> Iterator[Session]:
        """A session for reading; its transaction is rolled back when done."""
        with plain_value_errors(), self._reads() as session:
            yield session

    def _insert(self) -> Any:
        """The dialect's `insert` construct, which has `on_conflict_do_*` for upserts."""
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        elif self.dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert
        else:
            raise NotImplementedError(f"{self.dialect}: the store supports SQLite and PostgreSQL")
        return insert
