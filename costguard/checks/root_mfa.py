"""The root user must sign in with MFA (a hardware device, when the policy says so)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from pydantic import Field

from costguard.checks.base import Check, Context, Params, Phase, Resource
from costguard.checks.root_access_key import Evidence, root_row
from costguard.model import GLOBAL_REGION, Finding, Severity, Source, StrEnum, root_arn
from costguard.snapshot import IamSnapshot, Snapshot


class Reason(StrEnum):
    """Why the root user's MFA falls short."""

    NO_MFA = "no_mfa"
    VIRTUAL_MFA = "virtual_mfa"


_TITLES = {
    Reason.NO_MFA: "Root user has no MFA device",
    Reason.VIRTUAL_MFA: "Root user has a virtual MFA device where hardware MFA is required",
}


class RootMfaParams(Params):
    """Parameters of `root_mfa`."""

    require_hardware: bool = Field(
        default=False,
        description="Also flag a root user whose MFA is a virtual (phone app) device.",
    )


class RootMfa(Check):
    """A root password alone is one phishing email from owning the account, and root can close
    the account, change its email and remove every other guard. MFA makes a stolen password
    useless on its own; a hardware device also survives a compromised phone.

    GetAccountSummary (`AccountMFAEnabled`) wins over the credential report, which can be four
    hours old. Whether the device is virtual comes from ListVirtualMFADevices; when that is
    unknown, `require_hardware` flags nothing rather than guess.

    ```yaml
    policies:
      - name: root-mfa
        check: root_mfa
        severity: critical
        params: {require_hardware: true}
        references: ["CIS AWS Foundations v3.0.0 1.5", "CIS AWS Foundations v3.0.0 1.6"]
    ```
    """

    id = "root_mfa"
    title = "Root user has no MFA"
    severity = Severity.CRITICAL
    sources = (Source.CREDENTIAL_REPORT,)
    remediation = "remediation/root_mfa.md.j2"
    Params = RootMfaParams
    references = ("CIS AWS Foundations v3.0.0 1.5", "CIS AWS Foundations v3.0.0 1.6")

    noun = "account"
    phrase_one = "root without MFA"
    phrase_many = "root without MFA"
    title_rank = 140
    phase = Phase.POSTURE
    playbook_rank = 10
    permissions = (
        "iam:GenerateCredentialReport", "iam:GetCredentialReport", "iam:GetAccountSummary",
        "iam:ListVirtualMFADevices",
    )
    fix_summary = "Enable MFA on the root user (a hardware device where the policy requires one)."
    cis = ("1.5", "1.6")
    security_hub = ("IAM.9", "IAM.6")

    def evaluate(self, snapshot: Snapshot, ctx: Context) -> Iterable[Finding]:
        """One finding per account whose root MFA falls short of the policy."""
        params = cast(RootMfaParams, ctx.params)
        for iam in snapshot.iam:
            known = _mfa_enabled(iam)
            if known is None:
                continue
            evidence, enabled = known
            reason = _reason(enabled, iam.root_virtual_mfa, params.require_hardware)
            if reason is None:
                continue
            arn = root_arn(iam.account)
            yield ctx.finding(
                account=iam.account,
                region=GLOBAL_REGION,
                resource=arn,
                title=_TITLES[reason],
                details=_details(iam, evidence, enabled, reason, params),
                entities=[f"principal:{arn}"],
            )

    def resources(self, snapshot: Snapshot, ctx: Context) -> Iterable[Resource]:
        """The root user of every account whose MFA state is known."""
        return [(iam.account, GLOBAL_REGION, root_arn(iam.account)) for iam in snapshot.iam
                if _mfa_enabled(iam) is not None]


def _mfa_enabled(iam: IamSnapshot) -> tuple[Evidence, bool] | None:
    """Whether root has MFA, and what says so; None when neither source is available."""
    if iam.summary is not None:
        return Evidence.ACCOUNT_SUMMARY, iam.summary.mfa_enabled
    row = root_row(iam)
    if row is None:
        return None
    return Evidence.CREDENTIAL_REPORT, row.mfa_active


def _reason(enabled: bool, virtual: bool | None, require_hardware: bool) -> Reason | None:
    if not enabled:
        return Reason.NO_MFA
    if require_hardware and virtual is True:
        return Reason.VIRTUAL_MFA
    return None


def _details(
    iam: IamSnapshot, evidence: Evidence, enabled: bool, reason: Reason, params: RootMfaParams
) -> dict[str, Any]:
    row = root_row(iam)
    last_login = row.password_last_used if row else None
    return {
        "account": iam.account,
        "reason": reason.value,
        "evidence": evidence.value,
        "mfa_enabled": enabled,
        "virtual_mfa": iam.root_virtual_mfa,
        "require_hardware": params.require_hardware,
        "password_last_used": last_login.isoformat() if last_login else None,
        "report_generated_at": iam.report.generated_at.isoformat() if iam.report else None,
    }
