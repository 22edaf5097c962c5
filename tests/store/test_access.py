"""Opening a store that cannot be used: one line each, and nothing replaced or created."""

from __future__ import annotations

import importlib.util
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa

from costguard.store import Store, StoreUnavailable
from costguard.store.access import engine_url, masked


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def test_a_corrupt_sqlite_file_is_refused_and_left_byte_for_byte(tmp_path):
    path = tmp_path / "costguard.db"
    path.write_bytes(b"not a database, " * 512)

    with pytest.raises(StoreUnavailable) as caught:
        Store.open(sqlite_url(path))

    assert str(caught.value) == (
        f"the store sqlite:///{path} is damaged or not a SQLite database (file is not a "
        "database): restore it from a backup (costguard db backup) or move it aside; costguard "
        "does not replace it"
    )
    assert path.read_bytes() == b"not a database, " * 512
    assert sorted(p.name for p in tmp_path.iterdir()) == ["costguard.db"]


def test_a_store_path_that_is_a_folder_cannot_be_opened(tmp_path):
    (tmp_path / "costguard.db").mkdir()

    with pytest.raises(StoreUnavailable, match=r"^cannot open the store .*costguard\.db "
                                                r"\(unable to open database file\): costguard "
                                                r"must be able to read and write"):
        Store.open(sqlite_url(tmp_path / "costguard.db"))


def test_a_state_folder_that_cannot_be_made_is_one_line(tmp_path):
    (tmp_path / "state").write_text("a file where the folder should be")

    with pytest.raises(StoreUnavailable, match=r"^cannot open the store .*: File exists "
                                                r"\(.*state\): check the folder exists"):
        Store.open(sqlite_url(tmp_path / "state" / "costguard.db"))


def test_a_read_only_database_cannot_be_migrated(tmp_path):
    """Root may write anywhere, so read-only is SQLite's own mode here: the effect is the same."""
    path = tmp_path / "costguard.db"
    sa.create_engine(sqlite_url(path)).connect().close()  # an empty, valid SQLite file

    with pytest.raises(StoreUnavailable, match=r"readonly|read-only"):
        Store.open(f"sqlite:///file:{path}?mode=ro&uri=true")


def test_an_unreachable_postgresql_names_the_url_without_its_password():
    url = "postgresql://costguard:hunter2@127.0.0.1:1/costguard"

    with pytest.raises(StoreUnavailable) as caught:
        Store.open(url)

    message = str(caught.value)
    assert message.startswith("cannot reach the store postgresql+psycopg://costguard:***@"
                              "127.0.0.1:1/costguard (")
    assert message.endswith("): is the database server running and the URL right?")
    assert "hunter2" not in message and "\n" not in message


def test_a_missing_driver_names_the_extra_to_install():
    with pytest.raises(StoreUnavailable, match=r"its driver is not installed .*pip install "
                                                r"'costguard\[postgres\]'"):
        Store.open("postgresql+pg8000://costguard@127.0.0.1/costguard")


def test_plain_postgresql_urls_use_psycopg_3():
    assert engine_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert engine_url("postgresql+psycopg2://u@h/db").drivername == "postgresql+psycopg2"
    assert engine_url("sqlite:////x.db").drivername == "sqlite"
    assert masked("postgresql://u:secret@h/db") == "postgresql://u:***@h/db"


@pytest.mark.postgres
@pytest.mark.skipif(importlib.util.find_spec("psycopg2") is None, reason="psycopg2 not installed")
def test_psycopg2_urls_still_work_where_psycopg2_is_installed(pg_url):
    url = sa.make_url(pg_url).set(drivername="postgresql+psycopg2").render_as_string(False)

    with Store.open(url) as store:
        assert store.engine.dialect.driver == "psycopg2"
        assert store.list_findings() == []


@pytest.mark.postgres
def test_the_test_suite_runs_on_psycopg_3(store, db_url):
    if store.dialect == "postgresql":
        assert store.engine.dialect.driver == "psycopg"


def test_a_full_disk_says_so_instead_of_blaming_a_server():
    from costguard.store.access import unavailable

    problem = unavailable(sqlite3.OperationalError("database or disk is full"),
                          "sqlite:////var/lib/costguard/costguard.db")
    assert str(problem) == (
        "the store sqlite:////var/lib/costguard/costguard.db cannot be written (database or disk "
        "is full): free space on its disk; the transaction was rolled back and the next cycle "
        "starts over")
