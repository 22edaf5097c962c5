"""policies/*.yml -> Policy objects, with every problem in every file reported at once.

Validation runs in the order STYLE.md gives: structure first, then each check's params (unknown
keys are errors), then meaning (names unique across files, templates exist and compile).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from costguard.checks.base import Params, Registry
from costguard.model import Severity
from costguard.problems import InvalidInput, Problem, from_validation_error
from costguard.yamlload import Located, LocatedList, YamlError, load_file


@dataclass(frozen=True)
class Policy:
    """A check bound to its parameters, severity and remediation, as one policy entry says."""

    name: str
    check: str
    severity: Severity
    params: Params
    remediation: str | None
    references: tuple[str, ...]
    file: str
    line: int
    auto_contain: bool = False


class _Entry(BaseModel):
    """The structure of one entry under `policies:`; params are checked by the check's model."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", description="unique, kebab-case")
    check: str
    severity: Severity | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    remediation: str | None = None
    references: list[str] = Field(default_factory=list)
    description: str | None = None
    enabled: bool = True
    auto_contain: bool = False


def policy_files(paths: Iterable[Path]) -> list[Path]:
    """Expand folders to their *.yml/*.yaml files (sorted), keeping files as given."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out.extend(sorted(p for p in path.iterdir() if p.suffix in (".yml", ".yaml")))
        else:
            out.append(path)
    return out


@dataclass
class _Site:
    """Where the entry being validated sits, so every problem about it is positioned alike."""

    file: str
    doc: Located
    index: int
    subject: str

    @property
    def node(self) -> Located:
        return self.doc["policies"][self.index]

    def problem(self, key: str, message: str) -> Problem:
        pos = self.node.key_pos.get(key, self.node.pos)
        return Problem(self.file, pos, message, self.subject, key)

    def from_error(self, exc: ValidationError, *path: Any) -> list[Problem]:
        base = ["policies", self.index, *path]
        return from_validation_error(
            exc, file=self.file, root=self.doc, base=base, subject=self.subject
        )


class PolicyLoader:
    """Loads policy files against a check registry, collecting problems instead of stopping."""

    def __init__(self, registry: Registry, template_exists: Callable[[str], bool] | None = None):
        self.registry = registry
        self.template_exists = template_exists
        self.problems: list[Problem] = []
        self._names: dict[str, str] = {}

    def load(self, paths: Sequence[Path]) -> list[Policy]:
        """Every enabled policy in `paths`; raises InvalidInput listing all problems."""
        policies: list[Policy] = []
        for path in policy_files(paths):
            policies.extend(self._load_file(path))
        if self.problems:
            raise InvalidInput(self.problems)
        return policies

    def _load_file(self, path: Path) -> list[Policy]:
        file = str(path)
        if not path.is_file():
            self.problems.append(Problem(file, (1, 1), "policy file not found"))
            return []
        try:
            doc = load_file(path)
        except YamlError as exc:
            self.problems.append(Problem(file, exc.pos, exc.message))
            return []
        entries = doc.get("policies") if isinstance(doc, Located) else None
        if not isinstance(entries, LocatedList):
            pos = doc.key_pos.get("policies", doc.pos) if isinstance(doc, Located) else (1, 1)
            self.problems.append(Problem(file, pos, "expected a top-level 'policies:' list"))
            return []
        for key in (k for k in doc if k != "policies"):
            self.problems.append(Problem(file, doc.key_pos[key], "unknown key", "", str(key)))
        sites = (_Site(file, doc, i, _subject(item, i)) for i, item in enumerate(entries))
        return [p for p in map(self._entry, sites) if p is not None]

    def _entry(self, site: _Site) -> Policy | None:
        try:
            entry = _Entry.model_validate(site.node)
        except ValidationError as exc:
            self.problems.extend(site.from_error(exc))
            return None
        self._check_meaning(site, entry)
        check = self.registry.get(entry.check)
        if check is None:
            known = ", ".join(self.registry.ids())
            self.problems.append(
                site.problem("check", f"unknown check {entry.check!r} (known: {known})")
            )
            return None
        try:
            params = check.Params.model_validate(entry.params)
        except ValidationError as exc:
            self.problems.extend(site.from_error(exc, "params"))
            return None
        if not entry.enabled:
            return None
        return Policy(
            name=entry.name, check=entry.check, severity=entry.severity or check.severity,
            params=params, remediation=entry.remediation, references=tuple(entry.references),
            file=site.file, line=site.node.pos[0], auto_contain=entry.auto_contain,
        )

    def _check_meaning(self, site: _Site, entry: _Entry) -> None:
        here = f"{site.file}:{site.node.key_pos['name'][0]}"
        first = self._names.setdefault(entry.name, here)
        if first != here:
            self.problems.append(site.problem("name", f"duplicate policy name (first at {first})"))
        missing = self.template_exists and not self.template_exists(entry.remediation or "")
        if entry.remediation and missing:
            message = f"template {entry.remediation!r} not found"
            self.problems.append(site.problem("remediation", message))


def _subject(raw: Any, index: int) -> str:
    name = raw.get("name") if isinstance(raw, dict) else None
    return f"policy {name!r}" if isinstance(name, str) else f"policy #{index + 1}"


def load_policies(
    paths: Sequence[Path],
    registry: Registry | None = None,
    template_exists: Callable[[str], bool] | None = None,
) -> list[Policy]:
    """Load and validate policies; the default registry holds every shipped check."""
    if registry is None:
        from costguard.checks import REGISTRY as registry  # importing it registers every check
    return PolicyLoader(registry, template_exists).load(paths)
