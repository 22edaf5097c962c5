"""costguard.yml -> Config: defaults, parsed values, discovery, and every problem as one exact line.

Each `config/bad/NAME.yml` sits beside `config/bad/NAME.expected`, the exact stderr lines of
`costguard validate -c NAME.yml`; they are checked through `load_config` and through the CLI.
A bad config must also leave the store exactly as it was: the commands stop before opening it.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from costguard.checks import default_registry
from costguard.cli.main import main
from costguard.model import Finding, Severity, Source, Status
from costguard.notifiers import CHANNEL_TYPES
from costguard.notifiers.apprise_urls import AppriseParams
from costguard.notifiers.log import LogChannel
from costguard.notifiers.pagerduty import PagerDutyParams
from costguard.notifiers.ses import SesParams
from costguard.notifiers.slack import SlackParams
from costguard.notifiers.smtp import Security, SmtpChannel, SmtpParams
from costguard.notifiers.teams import TeamsParams
from costguard.notifiers.webhook import WebhookParams
from costguard.runtime.bootstrap import read_config
from costguard.settings import config as config_module
from costguard.settings.config import (
    AccountConfig,
    AwsConfig,
    CostConfig,
    DatabaseConfig,
    EventsConfig,
    IncidentsConfig,
    OrganizationConfig,
    ReportsConfig,
    RetentionConfig,
    Route,
    RouteMatch,
    S3TrailConfig,
    ScheduleConfig,
    SigmaConfig,
    StoreConfig,
    _Document,
    find_config,
    parse_duration,
)
from costguard.settings.muting import MuteRule, QuietHours
from costguard.settings.paths import default_policy_file
from costguard.settings.policies import load_policies
from costguard.settings.problems import InvalidInput
from costguard.store import Store

HERE = Path(__file__).parent
BAD, GOOD = HERE / "config" / "bad", HERE / "config" / "good"
EXPECTED = sorted(BAD.glob("*.expected"))
DOCS = HERE.parents[1] / "docs" / "configuration.md"
UNSET_VAR = "COSTGUARD_TEST_UNSET_DATABASE_URL"  # named in bad/url_env_unset.yml
SECRET = "hunter2"  # the inline password in the bad files: it must never be echoed
REGISTRY = default_registry()
SHIPPED = len(load_policies([default_policy_file()], REGISTRY))  # what the defaults run
DOC_ENV = {"COSTGUARD_DATABASE_URL": "postgresql://costguard@db.example.com/costguard"}

REGISTRY = default_registry()


def problems_of(path: Path, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(InvalidInput) as caught:
        read_config(path, env=env or {})
    return [str(p) for p in caught.value.problems]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# --- bad files -------------------------------------------------------------------------------


def test_every_bad_config_has_its_expected_lines():
    assert {p.stem for p in BAD.glob("*.yml")} == {p.stem for p in EXPECTED}
    assert len(EXPECTED) >= 15


@pytest.mark.parametrize("expected", EXPECTED, ids=lambda p: p.stem)
def test_bad_config_is_reported_line_by_line_exactly(expected: Path, monkeypatch):
    monkeypatch.chdir(BAD)

    lines = problems_of(Path(f"{expected.stem}.yml"))

    assert lines == expected.read_text(encoding="utf-8").splitlines()
    assert not any(SECRET in line for line in lines)


@pytest.mark.parametrize("expected", EXPECTED, ids=lambda p: p.stem)
def test_validate_prints_exactly_the_expected_lines_and_exits_2(expected: Path, monkeypatch):
    monkeypatch.chdir(BAD)
    monkeypatch.delenv(UNSET_VAR, raising=False)

    result = CliRunner().invoke(main, ["validate", "-c", f"{expected.stem}.yml"])

    assert result.exit_code == 2
    assert result.stderr.splitlines() == expected.read_text(encoding="utf-8").splitlines()
    assert result.stdout == ""
    assert isinstance(result.exception, SystemExit)  # not an uncaught error with a traceback
    assert SECRET not in result.output


def test_a_config_file_that_does_not_exist_is_an_error_not_the_defaults(tmp_path):
    assert problems_of(tmp_path / "nope.yml") == [f"{tmp_path}/nope.yml:1:1: config file not found"]


def test_an_unset_url_env_is_fine_once_set(tmp_path):
    path = write(tmp_path / "c.yml", f"database:\n  url_env: {UNSET_VAR}\n")

    assert problems_of(path) == [
        f"{path}:2:3: database.url_env: environment variable {UNSET_VAR} is not set"
    ]
    assert read_config(path, env={UNSET_VAR: "sqlite:////srv/cg.db"}).database_url == (
        "sqlite:////srv/cg.db"
    )


# --- good files and parsed values ------------------------------------------------------------


def test_no_config_means_the_shipped_policies_and_sqlite_in_the_state_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.chdir(tmp_path)

    config = read_config(None)

    assert config.path is None
    assert config.policy_paths == (default_policy_file(),)
    assert config.database_url == f"sqlite:///{tmp_path}/state/costguard/costguard.db"
    assert (config.aws.regions, config.aws.accounts, config.aws.organization) == (None, [], None)
    assert (config.notifiers, config.routes, config.template_dirs) == ({}, (), ())
    assert config.schedule == ScheduleConfig()
    assert (config.schedule.inventory, config.schedule.credential_report) == (60.0, 14400.0)
    assert config.log_level == "info"


@pytest.mark.parametrize("text", ["", "# only a comment\n", "{}\n"])
def test_an_empty_config_file_is_all_defaults(text, tmp_path):
    path = write(tmp_path / "costguard.yml", text)

    config = read_config(path)

    assert config.path == path
    assert config.policy_paths == (default_policy_file(),)
    assert config.schedule == ScheduleConfig()


def test_the_minimal_example_sets_regions_and_one_smtp_notifier():
    config = read_config(GOOD / "minimal.yml", env={})

    assert config.aws.regions == ["us-east-1"]
    channel, params = config.notifiers["security-email"]
    assert channel is SmtpChannel
    assert params == SmtpParams(host="smtp.example.com", **{"from": "costguard@example.com"},
                                to=("secops@example.com",))
    assert (params.port, params.security) == (587, Security.STARTTLS)


def test_every_key_of_the_full_example_is_read(monkeypatch):
    monkeypatch.chdir(GOOD)
    env = {"COSTGUARD_DATABASE_URL": "postgresql+psycopg2://costguard@db.internal/costguard"}

    config = read_config(Path("full.yml"), env=env)

    assert config.aws.profile == "audit"
    assert config.aws.accounts[0] == AccountConfig(
        id="111122223333", name="production",
        role_arn="arn:aws:iam::111122223333:role/costguard-audit",
    )
    assert config.aws.organization is None
    assert config.database_url == env["COSTGUARD_DATABASE_URL"]
    assert [config.schedule.interval(s) for s in Source] == [90.0, 14400.0, 86400.0, 60.0, 300.0]
    assert config.policy_paths == (Path("policies"),)
    assert config.template_dirs == (Path("templates"),)
    assert set(config.notifiers) == {"security-email", "log"}
    assert config.notifiers["log"][0] is LogChannel
    smtp = config.notifiers["security-email"][1]
    assert (smtp.port, smtp.security, smtp.password_env, smtp.timeout_s) == (
        465, Security.TLS, "SMTP_PASSWORD", 10.0,
    )
    assert smtp.cc == ("audit@example.com",) and smtp.ca_file == Path("/etc/ssl/private-ca.pem")
    assert [r.notify for r in config.routes] == [["security-email", "log"], ["security-email"]]
    assert config.routes[0].match.severity == [Severity.CRITICAL, Severity.HIGH]
    assert (config.routes[1].digest, config.routes[1].match.tag) == ("daily", {"team": "web"})
    assert (config.events.queue_name, config.events.lookup_fallback) == (
        "costguard-events-prod", False,
    )
    assert (config.cost.max_calls_per_day, config.cost.monthly_budget_usd) == (24, 1500.0)
    assert (config.incidents.target_minutes, config.incidents.escalate_to) == (
        15, ["security-email"],
    )
    assert config.log_level == "debug"


@pytest.mark.parametrize(
    ("given", "seconds"),
    [(60, 60.0), ("90s", 90.0), ("5m", 300.0), ("4h", 14400.0), ("1d", 86400.0),
     ("0.5h", 1800.0), (" 45 ", 45.0), (2.5, 2.5)],
)
def test_durations_are_seconds(given, seconds, tmp_path):
    path = write(tmp_path / "c.yml", f"schedule:\n  cost: {given!r}\n")  # repr is valid YAML here

    assert parse_duration(given) == seconds
    assert read_config(path).schedule.interval(Source.COST) == seconds


@pytest.mark.parametrize("given", ["soon", "5w", "-5m", "", 0, -1, True, "1h30m"])
def test_anything_else_is_not_a_duration(given):
    with pytest.raises(ValueError, match="duration"):
        parse_duration(given)


def test_relative_policy_and_template_paths_are_resolved_against_the_config_folder(
    tmp_path, monkeypatch
):
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    for made in ("etc/policies", "etc/tpl"):
        (tmp_path / made).mkdir(parents=True)
    write(tmp_path / "team.yml", "policies: []\n")
    write(tmp_path / "abs.yml", "policies: []\n")
    path = write(tmp_path / "etc" / "costguard.yml",
                 f"policies: [policies/, ../team.yml, {tmp_path}/abs.yml]\ntemplates: [tpl]\n")

    config = read_config(path)

    assert config.policy_paths == (
        tmp_path / "etc" / "policies", tmp_path / "etc" / ".." / "team.yml", tmp_path / "abs.yml",
    )
    assert config.template_dirs == (tmp_path / "etc" / "tpl",)


def test_an_empty_policies_list_loads_no_policies_rather_than_the_shipped_ones(tmp_path):
    assert read_config(write(tmp_path / "c.yml", "policies: []\n")).policy_paths == ()


def test_a_url_without_a_password_is_used_as_given(tmp_path):
    url = "postgresql+psycopg2://costguard@db.internal:5432/costguard?sslmode=require"
    path = write(tmp_path / "c.yml", f"database:\n  url: {url}\n")

    assert read_config(path).database_url == url


# --- discovery -------------------------------------------------------------------------------


@pytest.fixture
def places(tmp_path, monkeypatch) -> dict[str, Path]:
    """A cwd with ./costguard.yml, a $COSTGUARD_CONFIG file and a stand-in for /etc."""
    cwd = tmp_path / "cwd"
    found = {
        "cwd": write(cwd / "costguard.yml", "# ./costguard.yml\n"),
        "env": write(tmp_path / "env.yml", "# $COSTGUARD_CONFIG\n"),
        "explicit": write(tmp_path / "explicit.yml", "# -c\n"),
        "etc": write(tmp_path / "etc" / "costguard.yml", "# /etc/costguard/costguard.yml\n"),
    }
    monkeypatch.chdir(cwd)
    monkeypatch.setattr(config_module, "SEARCH_PATH", (Path("costguard.yml"), found["etc"]))
    return found


def test_discovery_order_is_option_then_variable_then_cwd_then_etc(places):
    env = {"COSTGUARD_CONFIG": str(places["env"])}

    assert find_config(str(places["explicit"]), env) == places["explicit"]
    assert find_config(None, env) == places["env"]
    assert find_config(None, {}) == Path("costguard.yml")
    places["cwd"].unlink()
    assert find_config(None, {}) == places["etc"]
    places["etc"].unlink()
    assert find_config(None, {}) is None


def test_a_missing_file_named_by_the_variable_is_an_error_not_a_fallback(places, monkeypatch):
    monkeypatch.setenv("COSTGUARD_CONFIG", str(places["env"].with_name("gone.yml")))

    result = CliRunner().invoke(main, ["validate"])

    assert result.exit_code == 2
    assert result.stderr == f"{places['env'].with_name('gone.yml')}:1:1: config file not found\n"


def test_validate_uses_the_config_in_the_current_folder(places):
    result = CliRunner().invoke(main, ["validate"])

    assert result.exit_code == 0, result.output
    assert result.stdout == f"ok: costguard.yml, {SHIPPED} policies, 0 notifier(s)\n"


def test_validate_without_any_config_checks_the_built_in_defaults(places):
    places["cwd"].unlink()
    places["etc"].unlink()

    result = CliRunner().invoke(main, ["validate"])

    assert result.exit_code == 0, result.output
    assert result.stdout == f"ok: built-in defaults, {SHIPPED} policies, 0 notifier(s)\n"


@pytest.mark.parametrize(
    ("name", "summary"),
    [
        ("minimal.yml", f"{SHIPPED} policies, 1 notifier(s)"),
        ("full.yml", "3 policies, 2 notifier(s)"),
    ],
)
def test_validate_accepts_the_good_examples(name, summary, monkeypatch):
    monkeypatch.chdir(GOOD)
    monkeypatch.setenv("COSTGUARD_DATABASE_URL", "sqlite:///unused.db")
    monkeypatch.setenv("SMTP_PASSWORD", "s3cret")  # validate resolves every channel's secrets

    result = CliRunner().invoke(main, ["validate", "-c", name])

    assert result.exit_code == 0, result.output
    assert (result.stdout, result.stderr) == (f"ok: {name}, {summary}\n", "")
    assert not (GOOD / "unused.db").exists()


# --- a bad config changes nothing that is stored -----------------------------------------------

FINDING = Finding(
    check="instance_types", policy="unapproved-instance-types", severity=Severity.HIGH,
    account="111122223333", region="us-east-1", resource="i-0abc",
    title="i-0abc is a p5.48xlarge", details={"instance_type": "p5.48xlarge"},
)


def files_in(folder: Path) -> dict[str, bytes]:
    """Every file of a SQLite store (the database, and a WAL or journal if one is left)."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.fixture
def stored(tmp_path) -> tuple[str, Path]:
    """A SQLite store holding one acknowledged finding, closed; its URL and folder."""
    folder = tmp_path / "state"
    url = f"sqlite:///{folder}/costguard.db"
    now = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
    with Store.open(url) as store:
        (finding,) = store.reconcile(scan_id=None, findings=[FINDING], scopes=[], now=now).new
        store.acknowledge(finding.id, now=now, reason="on it")
    return url, folder


def rows(url: str) -> list[tuple[object, ...]]:
    with Store.open(url) as store:
        return [(f.id, f.fingerprint, f.status, f.title) for f in store.list_findings()]


MUTE = ["findings", "mute", "1", "--until", "7d", "--reason", "test"]
BAD_RUNS = [
    pytest.param(["findings", "list"], id="findings-list"),
    pytest.param(["scan", "--no-notify"], id="scan"),
    pytest.param(MUTE, id="mute"),
]


def test_the_byte_comparison_sees_a_change_a_good_config_makes(stored, tmp_path, monkeypatch):
    """The control for the tests below: with a good config, `findings mute` does write."""
    url, folder = stored
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "good.yml", f"database:\n  url: {url}\n")
    before = files_in(folder)

    result = CliRunner().invoke(main, [*MUTE, "-c", "good.yml"])

    assert result.exit_code == 0, result.output
    assert files_in(folder) != before
    assert rows(url)[0][2] is Status.MUTED


@pytest.mark.parametrize("command", BAD_RUNS)
def test_a_bad_config_leaves_the_store_it_names_byte_for_byte_unchanged(
    command, stored, tmp_path, monkeypatch
):
    url, folder = stored
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "bad.yml", f"database:\n  url: {url}\nschedule:\n  inventory: soon\n")
    before = files_in(folder)

    result = CliRunner().invoke(main, [*command, "-c", "bad.yml"])

    assert result.exit_code == 2
    assert result.stderr == (
        "bad.yml:4:3: schedule.inventory: expected a duration such as 60s, 5m or 4h, "
        "got 'soon'\n"
    )
    assert files_in(folder) == before
    assert rows(url) == [(1, FINDING.fingerprint, Status.ACKNOWLEDGED, FINDING.title)]


@pytest.mark.parametrize("command", BAD_RUNS)
def test_a_good_config_with_a_bad_policy_leaves_the_store_unchanged(
    command, stored, tmp_path, monkeypatch
):
    url, folder = stored
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "mine.yml", "policies:\n  - name: no-gpu\n    check: gpu\n")
    write(tmp_path / "good.yml", f"database:\n  url: {url}\npolicies: [mine.yml]\n")
    before = files_in(folder)

    result = CliRunner().invoke(main, [*command, "-c", "good.yml"])

    assert result.exit_code == 2
    assert result.stderr.startswith("mine.yml:3:5: policy 'no-gpu': check: unknown check 'gpu'")
    assert files_in(folder) == before
    assert rows(url)[0][2] is Status.ACKNOWLEDGED


def test_a_bad_config_creates_no_store_in_the_state_dir(tmp_path, monkeypatch):
    state = tmp_path / "xdg"
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "costguard.yml", "aws:\n  accounts:\n    - id: 111122223333\n")

    for command in (["findings", "list"], ["scan"]):
        result = CliRunner().invoke(main, command)
        assert (result.exit_code, result.stderr) == (
            2, 'costguard.yml:3:7: aws.accounts[0].id: write the account id in quotes, '
            'e.g. "012345678901"\n',
        )
    assert not state.exists()


# --- docs/configuration.md stays true to the code ----------------------------------------------

DOCUMENTED_MODELS = [
    _Document, AwsConfig, AccountConfig, OrganizationConfig, DatabaseConfig, ScheduleConfig,
    Route, RouteMatch, EventsConfig, SigmaConfig, S3TrailConfig, CostConfig, IncidentsConfig,
    ReportsConfig, StoreConfig, RetentionConfig, SmtpParams, QuietHours, MuteRule, SesParams,
    PagerDutyParams, SlackParams, TeamsParams, WebhookParams, AppriseParams,
]


def doc_rows(key: str) -> list[str]:
    """The reference rows of one key (a name such as `regions` has several), or its heading."""
    return [line for line in DOCS.read_text(encoding="utf-8").splitlines()
            if line.startswith((f"| `{key}` |", f"### `{key}`"))]


def yaml_default(value: object) -> str:
    """A Python default as the docs write it in YAML."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, tuple | list):
        return "[]" if not value else str(list(value))
    return str(getattr(value, "value", value))


@pytest.mark.parametrize("model", DOCUMENTED_MODELS, ids=lambda m: m.__name__)
def test_every_key_has_a_reference_row_showing_its_default(model):
    for name, field in model.model_fields.items():
        key = field.alias or name
        rows = doc_rows(key)
        assert rows, f"{model.__name__}.{key} is not in {DOCS.name}"
        if field.is_required():
            assert any("| required" in r for r in rows), (key, rows)
        elif field.default is not None and field.default_factory is None:
            assert any(f"`{yaml_default(field.default)}`" in r for r in rows), (key, rows)


def test_every_channel_type_is_documented():
    text = DOCS.read_text(encoding="utf-8")

    assert all(f"`type: {kind}`" in text for kind in CHANNEL_TYPES)


def test_every_yaml_example_in_the_docs_is_a_valid_config(tmp_path):
    blocks = re.findall(r"```yaml\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.DOTALL)
    (tmp_path / "policies").mkdir()  # what the examples name must exist
    (tmp_path / "templates").mkdir()

    assert len(blocks) >= 2
    for n, block in enumerate(blocks):
        config = read_config(write(tmp_path / f"example{n}.yml", block), env=DOC_ENV)
        assert config.notifiers, f"example {n} configures no notifier"
