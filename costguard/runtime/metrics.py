"""`/metrics` (Prometheus) and `/healthz` for the daemon.

A collector reads the store at scrape time (client_python's Collector pattern) instead of
keeping counters in memory, so the figures are the same on every replica and survive restarts:
open findings by severity, open incidents, costguard's own Cost Explorer spend today and this
month, the outbox and each channel's deliveries, each source's health, and per account x source
the collections, failures and last success (`account_metrics`). `/healthz` answers 200 while
every source's last cycle succeeded and none has gone 3 intervals without collecting, and every
channel delivers, and 503 naming what fails otherwise: a source failing or stale, a channel
whose last 3 sends failed, a channel holding dead messages.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

if TYPE_CHECKING:
    from costguard.collectors.session import Aws
    from costguard.settings.config import Config
    from costguard.snapshot import SourceHealth
    from costguard.spend.ce_budget import CeBudget
    from costguard.store import Store
    from costguard.store.delivery_stats import ChannelDelivery

log = logging.getLogger(__name__)


class Watched(Protocol):
    """What the endpoint reads of the engine: its store, its Cost Explorer budget, the health
    of its sources, its schedule and clock (for staleness) and its AWS call counts."""

    config: Config
    clock: Callable[[], datetime]

    @property
    def store(self) -> Store: ...

    @property
    def budget(self) -> CeBudget: ...

    @property
    def aws(self) -> Aws: ...

    def health(self) -> tuple[SourceHealth, ...]: ...

    @property
    def job_failures(self) -> Mapping[str, int]: ...


class StoreCollector:
    """Turns the store's current state into Prometheus metric families."""

    def __init__(self, engine: Watched) -> None:
        self.engine = engine

    def collect(self) -> Iterable[Any]:
        """One scrape: every family, read fresh from the store."""
        from prometheus_client.core import GaugeMetricFamily

        store = self.engine.store
        findings = GaugeMetricFamily("costguard_findings_open", "Open, acknowledged or muted "
                                     "findings", labels=["severity", "status"])
        counts: dict[tuple[str, str], int] = {}
        for f in store.list_findings():
            if f.status.value != "resolved":
                key = (f.severity.value, f.status.value)
                counts[key] = counts.get(key, 0) + 1
        for (severity, status), n in sorted(counts.items()):
            findings.add_metric([severity, status], n)
        yield findings
        yield GaugeMetricFamily("costguard_incidents_open", "Incidents not yet resolved",
                                value=len(store.open_incidents()))
        yield from self._cost_explorer()
        yield from self._outbox(store)
        yield from delivery_families(store.channel_delivery())
        yield from self._health()
        yield from job_families(store)

    def _cost_explorer(self) -> Iterable[Any]:
        from prometheus_client.core import GaugeMetricFamily

        spent = self.engine.budget.summary()
        yield GaugeMetricFamily("costguard_cost_explorer_requests_today",
                                "Cost Explorer requests costguard made today (UTC)",
                                value=spent["calls_today"])
        yield GaugeMetricFamily("costguard_cost_explorer_usd_today",
                                "What costguard spent on Cost Explorer today ($0.01 a request)",
                                value=spent["usd_today"])
        yield GaugeMetricFamily("costguard_cost_explorer_requests_month",
                                "Cost Explorer requests costguard made this month",
                                value=spent["calls_month"])
        yield GaugeMetricFamily("costguard_cost_explorer_usd_month",
                                "What costguard spent on Cost Explorer this month",
                                value=spent["usd_month"])

    def _outbox(self, store: Store) -> Iterable[Any]:
        from prometheus_client.core import GaugeMetricFamily

        from costguard.store.records import NotificationStatus

        family = GaugeMetricFamily("costguard_notifications", "Messages in the outbox",
                                   labels=["status"])
        counts: dict[str, int] = {}
        for n in store.notifications():
            counts[n.status.value] = counts.get(n.status.value, 0) + 1
        for status in NotificationStatus:
            family.add_metric([status.value], counts.get(status.value, 0))
        yield family

    def _health(self) -> Iterable[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        from costguard.runtime.account_metrics import account_families, call_family

        health = self.engine.health()
        failures = GaugeMetricFamily("costguard_source_consecutive_failures",
                                     "Cycles in a row a source failed to collect",
                                     labels=["source", "account", "region"])
        for h in health:
            failures.add_metric([h.source, h.account, h.region], h.consecutive_failures)
        yield failures
        yield from account_families(health)
        yield call_family(self.engine.aws.calls)
        jobs = CounterMetricFamily(
            "costguard_job_failures", "Daemon jobs that raised (a cycle the store or a bug "
            "stopped, a delivery run, a digest, pruning, the weekly report)", labels=["job"])
        for job, count in sorted(self.engine.job_failures.items()):
            jobs.add_metric([job], count)
        yield jobs


JOB_STATES = {"todo": "queued", "doing": "running", "failed": "failed"}
"""procrastinate's job statuses that /metrics shows, by the names operators alert on."""


def job_families(store: Store) -> Iterable[Any]:
    """The procrastinate engine's jobs queued, running and failed, per task, from its tables
    in the store's database; nothing where there is no job queue (SQLite)."""
    from prometheus_client.core import GaugeMetricFamily

    from costguard.store.job_queue import job_counts

    counts = job_counts(store.engine)
    if not counts:
        return
    family = GaugeMetricFamily("costguard_jobs", "Jobs of the procrastinate engine, per task "
                               "and state (queued, running, failed)", labels=["task", "state"])
    tasks = sorted({task for task, _ in counts})
    for task in tasks:
        for status, state in JOB_STATES.items():
            family.add_metric([task, state], counts.get((task, status), 0))
    yield family


def delivery_families(channels: Iterable[ChannelDelivery]) -> Iterable[Any]:
    """Per channel: messages sent and failed sends (counters, from the delivery attempts),
    messages given up on and the backlog (gauges, from the outbox)."""
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    labels = ["channel"]
    sent = CounterMetricFamily("costguard_notifications_sent", "Messages delivered", labels=labels)
    failed = CounterMetricFamily("costguard_notification_failures",
                                 "Sends that failed (each retry counts)", labels=labels)
    dead = GaugeMetricFamily("costguard_notifications_dead",
                             "Messages delivery gave up on (costguard outbox retry ID)",
                             labels=labels)
    backlog = GaugeMetricFamily("costguard_outbox_backlog",
                                "Messages waiting to go out, queued or failing", labels=labels)
    for c in channels:
        for family, value in ((sent, c.sent), (failed, c.failed), (dead, c.dead),
                              (backlog, c.backlog)):
            family.add_metric([c.channel], value)
    return sent, failed, dead, backlog


def channel_problems(channels: Iterable[ChannelDelivery]) -> list[str]:
    """One line per channel that degrades health: its last sends all failed, or it holds
    messages delivery gave up on."""
    from costguard.store.delivery_stats import RECENT

    problems = []
    for c in channels:
        if c.failing:
            problems.append(f"notifier {c.channel}: the last {RECENT} sends failed: "
                            f"{c.last_error}")
        if c.dead:
            problems.append(f"notifier {c.channel}: {c.dead} message(s) given up on "
                            "(costguard outbox list --dead)")
    return problems


def health_report(engine: Watched) -> tuple[bool, dict[str, Any]]:
    """Healthy when no source of any account failed its last cycle or went 3 intervals
    without collecting, and every channel delivers; the body names what is failing."""
    from costguard.runtime.account_metrics import stale

    health = engine.health()
    failing = [h.last_error or f"{h.source} {h.account}/{h.region}: failed"
               for h in health if h.consecutive_failures > 0]
    failing += stale(health, engine.config.schedule, engine.clock())
    failing += channel_problems(engine.store.channel_delivery())
    return not failing, {"status": "ok" if not failing else "degraded", "failing": failing}


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        log.debug(format, *args)


def app(engine: Watched) -> Callable[..., Any]:
    """The WSGI app: /metrics, /healthz, 404 for anything else."""
    from prometheus_client import CollectorRegistry, make_wsgi_app

    registry = CollectorRegistry(auto_describe=True)
    registry.register(StoreCollector(engine))
    metrics = make_wsgi_app(registry)

    def route(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/metrics":
            return metrics(environ, start_response)
        if path == "/healthz":
            ok, body = health_report(engine)
            start_response("200 OK" if ok else "503 Service Unavailable",
                           [("Content-Type", "application/json")])
            return [json.dumps(body).encode()]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found\n"]

    return route


class _Server6(WSGIServer):
    address_family = socket.AF_INET6


def serve(engine: Watched, listen: str) -> WSGIServer:
    """Start the endpoint on `host:port` (or `[v6]:port`) in a daemon thread; returns the server
    (to stop it). A port that cannot be bound raises OSError before any thread starts."""
    from costguard.settings.addresses import parse_listen

    host, port = parse_listen(listen)
    host = host or "127.0.0.1"
    server_class = _Server6 if ":" in host else WSGIServer
    server = make_server(host, port, app(engine), server_class=server_class,
                         handler_class=_Quiet)
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    log.info("metrics on http://%s:%s/metrics", host, server.server_port)
    return server
