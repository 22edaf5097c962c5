"""Whole cycles of the engine (runtime/cycle.py) on moto, a SQLite store and a real SMTP server.

What moto lacks: root-user state. Its credential report has no `<root_account>` row and its
GetAccountSummary always reports no root key and no MFA, so the root key is set through
`costguard.demo.moto_root.patch_root` (which patches moto's IAM backend to report a RootState).
A region's failure is injected as AWS answers it (UnauthorizedOperation, as a service control
policy denying the region gives) by a botocore `before-call` hook on the engine's session.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from moto import mock_aws
from moto.core.models import DEFAULT_ACCOUNT_ID

from costguard.alerts.routing import Notifier
from costguard.collectors.session import Aws
from costguard.demo.inbox import Inbox
from costguard.demo.moto_root import RootState, patch_root
from costguard.model import Severity, Source, Status, root_arn
from costguard.runtime.bootstrap import Setup, load_setup
from costguard.runtime.cycle import Engine
from costguard.store import IncidentStatus, NotificationStatus, Store

ACCOUNT = DEFAULT_ACCOUNT_ID
ROOT = root_arn(ACCOUNT)
EAST, WEST = "us-east-1", "us-west-2"
AMI = "ami-12345678"
CHANNELS = ("security", "oncall")


class Clock:
    """The engine's clock: real time (moto stamps launches with it) plus what a test skips."""

    def __init__(self) -> None:
        self.skipped = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(timezone.utc) + self.skipped

    def advance(self, **delta: float) -> None:
        """Jump forward, e.g. past the outbox's back-off."""
        self.skipped += timedelta(**delta)


@dataclass
class Attack:
    """What a leaked key was used for in one region."""

    region: str
    instances: list[str]
    group: str

    def arns(self) -> set[str]:
        """The instances' resource names as findings carry them."""
        return {f"arn:aws:ec2:{self.region}:{ACCOUNT}:instance/{i}" for i in self.instances}


class Account:
    """The moto account: the attacker's moves and the responder's fixes."""

    def __init__(self, root: RootState) -> None:
        self.root = root

    def attack(self, region: str = EAST, count: int = 10) -> Attack:
        """A group open to SSH from anywhere and `count` c5.4xlarge in it; a root key if east."""
        ec2 = boto3.client("ec2", region_name=region)
        group = ec2.create_security_group(GroupName="launch-wizard-7", Description="x")["GroupId"]
        ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[SSH_FROM_ANYWHERE])
        answer = ec2.run_instances(ImageId=AMI, MinCount=count, MaxCount=count,
                                   InstanceType="c5.4xlarge", SecurityGroupIds=[group])
        if region == EAST:
            self.root.key_active = (True, None)
        return Attack(region, [i["InstanceId"] for i in answer["Instances"]], group)

    def fix(self, attack: Attack) -> None:
        """What the alert's playbook says: terminate, revoke, delete the root key."""
        ec2 = boto3.client("ec2", region_name=attack.region)
        ec2.terminate_instances(InstanceIds=attack.instances)
        ec2.revoke_security_group_ingress(GroupId=attack.group, IpPermissions=[SSH_FROM_ANYWHERE])
        if attack.region == EAST:
            self.root.key_active = (None, None)


SSH_FROM_ANYWHERE = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
                     "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}


@pytest.fixture
def account() -> Iterator[Account]:
    """A clean moto account: no findings (root has MFA and no key, nothing runs)."""
    with mock_aws(), patch_root(RootState(mfa=True)) as root:
        # Generated ahead, so the first cycle never waits on moto's "STARTED" answer.
        boto3.client("iam").generate_credential_report()
        yield Account(root)


@pytest.fixture
def inbox(tmp_path: Path) -> Iterator[Inbox]:
    """A real SMTP server on 127.0.0.1 keeping every message it accepts."""
    with Inbox(tmp_path / "inbox") as server:
        yield server


POLICIES = """\
# The checks this module is about, fixed here so that checks added to the shipped policies
# (tested through the demo) cannot change what these cycles find.
policies:
  - {name: root-access-key, check: root_access_key, severity: critical}
  - {name: root-mfa, check: root_mfa, severity: critical}
  - name: unapproved-instance-types
    check: instance_types
    severity: high
    params: {allowed: ["t3.*", "m6i.large"]}
  - {name: open-admin-ports, check: open_admin_ports, severity: high, params: {ports: [22]}}
  - {name: hourly-spend, check: hourly_spend, severity: critical,
     params: {max_usd_per_hour: 5.0}}
"""


def write_setup(tmp_path: Path, port: int, regions=(EAST,), channels=CHANNELS) -> Setup:
    """costguard.yml with POLICIES and one SMTP notifier per channel name."""
    (tmp_path / "policies.yml").write_text(POLICIES)
    lines = [f"aws: {{regions: [{', '.join(regions)}]}}",
             f"database: {{url: 'sqlite:///{tmp_path}/costguard.db'}}",
             "policies: [policies.yml]", "notifiers:"]
    lines += [f"  {name}: {{type: smtp, host: 127.0.0.1, port: {port}, security: none, "
              f"from: costguard@test.invalid, to: [{name}@test.invalid]}}" for name in channels]
    path = tmp_path / "costguard.yml"
    path.write_text("\n".join(lines) + "\n")
    return load_setup(path)


@pytest.fixture
def clock() -> Clock:
    """The clock every engine of the test shares, so a restart keeps the time a test set."""
    return Clock()


@pytest.fixture
def make_engine(clock: Clock) -> Iterator[Callable[..., Engine]]:
    """Builds engines on a setup's store, each with its own Store (a restart, when a test makes
    a second one on the same file); their stores are closed after the test."""
    made: list[Engine] = []

    def make(setup: Setup, **kwargs: Any) -> Engine:
        store = Store.open(setup.config.database_url)
        made.append(Engine(setup.config, setup.policies, store, clock=clock, **kwargs))
        return made[-1]

    yield make
    for engine in made:
        engine.store.close()


def received(inbox: Inbox) -> list[EmailMessage]:
    """Every email the server accepted, oldest first."""
    return [message for _, _, message in inbox.messages()]


def subject(message: EmailMessage) -> str:
    """The Subject as a mail client shows it. Python folds a subject that fits a line of its own
    onto the next line ("Subject:" CRLF SP text); unfolding keeps that space, clients trim it."""
    return str(message["Subject"]).strip()


def text_of(message: EmailMessage) -> str:
    """The text/plain part, as a mail client shows it."""
    return message.get_body(("plain",)).get_content()


# -- a clean account, an attack, the fix -------------------------------------------------------


def test_a_clean_account_gives_no_findings_and_sends_nothing(account, inbox, tmp_path,
                                                             make_engine):
    engine = make_engine(write_setup(tmp_path, inbox.port))
    result = engine.run_cycle()
    assert result.evaluation.findings == []
    assert result.incidents == []
    assert result.enqueued == 0
    assert engine.store.notifications() == []
    assert result.scan.complete is True
    assert (result.scan.accounts, result.scan.regions) == ((ACCOUNT,), (EAST,))
    assert result.scan.errors == ()
    assert result.scan.api_calls > 0
    assert inbox.handler.received == []


def test_an_attack_is_one_incident_one_email_per_channel_and_one_resolution(
    account, inbox, tmp_path, make_engine
):
    engine = make_engine(write_setup(tmp_path, inbox.port))
    engine.run_cycle()
    attack = account.attack()

    detected = engine.run_cycle()

    found = {(f.check, f.resource) for f in detected.evaluation.findings}
    assert found == {
        *(("instance_types", arn) for arn in attack.arns()),
        ("open_admin_ports", attack.group),
        ("root_access_key", ROOT),
        ("hourly_spend", f"arn:aws:ec2:{EAST}:{ACCOUNT}:burn-rate"),
    }
    (incident,) = detected.incidents
    assert [i.id for i in engine.store.open_incidents()] == [incident.id]
    assert incident.severity is Severity.CRITICAL
    assert sorted(incident.finding_ids) == sorted(f.id for f in detected.reconciled.new)
    assert len(incident.finding_ids) == 13
    assert detected.enqueued == 2
    assert inbox.wait_for(2)
    alerts = received(inbox)
    assert sorted(str(m["To"]) for m in alerts) == ["oncall@test.invalid",
                                                    "security@test.invalid"]
    for message in alerts:
        assert subject(message).startswith("[costguard] CRITICAL: ")
        assert message.is_multipart()
        text = text_of(message)
        assert all(instance in text for instance in attack.instances)
        assert ROOT in text
    sent = engine.store.notifications()
    assert [(n.channel, n.status) for n in sent] == [
        ("security", NotificationStatus.SENT), ("oncall", NotificationStatus.SENT)]
    assert engine.store.get_incident(incident.id).notified_at is not None

    again = engine.run_cycle()
    assert (again.reconciled.new, again.enqueued, again.delivery.sent) == ([], 0, 0)
    assert len(again.evaluation.findings) == 13
    assert len(inbox.handler.received) == 2

    account.fix(attack)
    fixed = engine.run_cycle()

    assert sorted(f.id for f in fixed.reconciled.resolved) == sorted(incident.finding_ids)
    assert engine.store.list_findings(statuses=[Status.OPEN, Status.ACKNOWLEDGED]) == []
    closed = engine.store.get_incident(incident.id)
    assert closed.status is IncidentStatus.RESOLVED
    assert closed.resolved_at is not None
    assert fixed.enqueued == 2
    assert inbox.wait_for(4)
    first_ids = {str(m["To"]): m["Message-ID"] for m in alerts}
    resolutions = received(inbox)[2:]
    for message in resolutions:
        assert subject(message).startswith("[costguard] RESOLVED: ")
        assert message["In-Reply-To"] == first_ids[str(message["To"])]
        assert message["References"] == first_ids[str(message["To"])]

    quiet = engine.run_cycle()
    assert (quiet.enqueued, quiet.reconciled.resolved, quiet.incidents) == (0, [], [])
    assert len(inbox.handler.received) == 4


def test_a_worse_finding_joining_an_announced_incident_escalates_it_in_the_same_thread(
    account, inbox, tmp_path, clock, make_engine
):
    engine = make_engine(write_setup(tmp_path, inbox.port, channels=("security",)))
    ec2 = boto3.client("ec2", region_name=EAST)
    group = ec2.create_security_group(GroupName="wizard", Description="x")["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[SSH_FROM_ANYWHERE])
    (incident,) = engine.run_cycle().incidents
    assert incident.severity is Severity.HIGH
    assert inbox.wait_for(1)

    account.root.key_active = (True, None)  # minutes later, in the same account
    clock.advance(minutes=5)
    worse = engine.run_cycle()

    assert [i.id for i in worse.incidents] == [incident.id]  # joined, not a second incident
    assert engine.store.get_incident(incident.id).severity is Severity.CRITICAL
    assert worse.enqueued == 1
    assert inbox.wait_for(2)
    first, escalation = received(inbox)
    assert subject(first).startswith("[costguard] HIGH: ")
    assert subject(escalation).startswith("[costguard] ESCALATED to CRITICAL: ")
    assert escalation["In-Reply-To"] == first["Message-ID"]
    text = text_of(escalation)
    assert ROOT in text
    # it leads with what changed since the HIGH alert: the root finding, not the open group
    lines = text.splitlines()
    start = lines.index("NEW SINCE THE LAST MESSAGE")
    new = "\n".join(lines[start:lines.index("", start)])
    assert "Findings:" in new and "root" in new.lower() and group not in new
    assert text.index("NEW SINCE THE LAST MESSAGE") < text.index(group)


def test_a_cycle_of_one_source_leaves_other_sources_findings_alone(account, inbox, tmp_path,
                                                                   make_engine):
    engine = make_engine(write_setup(tmp_path, inbox.port))
    attack = account.attack(count=2)
    first = engine.run_cycle()
    # two c5.4xlarge ($1.36/h) stay under the spend limit: four findings, no spike
    assert len(first.evaluation.findings) == 4
    account.fix(attack)  # the instances are gone, but only IAM is polled next

    iam_only = engine.run_cycle({Source.CREDENTIAL_REPORT})

    assert {f.check for f in iam_only.reconciled.resolved} == {"root_access_key"}
    still_open = engine.store.list_findings(statuses=[Status.OPEN])
    assert sorted(f.check for f in still_open) == ["instance_types", "instance_types",
                                                   "open_admin_ports"]
    assert iam_only.scan.regions == (EAST,)
    assert iam_only.scan.complete


def test_a_source_no_policy_reads_is_not_collected(account, inbox, tmp_path, make_engine):
    engine = make_engine(write_setup(tmp_path, inbox.port))
    result = engine.run_cycle({Source.CLOUDTRAIL})
    assert result.scan.api_calls == 1  # sts:GetCallerIdentity, to know the account
    assert result.gathered.attempted == set()
    assert result.evaluation.findings == []


# -- an incomplete scan ------------------------------------------------------------------------


class RegionOutage:
    """A before-call hook answering EC2 calls in one region, while on, as AWS does when an SCP
    denies the region. Registered before the engine makes its clients, which copy the session's
    handlers when they are created."""

    def __init__(self, region: str) -> None:
        self.region = region
        self.on = False

    def __call__(self, context: dict[str, Any], **_: Any) -> Any:
        if not self.on or context.get("client_region") != self.region:
            return None
        error = {"Code": "UnauthorizedOperation",
                 "Message": "You are not authorized to perform this operation."}
        body = {"Error": error, "ResponseMetadata": {"HTTPStatusCode": 403}}
        return AWSResponse("https://ec2.invalid/", 403, {}, None), body


@pytest.mark.parametrize("restart", [False, True], ids=["same-engine", "restarted"])
def test_an_incomplete_scan_resolves_only_what_it_saw_fixed(account, inbox, tmp_path, make_engine,
                                                             restart):
    """A restarted engine has no cached inventory: only the scope rule keeps west open."""
    setup = write_setup(tmp_path, inbox.port, regions=(EAST, WEST))
    session = boto3.Session(region_name=EAST)
    outage = RegionOutage(WEST)
    session.events.register("before-call.ec2.DescribeInstances", outage)
    engine = make_engine(setup, aws=Aws(session))
    east, west = account.attack(EAST, count=1), account.attack(WEST, count=1)
    engine.run_cycle()
    assert {f.region for f in engine.store.list_findings(statuses=[Status.OPEN])} == {
        EAST, WEST, "global"}
    account.fix(east)
    account.fix(west)
    outage.on = True
    if restart:
        engine = make_engine(setup, aws=Aws(session))

    partial = engine.run_cycle()

    assert partial.scan.complete is False
    (error,) = partial.scan.errors
    assert error.startswith(f"inventory {ACCOUNT}/{WEST}: ")
    assert "UnauthorizedOperation" in error
    assert {(f.check, f.region) for f in partial.reconciled.resolved} == {
        ("instance_types", EAST), ("open_admin_ports", EAST), ("root_access_key", "global")}
    still_open = engine.store.list_findings(statuses=[Status.OPEN])
    assert {(f.check, f.resource) for f in still_open} == {
        ("instance_types", next(iter(west.arns()))), ("open_admin_ports", west.group)}
    (incident,) = engine.store.open_incidents()

    outage.on = False
    healed = engine.run_cycle()

    assert healed.scan.complete is True
    assert {(f.check, f.region) for f in healed.reconciled.resolved} == {
        ("instance_types", WEST), ("open_admin_ports", WEST)}
    assert engine.store.get_incident(incident.id).status is IncidentStatus.RESOLVED


# -- the outbox, end to end --------------------------------------------------------------------


def free_port() -> int:
    """A port nothing listens on (until a test starts a server there)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_message_waits_in_the_outbox_until_the_server_is_back(account, tmp_path, clock,
                                                                make_engine):
    port = free_port()
    engine = make_engine(write_setup(tmp_path, port, channels=("security",)))
    account.attack(count=1)

    down = engine.run_cycle()

    assert (down.enqueued, down.delivery.sent, down.delivery.failed) == (1, 0, 1)
    (row,) = engine.store.notifications()
    assert row.status is NotificationStatus.PENDING
    assert row.attempts == 1
    assert f"smtp 127.0.0.1:{port}: " in row.last_error
    assert row.next_attempt_at == row.last_attempt_at + timedelta(seconds=30)
    (incident,) = engine.store.open_incidents()
    assert incident.notified_at is None

    with Inbox(tmp_path / "inbox", port=port) as inbox:
        clock.advance(seconds=10)
        assert engine.deliver().sent == 0  # still backing off
        clock.advance(seconds=21)
        report = engine.deliver()
        assert report.sent == 1
        assert inbox.wait_for(1)
        clock.advance(hours=1)
        assert engine.deliver().sent == 0
        assert len(inbox.handler.received) == 1
    (row,) = engine.store.notifications()
    assert (row.status, row.attempts) == (NotificationStatus.SENT, 2)
    assert row.sent_at == report.delivered[0].sent_at
    # alert-to-fix counts from the first delivered message, whenever that went out
    assert engine.store.get_incident(incident.id).notified_at == row.sent_at


class Crash(BaseException):
    """The process dying: not an Exception, so nothing on the way catches it."""


def test_a_crash_between_storing_and_sending_delivers_once_after_restart(
    account, inbox, tmp_path, make_engine, monkeypatch
):
    setup = write_setup(tmp_path, inbox.port, channels=("security",))
    engine = make_engine(setup)
    account.attack(count=1)

    def crash(*_: Any, **__: Any) -> None:
        raise Crash()

    with monkeypatch.context() as patched:
        patched.setattr(Notifier, "deliver", crash)
        with pytest.raises(Crash):
            engine.run_cycle()
    (row,) = engine.store.notifications()
    assert (row.status, row.attempts) == (NotificationStatus.PENDING, 0)
    assert inbox.handler.received == []

    for _ in range(3):  # three restarts, each delivering what is due
        restarted = make_engine(setup)
        restarted.deliver()
    assert inbox.wait_for(1)
    assert len(inbox.handler.received) == 1
    (row,) = restarted.store.notifications()
    assert (row.status, row.attempts) == (NotificationStatus.SENT, 1)
    # the next cycle of a restarted engine does not announce the incident again
    assert restarted.run_cycle().enqueued == 0
    assert len(inbox.handler.received) == 1


# -- one unit of work per cycle ----------------------------------------------------------------

CONCLUDED = ("findings", "finding_transitions", "incidents", "scans", "burn_samples", "events")
"""Tables only a cycle's conclusion writes (delivery stamps incidents' notified_at, after it)."""


def test_a_cycles_conclusion_commits_in_one_transaction(account, inbox, tmp_path, make_engine,
                                                         ledger):
    engine = make_engine(write_setup(tmp_path, inbox.port))
    engine.run_cycle()
    account.attack()

    with ledger(engine.store) as seen:
        detected = engine.run_cycle()

    assert (len(detected.reconciled.new), detected.enqueued) == (13, 2)
    unit = next(t for t in seen.transactions if t.wrote(*CONCLUDED))
    assert unit.writer
    assert {("INSERT", "findings"), ("INSERT", "incidents"), ("INSERT", "notifications"),
            ("INSERT", "scans"), ("UPDATE", "scans")} <= set(unit.writes)
    at = seen.transactions.index(unit)
    before, after = seen.transactions[:at], seen.transactions[at + 1:]
    # before: Cost Explorer's own bookkeeping (phase two); after: delivery, one row at a time,
    # then one small unit stamping the incident's notified_at
    assert {table for t in before for _, table in t.writes} <= {"state", "cost_points"}
    assert {w for t in after for w in t.writes} <= {
        ("UPDATE", "notifications"), ("INSERT", "notification_attempts"),
        ("UPDATE", "incidents")}
    [stamped] = [t for t in after if t.wrote("incidents")]
    assert {("UPDATE", "notifications"), ("INSERT", "notification_attempts"),
            ("UPDATE", "incidents")} == set(stamped.writes)


def test_the_store_is_opened_once_per_cycle_however_many_findings(account, inbox, tmp_path,
                                                                   make_engine, ledger):
    engine = make_engine(write_setup(tmp_path, inbox.port))
    account.attack(count=1)
    seen_per_cycle = []
    for more in (0, 30):
        if more:
            boto3.client("ec2", region_name=EAST).run_instances(
                ImageId=AMI, MinCount=more, MaxCount=more, InstanceType="c5.4xlarge")
        with ledger(engine.store) as seen:
            result = engine.run_cycle({Source.INVENTORY}, notify=False)
        seen_per_cycle.append((len(result.reconciled.new), len(seen)))

    assert seen_per_cycle == [(2, 1), (31, 1)]


def test_the_keeper_reads_an_incidents_findings_once_when_resolving_it(account, inbox, tmp_path,
                                                                       make_engine, ledger):
    engine = make_engine(write_setup(tmp_path, inbox.port))
    attack = account.attack()
    engine.run_cycle()
    account.fix(attack)

    with ledger(engine.store) as seen:  # the sources the fix shows in: no Cost Explorer
        fixed = engine.run_cycle({Source.INVENTORY, Source.CREDENTIAL_REPORT}, notify=False)

    assert len(fixed.reconciled.resolved) == 13
    (unit,) = seen.writing(*CONCLUDED)
    whole_rows = [s for s in unit.reads if "findings.fingerprint" in s]
    # the reconcile's (active findings, then any seen again) and the keeper's (the incident's)
    assert len(whole_rows) <= 3
    assert len(seen) == 1


def test_a_failure_while_concluding_leaves_the_store_as_it_was(account, inbox, tmp_path,
                                                                make_engine, monkeypatch):
    from costguard.incidents.announcer import Announcer

    engine = make_engine(write_setup(tmp_path, inbox.port))
    account.attack(count=1)

    def fail(_self: Any) -> int:
        raise RuntimeError("the templates are broken")

    with monkeypatch.context() as patched:
        patched.setattr(Announcer, "announce", fail)
        with pytest.raises(RuntimeError):
            engine.run_cycle()
    assert (engine.store.list_findings(), engine.store.list_incidents()) == ([], [])
    assert (engine.store.last_scans(5), engine.store.notifications()) == ([], [])

    again = engine.run_cycle()
    assert (len(again.reconciled.new), len(again.incidents), again.enqueued) == (3, 1, 2)
