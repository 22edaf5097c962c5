"""Normalizing CloudTrail records and GuardDuty findings, on events shaped as AWS delivers them.

The fixtures in tests/fixtures/events are EventBridge envelopes ("AWS API Call via CloudTrail",
"AWS Console Sign In via CloudTrail", "GuardDuty Finding") and one LookupEvents answer page.
"""

from __future__ import annotations

import copy
import json
import logging
from datetime import datetime, timezone
from pathlib import Path

import pytest

from costguard.activity.api_calls import created_resources, is_world, world_open_permissions
from costguard.activity.event_records import (
    CONSOLE_LOGIN_FAILED,
    EventFormatError,
    PrincipalType,
    ResourceKind,
    camel_keys,
    from_lookup_event,
    from_record,
    guardduty_finding_from_api,
    is_read_only,
    parse_envelope,
    parse_time,
    principal_key,
)
from costguard.snapshot import ApiEvent, GuardDutyFinding, IngressRule

FIXTURES = Path(__file__).parents[1] / "fixtures" / "events"
ACCOUNT = "123456789012"
ROOT_ARN = f"arn:aws:iam::{ACCOUNT}:root"
ROOT_KEY = "AKIAIOSFODNN7EXAMPLE"
ATTACKER_IP = "198.51.100.23"
GO_SDK = "aws-sdk-go/1.44.245 (go1.20.3; linux; amd64)"
SG = "sg-0a1b2c3d4e5f60718"
INSTANCES = [f"i-0a4c3e2f1b9d8{n:04d}" for n in range(10)]


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def api(name: str) -> ApiEvent:
    event = parse_envelope(fixture(name))
    assert isinstance(event, ApiEvent)
    return event


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def hand_event(name: str, request=None, response=None, **extra) -> ApiEvent:
    return ApiEvent(
        event_id="e-1", time=utc(2024, 5, 14, 10), account=ACCOUNT, region="us-east-1",
        service="ec2.amazonaws.com", name=name, request=request or {},
        response=response or {}, **extra,
    )


# --- Envelopes --------------------------------------------------------------------------------


def test_an_api_call_envelope_becomes_an_api_event():
    event = api("run_instances")

    # CloudTrail's eventID, not the envelope's id
    assert event.event_id == "3b2f6d9e-6c1a-4d0b-9f3e-2a7c5e8b1d04"
    assert event.time == utc(2024, 5, 14, 10, 2, 15)
    assert event.time.tzinfo is timezone.utc
    assert (event.account, event.region) == (ACCOUNT, "us-east-1")
    assert (event.service, event.name) == ("ec2.amazonaws.com", "RunInstances")
    assert event.principal_type == PrincipalType.ROOT
    assert event.principal_arn == ROOT_ARN
    assert event.access_key_id == ROOT_KEY
    assert event.user_name is None
    assert (event.source_ip, event.user_agent) == (ATTACKER_IP, GO_SDK)
    assert event.read_only is False
    assert event.error_code is None
    assert event.request["instanceType"] == "c5.4xlarge"
    assert len(event.response["instancesSet"]["items"]) == 10
    assert event.console_login is False


def test_a_string_body_and_a_parsed_one_give_the_same_event():
    text = (FIXTURES / "import_key_pair.json").read_text()

    assert parse_envelope(text) == parse_envelope(json.loads(text))


def test_the_root_console_sign_in_is_a_console_login_without_a_key():
    event = api("console_login_root")

    assert event.console_login is True
    assert event.name == "ConsoleLogin"
    assert event.service == "signin.amazonaws.com"
    assert event.principal_type == PrincipalType.ROOT
    assert event.principal_arn == ROOT_ARN
    assert event.access_key_id is None
    assert event.error_code is None
    assert event.response == {"ConsoleLogin": "Success"}
    assert event.request == {}  # requestParameters is null
    assert event.region == "us-east-1"


def test_a_failed_console_sign_in_has_an_error_code():
    envelope = fixture("console_login_root")
    envelope["detail"]["responseElements"] = {"ConsoleLogin": "Failure"}
    envelope["detail"]["errorMessage"] = "Failed authentication"

    event = parse_envelope(envelope)

    assert event.console_login is True
    assert event.error_code == CONSOLE_LOGIN_FAILED


def test_a_read_call_is_read_only_and_null_parameters_become_empty():
    event = api("get_caller_identity")

    assert event.read_only is True
    assert (event.service, event.name) == ("sts.amazonaws.com", "GetCallerIdentity")
    assert event.request == {} and event.response == {}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("DescribeInstances", True), ("GetObject", True), ("ListUsers", True),
        ("HeadBucket", True), ("LookupEvents", True), ("RunInstances", False),
        ("CreateUser", False), ("StopLogging", False), ("PutBucketPolicy", False),
    ],
)
def test_read_only_is_inferred_from_the_name_when_the_record_lacks_it(name, expected):
    envelope = fixture("stop_logging")
    del envelope["detail"]["readOnly"]
    envelope["detail"]["eventName"] = name

    assert parse_envelope(envelope).read_only is expected
    assert is_read_only(name) is expected


def test_an_error_code_is_kept():
    envelope = fixture("run_instances")
    envelope["detail"]["errorCode"] = "Client.UnauthorizedOperation"
    envelope["detail"]["responseElements"] = None

    event = parse_envelope(envelope)

    assert event.error_code == "Client.UnauthorizedOperation"
    assert event.response == {}


def test_an_assumed_role_keeps_its_session_arn_and_names_the_role():
    envelope = fixture("create_user")
    envelope["detail"]["userIdentity"] = {
        "type": "AssumedRole",
        "principalId": "AROAEXAMPLEID:deploy-session",
        "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/deployer/deploy-session",
        "accountId": ACCOUNT,
        "accessKeyId": "ASIAEXAMPLEKEY",
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role", "principalId": "AROAEXAMPLEID",
                "arn": f"arn:aws:iam::{ACCOUNT}:role/deployer", "accountId": ACCOUNT,
                "userName": "deployer",
            },
            "attributes": {"creationDate": "2024-05-14T09:00:00Z", "mfaAuthenticated": "false"},
        },
    }

    event = parse_envelope(envelope)

    assert event.principal_type == PrincipalType.ASSUMED_ROLE
    assert event.principal_arn == f"arn:aws:sts::{ACCOUNT}:assumed-role/deployer/deploy-session"
    assert principal_key(event) == event.principal_arn
    assert event.user_name == "deployer"
    assert event.access_key_id == "ASIAEXAMPLEKEY"


def test_an_empty_access_key_id_is_none():
    envelope = fixture("create_user")
    envelope["detail"]["userIdentity"] = {
        "type": "IAMUser", "principalId": "AIDAEXAMPLE", "accountId": ACCOUNT,
        "arn": f"arn:aws:iam::{ACCOUNT}:user/alice", "userName": "alice", "accessKeyId": "",
    }

    event = parse_envelope(envelope)

    assert event.access_key_id is None
    assert event.user_name == "alice"
    assert principal_key(event) == f"arn:aws:iam::{ACCOUNT}:user/alice"


def test_without_an_event_id_the_envelope_id_stands_in():
    envelope = fixture("stop_logging")
    del envelope["detail"]["eventID"]

    assert parse_envelope(envelope).event_id == envelope["id"]


def test_a_guardduty_envelope_becomes_a_finding():
    finding = parse_envelope(fixture("guardduty_bitcoin_dns"))

    assert isinstance(finding, GuardDutyFinding)
    assert finding.finding_id == "a2c7f4e1b93d5e6f8a0b1c2d3e4f5a6b"
    assert finding.type == "CryptoCurrency:EC2/BitcoinTool.B!DNS"
    assert finding.severity == 8.0 and isinstance(finding.severity, float)
    assert (finding.account, finding.region) == (ACCOUNT, "us-east-1")
    assert finding.title.startswith(f"EC2 instance {INSTANCES[0]} is querying")
    assert "cryptocurrency mining" in finding.description
    assert finding.created_at == utc(2024, 5, 14, 10, 12, 3, 512000)
    assert finding.updated_at == finding.created_at
    assert finding.resource["instanceDetails"]["instanceId"] == INSTANCES[0]
    assert finding.service["action"]["dnsRequestAction"]["domain"] == "xmr-eu1.nanopool.org"


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "[1, 2]",
        json.dumps({"detail-type": "EC2 Instance State-change Notification", "detail": {}}),
        json.dumps({"detail-type": "AWS API Call via CloudTrail", "detail": "text"}),
        json.dumps({"detail-type": "AWS API Call via CloudTrail", "detail": {"eventName": "X"}}),
        json.dumps({"detail-type": "GuardDuty Finding", "detail": {"id": "abc"}}),
        json.dumps({"detail-type": "AWS API Call via CloudTrail",
                    "detail": {"eventID": "e", "eventName": "X", "eventTime": "yesterday"}}),
    ],
    ids=["text", "array", "other-type", "detail-not-object", "no-id", "finding-no-type",
         "bad-time"],
)
def test_what_costguard_does_not_read_is_none(body):
    assert parse_envelope(body) is None


def test_an_ignored_detail_type_is_logged_at_debug(caplog):
    caplog.set_level(logging.DEBUG, logger="costguard.activity.event_records")
    body = {"detail-type": "EC2 Instance State-change Notification", "detail": {}}

    assert parse_envelope(body) is None

    [record] = caplog.records
    assert record.levelno == logging.DEBUG
    assert "EC2 Instance State-change Notification" in record.getMessage()


# --- LookupEvents -----------------------------------------------------------------------------


def lookup_entries() -> list[dict]:
    """The page as botocore hands it over: EventTime parsed from epoch seconds."""
    entries = fixture("lookup_events_page")["Events"]
    for entry in entries:
        entry["EventTime"] = datetime.fromtimestamp(entry["EventTime"], timezone.utc)
    return entries


def test_a_lookup_entry_equals_the_same_call_delivered_by_eventbridge():
    """Same eventID either way, so the engine dedupes the queue against LookupEvents."""
    entries = {e["EventName"]: e for e in lookup_entries()}

    for name, fixture_name in [
        ("RunInstances", "run_instances"),
        ("AuthorizeSecurityGroupIngress", "authorize_security_group_ingress"),
        ("CreateSecurityGroup", "create_security_group"),
    ]:
        assert from_lookup_event(entries[name]) == api(fixture_name)


def test_a_lookup_entry_without_its_record_is_built_from_the_entry():
    entry = {
        "EventId": "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", "EventName": "CreateKeyPair",
        "ReadOnly": "false", "AccessKeyId": ROOT_KEY,
        "EventTime": utc(2024, 5, 14, 10, 1), "EventSource": "ec2.amazonaws.com",
        "Username": "root", "Resources": [],
    }

    event = from_lookup_event(entry, account=ACCOUNT, region="eu-west-1")

    assert event.event_id == "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
    assert (event.name, event.service) == ("CreateKeyPair", "ec2.amazonaws.com")
    assert event.time == utc(2024, 5, 14, 10, 1)
    assert (event.account, event.region) == (ACCOUNT, "eu-west-1")
    assert event.read_only is False
    assert event.access_key_id == ROOT_KEY


def test_a_lookup_entry_with_a_garbled_record_is_an_error():
    entry = {"EventId": "x", "EventName": "RunInstances", "CloudTrailEvent": "[]"}

    with pytest.raises(EventFormatError):
        from_lookup_event(entry)


# --- What a call created ----------------------------------------------------------------------


def test_run_instances_created_its_ten_instances():
    assert created_resources(api("run_instances")) == {"instance": INSTANCES}


def test_import_key_pair_created_a_key_pair():
    assert created_resources(api("import_key_pair")) == {"key_pair": ["deployer"]}


def test_create_key_pair_created_a_key_pair():
    event = hand_event("CreateKeyPair", {"keyName": "k1"}, {"keyName": "k1", "keyPairId": "key-1"})

    assert created_resources(event) == {ResourceKind.KEY_PAIR.value: ["k1"]}


def test_create_security_group_created_its_group():
    assert created_resources(api("create_security_group")) == {"security_group": [SG]}


def test_world_open_ingress_names_the_group_and_only_the_open_rule():
    event = api("authorize_security_group_ingress")

    assert created_resources(event) == {
        "security_group": [SG],
        "security_group_rule": ["sgr-0123456789abcdef0"],  # not the 10.0.0.0/8 one
    }
    assert world_open_permissions(event) == [
        IngressRule(protocol="tcp", from_port=22, to_port=22, cidrs=("0.0.0.0/0",))
    ]


def test_private_ingress_opens_nothing():
    envelope = fixture("authorize_security_group_ingress")
    detail = envelope["detail"]
    detail["requestParameters"]["ipPermissions"]["items"] = (
        detail["requestParameters"]["ipPermissions"]["items"][1:]
    )
    detail["responseElements"]["securityGroupRuleSet"]["items"] = (
        detail["responseElements"]["securityGroupRuleSet"]["items"][1:]
    )
    event = parse_envelope(envelope)

    assert created_resources(event) == {}
    assert world_open_permissions(event) == []


def test_ingress_by_group_name_takes_the_group_id_from_the_response():
    """In a default VPC a group may be named instead; the response still carries its id."""
    event = hand_event(
        "AuthorizeSecurityGroupIngress",
        {"groupName": "web", "ipPermissions": {"items": [
            {"ipProtocol": "-1", "ipv6Ranges": {"items": [{"cidrIpv6": "::/0"}]}},
        ]}},
        {"_return": True, "securityGroupRuleSet": {"items": [
            {"groupId": "sg-0fedcba987654321", "securityGroupRuleId": "sgr-0aaa",
             "isEgress": False, "ipProtocol": "-1", "cidrIpv6": "::/0"},
        ]}},
    )

    assert created_resources(event) == {
        "security_group": ["sg-0fedcba987654321"], "security_group_rule": ["sgr-0aaa"],
    }
    assert world_open_permissions(event) == [
        IngressRule(protocol="-1", from_port=None, to_port=None, cidrs=("::/0",))
    ]


def test_create_user_created_a_user():
    assert created_resources(api("create_user")) == {"user": ["backup-svc"]}


def test_create_access_key_created_a_key():
    assert created_resources(api("create_access_key")) == {"access_key": ["AKIAI44QH8DHBEXAMPLE"]}


def test_create_login_profile_names_the_user():
    event = hand_event(
        "CreateLoginProfile",
        {"userName": "backup-svc", "password": "HIDDEN_DUE_TO_SECURITY_REASONS",
         "passwordResetRequired": False},
        {"loginProfile": {"userName": "backup-svc", "passwordResetRequired": False}},
    )

    assert created_resources(event) == {"login_profile": ["backup-svc"]}


def test_create_role_names_the_role():
    event = hand_event(
        "CreateRole", {"roleName": "ops-admin", "assumeRolePolicyDocument": "{}"},
        {"role": {"roleName": "ops-admin", "arn": f"arn:aws:iam::{ACCOUNT}:role/ops-admin"}},
    )

    assert created_resources(event) == {"role": ["ops-admin"]}


def test_a_failed_call_created_nothing():
    event = hand_event("CreateUser", {"userName": "x"}, error_code="AccessDenied")

    assert created_resources(event) == {}


def test_calls_that_create_nothing_give_nothing():
    assert created_resources(api("stop_logging")) == {}
    assert created_resources(api("console_login_root")) == {}


@pytest.mark.parametrize(
    ("cidr", "expected"),
    [("0.0.0.0/0", True), ("::/0", True), (" 0.0.0.0/0", True), ("0.0.0.0/1", False),
     ("10.0.0.0/8", False), ("203.0.113.7/32", False), ("nonsense", False)],
)
def test_is_world(cidr, expected):
    assert is_world(cidr) is expected


# --- Principals and times ---------------------------------------------------------------------


def test_root_is_keyed_by_the_root_arn_even_without_an_arn():
    record = copy.deepcopy(fixture("stop_logging")["detail"])
    del record["userIdentity"]["arn"]

    event = from_record(record)

    assert event.principal_arn == ROOT_ARN
    assert principal_key(event) == ROOT_ARN


def test_an_aws_service_has_no_principal_key():
    record = fixture("stop_logging")["detail"]
    record["userIdentity"] = {"type": "AWSService", "invokedBy": "autoscaling.amazonaws.com"}

    assert principal_key(from_record(record)) is None


def test_another_account_without_an_arn_is_keyed_by_that_account():
    record = fixture("stop_logging")["detail"]
    record["userIdentity"] = {
        "type": "AWSAccount", "principalId": "AIDAOTHER", "accountId": "111122223333",
    }

    assert principal_key(from_record(record)) == "arn:aws:iam::111122223333:root"


def test_times_are_aware_utc():
    assert parse_time("2024-05-14T10:12:03.512Z") == utc(2024, 5, 14, 10, 12, 3, 512000)
    assert parse_time("2024-05-14T12:00:00+02:00") == utc(2024, 5, 14, 10)
    assert parse_time(datetime(2024, 5, 14, 10)).tzinfo is timezone.utc
    with pytest.raises(EventFormatError):
        parse_time(None)


# --- GuardDuty from GetFindings ---------------------------------------------------------------


def pascal(value):
    """The finding as GetFindings answers it: the same document with PascalCase keys."""
    if isinstance(value, dict):
        return {k[:1].upper() + k[1:]: pascal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [pascal(v) for v in value]
    return value


def test_a_getfindings_finding_equals_the_eventbridge_one():
    detail = fixture("guardduty_bitcoin_dns")["detail"]

    assert guardduty_finding_from_api(pascal(detail)) == parse_envelope(
        fixture("guardduty_bitcoin_dns")
    )


def test_camel_keys_lowers_first_letters_all_the_way_down():
    assert camel_keys({"Resource": {"InstanceDetails": [{"InstanceId": "i-1"}]}}) == {
        "resource": {"instanceDetails": [{"instanceId": "i-1"}]}
    }
