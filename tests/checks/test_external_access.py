"""external_access: snapshots, images and roles opened to an account nobody listed."""

from __future__ import annotations

import json
from dataclasses import replace

from costguard.checks.external_access import ExternalAccess
from costguard.model import GLOBAL_REGION, Severity

from .conftest import (
    ACCOUNT,
    DEV_ARN,
    DEV_KEY,
    HOSTILE,
    OTHER_ACCOUNT,
    ago,
    assert_only_quoted,
    event,
    items,
    render,
    run,
    snapshot,
)

STRANGER = "999988887777"


def call(name: str, service: str, request: dict, **kw):
    kw.setdefault("principal", DEV_ARN)
    kw.setdefault("key", DEV_KEY)
    return replace(event(name, request=request, **kw), service=f"{service}.amazonaws.com")


def share_snapshot(account: str = STRANGER, **kw):
    return call("ModifySnapshotAttribute", "ec2", {
        "snapshotId": "snap-0abc", "attributeType": "CREATE_VOLUME_PERMISSION",
        "createVolumePermission": {"add": items(
            {"group": "all"} if account == "all" else {"userId": account})}}, **kw)


def trust(principal, name: str = "ops", condition: dict | None = None, **kw):
    statement = {"Effect": "Allow", "Principal": {"AWS": principal},
                 "Action": "sts:AssumeRole", **({"Condition": condition} if condition else {})}
    return call("CreateRole", "iam", {"roleName": name, "assumeRolePolicyDocument": json.dumps(
        {"Version": "2012-10-17", "Statement": [statement]})}, **kw)


def found(*events, **params):
    return run(ExternalAccess, snapshot(events=events, accounts=(ACCOUNT,)), **params)


def test_a_snapshot_shared_with_an_unknown_account_is_a_finding():
    [finding] = found(share_snapshot())

    assert finding.resource == f"arn:aws:ec2:us-east-1:{ACCOUNT}:snapshot/snap-0abc"
    assert finding.details["accounts"] == [STRANGER]
    assert finding.severity is Severity.HIGH
    assert f"caller_key:{DEV_KEY}" in finding.entities


def test_known_accounts_own_accounts_public_and_refused_shares_are_not():
    assert found(share_snapshot(STRANGER), known_accounts=[STRANGER]) == []
    assert found(share_snapshot(ACCOUNT)) == []
    assert found(share_snapshot("all")) == []  # the shipped Sigma rule's
    assert found(share_snapshot(error="AccessDenied")) == []
    assert found(share_snapshot(at=ago(days=2))) == []


def test_images_and_database_snapshots():
    image = call("ModifyImageAttribute", "ec2", {
        "imageId": "ami-0abc", "launchPermission": {"add": items({"userId": STRANGER})}})
    rds = call("ModifyDBSnapshotAttribute", "rds", {
        "dBSnapshotIdentifier": "prod-db", "attributeName": "restore",
        "valuesToAdd": [STRANGER]})
    resources = {f.resource for f in found(image, rds)}
    assert resources == {"arn:aws:ec2:us-east-1::image/ami-0abc",
                         f"arn:aws:rds:us-east-1:{ACCOUNT}:snapshot:prod-db"}


def test_roles_trusting_another_account_or_anyone():
    [other] = found(trust(f"arn:aws:iam::{STRANGER}:root"))
    [anyone] = found(trust("*", name="open"))

    assert (other.region, other.details["accounts"]) == (GLOBAL_REGION, [STRANGER])
    assert anyone.severity is Severity.CRITICAL
    assert found(trust("*", condition={"StringEquals": {"aws:PrincipalOrgID": "o-1"}})) == []
    assert found(trust(f"arn:aws:iam::{OTHER_ACCOUNT}:root"),
                 known_accounts=[OTHER_ACCOUNT]) == []


def test_remediation_contains_the_key_and_undoes_the_share():
    text = render("external_access", found(share_snapshot(), trust("*", name=HOSTILE)))

    assert text.split("```\n", 2)[1].startswith(
        f"aws iam update-access-key --user-name dev --access-key-id {DEV_KEY}")
    assert "aws ec2 modify-snapshot-attribute --region us-east-1 --snapshot-id snap-0abc" in text
    assert STRANGER in text
    assert_only_quoted(text, HOSTILE)
