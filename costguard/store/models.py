"""SQLAlchemy models: the tables `0001_initial` creates, described for the ORM and autogenerate.

Enums are stored as their string values in plain VARCHAR columns (not native ENUM types) so that
adding a status never needs a dialect-specific migration. A test asserts these models and the
migrations agree.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

# Explicit constraint names let migrations drop or alter them by name on every dialect.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """An aware datetime stored as UTC and always read back aware.

    SQLite keeps no offset, so values are converted to UTC before they are written (which also
    makes its text comparisons correct) and tagged UTC when read. A naive datetime is refused:
    guessing its zone would silently shift alert-to-fix times.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: the store takes aware datetimes only")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    """Declarative base carrying the shared metadata and naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class ScanRow(Base):
    """One scan cycle."""

    __tablename__ = "scans"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    complete: Mapped[bool] = mapped_column(Boolean, default=False)
    api_calls: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[list[str]] = mapped_column(JSON, default=list)
    accounts: Mapped[list[str]] = mapped_column(JSON, default=list)
    regions: Mapped[list[str]] = mapped_column(JSON, default=list)
    # NULL in scans stored before revision 0003_weekly_reports, which did not record them.
    sources: Mapped[list[str] | None] = mapped_column(JSON)
    failed_sources: Mapped[list[str] | None] = mapped_column(JSON)


class IncidentRow(Base):
    """A group of findings; its finding ids live in `findings.incident_id`."""

    __tablename__ = "incidents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    severity: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), index=True)
    accounts: Mapped[list[str]] = mapped_column(JSON, default=list)
    entities: Mapped[list[str]] = mapped_column(JSON, default=list)
    scope: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    detected_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_by: Mapped[str | None] = mapped_column(String(200))
    acknowledged_reason: Mapped[str | None] = mapped_column(Text)


class FindingRow(Base):
    """A finding's current state; its history is in `finding_transitions`.

    The check id column is `check_id` because CHECK is an SQL keyword, which would need quoting
    in every hand-written query.
    """

    __tablename__ = "findings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    policy: Mapped[str] = mapped_column(String(200))
    check: Mapped[str] = mapped_column("check_id", String(100))
    severity: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), index=True)
    account: Mapped[str] = mapped_column(String(64))
    region: Mapped[str] = mapped_column(String(64))
    resource: Mapped[str] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    entities: Mapped[list[str]] = mapped_column(JSON, default=list)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    muted_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    mute_reason: Mapped[str | None] = mapped_column(Text)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    incident_id: Mapped[int | None] = mapped_column(
        ForeignKey("incidents.id", ondelete="SET NULL"), index=True
    )


class TransitionRow(Base):
    """One lifecycle step of a finding, with its time: alert-to-fix is computed from these."""

    __tablename__ = "finding_transitions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    finding_id: Mapped[int] = mapped_column(
        ForeignKey("findings.id", ondelete="CASCADE"), index=True
    )
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    reason: Mapped[str | None] = mapped_column(Text)
    scan_id: Mapped[int | None] = mapped_column(ForeignKey("scans.id", ondelete="SET NULL"))
    actor: Mapped[str | None] = mapped_column(String(200))
    """Who made a triage step (`--by`); None for what costguard itself did (a scan)."""

    # Many-to-one only: lets a transition reference a finding not yet flushed, without ever
    # loading a finding's whole history.
    finding: Mapped[FindingRow] = relationship()


class BurnSampleRow(Base):
    """An estimated spend rate of one account and region at one time."""

    __tablename__ = "burn_samples"
    __table_args__ = (Index("ix_burn_samples_account_region_at", "account", "region", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account: Mapped[str] = mapped_column(String(64))
    region: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    usd_per_hour: Mapped[float] = mapped_column(Float)
    by_family: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)
    recent_usd_per_hour: Mapped[float] = mapped_column(Float, default=0.0)
    instance_count: Mapped[int] = mapped_column(Integer, default=0)
    estimated_types: Mapped[list[str]] = mapped_column(JSON, default=list)


class CostPointRow(Base):
    """One Cost Explorer data point.

    `linked_account` is "" rather than NULL when ungrouped, because NULLs never collide in a
    unique constraint and the upsert would then insert duplicates.
    """

    __tablename__ = "cost_points"
    __table_args__ = (
        UniqueConstraint(
            "account",
            "granularity",
            "period_start",
            "service",
            "linked_account",
            name="uq_cost_points_key",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account: Mapped[str] = mapped_column(String(64))
    granularity: Mapped[str] = mapped_column(String(16))
    period_start: Mapped[datetime] = mapped_column(UTCDateTime)
    period_end: Mapped[datetime] = mapped_column(UTCDateTime)
    service: Mapped[str] = mapped_column(String(200))
    linked_account: Mapped[str] = mapped_column(String(64), default="")
    amount: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(16))
    estimated: Mapped[bool] = mapped_column(Boolean, default=False)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime)


class NotificationRow(Base):
    """A rendered message queued for one channel; stored before any send is tried."""

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("key", "channel", name="uq_notifications_key_channel"),
        Index("ix_notifications_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_notifications_incident_channel", "incident_id", "channel"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(255))
    channel: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16))
    message_key: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16))
    severity: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    html: Mapped[str] = mapped_column(Text)
    incident_id: Mapped[int | None] = mapped_column(Integer)
    fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_token: Mapped[str | None] = mapped_column(String(32), index=True)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    external_id: Mapped[str | None] = mapped_column(Text)
    in_flight_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    """Stamped just before a send: the message may have gone out if it is never marked sent."""
    deferred: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    """Rendered from its incident when sent (subject, text and html then hold what was sent)."""


class DeliveryAttemptRow(Base):
    """Every send tried, successful or not (ElastAlert's writeback, in a real table)."""

    __tablename__ = "notification_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    notification_id: Mapped[int] = mapped_column(
        ForeignKey("notifications.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    ok: Mapped[bool] = mapped_column(Boolean)
    error: Mapped[str | None] = mapped_column(Text)
    external_id: Mapped[str | None] = mapped_column(Text)


class StateRow(Base):
    """A small key/value pair: collector cursors, budgets, anything that must survive restarts."""

    __tablename__ = "state"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class EventRow(Base):
    """An API event or GuardDuty finding seen once (by its id): the dedupe key of at-least-once
    delivery, and the window of activity the event checks read (each row once, by when it was
    received: runtime.event_history)."""

    __tablename__ = "events"

    event_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    account: Mapped[str] = mapped_column(String(32))
    region: Mapped[str] = mapped_column(String(32))
    time: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    name: Mapped[str] = mapped_column(String(200))
    principal_arn: Mapped[str | None] = mapped_column(String(2048), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class ActionRow(Base):
    """Something costguard did (or, in dry-run, would have done) to contain an incident."""

    __tablename__ = "actions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int | None] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(Text)
    dry_run: Mapped[bool] = mapped_column(Boolean)
    ok: Mapped[bool] = mapped_column(Boolean)
    result: Mapped[str | None] = mapped_column(Text)


class CheckCountRow(Base):
    """What one check judged in one account and region on one day: the day's last cycle's
    counts, so a passing check is a stored fact and twelve weeks stay small (a row per day,
    not per cycle). `day` is the date in the schedule's timezone, so a week's rows are exactly
    the days of that week."""

    __tablename__ = "check_counts"
    __table_args__ = (
        UniqueConstraint("day", "check_id", "account", "region", name="uq_check_counts_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[str] = mapped_column(String(10))
    check: Mapped[str] = mapped_column("check_id", String(100))
    account: Mapped[str] = mapped_column(String(64))
    region: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))
    evaluated: Mapped[int] = mapped_column(Integer)
    failed: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class CheckResourceRow(Base):
    """A resource a check judges now (its latest complete cycle), with when it was first judged:
    the PASS rows of the compliance report. `fingerprint` is the finding identity the resource
    would have, so a FAIL is a join with `findings`."""

    __tablename__ = "check_resources"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    check: Mapped[str] = mapped_column("check_id", String(100), index=True)
    account: Mapped[str] = mapped_column(String(64))
    region: Mapped[str] = mapped_column(String(64))
    resource: Mapped[str] = mapped_column(Text)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime)


class WeeklyReportRow(Base):
    """One ISO week's report: its figures, frozen once the week has ended, and when it was
    queued, so the daemon sends it once whatever restarts in between."""

    __tablename__ = "weekly_reports"

    week: Mapped[str] = mapped_column(String(10), primary_key=True)
    figures: Mapped[dict[str, Any]] = mapped_column(JSON)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class TicketRow(Base):
    """One ticket a ticket channel keeps for an incident (`incident_key`: its first message's
    key, moved to a recurrence's key on reopening). `state` `pending`: a create was sent and its
    answer not recorded, so the channel searches the vendor before creating."""

    __tablename__ = "tickets"
    __table_args__ = (
        UniqueConstraint("channel", "incident_key", name="uq_tickets_channel_incident_key"),
        Index("ix_tickets_channel_state", "channel", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(100))
    incident_key: Mapped[str] = mapped_column(String(255))
    incident_id: Mapped[int | None] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str | None] = mapped_column(String(255))
    external_key: Mapped[str | None] = mapped_column(String(255))
    url: Mapped[str | None] = mapped_column(Text)
    fingerprints: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class MuteRuleRow(Base):
    """A mute by pattern (`findings mute --check/--account/--resource/--tag`): findings it
    matches are not announced until `until`; ended early by setting `ended_at`."""

    __tablename__ = "mute_rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account: Mapped[str | None] = mapped_column(String(12))
    check: Mapped[str | None] = mapped_column("check_id", String(100))
    resource: Mapped[str | None] = mapped_column(Text)
    tag: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    until: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str | None] = mapped_column(String(200))
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
