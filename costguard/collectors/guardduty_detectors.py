"""GuardDuty in one account and region: whether a detector is on, and its recent findings.

Findings are polled here when no event queue exists (EventBridge delivers them otherwise).
GuardDuty updates a finding in place when the activity recurs (its count and updatedAt grow),
so the cursor is on updatedAt, not createdAt: a recurring finding is read again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

from costguard.activity.event_records import EventFormatError, guardduty_finding_from_api
from costguard.clock import utcnow
from costguard.collectors.session import Aws
from costguard.snapshot import DetectorStatus, GuardDutyFinding

log = logging.getLogger(__name__)

GET_FINDINGS_BATCH = 50
"""GetFindings accepts at most 50 finding ids."""
LIST_PAGE_SIZE = 50
"""ListFindings' largest page."""
INITIAL_LOOKBACK = timedelta(days=1)
"""How far back the first poll (no cursor yet) reads."""
ENABLED = "ENABLED"



class GuardDutyCollector:
    """Reads GuardDuty for one account and region (the `guardduty` source).

    A region has at most one detector; its id is asked once and kept.
    """

    def __init__(
        self,
        aws: Aws,
        account: str,
        region: str,
        *,
        initial_lookback: timedelta = INITIAL_LOOKBACK,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._aws = aws
        self.account = account
        self.region = region
        self._initial_lookback = initial_lookback
        self._clock = clock
        self._detector_id: str | None = None

    def detector(self) -> DetectorStatus:
        """The region's detector and whether it is enabled (no detector: not enabled)."""
        client = self._client()
        ids = [
            d for page in client.get_paginator("list_detectors").paginate()
            for d in page["DetectorIds"]
        ]
        if not ids:
            return DetectorStatus(self.account, self.region, detector_id=None, enabled=False)
        self._detector_id = ids[0]
        status = client.get_detector(DetectorId=ids[0]).get("Status")
        return DetectorStatus(self.account, self.region, ids[0], enabled=status == ENABLED)

    def findings_since(
        self, cursor: datetime | None
    ) -> tuple[list[GuardDutyFinding], datetime | None]:
        """Unarchived findings updated after `cursor` (or within the initial lookback), oldest
        update first, and the cursor for next time: the latest updatedAt read (or `cursor`
        unchanged when nothing was new). No detector: nothing, cursor unchanged.
        """
        detector_id = self._detector_id or self.detector().detector_id
        if detector_id is None:
            return [], cursor
        since = cursor if cursor is not None else self._clock() - self._initial_lookback
        ids = list(self._finding_ids(detector_id, since))
        findings = [
            f for start in range(0, len(ids), GET_FINDINGS_BATCH)
            for f in self._get(detector_id, ids[start : start + GET_FINDINGS_BATCH])
        ]
        findings.sort(key=lambda f: (f.updated_at or since, f.finding_id))
        updated = [f.updated_at for f in findings if f.updated_at is not None]
        return findings, max(updated, default=cursor)

    def _finding_ids(self, detector_id: str, since: datetime) -> Iterator[str]:
        criteria = {
            "Criterion": {
                "updatedAt": {"GreaterThan": _epoch_millis(since)},
                "service.archived": {"Equals": ["false"]},
            }
        }
        paginator = self._client().get_paginator("list_findings")
        for page in paginator.paginate(
            DetectorId=detector_id,
            FindingCriteria=criteria,
            PaginationConfig={"PageSize": LIST_PAGE_SIZE},
        ):
            yield from page["FindingIds"]

    def _get(self, detector_id: str, ids: list[str]) -> list[GuardDutyFinding]:
        raw = self._client().get_findings(DetectorId=detector_id, FindingIds=ids)["Findings"]
        found = []
        for finding in raw:
            try:
                found.append(guardduty_finding_from_api(finding))
            except (EventFormatError, ValueError) as exc:
                log.warning("skipping GuardDuty finding %s: %s", finding.get("Id"), exc)
        return found

    def _client(self) -> Any:
        return self._aws.client("guardduty", self.region)


def _epoch_millis(moment: datetime) -> int:
    """GuardDuty's FindingCriteria compares updatedAt in milliseconds since the epoch."""
    return int(moment.timestamp() * 1000)
