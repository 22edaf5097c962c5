"""Problems found in config, policy and template files, reported all at once as one line each.

The format is the contract DESIGN.md gives: `FILE:LINE:COL: policy 'NAME': FIELD: what is wrong`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import AfterValidator, ValidationError

from costguard.settings.yaml_loader import Position, position_of


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one file, with where it is."""

    file: str
    pos: Position
    message: str
    subject: str = ""
    field: str = ""

    def __str__(self) -> str:
        parts = [f"{self.file}:{self.pos[0]}:{self.pos[1]}"]
        if self.subject:
            parts.append(self.subject)
        if self.field:
            parts.append(self.field)
        parts.append(self.message)
        return ": ".join(parts)


class InvalidInput(Exception):
    """Raised with every problem found, so the CLI can print them all and exit 2."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        # Files in the order they were read, each top to bottom, however the checks ran.
        rank: dict[str, int] = {}
        for problem in problems:
            rank.setdefault(problem.file, len(rank))
        self.problems = sorted(problems, key=lambda p: (rank[p.file], p.pos))
        super().__init__("\n".join(map(str, self.problems)))


_TYPE_NAMES = {  # bool before int: True is an int too
    bool: "true/false", str: "a string", int: "a number", float: "a number",
    list: "a list", dict: "a mapping", type(None): "nothing",
}


def type_name(value: Any) -> str:
    """How a YAML value's type reads in an error message (Located is a dict, too)."""
    return next(
        (n for t, n in _TYPE_NAMES.items() if isinstance(value, t)), type(value).__name__
    )


_EXPECTED = {
    "list_type": "a list", "tuple_type": "a list", "set_type": "a list",
    "frozen_set_type": "a list", "dict_type": "a mapping", "model_type": "a mapping",
    "string_type": "a string", "int_type": "a whole number", "int_parsing": "a whole number",
    "float_type": "a number", "float_parsing": "a number", "bool_type": "true or false",
    "bool_parsing": "true or false",
}


def describe_error(err: Any) -> str:
    """A pydantic error as a short sentence a user can act on."""
    kind, value = err["type"], err.get("input")
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {type_name(value)}"
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required key is missing"
    if kind in ("enum", "literal_error"):
        return f"expected one of {err.get('ctx', {}).get('expected', '')}, got {value!r}"
    if kind in ("value_error", "assertion_error"):
        return str(err.get("ctx", {}).get("error", err["msg"]))
    return err["msg"][:1].lower() + err["msg"][1:]


def matching(regex: str, what: str) -> AfterValidator:
    """A string constraint whose error says what was expected, not which regex it failed."""
    compiled = re.compile(regex)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(f"expected {what}, got {value!r}")
        return value

    return AfterValidator(check)


def _field_path(loc: Iterable[Any]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not str(part).startswith(("function-", "tagged-union", "union[")):
            out += f".{part}" if out else str(part)
    return out


def from_validation_error(
    exc: ValidationError,
    *,
    file: str,
    root: Any,
    base: Sequence[Any] = (),
    subject: str = "",
    at: Sequence[Any] = (),
) -> list[Problem]:
    """One Problem per pydantic error, positioned on the YAML node the error is about.

    `at` is where the validated data sits in `root` (e.g. `["policies", 3]`): it positions the
    error but is left out of the field name, which `subject` already identifies.
    """
    problems = []
    for err in exc.errors():
        loc = [p for p in err["loc"] if not str(p).startswith(("function-", "union["))]
        pos = position_of(root, [*at, *base, *loc])
        problems.append(
            Problem(file, pos, describe_error(err), subject, _field_path([*base, *loc]))
        )
    return problems
