"""Mute rules: findings muted by account, check, resource pattern or tag, with an expiry.

Revision ID: 0007_mutes
Revises: 0006_alert_lifecycle
Create Date: 2026-12-06

A new table only; nothing written before this revision changes meaning.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_mutes"
down_revision = "0006_alert_lifecycle"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mute_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account", sa.String(length=12), nullable=True),
        sa.Column("check_id", sa.String(length=100), nullable=True),
        sa.Column("resource", sa.Text(), nullable=True),
        sa.Column("tag", sa.JSON(), nullable=True),
        sa.Column("until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_mute_rules"),
    )
    op.create_index("ix_mute_rules_until", "mute_rules", ["until"])


def downgrade() -> None:
    op.drop_index("ix_mute_rules_until", table_name="mute_rules")
    op.drop_table("mute_rules")
