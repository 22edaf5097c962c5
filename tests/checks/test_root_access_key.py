"""root_access_key: GetAccountSummary decides, the credential report adds which key and its use."""

from __future__ import annotations

from costguard.alerts.render import text_to_html
from costguard.checks.root_access_key import RootAccessKey
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
)

ROOT = f"arn:aws:iam::{ACCOUNT}:root"
USED = key(2, used=ago(hours=3), region="us-east-1", service="ec2")


def test_summary_and_report_agree_on_an_active_key():
    snap = snapshot(iam=(iam(report=report(root(keys=[key(1, active=False), USED])), keys=True),))

    [finding] = run(RootAccessKey, snap)

    assert finding.title == "Root user has an active access key"
    assert (finding.account, finding.region, finding.resource) == (ACCOUNT, GLOBAL_REGION, ROOT)
    assert finding.severity is Severity.CRITICAL
    assert finding.policy == "root-access-key"
    assert finding.entities == {f"principal:{ROOT}"}
    assert finding.details == {
        "account": ACCOUNT,
        "evidence": "account_summary",
        "active_keys": [
            {
                "slot": 2,
                "last_rotated": "2026-10-23T12:00:00+00:00",
                "last_used_date": "2026-11-22T09:00:00+00:00",
                "last_used_region": "us-east-1",
                "last_used_service": "ec2",
            }
        ],
        "report_agrees": True,
        "report_generated_at": "2026-11-22T10:00:00+00:00",
    }


def test_summary_without_a_key_wins_over_a_stale_report():
    # The report (hours old) still lists a key that has since been deleted.
    snap = snapshot(iam=(iam(report=report(root(keys=[USED])), keys=False),))

    assert run(RootAccessKey, snap) == []


def test_summary_with_a_key_wins_over_a_report_without_one():
    snap = snapshot(iam=(iam(report=report(root(keys=[key(1, active=False)])), keys=True),))

    [finding] = run(RootAccessKey, snap)

    assert finding.details["evidence"] == "account_summary"
    assert finding.details["active_keys"] == []
    assert finding.details["report_agrees"] is False


def test_report_alone_decides_when_the_summary_is_missing():
    snap = snapshot(iam=(iam(report=report(root(keys=[USED]))),))

    [finding] = run(RootAccessKey, snap)

    assert finding.details["evidence"] == "credential_report"
    assert [k["slot"] for k in finding.details["active_keys"]] == [2]


def test_inactive_root_keys_in_the_report_are_not_flagged():
    snap = snapshot(iam=(iam(report=report(root(keys=[key(1, active=False)]))),))

    assert run(RootAccessKey, snap) == []


def test_a_report_without_a_root_row_and_no_summary_says_nothing():
    assert run(RootAccessKey, snapshot(iam=(iam(report=report()),))) == []
    assert run(RootAccessKey, snapshot(iam=(iam(),))) == []


def test_a_summary_with_a_report_lacking_the_root_row():
    [finding] = run(RootAccessKey, snapshot(iam=(iam(report=report(), keys=True),)))

    assert finding.details["active_keys"] == []
    assert finding.details["report_agrees"] is None
    assert finding.details["report_generated_at"] == "2026-11-22T10:00:00+00:00"


def test_one_finding_per_account_and_the_policy_severity_applies():
    snap = snapshot(
        iam=(
            iam(keys=True),
            iam(account=OTHER_ACCOUNT, keys=True),
            iam(account="777788889999", keys=False),
        )
    )

    findings = run(RootAccessKey, snap, severity=Severity.HIGH)

    assert [(f.account, f.resource) for f in findings] == [
        (ACCOUNT, ROOT),
        (OTHER_ACCOUNT, f"arn:aws:iam::{OTHER_ACCOUNT}:root"),
    ]
    assert {f.severity for f in findings} == {Severity.HIGH}


def test_remediation_names_the_account_the_key_and_the_console_steps():
    snap = snapshot(iam=(iam(report=report(root(keys=[USED])), keys=True),))

    text = render("root_access_key", run(RootAccessKey, snap))

    assert text.startswith(f"The root user of account {ACCOUNT} has an access key.")
    assert "- Key in slot 2: last used 2026-11-22T09:00:00+00:00 in us-east-1 with ec2.\n" in text
    assert "- Choose the account name at the top right, then Security credentials.\n" in text
    assert "choose Actions, then Deactivate." in text
    assert "choose Actions, then Delete" in text
    assert (
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_root-user_manage_delete-key.html"
        in text
    )
    assert "the finding resolves on the first scan after the key is deleted" in text


def test_remediation_covers_every_account_and_flags_a_disagreeing_report():
    snap = snapshot(
        iam=(
            iam(report=report(root()), keys=True),
            iam(account=OTHER_ACCOUNT, keys=True),
        )
    )

    text = render("root_access_key", run(RootAccessKey, snap))

    assert f"The root user of account {ACCOUNT} has an access key." in text
    assert f"The root user of account {OTHER_ACCOUNT} has an access key." in text
    assert "- The credential report from 2026-11-22T10:00:00+00:00 shows no active root key" in text
    assert text.count("- Key in slot") == 0


def test_remediation_quotes_report_values():
    odd = key(1, used=ago(hours=1), region=SCRIPT, service=HOSTILE)

    snap = snapshot(iam=(iam(report=report(root(keys=[odd]))),))

    text = render("root_access_key", run(RootAccessKey, snap))

    assert_only_quoted(text, HOSTILE)
    assert_only_quoted(text, SCRIPT)
    assert "<script>" not in text_to_html(text)
