"""Runs costguard cycles, each in a fresh child process forked from one that has already imported
costguard, boto3 and SQLAlchemy: `python zygote.py`, then one JSON line per run on stdin
(`{"config": PATH, "offset_s": SECONDS, "env": {...}}`).

For each run it prints `pid PID` when the child starts, `error PID TEXT` if the cycle raised, and
`done PID CODE` when it ends (CODE negative for a signal, as subprocess reports it). The child does
what `costguard scan` does (collect, conclude in one unit, deliver), on a clock `offset_s` seconds
ahead; it opens every connection itself, so nothing is shared with its siblings. Importing costguard
costs seconds on a busy machine; forking costs milliseconds, which is what lets the fault suite kill
and restart the daemon fifty times in a row."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from datetime import timedelta

from costguard.clock import utcnow
from costguard.runtime.bootstrap import load_setup, open_store
from costguard.runtime.cycle import Engine


def cycle(config: str, offset_s: float) -> int:
    """One cycle; 0 complete, 3 a source failed."""
    offset = timedelta(seconds=offset_s)
    setup = load_setup(config)
    store = open_store(setup.config)
    engine = Engine(setup.config, setup.policies, store, registry=setup.registry,
                    clock=lambda: utcnow() + offset)
    try:
        result = engine.run_cycle()
    finally:
        store.close()
    return 0 if result.complete else 3


def child(order: dict) -> None:
    os.environ.update(order.get("env") or {})
    try:
        code = cycle(order["config"], float(order.get("offset_s", 0)))
    except BaseException as exc:  # the test reads it: one line, tagged with the pid
        print(f"error {os.getpid()} {type(exc).__name__}: {' '.join(str(exc).split())[:500]}",
              flush=True)
        code = 1
    sys.stdout.flush()
    os._exit(code)


def reap(pid: int, kill_after_s: float | None) -> int:
    """The child's wait status; with `kill_after_s`, SIGKILL it then if it is still running.
    The zygote kills its own unreaped child, so the pid cannot have been reused meanwhile."""
    if kill_after_s is not None:
        deadline = time.monotonic() + float(kill_after_s)
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return status
            time.sleep(0.01)
        os.kill(pid, signal.SIGKILL)
    return os.waitpid(pid, 0)[1]


def main() -> None:
    for line in sys.stdin:
        if not line.strip():
            continue
        order = json.loads(line)
        pid = os.fork()
        if pid == 0:
            child(order)
        print(f"pid {pid}", flush=True)
        status = reap(pid, order.get("kill_after_s"))
        code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        print(f"done {pid} {code}", flush=True)


if __name__ == "__main__":
    main()
