"""CloudTrail: recent write calls by LookupEvents (the polling fallback), and trail status.

LookupEvents answers from CloudTrail's 90-day event history, which exists in every account
without a trail, so it works where `costguard setup events` was never run. Its limit is fixed
at 2 requests per second per account and region, shared with the console and every other
tool: all requests go through a RateLimiter, which callers share per account and region.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from costguard.activity.event_records import EventFormatError, from_lookup_event, parse_time
from costguard.collectors import CollectorIncomplete
from costguard.collectors.rate_limit import RateLimiter
from costguard.collectors.session import Aws, error_code, error_message
from costguard.model import Source
from costguard.snapshot import ApiEvent, TrailStatus

log = logging.getLogger(__name__)

LOOKUP_RATE_PER_S = 2.0
"""LookupEvents' fixed limit per account and region."""
PAGE_SIZE = 50
"""LookupEvents' largest page."""
OVERLAP = timedelta(minutes=5)
"""How far before the cursor each lookup starts again: CloudTrail adds events to its history
minutes after they happen, so a lookup that ended at the cursor may have missed some. The
repeats are harmless; the engine dedupes by event id."""
INITIAL_LOOKBACK = timedelta(hours=1)
"""How far back the first lookup (no cursor yet) reads."""
THROTTLE_BACKOFF_S = (2.0, 4.0, 8.0)
"""Sleeps before retrying a throttled page, after botocore's own retries gave up."""

_THROTTLED = {"ThrottlingException", "Throttling", "TooManyRequestsException"}
_TRAIL_UNREADABLE = {"TrailNotFoundException", "AccessDeniedException", "CloudTrailARNInvalid"}


def lookup_limiter() -> RateLimiter:
    """The limiter for one account and region: one request per half second.

    burst=1 rather than 2: requests spaced 1/rate apart never exceed the limit in any second,
    whatever AWS's own bucket does with a burst.
    """
    return RateLimiter(rate_per_s=LOOKUP_RATE_PER_S, burst=1)


class LookupCollector:
    """Write calls from CloudTrail's event history in one account and region.

    Only write calls are asked for (LookupAttributes ReadOnly=false): every event check and
    the principal activity of an incident read write calls only, and reads (Describe*, Get*,
    List*) outnumber writes many times over, so asking for them would multiply the pages
    under a limit of 2 requests per second. LookupEvents accepts one lookup attribute, so
    this is the only filter.
    """

    def __init__(
        self,
        aws: Aws,
        account: str,
        region: str,
        limiter: RateLimiter,
        *,
        initial_lookback: timedelta = INITIAL_LOOKBACK,
        overlap: timedelta = OVERLAP,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._aws = aws
        self.account = account
        self.region = region
        self._limiter = limiter
        self._initial_lookback = initial_lookback
        self._overlap = overlap
        self._sleep = sleep

    def events_since(
        self, cursor: datetime | None, now: datetime
    ) -> tuple[list[ApiEvent], datetime]:
        """Write calls from shortly before `cursor` (or the initial lookback) up to `now`,
        oldest first, and the cursor for next time (`now`).

        Raises CollectorIncomplete when throttling outlasts the back-off: pages come newest
        first, so a partial read cannot move the cursor and the next cycle reads it all again.
        """
        start = now - self._initial_lookback if cursor is None else cursor - self._overlap
        request: dict[str, Any] = {
            "LookupAttributes": [{"AttributeKey": "ReadOnly", "AttributeValue": "false"}],
            "StartTime": start,
            "EndTime": now,
            "MaxResults": PAGE_SIZE,
        }
        events: dict[str, ApiEvent] = {}
        while True:
            page = self._page(request)
            for entry in page.get("Events", ()):
                event = self._normalize(entry)
                if event is not None:
                    events.setdefault(event.event_id, event)
            token = page.get("NextToken")
            if not token:
                break
            request["NextToken"] = token
        return sorted(events.values(), key=lambda e: (e.time, e.event_id)), now

    def _page(self, request: dict[str, Any]) -> dict[str, Any]:
        """One LookupEvents page through the limiter, backing off when throttled."""
        client = self._aws.client("cloudtrail", self.region)
        for backoff in (*THROTTLE_BACKOFF_S, None):
            self._limiter.acquire()
            try:
                return client.lookup_events(**request)
            except Exception as exc:
                if error_code(exc) not in _THROTTLED:
                    raise
                if backoff is None:
                    raise CollectorIncomplete(
                        Source.CLOUDTRAIL, self.account,
                        f"LookupEvents in {self.region} stayed throttled: {error_message(exc)}",
                    ) from exc
                log.info("LookupEvents throttled in %s; retrying in %.0f s", self.region, backoff)
                self._sleep(backoff)
        raise AssertionError("unreachable: the loop returns or raises")

    def _normalize(self, entry: dict[str, Any]) -> ApiEvent | None:
        try:
            return from_lookup_event(entry, account=self.account, region=self.region)
        except (EventFormatError, ValueError) as exc:
            log.warning("skipping LookupEvents entry %s: %s", entry.get("EventId"), exc)
            return None


class TrailCollector:
    """Whether each region is covered by a trail that is logging (self-watch).

    DescribeTrails runs in every given region with includeShadowTrails=true: a region's answer
    then holds every trail that records it (its own trails, multi-region trails homed
    elsewhere, and organization trails), so a region is judged by what covers it even when the
    trail's home region is not scanned. Each trail appears in many regions but GetTrailStatus
    is asked once per trail (by ARN, in its home region) and the answer reused; the result
    has one TrailStatus per (region, trail), with `region` the covered region and
    `home_region` where the trail lives.
    """

    def __init__(self, aws: Aws, account: str) -> None:
        self._aws = aws
        self.account = account

    def status(self, regions: Iterable[str]) -> list[TrailStatus]:
        """Every trail covering each region, with whether it is logging."""
        answers: dict[str, dict[str, Any] | None] = {}
        statuses = []
        for region in regions:
            trails = self._aws.client("cloudtrail", region).describe_trails(
                includeShadowTrails=True
            )["trailList"]
            for trail in trails:
                arn = trail["TrailARN"]
                if arn not in answers:
                    answers[arn] = self._trail_status(trail)
                answer = answers[arn]
                if answer is not None:
                    statuses.append(_status(self.account, region, trail, answer))
        return statuses

    def _trail_status(self, trail: dict[str, Any]) -> dict[str, Any] | None:
        """GetTrailStatus in the trail's home region; None (logged) when this account cannot
        read it, as a member account may not for its organization's trail."""
        client = self._aws.client("cloudtrail", trail.get("HomeRegion"))
        try:
            return client.get_trail_status(Name=trail["TrailARN"])
        except Exception as exc:
            if error_code(exc) not in _TRAIL_UNREADABLE or _owner(trail) == self.account:
                raise
            log.info("cannot read the status of trail %s: %s", trail["TrailARN"], exc)
            return None


def _status(
    account: str, region: str, trail: dict[str, Any], answer: dict[str, Any]
) -> TrailStatus:
    """One TrailStatus for a trail covering `region`, from DescribeTrails and GetTrailStatus."""
    logging_now = bool(answer.get("IsLogging"))
    stopped = answer.get("StopLoggingTime")
    return TrailStatus(
        account=account,
        region=region,
        name=trail["Name"],
        arn=trail["TrailARN"],
        home_region=trail.get("HomeRegion", region),
        is_logging=logging_now,
        multi_region=bool(trail.get("IsMultiRegionTrail")),
        latest_delivery_error=answer.get("LatestDeliveryError") or None,
        # StopLoggingTime stays set after logging restarts; it matters only while stopped.
        stopped_at=parse_time(stopped) if stopped and not logging_now else None,
    )


def _owner(trail: dict[str, Any]) -> str:
    """The account in a trail's ARN (arn:aws:cloudtrail:REGION:ACCOUNT:trail/NAME)."""
    parts = str(trail.get("TrailARN", "")).split(":")
    return parts[4] if len(parts) > 4 else ""
