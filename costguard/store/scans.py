"""Scans: one row per cycle, so `scan --format json` and the daemon's health can report them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select

from costguard.store.connection import SessionBase
from costguard.store.models import ScanRow
from costguard.store.records import ScanRecord


def _record(row: ScanRow) -> ScanRecord:
    return ScanRecord(
        id=row.id,
        started_at=row.started_at,
        finished_at=row.finished_at,
        complete=row.complete,
        api_calls=row.api_calls,
        errors=tuple(row.errors or ()),
        accounts=tuple(row.accounts or ()),
        regions=tuple(row.regions or ()),
    )


class ScansMixin(SessionBase):
    """Start and finish of each cycle; transitions point at the scan that caused them."""

    def start_scan(self, started_at: datetime) -> int:
        """Opens a scan row and returns its id (for `reconcile` and `finish_scan`)."""
        with self._write() as session:
            row = ScanRow(started_at=started_at, complete=False, api_calls=0)
            session.add(row)
            session.flush()
            return row.id

    def finish_scan(
        self,
        scan_id: int,
        *,
        finished_at: datetime,
        complete: bool,
        api_calls: int,
        errors: Iterable[str],
        accounts: Iterable[str],
        regions: Iterable[str],
        sources: Iterable[str] = (),
        failed_sources: Iterable[str] = (),
    ) -> ScanRecord:
        """Records how the scan ended, and which sources it collected and which failed;
        LookupError for an unknown id."""
        with self._write() as session:
            row = session.get(ScanRow, scan_id)
            if row is None:
                raise LookupError(f"no scan with id {scan_id}")
            row.finished_at = finished_at
            row.complete = complete
            row.api_calls = api_calls
            row.errors = list(errors)
            row.accounts = list(accounts)
            row.regions = list(regions)
            row.sources = sorted(sources)
            row.failed_sources = sorted(failed_sources)
            return _record(row)

    def last_scans(self, n: int = 1) -> list[ScanRecord]:
        """The `n` most recent scans, newest first."""
        query = select(ScanRow).order_by(ScanRow.started_at.desc(), ScanRow.id.desc()).limit(n)
        with self._read() as session:
            return [_record(row) for row in session.scalars(query)]
