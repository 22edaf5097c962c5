"""The notification outbox: messages stored before any send, leased to one sender at a time.

Storing first means a crash between deciding to notify and sending loses nothing; the unique
(key, channel) means deciding twice sends once; the lease means two processes (or replicas)
never send the same row, and a sender that dies mid-send releases it when the lease runs out.
An incident's messages to one channel go out in the order they were queued: a row is not due
while an earlier row of the same incident and channel is still pending.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import exists, func, or_, select, update
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.expression import Exists

from costguard.model import AlertKind, Message, Severity
from costguard.store.connection import SessionBase
from costguard.store.models import DeliveryAttemptRow, IncidentRow, NotificationRow
from costguard.store.records import DeliveryAttempt, NotificationStatus, StoredNotification

MAX_ERROR_CHARS = 4000  # a whole HTML error page is no use in a status column

_N = NotificationRow


def _message(row: NotificationRow) -> Message:
    return Message(
        key=row.message_key,
        kind=AlertKind(row.kind),
        severity=Severity(row.severity),
        subject=row.subject,
        text=row.text,
        html=row.html,
        incident_id=row.incident_id,
        fields=dict(row.fields or {}),
    )


def _record(row: NotificationRow) -> StoredNotification:
    return StoredNotification(
        id=row.id,
        key=row.key,
        channel=row.channel,
        status=NotificationStatus(row.status),
        message=_message(row),
        attempts=row.attempts,
        created_at=row.created_at,
        next_attempt_at=row.next_attempt_at,
        lease_until=row.lease_until,
        last_attempt_at=row.last_attempt_at,
        last_error=row.last_error,
        sent_at=row.sent_at,
        external_id=row.external_id,
        in_flight_at=row.in_flight_at,
        deferred=bool(row.deferred),
    )


def _pending(session: Session, notification_id: int) -> NotificationRow:
    """The row to mark; LookupError if unknown, ValueError if it is no longer pending."""
    row = session.get(_N, notification_id)
    if row is None:
        raise LookupError(f"no notification with id {notification_id}")
    if row.status != NotificationStatus.PENDING.value:
        raise ValueError(f"notification {notification_id} is already {row.status}")
    return row


def _attempted(row: NotificationRow, at: datetime) -> None:
    """Bookkeeping common to success and failure: count it and release the lease."""
    row.attempts += 1
    row.last_attempt_at = at
    row.lease_until = None
    row.lease_token = None


class OutboxMixin(SessionBase):
    """`enqueue`, `claim_due`, `mark_sent`, `mark_failed` and a view of the queue."""

    def enqueue(self, *, key: str, channel: str, message: Message, now: datetime,
                deferred: bool = False, due: datetime | None = None,
                status: NotificationStatus = NotificationStatus.PENDING,
                not_before: datetime | None = None) -> int | None:
        """Queues `message` for `channel`; None (and no change) if (key, channel) is queued.

        `deferred`: the text is produced from the incident when the message is sent (`message`
        holds what to send and a placeholder subject). `due`: not sent before then (an
        update's settle window). `status`: SUMMARIZED records a message told in an overflow
        summary instead, so the incident counts as announced on that channel. `not_before`
        holds it until then (quiet hours); it is stored now all the same.
        """
        values = {
            "key": key,
            "channel": channel,
            "status": NotificationStatus(status).value,
            "message_key": message.key,
            "kind": AlertKind(message.kind).value,
            "severity": Severity(message.severity).value,
            "subject": message.subject,
            "text": message.text,
            "html": message.html,
            "incident_id": message.incident_id,
            "fields": dict(message.fields),
            "attempts": 0,
            "created_at": now,
            "next_attempt_at": (max(due or now, not_before or now)
                                if status is NotificationStatus.PENDING else None),
            "deferred": deferred,
        }
        statement = (
            self._insert()(_N)
            .values(values)
            .on_conflict_do_nothing(index_elements=["key", "channel"])
            .returning(_N.id)
        )
        with self._write() as session:
            return session.execute(statement).scalar_one_or_none()

    def claim_due(
        self, *, now: datetime, lease_s: float = 60, limit: int = 50, key: str | None = None
    ) -> list[StoredNotification]:
        """Leases up to `limit` due rows to this caller for `lease_s` seconds and returns them.

        In one transaction: pick due, unleased rows (PostgreSQL locks them and skips rows
        another claimer holds; SQLite's BEGIN IMMEDIATE excludes other writers), lease them
        with this call's token, and read back the rows carrying it. No two callers ever get
        the same row. Picking first (rather than `UPDATE ... WHERE id IN (SELECT ... LIMIT)`)
        matters: PostgreSQL may rerun such a subquery and lease more than `limit` rows.
        """
        token = uuid.uuid4().hex
        free = or_(_N.lease_until.is_(None), _N.lease_until <= now)
        due = (_N.status == NotificationStatus.PENDING.value, _N.next_attempt_at <= now, free,
               ~_waiting(), *([_N.key == key] if key is not None else []))
        pick = (
            select(_N.id)
            .where(*due)
            .order_by(_N.next_attempt_at, _N.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        claimed = select(_N).where(_N.lease_token == token).order_by(_N.next_attempt_at, _N.id)
        with self._write() as session:
            ids = list(session.scalars(pick))
            if not ids:
                return []
            session.execute(
                update(_N)
                .where(_N.id.in_(ids), *due)
                .values(lease_until=now + timedelta(seconds=lease_s), lease_token=token)
                .execution_options(synchronize_session=False)
            )
            return [_record(row) for row in session.scalars(claimed)]

    def mark_in_flight(self, notification_id: int, *, at: datetime) -> StoredNotification:
        """Records that a send is about to start, in a transaction of its own: a row found in
        flight and never marked sent may have gone out (it is sent again, same Message-ID)."""
        with self._write() as session:
            row = _pending(session, notification_id)
            row.in_flight_at = at
            return _record(row)

    def due_keys(self, *, now: datetime, limit: int = 1000) -> list[str]:
        """The message keys with a row due and not leased at `now`, oldest first: what the
        procrastinate engine turns into delivery jobs (one per key)."""
        free = or_(_N.lease_until.is_(None), _N.lease_until <= now)
        query = (
            select(_N.key)
            .where(_N.status == NotificationStatus.PENDING.value, _N.next_attempt_at <= now, free,
                   ~_waiting())
            .group_by(_N.key)
            .order_by(func.min(_N.id))
            .limit(limit)
        )
        with self._read() as session:
            return list(session.scalars(query))

    def mark_sent(
        self, notification_id: int, *, at: datetime, external_id: str | None = None,
        sent: Message | None = None,
    ) -> StoredNotification:
        """Records a delivery; the row is never sent again.

        `sent` is the message as it went out (a deferred message is rendered at send time); it
        replaces the stored text. The incident's `notified_at` (the start of alert-to-fix) is
        stamped in the same transaction when this is its first message.
        """
        with self._write() as session:
            row = _pending(session, notification_id)
            _attempted(row, at)
            row.status = NotificationStatus.SENT.value
            row.sent_at = at
            row.external_id = external_id
            row.next_attempt_at = None
            if sent is not None:
                row.subject, row.text, row.html = sent.subject, sent.text, sent.html
                row.severity = Severity(sent.severity).value
                row.fields = dict(sent.fields)
            if row.kind == AlertKind.NEW.value and row.incident_id is not None:
                incident = session.get(IncidentRow, row.incident_id)
                if incident is not None and incident.notified_at is None:
                    incident.notified_at = at
            session.add(
                DeliveryAttemptRow(notification_id=row.id, at=at, ok=True, external_id=external_id)
            )
            return _record(row)

    def mark_failed(
        self,
        notification_id: int,
        *,
        at: datetime,
        error: str,
        next_attempt_at: datetime | None,
    ) -> StoredNotification:
        """Records a failed send; retried at `next_attempt_at`, or dead when None (only for a
        message that can never succeed)."""
        error = error[:MAX_ERROR_CHARS]
        with self._write() as session:
            row = _pending(session, notification_id)
            _attempted(row, at)
            row.last_error = error
            row.next_attempt_at = next_attempt_at
            row.in_flight_at = None
            if next_attempt_at is None:
                row.status = NotificationStatus.DEAD.value
            session.add(DeliveryAttemptRow(notification_id=row.id, at=at, ok=False, error=error))
            return _record(row)

    def postpone(self, notification_id: int, *, until: datetime) -> StoredNotification:
        """Due again at `until`, lease released, no attempt counted: its channel refused
        another message moments ago, so sending this one now would only fail too."""
        with self._write() as session:
            row = _pending(session, notification_id)
            row.next_attempt_at = until
            row.lease_until = None
            row.lease_token = None
            return _record(row)

    def notifications(
        self,
        statuses: Iterable[NotificationStatus] | None = None,
        *,
        status: NotificationStatus | None = None,
        incident_id: int | None = None,
    ) -> list[StoredNotification]:
        """Queued messages, oldest first; only those with the given status(es), or of one
        incident, when asked."""
        wanted = [*(statuses or ()), *([status] if status is not None else [])]
        query = select(_N).order_by(_N.id)
        if statuses is not None or status is not None:
            query = query.where(_N.status.in_([NotificationStatus(s).value for s in wanted]))
        if incident_id is not None:
            query = query.where(_N.incident_id == incident_id)
        with self._read() as session:
            return [_record(row) for row in session.scalars(query)]

    def retry(self, notification_id: int, now: datetime) -> StoredNotification:
        """A message that failed (retrying or given up on) is due again at `now`.

        LookupError for an unknown id; ValueError for one already sent or never tried yet.
        """
        with self._write() as session:
            row = session.get(_N, notification_id)
            if row is None:
                raise LookupError(f"no notification with id {notification_id}")
            done = (NotificationStatus.SENT.value, NotificationStatus.SUMMARIZED.value)
            if row.status in done or row.attempts == 0:
                state = f"already {row.status}" if row.status in done else (
                    "queued and not tried yet")
                raise ValueError(f"notification {notification_id} is {state}; nothing to retry")
            row.status = NotificationStatus.PENDING.value
            row.next_attempt_at = now
            row.lease_until = row.lease_token = None
            return _record(row)

    def notifications_for(self, key: str) -> list[StoredNotification]:
        """Every channel's copy of one message key, oldest first (who was told about it)."""
        query = select(_N).where(_N.key == key).order_by(_N.id)
        with self._read() as session:
            return [_record(row) for row in session.scalars(query)]

    def channels_for(self, keys: Iterable[str], *,
                     skip: Iterable[NotificationStatus] = ()) -> dict[str, set[str]]:
        """The channels each message key was queued for (absent: never queued), in one read;
        rows with a status in `skip` are left out."""
        wanted = sorted(set(keys))
        found: dict[str, set[str]] = {}
        if not wanted:
            return found
        query = select(_N.key, _N.channel).where(_N.key.in_(wanted))
        if skipped := [NotificationStatus(s).value for s in skip]:
            query = query.where(_N.status.not_in(skipped))
        with self._read() as session:
            for key, channel in session.execute(query):
                found.setdefault(key, set()).add(channel)
        return found

    def delivery_attempts(self, notification_id: int) -> list[DeliveryAttempt]:
        """Every send tried for one notification, oldest first."""
        query = (
            select(DeliveryAttemptRow)
            .where(DeliveryAttemptRow.notification_id == notification_id)
            .order_by(DeliveryAttemptRow.at, DeliveryAttemptRow.id)
        )
        with self._read() as session:
            return [
                DeliveryAttempt(
                    notification_id=row.notification_id,
                    at=row.at,
                    ok=row.ok,
                    error=row.error,
                    external_id=row.external_id,
                )
                for row in session.scalars(query)
            ]

    def queued_since(self, channel: str, since: datetime) -> int:
        """How many incident messages were queued for `channel` since `since` (a route's
        hourly cap counts these; summarized ones are not sent alone and do not count)."""
        query = select(func.count()).select_from(_N).where(
            _N.channel == channel, _N.created_at >= since, _N.incident_id.is_not(None),
            _N.status != NotificationStatus.SUMMARIZED.value)
        with self._read() as session:
            return int(session.scalar(query) or 0)

    def add_to_summary(self, *, key: str, channel: str, message: Message, now: datetime,
                       due: datetime, incident_id: int) -> bool:
        """Name `incident_id` in the overflow summary `key` of `channel`, queuing the summary
        (due at `due`) if this is its first incident; False if the summary already went out
        (the caller queues a new one under another key)."""
        with self._write() as session:
            row = session.scalar(select(_N).where(_N.key == key, _N.channel == channel))
            if row is None:
                fields = {**dict(message.fields), "incidents": [incident_id]}
                session.add(_N(
                    key=key, channel=channel, status=NotificationStatus.PENDING.value,
                    message_key=message.key, kind=AlertKind(message.kind).value,
                    severity=Severity(message.severity).value, subject=message.subject,
                    text=message.text, html=message.html, incident_id=None, fields=fields,
                    attempts=0, created_at=now, next_attempt_at=due, deferred=True))
                return True
            if row.status != NotificationStatus.PENDING.value or row.in_flight_at is not None:
                return False
            ids = list((row.fields or {}).get("incidents", []))
            if incident_id not in ids:
                row.fields = {**dict(row.fields or {}), "incidents": [*ids, incident_id]}
            return True


def _waiting() -> Exists:
    """An earlier message of the same incident to the same channel is still waiting: this one
    waits behind it, so an update or a resolution never overtakes the incident's alert."""
    earlier = aliased(_N)
    return exists().where(
        earlier.incident_id == _N.incident_id, earlier.channel == _N.channel,
        earlier.id < _N.id, earlier.status == NotificationStatus.PENDING.value)
