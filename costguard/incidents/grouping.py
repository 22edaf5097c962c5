"""Pure grouping of findings into incidents: what gets one message instead of many.

Findings belong together when they share an entity (a principal, an access key, a key pair, a
security group, an instance): the attacker's root key, the key pair it imported, the group it
opened and the instances it launched all point at each other. They also belong together when
they are urgent (high or critical), in the same account and close in time: a burst of serious
findings is one event to respond to even when no data links them (a root key seen in the
credential report and ten instances seen in the inventory). A finding joins an open incident
that shares an entity with it (and was active within `WINDOW`), or, when urgent, one of the same
account detected within `BURST`; otherwise connected findings form a new incident. Findings of
one check in one account that differ only by region (GuardDuty off in four regions) are one
family and always one incident, so they make one message that lists the regions.
Nothing here touches AWS, the database or the network.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from costguard.model import Severity

WINDOW = timedelta(minutes=15)
"""How long after its detection (or last activity) an open incident absorbs related findings.

Findings that join an announced incident are announced as an update; activity after the
window is a new incident with its own alert, which reads better than an hours-old thread."""

BURST = timedelta(minutes=15)
"""Urgent findings in one account this close in time are one incident, linked or not."""

URGENT = Severity.HIGH
"""Findings at or above this severity group by time as well as by shared entities."""


class FindingLike(Protocol):
    """What grouping reads of a stored finding (kept structural so this module stays pure)."""

    id: int
    check: str
    severity: Severity
    account: str
    entities: frozenset[str]
    first_seen: datetime | None
    incident_id: int | None


class IncidentLike(Protocol):
    """What grouping reads of a stored incident."""

    id: int
    severity: Severity
    accounts: tuple[str, ...]
    entities: frozenset[str]
    detected_at: datetime | None


@dataclass(frozen=True)
class Plan:
    """One group of fresh findings: join `incident_id`, or open a new incident when it is None."""

    incident_id: int | None
    finding_ids: tuple[int, ...]
    entities: frozenset[str]
    accounts: tuple[str, ...]
    severity: Severity


class _Union:
    """Union-find over finding ids; small and local so the grouping rule stays readable."""

    def __init__(self, ids: Iterable[int]) -> None:
        self.parent = {i: i for i in ids}

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def join(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def _components(findings: Sequence[FindingLike]) -> list[list[FindingLike]]:
    """Findings connected through shared entities or an urgent burst in one account."""
    union = _Union(f.id for f in findings)
    owner: dict[str, int] = {}
    for f in findings:
        keys = [*f.entities, *family(f),
                *([f"burst:{f.account}"] if f.severity >= URGENT else [])]
        for key in keys:
            union.join(f.id, owner.setdefault(key, f.id))
    groups: dict[int, list[FindingLike]] = {}
    for f in sorted(findings, key=lambda f: f.id):
        groups.setdefault(union.find(f.id), []).append(f)
    return list(groups.values())


def family(f: FindingLike) -> tuple[str, ...]:
    """The key findings share when they differ only by region: the check, the account and the
    resource with its region left out (`arn:aws:guardduty:*:1:detector`). Read loosely (a
    finding without `region` and `resource` has no family), so grouping takes plain data."""
    region, resource = getattr(f, "region", ""), getattr(f, "resource", "")
    if not resource:
        return ()
    resource = resource.replace(region, "*") if region else resource
    return (f"family:{f.check}\0{f.account}\0{resource}",)


def _last_activity(incident: IncidentLike, activity: dict[int, datetime]) -> datetime | None:
    return activity.get(incident.id) or incident.detected_at


def plan_groups(
    fresh: Sequence[FindingLike],
    open_incidents: Sequence[IncidentLike],
    now: datetime,
    *,
    window: timedelta = WINDOW,
    burst: timedelta = BURST,
    activity: dict[int, datetime] | None = None,
) -> list[Plan]:
    """Group findings that have no open incident yet; `activity` maps incident ids to the time
    of their latest finding (their detection time is used when it is missing)."""
    activity = activity or {}
    live = [
        i for i in sorted(open_incidents, key=lambda i: i.id)
        if (_last_activity(i, activity) or now) >= now - window
    ]
    plans = []
    for group in _components(fresh):
        entities = frozenset().union(*(f.entities for f in group))
        severity = Severity.highest(f.severity for f in group)
        accounts = tuple(sorted({f.account for f in group}))
        target = next((i.id for i in live if i.entities & entities), None)
        if target is None and severity >= URGENT:
            target = next((i.id for i in live if _in_burst(i, accounts, now, burst)), None)
        plans.append(Plan(target, tuple(f.id for f in group), entities, accounts, severity))
    return plans


def _in_burst(
    incident: IncidentLike, accounts: Sequence[str], now: datetime, burst: timedelta
) -> bool:
    """An urgent incident in one of these accounts, detected within the burst window."""
    detected = incident.detected_at
    same_account = bool(set(incident.accounts) & set(accounts))
    urgent = incident.severity >= URGENT
    return same_account and urgent and detected is not None and now - detected <= burst


MAX_PHRASES = 3
"""An incident title names at most this many checks; the rest are counted."""


class CheckVocabulary(Protocol):
    """What a title reads of a check class (`costguard.checks.base.Check`)."""

    id: str
    title_rank: int
    supersedes: tuple[str, ...]

    def phrase(self, findings: Sequence[Any]) -> str: ...


class Vocabularies(Protocol):
    """Where the check classes are looked up: the check registry the caller runs with."""

    def get(self, check_id: str) -> Any: ...


def _named(by_check: dict[str, list[Any]], registry: Vocabularies) -> list[CheckVocabulary]:
    """The checks a title names, most telling first; unknown checks and checks a present one
    supersedes are counted only."""
    known = [cls for c in by_check if (cls := registry.get(c)) is not None]
    hidden = {s for cls in known for s in cls.supersedes}
    shown = [cls for cls in known if cls.id not in hidden]
    return sorted(shown, key=lambda cls: (cls.title_rank, cls.id))[:MAX_PHRASES]


def incident_title(findings: Sequence[Any], registry: Vocabularies) -> str:
    """A short title naming the most telling findings, e.g. "Root credentials in use, crypto-
    mining seen by GuardDuty, 10 unapproved instances (+9 more findings)". Each check's class
    (from `registry`) says how it is named and how telling it is. The accounts are shown beside
    it everywhere, so the title does not repeat them."""
    by_check: dict[str, list[Any]] = {}
    for f in findings:
        by_check.setdefault(f.check, []).append(f)
    named = _named(by_check, registry)
    phrases = [cls.phrase(by_check[cls.id]) for cls in named]
    rest = len(findings) - sum(len(by_check[cls.id]) for cls in named)
    if not phrases:
        return f"{len(findings)} finding{'s' if len(findings) != 1 else ''}"
    text = ", ".join(phrases)
    if rest:
        text += f" (+{rest} more finding{'s' if rest != 1 else ''})"
    return text[:1].upper() + text[1:]


def all_resolved(statuses: Iterable[str]) -> bool:
    """An incident is fixed when every one of its findings is resolved (and it has some)."""
    items = list(statuses)
    return bool(items) and all(str(s) == "resolved" for s in items)
