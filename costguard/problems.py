"""Problems found in config, policy and template files, reported all at once as one line each.

The format is the contract DESIGN.md gives: `FILE:LINE:COL: policy 'NAME': FIELD: what is wrong`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from costguard.yamlload import Position, position_of


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
        super().__init__("\n".join(map(str, problems)))
        self.problems = list(problems)


_TYPE_NAMES = {
    str: "a string", int: "a number", float: "a number", bool: "true/false",
    list: "a list", dict: "a mapping", type(None): "nothing",
}


def type_name(value: Any) -> str:
    """How a YAML value's type reads in an error message."""
    return next((n for t, n in _TYPE_NAMES.items() if type(value) is t), type(value).__name__)


_EXPECTED = {
    "list_type": "a list", "dict_type": "a mapping", "model_type": "a mapping",
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
    if kind == "enum":
        return f"expected one of {err.get('ctx', {}).get('expected', '')}, got {value!r}"
    if kind in ("value_error", "assertion_error"):
        return str(err.get("ctx", {}).get("error", err["msg"]))
    return err["msg"][:1].lower() + err["msg"][1:]


def _field_path(loc: Iterable[Any]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not str(part).startswith(("function-", "tagged-union", "union[")):
            out += f".{part}" if out else str(part)
    return out


def from_validation_error(
    exc: ValidationError, *, file: str, root: Any, base: Sequence[Any] = (), subject: str = ""
) -> list[Problem]:
    """One Problem per pydantic error, positioned on the YAML node the error is about."""
    problems = []
    for err in exc.errors():
        loc = [p for p in err["loc"] if not str(p).startswith(("function-", "union["))]
        pos = position_of(root, [*base, *loc])
        problems.append(
            Problem(file, pos, describe_error(err), subject, _field_path([*base, *loc]))
        )
    return problems
