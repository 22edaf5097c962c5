"""One week's figures from its history: posture, changes, incidents, spend, costguard's own
health. Pure; `read_history` does the reading."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from costguard.incidents.stats import summarize, time_to_fix
from costguard.reports.changes import active_by, changes, replay, spend_listing
from costguard.reports.figures import IncidentItem, Incidents, WeeklyFigures
from costguard.reports.history import History
from costguard.reports.posture import accounts, check_rows, trend
from costguard.reports.spend_week import spend
from costguard.reports.upkeep import upkeep
from costguard.store.records import StoredIncident

GOAL_SHARE = 0.75
"""The goal: three incidents in four fixed within the target (`incidents.target_minutes`)."""

TOP_INCIDENTS = 10


def weekly_figures(history: History) -> WeeklyFigures:
    """Everything the weekly report says about `history`'s week."""
    state = replay(history.transitions, history.start)
    points = trend(history)
    spend_checks = [c.id for c in history.checks if c.spend]
    return WeeklyFigures(
        week=str(history.week), span=history.week.span(), timezone=str(history.zone),
        start=history.start, end=history.end, as_of=history.as_of, complete=history.complete,
        score=points[-1].score, previous_score=points[-2].score, trend=points,
        accounts=accounts(history, active_by(history, state, lambda f: f.account)),
        checks=check_rows(history, active_by(history, state, lambda f: f.check)),
        changes=changes(history, state),
        incidents=incidents(history),
        spend=spend(history, spend_listing(history, state, spend_checks)),
        upkeep=upkeep(history),
    )


def incidents(history: History) -> Incidents:
    """Incidents detected in the week, as they stood at its end, against the goal."""
    target = timedelta(minutes=history.target_minutes)
    seen = [_as_of(i, history.as_of) for i in history.incidents
            if i.detected_at and history.start <= i.detected_at < history.as_of]
    row = summarize("week", seen, target, history.as_of)
    items = [_item(i, target, history.as_of) for i in seen]
    items.sort(key=lambda i: (-i.severity.rank, i.detected_at or history.start, i.id))
    return Incidents(
        total=len(seen), items=tuple(items[:TOP_INCIDENTS]), fixed=row.resolved,
        within_target=row.within_target, judged=row.judged,
        target_minutes=history.target_minutes, goal_share=GOAL_SHARE,
        fix_median_s=row.fix_median_s, fix_p75_s=row.fix_p75_s,
    )


def _as_of(incident: StoredIncident, as_of: datetime) -> StoredIncident:
    """The incident as it stood at `as_of`: milestones after it had not happened yet."""
    def before(at: datetime | None) -> datetime | None:
        return at if at is not None and at < as_of else None

    return replace(incident, notified_at=before(incident.notified_at),
                   resolved_at=before(incident.resolved_at))


def _item(incident: StoredIncident, target: timedelta, as_of: datetime) -> IncidentItem:
    took = time_to_fix(incident)
    start = incident.notified_at or incident.detected_at
    late = took is None and start is not None and as_of - start > target
    return IncidentItem(
        id=incident.id, title=incident.title, severity=incident.severity,
        detected_at=incident.detected_at, notified_at=incident.notified_at,
        resolved_at=incident.resolved_at,
        time_to_fix_s=took.total_seconds() if took is not None else None,
        within_target=(False if late else None) if took is None else took <= target,
    )
