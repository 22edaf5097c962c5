"""Triage with names: who made each finding transition, who acknowledged an incident and why.

Revision ID: 0004_triage_actors
Revises: 0003_weekly_reports
Create Date: 2026-11-23

Nullable columns only: every row written before this revision keeps its meaning (a transition
without an actor is one costguard made, or one nobody was asked to sign).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_triage_actors"
down_revision = "0003_weekly_reports"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("finding_transitions", sa.Column("actor", sa.String(length=200), nullable=True))
    op.add_column("incidents", sa.Column("acknowledged_by", sa.String(length=200), nullable=True))
    op.add_column("incidents", sa.Column("acknowledged_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35 and later): a batch rebuild of `incidents` would drop the
    # parent table of `actions` and fire its ON DELETE CASCADE.
    op.drop_column("incidents", "acknowledged_reason")
    op.drop_column("incidents", "acknowledged_by")
    op.drop_column("finding_transitions", "actor")
