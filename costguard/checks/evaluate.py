"""Pure evaluation: policies over a snapshot -> findings, the scopes they may resolve, and what
each check judged there.

A check is evaluated when a source it reads was collected this cycle; the (check, account,
region) scopes it may resolve are those whose data came in complete this cycle, so a region
that failed keeps its findings open instead of looking fixed. In those same scopes a check that
names its resources (`Check.resources`) says what it judged, so passes are counted, not
inferred from the absence of findings.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from costguard.checks.base import Check, Context, Registry
from costguard.model import Finding, Severity, Source
from costguard.settings.policies import Policy
from costguard.snapshot import Snapshot
from costguard.text import TITLE_LIMIT, bounded, short

log = logging.getLogger(__name__)

SourceScope = tuple[Source, str, str]
CheckScope = tuple[str, str, str]


@dataclass
class Judged:
    """What one check judged in one (check, account, region) scope this cycle: every resource
    and those that failed, at the most severe of its policies' severities."""

    severity: Severity
    resources: set[str] = field(default_factory=set)
    failed: set[str] = field(default_factory=set)

    @property
    def evaluated(self) -> int:
        """How many resources were judged."""
        return len(self.resources)


@dataclass
class Evaluation:
    """The findings of one cycle, the scopes in which absence means fixed, and what the checks
    that name their resources judged in those scopes (empty ones included: no instance left
    in a region is a fact too)."""

    findings: list[Finding] = field(default_factory=list)
    scopes: set[CheckScope] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)
    judged: dict[CheckScope, Judged] = field(default_factory=dict)


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
        instance = check()
        try:
            found = list(instance.evaluate(snapshot, ctx))
            judged = list(instance.resources(snapshot, ctx)) if _names_resources(check) else None
        except Exception as exc:  # a broken check must not silence the others
            log.exception("check %s (policy %s) failed", policy.check, policy.name)
            result.errors.append(f"check {policy.check} (policy {policy.name}) failed: {exc}")
            continue
        result.findings.extend(_fit(f) for f in found)
        scopes = {
            (policy.check, account, region)
            for source, account, region in complete
            if source in check.sources and source in fresh
        }
        result.scopes |= scopes
        if judged is not None:
            _count(result.judged, policy.check, scopes, ctx.severity, judged, found)
    return result


def _fit(finding: Finding) -> Finding:
    """The finding as it may be kept and shown: a title on one line and every detail cut to
    its limit, whatever an attacker named their resources (one place, for every check)."""
    title = short(finding.title, TITLE_LIMIT)
    details = bounded(dict(finding.details))
    if title == finding.title and details == finding.details:
        return finding
    return replace(finding, title=title, details=details)


def _names_resources(check: type[Check]) -> bool:
    """Whether the check overrides `Check.resources`, so pass/fail applies to it."""
    return check.resources is not Check.resources


def _count(table: dict[CheckScope, Judged], check: str, scopes: set[CheckScope],
           severity: Severity, judged: list[tuple[str, str, str]], found: list[Finding]) -> None:
    """Add one policy's judgement to the table, in the complete scopes only; a resource with a
    finding was judged even if `resources` left it out."""
    for scope in scopes:
        entry = table.setdefault(scope, Judged(severity))
        entry.severity = max(entry.severity, severity)
    for account, region, resource in judged:
        if (entry := table.get((check, account, region))) is not None:
            entry.resources.add(resource)
    for finding in found:
        if (entry := table.get((check, finding.account, finding.region))) is not None:
            entry.resources.add(finding.resource)
            entry.failed.add(finding.resource)
