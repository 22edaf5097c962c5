"""root_mfa: no MFA at all, or a virtual device where hardware is required."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from costguard.checks.root_mfa import RootMfa, RootMfaParams
from costguard.model import GLOBAL_REGION, Severity

from .conftest import ACCOUNT, ago, iam, render, report, root, run, snapshot

ROOT = f"arn:aws:iam::{ACCOUNT}:root"


def test_summary_without_mfa_is_a_critical_finding():
    snap = snapshot(iam=(iam(report=report(root(last_login=ago(days=3))), mfa=False),))

    [finding] = run(RootMfa, snap)

    assert finding.title == "Root user has no MFA device"
    assert (finding.account, finding.region, finding.resource) == (ACCOUNT, GLOBAL_REGION, ROOT)
    assert finding.severity is Severity.CRITICAL
    assert finding.entities == {f"principal:{ROOT}"}
    assert finding.details == {
        "account": ACCOUNT,
        "reason": "no_mfa",
        "evidence": "account_summary",
        "mfa_enabled": False,
        "virtual_mfa": None,
        "require_hardware": False,
        "password_last_used": "2026-11-19T12:00:00+00:00",
        "report_generated_at": "2026-11-22T10:00:00+00:00",
    }


def test_summary_with_mfa_wins_over_a_stale_report_without():
    snap = snapshot(iam=(iam(report=report(root(mfa=False)), mfa=True),))

    assert run(RootMfa, snap) == []


def test_summary_without_mfa_wins_over_a_report_with_it():
    snap = snapshot(iam=(iam(report=report(root(mfa=True)), mfa=False),))

    [finding] = run(RootMfa, snap)

    assert finding.details["evidence"] == "account_summary"


def test_report_decides_when_the_summary_is_missing():
    [finding] = run(RootMfa, snapshot(iam=(iam(report=report(root(mfa=False))),)))

    assert finding.details["evidence"] == "credential_report"
    assert finding.details["mfa_enabled"] is False


def test_nothing_is_said_without_a_summary_or_a_root_row():
    assert run(RootMfa, snapshot(iam=(iam(report=report()),))) == []
    assert run(RootMfa, snapshot(iam=(iam(),))) == []


def test_a_virtual_device_fails_only_when_hardware_is_required():
    virtual = snapshot(iam=(iam(mfa=True, virtual=True),))

    assert run(RootMfa, virtual) == []
    [finding] = run(RootMfa, virtual, require_hardware=True)
    assert finding.title == "Root user has a virtual MFA device where hardware MFA is required"
    assert finding.details["reason"] == "virtual_mfa"
    assert finding.details["virtual_mfa"] is True
    assert finding.details["require_hardware"] is True


def test_hardware_requirement_flags_nothing_when_the_device_kind_is_unknown_or_hardware():
    assert run(RootMfa, snapshot(iam=(iam(mfa=True, virtual=None),)), require_hardware=True) == []
    assert run(RootMfa, snapshot(iam=(iam(mfa=True, virtual=False),)), require_hardware=True) == []


def test_params_reject_unknown_keys_and_non_booleans():
    with pytest.raises(ValidationError, match="require_hardwre"):
        RootMfaParams.model_validate({"require_hardwre": True})
    with pytest.raises(ValidationError, match="require_hardware"):
        RootMfaParams.model_validate({"require_hardware": "sometimes"})


def test_remediation_for_no_mfa():
    text = render("root_mfa", run(RootMfa, snapshot(iam=(iam(mfa=False),))))

    assert text.startswith(f"The root user of account {ACCOUNT} has no MFA device")
    assert "- Choose the account name at the top right, then Security credentials.\n" in text
    assert "- Under Multi-factor authentication (MFA), choose Assign MFA device.\n" in text
    assert "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_mfa.html" in text
    assert "the finding resolves on the first scan after the right device is assigned" in text


def test_remediation_for_a_virtual_device_asks_for_hardware_and_removing_the_app():
    snap = snapshot(iam=(iam(mfa=True, virtual=True),))

    text = render("root_mfa", run(RootMfa, snap, require_hardware=True))

    assert "signs in with a virtual MFA device" in text
    assert "and pick Passkey or security key, or Hardware TOTP token.\n" in text
    assert "- Once the hardware device works, remove the virtual device" in text
