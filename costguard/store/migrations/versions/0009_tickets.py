"""Tickets: the one ticket each ticket channel keeps per incident, and where it stands.

Revision ID: 0009_tickets
Revises: 0004_triage_actors
Create Date: 2026-12-06

A new table only: nothing written before this revision changes meaning.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_tickets"
down_revision = "0004_triage_actors"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tickets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=100), nullable=False),
        sa.Column("incident_key", sa.String(length=255), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=True),
        sa.Column("external_key", sa.String(length=255), nullable=True),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("fingerprints", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_tickets"),
        sa.UniqueConstraint("channel", "incident_key", name="uq_tickets_channel_incident_key"),
    )
    op.create_index("ix_tickets_channel_state", "tickets", ["channel", "state"])


def downgrade() -> None:
    op.drop_index("ix_tickets_channel_state", table_name="tickets")
    op.drop_table("tickets")
