"""What `costguard sigma test` needs: rules from files, events from a JSON-lines file."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from costguard.activity.sigma_match import RuleSet
from costguard.activity.sigma_rules import compile_rules
from costguard.activity.trail_files import Read, events_in
from costguard.settings.problems import InvalidInput, Problem
from costguard.settings.sigma_files import read_rules


def rule_set(paths: Sequence[Path]) -> tuple[RuleSet, int]:
    """The rules at `paths` compiled, and how many were for other log sources; raises
    InvalidInput with every problem."""
    found = read_rules(paths)
    rules, problems = compile_rules(found.rules)
    if found.problems or problems:
        raise InvalidInput([*found.problems, *problems])
    return rules, found.other_logsources


def read_events(path: Path) -> Read:
    """Every event of a JSON-lines file (blank lines skipped); a line that is not JSON is a
    problem at its line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput([Problem(str(path), (1, 1), f"cannot read events: {exc}")]) from None
    read, problems = Read(), []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            document = json.loads(line)
        except ValueError as exc:
            problems.append(Problem(str(path), (number, 1), f"not JSON: {exc.args[0]}"))
            continue
        found = events_in(document)
        read.events += found.events
        read.skipped += found.skipped
    if problems:
        raise InvalidInput(problems)
    return read
