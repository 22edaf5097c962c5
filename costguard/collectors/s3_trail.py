"""The trail's log files, announced by S3 event notifications on an SQS queue.

A trail writes every region's records into one bucket (a multi-region trail), read-only and
data events included, as gzipped JSON files of `{"Records": [...]}`. With the bucket set to
notify an SQS queue of `s3:ObjectCreated:*`, each message names new files; this collector
reads each file and hands its records over as events, so one queue covers every region the
trail covers, including those without an EventBridge queue of their own.

Messages are SQS messages like the event queue's (at least once, deleted only after their
events are stored), so this is an EventQueue whose messages are read differently: a message
that names no CloudTrail log file (S3's test event, a digest file) carries no events and is
deleted like any unreadable one. A file that cannot be fetched fails the drain, and its
message comes back after the visibility timeout.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator, Mapping
from typing import Any

from costguard.activity.trail_files import log_file_events
from costguard.collectors.event_queue import EventQueue, Received

log = logging.getLogger(__name__)

LOG_FILE = re.compile(r"/CloudTrail/[^/]+/\d{4}/\d{2}/\d{2}/[^/]+\.json\.gz$")
"""A trail log file's key (digest files live under CloudTrail-Digest/ and are not read)."""
_PERCENT = re.compile(r"%([0-9A-Fa-f]{2})")


def object_key(raw: str) -> str:
    """An S3 notification's key, which is URL-encoded with `+` for spaces."""
    data = _PERCENT.sub(lambda m: chr(int(m.group(1), 16)), raw.replace("+", " "))
    return data.encode("latin-1").decode("utf-8", errors="replace")


def created_objects(body: str) -> Iterator[tuple[str, str]]:
    """(bucket, key) of every CloudTrail log file an S3 notification (or the SNS envelope
    around one) announces as created."""
    try:
        message = json.loads(body)
        if isinstance(message, Mapping) and message.get("Type") == "Notification":
            message = json.loads(message.get("Message") or "{}")
    except (ValueError, TypeError):
        return
    records = message.get("Records") if isinstance(message, Mapping) else None
    for record in records if isinstance(records, list) else ():
        s3 = record.get("s3") if isinstance(record, Mapping) else None
        if not str(record.get("eventName", "")).startswith("ObjectCreated:"):
            continue
        bucket = ((s3 or {}).get("bucket") or {}).get("name")
        key = object_key(str(((s3 or {}).get("object") or {}).get("key") or ""))
        if bucket and LOG_FILE.search(key):
            yield str(bucket), key


class TrailFileQueue(EventQueue):
    """The queue the trail bucket notifies; each message's events are its log files' records."""

    def _read(self, message: dict[str, Any]) -> Received:
        body = message.get("Body", "")
        events: list[Any] = []
        skipped = 0
        for bucket, key in created_objects(body):
            data = self._aws.client("s3", self.region).get_object(Bucket=bucket, Key=key)
            read = log_file_events(data["Body"].read())
            events += read.events
            skipped += read.skipped
        if skipped:
            log.warning("%d unreadable records in files of message %s", skipped,
                        message.get("MessageId"))
        return Received(message_id=message["MessageId"],
                        receipt_handle=message["ReceiptHandle"], event=None, body=body,
                        more=tuple(events))
