"""iam_admin_grant: an IAM identity made an administrator, and the key or password made for it."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from costguard.activity.event_records import parse_envelope
from costguard.alerts.render import text_to_html
from costguard.checks.iam_admin_grant import IamAdminGrant, IamAdminGrantParams
from costguard.model import GLOBAL_REGION, Severity
from costguard.snapshot import ApiEvent

from .conftest import (
    ACCOUNT,
    DEV_ARN,
    DEV_KEY,
    HOSTILE,
    ROOT_ARN,
    ROOT_KEY,
    SCRIPT,
    ago,
    assert_only_quoted,
    event,
    render,
    run,
    snapshot,
)

FIXTURES = Path(__file__).parents[1] / "fixtures" / "events"
ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
USER = "backup-operator"
USER_ARN = f"arn:aws:iam::{ACCOUNT}:user/{USER}"
NEW_KEY = "AKIA4Q7ZBACKUPEXMPL2"
EVERYTHING = {"Version": "2012-10-17",
              "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
NAME_KEY = {"User": "userName", "Role": "roleName", "Group": "groupName"}


def attach(name: str = USER, policy: str = ADMIN, kind: str = "User", **kw: Any) -> ApiEvent:
    """Attach{User,Role,Group}Policy as CloudTrail records it (no response elements)."""
    return event(f"Attach{kind}Policy", request={NAME_KEY[kind]: name, "policyArn": policy},
                 **kw)


def put(name: str = USER, document: Any = None, policy: str = "backup", kind: str = "User",
        **kw: Any) -> ApiEvent:
    """Put{User,Role,Group}Policy; the document is a JSON string, as CloudTrail records it."""
    text = document if isinstance(document, str) else json.dumps(document or EVERYTHING)
    return event(f"Put{kind}Policy", request={NAME_KEY[kind]: name, "policyName": policy,
                                              "policyDocument": text}, **kw)


def access_key(name: str = USER, key: str = NEW_KEY, **kw: Any) -> ApiEvent:
    """CreateAccessKey for `name`, with the new key in the response."""
    return event("CreateAccessKey", request={"userName": name}, response={"accessKey": {
        "userName": name, "accessKeyId": key, "status": "Active",
        "createDate": "Nov 22, 2026, 11:50:30 AM"}}, **kw)


def grants(*events: ApiEvent, **params: Any) -> list:
    return run(IamAdminGrant, snapshot(events=events), **params)


# --- records as CloudTrail delivers them --------------------------------------------------


def envelope(name: str) -> ApiEvent:
    parsed = parse_envelope(json.loads((FIXTURES / f"{name}.json").read_text()))
    assert isinstance(parsed, ApiEvent)
    return parsed


def test_a_grant_and_a_key_from_the_same_caller_are_one_critical_finding():
    records = (envelope("attach_user_policy"), envelope("create_access_key"))
    at = datetime(2024, 5, 14, 10, 10, tzinfo=timezone.utc)

    [finding] = run(IamAdminGrant, snapshot(events=records, now=at), now=at)

    root, user = "arn:aws:iam::123456789012:root", "arn:aws:iam::123456789012:user/backup-svc"
    assert (finding.account, finding.region, finding.resource) == (
        "123456789012", GLOBAL_REGION, user)
    assert finding.severity is Severity.CRITICAL
    assert finding.title == (
        "IAM user backup-svc given AdministratorAccess by root, then an access key for it")
    assert finding.entities == {f"principal:{root}", "access_key:AKIAIOSFODNN7EXAMPLE",
                                f"principal:{user}", "access_key:AKIAI44QH8DHBEXAMPLE"}
    details = finding.details
    assert details["same_caller"] is True
    assert [g["policy_arn"] for g in details["grants"]] == [ADMIN]
    assert [c["new_access_key_id"] for c in details["credentials"]] == ["AKIAI44QH8DHBEXAMPLE"]
    assert details["callers"][0]["root"] is True
    assert details["source_ips"] == ["198.51.100.23"]


def test_an_inline_policy_allowing_everything_on_a_role_is_a_grant():
    record = envelope("put_role_policy")
    at = datetime(2024, 5, 14, 10, 10, tzinfo=timezone.utc)

    [finding] = run(IamAdminGrant, snapshot(events=(record,), now=at), now=at)

    assert finding.resource == "arn:aws:iam::123456789012:role/ci-deploy"
    assert finding.severity is Severity.HIGH
    assert finding.title == ("IAM role ci-deploy given inline policy ops-break-glass allowing "
                             "everything by user/deploy-bot")
    [grant] = finding.details["grants"]
    assert grant["statements"] == [{"Sid": "Ops", "Effect": "Allow", "Action": "*:*",
                                    "Resource": "*"}]
    assert "access_key:AKIAI44QH8DHBDEPLOY1" in finding.entities


# --- what counts as a grant ----------------------------------------------------------------


def test_a_grant_alone_is_high_and_a_key_alone_is_nothing():
    [finding] = grants(attach())

    assert finding.severity is Severity.HIGH
    assert finding.details["credentials"] == []
    assert grants(access_key()) == []


@pytest.mark.parametrize("kind", ["User", "Role", "Group"])
def test_every_kind_of_grantee_is_named_by_its_arn(kind):
    [finding] = grants(attach("ops", kind=kind))

    assert finding.resource == f"arn:aws:iam::{ACCOUNT}:{kind.lower()}/ops"
    assert finding.details["grantee_kind"] == kind.lower()


def test_failed_calls_and_other_policies_grant_nothing():
    assert grants(attach(error="AccessDenied")) == []
    assert grants(put(error="AccessDenied")) == []
    assert grants(attach(policy="arn:aws:iam::aws:policy/ReadOnlyAccess")) == []


def test_the_admin_policies_are_a_parameter():
    mine = f"arn:aws:iam::{ACCOUNT}:policy/break-glass"

    assert len(grants(attach(policy=mine), admin_policy_arns=[mine])) == 1
    assert grants(attach(), admin_policy_arns=[mine]) == []


@pytest.mark.parametrize(
    ("statement", "admin"),
    [
        ({"Effect": "Allow", "Action": "*", "Resource": "*"}, True),
        ({"Effect": "Allow", "Action": ["s3:GetObject", "*:*"], "Resource": ["*"]}, True),
        ({"Effect": "Allow", "Action": "s3:*", "Resource": "*"}, False),
        ({"Effect": "Allow", "Action": "*", "Resource": "arn:aws:s3:::logs/*"}, False),
        ({"Effect": "Deny", "Action": "*", "Resource": "*"}, False),
    ],
)
def test_an_inline_policy_counts_when_it_allows_every_action_on_every_resource(statement, admin):
    document = {"Version": "2012-10-17", "Statement": [statement]}

    assert len(grants(put(document=document))) == int(admin)


def test_url_encoded_and_single_statement_documents_are_read():
    encoded = ("%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%7B%22Effect%22%3A"
               "%22Allow%22%2C%22Action%22%3A%22%2A%22%2C%22Resource%22%3A%22%2A%22%7D%7D")

    assert len(grants(put(document=encoded))) == 1
    assert grants(put(document="%7Bnot json")) == []


# --- the credential that follows ----------------------------------------------------------


def test_a_key_or_password_within_the_window_joins_the_grant():
    password = event("CreateLoginProfile", request={"userName": USER}, at=ago(minutes=5))
    late = access_key(key="AKIALATEKEY000000001", at=ago(hours=3))

    [finding] = grants(attach(at=ago(minutes=10)), password, late)

    assert [c["call"] for c in finding.details["credentials"]] == ["CreateLoginProfile"]
    assert finding.title.endswith("then a console password for it")
    assert "access_key:AKIALATEKEY000000001" not in finding.entities


def test_a_key_made_by_someone_else_joins_but_does_not_raise():
    [finding] = grants(attach(), access_key(principal=DEV_ARN, key=NEW_KEY, at=ago(minutes=9)))

    assert finding.severity is Severity.HIGH
    assert finding.details["same_caller"] is False
    assert {f"principal:{DEV_ARN}", f"principal:{ROOT_ARN}", f"access_key:{ROOT_KEY}",
            f"access_key:{NEW_KEY}"} <= finding.entities


def test_a_role_gets_no_credentials_joined():
    [finding] = grants(attach("ops", kind="Role"), access_key("ops"))

    assert finding.details["credentials"] == []
    assert finding.severity is Severity.HIGH


def test_grants_to_one_grantee_are_one_finding_and_to_two_are_two():
    found = grants(attach(at=ago(minutes=20)), put(at=ago(minutes=15)), attach("other"))

    assert [len(f.details["grants"]) for f in found] == [2, 1]
    assert [f.resource for f in found] == [USER_ARN, f"arn:aws:iam::{ACCOUNT}:user/other"]


# --- taking it back ------------------------------------------------------------------------


def test_a_grant_taken_back_is_no_finding():
    detach = event("DetachUserPolicy", request={"userName": USER, "policyArn": ADMIN},
                   at=ago(minutes=2))
    delete = event("DeleteUserPolicy", request={"userName": USER, "policyName": "backup"},
                   at=ago(minutes=2))
    narrowed = put(document={"Statement": [{"Effect": "Allow", "Action": "s3:GetObject",
                                            "Resource": "*"}]}, at=ago(minutes=2))
    gone = event("DeleteUser", request={"userName": USER}, at=ago(minutes=1))

    assert grants(attach(), detach) == []
    assert grants(put(), delete) == []
    assert grants(put(), narrowed) == []
    assert grants(attach(), gone) == []


def test_taking_back_something_else_or_failing_to_leaves_the_finding():
    other = event("DetachUserPolicy", request={"userName": USER, "policyArn": "arn:x"},
                  at=ago(minutes=2))
    refused = event("DetachUserPolicy", request={"userName": USER, "policyArn": ADMIN},
                    at=ago(minutes=2), error="AccessDenied")
    before = event("DetachUserPolicy", request={"userName": USER, "policyArn": ADMIN},
                   at=ago(minutes=30))

    assert len(grants(attach(), other)) == 1
    assert len(grants(attach(), refused)) == 1
    assert len(grants(attach(), before)) == 1


def test_a_grant_older_than_the_window_clears():
    assert grants(attach(at=ago(minutes=90)), window_minutes=60) == []
    assert len(grants(attach(at=ago(minutes=50)), window_minutes=60)) == 1


def test_params_forbid_unknown_keys_and_need_policy_arns():
    with pytest.raises(ValidationError, match="extra"):
        IamAdminGrantParams.model_validate({"admin_policies": ["AdministratorAccess"]})
    with pytest.raises(ValidationError, match="not a policy ARN"):
        IamAdminGrantParams.model_validate({"admin_policy_arns": ["AdministratorAccess"]})


# --- remediation ---------------------------------------------------------------------------


def test_remediation_names_each_command_that_undoes_the_grant_and_stops_the_caller():
    found = grants(attach(), put(at=ago(minutes=8)), access_key(at=ago(minutes=7)),
                   put("ci", kind="Role", principal=DEV_ARN, key=DEV_KEY))

    text = render("iam_admin_grant", found)

    assert f"attached {ADMIN}\n- PutUserPolicy by {ROOT_ARN}" in text  # one call a line
    assert f"aws iam detach-user-policy --user-name {USER} --policy-arn {ADMIN}" in text
    assert f"aws iam delete-user-policy --user-name {USER} --policy-name backup" in text
    assert (f"aws iam update-access-key --user-name {USER} --access-key-id {NEW_KEY} "
            "--status Inactive") in text
    assert "aws iam delete-role-policy --role-name ci --policy-name backup" in text
    assert (f"aws iam update-access-key --user-name dev --access-key-id {DEV_KEY} "
            "--status Inactive") in text
    assert f"The root user, with access key {ROOT_KEY}: only the root user can" in text
    assert "The same caller granted the rights" in text


def test_remediation_quotes_every_name_the_caller_chose():
    found = grants(attach(HOSTILE), put(HOSTILE, policy=SCRIPT), access_key(HOSTILE),
                   event("CreateLoginProfile", request={"userName": HOSTILE}))

    text = render("iam_admin_grant", found)

    assert_only_quoted(text, HOSTILE)
    assert_only_quoted(text, SCRIPT)
    assert "<script>" not in text_to_html(text)
