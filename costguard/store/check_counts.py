"""What the checks judged: a row per day per (check, account, region) with the day's last counts,
and the resources each check judges now, with when each was first judged.

A cycle records both inside its unit of work, only for the scopes whose data came in complete,
so a passing check is a stored fact: the weekly score and the compliance report's PASS rows are
read from here, never inferred from a missing finding.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from costguard.model import Severity, fingerprint
from costguard.store.connection import SessionBase
from costguard.store.models import CheckCountRow, CheckResourceRow

Scope = tuple[str, str, str]
"""(check, account, region)."""

KEEP_DAYS = 400
"""Daily rows older than this are deleted: a year of trends, twelve weeks many times over."""


@dataclass(frozen=True)
class CheckCount:
    """What one check judged in one account and region on one day (its last cycle that day)."""

    day: str
    check: str
    account: str
    region: str
    severity: Severity
    evaluated: int
    failed: int
    at: datetime

    @property
    def passed(self) -> int:
        """Resources judged and found fine."""
        return self.evaluated - self.failed


@dataclass(frozen=True)
class JudgedResource:
    """A resource a check judges now, and since when."""

    fingerprint: str
    check: str
    account: str
    region: str
    resource: str
    first_seen: datetime


@dataclass(frozen=True)
class Judgement:
    """One scope's judgement this cycle, as the store takes it."""

    severity: Severity
    resources: Collection[str]
    failed: int


def _count(row: CheckCountRow) -> CheckCount:
    return CheckCount(row.day, row.check, row.account, row.region, Severity(row.severity),
                      row.evaluated, row.failed, row.at)


class CheckCountsMixin(SessionBase):
    """`record_judged` (in a cycle's unit), `check_counts` and `judged_resources` (reports)."""

    def record_judged(self, judged: Mapping[Scope, Judgement], *, day: str, oldest_day: str,
                      now: datetime) -> None:
        """Replace the day's counts of these scopes, bring their judged resources up to date
        (new ones in, gone ones out) and forget days before `oldest_day`."""
        if not judged:
            return
        with self._write() as session:
            session.execute(self._counts_upsert(), [
                {"day": day, "check": check, "account": account, "region": region,
                 "severity": j.severity.value, "evaluated": len(j.resources), "failed": j.failed,
                 "at": now}
                for (check, account, region), j in judged.items()
            ])
            session.execute(delete(CheckCountRow).where(CheckCountRow.day < oldest_day))
            self._replace_resources(session, judged, now)

    def _counts_upsert(self) -> Any:
        statement = self._insert()(CheckCountRow)
        return statement.on_conflict_do_update(
            index_elements=["day", "check_id", "account", "region"],
            set_={name: statement.excluded[name] for name in ("severity", "evaluated",
                                                                "failed", "at")},
        )

    @staticmethod
    def _replace_resources(session: Session, judged: Mapping[Scope, Judgement],
                           now: datetime) -> None:
        """Only the differences are written: a cycle that changed nothing writes nothing."""
        checks = sorted({check for check, _, _ in judged})
        query = select(CheckResourceRow).where(CheckResourceRow.check.in_(checks))
        stored = {row.fingerprint: row for row in session.scalars(query)
                  if (row.check, row.account, row.region) in judged}
        wanted = {fingerprint(*scope[:3], resource): (scope, resource)
                  for scope, j in judged.items() for resource in j.resources}
        gone = [row.id for fp, row in stored.items() if fp not in wanted]
        if gone:
            session.execute(delete(CheckResourceRow).where(CheckResourceRow.id.in_(gone)))
        session.add_all(
            CheckResourceRow(fingerprint=fp, check=scope[0], account=scope[1], region=scope[2],
                             resource=resource, first_seen=now)
            for fp, (scope, resource) in sorted(wanted.items()) if fp not in stored
        )

    def check_counts(self, *, since_day: str, before_day: str) -> list[CheckCount]:
        """Daily rows of days in [since_day, before_day), oldest first."""
        query = (
            select(CheckCountRow)
            .where(CheckCountRow.day >= since_day, CheckCountRow.day < before_day)
            .order_by(CheckCountRow.day, CheckCountRow.check, CheckCountRow.account,
                      CheckCountRow.region)
        )
        with self._read() as session:
            return [_count(row) for row in session.scalars(query)]

    def judged_resources(self, checks: Iterable[str] | None = None) -> list[JudgedResource]:
        """The resources checks judge now, by check, account, region and resource."""
        query = select(CheckResourceRow).order_by(
            CheckResourceRow.check, CheckResourceRow.account, CheckResourceRow.region,
            CheckResourceRow.resource)
        if checks is not None:
            query = query.where(CheckResourceRow.check.in_(sorted(set(checks))))
        with self._read() as session:
            return [JudgedResource(r.fingerprint, r.check, r.account, r.region, r.resource,
                                   r.first_seen) for r in session.scalars(query)]
