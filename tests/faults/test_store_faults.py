"""The store failing under a running daemon: SQLite locked by another connection, PostgreSQL
connections killed mid-cycle (pg_terminate_backend; the shared server is never restarted), the
state directory's disk full (a small tmpfs), and SIGKILL of the daemon at random points, fifty
times in a row, each time restarted.

The scenario and the audit are tests/faults/harness.py's: one incident, its alert and its
resolution, through the real cycle; AWS and mail answer normally. After each fault: every
message delivered (duplicates only at the one documented place: a kill after the SMTP server
took a message and before its send was recorded, both copies with one Message-ID), nothing
resolved before the fix, every row intact (PRAGMA integrity_check and foreign_key_check on
SQLite; on both, the scenario's findings, incident and sent messages all there).
"""

from __future__ import annotations

import os
import random
import re
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from costguard.store import Store
from costguard.store.connection import BUSY_TIMEOUT_ENV
from tests.needs import unavailable

from .harness import Attack, Runs, audit, play, write_config
from .table import FAULTS, known, record_fault

pytestmark = pytest.mark.slow
SEED = 20261206
LOCKED = "SQLite locked by another connection (4 s)"
LOCKED_PAST = "SQLite locked past the busy timeout"
PG_KILLED = "PostgreSQL connections killed mid-cycle"
DISK_FULL = "disk full on the state directory (tmpfs)"
SIGKILL = "SIGKILL at random points, restarted"
KILLS = {"SQLite": 50, "PostgreSQL": 10}
known(FAULTS, LOCKED, LOCKED_PAST, PG_KILLED, DISK_FULL, SIGKILL, owner=__name__)


def why(errors: list[str]) -> str:
    """The first failed cycle's error, short and without paths: its type and the reason."""
    if not errors:
        return "none"
    kind = errors[0].split(":", 1)[0]
    reasons = [r for r in re.findall(r"\(([^()]{8,})\)", errors[0]) if "://" not in r]
    return f"{kind}: {reasons[-1] if reasons else errors[0][len(kind) + 2:][:60]}"


def report(fault: str, name: str, runs: Runs, result, seen: str) -> None:
    record_fault(fault, name, runs=len(runs.codes), expected=result.expected,
                 delivered=result.delivered, duplicated=result.duplicated, lost=result.lost,
                 wrongly_resolved=result.wrongly_resolved, intact=result.intact, seen_as=seen)


def test_sqlite_locked_by_another_connection_waits_and_loses_nothing(
        sqlite_only, endpoint, zygote, inbox, tmp_path):
    """The lock is taken as the cycle starts and held for 4 s, within SQLite's busy timeout
    (30 s), so the cycle waits rather than failing. A lock held past the timeout is the next
    test."""
    name, url = sqlite_only
    runs = Runs(write_config(tmp_path, url, inbox.port), zygote)
    runs.cycle()  # the database exists and holds the incident before anyone locks it
    path = sa.make_url(url).database
    held = []

    def locked() -> int:
        other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        other.execute("BEGIN EXCLUSIVE")
        held.append(True)
        release = threading.Timer(4.0, lambda: (other.execute("COMMIT"), other.close()))
        release.start()
        try:
            return runs.cycle()
        finally:
            release.join()

    wrongly = play(runs, Attack(endpoint), url, before_fix=[locked], after_fix=[locked],
                   settle=1)
    result = audit(url, [m for _, _, m in inbox.messages()], wrongly)
    report(LOCKED, name, runs, result, f"{len(held)} cycles waited under the busy timeout")

    assert runs.errors == [] and set(runs.codes) == {0}
    assert (result.delivered, result.duplicated, result.lost) == (2, 0, 0)
    assert result.wrongly_resolved == 0 and result.intact


def written(url: str) -> tuple:
    """What a cycle writes: findings and their status, the outbox, the scans."""
    with Store.open(url) as store:
        return (sorted((f.id, f.status.value) for f in store.list_findings()),
                sorted((n.id, n.attempts, n.sent_at is not None) for n in store.notifications()),
                [s.id for s in store.last_scans(100)])


BUSY_MS = 1000
"""The busy timeout of the cycles below (COSTGUARD_SQLITE_BUSY_TIMEOUT_MS): the real timeout
path, reached in one second instead of thirty."""


def test_sqlite_locked_past_the_busy_timeout_fails_the_cycle_in_one_line(
        sqlite_only, endpoint, zygote, inbox, tmp_path):
    """`BEGIN EXCLUSIVE` held by another connection for the whole of a cycle (over three times
    its busy timeout): the cycle fails with one line naming the lock, writes nothing, and the
    next cycle, the lock gone, concludes. Played on the cycle that detects the attack (the
    alert must still go out) and on the first after the fix (nothing may resolve, and the
    resolution must still go out). Why an environment variable and not 32 s of waiting: the
    timeout path is the same at any length, and two such cycles would add a minute."""
    name, url = sqlite_only
    runs = Runs(write_config(tmp_path, url, inbox.port), zygote)
    runs.cycle()  # the database exists before anyone locks it
    path = sa.make_url(url).database
    failed: list[int] = []
    changed: list[bool] = []

    def locked() -> int:
        before = written(url)
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")
        try:
            failed.append(runs.cycle({BUSY_TIMEOUT_ENV: str(BUSY_MS)}))
        finally:
            other.execute("COMMIT")
            other.close()
        changed.append(written(url) != before)
        return failed[-1]

    wrongly = play(runs, Attack(endpoint), url, before_fix=[locked, runs.cycle],
                   after_fix=[locked], settle=2)
    result = audit(url, [m for _, _, m in inbox.messages()], wrongly)
    said = re.search(r"\((database is locked after [^)]*)\)", runs.errors[0] if runs.errors
                     else "")
    report(LOCKED_PAST, name, runs, result,
           f"{failed.count(1)} of {len(failed)} locked cycles failed (StoreUnavailable: "
           f"{said[1] if said else why(runs.errors)}); nothing written; the next concluded")

    assert failed == [1, 1], runs.codes
    assert len(runs.errors) == 2 and all(
        e.startswith("StoreUnavailable: ") and "is locked by another process" in e
        for e in runs.errors), runs.errors
    assert changed == [False, False]  # no finding, transition, message or scan written
    assert (result.delivered, result.duplicated, result.lost) == (2, 0, 0)
    assert result.wrongly_resolved == 0 and result.intact


@pytest.mark.postgres
def test_postgresql_connections_killed_mid_cycle_lose_nothing(endpoint, zygote, inbox,
                                                              tmp_path, pg_url, pg_admin):
    """Every connection of the cycle's process is terminated, over and over, while it runs."""
    tag = f"cgfault{os.getpid()}{time.monotonic_ns() % 10**6}"
    url = sa.make_url(pg_url).update_query_dict({"application_name": tag}).render_as_string(
        hide_password=False)
    runs = Runs(write_config(tmp_path, url, inbox.port), zygote)
    killed = []

    def killing() -> int:
        stop = threading.Event()

        def kill_loop() -> None:
            while not stop.wait(0.05):
                with pg_admin.begin() as connection:
                    killed.extend(connection.execute(sa.text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE application_name = :tag"), {"tag": tag}).scalars())

        killer = threading.Thread(target=kill_loop)
        pid = runs.start()
        time.sleep(random.Random(SEED + len(runs.codes)).uniform(0.0, 0.2))
        killer.start()
        try:
            return runs.finish(pid)
        finally:
            stop.set()
            killer.join()

    wrongly = play(runs, Attack(endpoint), url, before_fix=[runs.cycle, killing],
                   after_fix=[killing], settle=2)
    result = audit(url, [m for _, _, m in inbox.messages()], wrongly)
    failed = len([c for c in runs.codes if c != 0])
    report(PG_KILLED, "PostgreSQL", runs, result,
           f"{len(killed)} backends terminated; {failed} cycles failed ({why(runs.errors)}); "
           "the next concluded")

    assert killed
    assert result.lost == 0 and result.delivered == 2
    assert result.duplicated <= failed  # only a send whose record was cut off repeats
    assert result.wrongly_resolved == 0 and result.intact


def _mount_tmpfs(folder: Path, size: str) -> str | None:
    """Mount a tmpfs of `size` on `folder`; None when done, else why not."""
    if os.geteuid() != 0:
        return "needs root to mount a tmpfs"
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                          capture_output=True, text=True, check=False)
    return None if done.returncode == 0 else f"mount failed: {done.stderr.strip()}"


def _fill(folder: Path) -> Path:
    """A file that takes every free byte of the file system under `folder`."""
    filler = folder / "filler"
    with filler.open("wb") as out:
        try:
            while True:
                out.write(b"\0" * 65536)
                out.flush()
        except OSError:
            pass
    return filler


def test_a_full_disk_fails_cycles_cleanly_and_recovers(endpoint, zygote, inbox, tmp_path):
    """The SQLite store on a 4 MB tmpfs that a filler file then fills to the last byte."""
    state = tmp_path / "state"
    problem = _mount_tmpfs(state, "4m")
    if problem:
        unavailable(f"disk full not played: {problem}", "run the tests as root")
    try:
        url = f"sqlite:///{state}/cg.db"
        runs = Runs(write_config(tmp_path, url, inbox.port), zygote)
        filler: list[Path] = []

        def full() -> int:
            filler.append(_fill(state))
            try:
                return runs.cycle()
            finally:
                filler[-1].unlink()

        wrongly = play(runs, Attack(endpoint), url, before_fix=[runs.cycle, full],
                       after_fix=[full], settle=2)
        result = audit(url, [m for _, _, m in inbox.messages()], wrongly)
        failed = len([c for c in runs.codes if c != 0])
        report(DISK_FULL, "SQLite", runs, result,
               f"{failed} cycles failed ({why(runs.errors)}); the next concluded")
    finally:
        subprocess.run(["umount", "-l", str(state)], check=False)

    assert failed >= 1 and all("Traceback" not in e for e in runs.errors)
    assert (result.delivered, result.lost) == (2, 0) and result.duplicated <= failed
    assert result.wrongly_resolved == 0 and result.intact


def test_sigkill_at_random_points_many_times_loses_nothing(database, endpoint, zygote, inbox,
                                                           tmp_path):
    """Half the kills before the fix, half after, each at a random moment (seeded) within 1.25
    times the length of a cycle that detects the attack, so most land mid-cycle and some after
    it ended; each killed cycle is restarted ten simulated minutes later (past any lease the
    dead one held), and after each half one restart runs to its end. The length is measured on
    a scratch store whose mail goes nowhere (only to place the kills; nothing asserts on time).
    """
    name, url = database
    kills = KILLS[name]
    runs = Runs(write_config(tmp_path, url, inbox.port), zygote)
    runs.cycle()  # the store exists (migrated) before the first kill, as a daemon's would
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    timing = Runs(write_config(scratch, f"sqlite:///{scratch}/cg.db", 9), zygote)
    chance = random.Random(SEED)
    window: list[float] = []
    landed: list[bool] = []

    def measure() -> int:
        started = time.monotonic()
        code = timing.cycle()
        window.append(1.25 * (time.monotonic() - started))
        return code

    def killed() -> int:
        code = runs.finish(runs.start(kill_after_s=chance.uniform(0.0, window[0])))
        landed.append(code == -9)
        return code

    half = kills // 2
    wrongly = play(runs, Attack(endpoint), url,
                   before_fix=[measure, *[killed] * half, runs.cycle],
                   after_fix=[killed] * (kills - half), settle=2)
    result = audit(url, [m for _, _, m in inbox.messages()], wrongly)
    report(SIGKILL, name, runs, result,
           f"{sum(landed)} of {kills} kills landed mid-cycle; the restarts concluded")

    assert runs.errors == [] and set(runs.codes) <= {0, -9}
    assert result.lost == 0 and result.delivered == 2
    assert result.duplicated <= sum(landed)  # only a kill between accept and record repeats
    assert result.wrongly_resolved == 0 and result.intact
