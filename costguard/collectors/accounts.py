"""Which accounts a cycle scans, and with which AWS identity each is reached."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from costguard.settings.config import AwsConfig

if TYPE_CHECKING:
    from costguard.collectors.session import Aws

C = TypeVar("C")


@dataclass
class Target:
    """An account to scan, with the AWS identity that reaches it and its collectors."""

    account: str
    aws: Aws
    name: str | None = None
    regions: list[str] = field(default_factory=list)
    collectors: dict[str, Any] = field(default_factory=dict)

    def collector(self, kind: str, factory: Callable[[], C]) -> C:
        """One collector per kind and account, kept across cycles for its caches."""
        if kind not in self.collectors:
            self.collectors[kind] = factory()
        return self.collectors[kind]


class TargetError(RuntimeError):
    """An account in the config cannot be reached with the credentials at hand."""


def resolve_targets(config: AwsConfig, base: Aws) -> list[Target]:
    """The configured accounts (assuming their roles), else the credentials' own account."""
    own = base.account_id()
    if not config.accounts:
        return [Target(account=own, aws=base)]
    targets = []
    for account in config.accounts:
        if account.role_arn:
            aws = base.assume(account.role_arn)
        elif account.id == own:
            aws = base
        else:
            raise TargetError(
                f"account {account.id} has no role_arn and the credentials are for {own}"
            )
        targets.append(Target(account=account.id, aws=aws, name=account.name))
    return targets
