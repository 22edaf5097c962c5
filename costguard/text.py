"""Text helpers shared by templates, headers and terminal output, with no Jinja2 import.

A scan that sends nothing must not pay for Jinja2; `costguard.alerts.render` re-exports these as
template filters.
"""

from __future__ import annotations

import re
import shlex
import unicodedata
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import Any

_CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]+")
_BIDI = re.compile(r"[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
"""Bidirectional controls: they reorder what a reader sees ("Trojan Source"), so one-line text
shows each as its code point instead."""

SHORT = 200
"""Longest value a list or sentence of a message shows; commands always keep the whole value."""


def oneline(value: Any) -> str:
    """A value fit for a subject or other one-line field: control characters become a space,
    bidirectional controls are shown as their code point (`<U+202E>`)."""
    text = _CONTROL.sub(" ", str(value)).strip()
    return _BIDI.sub(lambda m: f"<U+{ord(m.group()):04X}>", text)


def short(value: Any, limit: int = SHORT) -> str:
    """`oneline`, cut to `limit` characters with an ellipsis: an attacker's 10,000-character
    tag must not bury the message it appears in."""
    text = oneline(value)
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def sh(value: Any) -> str:
    """Quote a value for the shell so an attacker-chosen name cannot inject a command.

    Printable values get POSIX single quotes. A value holding control or format characters
    (a line break, a bidirectional override) gets ANSI-C quoting (`$'...'`, bash and zsh), so
    the command still names exactly that value while the reader sees every such character as
    an escape instead of a reordered or broken line.
    """
    text = str(value)
    if not any(unicodedata.category(c) in _HIDDEN for c in text):
        return shlex.quote(text)
    return "$'" + "".join(_ansi_c(c) for c in text) + "'"


_HIDDEN = frozenset({"Cc", "Cf", "Zl", "Zp"})


def _ansi_c(char: str) -> str:
    if char in "\\'":
        return "\\" + char
    if unicodedata.category(char) not in _HIDDEN:
        return char
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x80 else (
        f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")


def ts(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M:%S UTC") -> str:
    """Format a timestamp the same way in every template."""
    return value.strftime(fmt) if value else "unknown"


def money(value: float | None) -> str:
    """US dollars with cents, thousands separated: $4,896.00."""
    return "unknown" if value is None else f"${value:,.2f}"


def table(
    rows: Iterable[Sequence[Any]], headers: Sequence[str], width: int | None = None,
    whole: Collection[str] = (),
) -> str:
    """A plain aligned table, one line per row.

    With `width` (a terminal's columns) the widest cells are shortened until each line fits;
    without it (piped to a file or another program) nothing is ever cut. Cells of the `whole`
    columns are never cut: they hold ids (ARNs) a reader copies into a fix.
    """
    cells = [[oneline("" if v is None else v) for v in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    if width is not None:
        widths = _fit(widths, headers, whole, width)
    cells = [[_cut(c, w) for c, w in zip(row, widths, strict=True)] for row in cells]
    lines = ["  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(line.rstrip() for line in lines)


MIN_COLUMN = 8
"""A shortened column keeps at least this many characters, so it still says something."""


def _fit(widths: list[int], headers: Sequence[str], whole: Collection[str], width: int,
         ) -> list[int]:
    """Column widths that fit `width`, taken from the widest cuttable column first."""
    widths = list(widths)
    cuttable = [i for i, h in enumerate(headers) if h not in whole]
    while sum(widths) + 2 * (len(widths) - 1) > width:
        widest = max(cuttable, key=lambda i: widths[i], default=None)
        if widest is None or widths[widest] <= max(MIN_COLUMN, len(headers[widest])):
            break
        widths[widest] -= 1
    return widths


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "\u2026"


FIELD_LIMIT = 1024
"""Longest string a finding keeps in its details (and so in the store, the JSON, CSV and OCSF
output): AWS's own limits are 256 for a tag value and 255 for a description, so only a value
AWS never produced, or an attacker's 100 KB CloudTrail userAgent, is ever cut."""

RECORD_FIELD_LIMIT = 10_240
"""Longest string kept of a CloudTrail record or GuardDuty finding as read: room for any
policy document a Sigma rule may search (IAM's largest is 10,240 characters), not for an
attacker's 100 KB userAgent."""

TITLE_LIMIT = 300
"""Longest title a finding keeps; titles are one line."""


def bounded(value: Any, limit: int = FIELD_LIMIT) -> Any:
    """A JSON-like value fit to keep and show: every string (mapping keys too) cut to `limit`
    with an ellipsis, NUL shown as `<U+0000>` (PostgreSQL cannot store it; a C string ends at
    it) and unpaired surrogates (invalid UTF-8, which no database, mail or file can carry) as
    `\\udXXX` escapes. Other characters are kept: the JSON a program reads stays the data, and
    what a person reads goes through `oneline`/`short` besides."""
    if isinstance(value, str):
        return _bounded_text(value, limit)
    if isinstance(value, dict):
        return {_bounded_text(str(k), limit): bounded(v, limit) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [bounded(v, limit) for v in value]
    return value


def _bounded_text(text: str, limit: int) -> str:
    if len(text) > limit:
        text = text[: limit - 1] + "\u2026"
    if "\x00" in text:
        text = text.replace("\x00", "<U+0000>")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text
