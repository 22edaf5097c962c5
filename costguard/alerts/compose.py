"""An `Alert` rendered into the `Message` every channel sends: subject, text and HTML.

Pure: the only input besides the alert is the templates the `Renderer` reads. Everything the
email templates show is prepared here (and in `message_parts`) as plain strings and tuples, so
templates stay declarative and never trip StrictUndefined on a fact an alert does not carry.

A message leads with what a responder needs on the first screen: what happened and where, the
money (`costguard.alerts.money`), and the merged first actions as runnable commands; then the
compact findings list, the per-check details, scope, facts and timeline.

What `alert.facts` may hold, beyond numbers shown as they are:
`summary` (replaces the generated "what happened" sentence), `regions`, `first_activity`
(datetime), `time_to_fix` (timedelta or seconds), `previous_severity` (escalations), `new`
(updates: what is new since the last message, a mapping of lists), the money facts
(`costguard.alerts.money.FACT_KEYS`), `thread_key` (follow-ups: the key of the incident's first
message, so email clients thread them). Keys ending in `_usd` are dollar amounts; datetimes and
timedeltas are formatted as such.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from costguard.alerts.alert import Alert, AlertFinding
from costguard.alerts.document import incident_document
from costguard.alerts.message_parts import (
    GROWN,
    WHO_KEYS,
    WHO_MAX,
    duration,
    fact_rows,
    finding_groups,
    new_rows,
    scope_rows,
    strings,
    who_line,
)
from costguard.alerts.money import FACT_KEYS, money_rows
from costguard.alerts.playbook import covered
from costguard.alerts.render import Renderer, oneline, ts
from costguard.model import GLOBAL_REGION, AlertKind, Message, Severity
from costguard.notifiers.channel import DOCUMENT_KEY, THREAD_KEY
from costguard.text import short

SUBJECT_MAX = 150
"""Longest subject, in characters; mail clients cut far shorter, so the start must carry it."""

SUBJECT_TITLE_MAX = 80
"""The title's share of a subject, so the account and region after it always fit."""

SUMMARY = "summary"
NEW = "new"

_SHOWN_ELSEWHERE = frozenset(
    {THREAD_KEY, SUMMARY, NEW, "regions", "first_activity", "previous_severity", *FACT_KEYS}
)

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
    AlertKind.UPDATE: "Updated at",
    AlertKind.RESOLVED: "Resolved at",
    AlertKind.ESCALATION: "Escalated at",
    AlertKind.RENOTIFY: "Reminded at",
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
    fields[DOCUMENT_KEY] = incident_document(alert)
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
    accounts, regions = _accounts(alert), _regions(alert)
    first = alert.facts.get("first_activity") or _earliest(alert)
    previous = alert.facts.get("previous_severity")
    return {
        "alert": alert,
        "title": short(alert.title, 300),
        "subject_title": short(alert.title, SUBJECT_TITLE_MAX),
        "kind": str(alert.kind),
        "severity": str(alert.severity).upper(),
        "previous_severity": str(previous).upper() if previous else None,
        "color": SEVERITY_COLORS[alert.severity],
        "colors": SEVERITY_COLORS,
        "accounts_label": accounts_label(accounts),
        "regions_label": regions_label(regions),
        "incident": f"incident #{alert.incident_id}" if alert.incident_id else "this incident",
        "headline": headline(alert, accounts, regions),
        "summary": summary(alert, accounts, regions, first),
        "who": who_line(alert.scope) if alert.kind is not AlertKind.RESOLVED else "",
        "money": money_rows(alert.facts, alert.kind),
        "actions": alert.actions,
        "new": new_rows(alert.facts.get(NEW)) if alert.kind in GROWN else (),
        "groups": finding_groups(alert),
        "findings": alert.findings,
        "mix": severity_counts(alert.findings),
        "facts": _fact_rows(alert, first),
        "scope": scope_rows(_beyond_who(alert)),
        "finding_ids": tuple(f.id for f in alert.findings if f.id is not None),
        "remediation": alert.remediation,
        "timeline": tuple((at, short(what)) for at, what in
                          sorted(alert.timeline, key=lambda event: event[0])),
    }


def headline(alert: Alert, accounts: tuple[str, ...], regions: tuple[str, ...] = ()) -> str:
    """The line under the title, where it happened: "Incident #42 in account 1 (us-east-1)"."""
    where = accounts_label(accounts) + (f" ({', '.join(map(short, regions))})" if regions else "")
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


def regions_label(regions: tuple[str, ...]) -> str:
    """"us-east-1" or "4 regions": where, short enough for a subject line (the message body
    lists them). "global" (IAM, the bill) counts only when nothing else is named."""
    regions = tuple(r for r in regions if r != GLOBAL_REGION) or regions
    if len(regions) == 1:
        return short(regions[0], 40)
    return f"{len(regions)} regions" if regions else ""


def summary(
    alert: Alert, accounts: tuple[str, ...], regions: tuple[str, ...], first: datetime | None
) -> str:
    """The "what happened" paragraph: the facts' own summary, else one built from the numbers."""
    if alert.facts.get(SUMMARY):
        return short(alert.facts[SUMMARY], 1000)
    where = accounts_label(accounts) or "your accounts"
    count = _plural(len(alert.findings), "finding")
    incident = f"incident #{alert.incident_id}" if alert.incident_id else "this incident"
    mix = severity_counts(alert.findings)
    if alert.kind is AlertKind.RESOLVED:
        return _resolved_summary(alert, incident, where)
    if alert.kind is AlertKind.ESCALATION:
        previous = alert.facts.get("previous_severity")
        rose = f"rose from {str(previous).upper()} to" if previous else "rose to"
        grew = f": {_growth(alert.facts[NEW])}" if alert.facts.get(NEW) else ""
        return (f"The severity of {incident} {rose} {str(alert.severity).upper()}{grew}. "
                f"It now has {count} in {where}: {mix}.")
    if alert.kind is AlertKind.UPDATE:
        return (f"{incident[:1].upper() + incident[1:]} grew since its last message: "
                f"{_growth(alert.facts.get(NEW))}. It now has {count} in {where}: {mix}.")
    text = f"{count} ({mix}) in {where}."
    if first is not None and alert.kind is AlertKind.NEW:
        text += f" First activity {ts(first)}, alert {ts(alert.created_at)}."
    return text


def _growth(new: Any) -> str:
    """"2 instances, 1 region": how much an update adds, by kind."""
    rows = new.items() if isinstance(new, Mapping) else ()
    counts = [(len(strings(v)), str(k).replace("_", " ")) for k, v in rows]
    return ", ".join(f"{n} new {what[:-1] if n == 1 and what.endswith('s') else what}"
                     for n, what in counts if n) or "new findings"


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


def _fact_rows(alert: Alert, first: datetime | None) -> tuple[tuple[str, str], ...]:
    """When (detected, first activity; a new incident's summary says both already), then the
    alert's own facts not shown elsewhere."""
    when = ((_TIME_LABELS.get(alert.kind, "Generated at"), ts(alert.created_at)),
            ("First activity", ts(first) if first else ""))
    shown = () if alert.kind is AlertKind.NEW else tuple(r for r in when if r[1])
    return shown + fact_rows(alert.facts, _SHOWN_ELSEWHERE)


def _beyond_who(alert: Alert) -> Mapping[str, Any]:
    """The scope values neither the "Who" line nor a first action shows already."""
    if alert.kind is AlertKind.RESOLVED:
        return alert.scope
    done = covered(alert.actions)
    kept = {}
    for key, values in alert.scope.items():
        listed = strings(values)
        if key in WHO_KEYS and len(listed) <= WHO_MAX:
            continue
        prefix = _COVERED_PREFIX.get(key)
        kept[key] = [v for v in listed if not prefix or not _done(done, prefix, v)]
    return kept


_COVERED_PREFIX = {"instances": "instance:", "security_groups": "sg:", "key_pairs": "keypair:",
                   "access_keys": "access_key:"}


def _done(done: frozenset[str], prefix: str, value: str) -> bool:
    """Whether a first action acts on this scope value (key pairs are named by their last
    part, `keypair:ACCOUNT:REGION:NAME`)."""
    if prefix == "keypair:":
        return any(e.startswith(prefix) and e.endswith(":" + value) for e in done)
    return prefix + value in done


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _accounts(alert: Alert) -> tuple[str, ...]:
    return alert.accounts or tuple(sorted({f.account for f in alert.findings}))


def _regions(alert: Alert) -> tuple[str, ...]:
    given = alert.facts.get("regions")
    if given:
        return strings(given)
    return tuple(sorted({f.region for f in alert.findings}))


def _earliest(alert: Alert) -> datetime | None:
    """When the first known activity happened: the timeline's start or the oldest finding."""
    times = [when for when, _ in alert.timeline]
    times += [f.first_seen for f in alert.findings if f.first_seen]
    return min(times, default=None)
