"""What every check is: metadata, a params model, and one pure `evaluate()`.

Checks never import boto3, SQLAlchemy or a network library (a test enforces it): they read a
`Snapshot` and return `Finding`s, so each is tested with hand-built data.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from costguard.model import Finding, Severity, Source, StrEnum
from costguard.snapshot import Snapshot


class Params(BaseModel):
    """Base of every check's parameters: unknown keys are errors, values are immutable, and a
    number must be finite (`.inf` and `.nan` are typos, not thresholds)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class NoParams(Params):
    """For checks that take no parameters."""


@dataclass(frozen=True)
class Context:
    """What a check knows besides the snapshot: which policy runs it, with what, and when."""

    policy: str
    check: str
    severity: Severity
    params: Params
    now: datetime
    options: Mapping[str, Any] = field(default_factory=dict)

    def finding(
        self,
        *,
        account: str,
        region: str,
        resource: str,
        title: str,
        details: Mapping[str, Any] | None = None,
        entities: Iterable[str] = (),
        severity: Severity | None = None,
        at: datetime | None = None,
    ) -> Finding:
        """A Finding stamped with this policy's name, check id and (unless given) severity."""
        return Finding(
            check=self.check,
            policy=self.policy,
            severity=severity or self.severity,
            account=account,
            region=region,
            resource=resource,
            title=title,
            details=dict(details or {}),
            entities=frozenset(entities),
            at=at,
        )


Resource = tuple[str, str, str]
"""(account, region, resource) of one thing a check judged: the identity its finding has."""


class Phase(StrEnum):
    """Where a check's remediation falls in a responder's playbook; members are in the order a
    responder works in (`rank`)."""

    CONTAIN = "contain"
    """The credential first, while it can still be used."""
    STOP_SPEND = "stop_spend"
    """Then the instances it started."""
    CLOSE = "close"
    """Then the network it opened, the key pairs and groups, and any persistence."""
    POSTURE = "posture"
    """Then what let it happen."""
    BILL = "bill"
    """And last the bill."""

    @property
    def rank(self) -> int:
        """Position in the playbook, so phases sort by meaning, not spelling."""
        return list(Phase).index(self)


class Check(abc.ABC):
    """A single kind of problem costguard can find, with everything other modules say about it.

    Subclasses set the metadata below and implement `evaluate`. The docstring of a subclass must
    contain a YAML policy example (a meta-test validates it). The vocabulary lives here rather
    than in tables keyed by check id elsewhere, so adding a check touches its own module only
    (tests/checks/test_meta.py insists every check sets it).
    """

    id: ClassVar[str]
    title: ClassVar[str]
    severity: ClassVar[Severity]
    sources: ClassVar[tuple[Source, ...]]
    remediation: ClassVar[str]
    Params: ClassVar[type[Params]] = NoParams
    references: ClassVar[tuple[str, ...]] = ()

    noun: ClassVar[str]
    """What one finding's resource is, in words ("instance", "security group", "IAM user")."""
    phrase_one: ClassVar[str]
    """How an incident title names one finding of this check ("an unapproved instance")."""
    phrase_many: ClassVar[str]
    """How it names several; `{n}` is their number ("{n} unapproved instances")."""
    title_rank: ClassVar[int]
    """Lower is more telling: an incident title names its three most telling checks first."""
    supersedes: ClassVar[tuple[str, ...]] = ()
    """Check ids a title leaves unnamed when this check is in the incident: they say less
    (root credentials in use make "active root access key" redundant)."""
    phase: ClassVar[Phase]
    """The playbook phase of this check's remediation step."""
    playbook_rank: ClassVar[int]
    """Order within the phase, lower first."""
    permissions: ClassVar[tuple[str, ...]]
    """The IAM actions (`service:Action`) the collectors of `sources` call for this check;
    `costguard iam-policy` grants the union over the enabled policies' checks."""
    cis: ClassVar[tuple[str, ...]] = ()
    """CIS AWS Foundations Benchmark v3.0.0 recommendations this check covers ("1.4")."""
    security_hub: ClassVar[tuple[str, ...]] = ()
    """AWS Security Hub (Foundational Security Best Practices) control ids ("IAM.4")."""
    fix_summary: ClassVar[str] = ""
    """One sentence on how to make its resources pass: the compliance report's remediation
    column (the alerts carry the full template)."""
    burn_rate_facts: ClassVar[bool] = False
    """Whether its findings' details carry the burn rate an incident's message leads with
    (`usd_per_hour` of the account and region, `recent_usd_per_hour`, `sampled_at`)."""

    @abc.abstractmethod
    def evaluate(self, snapshot: Snapshot, ctx: Context) -> Iterable[Finding]:
        """Findings for what `snapshot` shows, under `ctx.params`."""

    def resources(self, snapshot: Snapshot, ctx: Context) -> Iterable[Resource]:
        """Every (account, region, resource) this check judged in `snapshot` under
        `ctx.params`, failing or not, named as its findings name them.

        Pure, like `evaluate`. It is what makes a pass a recorded fact rather than the
        absence of a finding: the weekly report's score and the compliance report count
        passes from it. None (the default) means pass/fail does not apply: event and spend
        checks report what happened, not the state of a resource.
        """
        return ()

    @classmethod
    def phrase(cls, findings: Sequence[Any]) -> str:
        """How an incident title names these findings of this check; a check whose details
        say more than its count (GuardDuty's finding type) overrides it."""
        if len(findings) == 1:
            return cls.phrase_one
        return cls.phrase_many.format(n=len(findings))

    @classmethod
    def playbook_position(cls) -> tuple[int, int]:
        """Where its remediation step goes in an incident's playbook: phase, then rank."""
        return cls.phase.rank, cls.playbook_rank


class DuplicateCheckError(RuntimeError):
    """Two check classes claimed the same id; raised at import so it cannot ship."""


class Registry:
    """Maps check ids to check classes: an explicit object, built once by whoever runs checks
    (`checks.default_registry()` for the shipped ones; tests build their own)."""

    def __init__(self, checks: Iterable[type[Check]] = ()) -> None:
        self._checks: dict[str, type[Check]] = {}
        for cls in checks:
            self.register(cls)

    def register(self, cls: type[Check]) -> type[Check]:
        """Adds a check (usable as a class decorator); a second class with the same id fails."""
        if cls.id in self._checks:
            raise DuplicateCheckError(f"check id {cls.id!r} registered twice")
        self._checks[cls.id] = cls
        return cls

    def get(self, check_id: str) -> type[Check] | None:
        """The check class for `check_id`, or None when no such check exists."""
        return self._checks.get(check_id)

    def ids(self) -> list[str]:
        """Every registered id, sorted, for error messages and listings."""
        return sorted(self._checks)

    def __iter__(self) -> Iterator[type[Check]]:
        return iter(self._checks[i] for i in self.ids())

    def __len__(self) -> int:
        return len(self._checks)

