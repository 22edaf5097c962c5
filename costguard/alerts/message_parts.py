"""The parts of a message prepared for showing: compact findings, scope, facts, what is new.

Pure, like `compose`: every value an attacker can choose (tag values, user and key pair names,
user agents) is made one line and cut to `costguard.text.SHORT` characters here, so both the text
and the HTML part show it the same way; commands are the only place a whole value appears.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from costguard.alerts.alert import Alert, AlertFinding
from costguard.model import AlertKind, Severity
from costguard.text import money, short, ts

SCOPE_LABELS: tuple[tuple[str, str], ...] = (
    ("principals", "Principals"),
    ("access_keys", "Access keys"),
    ("source_ips", "Source IPs"),
    ("user_agents", "User agents"),
    ("key_pairs", "Key pairs"),
    ("security_groups", "Security groups"),
    ("instances", "Instances"),
    ("api_calls", "API calls"),
)
"""`alert.scope` keys the emails know, in the order they are shown; others follow."""

NEW_LABELS: Mapping[str, str] = {
    "instances": "Instances", "security_groups": "Security groups", "groups": "Security groups",
    "regions": "Regions", "principals": "Principals", "api_calls": "API calls",
    "findings": "Findings", "finding_titles": "Findings", "key_pairs": "Key pairs",
    "access_keys": "Access keys",
}
"""`facts["new"]` keys of an update message (what is new since the last message)."""

GROWN = frozenset({AlertKind.UPDATE, AlertKind.ESCALATION})
"""Kinds that announce a change to an incident already told: they lead with what is new since
the channel's last message, so a responder never diffs two alerts by eye."""

LIST_MAX = 12
"""A scope or "new" row shows this many values, then how many more."""


@dataclass(frozen=True)
class FindingLine:
    """One finding on one line of the compact list."""

    id: int | None
    severity: Severity
    title: str


@dataclass(frozen=True)
class FindingGroup:
    """The findings of one policy, worst first: the heading says which and how many."""

    label: str
    severity: Severity
    lines: tuple[FindingLine, ...]


def finding_groups(alert: Alert) -> tuple[FindingGroup, ...]:
    """The compact findings list: one group per policy in the order of the playbook's steps
    (then worst first), one line per finding."""
    order = {step.check: n for n, step in enumerate(alert.remediation)}
    groups: dict[str, list[AlertFinding]] = {}
    for f in alert.findings:
        groups.setdefault(f.policy, []).append(f)

    def position(item: tuple[str, list[AlertFinding]]) -> tuple[int, int, str]:
        name, members = item
        worst = Severity.highest(m.severity for m in members)
        return order.get(members[0].check, len(order)), -worst.rank, name

    return tuple(_group(name, members) for name, members in sorted(groups.items(), key=position))


def _group(name: str, members: list[AlertFinding]) -> FindingGroup:
    ranked = sorted(members, key=lambda f: (-f.severity.rank, f.id or 0))
    return FindingGroup(
        label=short(name), severity=Severity.highest(f.severity for f in members),
        lines=tuple(FindingLine(f.id, f.severity, short(f.title)) for f in ranked))


def listed(values: Sequence[Any], limit: int = LIST_MAX) -> str:
    """Values on one line, each cut to `SHORT`, at most `limit` of them and how many more."""
    shown = ", ".join(short(v) for v in values[:limit])
    return shown + (f", +{len(values) - limit} more" if len(values) > limit else "")


def scope_rows(scope: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """(label, values on one line) for each non-empty scope list: the known ones in order,
    then the rest; a label counts its values when there are several."""
    known = dict(SCOPE_LABELS)
    keys = [k for k, _ in SCOPE_LABELS if k in scope] + [k for k in scope if k not in known]
    rows = []
    for key in keys:
        values = strings(scope[key])
        if values:
            label = known.get(key) or label_of(key)
            rows.append((label + (f" ({len(values)})" if len(values) > 1 else ""), listed(values)))
    return tuple(rows)


WHO = (("principals", ""), ("access_keys", "access key"), ("source_ips", "from"),
       ("user_agents", "user agent"))
WHO_KEYS = frozenset(key for key, _ in WHO)
WHO_MAX = 3
"""The "Who" line names this many of each; the scope section lists longer lists whole."""


def who_line(scope: Mapping[str, Any]) -> str:
    """Who did it, from where, with what: the principals, keys, addresses and user agents."""
    parts = [(label, strings(scope.get(key))) for key, label in WHO]
    return "; ".join(f"{label} {listed(v, WHO_MAX)}".strip() for label, v in parts if v)


def new_rows(new: Any) -> tuple[tuple[str, str], ...]:
    """What an update adds (`facts["new"]`), read defensively: a mapping of lists gives a row
    per key, a plain list one row, anything else nothing."""
    if isinstance(new, Mapping):
        rows = ((NEW_LABELS.get(str(k)) or label_of(str(k)), strings(v)) for k, v in new.items())
        return tuple((label, listed(values)) for label, values in rows if values)
    values = strings(new) if isinstance(new, list | tuple) else ()
    return (("New", listed(values)),) if values else ()


def fact_rows(facts: Mapping[str, Any], skip: Iterable[str]) -> tuple[tuple[str, str], ...]:
    """(label, value) for each fact not shown elsewhere; empty values left out."""
    hidden = set(skip)
    rows = ((label_of(k), short(fact_value(k, v))) for k, v in facts.items() if k not in hidden)
    return tuple((label, value) for label, value in rows if value)


def fact_value(key: str, value: Any) -> str:
    """One fact as text: money for `*_usd`, durations, timestamps, lists joined."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if key.endswith("_usd") and isinstance(value, int | float):
        return money(value)
    if isinstance(value, timedelta) or (key == "time_to_fix" and isinstance(value, int | float)):
        return duration(value)
    if isinstance(value, datetime):
        return ts(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, list | tuple | set | frozenset):
        return ", ".join(map(str, value))
    return "" if value is None else str(value)


def duration(value: timedelta | float) -> str:
    """A span as people say it: "40 s", "47 min", "2 h 5 min", "3 d 4 h"."""
    seconds = int(value.total_seconds() if isinstance(value, timedelta) else value)
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def strings(value: Any) -> tuple[str, ...]:
    """A scalar or a list as strings; nothing for None or an empty value."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,) if value else ()
    if isinstance(value, Iterable) and not isinstance(value, Mapping):
        return tuple(str(v) for v in value)
    return (str(value),)


def label_of(key: str) -> str:
    """A fact or scope key as a label: "tag_owner" -> "Tag owner"."""
    words = key.removesuffix("_usd").replace("_", " ").strip()
    return words[:1].upper() + words[1:]
