"""Text helpers shared by templates, headers and terminal output, with no Jinja2 import.

A scan that sends nothing must not pay for Jinja2; `costguard.alerts.render` re-exports these as
template filters.
"""

from __future__ import annotations

import re
import shlex
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
