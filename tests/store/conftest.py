"""Databases for store tests: a SQLite file and, marked `postgres`, a fresh PostgreSQL schema
(`pg_url`, from the suite's conftest)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from costguard.model import Finding, Severity
from costguard.store import Store

ACCOUNT = "111122223333"
REGION = "us-east-1"


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
