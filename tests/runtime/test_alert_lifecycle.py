# ruff: noqa: F811  (the fixtures of test_cycle, imported by name, are the tests' arguments)
"""Every change of an incident announced once, through whole cycles on moto and a real SMTP
server (aiosmtpd), with the clock injected: a second wave joins the incident as one UPDATE, a
burst within the settle window is one update, reminders of an unacknowledged incident, and the
fix is one RESOLVED. Messages are counted at the SMTP server.

What moto lacks is listed in `test_cycle` (root-user state is patched in). In the two-wave
attack, the root key's ImportKeyPair reaches the cycle as AWS delivers it: a CloudTrail record
put on moto's EventBridge bus, carried to the SQS queue by the rule `costguard setup events`
creates.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from email.message import EmailMessage

import boto3
from click.testing import CliRunner

from costguard.actions.event_pipeline import apply, plan
from costguard.cli.main import main
from costguard.demo.inbox import Inbox
from costguard.model import Source
from costguard.runtime.bootstrap import load_setup

from .test_cycle import (  # noqa: F401  (fixtures)
    AMI,
    EAST,
    SSH_FROM_ANYWHERE,
    WEST,
    Account,
    account,
    clock,
    inbox,
    make_engine,
    received,
    subject,
    text_of,
    write_setup,
)

ONE = ("security",)
PATIENT = "incidents: {target_minutes: 100000}\n"
"""No overdue escalation within these tests' hours: only reminders."""
INVENTORY = {Source.INVENTORY, Source.CREDENTIAL_REPORT}


def kinds(inbox: Inbox) -> list[str]:
    """Each email's kind, from its key, in the order the server got them."""
    return [str(m["X-Costguard-Key"]).split("-")[3] for m in received(inbox)]


def launch(region: str, count: int, itype: str = "p3.8xlarge") -> tuple[list[str], str]:
    """`count` instances in a new group open to SSH from anywhere; (instance ids, group id)."""
    ec2 = boto3.client("ec2", region_name=region)
    name = f"wave-{len(ec2.describe_security_groups()['SecurityGroups'])}"
    group = ec2.create_security_group(GroupName=name, Description="x")["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[SSH_FROM_ANYWHERE])
    answer = ec2.run_instances(ImageId=AMI, MinCount=count, MaxCount=count, InstanceType=itype,
                               SecurityGroupIds=[group])
    return [i["InstanceId"] for i in answer["Instances"]], group


def fix(region: str, instances: list[str], group: str) -> None:
    ec2 = boto3.client("ec2", region_name=region)
    ec2.terminate_instances(InstanceIds=instances)
    ec2.revoke_security_group_ingress(GroupId=group, IpPermissions=[SSH_FROM_ANYWHERE])


def section(text: str, heading: str) -> int:
    """Where a section starts in the text part (-1: absent)."""
    match = re.search(rf"^{heading}", text, re.MULTILINE)
    return match.start() if match else -1


def import_key_pair(at: datetime, account: str) -> None:
    """The leaked key imports a key pair: its CloudTrail record on the default event bus."""
    record = {
        "eventVersion": "1.09", "eventTime": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": "ec2.amazonaws.com", "eventName": "ImportKeyPair", "awsRegion": EAST,
        "eventID": "5c8e7a4e-0000-4000-8000-0000000000aa",
        "userIdentity": {"type": "Root", "arn": f"arn:aws:iam::{account}:root",
                         "accountId": account, "accessKeyId": "AKIAROOTKEYEXAMPLE01"},
        "sourceIPAddress": "203.0.113.45", "userAgent": "aws-cli/2.15.0",
        "requestParameters": {"keyName": "miner"}, "responseElements": {"keyName": "miner"},
        "readOnly": False,
    }
    boto3.client("events", region_name=EAST).put_events(Entries=[{
        "Source": "aws.ec2", "DetailType": "AWS API Call via CloudTrail",
        "Detail": json.dumps(record)}])


WITH_EVENTS = """\
  - {name: root-activity, check: root_activity, severity: critical}
  - {name: suspicious-api, check: suspicious_api, severity: high}
"""


def test_a_second_wave_is_one_update_naming_what_is_new_then_one_resolution(
        account: Account, inbox, tmp_path, clock, make_engine):
    setup = write_setup(tmp_path, inbox.port, regions=(EAST, WEST), channels=ONE)
    with (tmp_path / "policies.yml").open("a") as policies:
        policies.write(WITH_EVENTS)
    with setup.config.path.open("a") as config:
        config.write(f"events: {{regions: [{EAST}]}}\n")
    engine = make_engine(load_setup(setup.config.path))
    apply(plan(engine.aws, engine.aws.account_id(), [EAST], "costguard-events"))
    account.root.key_active = (True, None)
    import_key_pair(clock(), engine.aws.account_id())
    first, first_group = launch(EAST, 3, "c5.4xlarge")
    result = engine.run_cycle(INVENTORY | {Source.CLOUDTRAIL})
    assert result.new_events == 1
    assert "root_activity" in {f.check for f in result.reconciled.new}
    assert inbox.wait_for(1)
    assert kinds(inbox) == ["new"]
    [alert] = received(inbox)
    assert all(i in text_of(alert) for i in first)
    assert "ImportKeyPair" in text_of(alert) and first_group in text_of(alert)

    clock.advance(minutes=5)
    second, second_group = launch(WEST, 10)
    engine.run_cycle(INVENTORY)
    assert kinds(inbox) == ["new"]  # the update waits out the settle window
    clock.advance(seconds=61)
    engine.deliver()
    engine.run_cycle(INVENTORY)  # nothing changed: nothing more
    assert inbox.wait_for(2)
    assert kinds(inbox) == ["new", "update"]
    update: EmailMessage = received(inbox)[1]
    text = text_of(update)
    assert subject(update).startswith("[costguard] UPDATE CRITICAL:")
    assert "2 regions" in subject(update)
    new_at = section(text, "NEW SINCE THE LAST MESSAGE")
    assert 0 <= new_at < section(text, "FINDINGS")
    new_part = re.split(r"\n\s*\n", text[new_at:], maxsplit=1)[0]  # up to the next section
    assert all(i in new_part for i in second), new_part
    assert not any(i in new_part for i in first), new_part
    assert "us-west-2" in new_part and second_group in new_part
    assert update["In-Reply-To"] == alert["Message-ID"]

    fix(EAST, first, first_group)
    fix(WEST, second, second_group)
    account.root.key_active = (None, None)
    clock.advance(minutes=2)
    engine.run_cycle(INVENTORY)
    clock.advance(minutes=2)
    engine.run_cycle(INVENTORY)
    assert inbox.wait_for(3)
    assert kinds(inbox) == ["new", "update", "resolved"]
    assert len({str(m["Message-ID"]) for m in received(inbox)}) == 3


def test_a_burst_of_changes_within_the_settle_window_is_one_update(
        account: Account, inbox, tmp_path, clock, make_engine):
    engine = make_engine(write_setup(tmp_path, inbox.port, regions=(EAST, WEST), channels=ONE))
    account.root.key_active = (True, None)
    launch(EAST, 2, "c5.4xlarge")
    engine.run_cycle(INVENTORY)
    joined = []
    for _ in range(3):  # three more launches, 15 s apart, each seen by its own cycle
        clock.advance(seconds=15)
        joined += launch(WEST, 2)[0]
        engine.run_cycle(INVENTORY)
    clock.advance(seconds=61)
    engine.deliver()
    clock.advance(minutes=3)
    engine.run_cycle(INVENTORY)
    assert inbox.wait_for(2)
    assert kinds(inbox) == ["new", "update"]
    assert all(i in text_of(received(inbox)[1]) for i in joined)


def test_an_unacknowledged_incident_is_reminded_at_4_and_8_hours_until_acked(
        account: Account, inbox, tmp_path, clock, make_engine):
    setup = write_setup(tmp_path, inbox.port, channels=ONE)
    with setup.config.path.open("a") as config:
        config.write(PATIENT)
    setup = load_setup(setup.config.path)
    engine = make_engine(setup)
    launch(EAST, 2, "c5.4xlarge")
    engine.run_cycle({Source.INVENTORY})
    assert kinds(inbox) == ["new"]
    for hours, expected in ((3.9, 1), (4.0, 2), (7.9, 2), (8.0, 3)):
        clock.skipped = timedelta(hours=hours)
        engine.run_cycle({Source.INVENTORY})
        assert inbox.wait_for(expected)
        assert len(received(inbox)) == expected, hours
    reminders = received(inbox)[1:]
    assert [k for k in kinds(inbox)] == ["new", "renotify", "renotify"]
    assert all(subject(m).startswith("[costguard] STILL OPEN HIGH:") for m in reminders)
    assert "incidents ack" in text_of(reminders[0])

    [incident] = engine.store.open_incidents()
    result = CliRunner().invoke(main, ["incidents", "ack", str(incident.id), "-c",
                                       str(setup.config.path), "--by", "alice"])
    assert result.exit_code == 0, result.output
    clock.skipped = timedelta(hours=40)
    engine.run_cycle({Source.INVENTORY})
    assert len(received(inbox)) == 3  # acknowledged: no more reminders
