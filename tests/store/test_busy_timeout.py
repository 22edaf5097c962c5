"""COSTGUARD_SQLITE_BUSY_TIMEOUT_MS: the SQLite busy timeout as a tuning (and test) knob."""

from __future__ import annotations

from pathlib import Path

import pytest

from costguard.store import Store
from costguard.store.connection import BUSY_TIMEOUT_ENV, BUSY_TIMEOUT_MS, busy_timeout_ms
from costguard.store.unavailable import StoreUnavailable


def test_unset_or_blank_is_the_default() -> None:
    assert busy_timeout_ms({}) == BUSY_TIMEOUT_MS == 30_000
    assert busy_timeout_ms({BUSY_TIMEOUT_ENV: " "}) == BUSY_TIMEOUT_MS


@pytest.mark.parametrize("raw", ["0", "-5", "1.5", "30s", "3600001"])
def test_a_bad_value_is_one_line_naming_the_variable(raw: str) -> None:
    with pytest.raises(StoreUnavailable, match=f"^{BUSY_TIMEOUT_ENV}=") as caught:
        busy_timeout_ms({BUSY_TIMEOUT_ENV: raw})
    assert "\n" not in str(caught.value)


def test_the_connections_get_the_value_from_the_environment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BUSY_TIMEOUT_ENV, "1500")
    with Store.open(f"sqlite:///{tmp_path}/c.db") as store, store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 1500


def test_a_lock_held_past_the_timeout_is_one_line_naming_the_lock(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Not a driver error: the writer's BEGIN gives up after the timeout and says why."""
    import sqlite3

    from costguard.store.connection import writer

    monkeypatch.setenv(BUSY_TIMEOUT_ENV, "200")
    with Store.open(f"sqlite:///{tmp_path}/c.db") as store:
        other = sqlite3.connect(tmp_path / "c.db", isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")
        try:
            with pytest.raises(StoreUnavailable) as caught, writer(store.engine).begin():
                pass
        finally:
            other.execute("COMMIT")
            other.close()
        with writer(store.engine).begin() as connection:  # the lock gone, writes work again
            assert connection.exec_driver_sql("SELECT 1").scalar() == 1
    reason = str(caught.value)
    assert "is locked by another process (database is locked after waiting 0.2 s)" in reason
    assert "\n" not in reason
