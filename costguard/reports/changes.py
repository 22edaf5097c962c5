"""What changed in a week, replayed from the transition log: new, resolved, still open, muted,
acknowledged, as things stood at the week's end (not as they stand today). Pure.

Who triaged a finding comes from `triage_actor`: the one place to read it once transitions
record who acted (`findings ack --by`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from costguard.model import Status
from costguard.reports.figures import Changes, Item, Listing
from costguard.reports.history import History
from costguard.store.records import StoredFinding, Transition

TOP = 10
"""Items shown per list; the rest are counted, with the command that lists them."""

ACTIVE = (Status.OPEN, Status.ACKNOWLEDGED)
"""What counts as open in the headline figures (muted is accepted, and listed apart)."""


def triage_actor(transition: Transition) -> str | None:
    """Who made a triage transition, where the store records it (None: not recorded)."""
    actor = getattr(transition, "actor", None)
    return str(actor) if actor else None


@dataclass(frozen=True)
class Replay:
    """Each finding's state at the week's end: its last transition, and when its current open
    stretch began."""

    last: dict[int, Transition]
    opened: dict[int, datetime]
    resolved_in_week: dict[int, datetime]
    opened_in_week: dict[int, datetime]

    def status(self, finding_id: int) -> Status | None:
        """Its status at the week's end (None: it did not exist yet)."""
        last = self.last.get(finding_id)
        return last.to_status if last else None


def replay(transitions: Iterable[Transition], start: datetime) -> Replay:
    """Walk the log (already bounded by the week's end) once, oldest first."""
    result = Replay({}, {}, {}, {})
    for t in sorted(transitions, key=lambda t: t.at):
        result.last[t.finding_id] = t
        if t.to_status is Status.OPEN and t.from_status in (None, Status.RESOLVED):
            result.opened[t.finding_id] = t.at
            if t.at >= start:
                result.opened_in_week[t.finding_id] = t.at
        if t.to_status is Status.RESOLVED and t.at >= start:
            result.resolved_in_week[t.finding_id] = t.at
    return result


def changes(history: History, state: Replay) -> Changes:
    """The week's lists, each worst first, with the totals."""
    by_id = {f.id: f for f in history.findings}
    status = state.status

    def listing(ids: Iterable[int], at: Callable[[int], datetime | None], command: str,
                triage: bool = False) -> Listing:
        items = [_item(by_id[i], at(i), state, triage) for i in ids if i in by_id]
        items.sort(key=lambda item: (-item.severity.rank, item.at or item.first_seen, item.id))
        return Listing(total=len(items), items=tuple(items[:TOP]), command=command)

    def at_last(finding_id: int) -> datetime | None:
        return state.last[finding_id].at

    resolved = [i for i in state.resolved_in_week if status(i) is Status.RESOLVED]
    carried = [i for i in by_id if status(i) is Status.OPEN and i not in state.opened_in_week]
    return Changes(
        new=listing(state.opened_in_week, state.opened_in_week.get, _list("open")),
        resolved=listing(resolved, state.resolved_in_week.get, _list("resolved")),
        still_open=listing(carried, state.opened.get, _list("open")),
        muted=listing(_in(by_id, status, Status.MUTED), at_last, _list("muted"), True),
        acknowledged=listing(_in(by_id, status, Status.ACKNOWLEDGED), at_last,
                             _list("acknowledged"), True),
        open_by_severity=_by_severity(f for f in by_id.values() if status(f.id) in ACTIVE),
    )


def active_by(history: History, state: Replay, key: Callable[[StoredFinding], str],
              ) -> dict[str, int]:
    """Findings open, acknowledged or muted at the week's end, counted by `key`."""
    counts: dict[str, int] = {}
    for finding in history.findings:
        if state.status(finding.id) in (*ACTIVE, Status.MUTED):
            counts[key(finding)] = counts.get(key(finding), 0) + 1
    return counts


def _item(f: StoredFinding, at: datetime | None, state: Replay, triage: bool) -> Item:
    last = state.last.get(f.id)
    muted = triage and last is not None and last.to_status is Status.MUTED
    return Item(
        id=f.id, check=f.check, severity=f.severity, account=f.account, region=f.region,
        resource=f.resource, title=f.title, first_seen=f.first_seen, at=at,
        by=triage_actor(last) if triage and last else None,
        reason=last.reason if triage and last else None,
        # The expiry is on the finding, for its current mute only.
        until=f.muted_until if muted and f.status is Status.MUTED else None,
    )


def _in(by_id: dict[int, StoredFinding], status: Callable[[int], Status | None],
        wanted: Status) -> list[int]:
    return [i for i in by_id if status(i) is wanted]


def _list(status: str) -> str:
    return f"costguard findings list --status {status}"


def _by_severity(findings: Iterable[StoredFinding]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for f in findings:
        counts[f.severity.value] = counts.get(f.severity.value, 0) + 1
    return counts


def spend_listing(history: History, state: Replay, spend_checks: Sequence[str]) -> Listing:
    """Spend findings (spikes, a forecast over budget) opened in the week."""
    ids = [f.id for f in history.findings
           if f.check in spend_checks and f.id in state.opened_in_week]
    by_id = {f.id: f for f in history.findings}
    items = sorted((_item(by_id[i], state.opened_in_week[i], state, False) for i in ids),
                   key=lambda item: (-item.severity.rank, item.at, item.id))
    return Listing(total=len(items), items=tuple(items[:TOP]),
                   command="costguard findings list --status open")
