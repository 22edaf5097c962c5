"""What checks judged (daily counts and the resources judged now), the weekly reports, and the
sources each scan collected.

Revision ID: 0003_weekly_reports
Revises: 0002
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_weekly_reports"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("scans") as batch:
        batch.add_column(sa.Column("sources", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("failed_sources", sa.JSON(), nullable=True))
    op.create_table(
        "check_counts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("check_id", sa.String(length=100), nullable=False),
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("region", sa.String(length=64), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("evaluated", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_check_counts"),
        sa.UniqueConstraint("day", "check_id", "account", "region", name="uq_check_counts_key"),
    )
    op.create_table(
        "check_resources",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("check_id", sa.String(length=100), nullable=False),
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("region", sa.String(length=64), nullable=False),
        sa.Column("resource", sa.Text(), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_check_resources"),
        sa.UniqueConstraint("fingerprint", name="uq_check_resources_fingerprint"),
    )
    op.create_index("ix_check_resources_check_id", "check_resources", ["check_id"])
    op.create_table(
        "weekly_reports",
        sa.Column("week", sa.String(length=10), nullable=False),
        sa.Column("figures", sa.JSON(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("week", name="pk_weekly_reports"),
    )


def downgrade() -> None:
    op.drop_table("weekly_reports")
    op.drop_index("ix_check_resources_check_id", table_name="check_resources")
    op.drop_table("check_resources")
    op.drop_table("check_counts")
    with op.batch_alter_table("scans") as batch:
        batch.drop_column("failed_sources")
        batch.drop_column("sources")
