"""Stores for the report tests: SQLite, and PostgreSQL with the store tests' fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from store.conftest import db_url, pg_admin, pg_url  # noqa: F401 (fixtures, used by name)

from costguard.store import Store

from .history import build


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:  # noqa: F811 (the fixture named db_url)
    """A migrated, empty store on each database."""
    opened = Store.open(db_url)
    yield opened
    opened.close()


@pytest.fixture
def history_store(store: Store) -> Store:
    """The known history of tests/reports/history.py, on each database."""
    build(store)
    return store


@pytest.fixture
def sqlite_store(tmp_path) -> Iterator[Store]:
    """A migrated, empty SQLite store (for tests about rendering, not the database)."""
    opened = Store.open(f"sqlite:///{tmp_path}/costguard.db")
    yield opened
    opened.close()


@pytest.fixture
def sqlite_history(sqlite_store: Store) -> Store:
    """The known history on SQLite only."""
    build(sqlite_store)
    return sqlite_store
