"""Reaching the database: which driver a URL gets, and every way opening it fails as one line.

A store that cannot be opened (a corrupt or unreadable SQLite file, a read-only state folder, a
schema newer than this costguard, PostgreSQL down, a missing driver) is `StoreUnavailable`: one
line saying what, which database (password masked) and what to do, which the CLI prints with
exit code 4. Nothing here ever creates a fresh database in place of one it could not read.
"""

from __future__ import annotations

import importlib.util
import sqlite3
from collections.abc import Callable
from typing import TypeVar

import sqlalchemy as sa

from costguard.store.unavailable import StoreUnavailable

POSTGRES_EXTRA = "pip install 'costguard[postgres]'"
T = TypeVar("T")


def masked(url: str | sa.URL) -> str:
    """The URL as a message shows it: any password replaced by ***."""
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "(an unreadable database URL)"


def engine_url(url: str) -> sa.URL:
    """The URL with its driver chosen: plain `postgresql://` means psycopg 3 (the `postgres`
    extra), or psycopg2 where only that is installed; SQLAlchemy alone would pick psycopg2."""
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError:
        raise StoreUnavailable(f"cannot read the database URL {url!r}: expected e.g. "
                               "sqlite:////var/lib/costguard/costguard.db") from None
    if parsed.drivername in ("postgresql", "postgres"):
        installed = [d for d in ("psycopg", "psycopg2") if importlib.util.find_spec(d)]
        parsed = parsed.set(drivername=f"postgresql+{(installed or ['psycopg'])[0]}")
    return parsed


def unavailable(exc: BaseException, url: str | sa.URL) -> StoreUnavailable | None:
    """The one-line StoreUnavailable for an error met while opening or using `url`; None when
    the error is not about reaching the database (a bug, which should keep its traceback)."""
    where = masked(url)
    if isinstance(exc, StoreUnavailable):
        return exc
    if isinstance(exc, ModuleNotFoundError | sa.exc.NoSuchModuleError):
        return StoreUnavailable(f"cannot open the store {where}: its driver is not installed "
                                f"({_first_line(exc)}): {POSTGRES_EXTRA}")
    if isinstance(exc, OSError):
        return StoreUnavailable(f"cannot open the store {where}: {exc.strerror or exc}"
                                f"{_at(exc)}: check the folder exists and costguard may write it")
    if isinstance(exc, sa.exc.DBAPIError):
        operational = isinstance(exc, sa.exc.OperationalError)
        return StoreUnavailable(_database_error(_first_line(exc.orig or exc), where, operational))
    if isinstance(exc, sqlite3.Error):  # the backup's own sqlite3 connection
        operational = isinstance(exc, sqlite3.OperationalError)
        return StoreUnavailable(_database_error(_first_line(exc), where, operational))
    return None


def _database_error(reason: str, where: str, operational: bool) -> str:
    lowered = reason.lower()
    if "not a database" in lowered or "malformed" in lowered or "corrupt" in lowered:
        return (f"the store {where} is damaged or not a SQLite database ({reason}): restore it "
                "from a backup (costguard db backup) or move it aside; costguard does not "
                "replace it")
    if "disk is full" in lowered or "no space" in lowered or "disk i/o error" in lowered:
        fix = "free space on its disk" if "i/o" not in lowered else "is its disk full or failing?"
        return (f"the store {where} cannot be written ({reason}): {fix}; the transaction was "
                "rolled back and the next cycle starts over")
    if "readonly" in lowered or "read-only" in lowered or "unable to open" in lowered:
        return (f"cannot open the store {where} ({reason}): costguard must be able to read and "
                "write the file and its folder")
    if operational:
        return (f"cannot reach the store {where} ({reason}): is the database server running "
                "and the URL right?")
    return f"the store {where} failed: {reason}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _at(exc: OSError) -> str:
    return f" ({exc.filename})" if exc.filename else ""


def guarded(url: str | sa.URL, action: Callable[[], T]) -> T:
    """`action()`, with an error about reaching the database turned into StoreUnavailable."""
    try:
        return action()
    except Exception as exc:
        problem = unavailable(exc, url)
        if problem is None:
            raise
        raise problem from exc
