"""Where shipped files and state live, for a source checkout and for an installed package."""

from __future__ import annotations

import os
import sys
from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parents[2]


def shipped_dir(name: str) -> Path:
    """The shipped `policies/`, `templates/` or `systemd/` folder.

    A source checkout (and an editable install) uses the folder beside the package; a wheel
    install finds the copies setup.cfg's data_files put under `<prefix>/share/costguard/`.
    """
    beside = _CHECKOUT / name
    if beside.is_dir():
        return beside
    return Path(sys.prefix) / "share" / "costguard" / name


def default_policy_file() -> Path:
    """The policy file used when the config names none."""
    return shipped_dir("policies") / "default.yml"


def state_dir() -> Path:
    """`$STATE_DIRECTORY` under systemd, else `$XDG_STATE_HOME/costguard`."""
    systemd = os.environ.get("STATE_DIRECTORY")
    if systemd:
        return Path(systemd.split(":")[0])
    xdg = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(xdg) / "costguard"


def default_database_url() -> str:
    """SQLite in the state directory: durable without any setup."""
    return f"sqlite:///{state_dir() / 'costguard.db'}"


def refreshed_price_table() -> Path:
    """Where `costguard prices update` writes its table; read instead of the shipped one."""
    return state_dir() / "ec2_prices.json"
