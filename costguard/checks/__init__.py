"""Every check, listed by name so a registry is complete without filesystem magic.

Adding a check: a module here, its class in `CHECKS` below, `templates/remediation/<id>.md.j2`,
an entry in `policies/default.yml` and `tests/checks/test_<id>.py` (tests/checks/test_meta.py
insists; docs/adding-a-check.md walks through it).
"""

from __future__ import annotations

from costguard.checks.access_denied import AccessDenied
from costguard.checks.account_access import AccountAccess
from costguard.checks.base import Check, Context, DuplicateCheckError, Phase, Registry
from costguard.checks.cloudtrail_logging import CloudTrailLogging
from costguard.checks.costguard_health import CostguardHealth
from costguard.checks.daily_spend import DailySpend
from costguard.checks.external_access import ExternalAccess
from costguard.checks.guardduty import GuardDuty
from costguard.checks.guardduty_enabled import GuardDutyEnabled
from costguard.checks.hourly_spend import HourlySpend
from costguard.checks.iam_admin_grant import IamAdminGrant
from costguard.checks.instance_surge import InstanceSurge
from costguard.checks.instance_types import InstanceTypes
from costguard.checks.monthly_forecast import MonthlyForecast
from costguard.checks.open_admin_ports import OpenAdminPorts
from costguard.checks.remote_command import RemoteCommand
from costguard.checks.root_access_key import RootAccessKey
from costguard.checks.root_activity import RootActivity
from costguard.checks.root_mfa import RootMfa
from costguard.checks.sigma import Sigma
from costguard.checks.suspicious_api import SuspiciousApi
from costguard.checks.user_mfa import UserMfa

CHECKS: tuple[type[Check], ...] = (
    AccessDenied,
    AccountAccess,
    CloudTrailLogging,
    CostguardHealth,
    DailySpend,
    ExternalAccess,
    GuardDuty,
    GuardDutyEnabled,
    HourlySpend,
    IamAdminGrant,
    InstanceSurge,
    InstanceTypes,
    MonthlyForecast,
    OpenAdminPorts,
    RemoteCommand,
    RootAccessKey,
    RootActivity,
    RootMfa,
    Sigma,
    SuspiciousApi,
    UserMfa,
)
"""Every shipped check class."""


def default_registry() -> Registry:
    """A new registry of every shipped check; the runtime builds one and hands it down."""
    return Registry(CHECKS)


__all__ = [
    "CHECKS", "Check", "Context", "DuplicateCheckError", "Phase", "Registry", "default_registry",
]
