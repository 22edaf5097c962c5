"""`Store.serial_units` on PostgreSQL: the procrastinate engine's workers conclude one at a time,
but a unit opened with `serialize_later` does its reading part while another unit runs alone,
and waits only from `Unit.serialize()` on."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from costguard.store import Store

pytestmark = pytest.mark.postgres

NOW = datetime(2026, 12, 6, 18, 0, tzinfo=UTC)


@pytest.fixture
def store(pg_url: str) -> Iterator[Store]:
    with Store.open(pg_url) as opened:
        opened.serial_units = True
        yield opened


def waiting_for_advisory_locks(store: Store) -> int:
    with store.engine.connect() as connection:
        return connection.execute(sa.text(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        )).scalar_one()


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 20
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_a_unit_serializing_later_reads_and_inserts_while_another_runs_alone(
        store: Store) -> None:
    with store.unit() as alone:
        alone.set_state("alone", "1")
        with store.unit(serialize_later=True) as later:
            later.get_state("alone")  # neither blocks: the lock is not asked for yet
            later.start_scan(NOW)
            assert waiting_for_advisory_locks(store) == 0
            later.set_state("later", "1")  # (a promise broken on purpose: it is not locked)
    assert store.get_state("alone") == store.get_state("later") == "1"


def test_serialize_waits_for_the_unit_running_alone_then_reads_what_it_committed(
        store: Store) -> None:
    seen: list[str | None] = []
    with store.unit(serialize_later=True) as later:
        assert later.get_state("counter") is None
        with store.unit() as alone:
            alone.set_state("counter", "1")
            waiter = threading.Thread(target=lambda: (later.serialize(),
                                                      seen.append(later.get_state("counter"))))
            waiter.start()
            wait_until(lambda: waiting_for_advisory_locks(store) == 1, "serialize() to wait")
            assert waiter.is_alive() and not seen
        waiter.join(timeout=20)
        assert seen == ["1"]  # read after the other unit's commit, not before
        later.set_state("counter", str(int(seen[0] or 0) + 1))
    assert store.get_state("counter") == "2"


def test_units_without_serial_units_never_lock(pg_url: str) -> None:
    with Store.open(pg_url) as store:
        with store.unit() as first, store.unit() as second:
            first.set_state("a", "1")
            second.set_state("b", "1")
            second.serialize()
            assert waiting_for_advisory_locks(store) == 0
        assert (store.get_state("a"), store.get_state("b")) == ("1", "1")


def test_a_nested_unit_request_serializes_unless_it_promises_to_later(store: Store) -> None:
    with store.unit(serialize_later=True) as later:
        with later.unit(serialize_later=True) as joined:
            assert joined is later
            with store.unit() as other:  # not blocked: `later` holds no lock yet
                other.set_state("other", "1")
        with later.unit():  # now it takes the lock
            pass
        blocked = threading.Event()

        def other_unit() -> None:
            with store.unit() as other:
                blocked.set()
                other.set_state("after", "1")

        thread = threading.Thread(target=other_unit)
        thread.start()
        wait_until(lambda: waiting_for_advisory_locks(store) == 1, "the other unit to wait")
        assert not blocked.is_set()
    thread.join(timeout=20)
    assert blocked.is_set() and store.get_state("after") == "1"
