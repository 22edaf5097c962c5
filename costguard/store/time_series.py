"""Time series the checks compare against: spend-rate (burn) samples and Cost Explorer points."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, select

from costguard.snapshot import BurnSample, CostPoint
from costguard.store.connection import SessionBase
from costguard.store.models import BurnSampleRow, CostPointRow


def _burn_row(sample: BurnSample) -> BurnSampleRow:
    return BurnSampleRow(
        account=sample.account,
        region=sample.region,
        at=sample.at,
        usd_per_hour=sample.usd_per_hour,
        by_family=dict(sample.by_family),
        recent_usd_per_hour=sample.recent_usd_per_hour,
        instance_count=sample.instance_count,
        estimated_types=list(sample.estimated_types),
    )


def _burn_sample(row: BurnSampleRow) -> BurnSample:
    return BurnSample(
        account=row.account,
        region=row.region,
        at=row.at,
        usd_per_hour=row.usd_per_hour,
        by_family=dict(row.by_family or {}),
        recent_usd_per_hour=row.recent_usd_per_hour,
        instance_count=row.instance_count,
        estimated_types=tuple(row.estimated_types or ()),
    )


def _cost_point(row: CostPointRow) -> CostPoint:
    return CostPoint(
        start=row.period_start,
        end=row.period_end,
        service=row.service,
        amount=row.amount,
        unit=row.unit,
        linked_account=row.linked_account or None,
        estimated=row.estimated,
    )


class SamplesMixin(SessionBase):
    """Burn samples (one per account, region and poll) and cost points (upserted)."""

    def add_burn_samples(self, samples: Iterable[BurnSample]) -> int:
        """Stores this cycle's samples; returns how many."""
        rows = [_burn_row(sample) for sample in samples]
        with self._write() as session:
            session.add_all(rows)
        return len(rows)

    def burn_samples(
        self, *, since: datetime, account: str | None = None, region: str | None = None
    ) -> list[BurnSample]:
        """Samples taken at or after `since`, oldest first: the baseline for spike checks."""
        query = select(BurnSampleRow).where(BurnSampleRow.at >= since)
        if account is not None:
            query = query.where(BurnSampleRow.account == account)
        if region is not None:
            query = query.where(BurnSampleRow.region == region)
        query = query.order_by(BurnSampleRow.at, BurnSampleRow.id)
        with self._read() as session:
            return [_burn_sample(row) for row in session.scalars(query)]

    def prune_burn_samples(self, before: datetime) -> int:
        """Deletes samples older than `before`, so the table stays small; returns how many."""
        with self._write() as session:
            result = session.execute(delete(BurnSampleRow).where(BurnSampleRow.at < before))
            return result.rowcount

    def upsert_cost_points(
        self, account: str, granularity: str, points: Iterable[CostPoint], fetched_at: datetime
    ) -> int:
        """Stores Cost Explorer points; a period fetched again (estimates change) is replaced."""
        values = [
            {
                "account": account,
                "granularity": granularity,
                "period_start": point.start,
                "period_end": point.end,
                "service": point.service,
                "linked_account": point.linked_account or "",
                "amount": point.amount,
                "unit": point.unit,
                "estimated": point.estimated,
                "fetched_at": fetched_at,
            }
            for point in points
        ]
        if not values:
            return 0
        statement = self._insert()(CostPointRow)
        replaced = ("period_end", "amount", "unit", "estimated", "fetched_at")
        statement = statement.on_conflict_do_update(
            index_elements=["account", "granularity", "period_start", "service", "linked_account"],
            set_={name: statement.excluded[name] for name in replaced},
        )
        with self._write() as session:
            session.execute(statement, values)
        return len(values)

    def cost_points(self, *, account: str, granularity: str, since: datetime) -> list[CostPoint]:
        """Points of periods starting at or after `since`, oldest first, then by service."""
        query = (
            select(CostPointRow)
            .where(
                CostPointRow.account == account,
                CostPointRow.granularity == granularity,
                CostPointRow.period_start >= since,
            )
            .order_by(CostPointRow.period_start, CostPointRow.service, CostPointRow.linked_account)
        )
        with self._read() as session:
            return [_cost_point(row) for row in session.scalars(query)]
