"""Root-user state for moto, which has none: the demo (and tests) set it through this patch.

moto 5 leaves the `<root_account>` row out of its credential report and always answers
GetAccountSummary with AccountAccessKeysPresent=0 and AccountMFAEnabled=0. `patch_root` inserts
the row and the two flags from a `RootState`, so a leaked root key can be replayed offline.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass
class RootState:
    """The root user as moto will report it.

    `key_active[i]` is slot i+1's key: None for no key, else whether it is active.
    """

    key_active: tuple[bool | None, bool | None] = (None, None)
    key_last_used: datetime | None = None
    mfa: bool = False
    password_last_used: datetime | None = None
    in_report: bool = True

    def csv_row(self, account: str) -> str:
        """The `<root_account>` row, columns in the order of AWS's (and moto's) header."""

        def stamp(d: datetime | None) -> str:
            return d.strftime("%Y-%m-%dT%H:%M:%S+00:00") if d else "N/A"

        def slot(active: bool | None) -> list[str]:
            if active is None:
                return ["false", "N/A", "N/A", "N/A", "N/A"]
            used = self.key_last_used
            return ["true" if active else "false", "2020-01-01T00:00:00+00:00", stamp(used),
                    "us-east-1" if used else "N/A", "ec2" if used else "N/A"]

        last_login = stamp(self.password_last_used) if self.password_last_used else "no_information"
        fields = [
            "<root_account>", f"arn:aws:iam::{account}:root", "2019-01-01T00:00:00+00:00",
            "not_supported", last_login, "not_supported", "not_supported",
            "true" if self.mfa else "false",
            *slot(self.key_active[0]), *slot(self.key_active[1]),
            "false", "N/A", "false", "N/A",
        ]
        return ",".join(fields) + "\n"

    @property
    def keys_present(self) -> bool:
        """What GetAccountSummary's AccountAccessKeysPresent reports."""
        return any(a is not None for a in self.key_active)


@contextlib.contextmanager
def patch_root(state: RootState) -> Iterator[RootState]:
    """Patch moto's IAM backend to report `state`; undone on exit."""
    from unittest import mock

    from moto.iam.models import AccountSummary, IAMBackend

    original_report = IAMBackend.get_credential_report
    original_summary = AccountSummary.summary_map.fget

    def get_credential_report(backend: Any) -> str:
        header, _, rest = original_report(backend).partition("\n")
        root = state.csv_row(backend.account_id) if state.in_report else ""
        return f"{header}\n{root}{rest}"

    def summary_map(self: Any) -> dict[str, Any]:
        summary = dict(original_summary(self))
        summary["AccountAccessKeysPresent"] = int(state.keys_present)
        summary["AccountMFAEnabled"] = int(state.mfa)
        return summary

    with mock.patch.object(IAMBackend, "get_credential_report", get_credential_report), \
            mock.patch.object(AccountSummary, "summary_map", property(summary_map)):
        yield state
