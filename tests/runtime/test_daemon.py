"""`costguard run` (costguard/daemon.py): jobs per source, signals, reloads and sd_notify.

The signal tests run the daemon as its own process against moto_server (AWS_ENDPOINT_URL), with
a one-second inventory schedule, and read its log as an operator would. systemd is played by a
unix datagram socket the test binds (an abstract one, so the path length limit cannot bite).
"""

from __future__ import annotations

import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import boto3
import pytest

from costguard.runtime.bootstrap import load_setup
from costguard.runtime.daemon import DELIVERY_INTERVAL_S, Daemon
from costguard.store import Store

REGION = "us-east-1"
CYCLE = re.compile(r"costguard\.runtime\.cycle: cycle (\d+): ")
ONE_POLICY = """\
policies:
  - {name: unapproved-instance-types, check: instance_types, params: {allowed: ["t3.*"]}}
"""
TWO_POLICIES = ONE_POLICY + """\
  - {name: open-admin-ports, check: open_admin_ports}
"""
THREE_SOURCES = ONE_POLICY + """\
  - {name: root-mfa, check: root_mfa}
  - {name: hourly-spend, check: hourly_spend, params: {max_usd_per_hour: 5.0}}
"""


def write_config(folder: Path, policies: str = ONE_POLICY) -> Path:
    """costguard.yml with these policies and a one-second inventory poll."""
    (folder / "policies.yml").write_text(policies)
    path = folder / "costguard.yml"
    path.write_text(f"aws: {{regions: [{REGION}]}}\n"
                    f"database: {{url: 'sqlite:///{folder}/cg.db'}}\n"
                    "schedule: {inventory: 1s}\n"
                    "metrics: {listen: '127.0.0.1:0'}\n"  # any free port: tests run in parallel
                    "policies: [policies.yml]\n")
    return path


# -- jobs, in-process --------------------------------------------------------------------------


@pytest.fixture
def daemon_for(tmp_path: Path) -> Iterator[Callable[[Path], Daemon]]:
    """Builds a Daemon for a config (never started); closes its store afterwards."""
    made: list[Daemon] = []

    def build(config: Path) -> Daemon:
        setup = load_setup(config)
        made.append(Daemon(str(config), setup, store=Store.open(setup.config.database_url)))
        return made[-1]

    yield build
    for daemon in made:
        daemon.store.close()


def jobs(daemon: Daemon) -> dict[str, float]:
    """Job id -> interval in seconds, as scheduled (the weekly report's jobs are not intervals:
    see the test of the weekly report's schedule)."""
    return {j.id: j.trigger.interval.total_seconds() for j in daemon.scheduler.get_jobs()
            if hasattr(j.trigger, "interval")}


def test_one_job_per_needed_source_at_its_interval_plus_delivery(tmp_path, daemon_for):
    daemon = daemon_for(write_config(tmp_path, policies=THREE_SOURCES))
    daemon.schedule()
    assert jobs(daemon) == {
        "collect-inventory": 1.0,
        "collect-credential_report": 4 * 3600.0,
        "collect-cost": 6 * 3600.0,
        "deliver": DELIVERY_INTERVAL_S,
        "digests": 3600.0,  # the default routes send posture-only incidents in a daily digest
        "prune": 3600.0,
    }
    # each job is one cycle of its own source
    by_id = {j.id: j for j in daemon.scheduler.get_jobs()}
    assert [str(a) for a in by_id["collect-cost"].args] == ["cost"]
    # the weekly report: Monday 08:00 in schedule.timezone, and once at start to catch up
    assert str(by_id["weekly-report"].trigger) == (
        "cron[day_of_week='mon', hour='8', minute='0']")
    assert str(by_id["weekly-report"].trigger.timezone) == "UTC"
    assert "weekly-report-catch-up" in by_id


def test_with_an_organization_its_members_are_listed_again_every_hour(tmp_path, daemon_for):
    config = write_config(tmp_path)
    config.write_text(config.read_text().replace(
        f"aws: {{regions: [{REGION}]}}",
        f"aws: {{regions: [{REGION}], organization: {{role_name: costguard-read}}}}"))
    daemon = daemon_for(config)
    daemon.schedule()
    assert jobs(daemon)["accounts"] == 3600.0
    daemon.engine._targets = ["resolved before"]

    daemon._refresh_accounts()

    assert daemon.engine._targets is None  # the next cycle lists the members again


def test_a_reload_reschedules_for_the_new_policies(tmp_path, daemon_for):
    config = write_config(tmp_path, policies=ONE_POLICY)
    daemon = daemon_for(config)
    daemon.schedule()
    assert set(jobs(daemon)) == {"collect-inventory", "deliver", "digests", "prune"}

    write_config(tmp_path, policies=THREE_SOURCES)
    assert daemon.reload() is True

    assert set(jobs(daemon)) == {"collect-inventory", "collect-credential_report",
                                 "collect-cost", "deliver", "digests", "prune"}
    assert [p.name for p in daemon.engine.policies] == [
        "unapproved-instance-types", "root-mfa", "hourly-spend"]
    assert daemon.setup.policies == daemon.engine.policies


def test_a_bad_reload_keeps_the_running_config(tmp_path, daemon_for, caplog):
    config = write_config(tmp_path, policies=TWO_POLICIES)
    daemon = daemon_for(config)
    daemon.schedule()
    before = daemon.setup

    config.write_text(config.read_text() + "schedule_typo: 1\n")
    with caplog.at_level(logging.ERROR, logger="costguard.runtime.daemon"):
        assert daemon.reload() is False

    assert daemon.setup is before
    assert [p.name for p in daemon.engine.policies] == [
        "unapproved-instance-types", "open-admin-ports"]
    assert set(jobs(daemon)) == {"collect-inventory", "deliver", "digests", "prune"}
    assert f"reload refused: {config}:6:1: " in caplog.text
    assert "keeping the previous config and 2 policies" in caplog.text


# -- the process: signals and systemd ----------------------------------------------------------



@pytest.fixture
def endpoint(moto_endpoint: str) -> str:
    """The server holding exactly one unapproved instance to find.

    Emptied first: moto's state belongs to this whole process, so other tests' servers and
    mocks may have left resources in it.
    """
    urllib.request.urlopen(
        urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST"), timeout=10
    ).close()
    boto3.client("ec2", region_name=REGION, endpoint_url=moto_endpoint).run_instances(
        ImageId="ami-12345678", MinCount=1, MaxCount=1, InstanceType="c5.4xlarge")
    return moto_endpoint


@pytest.fixture
def systemd() -> Iterator[tuple[str, socket.socket]]:
    """A bound notify socket: NOTIFY_SOCKET's value and the socket to read states from."""
    name = f"costguard-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(0.05)
    yield "@" + name, sock
    sock.close()


class Running:
    """A daemon process and its log, read as it grows."""

    def __init__(self, process: subprocess.Popen[bytes], log: Path) -> None:
        self.process = process
        self.log = log

    def text(self) -> str:
        """Everything logged so far."""
        return self.log.read_text(errors="replace")

    def wait_for(self, found: Callable[[str], bool], timeout_s: float = 20.0) -> str:
        """The log once `found` holds for it; fails the test after the timeout."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            text = self.text()
            if found(text):
                return text
            if self.process.poll() is not None:
                pytest.fail(f"costguard exited with {self.process.returncode}:\n{text}")
            time.sleep(0.05)
        pytest.fail(f"timed out waiting; log so far:\n{self.text()}")

    def cycles(self) -> int:
        """How many cycle lines the log holds."""
        return len(CYCLE.findall(self.text()))


@pytest.fixture
def start(endpoint: str, tmp_path: Path) -> Iterator[Callable[..., Running]]:
    """Starts `costguard run -c CONFIG` against moto_server; kills it if a test left it up."""
    started: list[Running] = []

    def run(config: Path, notify_socket: str | None = None) -> Running:
        log = tmp_path / "costguard.log"
        env = {**os.environ, "AWS_ENDPOINT_URL": endpoint}
        if notify_socket:
            env["NOTIFY_SOCKET"] = notify_socket
        with log.open("wb") as sink:
            process = subprocess.Popen(
                [sys.executable, "-m", "costguard", "run", "-c", str(config)],
                env=env, stdout=sink, stderr=subprocess.STDOUT,
            )
        started.append(Running(process, log))
        return started[-1]

    yield run
    for running in started:
        if running.process.poll() is None:
            running.process.kill()
            running.process.wait(timeout=10)


def states(sock: socket.socket) -> list[str]:
    """Every datagram the daemon sent to the notify socket so far."""
    received = []
    while True:
        try:
            received.append(sock.recv(4096).decode())
        except TimeoutError:
            return received


def test_sigterm_stops_the_daemon_cleanly_and_tells_systemd(tmp_path, start, systemd):
    notify_socket, sock = systemd
    daemon = start(write_config(tmp_path), notify_socket)
    daemon.wait_for(lambda text: CYCLE.search(text) is not None)
    assert "1 findings (1 new, 0 resolved)" in daemon.text()  # the c5.4xlarge

    daemon.process.send_signal(signal.SIGTERM)

    assert daemon.process.wait(timeout=10) == 0
    log = daemon.text()
    assert "costguard.runtime.daemon: stopping" in log
    assert re.search(r"costguard\.runtime\.daemon: stopped after \d+ cycles", log)
    assert "Traceback" not in log
    assert states(sock) == ["READY=1", "STOPPING=1"]


def test_sighup_refuses_a_broken_config_then_takes_a_good_one(tmp_path, start, systemd):
    notify_socket, sock = systemd
    config = write_config(tmp_path)
    daemon = start(config, notify_socket)
    daemon.wait_for(lambda text: CYCLE.search(text) is not None)

    config.write_text("aws: {regions: us-east-1}\n")
    daemon.process.send_signal(signal.SIGHUP)
    daemon.wait_for(lambda text: "keeping the previous config and 1 policies" in text)
    assert f"reload refused: {config}:1:" in daemon.text()
    seen = daemon.cycles()
    daemon.wait_for(lambda _: daemon.cycles() > seen)  # still polling, with the old config

    write_config(tmp_path, policies=TWO_POLICIES)
    daemon.process.send_signal(signal.SIGHUP)
    daemon.wait_for(lambda text: "costguard.runtime.daemon: reloaded: 2 policies" in text)
    seen = daemon.cycles()
    daemon.wait_for(lambda _: daemon.cycles() > seen)

    daemon.process.send_signal(signal.SIGTERM)
    assert daemon.process.wait(timeout=10) == 0
    assert states(sock) == ["READY=1", "RELOADING=1", "READY=1", "RELOADING=1", "READY=1",
                            "STOPPING=1"]



def test_a_job_that_raises_is_counted_on_metrics(tmp_path, daemon_for, monkeypatch):
    """A cycle the store (or a bug) stopped is logged and also counted, so a dashboard shows
    it: the store-read metrics cannot, when the store is what failed."""
    from prometheus_client import CollectorRegistry, generate_latest

    from costguard.model import Source
    from costguard.runtime.metrics import StoreCollector

    daemon = daemon_for(write_config(tmp_path, policies=ONE_POLICY))

    def broken(*args, **kwargs):
        raise OSError("disk I/O error")

    monkeypatch.setattr(daemon.engine, "run_cycle", broken)
    daemon._cycle(Source.INVENTORY)
    daemon._cycle(Source.INVENTORY)

    registry = CollectorRegistry()
    registry.register(StoreCollector(daemon.engine))
    text = generate_latest(registry).decode()
    assert 'costguard_job_failures_total{job="cycle"} 2.0' in text


def test_a_cycle_the_store_refused_is_one_error_line_without_a_traceback(
        tmp_path, daemon_for, monkeypatch, caplog):
    """A store error already says what failed and what happens next (a lock held past the
    busy timeout, a full disk): one ERROR line per cycle, not a traceback each time."""
    from costguard.model import Source
    from costguard.store import StoreUnavailable

    daemon = daemon_for(write_config(tmp_path, policies=ONE_POLICY))
    reason = "the store sqlite:///x.db is locked by another process (database is locked)"

    def locked(*args, **kwargs):
        raise StoreUnavailable(reason)

    monkeypatch.setattr(daemon.engine, "run_cycle", locked)
    with caplog.at_level(logging.ERROR, logger="costguard.runtime.daemon"):
        daemon._cycle(Source.INVENTORY)

    failed = [r for r in caplog.records if r.name == "costguard.runtime.daemon"]
    assert [r.getMessage() for r in failed] == [f"cycle for inventory failed: {reason}"]
    assert failed[0].exc_info is None
    assert daemon.engine.job_failures["cycle"] == 1
