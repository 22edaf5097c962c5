"""`costguard run`: one APScheduler job per source, signals, and systemd notification.

Jobs run on a single worker thread, so cycles never overlap on the store; each job coalesces
missed runs and has at most one instance. SIGTERM asks the running cycle to stop at the next
region boundary and exits within seconds; SIGHUP reloads config and policies, keeping the old
ones (and logging every problem) when the new ones are invalid.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from costguard.model import Source
from costguard.store import StoreUnavailable

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from costguard.runtime.bootstrap import Setup
    from costguard.runtime.cycle import Engine
    from costguard.runtime.worker import QueueWorker
    from costguard.store import Store

log = logging.getLogger(__name__)

DELIVERY_INTERVAL_S = 15.0
"""How often the outbox retries due messages between cycles."""

ACCOUNTS_REFRESH_S = 3600.0
"""How often an Organization's members are listed again: a new account is picked up within
the hour (a new account is where a thief with Organization rights would go)."""

STOP_TIMEOUT_S = 8.0
"""How long shutdown waits for a running cycle; systemd's default stop timeout is longer."""


def sd_notify(state: str, env: dict[str, str] | None = None) -> bool:
    """Tell systemd our state (READY=1, STOPPING=1, WATCHDOG=1); a no-op outside systemd."""
    address = (env or os.environ).get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.connect(address)
        sock.sendall(state.encode())
    return True


class Daemon:
    """Schedules the engine's cycles until told to stop."""

    def __init__(self, config_path: str | None, setup: Setup, *, store: Store | None = None,
                 engine: Engine | None = None) -> None:
        from costguard.runtime.bootstrap import open_store
        from costguard.runtime.cycle import Engine

        self.config_path = config_path
        self.setup = setup
        self.store = store or open_store(setup.config)
        self.engine = engine or Engine(setup.config, setup.policies, self.store, live_prices=True,
                                       registry=setup.registry)
        self.stop_event = threading.Event()
        self.reload_event = threading.Event()
        self.cycles = 0
        self.scheduler = self._scheduler()
        from costguard.runtime.pollers import Pollers

        self.pollers = Pollers(self.engine)
        self.metrics_server: WSGIServer | None = None
        self.worker: QueueWorker | None = None

    def _scheduler(self) -> Any:
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.schedulers.background import BackgroundScheduler

        return BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(max_workers=1)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
            timezone=timezone.utc,
        )

    def schedule(self) -> None:
        """(Re)create one job per needed source at its interval, plus outbox delivery."""
        for job in self.scheduler.get_jobs():
            job.remove()
        now = datetime.now(timezone.utc)
        schedule = self.setup.config.schedule
        for i, source in enumerate(sorted(self.engine.sources_needed(), key=list(Source).index)):
            self.scheduler.add_job(
                self._cycle, "interval", seconds=schedule.interval(source), args=[source],
                id=f"collect-{source.value}", next_run_time=now + timedelta(seconds=i * 0.1),
            )
        self.scheduler.add_job(
            self._deliver, "interval", seconds=DELIVERY_INTERVAL_S, id="deliver",
        )
        from costguard.reports.weekly_send import weekly_trigger

        # At the scheduled time, and once now: a report missed while the daemon was down goes
        # out when it is back (the store says whether it went already).
        self.scheduler.add_job(self._weekly, weekly_trigger(schedule), id="weekly-report")
        self.scheduler.add_job(self._weekly, "date", run_date=now + timedelta(seconds=2),
                               id="weekly-report-catch-up")
        if self.setup.config.aws.organization is not None:
            self.scheduler.add_job(self._refresh_accounts, "interval", seconds=ACCOUNTS_REFRESH_S,
                                   id="accounts")
        self.scheduler.add_job(self._prune, "interval", id="prune",
                               seconds=self.setup.config.store.retention.every)
        if any(r.digest for r in self.engine.notifier.routes):
            # hourly: each route's digest goes out when its own period has passed
            self.scheduler.add_job(self._digests, "interval", hours=1, id="digests",
                                   next_run_time=now + timedelta(minutes=1))

    def _cycle(self, source: Source) -> None:
        if self.stop_event.is_set():
            return
        try:
            self.engine.run_cycle({source}, should_stop=self.stop_event.is_set)
            self.cycles += 1
        except StoreUnavailable as exc:  # its one line says what failed and what happens next
            log.error("cycle for %s failed: %s", source, exc)
            self.engine.job_failures["cycle"] += 1
        except Exception:  # the daemon outlives any one bad cycle; the next one retries
            log.exception("cycle for %s failed", source)
            self.engine.job_failures["cycle"] += 1

    def _refresh_accounts(self) -> None:
        """Resolve the accounts again at the next cycle (as a reload with the same config)."""
        if not self.stop_event.is_set():
            self.engine.reconfigure(self.setup.config, self.setup.policies)

    def _deliver(self) -> None:
        if self.stop_event.is_set():
            return
        try:
            self.engine.deliver()
        except Exception:
            log.exception("outbox delivery failed")
            self.engine.job_failures["delivery"] += 1

    def _digests(self) -> None:
        if self.stop_event.is_set():
            return
        try:
            self.engine.send_digests()
        except Exception:
            log.exception("sending digests failed")
            self.engine.job_failures["digests"] += 1

    def _prune(self) -> None:
        """Retention (runtime.pruning): one short transaction, not under the engine's lock."""
        if self.stop_event.is_set():
            return
        from costguard.runtime.pruning import prune

        try:
            prune(self.store, self.engine.config, self.engine.policies, self.engine.clock())
        except Exception:
            log.exception("pruning the store failed")
            self.engine.job_failures["prune"] += 1

    def _weekly(self) -> None:
        if self.stop_event.is_set():
            return
        from costguard.reports.weekly_send import send_due

        engine = self.engine
        try:
            with engine.lock:
                queued = send_due(engine.store, engine.notifier, engine.registry,
                                  engine.policies, engine.clock())
            if queued:
                engine.deliver()
        except Exception:
            log.exception("the weekly report failed")
            self.engine.job_failures["weekly_report"] += 1

    def reload(self) -> bool:
        """Re-read config and policies; on any problem keep running with the old ones."""
        from costguard.runtime.bootstrap import load_setup
        from costguard.settings.problems import InvalidInput

        try:
            new = load_setup(self.config_path)
        except InvalidInput as exc:
            for problem in exc.problems:
                log.error("reload refused: %s", problem)
            log.error("keeping the previous config and %d policies", len(self.setup.policies))
            return False
        if new.config.database_url != self.setup.config.database_url:
            log.warning("database.url changed: restart costguard to switch databases")
        self.setup = new
        self.pollers.stop()
        self.engine.reconfigure(new.config, new.policies)
        if self.worker is None:
            self.schedule()
        else:  # procrastinate's periodic tasks are registered when the worker starts
            self.worker.jobs.everything = None  # accounts and regions: resolved again
            log.warning("runtime.engine procrastinate: restart the workers for new intervals")
        self._start_pollers()
        log.info("reloaded: %d policies", len(new.policies))
        return True

    def _serve_metrics(self) -> None:
        """/metrics and /healthz, when `metrics.listen` is set (the default: 127.0.0.1:9465)."""
        listen = self.setup.config.metrics.listen
        if not listen:
            return
        from costguard.runtime.metrics import serve
        from costguard.settings.config import problem_at
        from costguard.settings.problems import InvalidInput

        try:
            self.metrics_server = serve(self.engine, listen)
        except OSError as exc:  # before anything started: one line and exit 2, not a loop
            message = (f"cannot listen on {listen}: {exc.strerror or exc}; free the port, "
                       "choose another, or set listen: null to turn the endpoint off")
            raise InvalidInput([problem_at(self.setup.config, ["metrics", "listen"], message)]
                               ) from None

    def _start_pollers(self) -> None:
        """Long-poll the event queues when an enabled check reads events."""
        from costguard.runtime.cycle import EVENT_SOURCES

        if not self.engine.sources_needed() & EVENT_SOURCES:
            return
        try:
            count = self.pollers.start()
        except Exception:  # no credentials yet, say: the scheduled cycles still run and retry
            log.exception("could not start the event queue pollers")
            return
        log.info("reading %d event queue(s) continuously", count)

    def install_signals(self) -> None:
        """SIGTERM/SIGINT stop, SIGHUP reloads; handlers only set flags (async-signal safe)."""
        signal.signal(signal.SIGTERM, lambda *_: self.stop_event.set())
        signal.signal(signal.SIGINT, lambda *_: self.stop_event.set())
        signal.signal(signal.SIGHUP, lambda *_: self.reload_event.set())

    def run(self) -> None:
        """Start the jobs and wait for signals; returns after a clean stop. The metrics port is
        bound first: when it cannot be, InvalidInput says so and nothing has started."""
        try:
            self._serve_metrics()
        except BaseException:
            self.store.close()
            raise
        self.install_signals()
        self._start_engine()
        self._start_pollers()
        sd_notify("READY=1")
        log.info("costguard running: %d policies, sources %s", len(self.setup.policies),
                 ", ".join(s.value for s in sorted(self.engine.sources_needed(),
                                                    key=list(Source).index)))
        watchdog = _watchdog_interval()
        while not self.stop_event.wait(timeout=watchdog or 1.0):
            if self.reload_event.is_set():
                self.reload_event.clear()
                sd_notify("RELOADING=1")
                self.reload()
                sd_notify("READY=1")
            if self.worker is not None and not self.worker.alive:
                log.error("the procrastinate worker stopped; costguard stops with it")
                break
            if watchdog:
                sd_notify("WATCHDOG=1")
        self.shutdown()

    def _start_engine(self) -> None:
        """APScheduler in this process, or this process as a worker of the job queue."""
        if self.setup.config.runtime.engine != "procrastinate":
            self.schedule()
            self.scheduler.start()
            return
        from costguard.runtime.worker import QueueWorker

        self.store.serial_units = True
        self.worker = QueueWorker(self.engine, self.stop_event)
        self.worker.start()

    def shutdown(self) -> None:
        """Stop scheduling, let a running cycle reach its next stopping point, close the store."""
        sd_notify("STOPPING=1")
        log.info("stopping")
        self.stop_event.set()
        self.pollers.stop()
        if self.metrics_server is not None:
            self.metrics_server.shutdown()
        if self.worker is not None:
            stopped = self.worker.stop(STOP_TIMEOUT_S)
        else:
            worker = threading.Thread(target=self.scheduler.shutdown, kwargs={"wait": True})
            worker.start()
            worker.join(STOP_TIMEOUT_S)
            stopped = not worker.is_alive()
        if not stopped:
            log.warning("a cycle did not stop within %.0fs; exiting anyway", STOP_TIMEOUT_S)
        self.store.close()
        log.info("stopped after %d cycles", self.cycles + (self.worker.jobs.cycles
                                                          if self.worker else 0))


def _watchdog_interval() -> float | None:
    usec = os.environ.get("WATCHDOG_USEC")
    return int(usec) / 2e6 if usec and usec.isdigit() else None
