"""IAM grants and new credentials read from CloudTrail records (activity/iam_grants.py)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from costguard.activity.iam_grants import (
    Credential,
    admin_statements,
    new_credential,
    policy_document,
)
from costguard.snapshot import ApiEvent

ACCOUNT = "123456789012"
NOW = datetime(2024, 5, 14, 10, 6, tzinfo=timezone.utc)


def iam_call(name: str, request=None, response=None, **identity) -> ApiEvent:
    return ApiEvent(event_id="e-1", time=NOW, account=ACCOUNT, region="us-east-1",
                    service="iam.amazonaws.com", name=name, request=request or {},
                    response=response or {}, **identity)


@pytest.mark.parametrize(
    "text",
    [
        '{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}',
        "%7B%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22*%22%2C"
        "%22Resource%22%3A%22*%22%7D%5D%7D",
        "%7B%22Statement%22:+%7B%22Effect%22:+%22Allow%22,+%22Action%22:+%22*%22,"
        "+%22Resource%22:+%22*%22%7D%7D",
    ],
    ids=["json", "url-encoded", "form-encoded"],
)
def test_a_policy_document_is_read_however_the_record_encodes_it(text):
    assert admin_statements(policy_document(text)) == [
        {"Effect": "Allow", "Action": "*", "Resource": "*"}]


@pytest.mark.parametrize("value", [None, 7, "", "not json", "[1, 2]", "%7Bbroken"])
def test_anything_else_is_no_document(value):
    assert policy_document(value) is None
    assert admin_statements(policy_document(value)) == []


def test_a_key_made_without_a_user_name_is_the_calling_users_own():
    made = new_credential(iam_call(
        "CreateAccessKey", response={"accessKey": {"accessKeyId": "AKIANEW", "status": "Active"}},
        principal_type="IAMUser", user_name="dev"))

    assert made is not None
    assert (made.kind, made.user_name, made.access_key_id) == (
        Credential.ACCESS_KEY, "dev", "AKIANEW")


def test_failed_calls_and_other_services_create_nothing():
    failed = iam_call("CreateLoginProfile", {"userName": "x"}, error_code="EntityAlreadyExists")
    other = ApiEvent(event_id="e-2", time=NOW, account=ACCOUNT, region="us-east-1",
                     service="transfer.amazonaws.com", name="CreateAccessKey",
                     request={"userName": "x"})

    assert new_credential(failed) is None
    assert new_credential(other) is None
    assert new_credential(iam_call("CreateLoginProfile", {"userName": "x"})).kind is (
        Credential.PASSWORD)
