"""The root user must not have an access key."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from costguard.checks.base import Check, Context, NoParams, Phase, Resource
from costguard.model import GLOBAL_REGION, Finding, Severity, Source, StrEnum, root_arn
from costguard.snapshot import AccessKey, CredentialUser, IamSnapshot, Snapshot


class Evidence(StrEnum):
    """Which IAM data a root finding rests on (GetAccountSummary wins: it is never stale)."""

    ACCOUNT_SUMMARY = "account_summary"
    CREDENTIAL_REPORT = "credential_report"


def root_row(iam: IamSnapshot) -> CredentialUser | None:
    """The credential report's `<root_account>` row, or None without a report or row."""
    return iam.report.root if iam.report else None


class RootAccessKey(Check):
    """A root access key cannot be restricted by any IAM policy or SCP; leaked, it is the whole
    account. Leaked keys are how most cryptomining bills start, so this is critical.

    GetAccountSummary (`AccountAccessKeysPresent`) is read every scan and wins; the credential
    report, up to four hours old, adds which slot holds the key and when and where it was last
    used. Without either, the check says nothing (the scan records the source as failed).

    ```yaml
    policies:
      - name: root-access-key
        check: root_access_key
        severity: critical
        params: {}
        references: ["CIS AWS Foundations v3.0.0 1.4"]
    ```
    """

    id = "root_access_key"
    title = "Root user has an active access key"
    severity = Severity.CRITICAL
    sources = (Source.CREDENTIAL_REPORT,)
    remediation = "remediation/root_access_key.md.j2"
    Params = NoParams
    references = ("CIS AWS Foundations v3.0.0 1.4",)

    noun = "account"
    phrase_one = "active root access key"
    phrase_many = "active root access key"
    title_rank = 20
    phase = Phase.CONTAIN
    playbook_rank = 20
    permissions = (
        "iam:GenerateCredentialReport", "iam:GetCredentialReport", "iam:GetAccountSummary",
        "iam:ListVirtualMFADevices",
    )
    fix_summary = "Delete the root user's access keys; use IAM roles or users instead."
    cis = ("1.4",)
    security_hub = ("IAM.4",)

    def evaluate(self, snapshot: Snapshot, ctx: Context) -> Iterable[Finding]:
        """One finding per account whose root user holds an active key."""
        for iam in snapshot.iam:
            details = _details(iam)
            if details is None:
                continue
            arn = root_arn(iam.account)
            yield ctx.finding(
                account=iam.account,
                region=GLOBAL_REGION,
                resource=arn,
                title="Root user has an active access key",
                details=details,
                entities=[f"principal:{arn}"],
            )

    def resources(self, snapshot: Snapshot, ctx: Context) -> Iterable[Resource]:
        """The root user of every account whose keys are known (summary or report)."""
        return [(iam.account, GLOBAL_REGION, root_arn(iam.account)) for iam in snapshot.iam
                if iam.summary is not None or root_row(iam) is not None]


def _details(iam: IamSnapshot) -> dict[str, Any] | None:
    """What the finding says, or None when root has no active key (or nothing is known)."""
    row = root_row(iam)
    report_keys = [_key(k) for k in row.active_keys] if row else None
    if iam.summary is not None:
        evidence, present = Evidence.ACCOUNT_SUMMARY, iam.summary.access_keys_present
    elif report_keys is not None:
        evidence, present = Evidence.CREDENTIAL_REPORT, bool(report_keys)
    else:
        return None
    if not present:
        return None
    generated = iam.report.generated_at.isoformat() if iam.report else None
    return {
        "account": iam.account,
        "evidence": evidence.value,
        # Not "keys": templates read details by attribute, and dict.keys would shadow it.
        "active_keys": report_keys or [],
        # False when the report (older) shows no key the summary (fresh) does: a key made since.
        "report_agrees": None if report_keys is None else bool(report_keys),
        "report_generated_at": generated,
    }


def _key(key: AccessKey) -> dict[str, Any]:
    return {
        "slot": key.slot,
        "last_rotated": key.last_rotated.isoformat() if key.last_rotated else None,
        "last_used_date": key.last_used_date.isoformat() if key.last_used_date else None,
        "last_used_region": key.last_used_region,
        "last_used_service": key.last_used_service,
    }
