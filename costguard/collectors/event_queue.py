"""The SQS queue EventBridge fills with CloudTrail calls and GuardDuty findings.

Delivery is at least once: SQS may hand a message over twice and nothing here remembers what
was read. The caller stores each event (deduped by its CloudTrail event id or GuardDuty finding
id) and only then deletes the messages, so a crash in between means a redelivery, never a loss.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from costguard.activity.event_records import parse_envelope
from costguard.collectors.session import Aws, error_code
from costguard.snapshot import ApiEvent, GuardDutyFinding

log = logging.getLogger(__name__)

MAX_WAIT_S = 20
"""SQS's longest long poll."""
MAX_BATCH = 10
"""SQS's most messages per ReceiveMessage and entries per DeleteMessageBatch."""
DRAIN_WAIT_S = 1
"""A drain's wait per receive: 0 is short polling, which asks only a sample of SQS's servers
and can answer empty while messages remain; any wait makes SQS ask them all."""

_MISSING_QUEUE = {"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"}


class QueueMissing(RuntimeError):
    """The event queue does not exist: `costguard setup events` has not been run there."""

    def __init__(self, queue_name: str, account: str, region: str) -> None:
        self.queue_name, self.account, self.region = queue_name, account, region
        super().__init__(
            f"SQS queue {queue_name!r} does not exist in account {account}, region {region}: "
            f"run `costguard setup events --regions {region}` to create it and its rules"
        )


@dataclass(frozen=True)
class Received:
    """One message read from the queue; `event` is None for a body costguard cannot read,
    which the caller deletes all the same (a poison message must not come back for ever)."""

    message_id: str
    receipt_handle: str
    event: ApiEvent | GuardDutyFinding | None
    body: str
    more: tuple[ApiEvent | GuardDutyFinding, ...] = ()
    """Further events one message carried (a trail log file holds many records)."""

    @property
    def events(self) -> list[ApiEvent | GuardDutyFinding]:
        """Every event this message carried."""
        return ([self.event] if self.event is not None else []) + list(self.more)


@dataclass(frozen=True)
class DeleteFailure:
    """A message SQS did not delete; it reappears after its visibility timeout."""

    received: Received
    code: str
    message: str
    sender_fault: bool


class EventQueue:
    """One account's event queue in one region (the `cloudtrail` and `guardduty` sources).

    `visibility_timeout_s` (None: the queue's own) is how long a received message stays hidden:
    it must cover storing the events before they are deleted. `polled` is set while a daemon's
    poller thread owns the queue: the scheduled cycle then leaves it to the poller.
    """

    def __init__(
        self,
        aws: Aws,
        account: str,
        region: str,
        queue_name: str,
        *,
        visibility_timeout_s: int | None = None,
    ) -> None:
        self._aws = aws
        self.account = account
        self.region = region
        self.queue_name = queue_name
        self._visibility_timeout_s = visibility_timeout_s
        self._url: str | None = None
        self.polled = False

    @property
    def url(self) -> str:
        """The queue URL, asked for once (GetQueueUrl); raises QueueMissing when there is none."""
        if self._url is None:
            try:
                answer = self._sqs().get_queue_url(
                    QueueName=self.queue_name, QueueOwnerAWSAccountId=self.account
                )
            except Exception as exc:
                if error_code(exc) in _MISSING_QUEUE:
                    raise QueueMissing(self.queue_name, self.account, self.region) from exc
                raise
            self._url = answer["QueueUrl"]
        return self._url

    def receive(self, wait_s: int, max_messages: int = MAX_BATCH) -> list[Received]:
        """Up to `max_messages` messages, waiting up to `wait_s` (at most 20 s) for the first."""
        request: dict[str, Any] = {
            "QueueUrl": self.url,
            "MaxNumberOfMessages": max(1, min(MAX_BATCH, max_messages)),
            "WaitTimeSeconds": max(0, min(MAX_WAIT_S, wait_s)),
        }
        if self._visibility_timeout_s is not None:
            request["VisibilityTimeout"] = self._visibility_timeout_s
        answer = self._sqs().receive_message(**request)
        return [self._read(m) for m in answer.get("Messages", ())]

    def delete(self, received: Iterable[Received]) -> list[DeleteFailure]:
        """Deletes messages in batches of 10; returns (and logs) those SQS refused to delete."""
        # A handle given twice in one batch is an error for the whole batch: send each once.
        unique = list({r.receipt_handle: r for r in received}.values())
        failures: list[DeleteFailure] = []
        for start in range(0, len(unique), MAX_BATCH):
            failures += self._delete_batch(unique[start : start + MAX_BATCH])
        for failure in failures:
            log.warning(
                "could not delete message %s from %s in %s: %s %s",
                failure.received.message_id, self.queue_name, self.region,
                failure.code, failure.message,
            )
        return failures

    def drain(self, max_batches: int = 100, *, wait_s: int = DRAIN_WAIT_S) -> list[Received]:
        """Everything waiting, for a one-shot scan: receives until an empty answer or the cap.

        Messages stay in the queue (hidden) until deleted. One seen twice in a drain (its
        visibility ran out meanwhile) is returned once, with the latest receipt handle: SQS
        deletes a message received twice only by the handle of its last receipt.
        """
        seen: dict[str, Received] = {}
        for _ in range(max_batches):
            batch = self.receive(wait_s)
            if not batch:
                break
            for item in batch:
                seen[item.message_id] = item
        return list(seen.values())

    def _delete_batch(self, batch: list[Received]) -> list[DeleteFailure]:
        entries = [
            {"Id": str(index), "ReceiptHandle": r.receipt_handle} for index, r in enumerate(batch)
        ]
        answer = self._sqs().delete_message_batch(QueueUrl=self.url, Entries=entries)
        return [
            DeleteFailure(
                received=batch[int(failed["Id"])],
                code=failed.get("Code", ""),
                message=failed.get("Message", ""),
                sender_fault=bool(failed.get("SenderFault")),
            )
            for failed in answer.get("Failed", ())
        ]

    def _read(self, message: dict[str, Any]) -> Received:
        body = message.get("Body", "")
        event = parse_envelope(body)
        if event is None:
            log.warning(
                "message %s on %s in %s is not an event costguard reads (to delete): %.200r",
                message.get("MessageId"), self.queue_name, self.region, body,
            )
        return Received(
            message_id=message["MessageId"],
            receipt_handle=message["ReceiptHandle"],
            event=event,
            body=body,
        )

    def _sqs(self) -> Any:
        return self._aws.client("sqs", self.region)

