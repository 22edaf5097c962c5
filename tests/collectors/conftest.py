"""Collector fixtures: fake credentials, a moto-backed Aws, and root state for moto's IAM."""

from __future__ import annotations

import types
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import boto3
import pytest
from moto import mock_aws
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.iam.exceptions import IAMException
from moto.iam.models import AccountSummary, IAMBackend, iam_backends
from moto.iam.responses import IamResponse

from costguard.collectors.session import Aws
from costguard.demo import moto_root as demo_root

ACCOUNT = DEFAULT_ACCOUNT_ID
FIXED_NOW = datetime(2024, 5, 14, 10, 30, 15, tzinfo=timezone.utc)
REGION = "us-east-1"


@pytest.fixture
def aws() -> Iterator[Aws]:
    """An Aws inside moto; set-up calls go through `setup_client` so they are not counted."""
    with mock_aws():
        yield Aws.from_environment(region=REGION)


@pytest.fixture
def setup_client(aws: Aws):
    """Plain boto3 clients for arranging moto's state without touching `aws.calls`."""

    def make(service: str, region: str = REGION):
        return boto3.client(service, region_name=region)

    return make


class ReportInProgress(IAMException):
    """AWS's documented GetCredentialReport error while a report is generated (moto has none)."""

    code = "ReportInProgress"

    def __init__(self) -> None:
        super().__init__("Report generation in progress")


@dataclass
class RootState(demo_root.RootState):
    """The package's moto root state plus the report timing only collector tests need.

    `generated_at` is the credential report's GeneratedTime (None keeps moto's fixed 2015 value);
    `pending_polls` GetCredentialReport calls after each GenerateCredentialReport answer
    ReportInProgress (a huge number keeps the report in progress for ever).
    """

    generated_at: datetime | None = None
    pending_polls: int = 0
    polls_left: int = 0

    def assign_virtual_mfa(self, iam_client) -> str:
        """Assign a virtual MFA device to root (moto's EnableMFADevice only takes IAM users)."""
        serial = iam_client.create_virtual_mfa_device(
            VirtualMFADeviceName="root-account-mfa-device"
        )["VirtualMFADevice"]["SerialNumber"]
        device = iam_backends[ACCOUNT]["global"].virtual_mfa_devices[serial]
        device.enable_date = FIXED_NOW
        device.user = types.SimpleNamespace(
            arn=f"arn:aws:iam::{ACCOUNT}:root",
            name="<root_account>",
            path="/",
            id=ACCOUNT,
            create_date=FIXED_NOW,
            password_last_used=None,
        )
        self.mfa = True
        return serial


@pytest.fixture
def iam_root(monkeypatch: pytest.MonkeyPatch) -> RootState:
    """Lets a test set the root user's keys, MFA and last use, and the report's timing, in moto.

    What moto 5 lacks: its credential report (IAMBackend.get_credential_report) has no
    `<root_account>` row; its GetAccountSummary (AccountSummary.summary_map) always answers
    AccountAccessKeysPresent=0 and AccountMFAEnabled=0; its GetCredentialReport answers a fixed
    GeneratedTime of 2015-02-02T20:02:02Z (IamResponse.get_credential_report); it never answers
    ReportInProgress; and virtual MFA devices can only be enabled for IAM users.

    What is patched (monkeypatch, undone after the test): IAMBackend.generate_report (arms
    `pending_polls`), IAMBackend.get_credential_report (ReportInProgress while polls are pending,
    then moto's CSV with the root row inserted after the header),
    IamResponse.get_credential_report (GeneratedTime from `generated_at`) and
    AccountSummary.summary_map (the two root flags from the state). Root virtual MFA is set up by
    `RootState.assign_virtual_mfa`, which edits the device in moto's backend directly.
    """
    state = RootState()
    original_generate = IAMBackend.generate_report
    original_report = IAMBackend.get_credential_report
    original_response = IamResponse.get_credential_report
    original_summary = AccountSummary.summary_map.fget

    def generate_report(backend: IAMBackend) -> None:
        state.polls_left = state.pending_polls
        original_generate(backend)

    def get_credential_report(backend: IAMBackend) -> str:
        if backend.credential_report and state.polls_left > 0:
            state.polls_left -= 1
            raise ReportInProgress()
        header, _, rest = original_report(backend).partition("\n")
        root = state.csv_row(backend.account_id) if state.in_report else ""
        return f"{header}\n{root}{rest}"

    def response(self: IamResponse):
        result = original_response(self)
        if state.generated_at is not None:
            result.result["GeneratedTime"] = state.generated_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        return result

    def summary_map(self: AccountSummary) -> dict:
        summary = dict(original_summary(self))
        summary["AccountAccessKeysPresent"] = int(any(a is not None for a in state.key_active))
        summary["AccountMFAEnabled"] = int(state.mfa)
        return summary

    monkeypatch.setattr(IAMBackend, "generate_report", generate_report)
    monkeypatch.setattr(IAMBackend, "get_credential_report", get_credential_report)
    monkeypatch.setattr(IamResponse, "get_credential_report", response)
    monkeypatch.setattr(AccountSummary, "summary_map", property(summary_map))
    return state


def hours(n: float) -> timedelta:
    """Readable offsets from FIXED_NOW in tests."""
    return timedelta(hours=n)
