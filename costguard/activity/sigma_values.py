"""Sigma values compared with a CloudTrail record's values (pure; see sigma_match).

pySigma hands each leaf of a condition over as one typed value with its modifiers applied:
a string with wildcards, a regular expression, a network, a comparison, a presence test.
Each becomes a test of the list of values a dotted field name reaches in a record.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from typing import Any

from sigma.types import (
    CompareOperators,
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaExpansion,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SpecialChars,
)

from costguard.activity.trail_record import Test, UnsupportedRule, as_text

__all__ = ["Test", "UnsupportedRule", "as_text", "value_test"]


# --- Values ----------------------------------------------------------------------------------




def string_test(value: SigmaString) -> Callable[[str], bool]:
    """One text's test for a Sigma string: wildcards, case-insensitive unless `cased`."""
    cased = isinstance(value, SigmaCasedString)
    parts = list(value.iter_parts())
    if any(not isinstance(p, str | SpecialChars) for p in parts):
        raise UnsupportedRule(f"placeholders are not supported: {value}")
    fold = (lambda s: s) if cased else str.lower
    literal = [p for p in parts if isinstance(p, str)]
    star = SpecialChars.WILDCARD_MULTI
    if all(isinstance(p, str) for p in parts):
        word = fold("".join(literal))
        return lambda text: fold(text) == word
    if len(literal) == 1 and SpecialChars.WILDCARD_SINGLE not in parts:
        word = fold(literal[0])
        if parts == [star, literal[0], star]:
            return lambda text: word in fold(text)
        if parts == [literal[0], star]:
            return lambda text: fold(text).startswith(word)
        if parts == [star, literal[0]]:
            return lambda text: fold(text).endswith(word)
    pattern = "".join(re.escape(p) if isinstance(p, str) else (".*" if p is star else ".")
                      for p in parts)
    compiled = re.compile(pattern, re.DOTALL | (0 if cased else re.IGNORECASE))
    return lambda text: compiled.fullmatch(text) is not None


def _on_texts(test: Callable[[str], bool]) -> Test:
    def run(values: list[Any]) -> bool:
        for value in values:
            text = as_text(value)
            if text is not None and test(text):
                return True
        return False
    return run


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(value) if isinstance(value, str) else None
    except ValueError:
        return None


_COMPARE: Mapping[CompareOperators, Callable[[float, float], bool]] = {
    CompareOperators.LT: lambda a, b: a < b, CompareOperators.LTE: lambda a, b: a <= b,
    CompareOperators.GT: lambda a, b: a > b, CompareOperators.GTE: lambda a, b: a >= b,
    CompareOperators.NEQ: lambda a, b: a != b,
}


def _compare_test(value: SigmaCompareExpression) -> Test:
    limit, compare = float(value.number.number), _COMPARE[value.op]
    return lambda values: any(
        (n := _number(v)) is not None and compare(n, limit) for v in values)


def _cidr_test(value: SigmaCIDRExpression) -> Test:
    network = value.network

    def inside(text: str) -> bool:
        # A value may be a range itself (an ingress rule's cidrIp): it matches when the
        # rule's network holds all of it.
        try:
            found = ipaddress.ip_network(text.strip(), strict=False)
        except ValueError:
            return False
        return found.version == network.version and found.subnet_of(network)  # type: ignore[arg-type]
    return _on_texts(inside)


_RE_FLAGS = {SigmaRegularExpressionFlag.IGNORECASE: re.IGNORECASE,
             SigmaRegularExpressionFlag.MULTILINE: re.MULTILINE,
             SigmaRegularExpressionFlag.DOTALL: re.DOTALL}


def _regex_test(value: SigmaRegularExpression) -> Test:
    flags = 0
    for flag in value.flags:
        flags |= _RE_FLAGS[flag]
    compiled = re.compile(value.regexp.to_plain(), flags)
    return _on_texts(lambda text: compiled.search(text) is not None)


def _number_test(value: SigmaNumber) -> Test:
    wanted, spelled = float(value.number), str(value.number)
    return lambda values: any(_number(v) == wanted if not isinstance(v, str) else v == spelled
                              for v in values)


def _bool_test(value: SigmaBool) -> Test:
    spelled = "true" if value.boolean else "false"
    return lambda values: any(v is value.boolean or (isinstance(v, str) and v.lower() == spelled)
                              for v in values)


def value_test(value: Any) -> Test:
    """The test of one rule value on a field's values."""
    if isinstance(value, SigmaString):
        return _on_texts(string_test(value))
    if isinstance(value, SigmaBool):
        return _bool_test(value)
    if isinstance(value, SigmaNumber):
        return _number_test(value)
    if isinstance(value, SigmaNull):
        return lambda values: all(v == "" for v in values)
    if isinstance(value, SigmaExists):
        return lambda values: bool(values) is value.exists
    if isinstance(value, SigmaRegularExpression):
        return _regex_test(value)
    if isinstance(value, SigmaCIDRExpression):
        return _cidr_test(value)
    if isinstance(value, SigmaCompareExpression):
        return _compare_test(value)
    if isinstance(value, SigmaExpansion):
        tests = [value_test(v) for v in value.values]
        return lambda values: any(t(values) for t in tests)
    raise UnsupportedRule(f"values of type {type(value).__name__} are not supported")
