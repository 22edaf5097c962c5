"""An `Alert` rendered into the `Message` every channel sends: subject, text and HTML.

Pure: the only input besides the alert is the templates the `Renderer` reads. Everything the
email templates show is prepared here as plain strings and tuples, so templates stay declarative
and never trip StrictUndefined on a fact an alert does not carry.

What `alert.facts` may hold, beyond numbers shown as they are:
`summary` (replaces the generated "what happened" sentence), `regions`, `first_activity`
(datetime), `time_to_fix` (timedelta or seconds), `previous_severity` (escalations),
`thread_key` (follow-ups: the key of the incident's first message, so email clients thread them).
Keys ending in `_usd` are dollar amounts; datetimes and timedeltas are formatted as such.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from costguard.alerts.alert import Alert, AlertFinding
from costguard.alerts.render import Renderer, money, oneline, ts
from costguard.model import AlertKind, Message, Severity
from costguard.notifiers.channel import THREAD_KEY

SUBJECT_MAX = 150
"""Longest subject, in characters; mail clients cut far shorter, so the start must carry it."""

SUMMARY = "summary"

_SHOWN_ELSEWHERE = frozenset(
    {THREAD_KEY, SUMMARY, "regions", "first_activity", "previous_severity"}
)

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

SEVERITY_COLORS: Mapping[Severity, str] = {
    Severity.CRITICAL: "#b42318",
    Severity.HIGH: "#c4320a",
    Severity.MEDIUM: "#93670a",
    Severity.LOW: "#175cd3",
    Severity.INFO: "#475467",
}
"""Badge colours, dark enough for white text to stay readable."""

_TIME_LABELS = {
    AlertKind.NEW: "Detected at",
    AlertKind.RESOLVED: "Resolved at",
    AlertKind.ESCALATION: "Escalated at",
}


def build_message(alert: Alert, renderer: Renderer) -> Message:
    """Render `alert` with the email templates into the Message the outbox stores."""
    context = email_context(alert)
    subject = one_line_subject(renderer.render("email/subject.txt.j2", context))
    context["subject"] = subject
    kind = str(alert.kind)
    text = renderer.render(renderer.pick("email", kind, ".txt.j2"), context)
    html = renderer.render(renderer.pick("email", kind, ".html.j2"), context, as_html=True)
    fields: dict[str, Any] = {"title": oneline(alert.title), "accounts": list(_accounts(alert))}
    thread = alert.key if alert.kind is AlertKind.NEW else alert.facts.get(THREAD_KEY)
    if thread:
        fields[THREAD_KEY] = str(thread)
    return Message(
        key=alert.key,
        kind=alert.kind,
        severity=alert.severity,
        subject=subject,
        text=text,
        html=html,
        incident_id=alert.incident_id,
        fields=fields,
    )


def one_line_subject(text: str) -> str:
    """A subject that is one line with single spaces, cut to SUBJECT_MAX with an ellipsis."""
    # split() also breaks on NEL and the other separators `oneline` keeps; the SMTP channel
    # refuses a header with any of them, so one in a tag would otherwise block the alert.
    subject = " ".join(oneline(text).split())
    if len(subject) <= SUBJECT_MAX:
        return subject
    return subject[: SUBJECT_MAX - 1].rstrip() + "\u2026"


def email_context(alert: Alert) -> dict[str, Any]:
    """What the email templates see: the alert, plus its parts prepared for showing."""
    accounts = _accounts(alert)
    regions = _regions(alert)
    first = alert.facts.get("first_activity") or _earliest(alert)
    previous = alert.facts.get("previous_severity")
    return {
        "alert": alert,
        "kind": str(alert.kind),
        "severity": str(alert.severity).upper(),
        "previous_severity": str(previous).upper() if previous else None,
        "color": SEVERITY_COLORS[alert.severity],
        "colors": SEVERITY_COLORS,
        "accounts_label": accounts_label(accounts),
        "incident": f"incident #{alert.incident_id}" if alert.incident_id else "this incident",
        "headline": headline(alert, accounts),
        "summary": summary(alert, accounts, regions, first),
        "facts": fact_rows(alert, accounts, regions, first),
        "scope": scope_rows(alert.scope),
        "findings": tuple(sorted(alert.findings, key=lambda f: -f.severity.rank)),
        "finding_ids": tuple(f.id for f in alert.findings if f.id is not None),
        "remediation": alert.remediation,
        "timeline": tuple(sorted(alert.timeline, key=lambda event: event[0])),
    }


def headline(alert: Alert, accounts: tuple[str, ...]) -> str:
    """The line under the title: "Incident #42 in account 1", or just where for a digest."""
    where = accounts_label(accounts)
    if alert.incident_id is None:
        return where[:1].upper() + where[1:]
    return f"Incident #{alert.incident_id}" + (f" in {where}" if where else "")


def accounts_label(accounts: tuple[str, ...]) -> str:
    """"account 1", "accounts 1, 2, 3" or "5 accounts": short enough for a subject line."""
    if not accounts:
        return ""
    if len(accounts) == 1:
        return f"account {accounts[0]}"
    if len(accounts) <= 3:
        return "accounts " + ", ".join(accounts)
    return f"{len(accounts)} accounts"


def summary(
    alert: Alert, accounts: tuple[str, ...], regions: tuple[str, ...], first: datetime | None
) -> str:
    """The "what happened" paragraph: the facts' own summary, else one built from the numbers."""
    if alert.facts.get(SUMMARY):
        return oneline(alert.facts[SUMMARY])
    where = accounts_label(accounts) or "your accounts"
    where += f" ({', '.join(regions)})" if regions else ""
    count = _plural(len(alert.findings), "finding")
    incident = f"incident #{alert.incident_id}" if alert.incident_id else "this incident"
    if alert.kind is AlertKind.RESOLVED:
        return _resolved_summary(alert, incident, where)
    mix = severity_counts(alert.findings)
    if alert.kind is AlertKind.ESCALATION:
        previous = alert.facts.get("previous_severity")
        rose = f"rose from {str(previous).upper()} to" if previous else "rose to"
        return (
            f"The severity of {incident} {rose} {str(alert.severity).upper()}. "
            f"It now has {count} in {where}: {mix}."
        )
    grouped = f" and grouped them into {incident}" if alert.incident_id else ""
    text = f"costguard found {count} in {where}{grouped}: {mix}."
    if first is not None and alert.kind is AlertKind.NEW:
        text += (
            f" The first related activity was at {ts(first)}; "
            f"costguard raised this alert at {ts(alert.created_at)}."
        )
    return text


def _resolved_summary(alert: Alert, incident: str, where: str) -> str:
    at = ts(alert.created_at)
    if len(alert.findings) == 1:
        text = f"The finding of {incident} in {where} is fixed: a complete scan at {at} "
        text += "no longer sees it."
    else:
        text = f"All {len(alert.findings)} findings of {incident} in {where} are fixed: "
        text += f"a complete scan at {at} no longer sees them."
    took = alert.facts.get("time_to_fix")
    return text + (f" Time to fix: {duration(took)}." if took is not None else "")


def severity_counts(findings: Iterable[AlertFinding]) -> str:
    """"1 critical, 11 high": how many findings of each severity, worst first."""
    counts: dict[Severity, int] = {}
    for finding in findings:
        counts[finding.severity] = counts.get(finding.severity, 0) + 1
    worst_first = sorted(counts, key=lambda s: -s.rank)
    return ", ".join(f"{counts[s]} {s}" for s in worst_first) or "nothing open"


def fact_rows(
    alert: Alert, accounts: tuple[str, ...], regions: tuple[str, ...], first: datetime | None
) -> tuple[tuple[str, str], ...]:
    """(label, value) rows: where, when, then the alert's own facts; empty values left out."""
    rows = [
        ("Accounts", ", ".join(accounts)),
        ("Regions", ", ".join(regions)),
        (_TIME_LABELS.get(alert.kind, "Generated at"), ts(alert.created_at)),
        ("First activity", ts(first) if first else ""),
    ]
    for key, value in alert.facts.items():
        if key not in _SHOWN_ELSEWHERE:
            rows.append((_label(key), fact_value(key, value)))
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


def scope_rows(scope: Mapping[str, Any]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """(label, values) for each non-empty scope list: the known ones in order, then the rest."""
    known = dict(SCOPE_LABELS)
    keys = [k for k, _ in SCOPE_LABELS if k in scope] + [k for k in scope if k not in known]
    rows = ((known.get(k) or _label(k), _strings(scope[k])) for k in keys)
    return tuple((label, values) for label, values in rows if values)


def _strings(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,) if value else ()
    if isinstance(value, Iterable) and not isinstance(value, Mapping):
        return tuple(str(v) for v in value)
    return (str(value),)


def _label(key: str) -> str:
    words = key.removesuffix("_usd").replace("_", " ").strip()
    return words[:1].upper() + words[1:]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _accounts(alert: Alert) -> tuple[str, ...]:
    return alert.accounts or tuple(sorted({f.account for f in alert.findings}))


def _regions(alert: Alert) -> tuple[str, ...]:
    given = alert.facts.get("regions")
    if given:
        return _strings(given)
    return tuple(sorted({f.region for f in alert.findings}))


def _earliest(alert: Alert) -> datetime | None:
    """When the first known activity happened: the timeline's start or the oldest finding."""
    times = [when for when, _ in alert.timeline]
    times += [f.first_seen for f in alert.findings if f.first_seen]
    return min(times, default=None)
