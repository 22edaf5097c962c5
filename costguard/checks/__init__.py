"""Every check, imported by name so the registry is complete without filesystem magic.

Adding a check: a module here, a line below, `templates/remediation/<id>.md.j2`, an entry in
`policies/default.yml` and `tests/checks/test_<id>.py` (tests/checks/test_meta.py insists).
"""

from costguard.checks import (
    cloudtrail_logging,
    costguard_health,
    daily_spend,
    guardduty,
    guardduty_enabled,
    hourly_spend,
    instance_surge,
    instance_types,
    monthly_forecast,
    open_admin_ports,
    root_access_key,
    root_activity,
    root_mfa,
    suspicious_api,
    user_mfa,
)
from costguard.checks.base import REGISTRY, Check, Context, DuplicateCheckError, register

__all__ = [
    "REGISTRY",
    "Check",
    "Context",
    "DuplicateCheckError",
    "cloudtrail_logging",
    "costguard_health",
    "daily_spend",
    "guardduty",
    "guardduty_enabled",
    "hourly_spend",
    "instance_surge",
    "instance_types",
    "monthly_forecast",
    "open_admin_ports",
    "register",
    "root_access_key",
    "root_activity",
    "root_mfa",
    "suspicious_api",
    "user_mfa",
]
