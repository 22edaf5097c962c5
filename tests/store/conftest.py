"""Databases for store tests: a SQLite file and, marked `postgres`, a fresh PostgreSQL schema.

Each PostgreSQL test gets its own schema (through `search_path` in the URL), so tests run in
parallel under pytest-xdist without seeing each other's rows. Without a server the PostgreSQL
tests skip locally, and fail under CI=true, where PostgreSQL is required.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool

from costguard.model import Finding, Severity
from costguard.store import Store

PG_URL = os.environ.get(
    "COSTGUARD_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
PG_START = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
ACCOUNT = "111122223333"
REGION = "us-east-1"


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[Engine]:
    """An engine on the PostgreSQL test database, or a skip (a failure under CI) without one."""
    engine = sa.create_engine(PG_URL, poolclass=NullPool, connect_args={"connect_timeout": 3})
    try:
        with engine.connect():
            pass
        unreachable = None
    except sa.exc.OperationalError as exc:
        unreachable = f"PostgreSQL at {PG_URL} is unreachable ({str(exc).splitlines()[0]})"
    if unreachable:
        engine.dispose()
        if os.environ.get("CI") == "true":
            pytest.fail(f"{unreachable}; PostgreSQL is required when CI=true", pytrace=False)
        pytest.skip(f"{unreachable}; start it with: {PG_START} (or set COSTGUARD_TEST_PG_URL)")
    yield engine
    engine.dispose()


@pytest.fixture
def pg_url(pg_admin: Engine) -> Iterator[str]:
    """The URL of a new, empty schema, dropped after the test."""
    schema = f"costguard_test_{uuid.uuid4().hex[:12]}"
    with pg_admin.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = sa.make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    yield url.render_as_string(hide_password=False)
    with pg_admin.begin() as connection:
        connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture(
    params=[
        pytest.param("sqlite"),
        pytest.param("postgresql", marks=pytest.mark.postgres),
    ]
)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database: a SQLite file in a folder that does not exist yet, or a PG schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/state/costguard.db"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    """A migrated, empty Store, closed after the test."""
    opened = Store.open(db_url)
    yield opened
    opened.close()


@pytest.fixture
def make_finding() -> Callable[..., Finding]:
    """Builds a Finding with sensible defaults; pass only what the test is about."""

    def build(resource: str = "i-0abc", **overrides: object) -> Finding:
        values: dict[str, object] = {
            "check": "instance_types",
            "policy": "unapproved-instance-types",
            "severity": Severity.HIGH,
            "account": ACCOUNT,
            "region": REGION,
            "resource": resource,
            "title": f"{resource} is not an approved type",
            "details": {"instance_type": "p5.48xlarge"},
            "entities": frozenset({f"instance:{resource}"}),
        }
        values.update(overrides)
        return Finding(**values)  # type: ignore[arg-type]

    return build
