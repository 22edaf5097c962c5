"""Accounts to scan: an Organization's active members through their role, the management
account, explicit accounts; credentials refreshed before they expire.

moto scopes every backend by account id, and its AssumeRole hands out credentials that moto
maps to the account in the role ARN, so a member's instances created with the member's
credentials are really seen only under that member.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from moto import mock_aws
from moto.core.models import DEFAULT_ACCOUNT_ID

from costguard.collectors.accounts import TargetError, member_role_arn, resolve_targets
from costguard.collectors.session import Aws
from costguard.model import Source
from costguard.runtime.gather import gather
from costguard.settings.sections import AccountConfig, AwsConfig, OrganizationConfig

REGION = "us-east-1"
ROLE = "OrganizationAccountAccessRole"
MANAGEMENT = DEFAULT_ACCOUNT_ID


@pytest.fixture
def org() -> Iterator[list[str]]:
    """An Organization (in moto) with three active members and one closed one."""
    with mock_aws():
        client = boto3.client("organizations", region_name=REGION)
        client.create_organization(FeatureSet="ALL")
        members = [client.create_account(AccountName=f"member-{i}", Email=f"m{i}@example.com")
                   ["CreateAccountStatus"]["AccountId"] for i in range(4)]
        client.close_account(AccountId=members[3])
        yield members[:3]


def member_client(account: str, service: str) -> Any:
    """A client with the member's own credentials, to arrange moto's state in that account."""
    creds = boto3.client("sts", region_name=REGION).assume_role(
        RoleArn=member_role_arn("aws", account, ROLE), RoleSessionName="setup")["Credentials"]
    return boto3.client(service, region_name=REGION, aws_access_key_id=creds["AccessKeyId"],
                        aws_secret_access_key=creds["SecretAccessKey"],
                        aws_session_token=creds["SessionToken"])


def org_config(**org: Any) -> AwsConfig:
    return AwsConfig(regions=[REGION], organization=OrganizationConfig(**org))


def test_active_members_and_the_management_account_are_scanned_the_excluded_ones_not(org):
    base = Aws.from_environment(region=REGION)

    targets = resolve_targets(org_config(exclude=[org[2]]), base)

    assert [t.account for t in targets] == [MANAGEMENT, org[0], org[1]]
    assert [t.payer for t in targets] == [True, False, False]
    assert targets[0].aws is base and targets[0].role_arn is None
    assert targets[1].role_arn == f"arn:aws:iam::{org[0]}:role/{ROLE}"
    assert targets[1].name == "member-0"


def test_explicit_accounts_and_members_are_merged_by_id(org):
    explicit = AccountConfig(id=org[0], role_arn=f"arn:aws:iam::{org[0]}:role/costguard-read")
    config = AwsConfig(accounts=[explicit], organization=OrganizationConfig())

    targets = resolve_targets(config, Aws.from_environment(region=REGION))

    assert sorted(t.account for t in targets) == sorted([MANAGEMENT, *org])
    assert next(t for t in targets if t.account == org[0]).role_arn == explicit.role_arn


def test_a_member_s_instances_are_seen_under_that_member_only(org):
    member_client(org[0], "ec2").run_instances(ImageId="ami-12345678", MinCount=2, MaxCount=2,
                                               InstanceType="t3.micro")
    targets = resolve_targets(org_config(), Aws.from_environment(region=REGION))
    for target in targets:
        target.regions = [REGION]

    gathered = gather(targets, {Source.INVENTORY}, workers=4)

    counts = {inv.account: len(inv.instances) for inv in gathered.inventory}
    assert counts == {MANAGEMENT: 0, org[0]: 2, org[1]: 0, org[2]: 0}
    assert gathered.is_complete
    assert targets[0].aws.calls["sts:AssumeRole"] == 3  # once per member, not per region


def sent_param(params: dict[str, Any], name: str) -> Any:
    """A parameter of the request as serialized (STS speaks the query protocol: a form body)."""
    body = params.get("body")
    return body.get(name) if isinstance(body, dict) else None


def refuse_assume_role(role_arn: str):
    """moto's AssumeRole does not check that the role exists (its documentation says so), so
    the refusal AWS sends for a missing role or a trust policy that does not name the caller
    is answered here, in AWS's documented shape, the way botocore's Stubber answers calls."""

    def handler(params: dict[str, Any], **_: Any) -> Any:
        if sent_param(params, "RoleArn") != role_arn:
            return None
        body = {"Error": {"Code": "AccessDenied", "Message": (
            f"User: arn:aws:iam::{MANAGEMENT}:user/costguard is not authorized to perform: "
            f"sts:AssumeRole on resource: {role_arn}")},
            "ResponseMetadata": {"HTTPStatusCode": 403}}
        return AWSResponse("https://sts.amazonaws.com/", 403, {}, None), body

    return handler


def test_a_member_whose_role_cannot_be_assumed_is_denied_and_the_others_are_scanned(org):
    base = Aws.from_environment(region=REGION)
    missing = member_role_arn("aws", org[1], ROLE)
    base._session.events.register("before-call.sts.AssumeRole", refuse_assume_role(missing))
    targets = resolve_targets(org_config(), base)
    for target in targets:
        target.regions = [REGION]

    gathered = gather(targets, {Source.INVENTORY, Source.CREDENTIAL_REPORT}, workers=3)

    assert set(gathered.denied) == {org[1]}
    assert "AssumeRole refused (AccessDenied)" in gathered.denied[org[1]]
    assert gathered.reached == {MANAGEMENT, org[0], org[2]}
    assert {inv.account for inv in gathered.inventory} == {MANAGEMENT, org[0], org[2]}
    assert not gathered.is_complete


def test_an_external_id_is_required_from_its_environment_variable(org):
    config = org_config(external_id_env="COSTGUARD_EXTERNAL_ID")
    base = Aws.from_environment(region=REGION)

    with pytest.raises(TargetError, match="COSTGUARD_EXTERNAL_ID"):
        resolve_targets(config, base, env={})
    sent: list[str] = []
    base._session.events.register("before-call.sts.AssumeRole", lambda params, **_:
                                  sent.append(sent_param(params, "ExternalId")))
    [_, member, *_] = resolve_targets(config, base, env={"COSTGUARD_EXTERNAL_ID": "s3cret"})
    member.aws.account_id()
    assert sent == ["s3cret"]


def test_assumed_credentials_are_refreshed_before_they_expire(org):
    """botocore's refreshable credentials, with an injected clock: no refresh while the
    credentials have long to live, a new AssumeRole once fewer than 15 minutes are left."""
    now = [datetime.now(timezone.utc)]
    base = Aws.from_environment(region=REGION)
    [member] = [t for t in resolve_targets(org_config(), base, clock=lambda: now[0])
                if t.account == org[0]]
    ec2 = member.aws.client("ec2", REGION)

    ec2.describe_instances()
    ec2.describe_instances()
    assert base.calls["sts:AssumeRole"] == 1
    expiry = member.aws._session.get_credentials()._expiry_time
    now[0] = expiry - timedelta(minutes=14)
    ec2.describe_instances()
    assert base.calls["sts:AssumeRole"] == 2
    assert member.aws._session.get_credentials()._expiry_time > expiry - timedelta(minutes=14)
