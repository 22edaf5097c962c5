"""The weekly figures prepared for showing: words, percentages, bar widths and colours, so the
templates stay declarative and the text and HTML parts say the same thing. Pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from costguard.alerts.compose import SEVERITY_COLORS, duration
from costguard.model import Severity
from costguard.reports.figures import Amount, Item, Listing, TrendPoint, WeeklyFigures
from costguard.text import money

GOOD, FAIR, POOR, NONE = "#12b76a", "#f79009", "#d92d20", "#d0d5dd"
TREND_HEIGHT = 48
"""Pixels of the tallest trend bar (a score of 100)."""


def pct(value: float | None) -> str:
    """"87%", or "n/a" when nothing was judged."""
    return "n/a" if value is None else f"{value:.0f}%"


def score_color(value: float | None) -> str:
    """Green from 90, amber from 70, red below; grey without a score."""
    if value is None:
        return NONE
    return GOOD if value >= 90 else FAIR if value >= 70 else POOR


def points(now: float | None, before: float | None) -> str:
    """The change in score: "+3 pts", "-2 pts", "no change", "" when either is unknown."""
    if now is None or before is None:
        return ""
    delta = round(now - before)
    return "no change" if delta == 0 else f"{delta:+d} pts"


def change(now: float, before: float) -> str:
    """Week-over-week change of an amount: "+12%", "-3%", "new", "" for none."""
    if before == 0:
        return "new" if now else ""
    delta = (now - before) / before * 100
    return "no change" if abs(delta) < 0.5 else f"{delta:+.0f}%"


@dataclass(frozen=True)
class Bar:
    """One trend bar: its week, height in pixels, colour and label."""

    week: str
    label: str
    height: int
    color: str


def trend_bars(trend: Sequence[TrendPoint]) -> list[Bar]:
    """The 12-week trend as bars; a week without a score is a thin grey stub."""
    return [Bar(p.week, "-" if p.score is None else f"{p.score:.0f}",
                max(2, round((p.score or 0) * TREND_HEIGHT / 100)), score_color(p.score))
            for p in trend]


def age(since: datetime | None, as_of: datetime) -> str:
    """How long ago, as people say it ("3 d 4 h")."""
    return duration(as_of - since) if since else "unknown"


def item_view(item: Item, as_of: datetime) -> dict[str, Any]:
    """One finding line: severity, what, where, and what happened to it when; each list
    shows the phrase of its kind (opened, fixed, open_for, muted, acked)."""
    when = f"{item.at:%a %d %b %H:%M} UTC" if item.at else "unknown"
    until = f"until {item.until:%Y-%m-%d}" if item.until else "no expiry"
    return {
        "item": item, "severity": item.severity.value.upper(),
        "color": SEVERITY_COLORS[item.severity],
        "opened": f"opened {when}", "fixed": f"fixed {when}",
        "open_for": f"open for {age(item.at or item.first_seen, as_of)}",
        "muted": f"muted by {_who(item)}, {until}", "acked": f"acknowledged by {_who(item)}",
    }


def _who(item: Item) -> str:
    """Who triaged it ("not recorded" until the store records it), and why."""
    who = item.by or "someone (not recorded)"
    return f"{who}: {item.reason}" if item.reason else who


def listing_view(listing: Listing, as_of: datetime) -> dict[str, Any]:
    """A list's shown items and what it leaves out."""
    shown = len(listing.items)
    return {"total": listing.total, "items": [item_view(i, as_of) for i in listing.items],
            "more": listing.total - shown, "command": listing.command}


def amounts_view(amounts: Sequence[Amount]) -> list[dict[str, Any]]:
    """Spend lines with a bar relative to the largest."""
    top = max((a.usd for a in amounts), default=0.0) or 1.0
    return [{"name": a.name, "usd": money(a.usd), "previous": money(a.previous_usd),
             "change": change(a.usd, a.previous_usd), "width": max(1, round(a.usd / top * 100))}
            for a in amounts]


def check_view(row: Any) -> dict[str, Any]:
    """A check line: pass/fail as numbers and bar widths, its compliance ids."""
    ids = [*(f"CIS {c}" for c in row.cis), *row.security_hub]
    view = {"row": row, "ids": ", ".join(ids), "color": SEVERITY_COLORS[row.severity],
            "severity": row.severity.value.upper(), "judged": row.judged}
    if row.evaluated:
        passed = row.evaluated - row.failed
        view.update(passed=passed, pass_width=round(passed / row.evaluated * 100),
                    summary=f"{passed} of {row.evaluated} pass")
    else:
        view.update(passed=0, pass_width=0, summary=_unjudged(row))
    view["fail_width"] = 100 - view["pass_width"] if row.evaluated else 0
    return view


def _unjudged(row: Any) -> str:
    """What a check line says when it has no pass/fail counts for the week."""
    if row.judged:
        return "nothing to judge" if row.evaluated == 0 else "not run this week"
    return f"{row.open} open" if row.open else "no findings"


def open_summary(by_severity: dict[str, int]) -> str:
    """"2 critical, 5 high" (worst first), or "none"."""
    order = sorted(Severity, key=lambda s: -s.rank)
    parts = [f"{by_severity[s.value]} {s.value}" for s in order if by_severity.get(s.value)]
    return ", ".join(parts) or "none"


def incident_share(f: WeeklyFigures) -> str:
    """"3 of 4 (75%) within 30 min" against the goal, or what is known."""
    inc = f.incidents
    if not inc.judged:
        return "no incident to judge"
    return (f"{inc.within_target} of {inc.judged} ({inc.share:.0%}) within "
            f"{inc.target_minutes} min")
