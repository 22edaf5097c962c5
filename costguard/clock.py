"""The one clock: where "now" comes from.

Everything below `runtime/` is handed its clock (a `Clock`) or its "now"; `utcnow` is the default
they fall back to, and the only place outside `runtime/` that reads the wall clock, so tests and the
demo can control time everywhere by injecting their own.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

Clock = Callable[[], datetime]
"""A source of aware UTC datetimes."""


def utcnow() -> datetime:
    """The wall clock, timezone-aware (UTC)."""
    return datetime.now(timezone.utc)
