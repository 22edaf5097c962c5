"""What a command says when its environment fails: one line and a documented exit code.

2: bad input or environment (config, options, AWS credentials, region or endpoint);
4: the store cannot be opened. Never a traceback, never a fresh database in place of a bad one.
"""

from __future__ import annotations

import importlib.util
import socket
from pathlib import Path

import pytest
from botocore.exceptions import EndpointConnectionError
from click.testing import CliRunner

from costguard.cli.main import main
from costguard.collectors.session import Aws
from costguard.store import HEAD, Store

NO_AWS = {  # credentials nowhere, so a command that calls AWS meets NoCredentialsError
    "AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None, "AWS_SESSION_TOKEN": None,
    "AWS_PROFILE": None, "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    "AWS_CONFIG_FILE": "/dev/null", "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": None,
}


def invoke(args: list[str], env: dict[str, str | None] | None = None):
    return CliRunner().invoke(main, args, env=env)


def assert_one_line(result, code: int, starts: str) -> str:
    assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    (line,) = result.stderr.splitlines()
    assert line.startswith(starts), line
    assert "Traceback" not in result.output
    return line


@pytest.fixture
def config(tmp_path, monkeypatch) -> Path:
    """costguard.yml naming a SQLite store in tmp_path/state and no policies."""
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "costguard.yml"
    path.write_text(f"database: {{url: 'sqlite:///{tmp_path}/state/cg.db'}}\npolicies: []\n"
                    "metrics: {listen: '127.0.0.1:0'}\n")
    return path


STORE_COMMANDS = [
    pytest.param(["findings", "list"], id="findings-list"),
    pytest.param(["findings", "show", "1"], id="findings-show"),
    pytest.param(["findings", "ack", "1"], id="findings-ack"),
    pytest.param(["stats"], id="stats"),
    pytest.param(["db", "upgrade"], id="db-upgrade"),
    pytest.param(["db", "backup", "copy.db"], id="db-backup"),
    pytest.param(["run"], id="run"),
]


@pytest.mark.parametrize("command", STORE_COMMANDS)
def test_a_corrupt_store_is_exit_4_and_left_as_it_was(command, config, tmp_path):
    store = tmp_path / "state" / "cg.db"
    store.parent.mkdir()
    store.write_bytes(b"\x00garbage" * 64)

    result = invoke([*command, "-c", str(config)])

    assert_one_line(result, 4, f"costguard: the store sqlite:///{store} is damaged")
    assert store.read_bytes() == b"\x00garbage" * 64
    assert sorted(p.name for p in store.parent.iterdir()) == ["cg.db"]


@pytest.mark.parametrize("command", STORE_COMMANDS[:4])
def test_a_truncated_store_is_exit_4_and_left_as_it_was(command, config, tmp_path, make_store):
    """A store cut short (a copy interrupted, a disk that filled): SQLite's own header says how
    long it must be, so it is refused as damaged, never used or replaced."""
    store = make_store(tmp_path / "state" / "cg.db")
    store.write_bytes(store.read_bytes()[: store.stat().st_size // 2])
    before = store.read_bytes()

    result = invoke([*command, "-c", str(config)])

    assert_one_line(result, 4, f"costguard: the store sqlite:///{store} is damaged")
    assert store.read_bytes() == before


@pytest.mark.parametrize("command", STORE_COMMANDS[:2])
def test_a_store_that_cannot_be_read_is_exit_4(command, config, tmp_path):
    """Root reads any file, so what cannot be read is a folder where the file should be."""
    (tmp_path / "state" / "cg.db").mkdir(parents=True)

    result = invoke([*command, "-c", str(config)])

    assert result.exit_code == 4 and "Traceback" not in result.output, result.output
    assert (tmp_path / "state" / "cg.db").is_dir()


@pytest.fixture
def make_store():
    """A real store (its schema and version row), checkpointed into its one file."""

    def make(path: Path) -> Path:
        url = f"sqlite:///{path}"
        with Store.open(url) as store, store.engine.begin() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        for suffix in ("-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return path

    return make


@pytest.mark.parametrize("command", STORE_COMMANDS[:4])
def test_a_store_newer_than_this_costguard_is_exit_4(command, config, tmp_path):
    url = f"sqlite:///{tmp_path}/state/cg.db"
    with Store.open(url) as store, store.engine.begin() as connection:
        connection.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")

    result = invoke([*command, "-c", str(config)])

    line = assert_one_line(result, 4, f"costguard: cannot use the store {url}: its schema is")
    assert line.endswith("upgrade costguard, or restore a backup made by this version")


def test_an_unreachable_postgresql_is_exit_4_with_the_password_masked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CG_DB", "postgresql://costguard:hunter2@127.0.0.1:1/costguard")
    Path("costguard.yml").write_text("database: {url_env: CG_DB}\npolicies: []\n")

    result = invoke(["findings", "list"])

    line = assert_one_line(result, 4, "costguard: cannot reach the store postgresql+psycopg://"
                                      "costguard:***@127.0.0.1:1/costguard")
    assert "hunter2" not in line


def test_db_upgrade_and_backup_then_restore(config, tmp_path):
    upgraded = invoke(["db", "upgrade", "-c", str(config)])
    again = invoke(["db", "upgrade", "-c", str(config)])
    backed = invoke(["db", "backup", "-c", str(config), "copies/cg.db"])

    store = f"sqlite:///{tmp_path}/state/cg.db"
    assert upgraded.stdout == f"store {store}: upgraded from revision none (empty) to {HEAD}\n"
    assert again.stdout == f"store {store}: already at revision {HEAD}\n"
    assert backed.stdout == f"backed up {store} to copies/cg.db (schema revision {HEAD})\n"
    with Store.open(f"sqlite:///{tmp_path}/copies/cg.db") as copy:
        assert copy.list_findings() == []


def test_db_backup_of_postgresql_names_pg_dump_and_exits_2(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CG_DB", "postgresql://costguard:hunter2@db.internal/costguard")
    Path("costguard.yml").write_text("database: {url_env: CG_DB}\npolicies: []\n")

    result = invoke(["db", "backup", "cg.dump"])

    line = assert_one_line(result, 2, "costguard: costguard db backup copies SQLite stores; ")
    assert "pg_dump --format=custom --file=cg.dump --host=db.internal" in line
    assert "hunter2" not in line


def test_setup_events_without_credentials_is_one_line_and_exit_2(config):
    result = invoke(["setup", "events", "-c", str(config)], env=NO_AWS)

    assert_one_line(result, 2, "costguard: AWS: Unable to locate credentials (set AWS_PROFILE")


def test_setup_events_with_an_unknown_region_is_one_line_and_exit_2(config):
    result = invoke(["setup", "events", "-c", str(config), "--regions", "us-east-1,mars-north-9"])

    assert_one_line(result, 2, "costguard: --regions: unknown region 'mars-north-9'")


def test_prices_update_on_an_aws_error_writes_nothing(config, tmp_path, monkeypatch):
    def unreachable(self, region):
        raise EndpointConnectionError(endpoint_url="https://pricing.example")

    monkeypatch.setattr("costguard.collectors.price_list.PriceListCollector.region_prices",
                        unreachable)
    monkeypatch.setattr(Aws, "from_environment", classmethod(lambda cls, *a, **k: None))

    result = invoke(["prices", "update", "-c", str(config), "--out", "prices.json"])

    assert_one_line(result, 2, "costguard: AWS: Could not connect to the endpoint URL")
    assert not (tmp_path / "prices.json").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".prices")] == []


def test_the_aws_commands_document_their_exit_codes():
    for command in (["setup", "events"], ["prices", "update"]):
        text = " ".join(invoke([*command, "--help"]).stdout.split())
        assert "Exit codes: 0" in text and "2 bad config, options or AWS environment" in text


def test_demo_without_its_extra_says_what_to_install(monkeypatch, tmp_path):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "moto" else real(name, *a))

    result = invoke(["demo", "--out", str(tmp_path / "out")])

    assert_one_line(result, 2, "costguard: the demo needs moto, which is not installed: "
                               "pip install 'costguard[demo]' (from a checkout: pip install "
                               "'.[demo]')")
    assert not (tmp_path / "out").exists()


def test_run_with_its_metrics_port_taken_exits_2_naming_the_config_line(config, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config.write_text(config.read_text().replace("127.0.0.1:0", f"127.0.0.1:{port}"))

        result = invoke(["run", "-c", str(config)])

    line = assert_one_line(result, 2, f"{config}:3:11: metrics.listen: cannot listen on "
                                      f"127.0.0.1:{port}: Address already in use")
    assert line.endswith("or set listen: null to turn the endpoint off")
