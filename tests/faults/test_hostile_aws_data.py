"""Hostile AWS data through the real cycle into every place a person or a program reads it.

An attacker who can create resources chooses their names, tags and descriptions, and the
fields of the CloudTrail records their calls leave (userAgent, sourceIPAddress, userName in
the principal's ARN). Here every one of those fields carries HTML, `<script>`, CR/LF with a
header line, the bidi override U+202E, a Jinja expression and statement, an emoji, a
spreadsheet formula and, on one field of each kind, 100,000 characters; the CloudTrail record
(JSON on the wire) also carries NUL and an unpaired UTF-16 surrogate (JSON's `\\ud800`: the
one way invalid UTF-8 reaches costguard through a well-formed AWS answer; EC2's and IAM's XML
answers cannot carry NUL or invalid UTF-8 at all, so those fields do without).

They go through moto and `costguard scan` (each format), the SMTP channel into a real SMTP
server (aiosmtpd), the log and the weekly report, on SQLite and PostgreSQL. Each output is
checked for what would hurt its reader: HTML escaped, no header injected, no template run,
control and bidi characters removed or shown as escapes, every field cut to its limit
(docs/alerts.md, "Untrusted text"), a CSV row never broken apart. The tally of what was
tried goes to docs/reliability-faults.md.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from datetime import datetime, timezone
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import boto3
from click.testing import CliRunner
from moto import mock_aws

from costguard.cli.main import main
from costguard.demo.inbox import Inbox
from costguard.text import FIELD_LIMIT

from .table import INPUTS, known, record_input

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "events"
REGION = "us-east-1"
JINJA = "{{ 7*7 }}{% if 1 %}EXECUTED{% endif %}"
HOSTILE = ("<script>alert(1)</script><b>bold</b>\r\nBcc: evil@x.invalid\r\n"
           "\u202egnp.exe" + JINJA + "\U0001F600=HYPERLINK(\"http://x\")")
"""What every hostile field holds (XML on the wire allows all of it)."""
JSON_ONLY = "\x00\ud800"
"""Added where the wire is JSON: NUL and an unpaired surrogate (invalid as UTF-8)."""
LONG = "L" * 100_000
FIELDS = ("instance Name tag", "tag key", "tag value", "key pair name", "security group name",
          "security group description", "CloudTrail userAgent", "CloudTrail sourceIPAddress",
          "CloudTrail userName")
FORMATS = ("json", "csv", "ocsf", "table")
KIND = "hostile AWS fields"
known(INPUTS, KIND, owner=__name__)


def write_config(tmp_path: Path, url: str, port: int) -> Path:
    path = tmp_path / "costguard.yml"
    path.write_text(
        f"aws: {{regions: [{REGION}]}}\n"
        f"database: {{url: '{url}'}}\n"
        "notifiers:\n"
        f"  mail: {{type: smtp, host: 127.0.0.1, port: {port}, security: none,\n"
        "         from: costguard@test.invalid, to: [secops@test.invalid]}\n"
        "routes:\n"
        "  - match: {severity: [critical, high, medium, low, info]}\n"
        "    notify: [mail]\n")
    return path


def plant(config: Path) -> None:
    """The attacker's resources and one CloudTrail record of theirs on the event queue."""
    result = CliRunner().invoke(main, ["setup", "events", "-c", str(config)])
    assert result.exit_code == 0, result.output
    ec2 = boto3.client("ec2", region_name=REGION)
    group = ec2.create_security_group(GroupName=HOSTILE, Description=HOSTILE + LONG)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    ec2.create_key_pair(KeyName=HOSTILE)
    ec2.run_instances(
        ImageId="ami-12345678", MinCount=1, MaxCount=1, InstanceType="c5.4xlarge",
        KeyName=HOSTILE, SecurityGroupIds=[group],
        TagSpecifications=[{"ResourceType": "instance", "Tags": [
            {"Key": "Name", "Value": HOSTILE}, {"Key": HOSTILE + "k", "Value": HOSTILE + LONG}]}])
    event = json.loads((FIXTURES / "attach_user_policy.json").read_text())
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")  # events are judged by age
    event["time"] = event["detail"]["eventTime"] = now
    event["detail"].update(userAgent=HOSTILE + JSON_ONLY + LONG,
                           sourceIPAddress=HOSTILE + JSON_ONLY)
    event["detail"]["userIdentity"] = {
        "type": "IAMUser", "principalId": "AIDAEXAMPLE", "accountId": "123456789012",
        "arn": f"arn:aws:iam::123456789012:user/{HOSTILE}{JSON_ONLY}",
        "userName": HOSTILE + JSON_ONLY, "accessKeyId": "AKIAIOSFODNN7EXAMPLE"}
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.get_queue_url(QueueName="costguard-events")["QueueUrl"]
    # json.dumps writes \u0000 and \ud800 as escapes: the body on the wire is valid UTF-8
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(event))


def emails(inbox: Inbox) -> list[tuple[bytes, EmailMessage]]:
    return [(path.read_bytes(), BytesParser(policy=policy.default).parsebytes(path.read_bytes()))
            for path in sorted(inbox.folder.glob("*.eml"))]


def assert_safe_text(text: str, where: str, limit: int) -> None:
    """What any human-read text must never hold."""
    assert "\x00" not in text and "\u202e" not in text, where
    assert not re.search(r"[\ud800-\udfff]", text), where
    ran = text.replace("{% if 1 %}EXECUTED", "")  # shown literally is fine; run is not
    assert "EXECUTED" not in ran, f"{where}: a template ran"
    assert "L" * (limit + 1) not in text, f"{where}: a field longer than {limit}"


def assert_safe_email(raw: bytes, message: EmailMessage) -> None:
    head, _, _ = raw.partition(b"\r\n\r\n")
    names = [line.split(b":")[0] for line in head.split(b"\r\n") if not line[:1].isspace()]
    assert b"Bcc" not in names and len(names) == len(set(names))
    assert "\n" not in str(message["Subject"]) and "\u202e" not in str(message["Subject"])
    for part in message.walk():
        if part.get_content_maintype() == "multipart":
            continue
        body = part.get_content()
        assert_safe_text(body, part.get_content_type(), FIELD_LIMIT)
        if part.get_content_type() == "text/html":
            assert "<script" not in body and "<b>bold" not in body


def scan(config: Path, fmt: str) -> str:
    result = CliRunner().invoke(main, ["scan", "-c", str(config), "--format", fmt])
    assert result.exit_code in (0, 1) and not isinstance(result.exception, Exception), (
        result.exception, result.output[-2000:])
    return result.stdout


def assert_safe_scan(fmt: str, out: str) -> None:
    assert_safe_text(out, f"scan --format {fmt}", FIELD_LIMIT)
    if fmt in ("json", "ocsf"):
        json.loads(out)
    if fmt == "csv":
        rows = list(csv.reader(io.StringIO(out)))
        assert len({len(r) for r in rows}) == 1, "a CR/LF in a field broke a row apart"
    if fmt == "table":
        assert all("\r" not in line for line in out.splitlines())


def test_hostile_fields_are_escaped_cut_and_never_run(database, inbox, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    name, db_url = database
    config = write_config(tmp_path, db_url, inbox.port)
    with mock_aws():
        plant(config)
        outputs = {fmt: scan(config, fmt) for fmt in FORMATS}
        weekly = CliRunner().invoke(main, ["report", "weekly", "-c", str(config),
                                           "--out", str(tmp_path / "weekly.html")])
    assert weekly.exit_code == 0, weekly.output

    document = json.loads(outputs["json"])
    checks = {f["check"] for f in document["findings"]}
    assert {"instance_types", "open_admin_ports", "iam_admin_grant"} <= checks, checks
    messages = emails(inbox)
    assert messages, "the incident was emailed"
    for raw, message in messages:
        assert_safe_email(raw, message)
    for fmt, out in outputs.items():
        assert_safe_scan(fmt, out)
    assert_safe_text(caplog.text, "the log", FIELD_LIMIT)
    for line in caplog.text.splitlines():
        assert "Bcc: evil" not in line or "<script>" in line, "a log record was split"
    for page in ("weekly.html", "weekly.txt"):
        text = (tmp_path / page).read_text(encoding="utf-8")
        assert_safe_text(text, page, FIELD_LIMIT)
        assert "<script" not in text
    plain = "\n".join(m.get_body(("plain",)).get_content() for _, m in messages)
    html = "\n".join(m.get_body(("html",)).get_content() for _, m in messages)
    for field in ("bold", "gnp.exe", "evil@x.invalid", JINJA.split("{%")[0]):
        assert field in plain, f"{field}: hostile text is shown (made harmless), not dropped"
    assert "<U+202E>" in plain, "the override is shown, not obeyed"
    assert "&lt;script&gt;" in html
    record_input(KIND, name, len(FIELDS),
                 "email text+HTML+headers, log, scan json/csv/ocsf/table, weekly report")
