"""CloudTrail records in the containers they come in (pure): a trail's log file
(`{"Records": [...]}`, what S3 holds gzipped), an EventBridge envelope, or a bare record.

Every record costguard cannot read (no eventID or eventName, a broken time) is skipped and
counted, never raised: one bad record must not cost the rest of a log file.
"""

from __future__ import annotations

import gzip
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from costguard.activity.event_records import EventFormatError, from_record, parse_envelope
from costguard.snapshot import ApiEvent, GuardDutyFinding

log = logging.getLogger(__name__)


@dataclass
class Read:
    """The events read from some container, and how many records were skipped."""

    events: list[ApiEvent | GuardDutyFinding] = field(default_factory=list)
    skipped: int = 0


def log_file_events(data: bytes) -> Read:
    """The records of one trail log file: gzipped (as S3 holds them) or plain JSON."""
    try:
        text = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
        document = json.loads(text)
    except (OSError, EOFError, ValueError) as exc:
        log.warning("not a CloudTrail log file: %s", exc)
        return Read(skipped=1)
    return events_in(document)


def events_in(document: Any) -> Read:
    """The events in one JSON document of any of the three shapes."""
    read = Read()
    if isinstance(document, Mapping) and isinstance(document.get("Records"), list):
        for record in document["Records"]:
            _add(read, record)
    elif isinstance(document, Mapping) and "detail-type" in document:
        event = parse_envelope(document)
        if event is None:
            read.skipped += 1
        else:
            read.events.append(event)
    else:
        _add(read, document)
    return read


def _add(read: Read, record: Any) -> None:
    try:
        if not isinstance(record, Mapping):
            raise EventFormatError("a record is not a JSON object")
        read.events.append(from_record(record))
    except (EventFormatError, ValueError, TypeError) as exc:
        log.debug("skipping a record: %s", exc)
        read.skipped += 1
