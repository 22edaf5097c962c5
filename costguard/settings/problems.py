"""Problems found in config, policy and template files, reported all at once as one line each.

The format docs/configuration.md documents:
`FILE:LINE:COL: policy 'NAME': FIELD: what is wrong`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from pydantic import AfterValidator, ValidationError

from costguard.settings.yaml_loader import Position, position_of, shown
from costguard.text import oneline


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one file, with where it is."""

    file: str
    pos: Position
    message: str
    subject: str = ""
    field: str = ""

    def __str__(self) -> str:
        # One line whatever the input held: keys and values echoed in parts are quoted already,
        # so only a control character the file smuggled into a name is left to neutralise.
        parts = [f"{self.file}:{self.pos[0]}:{self.pos[1]}"]
        if self.subject:
            parts.append(self.subject)
        if self.field:
            parts.append(self.field)
        parts.append(self.message)
        return oneline(": ".join(parts))


MAX_PROBLEMS = 100
"""The most problems shown at once; a file with thousands is summed up in one more line."""


class InvalidInput(Exception):
    """Raised with every problem found, so the CLI can print them all and exit 2."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        # Files in the order they were read, each top to bottom, however the checks ran.
        rank: dict[str, int] = {}
        for problem in problems:
            rank.setdefault(problem.file, len(rank))
        ordered = sorted(problems, key=lambda p: (rank[p.file], p.pos))
        if len(ordered) > MAX_PROBLEMS:
            rest = ordered[MAX_PROBLEMS]
            more = f"{len(ordered) - MAX_PROBLEMS} more problems not shown; fix these first"
            ordered = [*ordered[:MAX_PROBLEMS], Problem(rest.file, rest.pos, more)]
        self.problems = ordered
        super().__init__("\n".join(map(str, self.problems)))


_TYPE_NAMES = {  # bool before int: True is an int too; datetime before date
    bool: "true/false", str: "a string", int: "a number", float: "a number",
    list: "a list", tuple: "a list", dict: "a mapping", type(None): "nothing",
    datetime: "a date and time", date: "a date", bytes: "binary data", set: "a set",
}


def type_name(value: Any) -> str:
    """How a YAML value's type reads in an error message (Located is a dict, too)."""
    return next(
        (n for t, n in _TYPE_NAMES.items() if isinstance(value, t)), type(value).__name__
    )


_EXPECTED = {
    "list_type": "a list", "tuple_type": "a list", "set_type": "a list",
    "frozen_set_type": "a list", "dict_type": "a mapping", "model_type": "a mapping",
    "model_attributes_type": "a mapping", "dataclass_type": "a mapping",
    "string_type": "a string", "int_type": "a whole number", "int_parsing": "a whole number",
    "float_type": "a number", "float_parsing": "a number", "bool_type": "true or false",
    "bool_parsing": "true or false", "path_type": "a path", "iterable_type": "a list",
    "none_required": "nothing",
}

_BOUNDS = {  # pydantic's constraint errors: (ctx key, sentence)
    "greater_than": ("gt", "must be greater than {}"),
    "greater_than_equal": ("ge", "must be {} or more"),
    "less_than": ("lt", "must be less than {}"),
    "less_than_equal": ("le", "must be {} or less"),
    "multiple_of": ("multiple_of", "must be a multiple of {}"),
    "too_short": ("min_length", "needs at least {} item(s)"),
    "too_long": ("max_length", "takes at most {} item(s)"),
    "string_too_short": ("min_length", "needs at least {} character(s)"),
    "string_too_long": ("max_length", "takes at most {} character(s)"),
}


def describe_error(err: Any) -> str:
    """A pydantic error as a short sentence a user can act on, in costguard's words only."""
    kind, value, ctx = err["type"], err.get("input"), err.get("ctx") or {}
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {type_name(value)}"
    if kind in _BOUNDS:
        key, sentence = _BOUNDS[kind]
        return f"{sentence.format(_number(ctx.get(key, '?')))}, got {_got(value)}"
    if kind in ("extra_forbidden", "invalid_key"):
        return "unknown key"
    if kind == "missing":
        return "required key is missing"
    if kind in ("enum", "literal_error"):
        return f"expected one of {ctx.get('expected', '')}, got {shown(value)}"
    if kind in ("value_error", "assertion_error"):
        return str(ctx.get("error", err["msg"]))
    return _plain(kind, err["msg"], value)


def _number(value: Any) -> str:
    """A bound as the docs write it: 0, not 0.0."""
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _got(value: Any) -> str:
    """A number is shown; anything longer is named by its type (a list's length is no help)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _number(value)
    return f"{len(value)}" if isinstance(value, str | list | dict) else type_name(value)


def _plain(kind: str, msg: str, value: Any) -> str:
    """Any other pydantic error in plain words: never pydantic's own phrasing or its links."""
    plain = {
        "int_from_float": f"expected a whole number, got {shown(value)}",
        "finite_number": f"expected a finite number, got {shown(value)}",
        "int_parsing_size": "expected a smaller whole number",
        "recursion_loop": "nested too deeply",
        "string_pattern_mismatch": f"{shown(value)} does not have the expected form",
    }
    if kind in plain:
        return plain[kind]
    text = re.sub(r"^(Input should be|Value error,)\s*", "", msg.split("[")[0]).strip()
    text = text[:1].lower() + text[1:]
    return f"expected {text}, got {type_name(value)}" if msg.startswith("Input should") else text


def matching(regex: str, what: str) -> AfterValidator:
    """A string constraint whose error says what was expected, not which regex it failed."""
    compiled = re.compile(regex)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(f"expected {what}, got {shown(value)}")
        return value

    return AfterValidator(check)


_INTERNAL = ("function-", "tagged-union", "union[", "[key]")
"""Parts of a pydantic location that name its machinery, not a place in the file."""

_PLAIN_KEY = re.compile(r"[\w.@/-]{1,60}")


def field_path(loc: Iterable[Any]) -> str:
    """A location as the user reads it, `routes[0].notify`; odd keys quoted and cut short."""
    out = ""
    for part in loc:
        if isinstance(part, int) and not isinstance(part, bool):
            out += f"[{part}]"
        elif not str(part).startswith(_INTERNAL):
            name = str(part) if _PLAIN_KEY.fullmatch(str(part)) else shown(part)
            out += f".{name}" if out else name
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
        loc, key = _location(err)
        pos = position_of(root, [*at, *base, *loc, *key])
        field = field_path([*base, *loc]) + _key_part(key, bool(base or loc))
        problems.append(Problem(file, pos, describe_error(err), subject, field))
    return problems


def _location(err: Any) -> tuple[list[Any], list[Any]]:
    """(where, [key]) of an error: pydantic's machinery left out, and a mapping key that is the
    problem itself (a wrong type, or `invalid_key`) apart, as YAML read it (`1`, not `[1]`)."""
    loc = [p for p in err["loc"] if not str(p).startswith(_INTERNAL)]
    if err["type"] == "invalid_key" or err["loc"][-1:] == ("[key]",):
        return loc[:-1], [err.get("input")]
    return loc, []


def _key_part(key: list[Any], nested: bool) -> str:
    if not key:
        return ""
    text = key[0] if isinstance(key[0], str) and _PLAIN_KEY.fullmatch(key[0]) else shown(key[0])
    return f".{text}" if nested else text
