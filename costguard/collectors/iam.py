"""IAM for one account: the credential report, root state from the summary, root MFA type."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from costguard.clock import utcnow
from costguard.collectors import CollectorIncomplete
from costguard.collectors.session import Aws, error_code
from costguard.model import Source, root_arn
from costguard.snapshot import (
    AccessKey,
    AccountSummary,
    CredentialReport,
    CredentialUser,
    IamSnapshot,
)

REPORT_MAX_AGE = timedelta(hours=4)
"""AWS regenerates the credential report at most every 4 hours, so a younger one is current."""

ROOT_USER = "<root_account>"
_ABSENT = {"", "n/a", "no_information", "not_supported"}

# GetCredentialReport's documented errors: no report yet, a report too old to serve (AWS keeps
# them 4 hours), and one being generated (by us or by anyone else in the account).
_REGENERATE = {"ReportNotPresent", "ReportExpired"}
_IN_PROGRESS = "ReportInProgress"



class IamCollector:
    """Reads IAM for one account (the `credential_report` source).

    `sleep` and `clock` are injectable so tests wait for the report without waiting.
    """

    def __init__(
        self,
        aws: Aws,
        account: str,
        *,
        wait_budget_s: float = 20.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._aws = aws
        self._account = account
        self._wait_budget_s = wait_budget_s
        self._sleep = sleep
        self._clock = clock

    def collect(self) -> IamSnapshot:
        """The account's IAM state; raises CollectorIncomplete when the report is not ready."""
        return IamSnapshot(
            account=self._account,
            report=self.credential_report(),
            summary=self.account_summary(),
            root_virtual_mfa=self.root_virtual_mfa(),
        )

    def credential_report(self) -> CredentialReport:
        """The current credential report, generated only when none younger than 4 hours exists."""
        iam = self._aws.client("iam")
        try:
            answer = iam.get_credential_report()
        except Exception as exc:
            code = error_code(exc)
            if code == _IN_PROGRESS:
                return self._parse(self._wait_for_report(iam, ready=False))
            if code not in _REGENERATE:
                raise
        else:
            if self._clock() - _utc(answer["GeneratedTime"]) < REPORT_MAX_AGE:
                return self._parse(answer)
        state = iam.generate_credential_report().get("State")
        return self._parse(self._wait_for_report(iam, ready=state == "COMPLETE"))

    def account_summary(self) -> AccountSummary:
        """Root keys and MFA from GetAccountSummary, always fetched: fresher than the report."""
        summary = self._aws.client("iam").get_account_summary()["SummaryMap"]
        return AccountSummary(
            account=self._account,
            access_keys_present=summary.get("AccountAccessKeysPresent", 0) > 0,
            mfa_enabled=summary.get("AccountMFAEnabled", 0) > 0,
        )

    def root_virtual_mfa(self) -> bool:
        """Whether the root user's MFA is a virtual device, so checks can demand hardware MFA."""
        paginator = self._aws.client("iam").get_paginator("list_virtual_mfa_devices")
        return any(
            (device.get("User") or {}).get("Arn", "").endswith(":root")
            for page in paginator.paginate(AssignmentStatus="Assigned")
            for device in page["VirtualMFADevices"]
        )

    def _wait_for_report(self, iam: Any, *, ready: bool) -> Mapping[str, Any]:
        """GetCredentialReport once it is ready, backing off 1, 2, 4... s within the budget.

        `ready` says whether to ask before the first sleep (GenerateCredentialReport answered
        COMPLETE). The budget bounds the sum of the sleeps, so the wait never exceeds it
        whatever AWS answers.
        """
        slept, delay = 0.0, 1.0
        while True:
            if ready and (answer := _poll(iam)) is not None:
                return answer
            remaining = self._wait_budget_s - slept
            if remaining <= 0:
                raise CollectorIncomplete(
                    Source.CREDENTIAL_REPORT,
                    self._account,
                    f"the IAM credential report was still being generated after waiting "
                    f"{slept:g} s; the next cycle will pick it up",
                )
            step = min(delay, remaining)
            self._sleep(step)
            slept, delay, ready = slept + step, delay * 2, True

    def _parse(self, answer: Mapping[str, Any]) -> CredentialReport:
        content = answer["Content"]
        text = content.decode("utf-8") if isinstance(content, bytes) else content
        return parse_credential_report(text, self._account, _utc(answer["GeneratedTime"]))


def _poll(iam: Any) -> Mapping[str, Any] | None:
    """The report, or None while it is being generated.

    ReportNotPresent counts as "not ready yet" too: right after GenerateCredentialReport, AWS
    may not show the new report as in progress yet.
    """
    try:
        return iam.get_credential_report()
    except Exception as exc:
        if error_code(exc) not in (_IN_PROGRESS, "ReportNotPresent"):
            raise
    return None


def parse_credential_report(text: str, account: str, generated_at: datetime) -> CredentialReport:
    """The credential report CSV as a CredentialReport: pure, so it is tested on handwritten CSV.

    "N/A", "no_information", "not_supported" and blanks become None; "true"/"false" become bools;
    dates become aware UTC datetimes; the two access-key column groups become `access_keys`
    (only the slots that hold a key); the `<root_account>` row gets `is_root` and the root ARN.
    """
    rows = csv.DictReader(io.StringIO(text))
    users = tuple(_user(row, account) for row in rows if _value(row.get("user")))
    return CredentialReport(account=account, generated_at=generated_at, users=users)


def _user(row: Mapping[str, str | None], account: str) -> CredentialUser:
    is_root = row.get("user") == ROOT_USER
    return CredentialUser(
        user=row["user"] or "",
        arn=root_arn(account) if is_root else (row.get("arn") or ""),
        is_root=is_root,
        created=_date(row.get("user_creation_time")),
        password_enabled=_bool(row.get("password_enabled")),
        password_last_used=_date(row.get("password_last_used")),
        mfa_active=_bool(row.get("mfa_active")) is True,
        access_keys=tuple(k for k in (_key(row, 1), _key(row, 2)) if k is not None),
    )


def _key(row: Mapping[str, str | None], slot: int) -> AccessKey | None:
    """Slot 1 or 2; None when the slot holds no key (inactive and never rotated)."""
    prefix = f"access_key_{slot}_"
    active = _bool(row.get(prefix + "active")) is True
    rotated = _date(row.get(prefix + "last_rotated"))
    if not active and rotated is None:
        return None
    return AccessKey(
        slot=slot,
        active=active,
        last_rotated=rotated,
        last_used_date=_date(row.get(prefix + "last_used_date")),
        last_used_region=_value(row.get(prefix + "last_used_region")),
        last_used_service=_value(row.get(prefix + "last_used_service")),
    )


def _value(raw: str | None) -> str | None:
    if raw is None or raw.strip().lower() in _ABSENT:
        return None
    return raw.strip()


def _bool(raw: str | None) -> bool | None:
    value = (_value(raw) or "").lower()
    return {"true": True, "false": False}.get(value)


def _date(raw: str | None) -> datetime | None:
    """An ISO 8601 date as aware UTC; an unreadable value is None rather than a failed scan."""
    value = _value(raw)
    if value is None:
        return None
    try:
        # Python 3.10's fromisoformat does not take the "Z" suffix.
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return _utc(parsed)


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)
