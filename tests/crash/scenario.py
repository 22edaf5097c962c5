"""The crash-point scenarios as data, one run of a scenario, and the table the runs fill in.

A scenario is one incident's life, each step concluded by a cycle in a process of its own (forked
from the fault suite's zygote): the attack (its alert), a second wave (one update), a cycle past the
reminder time (a "still open" reminder; the update goes out in it too) and the fix (the resolution).
One crash point is armed in one of those cycles. Each process run is six simulated minutes after the
one before, which is past any lease (five minutes) a killed sender held, so a restart is "the daemon
coming back" rather than a race with the dead process, and within the quarter of an hour in which
the second wave still joins the incident."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

from costguard.store.crash_points import ENV
from tests.faults.harness import Zygote

RUN_SPACING_S = 360
DETECTION, GROWTH, REMINDER, RESOLUTION = "detection", "growth", "reminder", "resolution"
CYCLES = (DETECTION, GROWTH, REMINDER, RESOLUTION)
EXPECTED_KINDS = ("new", "update", "renotify", "resolved")
"""One incident: its alert, an update, a reminder and its resolution, each once per channel
(one channel here). How many reminders depends on the timeline a crash shifts; every message
queued is expected, once."""


@dataclass(frozen=True)
class Point:
    """A crash point armed in one cycle of the scenario, and what a crash there may cost."""

    name: str | None
    cycle: str = DETECTION
    duplicates: int = 0
    """Duplicates the design accepts here: at-least-once after the SMTP server took DATA."""
    stamps_notified: bool = True
    """Whether the incident's notified_at (the start of alert-to-fix) survives the crash."""

    @property
    def label(self) -> str:
        return self.name or "(no crash)"


POINTS = (
    Point(None),
    Point("after-findings-stored"),
    Point("after-messages-queued"),
    Point("after-unit-commit"),
    Point("after-in-flight-marked", duplicates=0),
    Point("before-send"),
    Point("after-send-accepted", duplicates=1),
    Point("after-send-recorded"),
    Point("after-update-queued", GROWTH),
    Point("after-unit-commit", GROWTH),
    Point("after-renotify-queued", REMINDER),
    Point("after-in-flight-marked", REMINDER),
    Point("after-send-accepted", REMINDER, duplicates=1),
    Point("after-resolution-stored", RESOLUTION),
    Point("after-messages-queued", RESOLUTION),
    Point("after-unit-commit", RESOLUTION),
    Point("before-send", RESOLUTION),
    Point("after-send-accepted", RESOLUTION, duplicates=1),
)
"""Every scenario the crash-point tests run, in the order the table lists them."""


@dataclass
class Runs:
    """Runs cycles, each six simulated minutes after the last; keeps their exit codes.

    Each cycle is a process of its own, forked from the fault suite's zygote (a process that has
    imported costguard once): the crash point is armed in the child's environment only, and a
    SIGKILL ends that child alone. Importing costguard anew for each of a scenario's five or six
    cycles cost most of the crash tests' time."""

    config: Path
    zygote: Zygote
    codes: list[int] = field(default_factory=list)

    def cycle(self, crash_at: str | None = None) -> int:
        order = {"config": str(self.config), "offset_s": len(self.codes) * RUN_SPACING_S,
                 "env": {ENV: crash_at} if crash_at else {}}
        code, errors = self.zygote.finish(self.zygote.start(order))
        self.codes.append(code)
        if code not in (0, -9):
            raise RuntimeError(f"the cycle exited {code}: {errors}")
        return code


def play(point: Point, runs: Runs, steps: dict[str, Callable[[], None]]) -> None:
    """Each cycle of the scenario after its step (the second wave before growth, the fix
    before resolution); the armed cycle is killed, then restarted once, unarmed."""
    for cycle in CYCLES:
        if cycle in steps:
            steps[cycle]()
        if point.name and point.cycle == cycle:
            runs.cycle(point.name)
        runs.cycle()


@dataclass(frozen=True)
class Tally:
    """What the SMTP server got, counted by Message-ID, against what was expected."""

    expected: int
    delivered: int
    duplicated: int
    lost: int
    notified_stamped: bool

    kinds: frozenset[str] = frozenset()

    @classmethod
    def of(cls, emails: list[EmailMessage], queued: set[str], notified_stamped: bool) -> Tally:
        """`queued`: every message key the outbox holds (what the incident's life implied)."""
        ids = [str(e["Message-ID"]) for e in emails]
        keys = {str(e["X-Costguard-Key"]) for e in emails}
        kinds = frozenset(key.split("-")[3] for key in keys)
        lost = len(queued - keys) + len([k for k in EXPECTED_KINDS if k not in kinds])
        return cls(len(queued), len(set(ids)), len(ids) - len(set(ids)), lost,
                   notified_stamped, kinds)


TABLE = Path(__file__).resolve().parents[2] / "docs" / "reliability-crash-points.md"
HEADER = """\
# Crash points: measured

Generated by `tests/crash/test_crash_points.py` (each run rewrites its rows; do not edit by
hand). One incident per scenario, one SMTP channel: its alert, one update (a second wave), a
"still open" reminder (one, or two when a crash delays the fix past the second reminder time)
and its resolution. The process is killed with SIGKILL at the point, in the cycle named, and
restarted once. How to read it: [reliability.md](reliability.md).
"""
COLUMNS = ("point", "cycle", "messages expected", "delivered", "duplicated", "lost",
           "notified_at kept")
DATABASES = ("SQLite", "PostgreSQL")


def record(database: str, point: Point, tally: Tally, path: Path = TABLE) -> None:
    """Write this scenario's row into the generated table, under a lock (tests run in
    parallel), keeping every other row as it was."""
    path.touch()
    with path.open("r+", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        rows = _rows(handle.read())
        rows[(database, point.label, point.cycle)] = [
            f"`{point.name}`" if point.name else point.label, point.cycle, str(tally.expected),
            str(tally.delivered), str(tally.duplicated), str(tally.lost),
            "yes" if tally.notified_stamped else "**no**"]
        handle.seek(0)
        handle.truncate()
        handle.write(_render(rows))
        handle.flush()
        os.fsync(handle.fileno())


def _rows(text: str) -> dict[tuple[str, str, str], list[str]]:
    rows, database = {}, None
    for line in text.splitlines():
        if line.startswith("## "):
            database = line[3:].strip()
        elif database and line.startswith("| ") and not line.startswith("| point"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            rows[(database, cells[0].strip("`"), cells[1])] = cells
    return rows


def _render(rows: dict[tuple[str, str, str], list[str]]) -> str:
    parts = [HEADER]
    for database in DATABASES:
        mine = [rows[key] for p in POINTS if (key := (database, p.label, p.cycle)) in rows]
        if mine:
            parts.append(f"## {database}\n\n| {' | '.join(COLUMNS)} |\n"
                         f"|{'---|' * len(COLUMNS)}\n"
                         + "".join(f"| {' | '.join(r)} |\n" for r in mine))
    return "\n".join(parts)


def point_id(point: Point) -> str:
    """A test id: the point and its cycle."""
    return f"{point.name or 'no-crash'}-{point.cycle}"
