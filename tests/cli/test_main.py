"""The command line (costguard/cli.py) through click's CliRunner, on moto and a real SMTP server.

Policies here are two high-severity inventory checks, so exit codes depend on nothing but the
EC2 state each test seeds. A region's failure is injected as AWS answers it (UnauthorizedOperation)
by a botocore `before-call` hook that every boto3 session made during the test registers.
"""

from __future__ import annotations

import io
import json
import re
import shutil
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import boto3
import botocore.handlers
import pytest
from botocore.awsrequest import AWSResponse
from click.testing import CliRunner, Result
from moto import mock_aws
from moto.core.models import DEFAULT_ACCOUNT_ID

from costguard.checks import default_registry
from costguard.cli.main import main
from costguard.cli.output import Progress
from costguard.collectors.permissions import permissions_for
from costguard.demo.inbox import Inbox
from costguard.model import Source, Status
from costguard.runtime.bootstrap import load_setup
from costguard.store import NotificationStatus, Store

ACCOUNT = DEFAULT_ACCOUNT_ID
EAST, WEST = "us-east-1", "us-west-2"

POLICIES = """\
policies:
  - name: unapproved-instance-types
    check: instance_types
    severity: high
    params: {allowed: ["t3.*"]}
  - name: open-admin-ports
    check: open_admin_ports
    severity: high
    params: {ports: [22]}
"""

SCAN_KEYS = {"started_at", "finished_at", "complete", "accounts", "regions", "api_calls",
             "errors"}
FINDING_KEYS = {"id", "fingerprint", "policy", "check", "severity", "status", "account",
                "region", "resource", "title", "details", "first_seen", "last_seen", "incident"}
INCIDENT_KEYS = {"id", "title", "severity", "findings", "resources"}

REGISTRY = default_registry()


@pytest.fixture
def cloud() -> Iterator[None]:
    """An empty moto account."""
    with mock_aws():
        yield


@pytest.fixture
def inbox(tmp_path: Path) -> Iterator[Inbox]:
    """A real SMTP server on 127.0.0.1 keeping every message it accepts."""
    with Inbox(tmp_path / "inbox") as server:
        yield server


@pytest.fixture
def config(tmp_path: Path, inbox: Inbox) -> Path:
    """costguard.yml: one region, the two policies, SQLite in tmp_path, email to the inbox."""
    return write_config(tmp_path, inbox.port)


def write_config(tmp_path: Path, port: int, regions=(EAST,)) -> Path:
    """Config and policy files in tmp_path; returns the config's path."""
    (tmp_path / "policies.yml").write_text(POLICIES)
    path = tmp_path / "costguard.yml"
    path.write_text(
        f"aws: {{regions: [{', '.join(regions)}]}}\n"
        f"database: {{url: 'sqlite:///{tmp_path}/cg.db'}}\n"
        "policies: [policies.yml]\n"
        "notifiers:\n"
        f"  security: {{type: smtp, host: 127.0.0.1, port: {port}, security: none,\n"
        "             from: costguard@test.invalid, to: [secops@test.invalid]}\n"
    )
    return path


def costguard(*args: str | Path) -> Result:
    """Run one command as a user would, stdout and stderr kept apart."""
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def open_ssh_and_run(count: int = 2, region: str = EAST) -> tuple[list[str], str]:
    """Unapproved instances in a group open to SSH: high findings only. Returns ids and group."""
    ec2 = boto3.client("ec2", region_name=region)
    group = ec2.create_security_group(GroupName="wizard", Description="x")["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
         "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    answer = ec2.run_instances(ImageId="ami-12345678", MinCount=count, MaxCount=count,
                               InstanceType="c5.4xlarge", SecurityGroupIds=[group])
    return [i["InstanceId"] for i in answer["Instances"]], group


def scan_json(config: Path, *flags: str) -> tuple[Result, dict[str, Any]]:
    """`scan --format json`; the whole of stdout must be one JSON object."""
    result = costguard("scan", "--format", "json", "-c", config, *flags)
    return result, json.loads(result.stdout)


def is_utc_iso(text: str) -> bool:
    """An ISO 8601 time with an explicit UTC offset, as the JSON contract says."""
    return datetime.fromisoformat(text).utcoffset() == timedelta(0)


def subject(message: EmailMessage) -> str:
    """The Subject as a mail client shows it. Python folds a subject that fits a line of its own
    onto the next line ("Subject:" CRLF SP text); unfolding keeps that space, clients trim it."""
    return str(message["Subject"]).strip()


# -- scan --------------------------------------------------------------------------------------


def test_scan_json_is_one_object_with_exactly_the_documented_keys(cloud, config):
    instances, group = open_ssh_and_run()
    result, doc = scan_json(config)

    assert result.exit_code == 1
    assert set(doc) == {"scan", "findings", "incidents"}
    scan = doc["scan"]
    assert set(scan) == SCAN_KEYS
    assert (scan["complete"], scan["accounts"], scan["regions"], scan["errors"]) == (
        True, [ACCOUNT], [EAST], [])
    assert isinstance(scan["api_calls"], int) and scan["api_calls"] > 0
    assert is_utc_iso(scan["started_at"]) and is_utc_iso(scan["finished_at"])
    assert all(set(f) == FINDING_KEYS for f in doc["findings"])
    arns = {f"arn:aws:ec2:{EAST}:{ACCOUNT}:instance/{i}" for i in instances}
    assert {(f["check"], f["resource"]) for f in doc["findings"]} == {
        *(("instance_types", arn) for arn in arns), ("open_admin_ports", group)}
    assert {(f["severity"], f["status"], f["account"], f["region"]) for f in doc["findings"]} == {
        ("high", "open", ACCOUNT, EAST)}
    assert all(is_utc_iso(f["first_seen"]) and is_utc_iso(f["last_seen"])
               for f in doc["findings"])
    assert all(re.fullmatch(r"[0-9a-f]{64}", f["fingerprint"]) for f in doc["findings"])
    (incident,) = doc["incidents"]
    assert set(incident) == INCIDENT_KEYS
    assert incident["findings"] == [f["id"] for f in doc["findings"]]
    assert all(f["incident"] == incident["id"] for f in doc["findings"])
    assert incident["resources"] == sorted({*arns, group})
    assert incident["severity"] == "high"
    # stderr is not a terminal: no progress line, nothing but the results
    assert result.stderr == ""


def test_a_clean_account_exits_0(cloud, config):
    result, doc = scan_json(config)
    assert result.exit_code == 0
    assert (doc["findings"], doc["incidents"], doc["scan"]["complete"]) == ([], [], True)


@pytest.mark.parametrize(("fail_on", "code"), [("critical", 0), ("high", 1), ("medium", 1)])
def test_fail_on_sets_the_severity_that_fails(cloud, config, fail_on, code):
    open_ssh_and_run(count=1)
    result, doc = scan_json(config, "--fail-on", fail_on)
    assert {f["severity"] for f in doc["findings"]} == {"high"}
    assert result.exit_code == code


def test_muted_findings_do_not_fail_the_scan(cloud, config):
    open_ssh_and_run(count=1)
    _, doc = scan_json(config)
    for finding in doc["findings"]:
        muted = costguard("findings", "mute", finding["id"], "--until", "7d", "--reason", "ok",
                          "-c", config)
        assert muted.exit_code == 0
    result, doc = scan_json(config)
    assert {f["status"] for f in doc["findings"]} == {"muted"}
    assert result.exit_code == 0


def test_a_bad_config_exits_2_naming_file_line_and_column(cloud, tmp_path):
    bad = tmp_path / "costguard.yml"
    bad.write_text("aws:\n  regions: [us-east-1]\n  regoins: [eu-west-1]\n")
    result = costguard("scan", "-c", bad)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith(f"{bad}:3:3: ")
    assert "regoins" in result.stderr


def test_a_missing_config_file_exits_2(cloud, tmp_path):
    result = costguard("scan", "-c", tmp_path / "nope.yml")
    assert result.exit_code == 2
    assert "config file not found" in result.stderr


class RegionOutage:
    """Answers EC2 calls in one region as AWS does when a service control policy denies it."""

    def __init__(self, region: str) -> None:
        self.region = region

    def __call__(self, context: dict[str, Any], **_: Any) -> Any:
        if context.get("client_region") != self.region:
            return None
        error = {"Code": "UnauthorizedOperation",
                 "Message": "You are not authorized to perform this operation."}
        body = {"Error": error, "ResponseMetadata": {"HTTPStatusCode": 403}}
        return AWSResponse("https://ec2.invalid/", 403, {}, None), body


def deny_west(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every boto3 session made from now on (each scan makes one) fails EC2 in us-west-2."""
    hook = ("before-call.ec2.DescribeInstances", RegionOutage(WEST))
    monkeypatch.setattr(botocore.handlers, "BUILTIN_HANDLERS",
                        [*botocore.handlers.BUILTIN_HANDLERS, hook])


def test_an_incomplete_scan_exits_3_and_prints_what_it_saw_keeping_the_rest(
    cloud, tmp_path, inbox, monkeypatch
):
    config = write_config(tmp_path, inbox.port, regions=(EAST, WEST))
    (east,), _ = open_ssh_and_run(count=1, region=EAST)
    (west,), west_group = open_ssh_and_run(count=1, region=WEST)
    assert scan_json(config)[0].exit_code == 1
    for region, instance in ((EAST, east), (WEST, west)):
        boto3.client("ec2", region_name=region).terminate_instances(InstanceIds=[instance])
    deny_west(monkeypatch)

    result, doc = scan_json(config)

    assert result.exit_code == 3
    assert doc["scan"]["complete"] is False
    (error,) = doc["scan"]["errors"]
    assert error.startswith(f"inventory {ACCOUNT}/{WEST}: ")
    assert "UnauthorizedOperation" in error
    assert doc["scan"]["regions"] == [EAST, WEST]
    shown = {(f["check"], f["region"]): (f["status"], f["resource"]) for f in doc["findings"]}
    assert shown[("instance_types", EAST)][0] == "resolved"  # seen gone where the scan worked
    assert shown[("instance_types", WEST)] == (  # kept open where it failed
        "open", f"arn:aws:ec2:{WEST}:{ACCOUNT}:instance/{west}")
    assert shown[("open_admin_ports", WEST)] == ("open", west_group)


def test_an_incomplete_table_scan_lists_the_failure_on_stderr(cloud, tmp_path, inbox,
                                                              monkeypatch):
    config = write_config(tmp_path, inbox.port, regions=(EAST, WEST))
    deny_west(monkeypatch)
    open_ssh_and_run(count=1, region=EAST)
    result = costguard("scan", "-c", config)
    assert result.exit_code == 3
    assert "2 open finding(s) in 1 incident(s)" in result.stdout
    assert "scan INCOMPLETE" in result.stderr
    assert f"inventory {ACCOUNT}/{WEST}: " in result.stderr


@pytest.mark.parametrize(("flags", "emails"), [([], 1), (["--no-notify"], 0)])
def test_scan_notifies_unless_told_not_to(cloud, config, inbox, tmp_path, flags, emails):
    open_ssh_and_run(count=1)
    result, _ = scan_json(config, *flags)
    assert result.exit_code == 1
    inbox.wait_for(emails, timeout_s=1 if emails else 0.2)
    messages = [m for _, _, m in inbox.messages()]
    assert len(messages) == emails
    assert all(subject(m).startswith("[costguard] HIGH: ") for m in messages)
    with Store.open(f"sqlite:///{tmp_path}/cg.db") as store:
        assert [n.status for n in store.notifications()] == [NotificationStatus.SENT] * emails


def test_the_table_lists_each_open_finding_and_a_summary(cloud, config):
    instances, group = open_ssh_and_run(count=2)
    result = costguard("scan", "-c", config)
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["ID", "SEVERITY", "STATUS", "CHECK", "REGION", "RESOURCE",
                                "TITLE"]
    rows = {line.split()[5]: line.split()[:5] for line in lines[1:4]}
    assert rows[group][1:] == ["high", "open", "open_admin_ports", EAST]
    for instance in instances:
        arn = f"arn:aws:ec2:{EAST}:{ACCOUNT}:instance/{instance}"
        assert rows[arn][1:] == ["high", "open", "instance_types", EAST]
    summary = lines[-1]
    assert summary.startswith("3 open finding(s) in 1 incident(s), 0 resolved by this scan; ")
    assert summary.endswith(f"accounts {ACCOUNT}; 1 region(s).")
    assert result.stderr == ""


def test_a_fix_shows_once_as_resolved_then_disappears(cloud, config):
    instances, _ = open_ssh_and_run(count=1)
    scan_json(config)
    boto3.client("ec2", region_name=EAST).terminate_instances(InstanceIds=instances)
    result, doc = scan_json(config)
    assert result.exit_code == 1  # the group is still open
    by_check = {f["check"]: f["status"] for f in doc["findings"]}
    assert by_check == {"instance_types": "resolved", "open_admin_ports": "open"}
    _, later = scan_json(config)
    assert [f["check"] for f in later["findings"]] == ["open_admin_ports"]


# -- findings ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    """A store holding one scan's two findings (an instance, an open group), made once."""
    folder = tmp_path_factory.mktemp("scanned")
    with pytest.MonkeyPatch.context() as env, mock_aws():
        env.setenv("AWS_DEFAULT_REGION", EAST)
        env.delenv("AWS_PROFILE", raising=False)
        env.delenv("AWS_ENDPOINT_URL", raising=False)
        open_ssh_and_run(count=1)
        _, doc = scan_json(write_config(folder, port=1), "--no-notify")
    return folder / "cg.db", sorted(doc["findings"], key=lambda f: f["check"])


@pytest.fixture
def two_findings(scanned, tmp_path: Path) -> list[dict[str, Any]]:
    """The scanned store, copied for this test (triage commands need no AWS)."""
    database, findings = scanned
    shutil.copy(database, tmp_path / "cg.db")
    return findings


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    """The config of the copied store; its notifier is never used by triage commands."""
    return write_config(tmp_path, port=1)


def listed(config: Path, *flags: str) -> dict[int, list[str]]:
    """`findings list` rows by id: severity, status, check."""
    result = costguard("findings", "list", "-c", config, *flags)
    assert result.exit_code == 0
    rows = result.stdout.splitlines()[1:]
    return {int(row.split()[0]): row.split()[1:4] for row in rows}


def test_findings_list_shows_what_is_open(two_findings, cfg):
    instance, group = two_findings
    assert listed(cfg) == {
        instance["id"]: ["high", "open", "instance_types"],
        group["id"]: ["high", "open", "open_admin_ports"],
    }
    assert costguard("findings", "list", "--status", "resolved", "-c", cfg).stdout == (
        "no findings\n")


def test_ack_then_list_shows_it_acknowledged(two_findings, cfg):
    instance, _ = two_findings
    acked = costguard("findings", "ack", instance["id"], "--reason", "on it", "--by", "alice",
                      "-c", cfg)
    assert acked.exit_code == 0
    # acknowledging a finding is not acknowledging its incident (`incidents ack` does that)
    assert acked.stdout == f"finding {instance['id']} acknowledged by alice\n"
    assert listed(cfg)[instance["id"]] == ["high", "acknowledged", "instance_types"]
    assert listed(cfg, "--status", "acknowledged") == {
        instance["id"]: ["high", "acknowledged", "instance_types"]}


def test_mute_for_a_duration_with_a_reason(two_findings, cfg, tmp_path):
    _, group = two_findings
    before = datetime.now(timezone.utc)
    muted = costguard("findings", "mute", group["id"], "--until", "7d", "--reason", "x",
                      "--by", "alice", "-c", cfg)
    after = datetime.now(timezone.utc)
    assert muted.exit_code == 0
    assert muted.stdout.startswith(f"finding {group['id']} muted until ")
    assert muted.stdout.endswith(" by alice\n")
    assert listed(cfg)[group["id"]] == ["high", "muted", "open_admin_ports"]
    with Store.open(f"sqlite:///{tmp_path}/cg.db") as store:
        stored = store.get_finding(group["id"])
    assert stored.status is Status.MUTED
    assert stored.mute_reason == "x"
    assert before + timedelta(days=7) <= stored.muted_until <= after + timedelta(days=7)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--until", "7d"], "Missing option '--reason'"),
        (["--reason", "x"], "Missing option '--until'"),
        (["--until", "2001-01-01", "--reason", "x"], "is in the past"),
        (["--until", "soonish", "--reason", "x"], "expected an ISO date"),
    ],
)
def test_mute_without_a_reason_or_a_usable_date_exits_2(two_findings, cfg, args, message):
    _, group = two_findings
    result = costguard("findings", "mute", group["id"], *args, "-c", cfg)
    assert result.exit_code == 2
    assert message in result.stderr
    assert listed(cfg)[group["id"]][1] == "open"


@pytest.mark.parametrize("command", [["show"], ["ack"], ["mute", "--until", "1d", "--reason", "x"]])
def test_an_unknown_finding_id_exits_2(two_findings, cfg, command):
    result = costguard("findings", command[0], "999", *command[1:], "-c", cfg)
    assert result.exit_code == 2
    assert result.stderr == "no finding with id 999\n"


def test_show_prints_the_finding_and_every_transition(two_findings, cfg):
    instance, _ = two_findings
    costguard("findings", "ack", instance["id"], "--reason", "on it", "--by", "alice", "-c", cfg)
    result = costguard("findings", "show", instance["id"], "-c", cfg)
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert (doc["id"], doc["resource"], doc["status"]) == (
        instance["id"], instance["resource"], "acknowledged")
    steps = [(t["from"], t["to"], t["by"], t["reason"]) for t in doc["transitions"]]
    assert steps[1:] == [("open", "acknowledged", "alice", "on it")]
    assert steps[0][:3] == (None, "open", "costguard")
    assert all(is_utc_iso(t["at"]) for t in doc["transitions"])


# -- checks, iam-policy, validate --------------------------------------------------------------


def test_checks_lists_every_check_with_severity_and_defaults():
    result = costguard("checks")
    assert result.exit_code == 0
    for check in REGISTRY:
        line = rf"^{check.id}\s+\[{check.severity.value}\]"
        assert re.search(line, result.stdout, re.M), check.id
    assert re.search(r"^\s+ports\s+\[22, 3389\]\s", result.stdout, re.M)
    assert re.search(r"^\s+max_usd_per_hour\s+5\.0\s", result.stdout, re.M)


def read_statement(result: Result) -> dict[str, Any]:
    """The statement granting the collectors' reads, from `iam-policy` output."""
    doc = json.loads(result.stdout)
    assert doc["Version"] == "2012-10-17"
    (statement,) = [s for s in doc["Statement"] if s["Sid"] == "CostguardRead"]
    assert (statement["Effect"], statement["Resource"]) == ("Allow", "*")
    return statement


def test_iam_policy_allows_exactly_what_the_enabled_policies_read(config):
    result = costguard("iam-policy", "-c", config)
    assert result.exit_code == 0
    # aws.regions is configured, so the regions are never listed (ec2:DescribeRegions)
    expected = [a for a in permissions_for(Source.INVENTORY) if a != "ec2:DescribeRegions"]
    assert read_statement(result)["Action"] == expected


def test_iam_policy_of_the_shipped_policies(tmp_path):
    path = tmp_path / "costguard.yml"
    path.write_text(f"database: {{url: 'sqlite:///{tmp_path}/cg.db'}}\n")
    shipped = load_setup(path).policies
    sources = {s for p in shipped for s in REGISTRY.get(p.check).sources}
    result = costguard("iam-policy", "-c", path)
    assert result.exit_code == 0
    # the event queue's calls are a statement of their own, scoped to the queue's ARN
    queue = {"sqs:DeleteMessage", "sqs:GetQueueUrl", "sqs:ReceiveMessage"}
    assert read_statement(result)["Action"] == [a for a in permissions_for(*sources)
                                                if a not in queue]
    assert {Source.INVENTORY, Source.CREDENTIAL_REPORT, Source.COST} <= sources


def org_config(tmp_path: Path) -> Path:
    path = tmp_path / "costguard.yml"
    path.write_text(f"database: {{url: 'sqlite:///{tmp_path}/cg.db'}}\naws:\n  organization:\n"
                    "    role_name: costguard-read\n    external_id_env: CG_EXTERNAL_ID\n")
    return path


def test_iam_policy_of_an_organization_lists_members_and_assumes_their_role(tmp_path):
    result = costguard("iam-policy", "-c", org_config(tmp_path))

    statements = {s["Sid"]: s for s in json.loads(result.stdout)["Statement"]}
    assert statements["CostguardListMembers"]["Action"] == ["organizations:ListAccounts"]
    assert statements["CostguardAssumeScanRoles"]["Resource"] == [
        "arn:aws:iam::*:role/costguard-read"]


def test_iam_policy_member_role_prints_its_trust_and_read_policy(tmp_path):
    result = costguard("iam-policy", "--member-role", "--trusted-account", "111122223333",
                       "-c", org_config(tmp_path))

    doc = json.loads(result.stdout)
    [trust] = doc["trust_policy"]["Statement"]
    assert doc["role_name"] == "costguard-read"
    assert trust["Principal"] == {"AWS": "arn:aws:iam::111122223333:root"}
    assert trust["Condition"] == {"StringEquals": {"sts:ExternalId": "$CG_EXTERNAL_ID"}}
    actions = doc["permissions_policy"]["Statement"][0]["Action"]
    assert "ec2:DescribeInstances" in actions
    assert not [a for a in actions if a.startswith(("ce:", "pricing:"))]  # payer only
    bad = costguard("iam-policy", "--member-role", "--trusted-account", "12",
                    "-c", org_config(tmp_path))
    assert bad.exit_code == 2 and "--trusted-account" in bad.stderr


def test_validate_accepts_a_good_setup(config):
    result = costguard("validate", "-c", config)
    assert result.exit_code == 0
    assert result.stdout == f"ok: {config}, 2 policies, 1 notifier(s)\n"


def test_validate_rejects_a_policy_for_an_unknown_check(config, tmp_path):
    (tmp_path / "policies.yml").write_text(POLICIES.replace("check: open_admin_ports",
                                                            "check: open_admin_portz"))
    result = costguard("validate", "-c", config)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"{tmp_path / 'policies.yml'}:7:")
    assert "open_admin_portz" in result.stderr


def test_progress_is_drawn_on_a_terminal_only():
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal, pipe = Terminal(), io.StringIO()
    for stream in (terminal, pipe):
        progress = Progress(stream)
        progress("us-east-1")
        progress("us-west-2")
        progress.done()
    assert pipe.getvalue() == ""
    assert terminal.getvalue() == (
        "\r\x1b[2Kscanned us-east-1 (1)\r\x1b[2Kscanned us-west-2 (2)\r\x1b[2K")


def test_under_journald_log_lines_carry_no_timestamp_of_their_own(capsys):
    import logging

    from costguard.cli.options import configure_logging

    root = logging.getLogger()
    saved = root.handlers[:]
    root.handlers[:] = []
    try:
        configure_logging("info", env={"JOURNAL_STREAM": "8:1234"})
        logging.getLogger("costguard.test").info("hello")
        configure_stamp = root.handlers[0].formatter._fmt
    finally:
        root.handlers[:] = saved
    assert configure_stamp == "%(levelname)s %(name)s: %(message)s"
    assert capsys.readouterr().err.strip() == "INFO costguard.test: hello"


def test_json_log_lines_parse_and_carry_their_extras(capsys):
    import logging

    from costguard.cli.options import configure_logging

    root = logging.getLogger()
    saved = root.handlers[:]
    root.handlers[:] = []
    try:
        configure_logging("info", env={}, log_format="json")
        logging.getLogger("costguard.test").warning(
            "could not collect %s", "inventory",
            extra={"account": "444455556666", "region": "eu-west-1", "source": "inventory"})
    finally:
        root.handlers[:] = saved
    [line] = capsys.readouterr().err.splitlines()
    entry = json.loads(line)
    assert {k: entry[k] for k in ("level", "logger", "message", "account", "region", "source")} \
        == {"level": "WARNING", "logger": "costguard.test", "message": "could not collect "
            "inventory", "account": "444455556666", "region": "eu-west-1", "source": "inventory"}
    assert entry["ts"].endswith("+00:00")


def test_log_format_json_is_a_global_option_of_every_command(tmp_path):
    """A scan against moto logs (moto emulates neither LookupEvents nor Cost Explorer's
    forecast): every log line is one JSON object."""
    import logging

    config = tmp_path / "costguard.yml"
    config.write_text(f"aws: {{regions: [us-east-1]}}\ndatabase: {{url: 'sqlite:///{tmp_path}/"
                      "cg.db'}\n")
    root = logging.getLogger()
    saved = root.handlers[:]
    root.handlers[:] = []
    try:
        with mock_aws():
            result = CliRunner().invoke(main, ["--log-format", "json", "scan", "--no-notify",
                                               "-c", str(config)])
    finally:
        root.handlers[:] = saved
    stderr = result.stderr.splitlines()
    logged = [json.loads(line) for line in stderr if line.startswith("{")]
    assert all(entry["logger"].startswith("costguard") for entry in logged)
    assert any(entry.get("source") == "cloudtrail" and entry.get("account") for entry in logged)
    # the scan's own report of what failed stays text; no log line is left in text form
    assert not [line for line in stderr if line.startswith(("WARNING ", "INFO "))]
