"""`costguard db backup` and `costguard db upgrade`: the store's data kept safe, on request.

A SQLite store is copied with SQLite's online backup API (`sqlite3.Connection.backup`), which
takes a consistent snapshot while the daemon keeps writing, into a temporary file that replaces
FILE only once complete. A PostgreSQL store is backed up with PostgreSQL's own tool, pg_dump:
costguard says how rather than doing a worse job of it.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
from pathlib import Path

import sqlalchemy as sa

from costguard.store.access import StoreUnavailable, engine_url, guarded, masked
from costguard.store.connection import create_engine
from costguard.store.db import Store
from costguard.store.migrate import HEAD, VERSION_TABLE, current_revision


class BackupUnsupported(Exception):
    """The store is not a SQLite file; the message names the tool that backs it up."""


def backup(url: str, destination: Path) -> str | None:
    """Copy the SQLite store at `url` to `destination`; the copy's schema revision."""
    target = engine_url(url)
    if target.get_backend_name() != "sqlite":
        raise BackupUnsupported(_pg_dump_advice(target, destination))
    source = Path(target.database or "")
    if not target.database or not source.is_file():
        raise StoreUnavailable(f"no store at {masked(target)} to back up")
    return guarded(target, lambda: _copy(source, destination))


def _copy(source: Path, destination: Path) -> str | None:
    destination.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=destination.parent, prefix=f".{destination.name}.")
    os.close(fd)
    try:
        with contextlib.closing(sqlite3.connect(source)) as src, \
                contextlib.closing(sqlite3.connect(tmp)) as copy:
            src.backup(copy)
            revision = _revision(copy)
        os.replace(tmp, destination)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return revision


def _revision(connection: sqlite3.Connection) -> str | None:
    has_table = connection.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (VERSION_TABLE,)
    ).fetchone()
    if not has_table:
        return None
    row = connection.execute(f"SELECT version_num FROM {VERSION_TABLE}").fetchone()
    return row[0] if row else None


def _pg_dump_advice(url: sa.URL, destination: Path) -> str:
    parts = ["pg_dump", "--format=custom", f"--file={destination}"]
    parts += [f"--host={url.host}"] if url.host else []
    parts += [f"--port={url.port}"] if url.port else []
    parts += [f"--username={url.username}"] if url.username else []
    return (f"costguard db backup copies SQLite stores; back up the PostgreSQL database "
            f"{url.database!r} with: {' '.join([*parts, url.database or ''])} "
            "(restore with pg_restore)")


def upgrade(url: str) -> tuple[str | None, str]:
    """Apply every migration the store lacks: (revision before, revision after)."""
    target = engine_url(url)
    engine = guarded(target, lambda: create_engine(target.render_as_string(False)))
    try:
        before = guarded(target, lambda: current_revision(engine))
    finally:
        engine.dispose()
    Store.open(url).close()  # migrates, refusing a newer schema, with open's error handling
    return before, HEAD
