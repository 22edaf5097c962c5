"""The daemon's event queue readers: one thread per account and region, long-polling SQS.

Each batch is stored (each event id once), then deleted, then evaluated at once, so an
attacker's call reaches the inbox seconds after EventBridge delivers it, not at the next
scheduled cycle. A thread that loses its queue (deleted, or never set up) backs off and tries
again; the scheduled `cloudtrail` job falls back to LookupEvents meanwhile. While a poller
owns its queue the scheduled job does not drain it (no cycle holds the engine for a hundred
receives): it reads the trails' and detectors' state only.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from costguard.collectors.event_queue import EventQueue, Received
    from costguard.runtime.cycle import Engine

log = logging.getLogger(__name__)

WAIT_S = 20
"""SQS long-poll wait: the longest SQS allows, so an idle queue costs 3 requests a minute."""

RETRY_S = 30.0
"""Pause after an error before polling again."""

MISSING_RETRY_S = 300.0
"""Pause after finding no queue: `costguard setup events` may create it later."""


class QueuePoller(threading.Thread):
    """Long-polls one queue until told to stop."""

    def __init__(self, engine: Engine, queue: EventQueue, stop: threading.Event) -> None:
        super().__init__(name=f"poll-{queue.account}-{queue.region}", daemon=True)
        self.engine = engine
        self.queue = queue
        self.stop = stop
        self.batches = 0

    def run(self) -> None:
        try:
            self._poll()
        finally:
            self.queue.polled = False

    def _poll(self) -> None:
        from costguard.collectors.event_queue import QueueMissing

        while not self.stop.is_set():
            try:
                received = self.queue.receive(WAIT_S)
                self.queue.polled = True  # from now the scheduled cycle leaves it to this thread
            except QueueMissing as exc:
                # the scheduled cycle finds the queue missing too and falls back to LookupEvents
                self.queue.polled = False
                log.warning("%s; polling again in %.0f s", exc, MISSING_RETRY_S)
                self.stop.wait(MISSING_RETRY_S)
                continue
            except Exception:
                log.exception("reading the event queue in %s failed", self.queue.region)
                self.stop.wait(RETRY_S)
                continue
            if received and not self.stop.is_set():
                self._handle(received)

    def _handle(self, received: list[Received]) -> None:
        try:
            self.engine.ingest(self.queue, received)
            self.batches += 1
        except Exception:  # the messages stay in the queue and come back after their timeout
            log.exception("handling %d queued events failed", len(received))


class Pollers:
    """Starts one poller per event queue and stops them all."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.stop_event = threading.Event()
        self.threads: list[QueuePoller] = []

    def start(self) -> int:
        """Start a thread for each (account, region) queue; returns how many."""
        self.stop_event = threading.Event()
        self.threads = [QueuePoller(self.engine, queue, self.stop_event)
                        for queue in self.engine.event_queues()]
        for thread in self.threads:
            thread.start()
        return len(self.threads)

    def stop(self, timeout_s: float = 2.0) -> None:
        """Ask every thread to stop; a receive in flight ends by itself (threads are daemons,
        and its messages, never deleted, come back to the next run)."""
        self.stop_event.set()
        for thread in self.threads:
            thread.join(timeout_s)
