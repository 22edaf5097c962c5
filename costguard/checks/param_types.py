"""Parameter types several checks share: instance-type globs and region names.

A pattern that can never match (`m6i` for `m6i.large`, a regular expression written where a glob
is read) would silently approve or ignore every instance, so it is refused when the policy is
loaded. Region names are checked against botocore's endpoint data, which checks may not import:
the policy loader passes its region check in the validation context under `REGION_CHECK`, and
without one (a check's own tests) any name passes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import AfterValidator, ValidationInfo

REGION_CHECK = "region_check"
"""Validation-context key of a `str -> str` callable that raises ValueError for an unknown
region (`settings.policies` passes `settings.regions.check_region`)."""

_REGEX_ONLY = re.compile(r"[\\^$+(){}|]")
_GLOB = re.compile(r"[a-z0-9.*?!\[\]-]+", re.IGNORECASE)
_CLASS = re.compile(r"\[!?\]?[^\]]*\]")


def _instance_type_glob(value: str) -> str:
    """An instance-type glob that can match something; a ValueError saying why not."""
    if not value:
        raise ValueError("an empty pattern matches no instance type")
    shown = repr(value) if len(value) <= 40 else f"{value[:40]!r}..."
    if _REGEX_ONLY.search(value):
        raise ValueError(f"{shown} looks like a regular expression: write a shell-style glob "
                         "such as 't3.*' (* any text, ? one character, [..] one of)")
    if not _GLOB.fullmatch(value):
        raise ValueError(f"{shown} is not an instance-type pattern: use letters, digits, '.', "
                         "'-' and the wildcards * ? [..]")
    if set(_CLASS.sub("", value)) & set("[]"):
        raise ValueError(f"{shown} has an unmatched '[' or ']'")
    if not set(value) & set("*?[") and "." not in value:
        raise ValueError(f"{shown} matches no instance type (types are FAMILY.SIZE such as "
                         f"'m6i.large'): write '{value}.*' for the whole family")
    return value


def _region(value: str, info: ValidationInfo) -> str:
    check: Callable[[str], Any] | None = (info.context or {}).get(REGION_CHECK)
    if check is not None:
        check(value)
    return value


InstanceTypeGlob = Annotated[str, AfterValidator(_instance_type_glob)]
"""A shell-style glob of EC2 instance types, e.g. `t3.*`, `p*`, `m6i.large`."""

Region = Annotated[str, AfterValidator(_region)]
"""An AWS region name, checked by the loader's region check when one is given."""
