"""The job queue of `runtime.engine: procrastinate`, beside the store (PostgreSQL only).

Revision ID: 0008_procrastinate
Revises: 0007_mutes
Create Date: 2026-12-06

procrastinate keeps its jobs, workers and periodic defers in tables of the same PostgreSQL
database as the store, so scaling out needs no second broker. Its schema is the one shipped with
the procrastinate release costguard pins (setup.cfg), read from the library, so this revision
always creates the same objects. On SQLite there is no job queue (the embedded engine schedules
in-process) and this revision changes nothing.
"""

from __future__ import annotations

from alembic import op

revision = "0008_procrastinate"
down_revision = "0007_mutes"
branch_labels = None
depends_on = None

_TABLES = ("procrastinate_events", "procrastinate_periodic_defers", "procrastinate_jobs",
           "procrastinate_workers")
_TYPES = ("procrastinate_job_to_defer_v1", "procrastinate_job_event_type",
          "procrastinate_job_status")

# Every function procrastinate's schema creates carries its prefix; dropping them by name from
# the catalogue (in the current schema only) keeps this downgrade right without listing each
# signature.
_DROP_FUNCTIONS = r"""
DO $$
DECLARE f record;
BEGIN
    FOR f IN SELECT p.oid::regprocedure AS signature FROM pg_proc p
             WHERE p.pronamespace = current_schema()::regnamespace
               AND p.proname LIKE 'procrastinate\_%'
    LOOP
        EXECUTE 'DROP FUNCTION ' || f.signature || ' CASCADE';
    END LOOP;
END $$
"""


def _postgresql() -> bool:
    return op.get_context().dialect.name == "postgresql"


def upgrade() -> None:
    if not _postgresql():
        return
    try:
        from procrastinate.schema import SchemaManager
    except ImportError:  # pragma: no cover - the postgres extra installs it with psycopg
        raise RuntimeError("PostgreSQL needs the postgres extra: "
                           "pip install 'costguard-daemon[postgres]'") from None
    op.execute(SchemaManager.get_schema())


def downgrade() -> None:
    if not _postgresql():
        return
    for table in _TABLES:
        op.execute(f"DROP TABLE IF EXISTS {table} CASCADE")
    op.execute(_DROP_FUNCTIONS)
    for type_name in _TYPES:
        op.execute(f"DROP TYPE IF EXISTS {type_name} CASCADE")
