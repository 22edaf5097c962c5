"""account_access: an account costguard cannot get into is a finding naming the role to fix."""

from __future__ import annotations

import json

from costguard.checks.account_access import AccountAccess
from costguard.model import GLOBAL_REGION, Severity
from costguard.snapshot import AccountAccess as Access

from .conftest import ACCOUNT, render, run, snapshot

MEMBER = "444455556666"
ROLE = f"arn:aws:iam::{MEMBER}:role/OrganizationAccountAccessRole"
REFUSED = ("AssumeRole refused (AccessDenied): User: arn:aws:iam::111122223333:user/costguard "
           f"is not authorized to perform: sts:AssumeRole on resource: {ROLE}")


def test_a_member_whose_role_cannot_be_assumed_is_one_finding_naming_the_role():
    snap = snapshot(access=(Access(MEMBER, ROLE, REFUSED, "sandbox", ACCOUNT),))

    [finding] = run(AccountAccess, snap)

    assert (finding.account, finding.region, finding.resource) == (MEMBER, GLOBAL_REGION, ROLE)
    assert finding.severity is Severity.HIGH
    assert finding.title == f"costguard cannot get into account {MEMBER}"
    assert finding.details["role_name"] == "OrganizationAccountAccessRole"
    principal = finding.details["trust_policy"]["Statement"][0]["Principal"]
    assert principal == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}


def test_no_refused_account_no_finding():
    assert run(AccountAccess, snapshot()) == []


def test_the_remediation_names_the_role_and_its_trust_policy():
    snap = snapshot(access=(Access(MEMBER, ROLE, REFUSED, "sandbox", ACCOUNT),))

    text = render("account_access", run(AccountAccess, snap))

    assert "aws iam create-role --role-name OrganizationAccountAccessRole" in text
    assert ROLE in text
    trust = text.split("<<'JSON'\n", 1)[1].split("\nJSON", 1)[0]
    assert json.loads(trust)["Statement"][0]["Action"] == "sts:AssumeRole"


def test_an_own_account_refusal_points_at_the_credentials_policy():
    snap = snapshot(access=(Access(ACCOUNT, None, "a call refused (AccessDenied): no", None,
                                   ACCOUNT),))

    [finding] = run(AccountAccess, snap)

    assert finding.resource == f"arn:aws:iam::{ACCOUNT}:root"
    assert "costguard iam-policy" in render("account_access", [finding])


def test_a_hostile_account_name_and_error_stay_on_one_line():
    hostile = "evil\nSubject: pwned"
    snap = snapshot(access=(Access(MEMBER, ROLE, hostile, hostile, ACCOUNT),))

    text = render("account_access", run(AccountAccess, snap))

    assert "\nSubject: pwned" not in text
