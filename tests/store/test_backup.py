"""`costguard db backup`: SQLite's online backup, restored and read back; PostgreSQL's advice."""

from __future__ import annotations

import shutil
from datetime import datetime, timezone
from pathlib import Path

import pytest

from costguard.store import HEAD, Store, StoreUnavailable
from costguard.store.backup import BackupUnsupported, backup

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def test_a_backup_restored_holds_the_findings_and_their_history(tmp_path, make_finding):
    url = f"sqlite:///{tmp_path}/state/costguard.db"
    with Store.open(url) as store:
        new = store.reconcile(scan_id=None, findings=[make_finding("i-1"), make_finding("i-2")],
                              scopes=[], now=NOW).new
        store.acknowledge(new[0].id, now=NOW, reason="on it")
        # The daemon may keep writing while the backup runs: it is taken with the store open.
        assert backup(url, tmp_path / "copies" / "backup.db") == HEAD
        before = [(f.fingerprint, f.status) for f in store.list_findings()]
    restored = tmp_path / "restored" / "costguard.db"
    restored.parent.mkdir()
    shutil.copyfile(tmp_path / "copies" / "backup.db", restored)

    with Store.open(f"sqlite:///{restored}") as store:
        assert [(f.fingerprint, f.status) for f in store.list_findings()] == before
        assert [t.reason for t in store.transitions(new[0].id)][-1] == "on it"


def test_a_backup_replaces_the_file_only_when_complete(tmp_path):
    url = f"sqlite:///{tmp_path}/gone.db"
    target = tmp_path / "backup.db"
    target.write_bytes(b"yesterday's backup")

    with pytest.raises(StoreUnavailable, match="no store at"):
        backup(url, target)

    assert target.read_bytes() == b"yesterday's backup"
    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes(b"garbage" * 100)
    with pytest.raises(StoreUnavailable, match="damaged or not a SQLite database"):
        backup(f"sqlite:///{corrupt}", target)
    assert target.read_bytes() == b"yesterday's backup"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["backup.db", "corrupt.db"]


def test_a_postgresql_store_is_pointed_at_pg_dump(tmp_path):
    with pytest.raises(BackupUnsupported) as caught:
        backup("postgresql://costguard@db.internal:5433/costguard", Path("cg.dump"))

    assert str(caught.value) == (
        "costguard db backup copies SQLite stores; back up the PostgreSQL database 'costguard' "
        "with: pg_dump --format=custom --file=cg.dump --host=db.internal --port=5433 "
        "--username=costguard costguard (restore with pg_restore)"
    )
