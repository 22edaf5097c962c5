"""Alert lifecycle: messages rendered at send time, an in-flight mark, what was sent.

Revision ID: 0006_alert_lifecycle
Revises: 0004_triage_actors
Create Date: 2026-12-06

`in_flight_at` is stamped in a transaction of its own just before a send, so a message found
in flight after a crash is known to have maybe gone out (it is sent again with the same
Message-ID). `deferred` marks a message whose text is produced from its incident when it is
sent; until then its subject is a placeholder. Nullable or defaulted columns only: rows written
before this revision keep their meaning (rendered when queued, never in flight).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_alert_lifecycle"
down_revision = "0005_tickets"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("notifications",
                  sa.Column("in_flight_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("notifications", sa.Column("deferred", sa.Boolean(), nullable=False,
                                             server_default=sa.false()))
    op.create_index("ix_notifications_incident_channel", "notifications",
                    ["incident_id", "channel"])


def downgrade() -> None:
    op.drop_index("ix_notifications_incident_channel", table_name="notifications")
    op.drop_column("notifications", "deferred")
    op.drop_column("notifications", "in_flight_at")
