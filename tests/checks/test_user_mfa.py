"""user_mfa: console users without MFA, from the credential report."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from costguard.alerts.render import text_to_html
from costguard.checks.user_mfa import UserMfa, UserMfaParams
from costguard.model import GLOBAL_REGION, Severity

from .conftest import (
    ACCOUNT,
    HOSTILE,
    OTHER_ACCOUNT,
    SCRIPT,
    ago,
    assert_only_quoted,
    iam,
    key,
    render,
    report,
    root,
    run,
    snapshot,
    user,
)


def test_only_console_users_without_mfa_are_flagged():
    rows = report(
        root(mfa=False),
        user("alice", last_login=ago(days=2), keys=[key(1), key(2, active=False)]),
        user("bob", mfa=True),
        user("carol", password=False),
        user("dave", password=None),  # password state unknown: not flagged on a guess
    )

    [finding] = run(UserMfa, snapshot(iam=(iam(report=rows),)))

    arn = f"arn:aws:iam::{ACCOUNT}:user/alice"
    assert finding.title == "IAM user alice has a console password but no MFA"
    assert (finding.account, finding.region, finding.resource) == (ACCOUNT, GLOBAL_REGION, arn)
    assert finding.severity is Severity.HIGH
    assert finding.entities == {f"principal:{arn}"}
    assert finding.details == {
        "account": ACCOUNT,
        "user": "alice",
        "arn": arn,
        "created": "2025-10-18T12:00:00+00:00",
        "password_last_used": "2026-11-20T12:00:00+00:00",
        "active_key_slots": [1],
        "report_generated_at": "2026-11-22T10:00:00+00:00",
    }


def test_excluded_users_are_skipped_by_glob_regardless_of_case():
    rows = report(user("break-glass-1"), user("Break-Glass-2"), user("alice"), user("glass"))

    findings = run(UserMfa, snapshot(iam=(iam(report=rows),)), exclude_users=["break-glass-*"])

    assert [f.details["user"] for f in findings] == ["alice", "glass"]


def test_no_report_means_no_findings_even_with_a_summary():
    assert run(UserMfa, snapshot(iam=(iam(keys=False, mfa=True),))) == []


def test_every_account_is_read():
    snap = snapshot(
        iam=(
            iam(report=report(user("alice"))),
            iam(account=OTHER_ACCOUNT, report=report(user("zed", account=OTHER_ACCOUNT))),
        )
    )

    findings = run(UserMfa, snap)

    assert [f.resource for f in findings] == [
        f"arn:aws:iam::{ACCOUNT}:user/alice",
        f"arn:aws:iam::{OTHER_ACCOUNT}:user/zed",
    ]


def test_params_reject_a_string_where_a_list_belongs():
    with pytest.raises(ValidationError, match="exclude_users"):
        UserMfaParams.model_validate({"exclude_users": "break-glass-*"})


def test_remediation_gives_exact_commands_per_user():
    rows = report(user("alice"), user("bob", last_login=ago(hours=5)))

    text = render("user_mfa", run(UserMfa, snapshot(iam=(iam(report=rows),))))

    assert text.startswith(f"In account {ACCOUNT}, these IAM users can sign in")
    assert "- alice: console password last used never\n" in text
    assert "- bob: console password last used 2026-11-22T07:00:00+00:00\n" in text
    assert "aws iam delete-login-profile --user-name alice\n" in text
    assert "aws iam delete-login-profile --user-name bob\n" in text
    assert "aws iam list-mfa-devices --user-name bob\n" in text
    assert "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_mfa.html" in text
    assert "How the fix is verified: the next credential report shows MFA active" in text


def test_remediation_quotes_hostile_user_names():
    rows = report(user(HOSTILE), user(SCRIPT))

    text = render("user_mfa", run(UserMfa, snapshot(iam=(iam(report=rows),))))

    assert "aws iam delete-login-profile --user-name 'x'\"'\"'; rm -rf / #'\n" in text
    assert_only_quoted(text, HOSTILE)
    assert_only_quoted(text, SCRIPT)
    assert "<script>" not in text_to_html(text)
