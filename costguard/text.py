"""Text helpers shared by templates, headers and terminal output, with no Jinja2 import.

A scan that sends nothing must not pay for Jinja2; `costguard.alerts.render` re-exports these as
template filters.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import Any

_CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]+")


def oneline(value: Any) -> str:
    """A value fit for a subject or other one-line field: control characters become a space."""
    return _CONTROL.sub(" ", str(value)).strip()


def sh(value: Any) -> str:
    """Quote a value for a POSIX shell so an attacker-chosen name cannot inject a command."""
    return shlex.quote(str(value))


def ts(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M:%S UTC") -> str:
    """Format a timestamp the same way in every template."""
    return value.strftime(fmt) if value else "unknown"


def money(value: float | None) -> str:
    """US dollars with cents, thousands separated: $4,896.00."""
    return "unknown" if value is None else f"${value:,.2f}"


def table(
    rows: Iterable[Sequence[Any]], headers: Sequence[str], width: int = 60,
    whole: Collection[str] = (),
) -> str:
    """A plain aligned table; cells are one line and long cells are cut, for terminals and logs.

    Cells of the `whole` columns are never cut: they hold ids (ARNs) a reader copies into a fix.
    """
    limits = [None if h in whole else width for h in headers]
    cells = [[_cell(v, w) for v, w in zip(row, limits, strict=True)] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(line.rstrip() for line in lines)


def _cell(value: Any, width: int | None) -> str:
    text = oneline("" if value is None else value)
    return text if width is None or len(text) <= width else text[: width - 1] + "\u2026"
