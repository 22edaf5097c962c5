"""What every check is: metadata, a params model, and one pure `evaluate()`.

Checks never import boto3, SQLAlchemy or a network library (a test enforces it): they read a
`Snapshot` and return `Finding`s, so each is tested with hand-built data.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from costguard.model import Finding, Severity, Source
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


class Check(abc.ABC):
    """A single kind of problem costguard can find.

    Subclasses set the metadata below and implement `evaluate`. The docstring of a subclass must
    contain a YAML policy example (a meta-test validates it).
    """

    id: ClassVar[str]
    title: ClassVar[str]
    severity: ClassVar[Severity]
    sources: ClassVar[tuple[Source, ...]]
    remediation: ClassVar[str]
    Params: ClassVar[type[Params]] = NoParams
    references: ClassVar[tuple[str, ...]] = ()

    @abc.abstractmethod
    def evaluate(self, snapshot: Snapshot, ctx: Context) -> Iterable[Finding]:
        """Findings for what `snapshot` shows, under `ctx.params`."""


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

