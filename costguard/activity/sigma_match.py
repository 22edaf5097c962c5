"""Sigma rules evaluated on CloudTrail records, in memory (pure).

pySigma parses a rule into a condition tree whose leaves are (field, value) pairs with the
modifiers already applied to the values (`contains` is a string with wildcards around it,
`re` a regular expression, `cidr` a network, `all` an AND of the values, `|exists` a presence
test). pySigma has no backend that matches events in memory, so this module compiles each
tree once into Python objects and evaluates them with Sigma's semantics:

- strings compare case-insensitively (`cased` makes them exact), `*` and `?` are wildcards;
- a list of values is OR (with `all`, AND); a field with several values (a list in the record)
  matches when any of them does; a missing field matches only `null` and `exists: false`;
- `re` is searched anywhere in the value (Python `re`, with the `i`, `m` and `s` flags),
  `cidr` takes IPv4 and IPv6 networks, `gt`/`gte`/`lt`/`lte`/`neq` compare numbers,
  `fieldref` compares with another field of the same record;
- a keyword (a value without a field) matches when any scalar of the record does.

Most rules name `eventSource` and `eventName`: which rules could match an event is decided
once per (eventSource, eventName, readOnly) by evaluating the conditions with only those three
known (Kleene's three-valued logic: unknown fields are neither true nor false), so an event is
tested against only the few rules that could match it. The same decision tells the intake
which read-only events a rule needs (`wants`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from costguard.activity.trail_record import Fields, Test, UnsupportedRule, as_text, record_of
from costguard.model import Severity
from costguard.snapshot import ApiEvent

PREFILTER_FIELDS = ("eventSource", "eventName", "readOnly")
"""The fields which rules could match an event is decided on, once per combination."""

LEVELS: Mapping[str, Severity] = {
    "informational": Severity.INFO, "low": Severity.LOW, "medium": Severity.MEDIUM,
    "high": Severity.HIGH, "critical": Severity.CRITICAL,
}
"""Sigma's levels as costguard's severities, unless `events.sigma.levels` says otherwise."""


# --- The condition tree ----------------------------------------------------------------------


class Node:
    """A compiled condition: `test` on a whole record, `could` on a partial one (None:
    cannot tell without the fields that are not known)."""

    def test(self, fields: Fields) -> bool:  # pragma: no cover - every subclass overrides
        raise NotImplementedError

    def could(self, known: Fields) -> bool | None:  # pragma: no cover
        raise NotImplementedError


@dataclass(eq=False)
class Leaf(Node):
    """A field compared with one value."""

    path: tuple[str, ...]
    check: Test

    def test(self, fields: Fields) -> bool:
        return self.check(fields.values(self.path))

    def could(self, known: Fields) -> bool | None:
        return self.test(known) if self.path[0] in known.data else None


@dataclass(eq=False)
class FieldRef(Node):
    """A field compared with another field of the same record (`fieldref`)."""

    path: tuple[str, ...]
    other: tuple[str, ...]
    starts: bool = False
    ends: bool = False

    def test(self, fields: Fields) -> bool:
        others = [t.lower() for v in fields.values(self.other) if (t := as_text(v)) is not None]
        for value in fields.values(self.path):
            text = (as_text(value) or "").lower()
            if any(self._same(text, o) for o in others):
                return True
        return False

    def _same(self, text: str, other: str) -> bool:
        if self.starts:
            return text.startswith(other)
        return text.endswith(other) if self.ends else text == other

    def could(self, known: Fields) -> bool | None:
        inside = self.path[0] in known.data and self.other[0] in known.data
        return self.test(known) if inside else None


@dataclass(eq=False)
class Keyword(Node):
    """A value without a field: any scalar of the record."""

    check: Test

    def test(self, fields: Fields) -> bool:
        return self.check(fields.leaves())

    def could(self, known: Fields) -> bool | None:
        return None


@dataclass(eq=False)
class All(Node):
    """AND."""

    parts: tuple[Node, ...]

    def test(self, fields: Fields) -> bool:
        return all(part.test(fields) for part in self.parts)

    def could(self, known: Fields) -> bool | None:
        answers = [p.could(known) for p in self.parts]
        return False if False in answers else (None if None in answers else True)


@dataclass(eq=False)
class Any_(Node):
    """OR."""

    parts: tuple[Node, ...]

    def test(self, fields: Fields) -> bool:
        return any(part.test(fields) for part in self.parts)

    def could(self, known: Fields) -> bool | None:
        answers = [p.could(known) for p in self.parts]
        return True if True in answers else (None if None in answers else False)


@dataclass(eq=False)
class Not(Node):
    """NOT."""

    part: Node

    def test(self, fields: Fields) -> bool:
        return not self.part.test(fields)

    def could(self, known: Fields) -> bool | None:
        answer = self.part.could(known)
        return None if answer is None else not answer


def compile_condition(tree: Any) -> Node:
    """A pySigma condition tree (after postprocessing) as a Node.

    pySigma is imported here, not with the module: matching compiled rules needs none of it,
    and a scan that has no event to match should not pay for loading it."""
    from sigma.conditions import (
        ConditionAND,
        ConditionFieldEqualsValueExpression,
        ConditionNOT,
        ConditionOR,
        ConditionValueExpression,
    )
    from sigma.types import SigmaFieldReference

    from costguard.activity.sigma_values import value_test

    if isinstance(tree, ConditionAND):
        return All(tuple(compile_condition(a) for a in tree.args))
    if isinstance(tree, ConditionOR):
        return Any_(tuple(compile_condition(a) for a in tree.args))
    if isinstance(tree, ConditionNOT):
        return Not(compile_condition(tree.args[0]))
    if isinstance(tree, ConditionFieldEqualsValueExpression):
        path = tuple(tree.field.split("."))
        value = tree.value
        if isinstance(value, SigmaFieldReference):
            return FieldRef(path, tuple(value.field.split(".")), value.starts_with,
                            value.ends_with)
        return Leaf(path, value_test(value))
    if isinstance(tree, ConditionValueExpression):
        return Keyword(value_test(tree.value))
    raise UnsupportedRule(f"condition element {type(tree).__name__} is not supported")


# --- Rules -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleInfo:
    """What a finding says about the rule that matched (JSON-ready through `as_details`)."""

    id: str
    title: str
    level: str | None = None
    description: str = ""
    tags: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    falsepositives: tuple[str, ...] = ()
    file: str = ""

    @property
    def attack(self) -> tuple[str, ...]:
        """The ATT&CK technique ids among the tags ("T1562.008"), in the rule's order."""
        return tuple(t.split(".", 1)[1].upper() for t in self.tags
                     if t.lower().startswith("attack.t") and t[8:9].isdigit())

    def as_details(self) -> dict[str, Any]:
        """The rule as finding details."""
        return {"id": self.id, "title": self.title, "level": self.level,
                "description": self.description, "tags": list(self.tags),
                "attack": list(self.attack), "references": list(self.references),
                "falsepositives": list(self.falsepositives), "file": self.file}


@dataclass(eq=False)
class CompiledRule:
    """One rule, compiled once: its condition and what a match of it is."""

    info: RuleInfo
    condition: Node
    severity: Severity | None = None

    def test(self, fields: Fields) -> bool:
        """Whether the record matches."""
        return self.condition.test(fields)

    def could(self, known: Fields) -> bool:
        """Whether a record with these known fields might match (unknown is might)."""
        return self.condition.could(known) is not False


def compile_rule(rule: Any, *, file: str = "",
                 levels: Mapping[str, Severity] = LEVELS) -> CompiledRule:
    """A pySigma SigmaRule compiled; several `condition`s are OR'ed (as Sigma says)."""
    trees = [compile_condition(c.parsed) for c in rule.detection.parsed_condition]
    level = str(rule.level).lower() if rule.level is not None else None
    info = RuleInfo(
        id=str(rule.id) if rule.id else rule_key(rule, file), title=str(rule.title or ""),
        level=level, description=str(rule.description or ""),
        tags=tuple(f"{t.namespace}.{t.name}" for t in rule.tags or ()),
        references=tuple(str(r) for r in rule.references or ()),
        falsepositives=tuple(str(f) for f in rule.falsepositives or ()), file=file,
    )
    condition = trees[0] if len(trees) == 1 else Any_(tuple(trees))
    return CompiledRule(info, condition, levels.get(level) if level else None)


def rule_key(rule: Any, file: str) -> str:
    """What names a rule without an id: its title, else its file."""
    return str(rule.title or file)


@dataclass(frozen=True)
class Match:
    """A rule that matched an event."""

    rule: CompiledRule
    event: ApiEvent


@dataclass
class RuleSet:
    """Compiled rules, with the per-(eventSource, eventName, readOnly) choice of which ones
    could match cached for the life of the set."""

    rules: tuple[CompiledRule, ...] = ()
    _candidates: dict[tuple[Any, ...], tuple[CompiledRule, ...]] = field(
        default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.rules)

    def candidates(self, record: Mapping[str, Any]) -> tuple[CompiledRule, ...]:
        """The rules that could match a record, by its prefilter fields."""
        key = tuple(_hashable(record.get(name)) for name in PREFILTER_FIELDS)
        found = self._candidates.get(key)
        if found is None:
            known = Fields({n: record.get(n) for n in PREFILTER_FIELDS})
            found = self._candidates[key] = tuple(r for r in self.rules if r.could(known))
        return found

    def match_event(self, event: ApiEvent) -> list[Match]:
        """The rules `event` matches."""
        record = record_of(event)
        rules = self.candidates(record)
        if not rules:
            return []
        fields = Fields(record)
        return [Match(rule, event) for rule in rules if rule.test(fields)]

    def match(self, events: Iterable[ApiEvent]) -> list[Match]:
        """Every (rule, event) match in a batch: a pure function of the batch, so matching
        new events alone gives the same matches as matching everything again."""
        return [m for event in events for m in self.match_event(event)]

    def wants(self, event: ApiEvent) -> bool:
        """Whether some rule could match this event, judged on its eventSource, eventName and
        readOnly alone: the intake keeps read-only events only when one could."""
        return bool(self.candidates(record_of(event)))


def _hashable(value: Any) -> Any:
    return value if isinstance(value, str | bool | int | float | type(None)) else repr(value)


def rule_set(rules: Sequence[CompiledRule]) -> RuleSet:
    """A RuleSet of compiled rules."""
    return RuleSet(tuple(rules))


class RulesOnDemand(RuleSet):
    """A RuleSet read and compiled the first time it is asked anything: a one-shot scan that
    takes in no event never parses a rule file nor loads pySigma. `load` may raise (a bad
    rule file), then from inside whatever first needed the rules."""

    def __init__(self, load: Callable[[], RuleSet]) -> None:
        self._load: Callable[[], RuleSet] | None = load
        self._loaded: tuple[CompiledRule, ...] = ()
        self._candidates = {}

    @property  # type: ignore[override]
    def rules(self) -> tuple[CompiledRule, ...]:
        """The compiled rules, loaded now if they were not yet."""
        if self._load is not None:
            self._loaded, self._load = self._load().rules, None
        return self._loaded
