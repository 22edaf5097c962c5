"""Rule files read by settings.sigma_files, compiled into one RuleSet (pure)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sigma.exceptions import SigmaError

from costguard.activity.sigma_match import (
    LEVELS,
    CompiledRule,
    RuleSet,
    UnsupportedRule,
    compile_rule,
)
from costguard.model import Severity
from costguard.settings.problems import Problem
from costguard.settings.sigma_files import RuleFile


def severities(levels: Mapping[str, Severity]) -> dict[str, Severity]:
    """Sigma levels -> severities: the defaults with the config's `levels` on top."""
    return {**LEVELS, **{str(k): Severity(v) for k, v in levels.items()}}


def compile_rules(
    files: Iterable[RuleFile], levels: Mapping[str, Severity] = LEVELS
) -> tuple[RuleSet, list[Problem]]:
    """Every rule compiled once; a rule this matcher cannot evaluate is a problem (at its
    detection), as is a second rule with the same id."""
    compiled: list[CompiledRule] = []
    problems: list[Problem] = []
    seen: dict[str, RuleFile] = {}
    for item in files:
        try:
            rule = compile_rule(item.rule, file=str(item.path), levels=levels)
        except (UnsupportedRule, SigmaError) as exc:
            problems.append(item.problem(str(exc)))
            continue
        if rule.info.id in seen:
            first = seen[rule.info.id].path
            problems.append(item.problem(f"id {rule.info.id} is also the id of {first}", "id"))
            continue
        seen[rule.info.id] = item
        compiled.append(rule)
    return RuleSet(tuple(compiled)), problems
