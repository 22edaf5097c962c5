"""The daemon's event queue readers: one thread per account and region, long-polling SQS.

Each batch is stored (each event id once), then deleted, then evaluated at once when the
queue is quiet (in a burst, as `Pacer` says), so an attacker's call reaches the inbox seconds
after EventBridge delivers it, not at the next scheduled cycle. A thread that loses its
queue (deleted, or never set up) backs off and tries again; the scheduled `cloudtrail` job
falls back to LookupEvents meanwhile. While a poller owns its queue the scheduled job does not
drain it (no cycle holds the engine for a hundred receives): it reads the trails' and
detectors' state only.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from costguard.collectors.event_queue import MAX_BATCH

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


MAX_DEFER_S = 2.0
"""During a burst, the longest the poller stores events without evaluating them while an
evaluation is cheap (the event-to-inbox target is 5 s); see `SPACING` for when it is not."""

SPACING = 4.0
"""In a burst, the next evaluation waits at least this many times the last one's duration, so
evaluating takes at most a fifth of the drain's time however long the look-back has grown."""


class Pacer:
    """When a poller evaluates what it stored.

    At once when the queue has gone quiet (a receive of fewer than ten messages, the everyday
    case: an attacker's call is judged the moment it is stored). In a burst of full receives,
    an evaluation reads the whole look-back, so evaluating every receive would cost time
    quadratic in the burst. There it waits until the events stored since the last evaluation
    are a quarter of the look-back (evaluations then grow with the logarithm of the burst and
    their work with its size), or until they have waited MAX_DEFER_S; and in either case
    until SPACING times the last evaluation's duration has passed, which matters once an
    evaluation takes longer than half a second (a look-back of tens of thousands of events):
    a fixed two seconds fired a hundred evaluations of a 93,000-event look-back in a burst of
    100,000, and the quarter rule alone let them take a third of the drain. So in a burst an
    event waits at most max(MAX_DEFER_S, SPACING x the last evaluation's duration) plus its
    own evaluation; the receive that finds the queue quiet again is judged at once."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.deferred = 0
        self.since: float | None = None
        self.cost = 0.0
        """How long the last evaluation took, by `clock`."""

    def evaluate_now(self, batch: int, look_back: int) -> bool:
        """Whether to evaluate after storing a receive of `batch` messages."""
        if batch < MAX_BATCH:
            return True
        now = self.clock()
        self.since = now if self.since is None else self.since
        self.deferred += batch
        waited = now - self.since
        if waited < SPACING * self.cost:  # whichever rule: evaluating keeps to its share
            return False
        return self.deferred * 4 >= look_back or waited >= MAX_DEFER_S

    def max_defer(self) -> float:
        """The longest stored events wait in a burst (see the class's docstring)."""
        return max(MAX_DEFER_S, SPACING * self.cost)

    def evaluated(self, cost: float = 0.0) -> None:
        """An evaluation ran and took `cost` seconds: start counting again."""
        self.deferred, self.since, self.cost = 0, None, cost

    @contextmanager
    def evaluating(self) -> Iterator[None]:
        """Time an evaluation; counting starts again even if it failed (its messages come
        back and a later one judges them)."""
        started = self.clock()
        try:
            yield
        finally:
            self.evaluated(self.clock() - started)


def handle(engine: Engine, queue: EventQueue, received: list[Received], pacer: Pacer) -> Any:
    """Store one receive and evaluate when the pacer says so; the engine's result or None."""
    if not pacer.evaluate_now(len(received), len(engine.latest.events.api)):
        return engine.ingest(queue, received, evaluate=False)
    with pacer.evaluating():
        return engine.ingest(queue, received, evaluate=True)


class QueuePoller(threading.Thread):
    """Long-polls one queue until told to stop."""

    def __init__(self, engine: Engine, queue: EventQueue, stop: threading.Event) -> None:
        super().__init__(name=f"poll-{queue.account}-{queue.region}", daemon=True)
        self.engine = engine
        self.queue = queue
        self.stop = stop
        self.batches = 0
        self.pacer = Pacer()

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
            elif not received and self.pacer.deferred:  # a burst ended on a full receive
                self._catch_up()

    def _catch_up(self) -> None:
        try:
            with self.pacer.evaluating():
                self.engine.evaluate_events()
        except Exception:  # the scheduled cycle evaluates the stored events anyway
            log.exception("evaluating the events of a burst failed")

    def _handle(self, received: list[Received]) -> None:
        try:
            handle(self.engine, self.queue, received, self.pacer)
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
