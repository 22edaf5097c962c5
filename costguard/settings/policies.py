"""policies/*.yml -> Policy objects, with every problem in every file reported at once.

Validation runs in the order STYLE.md gives: structure first, then each check's params (unknown
keys are errors), then meaning (names unique across files, templates exist and compile).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Protocol

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationError,
)

from costguard.model import Severity
from costguard.settings.problems import (
    InvalidInput,
    Problem,
    field_path,
    from_validation_error,
    matching,
    type_name,
)
from costguard.settings.yaml_loader import Located, LocatedList, YamlError, read_file, shown


class CheckSpec(Protocol):
    """What loading a policy needs of its check: the default severity and the params model."""

    severity: ClassVar[Severity]
    Params: ClassVar[type[BaseModel]]


class CheckCatalog(Protocol):
    """The checks policies may name (a `checks.Registry`, given by whoever loads them)."""

    def get(self, check_id: str) -> type[CheckSpec] | None:
        """The check for an id, or None."""

    def ids(self) -> list[str]:
        """Every known id, for the message about an unknown one."""


@dataclass(frozen=True)
class Policy:
    """A check bound to its parameters, severity and remediation, as one policy entry says."""

    name: str
    check: str
    severity: Severity
    params: BaseModel
    remediation: str | None
    references: tuple[str, ...]
    file: str
    line: int
    auto_contain: bool | Literal["dry_run"] = False


def _contain_mode(value: Any) -> bool | str:
    """One check with one message: a plain union would report each member on its own line."""
    if isinstance(value, bool) or value == "dry_run":
        return value
    raise ValueError(f"expected true, false or dry_run, got {value!r}")


def _inside_template_folders(name: str) -> str:
    """A template path relative to the template folders; Jinja refuses `..` and absolute
    paths when rendering, so they are refused here, where the mistake is still a line."""
    if name.startswith("/") or ".." in name.split("/"):
        raise ValueError(f"expected a path inside the template folders such as "
                         f"remediation/root_mfa.md.j2, got {shown(name)}")
    return name


class _Entry(BaseModel):
    """The structure of one entry under `policies:`; params are checked by the check's model."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[
        str, matching(r"[a-z0-9]+(-[a-z0-9]+)*", "a kebab-case name such as 'no-gpu'")
    ] = Field(max_length=64, description="unique, kebab-case")  # the store keeps 200
    check: str
    severity: Severity | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    remediation: Annotated[str, AfterValidator(_inside_template_folders)] | None = None
    references: list[str] = Field(default_factory=list)
    description: str | None = None
    enabled: bool = True
    auto_contain: Annotated[bool | Literal["dry_run"], PlainValidator(_contain_mode)] = False


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
        # A key merged in from an anchor (`<<: *a`) sits before the entry: point at the entry.
        return Problem(self.file, max(pos, self.node.pos), message, self.subject, key)

    def from_error(self, exc: ValidationError, *path: Any) -> list[Problem]:
        return from_validation_error(
            exc, file=self.file, root=self.doc, base=path, subject=self.subject,
            at=["policies", self.index],
        )


class PolicyLoader:
    """Loads policy files against a check registry, collecting problems instead of stopping."""

    def __init__(
        self, registry: CheckCatalog, template_exists: Callable[[str], bool] | None = None,
        params_context: Mapping[str, Any] | None = None,
    ) -> None:
        self.registry = registry
        self.template_exists = template_exists
        # Handed to every check's params model: how the caller checks region names, say
        # (`checks.param_types`), which checks and settings may not import themselves.
        self.params_context = dict(params_context or {})
        self.problems: list[Problem] = []
        self._names: dict[str, tuple[str, int, int]] = {}  # name -> file, index, line

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
            document = read_file(path)
        except YamlError as exc:
            self.problems.append(Problem(file, exc.pos, exc.message))
            return []
        self.problems.extend(Problem(file, d.pos, d.message) for d in document.problems)
        doc = document.data
        entries = doc.get("policies") if isinstance(doc, Located) else None
        # Unknown keys first: a misspelt `policies:` is the likely reason it is missing.
        for key in (k for k in doc if k != "policies") if isinstance(doc, Located) else ():
            self.problems.append(Problem(file, doc.key_pos[key], "unknown key", "",
                                         field_path([key])))
        if not isinstance(entries, LocatedList):
            self.problems.append(_not_a_list(file, doc))
            return []
        sites = (_Site(file, doc, i, _subject(item, i)) for i, item in enumerate(entries))
        return [p for p in map(self._entry, sites) if p is not None]

    def _entry(self, site: _Site) -> Policy | None:
        try:
            entry = _Entry.model_validate(site.node)
        except ValidationError as exc:
            self.problems.extend(site.from_error(exc))
            self._params(site)  # what is wrong with the params too, in the same run
            return None
        self._check_meaning(site, entry)
        params = self._params(site)
        check = self.registry.get(entry.check)
        if params is None or check is None or not entry.enabled:
            return None
        return Policy(
            name=entry.name, check=entry.check, severity=entry.severity or check.severity,
            params=params, remediation=entry.remediation, references=tuple(entry.references),
            file=site.file, line=site.node.pos[0], auto_contain=entry.auto_contain,
        )

    def _params(self, site: _Site) -> BaseModel | None:
        """The entry's params validated by its check's own model; None after a problem."""
        node = site.node
        check_id = node.get("check") if isinstance(node, dict) else None
        raw = node.get("params", {}) if isinstance(node, dict) else None
        if not isinstance(check_id, str) or not isinstance(raw, dict):
            return None  # the entry's structure problem already says so
        check = self.registry.get(check_id)
        if check is None:
            known = ", ".join(self.registry.ids())
            self.problems.append(
                site.problem("check", f"unknown check {check_id!r} (known: {known})")
            )
            return None
        try:
            return check.Params.model_validate(raw, context=self.params_context)
        except ValidationError as exc:
            self.problems.extend(site.from_error(exc, "params"))
            return None

    def _check_meaning(self, site: _Site, entry: _Entry) -> None:
        # Entries are told apart by index, not line: flow style and merge keys (`<<: *a`) can
        # put two entries' names on one line.
        line = site.node.key_pos["name"][0]
        file, index, first_line = self._names.setdefault(entry.name, (site.file, site.index, line))
        if (file, index) != (site.file, site.index):
            message = f"duplicate policy name (first at {file}:{first_line})"
            self.problems.append(site.problem("name", message))
        missing = self.template_exists and not self.template_exists(entry.remediation or "")
        if entry.remediation and missing:
            message = f"template {entry.remediation!r} not found"
            self.problems.append(site.problem("remediation", message))


def _not_a_list(file: str, doc: Any) -> Problem:
    """Where the `policies:` list should be, and what is there instead."""
    expected = "expected a top-level 'policies:' list"
    if doc is None:
        return Problem(file, (1, 1), f"{expected}, got an empty file")
    if not isinstance(doc, Located):
        return Problem(file, getattr(doc, "pos", (1, 1)), f"{expected}, got {type_name(doc)}")
    if "policies" not in doc:
        return Problem(file, doc.pos, expected)
    got = type_name(doc["policies"])
    return Problem(file, doc.key_pos["policies"], f"{expected}, got {got} under it")


def _subject(raw: Any, index: int) -> str:
    name = raw.get("name") if isinstance(raw, dict) else None
    return f"policy {shown(name)}" if isinstance(name, str) else f"policy #{index + 1}"


def load_policies(
    paths: Sequence[Path],
    registry: CheckCatalog,
    template_exists: Callable[[str], bool] | None = None,
    params_context: Mapping[str, Any] | None = None,
) -> list[Policy]:
    """Load and validate policies against the checks `registry` holds; raises InvalidInput."""
    return PolicyLoader(registry, template_exists, params_context).load(paths)
