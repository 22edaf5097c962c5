"""Sigma rule files -> pySigma rules, each problem as `FILE:LINE:COL: rule 'TITLE': what`.

pySigma (the reference implementation) parses and validates the rules; this module finds the
files, reads each with the line-aware YAML loader so a problem points at the line it is on
(pySigma's errors do not carry one), parses every condition once (pySigma does so lazily, so
a broken condition would otherwise surface only when the first event arrives), and leaves out
rules for other log sources than AWS CloudTrail, so a whole checkout of a public rule set
can be named.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sigma.exceptions import SigmaError
from sigma.rule import SigmaRule

from costguard.settings.paths import shipped_dir
from costguard.settings.problems import Problem
from costguard.settings.yaml_loader import Located, Position, YamlError, load_file, position_of

SUFFIXES = (".yml", ".yaml")
SHIPPED = "policies/sigma"
"""The rules costguard ships, used when `events.sigma.rules` is not given."""

_ERROR_KEYS = {
    "SigmaTitleError": "title", "SigmaIdentifierError": "id", "SigmaLevelError": "level",
    "SigmaStatusError": "status", "SigmaDateError": "date", "SigmaModifiedError": "modified",
    "SigmaTagError": "tags", "SigmaLogsourceError": "logsource",
    "SigmaReferencesError": "references", "SigmaFalsePositivesError": "falsepositives",
    "SigmaDescriptionError": "description", "SigmaAuthorError": "author",
    "SigmaRelatedError": "related", "SigmaFieldsError": "fields", "SigmaNameError": "name",
    "SigmaConditionError": "detection.condition",
}
"""Which key of a rule each kind of pySigma error is about (the rest: `detection`)."""


@dataclass(frozen=True)
class RuleFile:
    """One parsed rule and where it came from, so later problems can point into it too."""

    path: Path
    rule: SigmaRule
    raw: Located

    @property
    def title(self) -> str:
        """The rule's title, for problem lines."""
        return str(self.rule.title or self.path.name)

    def problem(self, message: str, key: str = "detection") -> Problem:
        """A problem of this rule, at the line of `key` (dotted, e.g. detection.condition)."""
        pos = position_of(self.raw, key.split("."))
        return Problem(str(self.path), pos, message, f"rule {self.title!r}")


@dataclass(frozen=True)
class RuleFiles:
    """What reading the rule paths gave: CloudTrail rules, problems, and how many rules for
    other log sources were left out."""

    rules: tuple[RuleFile, ...]
    problems: tuple[Problem, ...]
    other_logsources: int = 0


def rule_paths(config_dir: Path | None, given: Sequence[str] | None) -> list[Path]:
    """The files and folders `events.sigma.rules` names, relative ones against the config's
    folder, else against the shipped files (so `policies/sigma` names costguard's own rules
    wherever it is installed); without the key, the shipped rules."""
    if given is None:
        return [shipped_dir("policies") / "sigma"]
    base = config_dir or Path.cwd()
    out = []
    for entry in given:
        path = Path(entry).expanduser()
        if not path.is_absolute():
            local, shipped = base / path, shipped_dir("policies").parent / path
            path = local if local.exists() or not shipped.exists() else shipped
        out.append(path)
    return out


def rule_files(paths: Iterable[Path]) -> tuple[list[Path], list[Problem]]:
    """Every *.yml/*.yaml file under the folders (recursively, sorted) and the files given."""
    found: list[Path] = []
    problems = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.suffix in SUFFIXES and p.is_file())
        elif path.is_file():
            found.append(path)
        else:
            problems.append(Problem(str(path), (1, 1), "no such Sigma rule file or folder"))
    return found, problems


def read_rules(paths: Iterable[Path], exclude: Iterable[str] = ()) -> RuleFiles:
    """Parse every rule; rules whose id or title is in `exclude` are left out."""
    files, problems = rule_files(paths)
    skip = set(exclude)
    rules, others = [], 0
    for path in files:
        parsed = _read(path, problems)
        if parsed is None or str(parsed.rule.id) in skip or parsed.title in skip:
            continue
        if cloudtrail(parsed.rule):
            rules.append(parsed)
        else:
            others += 1
    return RuleFiles(tuple(rules), tuple(problems), others)


def cloudtrail(rule: SigmaRule) -> bool:
    """Whether a rule is for AWS CloudTrail (product aws, service cloudtrail or none)."""
    source = rule.logsource
    product = (source.product or "").lower()
    return product == "aws" and (source.service or "cloudtrail").lower() == "cloudtrail"


def _read(path: Path, problems: list[Problem]) -> RuleFile | None:
    try:
        raw = load_file(path)
    except YamlError as exc:
        problems.append(Problem(str(path), exc.pos, exc.message))
        return None
    if not isinstance(raw, Located):
        problems.append(Problem(str(path), (1, 1), "a Sigma rule must be a mapping"))
        return None
    if "correlation" in raw or "filter" in raw or "action" in raw:
        problems.append(Problem(str(path), (1, 1), "only detection rules are supported, not "
                                "correlations, filters or collection actions"))
        return None
    return _parsed(path, raw, problems)


def _parsed(path: Path, raw: Located, problems: list[Problem]) -> RuleFile | None:
    try:
        rule = SigmaRule.from_dict(dict(raw), collect_errors=True)
    except (SigmaError, ValueError, TypeError, AttributeError) as exc:
        problems.append(Problem(str(path), raw.pos, f"not a Sigma rule: {exc}"))
        return None
    found = RuleFile(path, rule, raw)
    errors = list(rule.errors)
    if not errors:
        errors = _condition_errors(rule)
    problems += [found.problem(_message(e), _key(e, raw)) for e in errors]
    return None if errors else found


def _condition_errors(rule: SigmaRule) -> list[SigmaError]:
    """pySigma parses conditions when asked: ask now."""
    try:
        for condition in rule.detection.parsed_condition:
            condition.parsed  # noqa: B018 - parsing is the point
    except SigmaError as exc:
        return [exc]
    return []


def _message(error: SigmaError) -> str:
    """pySigma's message without the location suffix it adds when it has none."""
    text = str(error.args[0]) if error.args else str(error)
    return " ".join(text.split())


def _key(error: SigmaError, raw: Located) -> str:
    """The dotted key an error is about: by its kind, or the detection key with a modifier
    the message names."""
    key = _ERROR_KEYS.get(type(error).__name__)
    if key is not None:
        return key
    detection = raw.get("detection")
    text = str(error)
    for name, value in detection.items() if isinstance(detection, dict) else ():
        for field in value if isinstance(value, dict) else ():
            modifiers = str(field).split("|")[1:]
            if any(f"'{m}'" in text for m in modifiers):
                return f"detection.{name}.{field}"
    return "detection"


def position(rule: RuleFile, key: str) -> Position:
    """Where a dotted key of a rule is."""
    return position_of(rule.raw, key.split("."))


def describe(rules: Sequence[Any]) -> str:
    """How many rules, for log lines."""
    return f"{len(rules)} Sigma rule{'s' if len(rules) != 1 else ''}"
