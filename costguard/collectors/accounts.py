"""Which accounts a cycle scans, and with which AWS identity each is reached.

Three sources, merged by account id: the credentials' own account (always: in an Organization
it is the management account, the payer whose Cost Explorer answers for every member), the
explicit `aws.accounts`, and the active members of `aws.organization` (Organizations
ListAccounts, every page). A member is reached by assuming `role_name` in it; the role is
assumed lazily, on the member's first call, so a role that is missing costs that member only:
its collections fail and `account_access` reports it, the other accounts are scanned as usual.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from costguard.settings.config import AwsConfig
from costguard.text import short

if TYPE_CHECKING:
    from costguard.collectors.session import Aws
    from costguard.settings.sections import OrganizationConfig

C = TypeVar("C")

ACTIVE = "ACTIVE"
"""A member that can be scanned: ListAccounts' `State` (or the older `Status`) says so."""


@dataclass
class Target:
    """An account to scan, with the AWS identity that reaches it and its collectors.

    `role_arn` is the role assumed into it (None: the credentials' own account); `payer` says
    whether its Cost Explorer is asked: an Organization's members are answered by the payer's
    request grouped by LINKED_ACCOUNT, so they are not asked themselves.
    """

    account: str
    aws: Aws
    name: str | None = None
    regions: list[str] = field(default_factory=list)
    collectors: dict[str, Any] = field(default_factory=dict)
    role_arn: str | None = None
    payer: bool = True

    def collector(self, kind: str, factory: Callable[[], C]) -> C:
        """One collector per kind and account, kept across cycles for its caches."""
        if kind not in self.collectors:
            self.collectors[kind] = factory()
        return self.collectors[kind]


class TargetError(RuntimeError):
    """An account in the config cannot be reached with the credentials at hand."""


def resolve_targets(config: AwsConfig, base: Aws, *, env: Mapping[str, str] = os.environ,
                    clock: Callable[[], datetime] | None = None) -> list[Target]:
    """The credentials' own account, the configured accounts (assuming their roles) and the
    Organization's active members, each once; `clock` is handed to the refreshable credentials."""
    own = base.account_id()
    targets: dict[str, Target] = {own: Target(account=own, aws=base)}
    for account in config.accounts:
        targets[account.id] = _explicit(account.id, account.name, account.role_arn, own, base,
                                        clock)
    if config.organization is not None:
        for member in members(config.organization, base, own, env, clock):
            targets.setdefault(member.account, member)
    return list(targets.values())


def _explicit(account: str, name: str | None, role_arn: str | None, own: str, base: Aws,
              clock: Callable[[], datetime] | None) -> Target:
    if role_arn:
        return Target(account=account, aws=base.assume(role_arn, clock=clock), name=name,
                      role_arn=role_arn)
    if account == own:
        return Target(account=account, aws=base, name=name)
    raise TargetError(f"account {account} has no role_arn and the credentials are for {own}")


def members(org: OrganizationConfig, base: Aws, own: str, env: Mapping[str, str],
            clock: Callable[[], datetime] | None = None) -> Iterator[Target]:
    """The Organization's active accounts other than `own` and the excluded ones, each with
    its role assumed lazily; members are not payers."""
    external_id = _external_id(org, env)
    partition = base.partition()
    excluded = set(org.exclude)
    for account in list_accounts(base):
        if account["Id"] == own or account["Id"] in excluded or not _active(account):
            continue
        role_arn = member_role_arn(partition, account["Id"], org.role_name)
        aws = base.assume(role_arn, external_id=external_id, clock=clock)
        yield Target(account=account["Id"], aws=aws, name=short(account.get("Name") or "", 64)
                     or None, role_arn=role_arn, payer=False)


def list_accounts(base: Aws) -> Iterable[dict[str, Any]]:
    """Every account of the Organization, page by page (ListAccounts allows 20 a page)."""
    paginator = base.client("organizations").get_paginator("list_accounts")
    for page in paginator.paginate():
        yield from page.get("Accounts", [])


def member_role_arn(partition: str, account: str, role_name: str) -> str:
    """The role ARN costguard assumes in a member (`role_name` may carry a path)."""
    return f"arn:{partition}:iam::{account}:role/{role_name.strip('/')}"


def _active(account: Mapping[str, Any]) -> bool:
    return (account.get("State") or account.get("Status")) == ACTIVE


def _external_id(org: OrganizationConfig, env: Mapping[str, str]) -> str | None:
    if not org.external_id_env:
        return None
    value = env.get(org.external_id_env)
    if not value:
        raise TargetError(f"aws.organization.external_id_env names {org.external_id_env}, "
                          "which is not set")
    return value
