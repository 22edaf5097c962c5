"""Reading events incrementally and pruning by age: an index on when each event was received.

Revision ID: 0009_retention
Revises: 0008_procrastinate
Create Date: 2026-12-06

The event checks read each stored event once, by `received_at` (runtime.event_history), and
retention deletes events by `time` (already indexed); without this index every evaluation
would scan the table to find the few rows it has not read.
"""

from __future__ import annotations

from alembic import op

revision = "0009_retention"
down_revision = "0008_procrastinate"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_events_received_at", "events", ["received_at"])


def downgrade() -> None:
    op.drop_index("ix_events_received_at", table_name="events")
