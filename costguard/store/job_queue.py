"""What the store knows of procrastinate's job queue, which shares its PostgreSQL database.

The queue's tables are procrastinate's (created by revision `0008_procrastinate`), not the
models': schema comparisons leave them out, and the store only reads them for /metrics.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

QUEUE_PREFIX = "procrastinate_"
"""Every table, type and function of the job queue starts with this."""

JOB_STATUSES = ("todo", "doing", "succeeded", "failed", "cancelled", "aborting", "aborted")


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """Alembic's filter: compare only costguard's own objects, never the job queue's."""
    return not (name or "").startswith(QUEUE_PREFIX)


def job_counts(engine: sa.Engine) -> dict[tuple[str, str], int]:
    """(task, status) -> jobs, from the queue's table; empty where there is no queue (SQLite,
    or a database not migrated yet)."""
    if engine.dialect.name != "postgresql":
        return {}
    query = sa.text("SELECT task_name, status::text, count(*) FROM procrastinate_jobs "
                    "GROUP BY task_name, status")
    with engine.connect() as connection:
        if not sa.inspect(connection).has_table("procrastinate_jobs"):
            return {}
        return {(task, status): count for task, status, count in connection.execute(query)}


def libpq_conninfo(url: str) -> str:
    """The store's SQLAlchemy URL as the libpq URI procrastinate's psycopg pool connects with
    (the same server, database, user and `options` such as a search_path)."""
    return sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
