"""`costguard iam-policy` allows exactly the AWS calls costguard makes: no more, no fewer.

Every AWS call is recorded (botocore's `provide-client-params` event, which carries the call's
parameters, on every session costguard makes)
while, against moto, a daemon cycle runs every collector and the event intake (with live
prices, an event queue with a message in one region, the history look-back and GuardDuty's
findings in another, the S3 trail source with a log file), `costguard setup events` runs twice
(creating, then checking what exists) and containment stops an instance and deactivates a
user's key. The calls, as IAM actions, must equal the actions of the statements meant for them;
each call's resource (queue, rule, object, instance, user) must match the statement's resources.
With `aws.organization` and an explicit `aws.accounts` role, the calls are also told apart by the
role the calling session assumed: discovery (ListAccounts, each AssumeRole, whose RoleArn must
match the policy's role resources) is made with costguard's own credentials, and what members
are asked must equal `iam-policy --member-role`'s read policy.

moto lacks CloudTrail LookupEvents, GuardDuty ListFindings/GetFindings, GetCostForecast and the
Price List API. GetCostForecast and the Price List are refused (the hook has already seen
them, which is what this test needs: the call was made, the policy must allow it); LookupEvents,
ListFindings and GetFindings are answered in the test with AWS's documented shapes (a
`before-call` handler that returns a response, as botocore's Stubber does), because a refused
ListFindings would hide the GetFindings that follows it.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from datetime import datetime, timezone
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from click.testing import CliRunner
from moto import mock_aws

from costguard.actions.contain import DEACTIVATE_KEY, STOP_INSTANCES, Step, execute
from costguard.actions.iam_policy import iam_policy_document
from costguard.cli.main import main
from costguard.collectors import session as aws_session
from costguard.collectors.permissions import authorizing_action
from costguard.model import Source
from costguard.runtime.bootstrap import load_setup, open_store
from costguard.runtime.cycle import Engine

SCANNED = ("us-east-1", "eu-west-1")
QUEUED = "us-east-1"  # has costguard's event queue; eu-west-1 falls back to the history
NO_PERMISSION = {"sts:GetCallerIdentity"}
WRITE_VERBS = ("Create", "Put", "Set", "Delete", "Update", "Stop", "Start", "Terminate",
               "Attach", "Detach", "Run", "Modify", "Authorize", "Revoke", "Send", "Tag")
TRAIL_KEY = ("AWSLogs/123456789012/CloudTrail/us-east-1/2026/12/06/"
             "123456789012_CloudTrail_us-east-1_20261206T0000Z_abc.json.gz")


MOTO_LACKS: dict[str, dict[str, Any]] = {
    "cloudtrail.LookupEvents": {"Events": []},
    "guardduty.ListFindings": {"FindingIds": ["f1"]},
    "guardduty.GetFindings": {"Findings": []},
}
"""AWS's documented answers (an empty page) for the calls moto does not implement."""


def _answer(parsed: dict[str, Any]) -> Any:
    def answer(model: Any = None, **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        return AWSResponse("https://aws.invalid", 200, {}, None), dict(parsed)

    return answer


Call = tuple[str, str, dict[str, Any], "str | None"]
"""(IAM action, region, parameters, the role the calling Aws assumed: None for its own)."""


class Recorder:
    """Every call any costguard Aws makes, per phase."""

    def __init__(self) -> None:
        self.phase = "none"
        self.calls: dict[str, list[Call]] = {}

    def hook(self, role: str | None) -> Any:
        """The `provide-client-params` handler for the session of an Aws in `role`."""

        def record(model: Any = None, params: Any = None, context: Any = None,
                   **_: Any) -> None:
            action = authorizing_action(aws_session.iam_action(model.service_model.metadata,
                                                               model.name))
            region = (context or {}).get("client_region") or ""
            self.calls.setdefault(self.phase, []).append(
                (action, region, dict(params or {}), role))

        return record

    def actions(self, phase: str, role: object = ...) -> set[str]:
        """The actions of a phase's calls (made in `role` only, when given)."""
        return {a for a, _, _, r in self.calls.get(phase, [])
                if role is ... or r == role} - NO_PERMISSION

    def roles(self, phase: str) -> set[str | None]:
        return {r for _, _, _, r in self.calls.get(phase, [])}


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Iterator[Recorder]:
    """Hooks every Aws (the one door to AWS) as it is made; the hook sees each call once."""
    recorder = Recorder()
    made = aws_session.Aws.__init__

    def init(self: aws_session.Aws, session: Any, **kwargs: Any) -> None:
        made(self, session, **kwargs)
        session.events.register_first("provide-client-params.*.*",
                                      recorder.hook(kwargs.get("role_arn")))
        for operation, answer in MOTO_LACKS.items():
            session.events.register(f"before-call.{operation}", _answer(answer))

    monkeypatch.setattr(aws_session.Aws, "__init__", init)
    with mock_aws():
        yield recorder


def write_config(tmp_path: Path, regions: tuple[str, ...] | None) -> Path:
    path = tmp_path / "costguard.yml"
    region_line = f"aws: {{regions: [{', '.join(regions)}]}}\n" if regions else ""
    path.write_text(region_line + f"database: {{url: 'sqlite:///{tmp_path}/cg.db'}}\n"
                    "events:\n  queue_name: costguard-events\n"
                    "  s3_trail: {queue_name: costguard-trail-objects}\n")
    return path


def arrange_account() -> dict[str, str]:
    """What makes every collector call everything it can: a trail, detectors, a queued event,
    a trail file announced on its queue, an instance type the price table lacks, a user key."""
    ec2 = boto3.client("ec2", region_name=QUEUED)
    instance = ec2.run_instances(ImageId="ami-12345678", MinCount=1, MaxCount=1,
                                 InstanceType="c6in.large")["Instances"][0]["InstanceId"]
    s3 = boto3.client("s3", region_name=QUEUED)
    s3.create_bucket(Bucket="trail-bucket")
    boto3.client("cloudtrail", region_name=QUEUED).create_trail(
        Name="org-trail", S3BucketName="trail-bucket", IsMultiRegionTrail=True)
    record = {"eventVersion": "1.08", "eventTime": "2026-12-06T00:00:00Z",
              "eventSource": "ec2.amazonaws.com", "eventName": "DescribeInstances",
              "awsRegion": QUEUED, "userIdentity": {"type": "IAMUser", "userName": "x"}}
    s3.put_object(Bucket="trail-bucket", Key=TRAIL_KEY,
                  Body=gzip.compress(json.dumps({"Records": [record]}).encode()))
    for region in SCANNED:
        boto3.client("guardduty", region_name=region).create_detector(Enable=True)
    sqs = boto3.client("sqs", region_name=QUEUED)
    events = sqs.get_queue_url(QueueName="costguard-events")["QueueUrl"]
    sqs.send_message(QueueUrl=events, MessageBody=json.dumps(
        {"detail-type": "AWS API Call via CloudTrail", "source": "aws.ec2",
         "detail": record}))
    trail_queue = sqs.create_queue(QueueName="costguard-trail-objects")["QueueUrl"]
    sqs.send_message(QueueUrl=trail_queue, MessageBody=json.dumps({"Records": [{
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": "trail-bucket"}, "object": {"key": TRAIL_KEY}}}]}))
    iam = boto3.client("iam", region_name=QUEUED)
    iam.create_user(UserName="leaky")
    key = iam.create_access_key(UserName="leaky")["AccessKey"]["AccessKeyId"]
    return {"instance": instance, "key": key}


def setup_events(recorder: Recorder, config: Path, *regions: str) -> None:
    recorder.phase = "setup"
    args = ["setup", "events", "-c", str(config)] + (["--regions", ",".join(regions)]
                                                     if regions else [])
    for _ in range(2):  # creating, then finding everything in place
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output


def daemon_cycle(recorder: Recorder, config: Path) -> None:
    recorder.phase = "read"
    setup = load_setup(str(config))
    store = open_store(setup.config)
    try:
        Engine(setup.config, setup.policies, store, registry=setup.registry,
               live_prices=True).run_cycle()
    finally:
        store.close()


def containment(recorder: Recorder, targets: dict[str, str]) -> None:
    recorder.phase = "contain"
    steps = [Step(STOP_INSTANCES, "123456789012", QUEUED, (targets["instance"],)),
             Step(DEACTIVATE_KEY, "123456789012", "", (targets["key"],), user="leaky")]
    rows: list[dict[str, Any]] = []
    execute(steps, lambda _: aws_session.Aws.from_environment(region=QUEUED), dry_run=False,
            record=lambda **row: rows.append(row), incident_id=1,
            now=datetime(2026, 12, 6, tzinfo=timezone.utc))
    assert [r["ok"] for r in rows] == [True, True], rows


def policy(config: Path) -> dict[str, dict[str, Any]]:
    result = CliRunner().invoke(main, ["iam-policy", "-c", str(config), "--setup", "--contain"])
    assert result.exit_code == 0, result.output
    return {s["Sid"]: s for s in json.loads(result.stdout)["Statement"]}


def allowed(statements: dict[str, dict[str, Any]], *sids: str) -> set[str]:
    return {a for sid in sids for a in statements[sid]["Action"]}


def resource_of(action: str, region: str, params: dict[str, Any]) -> str:
    """The ARN a call acts on, from its parameters (`*` for actions without resource scope)."""
    service = action.split(":")[0]
    if service == "sqs":
        name = params.get("QueueName") or str(params.get("QueueUrl", "")).rsplit("/", 1)[-1]
        return f"arn:aws:sqs:{region}:123456789012:{name}"
    if service == "events":
        rule = params.get("Name") or params.get("Rule")
        return f"arn:aws:events:{region}:123456789012:rule/{rule}"
    if action == "s3:GetObject":
        return f"arn:aws:s3:::{params['Bucket']}/{params['Key']}"
    if action == "ec2:StopInstances":
        return f"arn:aws:ec2:{region}:123456789012:instance/{params['InstanceIds'][0]}"
    if action == "sts:AssumeRole":
        return params["RoleArn"]
    if action == "iam:UpdateAccessKey":
        return f"arn:aws:iam::123456789012:user/{params['UserName']}"
    return "*"


def assert_resources_cover(recorder: Recorder, statements: dict[str, dict[str, Any]]) -> None:
    """Each call is allowed by some statement naming its action whose resources match it."""
    for phase, calls in recorder.calls.items():
        for action, region, params, _ in calls:
            if action in NO_PERMISSION:
                continue
            arn = resource_of(action, region, params)
            covering = [s["Sid"] for s in statements.values() if action in s["Action"] and any(
                fnmatchcase(arn, r) for r in _list(s["Resource"]))]
            assert covering, f"{phase}: {action} on {arn} is not allowed"


def _list(resource: str | list[str]) -> list[str]:
    return [resource] if isinstance(resource, str) else resource


def test_the_policy_allows_exactly_the_calls_made_with_regions_configured(recorder, tmp_path):
    config = write_config(tmp_path, SCANNED)
    setup_events(recorder, config, QUEUED)
    targets = arrange_account()
    daemon_cycle(recorder, config)
    containment(recorder, targets)
    statements = policy(config)

    assert set(statements) == {
        "CostguardRead", "CostguardEventQueue", "CostguardTrailFiles", "CostguardSetupEvents",
        "CostguardContainInstances", "CostguardContainAccessKeys"}
    assert recorder.actions("read") == allowed(
        statements, "CostguardRead", "CostguardEventQueue", "CostguardTrailFiles")
    assert recorder.actions("setup") == allowed(statements, "CostguardSetupEvents")
    assert recorder.actions("contain") == allowed(
        statements, "CostguardContainInstances", "CostguardContainAccessKeys")
    assert_resources_cover(recorder, statements)
    assert statements["CostguardEventQueue"]["Resource"] == [
        "arn:aws:sqs:*:*:costguard-events", "arn:aws:sqs:*:*:costguard-trail-objects"]


def test_without_configured_regions_listing_them_is_allowed_and_made(recorder, tmp_path):
    """Only what differs: ec2:DescribeRegions, called by the cycle to find the regions to scan
    and by `setup events` to find where to set up (a dry run: it reads what a run would)."""
    config = write_config(tmp_path, None)
    recorder.phase = "setup"
    result = CliRunner().invoke(main, ["setup", "events", "-c", str(config), "--dry-run"])
    assert result.exit_code == 0, result.output
    recorder.phase = "read"
    setup = load_setup(str(config))
    store = open_store(setup.config)
    try:
        Engine(setup.config, setup.policies, store, registry=setup.registry).run_cycle(
            [Source.INVENTORY], notify=False)
    finally:
        store.close()
    statements = policy(config)

    assert "ec2:DescribeRegions" in recorder.actions("read")
    assert "ec2:DescribeRegions" in recorder.actions("setup")
    assert statements["CostguardSetupRegions"]["Action"] == ["ec2:DescribeRegions"]
    assert "ec2:DescribeRegions" in statements["CostguardRead"]["Action"]


def test_the_read_statements_hold_no_write_and_the_others_need_flags(tmp_path):
    config = write_config(tmp_path, SCANNED)
    setup = load_setup(str(config))
    document = iam_policy_document(setup.config, setup.policies, setup.registry)
    statements = {s["Sid"]: s for s in document["Statement"]}

    assert set(statements) == {"CostguardRead", "CostguardEventQueue", "CostguardTrailFiles"}
    writes = [a for a in statements["CostguardRead"]["Action"]
              if a.split(":")[1].startswith(WRITE_VERBS)]
    assert writes == []
    assert statements["CostguardRead"]["Resource"] == "*"
    assert "*" not in _list(statements["CostguardEventQueue"]["Resource"])


MEMBER_ROLE = "OrganizationAccountAccessRole"
EXPLICIT = "111122223333"
EXPLICIT_ROLE = f"arn:aws:iam::{EXPLICIT}:role/costguard-audit"


ASKED_OF_ONE_ACCOUNT = {"ec2:DescribeInstanceTypes"}
"""Asked once a cycle of the first account reached (runtime/gather.py `_vcpus`): of a member
only when the management account's inventory failed, so the member role grants it too."""


def write_org_config(tmp_path: Path) -> Path:
    """`write_config`'s account, plus an Organization's members and one explicit account."""
    path = write_config(tmp_path, SCANNED)
    path.write_text(path.read_text().replace(
        "aws: {", f"aws: {{organization: {{role_name: {MEMBER_ROLE}}}, "
        f"accounts: [{{id: '{EXPLICIT}', role_arn: '{EXPLICIT_ROLE}'}}], "))
    return path


def arrange_organization() -> list[str]:
    """Two members, each (through its role, which moto maps to the member's own account) with
    what makes a member's collectors call everything they can: an instance of a type the price
    table lacks, a trail, detectors, and its event queue holding an event."""
    org = boto3.client("organizations", region_name=QUEUED)
    org.create_organization(FeatureSet="ALL")
    members = [org.create_account(AccountName=f"m{n}", Email=f"m{n}@example.com")
               ["CreateAccountStatus"]["AccountId"] for n in range(2)]
    for member in members:
        arrange_member(member_session(member))
    return members


def member_session(account: str) -> boto3.Session:
    creds = boto3.client("sts", region_name=QUEUED).assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/{MEMBER_ROLE}", RoleSessionName="arrange")
    return boto3.Session(**{key: creds["Credentials"][name] for key, name in (
        ("aws_access_key_id", "AccessKeyId"), ("aws_secret_access_key", "SecretAccessKey"),
        ("aws_session_token", "SessionToken"))})


def arrange_member(session: boto3.Session) -> None:
    session.client("ec2", region_name=QUEUED).run_instances(
        ImageId="ami-12345678", MinCount=1, MaxCount=1, InstanceType="c6in.large")
    session.client("s3", region_name=QUEUED).create_bucket(Bucket=f"trail-{id(session)}")
    session.client("cloudtrail", region_name=QUEUED).create_trail(
        Name="trail", S3BucketName=f"trail-{id(session)}", IsMultiRegionTrail=True)
    for region in SCANNED:
        session.client("guardduty", region_name=region).create_detector(Enable=True)
    sqs = session.client("sqs", region_name=QUEUED)
    queue = sqs.create_queue(QueueName="costguard-events")["QueueUrl"]
    sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(
        {"detail-type": "AWS API Call via CloudTrail", "source": "aws.ec2",
         "detail": {"eventVersion": "1.08", "eventTime": "2026-12-06T00:00:00Z",
                    "eventSource": "ec2.amazonaws.com", "eventName": "DescribeInstances",
                    "awsRegion": QUEUED, "userIdentity": {"type": "IAMUser"}}}))


def member_policy(config: Path) -> dict[str, Any]:
    result = CliRunner().invoke(main, ["iam-policy", "-c", str(config), "--member-role",
                                       "--trusted-account", "123456789012"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_an_organization_s_discovery_and_members_are_allowed_exactly(recorder, tmp_path):
    """Discovery (ListAccounts, AssumeRole into each member and the explicit account) is in
    the policy of costguard's own credentials, AssumeRole scoped to the member role's name
    and the configured role; what members are asked is exactly the member role's policy."""
    config = write_org_config(tmp_path)
    setup_events(recorder, config, QUEUED)
    arrange_account()
    members = arrange_organization()
    daemon_cycle(recorder, config)
    statements = policy(config)
    member_roles = {f"arn:aws:iam::{m}:role/{MEMBER_ROLE}" for m in members}

    assert recorder.roles("read") == {None, EXPLICIT_ROLE, *member_roles}
    assert statements["CostguardListMembers"]["Action"] == ["organizations:ListAccounts"]
    assert statements["CostguardAssumeScanRoles"]["Resource"] == [
        EXPLICIT_ROLE, f"arn:aws:iam::*:role/{MEMBER_ROLE}"]
    assert recorder.actions("read", None) == allowed(
        statements, "CostguardRead", "CostguardEventQueue", "CostguardTrailFiles",
        "CostguardListMembers", "CostguardAssumeScanRoles")
    assumed = {p["RoleArn"] for a, _, p, _ in recorder.calls["read"] if a == "sts:AssumeRole"}
    assert assumed == {EXPLICIT_ROLE, *member_roles}
    assert_resources_cover(recorder, statements)

    document = member_policy(config)
    granted = {s["Sid"]: s for s in document["permissions_policy"]["Statement"]}
    assert set(granted) == {"CostguardMemberRead", "CostguardMemberEventQueue"}
    for role in member_roles:
        assert recorder.actions("read", role) | ASKED_OF_ONE_ACCOUNT == allowed(
            granted, *granted), role
    member_calls = Recorder()
    member_calls.calls = {"member": [c for c in recorder.calls["read"] if c[3] in member_roles]}
    assert_resources_cover(member_calls, granted)
    assert document["role_name"] == MEMBER_ROLE
    # The explicit account is a payer: it is asked what the management account is.
    assert recorder.actions("read", EXPLICIT_ROLE) <= allowed(
        statements, "CostguardRead", "CostguardEventQueue", "CostguardTrailFiles")
