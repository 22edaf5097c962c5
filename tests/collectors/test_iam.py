"""The IAM collector: the report parser on handwritten CSV, and the collector on moto."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone

import pytest

from costguard.collectors import CollectorIncomplete
from costguard.collectors.iam import IamCollector, parse_credential_report
from costguard.model import Source
from costguard.snapshot import AccessKey, AccountSummary, CredentialUser

from .conftest import ACCOUNT, FIXED_NOW, hours

HEADER = (
    "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,"
    "password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,"
    "access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,"
    "access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,"
    "access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,"
    "cert_1_last_rotated,cert_2_active,cert_2_last_rotated\n"
)
GENERATED = datetime(2024, 5, 14, 9, 0, tzinfo=timezone.utc)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


# --- the parser, without AWS --------------------------------------------------------------


def test_root_row_with_an_active_key_and_mfa():
    text = HEADER + (
        "<root_account>,arn:aws:iam::111122223333:root,2019-03-04T05:06:07+00:00,not_supported,"
        "2024-05-01T12:00:00+00:00,not_supported,not_supported,true,"
        "true,2020-01-02T03:04:05+00:00,2024-05-13T22:00:00+00:00,us-east-1,ec2,"
        "false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n"
    )

    report = parse_credential_report(text, "111122223333", GENERATED)

    assert report.generated_at == GENERATED
    assert report.root == CredentialUser(
        user="<root_account>",
        arn="arn:aws:iam::111122223333:root",
        is_root=True,
        created=utc(2019, 3, 4, 5, 6, 7),
        password_enabled=None,
        password_last_used=utc(2024, 5, 1, 12),
        mfa_active=True,
        access_keys=(
            AccessKey(
                slot=1,
                active=True,
                last_rotated=utc(2020, 1, 2, 3, 4, 5),
                last_used_date=utc(2024, 5, 13, 22),
                last_used_region="us-east-1",
                last_used_service="ec2",
            ),
        ),
    )


def test_user_rows_keep_both_key_slots_and_odd_values():
    """No root row; an inactive key in slot 2; `no_information`, `Z` dates, garbage, blanks."""
    text = HEADER + (
        "alice,arn:aws:iam::111122223333:user/alice,2021-06-01T00:00:00Z,TRUE,no_information,"
        "2021-06-01T00:00:00+00:00,N/A,false,"
        "true,2021-06-02T00:00:00+00:00,N/A,N/A,N/A,"
        "false,2021-07-01T08:00:00+00:00,2022-01-01T00:00:00+00:00,eu-west-1,s3,false,N/A,false,N/A\n"
        "bob,arn:aws:iam::111122223333:user/bob,not-a-date,false,,N/A,N/A,maybe,"
        "false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n"
    )

    report = parse_credential_report(text, "111122223333", GENERATED)
    alice, bob = report.users

    assert report.root is None
    assert alice.user == "alice" and alice.arn == "arn:aws:iam::111122223333:user/alice"
    assert alice.created == utc(2021, 6, 1)
    assert alice.password_enabled is True
    assert alice.password_last_used is None
    assert alice.mfa_active is False
    assert alice.access_keys == (
        AccessKey(slot=1, active=True, last_rotated=utc(2021, 6, 2)),
        AccessKey(
            slot=2,
            active=False,
            last_rotated=utc(2021, 7, 1, 8),
            last_used_date=utc(2022, 1, 1),
            last_used_region="eu-west-1",
            last_used_service="s3",
        ),
    )
    assert [k.slot for k in alice.active_keys] == [1]
    assert bob.created is None
    assert bob.password_enabled is False
    assert bob.password_last_used is None
    assert bob.mfa_active is False  # "maybe" is not "true"
    assert bob.access_keys == ()


def test_report_with_only_a_header_has_no_users():
    assert parse_credential_report(HEADER, ACCOUNT, GENERATED).users == ()


def test_root_arn_comes_from_the_account_not_the_row():
    text = HEADER + "<root_account>,garbage,N/A" + ",N/A" * 19 + "\n"
    assert parse_credential_report(text, "444455556666", GENERATED).root.arn == (
        "arn:aws:iam::444455556666:root"
    )


# --- the collector on moto ----------------------------------------------------------------


class SleepRecorder:
    """An injected sleep that records instead of waiting."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def collector(aws, sleep=None, budget: float = 20.0) -> IamCollector:
    return IamCollector(
        aws, ACCOUNT, wait_budget_s=budget, sleep=sleep or SleepRecorder(), clock=lambda: FIXED_NOW
    )


def test_root_with_an_active_key_and_no_mfa(aws, iam_root, setup_client):
    setup_client("iam").create_user(UserName="carol")
    iam_root.key_active = (True, None)
    iam_root.key_last_used = utc(2024, 5, 13, 23)
    iam_root.password_last_used = utc(2024, 5, 10, 7)

    snapshot = collector(aws).collect()

    root = snapshot.report.root
    assert root.arn == f"arn:aws:iam::{ACCOUNT}:root"
    assert [(k.slot, k.active, k.last_used_date) for k in root.access_keys] == [
        (1, True, utc(2024, 5, 13, 23))
    ]
    assert root.mfa_active is False
    assert root.password_last_used == utc(2024, 5, 10, 7)
    assert [u.user for u in snapshot.report.users] == ["<root_account>", "carol"]
    assert snapshot.summary == AccountSummary(ACCOUNT, access_keys_present=True, mfa_enabled=False)
    assert snapshot.root_virtual_mfa is False


def test_root_without_keys_and_hardware_mfa(aws, iam_root):
    iam_root.mfa = True

    snapshot = collector(aws).collect()

    assert snapshot.report.root.access_keys == ()
    assert snapshot.report.root.mfa_active is True
    assert snapshot.summary == AccountSummary(ACCOUNT, access_keys_present=False, mfa_enabled=True)
    assert snapshot.root_virtual_mfa is False


def test_summary_reports_root_keys_even_when_the_report_has_no_root_row(aws, iam_root):
    iam_root.in_report = False
    iam_root.key_active = (False, True)

    snapshot = collector(aws).collect()

    assert snapshot.report.root is None
    assert snapshot.summary.access_keys_present is True


def test_root_virtual_mfa_is_recognised(aws, iam_root, setup_client):
    iam = setup_client("iam")
    iam.create_user(UserName="dave")
    iam.create_virtual_mfa_device(VirtualMFADeviceName="unassigned")
    iam_root.assign_virtual_mfa(iam)

    snapshot = collector(aws).collect()

    assert snapshot.root_virtual_mfa is True
    assert snapshot.summary.mfa_enabled is True


def test_a_missing_report_is_generated_and_read(aws, iam_root):
    iam_root.generated_at = FIXED_NOW
    sleep = SleepRecorder()

    snapshot = collector(aws, sleep).collect()

    assert snapshot.report.generated_at == FIXED_NOW
    assert sleep.calls == [1.0]  # GenerateCredentialReport answered STARTED
    assert aws.calls == Counter(
        {
            "iam:GetCredentialReport": 2,  # ReportNotPresent, then the new report
            "iam:GenerateCredentialReport": 1,
            "iam:GetAccountSummary": 1,
            "iam:ListVirtualMFADevices": 1,
        }
    )


def test_a_fresh_report_is_reused_without_generating(aws, iam_root, setup_client):
    setup_client("iam").generate_credential_report()  # an earlier cycle's report
    iam_root.generated_at = FIXED_NOW - hours(3.9)

    report = collector(aws).credential_report()

    assert report.generated_at == FIXED_NOW - hours(3.9)
    assert aws.calls == Counter({"iam:GetCredentialReport": 1})


def test_a_report_older_than_four_hours_is_regenerated(aws, iam_root, setup_client):
    setup_client("iam").generate_credential_report()
    iam_root.generated_at = FIXED_NOW - hours(4)

    sleep = SleepRecorder()

    collector(aws, sleep).credential_report()

    assert aws.calls["iam:GenerateCredentialReport"] == 1
    assert aws.calls["iam:GetCredentialReport"] == 2
    assert sleep.calls == []  # GenerateCredentialReport answered COMPLETE


def test_waits_with_back_off_until_the_report_is_ready(aws, iam_root):
    iam_root.pending_polls = 3
    sleep = SleepRecorder()

    report = collector(aws, sleep).credential_report()

    assert report.root is not None
    assert sleep.calls == [1.0, 2.0, 4.0, 8.0]
    assert aws.calls["iam:GetCredentialReport"] == 5  # NotPresent, 3 in progress, ready


def test_a_report_that_stays_in_progress_gives_up_within_the_budget(aws, iam_root):
    iam_root.pending_polls = 10**6
    sleep = SleepRecorder()

    with pytest.raises(CollectorIncomplete) as raised:
        collector(aws, sleep, budget=20.0).collect()

    assert sum(sleep.calls) <= 20.0
    assert sleep.calls == [1.0, 2.0, 4.0, 8.0, 5.0]
    assert raised.value.source is Source.CREDENTIAL_REPORT
    assert raised.value.account == ACCOUNT
    assert "next cycle" in str(raised.value)
    assert aws.calls["iam:GetCredentialReport"] == 6  # NotPresent, then a poll after each sleep


def test_a_report_someone_else_is_generating_is_awaited_not_regenerated(
    aws, iam_root, setup_client
):
    setup_client("iam").generate_credential_report()  # arms one in-progress answer
    iam_root.pending_polls = 0
    iam_root.polls_left = 1
    sleep = SleepRecorder()

    report = collector(aws, sleep).credential_report()

    assert report.root is not None
    assert sleep.calls == [1.0]
    assert aws.calls == Counter({"iam:GetCredentialReport": 2})


def test_moto_without_the_patch_has_no_root_row(aws):
    """Documents the gap the iam_root fixture fills: moto's report has no root row."""
    report = collector(aws).credential_report()
    assert report.root is None
