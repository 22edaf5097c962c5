"""Kill a real cycle with SIGKILL at each commit point of a cycle and of delivery, restart it,
and count at the SMTP server (by Message-ID) what was expected, delivered and duplicated.

Each scenario: two unapproved c5.4xlarge in moto_server make one incident; a cycle in a
subprocess detects it and emails it (aiosmtpd); a third instance joins it (one update, sent
after the settle window); a cycle past `incidents.renotify` reminds; the instances are
terminated; a cycle resolves it and emails that. One crash point is armed in one of those
cycles (`COSTGUARD_CRASH_AT`), the killed cycle is restarted once, and the emails are counted.
The scenarios are data (`scenario.POINTS`); each writes its row into
docs/reliability-crash-points.md.
"""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from costguard.demo.inbox import Inbox
from costguard.store import Store
from costguard.store.crash_points import ENV
from tests.faults.harness import Zygote

from .scenario import (
    CYCLES,
    EXPECTED_KINDS,
    GROWTH,
    POINTS,
    RESOLUTION,
    Point,
    Runs,
    Tally,
    play,
    point_id,
    record,
)

REGION = "us-east-1"
POLICIES = """\
policies:
  - name: unapproved-instance-types
    check: instance_types
    severity: high
    params: {allowed: ["t3.*"]}
"""

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def zygote(moto_endpoint: str) -> Iterator[Zygote]:
    """One forking parent per test module: each cycle is its child (see scenario.Runs). Made
    before the per-test fixtures, so it gets the fake credentials of tests/conftest.py's
    `aws_env` itself, and nothing of the shell's AWS settings."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "COSTGUARD_")) and k != ENV}
    env.update(AWS_ENDPOINT_URL=moto_endpoint, AWS_ACCESS_KEY_ID="testing",
               AWS_SECRET_ACCESS_KEY="testing", AWS_SESSION_TOKEN="testing",
               AWS_DEFAULT_REGION=REGION, AWS_SHARED_CREDENTIALS_FILE="/nonexistent",
               AWS_CONFIG_FILE="/nonexistent", MOTO_EC2_LOAD_DEFAULT_AMIS="false")
    running = Zygote(env)
    yield running
    running.close()


@pytest.fixture
def endpoint(moto_endpoint: str) -> str:
    """moto_server, emptied: other scenarios' instances must not join this one's incident."""
    request = urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")
    urllib.request.urlopen(request, timeout=10).close()
    return moto_endpoint


@pytest.fixture
def inbox(tmp_path: Path) -> Iterator[Inbox]:
    with Inbox(tmp_path / "inbox") as server:
        yield server


@pytest.fixture(params=[
    pytest.param("SQLite"),
    pytest.param("PostgreSQL", marks=pytest.mark.postgres),
])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """(name, URL): a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "SQLite":
        return "SQLite", f"sqlite:///{tmp_path}/cg.db"
    return "PostgreSQL", request.getfixturevalue("pg_url")


def write_config(tmp_path: Path, url: str, smtp_port: int) -> Path:
    (tmp_path / "policies.yml").write_text(POLICIES)
    path = tmp_path / "costguard.yml"
    path.write_text(
        f"aws: {{regions: [{REGION}]}}\n"
        f"database: {{url: '{url}'}}\n"
        "policies: [policies.yml]\n"
        # no escalation between the scenario's cycles; a reminder 10 minutes after the alert
        "incidents: {target_minutes: 600, renotify: 10m}\n"
        "notifiers:\n"
        f"  security: {{type: smtp, host: 127.0.0.1, port: {smtp_port}, security: none,\n"
        "             from: costguard@test.invalid, to: [secops@test.invalid]}\n")
    return path


def attack(endpoint: str, count: int = 2) -> list[str]:
    ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=endpoint)
    answer = ec2.run_instances(ImageId="ami-12345678", MinCount=count, MaxCount=count,
                               InstanceType="c5.4xlarge")
    return [i["InstanceId"] for i in answer["Instances"]]


def queued_keys(url: str) -> set[str]:
    with Store.open(url) as store:
        return {n.key for n in store.notifications()}


def notified_stamped(url: str) -> bool:
    with Store.open(url) as store:
        incidents = store.list_incidents()
    return len(incidents) == 1 and incidents[0].notified_at is not None


@pytest.mark.parametrize("point", POINTS, ids=point_id)
def test_a_crash_at_each_point_loses_nothing(point: Point, database, endpoint, inbox, tmp_path,
                                             zygote):
    name, url = database
    config = write_config(tmp_path, url, inbox.port)
    runs = Runs(config, zygote)
    instances = attack(endpoint)
    ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=endpoint)

    play(point, runs, {
        GROWTH: lambda: instances.extend(attack(endpoint, 1)),
        RESOLUTION: lambda: ec2.terminate_instances(InstanceIds=instances),
    })
    tally = Tally.of([email for _, _, email in inbox.messages()], queued_keys(url),
                     notified_stamped(url))
    record(name, point, tally)

    assert runs.codes == [code for cycle in CYCLES for code in (
        [-9, 0] if point.name and point.cycle == cycle else [0])]
    assert tally.kinds == set(EXPECTED_KINDS)
    assert (tally.delivered, tally.lost) == (tally.expected, 0)
    assert tally.duplicated == point.duplicates
    assert tally.notified_stamped is point.stamps_notified
