"""The posture score: each check in each account counts by its severity's weight, times the
share of the resources it judged that pass; a week's score is that over the last counts of
its days. Pure.

A muted finding still counts as a failure: muting silences the alerts, it does not fix the
resource. Checks where pass/fail does not apply (events, spend) are not in the score.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from costguard.model import Severity
from costguard.reports.figures import AccountPosture, CheckRow, TrendPoint
from costguard.reports.history import TREND_WEEKS, CheckInfo, History
from costguard.reports.week import IsoWeek
from costguard.store.check_counts import CheckCount

WEIGHTS = {Severity.INFO: 1, Severity.LOW: 2, Severity.MEDIUM: 4, Severity.HIGH: 8,
           Severity.CRITICAL: 16}
"""A critical check weighs as much as two high ones, four medium ones, ..."""


def week_counts(counts: Iterable[CheckCount], week: IsoWeek) -> list[CheckCount]:
    """Per (check, account, region), the last day's row among the week's days."""
    days = {d.isoformat() for d in week.days()}
    latest: dict[tuple[str, str, str], CheckCount] = {}
    for row in sorted(counts, key=lambda r: r.day):
        if row.day in days:
            latest[(row.check, row.account, row.region)] = row
    return [latest[key] for key in sorted(latest)]


def score(rows: Iterable[CheckCount]) -> float | None:
    """0 to 100; None when nothing was judged."""
    groups: dict[tuple[str, str], list[CheckCount]] = {}
    for row in rows:
        groups.setdefault((row.check, row.account), []).append(row)
    weighted = total = 0.0
    for group in groups.values():
        evaluated = sum(r.evaluated for r in group)
        if not evaluated:
            continue
        weight = WEIGHTS[max(r.severity for r in group)]
        weighted += weight * sum(r.passed for r in group) / evaluated
        total += weight
    return round(100 * weighted / total, 1) if total else None


def trend(history: History) -> tuple[TrendPoint, ...]:
    """The score at the end of each of the last TREND_WEEKS weeks, oldest first; a finished
    week's stored figures win, so the trend shows what earlier emails showed."""
    points = []
    for back in range(TREND_WEEKS - 1, -1, -1):
        week = history.week.previous(back)
        frozen = history.frozen_scores
        value = (frozen[str(week)] if back and str(week) in frozen
                 else score(week_counts(history.counts, week)))
        points.append(TrendPoint(week=str(week), score=value))
    return tuple(points)


def accounts(history: History, open_by_account: dict[str, int]) -> tuple[AccountPosture, ...]:
    """Each account's score this week and last, with its failing checks and open findings."""
    now = week_counts(history.counts, history.week)
    before = week_counts(history.counts, history.week.previous())
    names = sorted({r.account for r in now} | set(open_by_account))
    return tuple(
        AccountPosture(
            account=name, score=score(r for r in now if r.account == name),
            previous=score(r for r in before if r.account == name),
            failing_checks=len({r.check for r in now if r.account == name and r.failed}),
            open_findings=open_by_account.get(name, 0),
        )
        for name in names
    )


def check_rows(history: History, open_by_check: dict[str, int]) -> tuple[CheckRow, ...]:
    """Every enabled check, most severe first: judged counts where pass/fail applies."""
    now = week_counts(history.counts, history.week)
    rows = [_row(info, [r for r in now if r.check == info.id], open_by_check.get(info.id, 0))
            for info in history.checks]
    return tuple(sorted(rows, key=lambda r: (-r.severity.rank, r.check)))


def _row(info: CheckInfo, counts: Sequence[CheckCount], open_findings: int) -> CheckRow:
    judged = info.judged and bool(counts)
    return CheckRow(
        check=info.id, title=info.title, severity=info.severity, cis=info.cis,
        security_hub=info.security_hub, judged=info.judged,
        evaluated=sum(r.evaluated for r in counts) if judged else None,
        failed=sum(r.failed for r in counts) if judged else None, open=open_findings,
    )
