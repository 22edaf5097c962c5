"""An SMTP server that refuses for 10 minutes, then accepts: every failed send is in the log,
the metrics, /healthz and `outbox list` while it lasts, and the alert is delivered exactly once.

A whole cycle on moto (two unapproved instances) with a simulated clock, a SQLite store and a
real SMTP server (aiosmtpd) whose DATA answer the test switches from 451 to 250.
"""

from __future__ import annotations

import json
import logging
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner
from moto import mock_aws

from costguard.cli.main import main
from costguard.runtime.bootstrap import load_setup, open_store
from costguard.runtime.cycle import Engine
from costguard.runtime.metrics import serve

from .smtp_server import Mailbox, smtp_server

REGION = "us-east-1"
POLICIES = """\
policies:
  - name: unapproved-instance-types
    check: instance_types
    severity: high
    params: {allowed: ["t3.*"]}
"""



class Switchable(Mailbox):
    """Refuses (451) until told otherwise."""

    def __init__(self) -> None:
        super().__init__(refusing=True)


@pytest.fixture
def smtp() -> Iterator[tuple[Switchable, int]]:
    handler = Switchable()
    with smtp_server(handler) as port:
        yield handler, port


class Clock:
    """Real time when the test starts (moto stamps launches with it), then moved by hand."""

    def __init__(self) -> None:
        self.now = datetime.now(timezone.utc)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def engine(tmp_path: Path, smtp) -> Iterator[Engine]:
    (tmp_path / "policies.yml").write_text(POLICIES)
    config = tmp_path / "costguard.yml"
    config.write_text(
        f"aws: {{regions: [{REGION}]}}\n"
        f"database: {{url: 'sqlite:///{tmp_path}/cg.db'}}\n"
        "policies: [policies.yml]\n"
        "incidents: {target_minutes: 600}\n"
        "notifiers:\n"
        f"  security: {{type: smtp, host: 127.0.0.1, port: {smtp[1]}, security: none,\n"
        "             from: costguard@test.invalid, to: [secops@test.invalid]}\n")
    setup = load_setup(config)
    store = open_store(setup.config)
    with mock_aws():
        boto3.client("ec2", region_name=REGION).run_instances(
            ImageId="ami-12345678", MinCount=2, MaxCount=2, InstanceType="c5.4xlarge")
        yield Engine(setup.config, setup.policies, store, clock=Clock(),
                     registry=setup.registry)
    store.close()


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def metric(text: str, name: str) -> float:
    [value] = re.findall(rf'^{name}{{channel="security"}} (\S+)$', text, re.MULTILINE)
    return float(value)


def outbox_rows(engine: Engine) -> list[list[str]]:
    config = str(engine.config.path)
    result = CliRunner().invoke(main, ["outbox", "list", "-c", config], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    return [line.split() for line in result.stdout.splitlines()[1:]]


def sends(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "costguard.notifiers.delivery"]


def test_ten_minutes_of_refusal_are_in_plain_sight_then_one_delivery(engine, smtp, caplog):
    handler, port = smtp
    caplog.set_level(logging.INFO, logger="costguard.notifiers.delivery")
    clock, start = engine.clock, engine.clock()
    server = serve(engine, "127.0.0.1:0")
    url = f"http://127.0.0.1:{server.server_port}"
    try:
        engine.run_cycle()  # detects, queues, and the first send is refused
        for minute in range(1, 11):
            clock.now = start + timedelta(minutes=minute)
            engine.deliver()
        during = (get(f"{url}/metrics")[1], get(f"{url}/healthz"), outbox_rows(engine))
        handler.refusing = False
        while not handler.received and clock.now < start + timedelta(hours=1):
            clock.now += timedelta(minutes=1)
            engine.deliver()
        engine.run_cycle(notify=False)  # the sources are current again
        after = (get(f"{url}/metrics")[1], get(f"{url}/healthz"), outbox_rows(engine))
    finally:
        server.shutdown()

    refused = f"DeliveryError: smtp 127.0.0.1:{port}: 451 4.3.0 mail system busy, try later"
    lines = sends(caplog)
    key = lines[0].split("key=")[1].split(":")[0]
    # back-off from 30 s, doubling: tried at 0, 1, 2, 4 and 8 minutes, each time saying when next
    assert lines[:5] == [
        f"notification 1 via security key={key}: failed: {refused}; next attempt "
        f"{(start + timedelta(minutes=at)).isoformat()}" for at in (0.5, 2, 4, 8, 16)]
    metrics, (status, body), rows = during
    assert (metric(metrics, "costguard_notification_failures_total"),
            metric(metrics, "costguard_notifications_sent_total"),
            metric(metrics, "costguard_outbox_backlog"),
            metric(metrics, "costguard_notifications_dead")) == (5, 0, 1, 0)
    assert status == 503
    # ten minutes without a cycle: the inventory is stale too (its interval is one minute)
    assert [x for x in json.loads(body)["failing"] if ": stale, " not in x] == [
        f"notifier security: the last 3 sends failed: {refused}"]
    [row] = rows
    assert row[:6] == ["1", "security", key, "new", "failing", "5"]
    assert " ".join(row[6:]) == f"{refused} {(start + timedelta(minutes=16)):%Y-%m-%d %H:%M:%S} UTC"

    assert len(handler.received) == 1  # delivered, exactly once
    assert lines[5:] == [f"notification 1 via security key={key}: sent, external id "
                         f"{handler.message_ids()[0]}"]
    metrics, (status, body), rows = after
    assert (metric(metrics, "costguard_notifications_sent_total"),
            metric(metrics, "costguard_outbox_backlog")) == (1, 0)
    assert (status, json.loads(body)) == (200, {"status": "ok", "failing": []})
    assert [r[:6] for r in rows] == [["1", "security", key, "new", "sent", "6"]]
    assert clock.now == start + timedelta(minutes=16)


def test_an_outage_of_two_days_still_delivers_the_alert_once(engine, smtp):
    handler, _ = smtp
    clock, start = engine.clock, engine.clock()
    engine.run_cycle()
    while clock.now < start + timedelta(days=2):  # the daemon's delivery job, every 15 min
        clock.now += timedelta(minutes=15)
        engine.deliver()
    [row] = engine.store.notifications()
    assert (row.status.value, row.next_attempt_at - clock.now <= timedelta(hours=1)) == (
        "pending", True)  # still retrying, at most an hour apart
    assert row.attempts > 40
    handler.refusing = False
    clock.now += timedelta(hours=1)
    engine.deliver()
    clock.now += timedelta(hours=1)
    engine.deliver()
    assert len(handler.received) == 1
    [row] = engine.store.notifications()
    assert row.status.value == "sent"
    [incident] = engine.store.open_incidents()
    assert incident.notified_at == row.sent_at  # stamped with the send it records


class RefusesRecipient(Switchable):
    """aiosmtpd handler: every recipient refused for good (550)."""

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        return "550 5.1.1 no such mailbox"


def test_a_recipient_refused_for_good_is_dead_and_listed(tmp_path, engine, smtp):
    handler, _ = smtp
    handler.handle_RCPT = RefusesRecipient.handle_RCPT.__get__(handler)
    engine.run_cycle()
    [row] = engine.store.notifications()
    assert (row.status.value, row.attempts, row.next_attempt_at) == ("dead", 1, None)
    assert "550 5.1.1 no such mailbox" in (row.last_error or "")
    config = str(engine.config.path)
    listed = CliRunner().invoke(main, ["outbox", "list", "--dead", "-c", config])
    assert listed.exit_code == 0 and " dead " in listed.stdout, listed.stdout


def test_findings_that_join_while_the_alert_waits_are_in_it_and_need_no_update(engine, smtp):
    handler, _ = smtp
    clock = engine.clock
    engine.run_cycle()  # the alert is queued; the server refuses it
    ec2 = boto3.client("ec2", region_name=REGION)
    late = ec2.run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1,
                             InstanceType="c5.4xlarge")["Instances"][0]["InstanceId"]
    clock.now += timedelta(minutes=2)
    engine.run_cycle()  # the third instance joins the incident while its alert waits
    handler.refusing = False
    for _ in range(6):
        clock.now += timedelta(minutes=5)
        engine.run_cycle()
    assert len(handler.received) == 1  # one alert, no update: it was rendered when sent
    [row] = engine.store.notifications()
    assert late in row.message.text and row.message.kind.value == "new"
    assert len(row.message.fields["finding_ids"]) == 3
