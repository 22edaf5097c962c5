"""Loading what every command needs: the config, the policies, and the store.

Bad input raises `InvalidInput` with every problem; the CLI prints them one per line and exits 2
before anything is written, so a bad config never changes what is stored.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from costguard.settings.config import Config, find_config, load_config
from costguard.settings.policies import Policy, load_policies


@dataclass(frozen=True)
class Setup:
    """A validated config and the policies it selects."""

    config: Config
    policies: list[Policy]


def load_setup(explicit: str | Path | None, env: Mapping[str, str] = os.environ) -> Setup:
    """Config and policies, validated; raises InvalidInput listing every problem."""
    config = load_config(find_config(explicit, env), env)
    policies = load_policies(config.policy_paths, template_exists=_template_exists(config))
    return Setup(config, policies)


def _template_exists(config: Config):
    from costguard.settings.paths import shipped_dir

    dirs = [*config.template_dirs, shipped_dir("templates")]
    return lambda name: any((Path(d) / name).is_file() for d in dirs)


def open_store(config: Config) -> Any:
    """The store at the config's database URL, migrated to the current schema."""
    from costguard.store import Store

    return Store.open(config.database_url)
