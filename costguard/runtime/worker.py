"""`runtime.engine: procrastinate`: this process as one worker of the job queue.

procrastinate is asynchronous; the daemon's main thread keeps signals, SIGHUP and systemd's
watchdog as with the embedded engine, and the worker runs on an event loop of its own thread.
The engine's cycles are synchronous and run in procrastinate's worker thread, one job at a time
per process (the engine's lock serializes cycles anyway); more throughput is more processes.

A worker killed mid-job stops sending heartbeats. Every worker looks, every `HEARTBEAT_S`, for
running jobs of workers silent for `STALLED_S` and puts them back in the queue
(`get_stalled_jobs`, `retry_job`), so the unit is collected by another worker well within one
inventory interval. The store's unique rows make a retried job's second conclusion harmless.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
from typing import TYPE_CHECKING, Any

from costguard.runtime.tasks import QUEUE, Jobs

if TYPE_CHECKING:
    import procrastinate

    from costguard.runtime.cycle import Engine

log = logging.getLogger(__name__)

HEARTBEAT_S = 5.0
"""How often a worker tells the queue it is alive."""

STALLED_S = 15.0
"""A worker silent this long is taken for dead and its running job is retried elsewhere."""

GRACE_S = 6.0
"""How long a stopping worker lets its running job finish (the cycle stops at its next region
boundary); the daemon's STOP_TIMEOUT_S is longer."""


def make_app(database_url: str, catch_up_s: float = 600) -> procrastinate.App:
    """A procrastinate app on the store's PostgreSQL database (its tables come from the
    store's migrations, so the app never creates a schema of its own).

    A starting worker defers each periodic task's latest tick if it is at most `catch_up_s`
    old and was not deferred yet (by anyone): with the longest interval here, a restart
    collects every source at once, as the embedded engine does, and never one tick twice."""
    import procrastinate

    from costguard.store.job_queue import libpq_conninfo

    connector = procrastinate.PsycopgConnector(conninfo=libpq_conninfo(database_url),
                                               min_size=1, max_size=4)
    return procrastinate.App(connector=connector,
                             periodic_defaults={"max_delay": max(catch_up_s, 600)})


class QueueWorker:
    """One procrastinate worker on its own thread and event loop, started and stopped by the
    daemon."""

    def __init__(self, engine: Engine, stop_event: threading.Event) -> None:
        self.engine = engine
        self.stop_event = stop_event
        schedule = engine.config.schedule
        longest = max((schedule.interval(s) for s in engine.sources_needed()), default=0)
        self.app = make_app(engine.config.database_url, longest + 3600)
        self.jobs = Jobs(engine, self.app, should_stop=stop_event.is_set)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._worker: Any = None
        self._thread = threading.Thread(target=self._run, name="procrastinate", daemon=True)
        self.failed: BaseException | None = None

    def start(self) -> None:
        """Connect and start taking jobs (returns at once)."""
        self._thread.start()

    @property
    def alive(self) -> bool:
        """False once the worker ended, asked to or not."""
        return self._thread.is_alive()

    def stop(self, timeout: float) -> bool:
        """Let the running job finish (up to GRACE_S), unregister; True when it ended in time."""
        worker, loop = self._worker, self._loop
        if worker is not None and loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(worker.stop)
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported by the daemon's loop, which then stops
            self.failed = exc
            log.exception("the procrastinate worker ended")

    async def _main(self) -> None:
        from procrastinate.worker import Worker

        async with self.app.open_async():
            self._loop = asyncio.get_running_loop()
            self._worker = Worker(
                self.app, queues=[QUEUE], concurrency=1, install_signal_handlers=False,
                name=f"{socket.gethostname()}:{os.getpid()}",
                update_heartbeat_interval=HEARTBEAT_S, stalled_worker_timeout=STALLED_S,
                shutdown_graceful_timeout=GRACE_S, delete_jobs="successful",
            )
            if self.stop_event.is_set():
                return
            recovery = asyncio.create_task(self._recover_stalled())
            try:
                await self._worker.run()
            finally:
                recovery.cancel()

    async def _recover_stalled(self) -> None:
        """Put the running jobs of dead workers back in the queue, every HEARTBEAT_S."""
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            try:
                await retry_stalled(self.app)
            except Exception:  # the database may be restarting: the next round retries
                log.exception("could not look for stalled jobs")


async def retry_stalled(app: procrastinate.App) -> int:
    """Retry each job whose worker stopped sending heartbeats; returns how many were retried.

    A job another worker retried first (or one whose unit is queued again already: the
    queueing lock allows one) is closed as failed instead, so its lock does not hold the unit.
    """
    from procrastinate import exceptions
    from procrastinate.jobs import Status

    manager = app.job_manager
    retried = 0
    for job in await manager.get_stalled_jobs(seconds_since_heartbeat=STALLED_S):
        try:
            await manager.retry_job(job)
        except exceptions.UniqueViolation:
            await manager.finish_job(job, status=Status.FAILED, delete_job=False)
            log.warning("job %s (%s): its worker died; its unit is queued again", job.id,
                        job.queueing_lock)
            continue
        except exceptions.ConnectorException as exc:  # another worker retried it first
            log.info("job %s: not retried here: %s", job.id, str(exc).splitlines()[0])
            continue
        retried += 1
        log.warning("job %s (%s): its worker died; retrying it", job.id, job.queueing_lock)
    return retried
