"""Alembic environment: runs on the Store's own connection, or on `sqlalchemy.url` for tools.

`costguard.store.migrate.upgrade` passes its connection (already in a transaction, under a lock)
through `config.attributes["connection"]`, so migrations commit or roll back as one unit.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import context

from costguard.store.connection import create_engine, writer
from costguard.store.job_queue import include_name
from costguard.store.models import Base, UTCDateTime


def _render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """Renders UTCDateTime as a plain DateTime, so migrations never import costguard's models."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _options(**extra: Any) -> dict[str, Any]:
    return {
        "target_metadata": Base.metadata,
        "include_name": include_name,
        "render_item": _render_item,
        "compare_type": True,
        **extra,
    }


def _run(connection: sa.Connection) -> None:
    # pysqlite's DDL is transactional here because sessions.py takes over BEGIN.
    context.configure(connection=connection, transactional_ddl=True, **_options())
    with context.begin_transaction():
        context.run_migrations()


def _run_offline() -> None:
    context.configure(
        url=context.config.get_main_option("sqlalchemy.url"), literal_binds=True, **_options()
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(context.config.get_main_option("sqlalchemy.url") or "")
    try:
        with writer(engine).connect() as own:
            _run(own)
    finally:
        engine.dispose()


if context.is_offline_mode():
    _run_offline()
else:
    _run_online()
