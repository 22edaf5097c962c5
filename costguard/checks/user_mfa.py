"""IAM users who can sign in to the console must have MFA."""

from __future__ import annotations

from collections.abc import Iterable
from fnmatch import fnmatchcase
from typing import Any, cast

from pydantic import Field

from costguard.checks.base import Check, Context, Params, Phase, Resource
from costguard.model import GLOBAL_REGION, Finding, Severity, Source
from costguard.snapshot import CredentialReport, CredentialUser, Snapshot


class UserMfaParams(Params):
    """Parameters of `user_mfa`."""

    exclude_users: tuple[str, ...] = Field(
        default=(),
        description=(
            "User names to skip, as shell-style globs matched without regard to case (IAM "
            "names are case-insensitive), e.g. break-glass users whose MFA device is in a safe."
        ),
    )


class UserMfa(Check):
    """A console password without MFA is one reused or phished password from a signed-in
    session, and from there to new access keys. Users without a console password (programmatic
    only) are out of scope: their risk is the key, which other checks watch.

    Reads the credential report (`password_enabled`, `mfa_active`); the root row is `root_mfa`'s.

    ```yaml
    policies:
      - name: user-mfa
        check: user_mfa
        severity: high
        params:
          exclude_users: ["break-glass-*"]
        references: ["CIS AWS Foundations v3.0.0 1.10"]
    ```
    """

    id = "user_mfa"
    title = "IAM user with a console password has no MFA"
    severity = Severity.HIGH
    sources = (Source.CREDENTIAL_REPORT,)
    remediation = "remediation/user_mfa.md.j2"
    Params = UserMfaParams
    references = ("CIS AWS Foundations v3.0.0 1.10",)

    noun = "IAM user"
    phrase_one = "a console user without MFA"
    phrase_many = "{n} console users without MFA"
    title_rank = 150
    phase = Phase.POSTURE
    playbook_rank = 20
    permissions = (
        "iam:GenerateCredentialReport", "iam:GetCredentialReport", "iam:GetAccountSummary",
        "iam:ListVirtualMFADevices",
    )
    fix_summary = "Enable MFA for every IAM user with a console password, or remove the password."
    cis = ("1.10",)
    security_hub = ("IAM.5",)

    def evaluate(self, snapshot: Snapshot, ctx: Context) -> Iterable[Finding]:
        """One finding per console user without MFA, in every account's credential report."""
        params = cast(UserMfaParams, ctx.params)
        for iam in snapshot.iam:
            if iam.report is None:
                continue
            for user in iam.report.users:
                if _lacks_mfa(user) and not _excluded(user.user, params.exclude_users):
                    yield ctx.finding(
                        account=iam.account,
                        region=GLOBAL_REGION,
                        resource=user.arn,
                        title=f"IAM user {user.user} has a console password but no MFA",
                        details=_details(iam.account, iam.report, user),
                        entities=[f"principal:{user.arn}"],
                    )

    def resources(self, snapshot: Snapshot, ctx: Context) -> Iterable[Resource]:
        """Every IAM user with a console password, less the excluded ones."""
        params = cast(UserMfaParams, ctx.params)
        return [
            (iam.account, GLOBAL_REGION, user.arn)
            for iam in snapshot.iam if iam.report is not None
            for user in iam.report.users
            if not user.is_root and user.password_enabled is True
            and not _excluded(user.user, params.exclude_users)
        ]


def _lacks_mfa(user: CredentialUser) -> bool:
    return not user.is_root and user.password_enabled is True and not user.mfa_active


def _excluded(name: str, patterns: Iterable[str]) -> bool:
    # IAM refuses two users whose names differ only in case, so "Admin" and "admin" are one.
    return any(fnmatchcase(name.lower(), p.lower()) for p in patterns)


def _details(account: str, report: CredentialReport, user: CredentialUser) -> dict[str, Any]:
    return {
        "account": account,
        "user": user.user,
        "arn": user.arn,
        "created": user.created.isoformat() if user.created else None,
        "password_last_used": (
            user.password_last_used.isoformat() if user.password_last_used else None
        ),
        "active_key_slots": [k.slot for k in user.active_keys],
        "report_generated_at": report.generated_at.isoformat(),
    }
