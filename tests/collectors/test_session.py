"""The AWS access layer: lazy imports, cached clients, exact call counts, endpoint, assume."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from collections.abc import Iterator

import boto3
import botocore.endpoint
import botocore.session
import pytest
from botocore.awsrequest import AWSResponse
from botocore.stub import Stubber
from moto import mock_aws
from moto.server import ThreadedMotoServer

from costguard import __version__
from costguard.collectors.session import Aws, error_code, error_message, iam_action

ACCOUNT = "123456789012"
OTHER_ACCOUNT = "210987654321"


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials; nothing from the developer's shell or config files leaks in."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")


@pytest.fixture
def aws() -> Iterator[Aws]:
    with mock_aws():
        yield Aws.from_environment(region="us-east-1")


def test_importing_costguard_does_not_import_boto3():
    """The one-shot scan is measured against a bare boto3 script: imports must stay lazy."""
    code = (
        "import sys, costguard, costguard.collectors.session, costguard.collectors.ec2, "
        "costguard.collectors.iam, costguard.collectors.cost_explorer\n"
        "print(sorted(m for m in ('boto3', 'botocore') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_clients_are_cached_per_service_and_region(aws):
    ec2 = aws.client("ec2", "eu-west-1")

    assert aws.client("ec2", "eu-west-1") is ec2
    assert aws.client("ec2", "us-west-2") is not ec2
    assert aws.client("ec2") is aws.client("ec2", "us-east-1")
    assert ec2.meta.region_name == "eu-west-1"
    assert ec2.meta.config.retries["mode"] == "adaptive"
    # botocore stores max_attempts=6 (retries after the first try) as 7 attempts in total.
    assert ec2.meta.config.retries["total_max_attempts"] == 7
    assert ec2.meta.config.user_agent_extra == f"costguard/{__version__}"
    assert aws.total_calls == 0  # creating clients calls nothing


def test_every_operation_and_page_is_counted_once_under_its_iam_action(aws):
    ec2 = aws.client("ec2", "eu-west-1")
    for _ in range(12):
        ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)
    ec2.describe_regions()
    pages = ec2.get_paginator("describe_instances").paginate(PaginationConfig={"PageSize": 5})
    assert sum(len(p["Reservations"]) for p in pages) == 12
    aws.client("iam").get_account_summary()
    aws.client("ce").get_cost_and_usage(
        TimePeriod={"Start": "2024-05-01", "End": "2024-05-02"},
        Granularity="DAILY",
        Metrics=["UnblendedCost"],
    )
    assert aws.account_id() == ACCOUNT
    assert aws.account_id() == ACCOUNT  # cached: one GetCallerIdentity

    assert aws.calls == Counter(
        {
            "ec2:RunInstances": 12,
            "ec2:DescribeRegions": 1,
            "ec2:DescribeInstances": 3,
            "iam:GetAccountSummary": 1,
            "ce:GetCostAndUsage": 1,
            "sts:GetCallerIdentity": 1,
        }
    )
    assert aws.total_calls == 19


def test_a_call_rejected_before_sending_is_not_counted(aws):
    with pytest.raises(Exception, match="Parameter validation failed"):
        aws.client("ec2").describe_instances(MaxResults="many")
    assert aws.total_calls == 0


def test_retries_count_as_one_call(aws, monkeypatch):
    """moto cannot fail on purpose: two HTTP 500s shaped like EC2's error body, then moto."""
    monkeypatch.setattr(botocore.endpoint.time, "sleep", lambda _: None)
    ec2 = aws.client("ec2")
    attempts = []

    def fail_twice(request, **_):
        attempts.append(request.url)
        if len(attempts) <= 2:
            response = AWSResponse(request.url, 500, {}, None)
            response._content = (
                b"<Response><Errors><Error><Code>InternalError</Code>"
                b"<Message>try again</Message></Error></Errors></Response>"
            )
            return response
        return None

    ec2.meta.events.register("before-send.ec2.DescribeKeyPairs", fail_twice)
    answer = ec2.describe_key_pairs()

    assert answer["ResponseMetadata"]["RetryAttempts"] == 2
    assert len(attempts) == 3
    assert aws.calls == Counter({"ec2:DescribeKeyPairs": 1})


def test_calls_answered_by_a_stubber_are_still_counted(aws):
    ec2 = aws.client("ec2")
    with Stubber(ec2) as stub:
        stub.add_response("describe_key_pairs", {"KeyPairs": []})
        ec2.describe_key_pairs()
    assert aws.calls == Counter({"ec2:DescribeKeyPairs": 1})


def test_assumed_account_counts_into_the_same_counter(aws):
    other = aws.assume(f"arn:aws:iam::{OTHER_ACCOUNT}:role/costguard-audit")
    assert aws.total_calls == 0  # the role is assumed on first use

    assert other.account_id() == OTHER_ACCOUNT
    other.client("ec2").create_key_pair(KeyName="in-other-account")
    aws.client("ec2").describe_regions()

    assert aws.calls == Counter(
        {
            "sts:AssumeRole": 1,
            "sts:GetCallerIdentity": 1,
            "ec2:CreateKeyPair": 1,
            "ec2:DescribeRegions": 1,
        }
    )
    assert other.calls is aws.calls
    assert other.total_calls == aws.total_calls == 4
    assert aws.account_id() == ACCOUNT
    assert aws.client("ec2").describe_key_pairs()["KeyPairs"] == []  # it is another account


def test_aws_endpoint_url_is_honoured(monkeypatch):
    """botocore reads AWS_ENDPOINT_URL itself; a real HTTP server must receive the call."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
        monkeypatch.setenv("AWS_ENDPOINT_URL", url)
        aws = Aws.from_environment(region="us-east-1")

        aws.client("ec2").create_key_pair(KeyName="sent-over-http")

        assert aws.client("ec2").meta.endpoint_url == url
        plain = boto3.client("ec2", region_name="us-east-1", endpoint_url=url)
        names = [k["KeyName"] for k in plain.describe_key_pairs()["KeyPairs"]]
        assert "sent-over-http" in names
        plain.delete_key_pair(KeyName="sent-over-http")
        assert aws.calls == Counter({"ec2:CreateKeyPair": 1})
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("service", "operation", "expected"),
    [
        ("ec2", "DescribeInstances", "ec2:DescribeInstances"),
        ("ce", "GetCostAndUsage", "ce:GetCostAndUsage"),
        ("sts", "AssumeRole", "sts:AssumeRole"),
        ("pricing", "GetProducts", "pricing:GetProducts"),  # endpoint api.pricing
        ("cloudwatch", "GetMetricData", "cloudwatch:GetMetricData"),  # endpoint monitoring
        ("sesv2", "SendEmail", "ses:SendEmail"),  # endpoint email
    ],
)
def test_iam_action_names(service, operation, expected):
    metadata = botocore.session.get_session().get_service_model(service).metadata
    assert iam_action(metadata, operation) == expected


def test_error_code_reads_client_errors_only(aws):
    with pytest.raises(Exception) as raised:
        aws.client("iam").get_user(UserName="nobody")
    assert error_code(raised.value) == "NoSuchEntity"
    assert "nobody" in error_message(raised.value)
    assert error_code(ValueError("x")) is None
    assert error_message(ValueError("x")) == ""
