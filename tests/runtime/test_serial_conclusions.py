"""Two procrastinate workers' engines concluding units of different accounts at the same time,
on one PostgreSQL store: the snapshot and the evaluation of both run concurrently (a barrier
before the evaluation holds each until the other got there too, which a lock taken at the
start of the unit would break), and still every message is queued and sent exactly once,
each account gets its own incident and the source health counts both.

In process: one Engine and Jobs per worker (each with its store's `serial_units` set, as the
daemon does), moto (mock_aws) with a second account reached through a role, a real SMTP server.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from costguard.runtime.bootstrap import load_setup
from costguard.runtime.cycle import Engine
from costguard.runtime.source_health import STATE_KEY
from costguard.runtime.tasks import Jobs
from costguard.runtime.worker import make_app
from costguard.store import Store

from .smtp_server import Mailbox, smtp_server

pytestmark = pytest.mark.postgres

OWN, OTHER = "123456789012", "210987654321"
REGIONS = ("us-east-1", "eu-west-1")
POLICIES = """\
policies:
  - {name: unapproved-instance-types, check: instance_types, severity: high,
     params: {allowed: ["t3.*"]}}
"""


def write_config(folder: Path, pg_url: str, smtp_port: int) -> Path:
    (folder / "policies.yml").write_text(POLICIES)
    path = folder / "costguard.yml"
    path.write_text(
        f"aws:\n  regions: [{', '.join(REGIONS)}]\n  accounts:\n    - {{id: '{OWN}'}}\n"
        f"    - {{id: '{OTHER}', role_arn: 'arn:aws:iam::{OTHER}:role/costguard-read'}}\n"
        f"database: {{url: '{pg_url}'}}\n"
        "metrics: {listen: null}\nruntime: {engine: procrastinate}\npolicies: [policies.yml]\n"
        "incidents: {update_settle: 1s}\n"  # updates are due soon: all can be sent
        "notifiers:\n"
        f"  security: {{type: smtp, host: 127.0.0.1, port: {smtp_port}, security: none,\n"
        "             from: costguard@test.invalid, to: [secops@test.invalid]}\n")
    return path


def seed() -> None:
    """One unapproved instance per region in each account."""
    creds = boto3.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{OTHER}:role/costguard-read", RoleSessionName="seed")["Credentials"]
    other = {"aws_access_key_id": creds["AccessKeyId"], "aws_session_token": creds["SessionToken"],
             "aws_secret_access_key": creds["SecretAccessKey"]}
    for region in REGIONS:
        for keys in ({}, other):
            boto3.client("ec2", region_name=region, **keys).run_instances(
                ImageId="ami-12345678", MinCount=1, MaxCount=1, InstanceType="c5.4xlarge")


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    inbox = Mailbox()
    with smtp_server(inbox) as port:
        yield inbox, port


@pytest.fixture
def two_workers(tmp_path: Path, pg_url: str, mailbox: tuple[Mailbox, int]) -> Iterator[list[Jobs]]:
    config = write_config(tmp_path, pg_url, mailbox[1])
    setup = load_setup(config)
    stores = [Store.open(pg_url), Store.open(pg_url)]
    apps = [make_app(pg_url), make_app(pg_url)]
    with mock_aws(), apps[0].open(), apps[1].open():
        seed()
        workers = []
        for store, app in zip(stores, apps, strict=True):
            store.serial_units = True  # what the daemon sets for the procrastinate engine
            engine = Engine(setup.config, setup.policies, store, registry=setup.registry)
            workers.append(Jobs(engine, app))
        yield workers
    for store in stores:
        store.close()


@pytest.fixture
def meet_while_evaluating(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Each concluding thread waits, before it evaluates, until the other one got there too:
    possible only when neither holds the lock through its snapshot and evaluation (with the
    lock taken when the unit begins, the barrier breaks). Returns the threads that met."""
    import costguard.runtime.conclude as conclude

    barrier, met = threading.Barrier(2, timeout=30), []
    evaluate = conclude.evaluate

    def meeting(*args: object, **kwargs: object) -> object:
        if threading.current_thread().name.startswith("conclude-"):
            barrier.wait()
            met.append(threading.current_thread().name)
        return evaluate(*args, **kwargs)

    monkeypatch.setattr(conclude, "evaluate", meeting)
    return met


def concurrently(*calls: Callable[[], object]) -> list[object]:
    results: list[object] = [None] * len(calls)
    errors: list[BaseException] = []

    def run(index: int, call: Callable[[], object]) -> None:
        try:
            results[index] = call()
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i, c), name=f"conclude-{i}")
               for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    return results


def test_two_workers_conclude_different_accounts_at_once_and_send_each_message_once(
        two_workers: list[Jobs], meet_while_evaluating: list[str],
        mailbox: tuple[Mailbox, int], pg_url: str) -> None:
    first, second = two_workers
    inbox, _ = mailbox
    for region in (*REGIONS, REGIONS[0]):  # the third round finds nothing new
        results = concurrently(lambda r=region: first.collect("inventory", OWN, r),
                               lambda r=region: second.collect("inventory", OTHER, r))
        assert all(result["complete"] for result in results)  # type: ignore[index]
        first.engine.deliver()
    time.sleep(1.5)  # the last updates' settle time
    first.engine.deliver()
    assert sorted(meet_while_evaluating) == ["conclude-0"] * 3 + ["conclude-1"] * 3

    with Store.open(pg_url) as store:
        rows = store.notifications()
        incidents = store.open_incidents()
        findings = store.list_findings()
        health = json.loads(store.get_state(STATE_KEY) or "{}")
    assert rows and all(row.status.value == "sent" for row in rows)
    assert len(inbox.received) == len(rows)
    assert len(set(inbox.message_ids())) == len(rows)
    assert len({(row.key, row.channel) for row in rows}) == len(rows)
    assert sorted(incident.accounts for incident in incidents) == [(OWN,), (OTHER,)]
    assert sorted((f.account, f.region) for f in findings) == sorted(
        (account, region) for account in (OWN, OTHER) for region in REGIONS)
    assert all(f.incident_id is not None for f in findings)
    counted = {key: entry["cycles"] for key, entry in health.items()}
    assert counted == {f"inventory|{OWN}|{REGIONS[0]}": 2, f"inventory|{OWN}|{REGIONS[1]}": 1,
                       f"inventory|{OTHER}|{REGIONS[0]}": 2, f"inventory|{OTHER}|{REGIONS[1]}": 1}
