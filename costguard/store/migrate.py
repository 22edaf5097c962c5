"""Bringing a database to the current schema, cheaply when it already is.

`costguard scan` is benchmarked for wall time and memory, and importing Alembic (with Mako) costs
both; so the version is first read with plain SQLAlchemy and compared with `HEAD`, and Alembic is
imported only when an upgrade is really needed. A test asserts `HEAD` is Alembic's real head.

To write a migration: change the models, upgrade a scratch `dev.db` to the current head
(`Store.open("sqlite:///dev.db")`), then from a checkout run
`python -c "from alembic import command; from costguard.store.migrate import alembic_config;
command.revision(alembic_config('sqlite:///dev.db'), 'what changed', autogenerate=True,
rev_id='0005_what_changed')"`, review the file it writes, and set `HEAD = "0005_what_changed"`.
Give it a descriptive revision id (at most 32 characters), not a bare number: two branches that
each add a migration then differ by name, and whoever merges second chains theirs after the
other's (its `down_revision`) and renumbers its file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from costguard.store.connection import writer

if TYPE_CHECKING:
    from alembic.config import Config

HEAD = "0009_retention"
"""The newest revision in `migrations/versions/`."""

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "alembic_version"

# PostgreSQL advisory lock id held while upgrading ("cgmg"), so that two replicas starting at
# once do not both create the tables. SQLite's BEGIN IMMEDIATE does the same job there.
_PG_LOCK_ID = 0x63676D67


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None for an empty database."""
    with engine.connect() as connection:
        return _read_revision(connection)


def _read_revision(connection: sa.Connection) -> str | None:
    if not sa.inspect(connection).has_table(VERSION_TABLE):
        return None
    return connection.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()


_REVISION = re.compile(r'^(down_revision|revision) = (?:"([^"]+)"|None)$', re.MULTILINE)


def known_revisions() -> list[str]:
    """The revisions this costguard ships, oldest first, following each file's `down_revision`
    (a test checks this is Alembic's order), read without importing Alembic. Ids are
    descriptive (`0003_weekly_reports`), so two branches that both add a migration cannot pick
    the same one; whoever merges second chains theirs after the other's."""
    parent_of: dict[str, str | None] = {}
    for path in (MIGRATIONS / "versions").glob("*.py"):
        found = dict((m[0], m[1] or None) for m in _REVISION.findall(path.read_text("utf-8")))
        if found.get("revision"):
            parent_of[found["revision"]] = found.get("down_revision")
    child_of = {parent: child for child, parent in parent_of.items()}
    chain, current = [], child_of.get(None)
    while current is not None:
        chain.append(current)
        current = child_of.get(current)
    return chain


class SchemaTooNew(RuntimeError):
    """The database was migrated by a newer costguard: reading or "upgrading" it would be a
    guess, and creating a fresh schema would hide its data."""

    def __init__(self, revision: str) -> None:
        super().__init__(
            f"its schema is at revision {revision}, newer than this costguard knows (up to "
            f"{HEAD}): upgrade costguard, or restore a backup made by this version"
        )
        self.revision = revision


def ensure_schema(engine: Engine) -> bool:
    """Upgrades the database to `HEAD` if needed; True when an upgrade ran."""
    revision = current_revision(engine)
    if revision == HEAD:
        return False
    if revision is not None and revision not in known_revisions():
        raise SchemaTooNew(revision)
    return upgrade(engine)


def upgrade_explicitly(engine: Engine) -> tuple[str | None, str]:
    """`costguard db upgrade`: (the revision before, the revision after), for its report."""
    before = current_revision(engine)
    ensure_schema(engine)
    return before, HEAD


def upgrade(engine: Engine) -> bool:
    """Runs Alembic's upgrade to head in one transaction, under a lock; True if it changed."""
    from alembic import command

    with writer(engine).begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": _PG_LOCK_ID})
        # Read again under the lock: another process may have just finished the upgrade.
        if _read_revision(connection) == HEAD:
            return False
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    return True


def alembic_config(url: str | None = None) -> Config:
    """Alembic's configuration, built in code so no alembic.ini is needed at runtime."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if url is not None:
        # ConfigParser interpolation treats "%" as special; URL-encoded options contain it.
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config
