"""Crash points: named places in a cycle and in delivery where a test may kill costguard.

`crash_point("before-send")` does nothing unless the environment variable `COSTGUARD_CRASH_AT`
names that point; then the process sends itself SIGKILL on the spot: no `finally`, no `atexit`,
no flush, as a power cut or the OOM killer would end it. The crash-point tests run a real cycle
in a subprocess with each point named in turn, restart it, and count what the SMTP server got
(docs/reliability.md). It lives in the lowest layer that has a point (the store's unit of work
commits here); delivery and the runtime above import it. Importing it costs two standard modules.
"""

from __future__ import annotations

import os
import signal

ENV = "COSTGUARD_CRASH_AT"

POINTS = (
    "after-findings-stored",
    "after-resolution-stored",
    "after-update-queued",
    "after-renotify-queued",
    "after-messages-queued",
    "after-unit-commit",
    "after-in-flight-marked",
    "before-send",
    "after-send-accepted",
    "after-send-recorded",
)
"""Every point the code has, in the order a cycle reaches them (a test checks each is called)."""


def crash_point(name: str) -> None:
    """Die here, at once and uncleanly, when `COSTGUARD_CRASH_AT` names this point."""
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
