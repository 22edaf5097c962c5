"""The install the README describes works and agrees with the systemd unit; the docs stand alone.

The wheel build uses the package index like a user's install does; it is the slowest test here.
"""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
UNIT = ROOT / "systemd" / "costguard.service"
WORKER = ROOT / "systemd" / "costguard-worker@.service"
README = ROOT / "README.md"
DOCS = [README, *sorted((ROOT / "docs").glob("*.md"))]


def _unit(path: Path = UNIT) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # keep systemd's CamelCase keys
    parser.read(path)
    return parser


def _settings(path: Path) -> dict[str, list[str]]:
    """Every `Key=value` of a unit, repeated keys kept in order (configparser keeps the last)."""
    found: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            found.setdefault(key, []).append(value)
    return found


def test_the_unit_runs_the_command_the_readme_installs():
    exec_start = _unit()["Service"]["ExecStart"].split()
    venv = re.search(r"python3 -m venv (\S+)", README.read_text()).group(1)

    assert exec_start[0] == f"{venv}/bin/costguard"
    assert exec_start[1:] == ["run", "-c", "/etc/costguard/costguard.yml"]


def test_the_dynamic_user_can_read_the_config_and_secrets_stay_root_only():
    text = README.read_text()
    service = _unit()["Service"]
    config_dir = re.search(r"install -d -m (\d{4}) /etc/costguard\b", text).group(1)
    config_file = re.search(r"install -m (\d{4}) costguard.yml /etc/costguard/", text).group(1)
    env_file = re.search(r"install -m (\d{4}) /dev/null /etc/costguard/costguard.env", text)

    assert service["DynamicUser"] == "yes"
    assert int(config_dir, 8) & 0o005 == 0o005  # others may enter and list
    assert int(config_file, 8) & 0o004 == 0o004  # others may read
    assert env_file and int(env_file.group(1), 8) & 0o077 == 0  # root only
    assert service["EnvironmentFile"].lstrip("-") == "/etc/costguard/costguard.env"


def test_the_worker_template_is_the_service_with_its_own_config_and_state():
    """Extra workers differ from costguard.service in what they must: the config they read
    (no /metrics port to compete for), their state directory and their name; nothing else."""
    service, worker = _settings(UNIT), _settings(WORKER)
    differ = {k for k in service.keys() | worker.keys() if service.get(k) != worker.get(k)}
    text = README.read_text()

    assert differ == {"Description", "ExecStart", "StateDirectory", "DefaultInstance"}
    assert worker["ExecStart"] == ["/opt/costguard/bin/costguard run -c /etc/costguard/worker.yml"]
    assert worker["StateDirectory"] == ["costguard-worker-%i"]
    assert worker["Type"] == ["notify"] and worker["WatchdogSec"] == service["WatchdogSec"]
    assert "install -m 0644 worker.yml /etc/costguard/worker.yml" in text
    assert "install -m 0644 systemd/costguard-worker@.service /etc/systemd/system/" in text
    assert "systemctl enable --now costguard-worker@2" in text


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
@pytest.mark.parametrize("unit", [UNIT, WORKER], ids=lambda p: p.name)
def test_the_unit_is_hardened_below_exposure_2(unit: Path, tmp_path: Path):
    if unit.name.endswith("@.service"):  # analyzed as an instance, as systemd runs it
        unit = shutil.copy(unit, tmp_path / unit.name.replace("@.", "@2."))
    out = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", str(unit)],
        capture_output=True, text=True, check=False,
    ).stdout
    exposure = float(re.search(r"Overall exposure level for \S+: ([\d.]+)", out).group(1))

    assert exposure < 2.0


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_docs_never_link_outside_the_repository(doc: Path):
    targets = re.findall(r"\]\(([^)#\s]+)", doc.read_text())
    outside = [t for t in targets if not (doc.parent / t).resolve().is_relative_to(ROOT)]
    missing = [t for t in targets if "://" not in t and not (doc.parent / t).exists()]

    assert outside == [] and missing == []
    assert "../shared" not in doc.read_text()


@pytest.mark.slow
def test_the_wheel_builds_without_warnings_and_carries_its_data(tmp_path: Path):
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-w", str(tmp_path), "-v"],
        capture_output=True, text=True, check=False, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    build_log = result.stdout + result.stderr
    assert "BuildBackendWarning" not in build_log and "would be ignored" not in build_log
    [wheel] = tmp_path.glob("costguard_daemon-*.whl")
    names = zipfile.ZipFile(wheel).namelist()

    assert "costguard/data/ec2_prices.json" in names
    assert any(n.startswith("costguard/store/migrations/versions/0001") for n in names)
    assert any(n.endswith("share/costguard/policies/default.yml") for n in names)
    assert any(n.endswith("share/costguard/systemd/costguard.service") for n in names)
    assert any(n.endswith("share/costguard/systemd/costguard-worker@.service") for n in names)
    assert not any("__pycache__" in n for n in names)
