"""One costguard cycle in a process of its own, for the crash-point tests: `python driver.py
CONFIG`. It does what `costguard scan` does (collect, conclude in one unit, deliver), on a clock
moved forward by $CRASH_TEST_CLOCK_OFFSET_S seconds, so that a restart comes "later" (past the
lease a killed sender held) without the test waiting for it."""

from __future__ import annotations

import os
import sys
from datetime import timedelta

from costguard.clock import utcnow
from costguard.runtime.bootstrap import load_setup, open_store
from costguard.runtime.cycle import Engine

OFFSET = "CRASH_TEST_CLOCK_OFFSET_S"


def main(config: str) -> int:
    """Run one cycle; 0 when it completed, 3 when a source failed."""
    offset = timedelta(seconds=float(os.environ.get(OFFSET, "0")))
    setup = load_setup(config)
    store = open_store(setup.config)
    engine = Engine(setup.config, setup.policies, store, registry=setup.registry,
                    clock=lambda: utcnow() + offset)
    try:
        result = engine.run_cycle()
    finally:
        store.close()
    return 0 if result.complete else 3


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
