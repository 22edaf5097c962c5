"""moto_server on 127.0.0.1 behind the fault proxy, a real SMTP server, and the databases."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from costguard.demo.inbox import Inbox

from .harness import Zygote, reset_moto
from .proxy import FaultProxy


@pytest.fixture
def endpoint(moto_endpoint: str) -> str:
    """moto_server, emptied."""
    reset_moto(moto_endpoint)
    return moto_endpoint


@pytest.fixture
def proxy(endpoint: str) -> Iterator[FaultProxy]:
    """The fault proxy in front of moto_server, forwarding everything until given a rule."""
    with FaultProxy(endpoint) as running:
        yield running


@pytest.fixture
def inbox(tmp_path: Path) -> Iterator[Inbox]:
    with Inbox(tmp_path / "inbox") as server:
        yield server


@pytest.fixture(params=[pytest.param("SQLite"),
                        pytest.param("PostgreSQL", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """(name, URL): a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "SQLite":
        return "SQLite", f"sqlite:///{tmp_path}/cg.db"
    return "PostgreSQL", request.getfixturevalue("pg_url")


@pytest.fixture
def sqlite_only(tmp_path: Path) -> tuple[str, str]:
    """(name, URL) of a SQLite file, for faults the database plays no part in."""
    return "SQLite", f"sqlite:///{tmp_path}/cg.db"


@pytest.fixture
def zygote(proxy: FaultProxy) -> Iterator[Zygote]:
    """Forks the cycles; they reach AWS through the proxy."""
    running = Zygote({**os.environ, "AWS_ENDPOINT_URL": proxy.url})
    yield running
    running.close()
