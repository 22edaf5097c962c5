"""The unit of work (Store.unit): one transaction for many calls, committed once, rolled back
whole, after-commit hooks only after a commit; on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone

import pytest
from sqlalchemy import event

from costguard.model import Severity
from costguard.store import Store

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)


class Boom(Exception):
    """A failure in the middle of a unit."""


@contextmanager
def transactions(store: Store) -> Iterator[Counter[str]]:
    """Counts the transactions the store begins, commits and rolls back."""
    counts: Counter[str] = Counter()
    listeners = {name: (lambda _c, name=name: counts.update([name]))
                 for name in ("begin", "commit", "rollback")}
    for name, listener in listeners.items():
        event.listen(store.engine, name, listener)
    try:
        yield counts
    finally:
        for name, listener in listeners.items():
            event.remove(store.engine, name, listener)


def test_everything_in_a_unit_is_one_transaction_committed_once(store: Store, make_finding):
    with transactions(store) as counts, store.unit() as unit:
        scan = unit.start_scan(NOW)
        found = unit.reconcile(scan_id=scan, findings=[make_finding("i-1"), make_finding("i-2")],
                               scopes=(), now=NOW)
        incident = unit.create_incident(
            title="t", severity=Severity.HIGH, accounts=(), entities=(), detected_at=NOW,
            finding_ids=[f.id for f in found.new])
        unit.set_states({"a": "1", "b": "2"})
        assert unit.get_incident(incident.id).finding_ids == tuple(f.id for f in found.new)
        assert unit.get_state("b") == "2"
    assert counts == Counter(begin=1, commit=1)
    assert [f.incident_id for f in store.list_findings()] == [incident.id, incident.id]
    assert store.states("") == {"a": "1", "b": "2"}


def test_an_error_rolls_the_whole_unit_back_and_skips_the_hooks(store: Store, make_finding):
    ran: list[str] = []
    with pytest.raises(Boom), store.unit() as unit:
        unit.reconcile(scan_id=None, findings=[make_finding()], scopes=(), now=NOW)
        unit.after_commit(lambda: ran.append("hook"))
        raise Boom()
    assert store.list_findings() == []
    assert ran == []


def test_hooks_run_after_the_commit_in_order_and_one_failing_stops_none(store: Store):
    seen: list[str | None] = []

    def failing() -> None:
        raise RuntimeError("the queue is gone")

    with store.unit() as unit:
        unit.set_state("k", "v")
        unit.after_commit(lambda: seen.append(store.get_state("k")))  # another transaction
        unit.after_commit(failing)
        unit.after_commit(lambda: seen.append("last"))
        assert seen == []
    assert seen == ["v", "last"]


def test_a_failing_method_leaves_nothing_half_done_inside_a_unit(store: Store, make_finding):
    with store.unit() as unit:
        found = unit.reconcile(scan_id=None, findings=[make_finding()], scopes=(), now=NOW)
        with pytest.raises(LookupError):  # the incident row is written, then a finding is not found
            unit.create_incident(title="t", severity=Severity.HIGH, accounts=(), entities=(),
                                 detected_at=NOW, finding_ids=[found.new[0].id, 999])
        unit.set_state("after", "still works")
    assert store.list_incidents() == []
    assert store.get_state("after") == "still works"
    assert len(store.list_findings()) == 1


def test_a_unit_inside_a_unit_joins_it(store: Store):
    with transactions(store) as counts, store.unit() as unit, unit.unit() as inner:
        assert inner is unit
        inner.set_state("k", "v")
    assert counts == Counter(begin=1, commit=1)


def test_states_reads_one_prefix_only_and_takes_it_literally(store: Store):
    store.set_states({"cursor:a": "1", "cursor:b": "2", "cursorXc": "3", "health": "{}"})
    assert store.states("cursor:") == {"cursor:a": "1", "cursor:b": "2"}
    assert store.states("cursor_") == {}
    with store.unit() as unit:  # an upsert in the unit is seen by a read in the unit
        unit.set_state("cursor:a", "9")
        assert unit.states("cursor:")["cursor:a"] == "9"
        assert unit.get_state("cursor:a") == "9"


def test_sqlite_a_unit_holds_the_write_lock_until_it_ends(tmp_path):
    """Another process's writer (a `findings ack`) waits for the unit instead of interleaving."""
    path = tmp_path / "cg.db"
    with Store.open(f"sqlite:///{path}") as store, store.unit() as unit:
        unit.set_state("k", "v")
        other = sqlite3.connect(path, timeout=0.05, isolation_level=None)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
        other.close()
