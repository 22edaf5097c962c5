"""Pure evaluation: policies over a snapshot -> findings, and the scopes they may resolve.

A check is evaluated when a source it reads was collected this cycle; the (check, account,
region) scopes it may resolve are those whose data came in complete this cycle, so a region
that failed keeps its findings open instead of looking fixed.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from costguard.checks.base import Context, Registry
from costguard.model import Finding, Source
from costguard.settings.policies import Policy
from costguard.snapshot import Snapshot

log = logging.getLogger(__name__)

SourceScope = tuple[Source, str, str]
CheckScope = tuple[str, str, str]


@dataclass
class Evaluation:
    """The findings of one cycle and the scopes in which absence means fixed."""

    findings: list[Finding] = field(default_factory=list)
    scopes: set[CheckScope] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)


def evaluate(
    policies: Sequence[Policy],
    snapshot: Snapshot,
    *,
    fresh: Collection[Source],
    complete: Collection[SourceScope],
    registry: Registry,
    options: Mapping[str, Any] | None = None,
) -> Evaluation:
    """Run each policy whose check reads a fresh source; a broken check is an error, not a crash."""
    result = Evaluation()
    for policy in policies:
        check = registry.get(policy.check)
        if check is None or not set(check.sources) & set(fresh):
            continue
        ctx = Context(
            policy=policy.name, check=policy.check, severity=policy.severity,
            params=policy.params, now=snapshot.now, options=dict(options or {}),
        )
        try:
            result.findings.extend(check().evaluate(snapshot, ctx))
        except Exception as exc:  # a broken check must not silence the others
            log.exception("check %s (policy %s) failed", policy.check, policy.name)
            result.errors.append(f"check {policy.check} (policy {policy.name}) failed: {exc}")
            continue
        result.scopes |= {
            (policy.check, account, region)
            for source, account, region in complete
            if source in check.sources and source in fresh
        }
    return result
