"""One fault scenario: an attack, cycles under a fault and without, the fix, and the audit.

The cycles are the real cycle code (`Engine.run_cycle`: collect, conclude in one unit, deliver)
in a process of their own (forked by tests/faults/zygote.py), each on a clock moved forward by
`spacing` simulated seconds, reaching AWS through the fault proxy (AWS_ENDPOINT_URL) and mail
through a real SMTP server. After the runs the audit counts what the SMTP server got by Message-
ID, how many findings were resolved while their resources still existed, and checks every row.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

import boto3
import sqlalchemy as sa
from moto.core.models import DEFAULT_ACCOUNT_ID

from costguard.model import Status
from costguard.store import Store

ZYGOTE = Path(__file__).with_name("zygote.py")
REGIONS = ("us-east-1", "eu-west-1")
ATTACKED = "us-east-1"
EXPECTED_KINDS = ("new", "resolved")
EXPECTED_FINDINGS = 3
"""Two unapproved c5.4xlarge and one security group open to SSH: one incident."""

POLICIES = """\
policies:
  - name: unapproved-instance-types
    check: instance_types
    severity: high
    params: {allowed: ["t3.*"]}
  - name: open-admin-ports
    check: open_admin_ports
    severity: high
"""


def reset_moto(endpoint: str) -> None:
    """Empty moto_server: other scenarios' resources must not join this one's incident."""
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    urllib.request.urlopen(request, timeout=10).close()


MEMBER = "111111111111"
"""A second account, reached by assuming a role (moto_server keeps accounts apart by the
assumed credentials)."""


def write_config(folder: Path, url: str, smtp_port: int, *, member: bool = False,
                 aws: str = "", notifiers: str = "") -> Path:
    """The scenario's costguard.yml; `aws` adds keys to `aws:` ("read_timeout_s: 1"),
    `notifiers` adds channels (indented lines) beside the SMTP one."""
    (folder / "policies.yml").write_text(POLICIES)
    path = folder / "costguard.yml"
    accounts = (f", accounts: [{{id: '{DEFAULT_ACCOUNT_ID}'}}, {{id: '{MEMBER}', "
                f"role_arn: 'arn:aws:iam::{MEMBER}:role/costguard-read'}}]" if member else "")
    accounts += f", {aws}" if aws else ""
    path.write_text(
        f"aws: {{regions: [{', '.join(REGIONS)}]{accounts}}}\n"
        f"database: {{url: '{url}'}}\n"
        "policies: [policies.yml]\n"
        "incidents: {target_minutes: 6000}\n"  # no escalation between the scenario's cycles
        "notifiers:\n"
        f"  security: {{type: smtp, host: 127.0.0.1, port: {smtp_port}, security: none,\n"
        "             from: costguard@test.invalid, to: [secops@test.invalid]}\n" + notifiers)
    return path


@dataclass
class Attack:
    """What the attacker made, on moto_server directly (never through the proxy)."""

    endpoint: str
    instances: list[str] = field(default_factory=list)
    group: str = ""

    def launch(self) -> None:
        ec2 = boto3.client("ec2", region_name=ATTACKED, endpoint_url=self.endpoint)
        self.group = ec2.create_security_group(GroupName="open", Description="x")["GroupId"]
        ec2.authorize_security_group_ingress(GroupId=self.group, IpPermissions=[{
            "IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
            "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
        answer = ec2.run_instances(ImageId="ami-12345678", MinCount=2, MaxCount=2,
                                   InstanceType="c5.4xlarge", SecurityGroupIds=[self.group])
        self.instances = [i["InstanceId"] for i in answer["Instances"]]

    def fix(self) -> None:
        ec2 = boto3.client("ec2", region_name=ATTACKED, endpoint_url=self.endpoint)
        ec2.terminate_instances(InstanceIds=self.instances)
        ec2.revoke_security_group_ingress(GroupId=self.group, IpPermissions=[{
            "IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
            "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])


class Zygote:
    """tests/faults/zygote.py, started once: each run is a child forked from it."""

    def __init__(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen([sys.executable, str(ZYGOTE)], env=env, text=True,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def start(self, order: dict[str, object]) -> int:
        assert self.process.stdin and self.process.stdout
        self.process.stdin.write(json.dumps(order) + "\n")
        self.process.stdin.flush()
        while True:
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError("the zygote died")
            if line.startswith("pid "):
                return int(line.split()[1])

    def finish(self, pid: int) -> tuple[int, list[str]]:
        """The child's exit code and any error lines it printed."""
        assert self.process.stdout
        errors = []
        while True:
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError("the zygote died")
            words = line.split(" ", 2)
            if words[0] == "error" and int(words[1]) == pid:
                errors.append(words[2].strip())
            if words[0] == "done" and int(words[1]) == pid:
                return int(words[2]), errors

    def close(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        self.process.wait(timeout=30)


@dataclass
class Runs:
    """Cycles, each `spacing` simulated seconds after the one before; their exit codes and
    the error lines of those that raised."""

    config: Path
    zygote: Zygote
    spacing: float = 600.0
    codes: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def start(self, extra: dict[str, str] | None = None, kill_after_s: float | None = None
              ) -> int:
        order = {"config": str(self.config), "env": extra or {},
                 "offset_s": len(self.codes) * self.spacing}
        if kill_after_s is not None:
            order["kill_after_s"] = kill_after_s
        return self.zygote.start(order)

    def finish(self, pid: int) -> int:
        code, errors = self.zygote.finish(pid)
        self.codes.append(code)
        self.errors.extend(errors)
        return code

    def cycle(self, extra: dict[str, str] | None = None) -> int:
        return self.finish(self.start(extra))


@dataclass(frozen=True)
class Audit:
    """What one scenario delivered and left in the store."""

    expected: int
    delivered: int
    duplicated: int
    lost: int
    wrongly_resolved: int
    intact: bool
    findings: int
    open_findings: int


def emails_tally(emails: list[EmailMessage]) -> tuple[int, int, int]:
    """(delivered, duplicated, lost), counted by Message-ID and the message's kind."""
    ids = [str(e["Message-ID"]) for e in emails]
    kinds = {str(e["X-Costguard-Key"]).rsplit("-", 1)[-1] for e in emails}
    lost = len([k for k in EXPECTED_KINDS if k not in kinds])
    return len(set(ids)), len(ids) - len(set(ids)), lost


def resolved_count(url: str) -> int:
    """Findings resolved so far (before the fix, every one of them is resolved wrongly)."""
    with Store.open(url) as store:
        return len(store.list_findings([Status.RESOLVED]))


def rows_intact(url: str) -> bool:
    """SQLite's integrity and foreign-key checks, or on PostgreSQL every table readable and
    every finding's incident present; and the scenario's rows all there."""
    if url.startswith("sqlite"):
        path = sa.make_url(url).database
        with sqlite3.connect(path) as connection:
            ok = connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            ok = ok and not connection.execute("PRAGMA foreign_key_check").fetchall()
        if not ok:
            return False
    with Store.open(url) as store:
        findings = store.list_findings()
        incidents = {i.id for i in store.list_incidents()}
        sent = [n for n in store.notifications() if n.sent_at is not None]
    return (len(findings) == EXPECTED_FINDINGS and len(incidents) == 1
            and all(f.incident_id in incidents for f in findings)
            and len({n.key for n in sent}) == len(EXPECTED_KINDS))


def audit(url: str, emails: list[EmailMessage], wrongly_resolved: int) -> Audit:
    delivered, duplicated, lost = emails_tally(emails)
    with Store.open(url) as store:
        findings = store.list_findings()
    still_open = [f for f in findings if f.status != Status.RESOLVED]
    return Audit(len(EXPECTED_KINDS), delivered, duplicated, lost, wrongly_resolved,
                 rows_intact(url), len(findings), len(still_open))


def play(runs: Runs, attack: Attack, url: str, *, before_fix: list[Callable[[], int]],
         after_fix: list[Callable[[], int]], settle: int = 2) -> int:
    """The attack, the runs before the fix, the fix, the runs after it, then `settle` plain
    runs (ten simulated minutes apart: past any back-off) so everything due goes out.
    Returns how many findings were resolved before the fix (each one wrongly)."""
    attack.launch()
    for step in before_fix:
        step()
    wrongly = resolved_count(url)
    attack.fix()
    for step in after_fix:
        step()
    for _ in range(settle):
        runs.cycle()
    return wrongly
