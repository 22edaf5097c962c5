"""`runtime.engine: procrastinate`: real `costguard run` workers sharing one PostgreSQL queue.

Two worker processes against a PostgreSQL schema of their own, a moto_server (AWS_ENDPOINT_URL)
holding one unapproved instance per region, and a real SMTP server (aiosmtpd). The workers'
logs are read as an operator would; the outbox and the SMTP server are compared row for row.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import boto3
import pytest
import sqlalchemy as sa
from moto import mock_aws

from costguard.model import GLOBAL_REGION, Source
from costguard.runtime.bootstrap import load_setup
from costguard.runtime.cycle import Engine
from costguard.runtime.metrics import job_families
from costguard.runtime.tasks import Jobs, WorkUnit, cron_every, units
from costguard.runtime.worker import STALLED_S, make_app
from costguard.store import Store

from .smtp_server import Mailbox, smtp_server

pytestmark = pytest.mark.postgres

REGIONS = ("us-east-1", "eu-west-1", "us-west-2", "ap-southeast-2")
POLICIES = """\
policies:
  - {name: unapproved-instance-types, check: instance_types, severity: high,
     params: {allowed: ["t3.*"]}}
"""
STARTED = re.compile(r"Starting job costguard\.collect\[(\d+)\]\(([^)]*)\)")
ENDED = re.compile(r"Job costguard\.collect\[(\d+)\]\(([^)]*)\) ended with status: Success")



@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    inbox = Mailbox()
    with smtp_server(inbox) as port:
        yield inbox, port



@pytest.fixture
def endpoint(moto_endpoint: str) -> str:
    """The server, emptied, with one c5.4xlarge (unapproved) in each region."""
    urllib.request.urlopen(
        urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST"), timeout=10
    ).close()
    for region in REGIONS:
        boto3.client("ec2", region_name=region, endpoint_url=moto_endpoint).run_instances(
            ImageId="ami-12345678", MinCount=1, MaxCount=1, InstanceType="c5.4xlarge")
    return moto_endpoint


def write_config(folder: Path, pg_url: str, smtp_port: int, inventory: str = "5s") -> Path:
    (folder / "policies.yml").write_text(POLICIES)
    path = folder / "costguard.yml"
    path.write_text(
        f"aws: {{regions: [{', '.join(REGIONS)}]}}\n"
        f"database: {{url: '{pg_url}'}}\n"
        f"schedule: {{inventory: {inventory}}}\n"
        "metrics: {listen: null}\n"
        "runtime: {engine: procrastinate}\n"
        # findings join the incident as regions are collected: updates go out promptly
        "incidents: {update_settle: 2s}\n"
        "policies: [policies.yml]\n"
        "notifiers:\n"
        f"  security: {{type: smtp, host: 127.0.0.1, port: {smtp_port}, security: none,\n"
        "             from: costguard@test.invalid, to: [secops@test.invalid]}\n")
    return path


class Worker:
    """One `costguard run` process and its log."""

    def __init__(self, process: subprocess.Popen[bytes], log: Path) -> None:
        self.process = process
        self.log = log

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def collected(self) -> set[str]:
        """The units whose collect job ended successfully in this worker."""
        return {args for _, args in ENDED.findall(self.text())}

    def running(self) -> set[str]:
        """Collect jobs started and not ended (by job id)."""
        text = self.text()
        return {job for job, _ in STARTED.findall(text)} - {j for j, _ in ENDED.findall(text)}


@pytest.fixture
def workers(endpoint: str, tmp_path: Path) -> Iterator[Callable[[Path, str], Worker]]:
    started: list[Worker] = []

    def start(config: Path, name: str) -> Worker:
        log = tmp_path / f"{name}.log"
        env = {**os.environ, "AWS_ENDPOINT_URL": endpoint}
        with log.open("wb") as sink:
            process = subprocess.Popen([sys.executable, "-m", "costguard", "run", "-c",
                                        str(config)], env=env, stdout=sink,
                                       stderr=subprocess.STDOUT)
        started.append(Worker(process, log))
        return started[-1]

    yield start
    for worker in started:
        if worker.process.poll() is None:
            worker.process.send_signal(signal.SIGTERM)
            try:
                worker.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                worker.process.kill()
                worker.process.wait(timeout=10)


def unit_args(region: str) -> str:
    return f"region='{region}', source='inventory', account='123456789012'"


def wait_until(done: Callable[[], bool], timeout_s: float, what: str,
               logs: Callable[[], str]) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if done():
            return
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}; logs:\n{logs()}")


def outbox(pg_url: str) -> list[tuple[str, str, str]]:
    with Store.open(pg_url) as store:
        return [(n.key, n.channel, n.status.value) for n in store.notifications()]


def delivered_exactly_once(pg_url: str, inbox: Mailbox) -> bool:
    rows = outbox(pg_url)
    return bool(rows) and all(s == "sent" for *_, s in rows) and len(inbox.received) >= len(rows)


def test_two_workers_collect_every_unit_and_deliver_each_message_once(
        tmp_path, pg_url, smtp, workers):
    inbox, port = smtp
    config = write_config(tmp_path, pg_url, port)
    Store.open(pg_url).close()  # migrate once, before two processes race to
    first, second = workers(config, "first"), workers(config, "second")
    logs = lambda: first.text() + "\n----\n" + second.text()  # noqa: E731

    wait_until(lambda: first.collected() | second.collected() >= {unit_args(r) for r in REGIONS},
               90, "every unit collected", logs)
    wait_until(lambda: delivered_exactly_once(pg_url, inbox), 60, "every message sent", logs)
    time.sleep(6)  # one more planning round and sweep: nothing may be sent again

    rows = outbox(pg_url)
    assert len(inbox.received) == len(rows)
    assert len(set(inbox.message_ids())) == len(inbox.message_ids())
    assert len({(key, channel) for key, channel, _ in rows}) == len(rows)
    assert first.collected() and second.collected(), "both workers should have taken jobs"
    for worker in (first, second):
        assert "Traceback" not in worker.text()


def test_a_worker_killed_mid_job_has_its_unit_retried_by_the_other(
        tmp_path, pg_url, smtp, workers):
    """SIGKILL while a collect job runs: its worker's heartbeat stops, the other worker puts the
    job back in the queue after STALLED_S and collects the unit; nothing lost, nothing twice."""
    inbox, port = smtp
    config = write_config(tmp_path, pg_url, port, inventory="5m")  # one or two rounds
    Store.open(pg_url).close()
    victim = workers(config, "victim")
    logs = lambda: victim.text()  # noqa: E731
    # The first collect job of a process is the slow one (the price book is set up), so the
    # victim is caught inside it.
    wait_until(lambda: bool(victim.running()), 60, "a collect job to start", logs)
    victim.process.send_signal(signal.SIGKILL)
    victim.process.wait(timeout=10)
    killed_at = time.monotonic()
    (job,) = victim.running()
    unit = dict(STARTED.findall(victim.text()))[job]

    survivor = workers(config, "survivor")
    both = lambda: victim.text() + "\n----\n" + survivor.text()  # noqa: E731
    wait_until(lambda: unit in survivor.collected(), 90, "the killed unit collected", both)
    recovered_s = time.monotonic() - killed_at
    everything = {unit_args(r) for r in REGIONS}
    wait_until(lambda: victim.collected() | survivor.collected() >= everything, 60,
               "every unit collected", both)
    wait_until(lambda: delivered_exactly_once(pg_url, inbox), 60, "every message sent", both)

    assert re.search(rf"job {job} \(unit:inventory:123456789012:[\w-]+\): its worker died",
                     survivor.text())
    assert recovered_s < STALLED_S + 30  # well within one inventory interval (default 60 s)
    rows = outbox(pg_url)
    assert len(inbox.received) == len(rows)
    assert len(set(inbox.message_ids())) == len(rows)


# -- in-process: the queueing lock and the unit plan --------------------------------------------


@pytest.fixture
def jobs(tmp_path: Path, pg_url: str) -> Iterator[Jobs]:
    config = write_config(tmp_path, pg_url, 25)
    setup = load_setup(config)
    store = Store.open(pg_url)
    app = make_app(pg_url)
    with mock_aws(), app.open():
        engine = Engine(setup.config, setup.policies, store, registry=setup.registry)
        yield Jobs(engine, app)
    store.close()


def queued(pg_url: str) -> dict[str, int]:
    with Store.open(pg_url) as store, store.engine.connect() as connection:
        rows = connection.execute(sa.text(
            "SELECT queueing_lock, count(*) FROM procrastinate_jobs WHERE status = 'todo' "
            "AND task_name = 'costguard.collect' GROUP BY queueing_lock"))
        return dict(rows.all())


def test_the_queueing_lock_keeps_one_queued_job_per_unit(jobs: Jobs, pg_url: str) -> None:
    unit = WorkUnit(Source.INVENTORY, "123456789012", "eu-west-1")
    assert jobs.defer_unit(unit) == 1
    assert jobs.defer_unit(unit) == 0
    assert jobs.plan(timestamp=0, source="inventory") == len(REGIONS) - 1
    assert jobs.plan(timestamp=5, source="inventory") == 0
    assert queued(pg_url) == {f"unit:inventory:123456789012:{r}": 1 for r in REGIONS}


def test_units_are_regional_for_the_inventory_and_account_wide_otherwise() -> None:
    from costguard.collectors.accounts import Target

    targets = [Target(account="1", aws=None, regions=["a", "b"]),  # type: ignore[arg-type]
               Target(account="2", aws=None, regions=["a"])]  # type: ignore[arg-type]
    assert [u.lock for u in units(Source.INVENTORY, targets)] == [
        "unit:inventory:1:a", "unit:inventory:1:b", "unit:inventory:2:a"]
    assert [u.region for u in units(Source.COST, targets)] == [GLOBAL_REGION, GLOBAL_REGION]


@pytest.mark.parametrize(("seconds", "cron"), [
    (1, "* * * * * */1"), (5, "* * * * * */5"), (45, "* * * * * */30"), (60, "*/1 * * * *"),
    (300, "*/5 * * * *"), (3600, "0 */1 * * *"), (4 * 3600, "0 */4 * * *"),
    (86400, "0 0 * * *"),
])
def test_intervals_become_cron_lines_every_worker_agrees_on(seconds: float, cron: str) -> None:
    assert cron_every(seconds) == cron


def test_metrics_count_jobs_queued_running_and_failed(jobs: Jobs, pg_url: str,
                                                      tmp_path: Path) -> None:
    jobs.plan(timestamp=0, source="inventory")
    with Store.open(pg_url) as store:
        with store.engine.begin() as connection:
            connection.execute(sa.text(
                "UPDATE procrastinate_jobs SET status = 'failed' WHERE id = "
                "(SELECT min(id) FROM procrastinate_jobs)"))
        (family,) = job_families(store)
    samples = {(s.labels["task"], s.labels["state"]): s.value for s in family.samples}
    assert samples == {("costguard.collect", "queued"): len(REGIONS) - 1,
                       ("costguard.collect", "running"): 0,
                       ("costguard.collect", "failed"): 1}
    with Store.open(f"sqlite:///{tmp_path}/cg.db") as store:
        assert list(job_families(store)) == []  # no job queue on SQLite


def test_a_worker_tells_systemd_it_is_ready_alive_and_stopping(tmp_path, pg_url, smtp, workers,
                                                               monkeypatch):
    """Type=notify and the watchdog behave as with the embedded engine; SIGTERM lets the
    running job finish, unregisters the worker from the queue and exits 0."""
    name = f"costguard-test-{os.getpid()}-{time.monotonic_ns()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(0.05)
    monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
    monkeypatch.setenv("WATCHDOG_USEC", "1000000")
    config = write_config(tmp_path, pg_url, smtp[1])
    Store.open(pg_url).close()
    worker = workers(config, "notified")
    wait_until(lambda: bool(worker.collected()), 60, "a unit collected", worker.text)

    worker.process.send_signal(signal.SIGTERM)

    assert worker.process.wait(timeout=20) == 0
    received = []
    while True:
        try:
            received.append(sock.recv(4096).decode())
        except TimeoutError:
            break
    sock.close()
    assert received[0] == "READY=1" and received[-1] == "STOPPING=1"
    assert "WATCHDOG=1" in received
    assert "Traceback" not in worker.text()
    assert re.search(r"stopped after [1-9]\d* cycles", worker.text())
    with Store.open(pg_url) as store, store.engine.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM procrastinate_workers")
                                  ).scalar() == 0
