"""Fixtures for the whole suite: no test can reach a real AWS account or a developer's config;
a fresh PostgreSQL schema for the tests that need one.

Each PostgreSQL test gets its own schema (through `search_path` in the URL), so tests run in
parallel under pytest-xdist without seeing each other's rows. Without a server the PostgreSQL
tests skip locally, and fail under CI=true, where PostgreSQL is required.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool

from tests.needs import unavailable

REGION = "us-east-1"


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Fake credentials; no profile, endpoint or costguard config from the shell leaks in."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_REGION",
                 "COSTGUARD_CONFIG", "NOTIFY_SOCKET", "WATCHDOG_USEC", "STATE_DIRECTORY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    # Loading moto's catalogue of public AMIs costs about a second per region; no test needs it.
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    # The default SQLite store lives in the state dir: keep it out of the developer's home.
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("state")))


PG_URL = os.environ.get(
    "COSTGUARD_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
PG_START = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"


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
        unavailable(unreachable, f"start it with: {PG_START} (or set COSTGUARD_TEST_PG_URL)")
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


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """moto_server on a free port of 127.0.0.1 for a module's tests (a separate thread serving
    real HTTP, for code that runs in subprocesses); yields its URL."""
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()
